//! The container's process: what to run and with which credentials.
//!
//! [`Prepared`] is computed in the runtime before any fork (so that a bad capability name or a
//! NUL in an argument fails `create` cleanly); the `apply_*` functions then run in the container
//! process, in the order runc uses: rlimits and oom_score_adj while still privileged, the
//! bounding set, the user switch with kept capabilities, the capability sets, no_new_privs.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use nix::errno::Errno;
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};

/// Errors in the process section, found before the fork.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A field's value cannot be used.
    #[error("config.json: `{field}`: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Errors while setting the process up inside the container.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A system call failed.
    #[error("{what}: {errno}")]
    Sys {
        /// What was being done.
        what: String,
        /// The error.
        errno: Errno,
    },
    /// The program to run was not found or is not executable.
    #[error("exec: \"{program}\": {reason}")]
    Executable {
        /// The program.
        program: String,
        /// Why it cannot be run.
        reason: String,
    },
}

fn sys(what: impl Into<String>) -> impl FnOnce(Errno) -> SetupError {
    let what = what.into();
    move |errno| SetupError::Sys { what, errno }
}

/// The five capability sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapSets {
    /// Bounding set.
    pub bounding: CapsHashSet,
    /// Effective set.
    pub effective: CapsHashSet,
    /// Permitted set.
    pub permitted: CapsHashSet,
    /// Inheritable set.
    pub inheritable: CapsHashSet,
    /// Ambient set.
    pub ambient: CapsHashSet,
}

/// A process description checked and converted for the container process.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// argv.
    pub args: Vec<CString>,
    /// envp.
    pub env: Vec<CString>,
    /// The PATH used to look args[0] up.
    pub path_var: String,
    /// Working directory.
    pub cwd: PathBuf,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// umask (0o022 if unset).
    pub umask: u32,
    /// (resource, soft, hard).
    pub rlimits: Vec<(libc::__rlimit_resource_t, u64, u64)>,
    /// oom_score_adj to write, if any.
    pub oom_score_adj: Option<i32>,
    /// Set PR_SET_NO_NEW_PRIVS.
    pub no_new_privs: bool,
    /// Capabilities; `None` keeps the runtime's (full) set.
    pub caps: Option<CapSets>,
    /// Whether the process gets a terminal.
    pub terminal: bool,
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Prepared {
    /// Converts a spec process (`field` names it in errors: "process").
    pub fn new(process: &Process, field: &str) -> Result<Self, ProcessError> {
        let invalid = |sub: &str, message: String| ProcessError::Invalid {
            field: format!("{field}.{sub}"),
            message,
        };
        let cstrings = |sub: &str, list: &[String]| -> Result<Vec<CString>, ProcessError> {
            list.iter()
                .enumerate()
                .map(|(i, s)| {
                    CString::new(s.as_bytes())
                        .map_err(|_| invalid(&format!("{sub}[{i}]"), "contains a NUL byte".into()))
                })
                .collect()
        };
        let args = cstrings("args", process.args().as_deref().unwrap_or(&[]))?;
        let env_list = process.env().clone().unwrap_or_default();
        let env = cstrings("env", &env_list)?;
        let path_var = env_list
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH)
            .to_string();
        let user = process.user();
        let rlimits = process
            .rlimits()
            .iter()
            .flatten()
            .map(|r| (rlimit_resource(r.typ()), r.soft(), r.hard()))
            .collect();
        let caps = process
            .capabilities()
            .as_ref()
            .map(|c| cap_sets(c, &format!("{field}.capabilities")))
            .transpose()?;
        Ok(Prepared {
            args,
            env,
            path_var,
            cwd: process.cwd().clone(),
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022),
            rlimits,
            oom_score_adj: process.oom_score_adj(),
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            caps,
            terminal: process.terminal().unwrap_or(false),
        })
    }

    /// Adds HOME (from the container's /etc/passwd, else "/") if the environment lacks it.
    /// Runs inside the container, after the switch of root.
    pub fn default_home(&mut self) {
        if self.env.iter().any(|e| e.as_bytes().starts_with(b"HOME=")) {
            return;
        }
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| home_of(&text, self.uid))
            .unwrap_or_else(|| "/".to_string());
        if let Ok(c) = CString::new(format!("HOME={home}")) {
            self.env.push(c);
        }
    }
}

fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

fn cap_sets(c: &LinuxCapabilities, field: &str) -> Result<CapSets, ProcessError> {
    let convert = |name: &str, set: &Option<oci_spec::runtime::Capabilities>| {
        let mut out = CapsHashSet::new();
        for cap in set.iter().flatten() {
            let text = serde_json::to_value(cap)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let parsed = Cap::from_str(&text).map_err(|_| ProcessError::Invalid {
                field: format!("{field}.{name}"),
                message: format!("{text} is not a capability this runtime knows"),
            })?;
            out.insert(parsed);
        }
        Ok::<_, ProcessError>(out)
    };
    Ok(CapSets {
        bounding: convert("bounding", c.bounding())?,
        effective: convert("effective", c.effective())?,
        permitted: convert("permitted", c.permitted())?,
        inheritable: convert("inheritable", c.inheritable())?,
        ambient: convert("ambient", c.ambient())?,
    })
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Sets the rlimits and oom_score_adj (while the process still has CAP_SYS_RESOURCE).
pub fn apply_limits(p: &Prepared) -> Result<(), SetupError> {
    for &(resource, soft, hard) in &p.rlimits {
        let limit = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        let rc = unsafe { libc::setrlimit(resource, &limit) };
        Errno::result(rc).map_err(sys(format!(
            "setting rlimit {resource} to soft {soft} hard {hard} (the hard limit cannot exceed the runtime's own)"
        )))?;
    }
    if let Some(adj) = p.oom_score_adj {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            SetupError::Sys {
                what: format!("writing oom_score_adj {adj}"),
                errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            }
        })?;
    }
    Ok(())
}

/// Switches to the process's user and sets its capabilities and no_new_privs.
pub fn apply_credentials(p: &Prepared) -> Result<(), SetupError> {
    if let Some(caps) = &p.caps {
        for cap in caps::all() {
            if !caps.bounding.contains(&cap) {
                match caps::drop(None, CapSet::Bounding, cap) {
                    Ok(()) => {}
                    // Capabilities newer than the kernel are not in its bounding set anyway.
                    Err(_) if !caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) => {}
                    Err(e) => {
                        return Err(SetupError::Sys {
                            what: format!("dropping {cap} from the bounding set: {e}"),
                            errno: Errno::EPERM,
                        })
                    }
                }
            }
        }
    }
    let keep = p.uid != 0 && p.caps.is_some();
    if keep {
        // SAFETY: plain prctl.
        Errno::result(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) })
            .map_err(sys("PR_SET_KEEPCAPS"))?;
    }
    let groups: Vec<Gid> = p
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    match nix::unistd::setgroups(&groups) {
        Ok(()) => {}
        // In a user namespace whose setgroups file says deny, only an empty list is possible.
        Err(Errno::EPERM) if groups.is_empty() => {}
        Err(e) => return Err(sys(format!("setgroups {:?}", p.additional_gids))(e)),
    }
    let gid = Gid::from_raw(p.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(sys(format!("setresgid {}", p.gid)))?;
    let uid = Uid::from_raw(p.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(sys(format!("setresuid {}", p.uid)))?;
    if keep {
        // SAFETY: plain prctl.
        Errno::result(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) })
            .map_err(sys("PR_SET_KEEPCAPS"))?;
    }
    if let Some(caps) = &p.caps {
        capset(caps).map_err(sys(
            "setting the effective, permitted and inheritable capabilities",
        ))?;
        // The kernel only lets a capability into the ambient set if it is permitted and
        // inheritable; like runc, skip the others instead of failing (runc's own default spec
        // lists ambient capabilities without inheritable ones).
        for cap in &caps.ambient {
            let _ = caps::raise(None, CapSet::Ambient, *cap);
        }
    }
    if p.no_new_privs {
        // SAFETY: plain prctl.
        Errno::result(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
            .map_err(sys("PR_SET_NO_NEW_PRIVS"))?;
    }
    Ok(())
}

/// Sets the effective, permitted and inheritable sets in one capset(2) call: set one by one,
/// an intermediate state would break the kernel's subset rules.
fn capset(caps: &CapSets) -> Result<(), Errno> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mask = |set: &CapsHashSet| set.iter().fold(0u64, |acc, c| acc | c.bitmask());
    let (e, p, i) = (
        mask(&caps.effective),
        mask(&caps.permitted),
        mask(&caps.inheritable),
    );
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [
        Data {
            effective: e as u32,
            permitted: p as u32,
            inheritable: i as u32,
        },
        Data {
            effective: (e >> 32) as u32,
            permitted: (p >> 32) as u32,
            inheritable: (i >> 32) as u32,
        },
    ];
    // SAFETY: header and a two-element data array as capset(2) with version 3 expects.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()) };
    Errno::result(rc).map(drop)
}

/// Finds the program to run as `execvp` would, against the container's PATH and cwd.
pub fn find_executable(p: &Prepared) -> Result<CString, SetupError> {
    let program = p
        .args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let not_found = |reason: &str| SetupError::Executable {
        program: program.clone(),
        reason: reason.to_string(),
    };
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![p.cwd.join(&program)]
    } else {
        p.path_var
            .split(':')
            .map(|dir| {
                if dir.is_empty() {
                    p.cwd.clone()
                } else {
                    PathBuf::from(dir)
                }
            })
            .map(|dir| dir.join(&program))
            .collect()
    };
    let mut last = "executable file not found in $PATH".to_string();
    for path in candidates {
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
                return CString::new(path.as_os_str().as_bytes())
                    .map_err(|_| not_found("path contains a NUL byte"));
            }
            Ok(meta) if meta.is_dir() => last = "is a directory".into(),
            Ok(_) => last = "permission denied (not executable)".into(),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {}
            Err(e) => last = format!("{}: {e}", path.display()),
        }
    }
    Err(not_found(
        if program.contains('/') && last.starts_with("executable") {
            "no such file or directory"
        } else {
            &last
        },
    ))
}

/// Replaces the process image; returns only on failure.
pub fn execve(path: &CString, p: &Prepared) -> SetupError {
    match nix::unistd::execve(path, &p.args, &p.env) {
        Err(e) => sys(format!("exec {}", path.to_string_lossy()))(e),
        Ok(never) => match never {},
    }
}

/// Changes to the working directory.
pub fn chdir(cwd: &Path) -> Result<(), SetupError> {
    nix::unistd::chdir(cwd).map_err(sys(format!("chdir to process.cwd {}", cwd.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(json: &str) -> Process {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn prepares_caps_and_limits() {
        let p = process(
            r#"{"user":{"uid":1000,"gid":1000,"additionalGids":[10]},"args":["sh"],"cwd":"/",
               "env":["PATH=/bin:/usr/bin","A=b"],
               "capabilities":{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"]},
               "rlimits":[{"type":"RLIMIT_NOFILE","soft":100,"hard":200}],"noNewPrivileges":true}"#,
        );
        let prepared = Prepared::new(&p, "process").unwrap();
        assert_eq!(prepared.path_var, "/bin:/usr/bin");
        assert_eq!(prepared.additional_gids, vec![10]);
        assert_eq!(prepared.rlimits, vec![(libc::RLIMIT_NOFILE, 100, 200)]);
        let caps = prepared.caps.unwrap();
        assert!(caps.bounding.contains(&Cap::CAP_CHOWN));
        assert_eq!(caps.effective.len(), 1);
        assert!(caps.permitted.is_empty());
        assert!(prepared.no_new_privs);
        assert_eq!(prepared.umask, 0o022);
    }

    #[test]
    fn nul_bytes_are_named() {
        let p = process(r#"{"user":{"uid":0,"gid":0},"args":["sh","a\u0000b"],"cwd":"/"}"#);
        let err = Prepared::new(&p, "process").unwrap_err().to_string();
        assert!(err.contains("process.args[1]"), "{err}");
    }

    #[test]
    fn home_comes_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nweb:x:33:33::/var/www:/bin/false\n";
        assert_eq!(home_of(passwd, 33).as_deref(), Some("/var/www"));
        assert_eq!(home_of(passwd, 7), None);
    }

    #[test]
    fn executables_are_looked_up_in_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(bin.join("plain"), "").unwrap();
        let mut p = Prepared::new(
            &process(r#"{"user":{"uid":0,"gid":0},"args":["tool"],"cwd":"/"}"#),
            "process",
        )
        .unwrap();
        p.path_var = format!("/nonexistent:{}", bin.display());
        assert_eq!(
            find_executable(&p).unwrap().to_str().unwrap(),
            tool.to_str().unwrap()
        );
        p.args = vec![CString::new("plain").unwrap()];
        let err = find_executable(&p).unwrap_err().to_string();
        assert!(err.contains("permission denied"), "{err}");
        p.args = vec![CString::new("missing").unwrap()];
        let err = find_executable(&p).unwrap_err().to_string();
        assert!(err.contains("not found in $PATH"), "{err}");
    }
}
