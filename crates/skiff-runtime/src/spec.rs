//! Loading and validating a bundle's `config.json`.
//!
//! Parsing goes through `serde_path_to_error` so that a type error names the field
//! (`linux.namespaces[2].type`); validation then refuses what the runtime cannot honour, again
//! naming the field and saying what to change.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// Errors found while loading or validating `config.json`.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The JSON is malformed or a field has the wrong type.
    #[error("{path}: field `{field}`: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Dotted path of the offending field (`.` for the document itself).
        field: String,
        /// What serde said, with line and column.
        message: String,
    },
    /// A field's value is refused.
    #[error("config.json: `{field}`: {message}")]
    Invalid {
        /// Dotted path of the offending field.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A validated container configuration with its resolved root filesystem.
#[derive(Debug, Clone)]
pub struct Config {
    /// The parsed spec.
    pub spec: Spec,
    /// The bundle directory (absolute).
    pub bundle: PathBuf,
    /// The root filesystem (absolute, canonical).
    pub rootfs: PathBuf,
    /// The text of config.json as read (kept as the container's copy).
    pub text: Vec<u8>,
}

/// Reads `config.json` from `bundle`, parses and validates it.
pub fn load(bundle: &Path) -> Result<Config, SpecError> {
    let bundle = if bundle.is_absolute() {
        bundle.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|source| SpecError::Read {
                path: bundle.to_path_buf(),
                source,
            })?
            .join(bundle)
    };
    let path = bundle.join("config.json");
    let text = read_limited(&path)?;
    let spec = parse(&text).map_err(|(field, message)| SpecError::Parse {
        path: path.clone(),
        field,
        message,
    })?;
    validate(&spec)?;
    let root = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_default();
    let rootfs = bundle.join(&root);
    let rootfs = fs::canonicalize(&rootfs).map_err(|e| {
        invalid(
            "root.path",
            format!("{}: {e}; the bundle must contain it", rootfs.display()),
        )
    })?;
    if !rootfs.is_dir() {
        return Err(invalid(
            "root.path",
            format!("{} is not a directory", rootfs.display()),
        ));
    }
    Ok(Config {
        spec,
        bundle,
        rootfs,
        text,
    })
}

/// The largest config.json or process.json accepted (runc's own examples are a few KiB).
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

fn read_limited(path: &Path) -> Result<Vec<u8>, SpecError> {
    use std::io::Read;
    let read_err = |source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = fs::File::open(path).map_err(read_err)?;
    let mut text = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(SpecError::Parse {
            path: path.to_path_buf(),
            field: ".".into(),
            message: format!("the file is larger than {} MiB", MAX_CONFIG_BYTES >> 20),
        });
    }
    Ok(text)
}

/// Parses a spec, returning the failing field path and message on error.
pub fn parse(text: &[u8]) -> Result<Spec, (String, String)> {
    // The plain parser is faster; the path-tracking one runs only to explain a failure.
    if let Ok(spec) = serde_json::from_slice(text) {
        return Ok(spec);
    }
    let de = &mut serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        (field, e.into_inner().to_string())
    })
}

/// Checks everything the runtime relies on before it touches the kernel.
pub fn validate(spec: &Spec) -> Result<(), SpecError> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(invalid(
            "ociVersion",
            format!(
                "\"{version}\" is not a 1.x runtime-spec version; this runtime supports 1.0 to 1.2"
            ),
        ));
    }
    match spec.root() {
        Some(root) if !root.path().as_os_str().is_empty() => {}
        _ => {
            return Err(invalid(
                "root.path",
                "is required: the directory holding the root filesystem",
            ))
        }
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("process", "is required: the container's process"))?;
    validate_process(process, "process")?;
    if let Some(mounts) = spec.mounts() {
        for (i, mount) in mounts.iter().enumerate() {
            if !mount.destination().is_absolute() {
                return Err(invalid(
                    format!("mounts[{i}].destination"),
                    format!("{} must be an absolute path", mount.destination().display()),
                ));
            }
            if mount.uid_mappings().is_some() || mount.gid_mappings().is_some() {
                return Err(invalid(
                    format!("mounts[{i}].uidMappings"),
                    "id-mapped mounts are not supported; remove the mappings",
                ));
            }
        }
    }
    if let Some(hooks) = spec.hooks() {
        validate_hooks(hooks)?;
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("linux", "is required on Linux"))?;
    let namespaces = validate_namespaces(spec)?;
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        && !namespaces.private(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "hostname",
            "needs a new uts namespace in linux.namespaces",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty())
        && !namespaces.private(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "domainname",
            "needs a new uts namespace in linux.namespaces",
        ));
    }
    if let Some(sysctl) = linux.sysctl() {
        for key in sysctl.keys() {
            validate_sysctl(key, &namespaces)?;
        }
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if crate::rootfs::propagation_flags(prop).is_none() {
            return Err(invalid(
                "linux.rootfsPropagation",
                format!("\"{prop}\" is not one of shared, slave, private, unbindable, rshared, rslave, rprivate, runbindable"),
            ));
        }
    }
    if linux
        .mount_label()
        .as_deref()
        .is_some_and(|l| !l.is_empty())
    {
        return Err(invalid(
            "linux.mountLabel",
            "SELinux labels are not supported; remove it",
        ));
    }
    if linux.intel_rdt().is_some() {
        return Err(invalid(
            "linux.intelRdt",
            "Intel RDT is not supported; remove it",
        ));
    }
    if linux.time_offsets().is_some() {
        return Err(invalid(
            "linux.timeOffsets",
            "time namespaces are not supported; remove it",
        ));
    }
    if linux.memory_policy().is_some() {
        return Err(invalid(
            "linux.memoryPolicy",
            "memory policies are not supported; remove it",
        ));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(invalid(
            "linux.netDevices",
            "moving network devices is not supported; remove it",
        ));
    }
    if let Some(seccomp) = linux.seccomp() {
        if seccomp.listener_path().is_some() {
            return Err(invalid(
                "linux.seccomp.listenerPath",
                "seccomp notify agents are not supported; remove it",
            ));
        }
    }
    for (field, paths) in [
        ("linux.maskedPaths", linux.masked_paths()),
        ("linux.readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in paths.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(invalid(
                    format!("{field}[{i}]"),
                    format!("\"{p}\" must be an absolute path"),
                ));
            }
        }
    }
    Ok(())
}

fn validate_process(process: &oci_spec::runtime::Process, field: &str) -> Result<(), SpecError> {
    match process.args() {
        Some(args) if !args.is_empty() && !args[0].is_empty() => {}
        _ => {
            return Err(invalid(
                format!("{field}.args"),
                "must name the program to run",
            ))
        }
    }
    if process.command_line().is_some() {
        return Err(invalid(
            format!("{field}.commandLine"),
            "is for Windows; use args",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(
            format!("{field}.cwd"),
            format!("{} must be an absolute path", process.cwd().display()),
        ));
    }
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(invalid(
            format!("{field}.apparmorProfile"),
            "AppArmor is not supported; remove it",
        ));
    }
    if process
        .selinux_label()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
    {
        return Err(invalid(
            format!("{field}.selinuxLabel"),
            "SELinux is not supported; remove it",
        ));
    }
    if process.io_priority().is_some() {
        return Err(invalid(
            format!("{field}.ioPriority"),
            "is not supported; remove it",
        ));
    }
    if process.scheduler().is_some() {
        return Err(invalid(
            format!("{field}.scheduler"),
            "is not supported; remove it",
        ));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(invalid(
            format!("{field}.execCPUAffinity"),
            "is not supported; remove it",
        ));
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
                return Err(invalid(
                    format!("{field}.env[{i}]"),
                    format!("\"{e}\" is not of the form NAME=value"),
                ));
            }
        }
    }
    if let Some(rlimits) = process.rlimits() {
        let mut seen = HashSet::new();
        for (i, r) in rlimits.iter().enumerate() {
            if !seen.insert(format!("{:?}", r.typ())) {
                return Err(invalid(
                    format!("{field}.rlimits[{i}].type"),
                    "is given twice",
                ));
            }
            if r.soft() > r.hard() {
                return Err(invalid(
                    format!("{field}.rlimits[{i}]"),
                    format!("soft limit {} is above hard limit {}", r.soft(), r.hard()),
                ));
            }
        }
    }
    if let Some(adj) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&adj) {
            return Err(invalid(
                format!("{field}.oomScoreAdj"),
                format!("{adj} is outside -1000..1000"),
            ));
        }
    }
    Ok(())
}

/// Validates a process given to `exec` (same rules as the container's process).
pub fn validate_exec_process(process: &oci_spec::runtime::Process) -> Result<(), SpecError> {
    validate_process(process, "process")
}

fn validate_hooks(hooks: &oci_spec::runtime::Hooks) -> Result<(), SpecError> {
    #[allow(deprecated)]
    let all = [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ];
    for (name, list) in all {
        for (i, hook) in list.iter().flatten().enumerate() {
            if !hook.path().is_absolute() {
                return Err(invalid(
                    format!("hooks.{name}[{i}].path"),
                    format!("{} must be an absolute path", hook.path().display()),
                ));
            }
            if hook.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(
                    format!("hooks.{name}[{i}].timeout"),
                    "must be a positive number of seconds",
                ));
            }
        }
    }
    Ok(())
}

/// What the spec asks of each namespace type.
#[derive(Debug, Default, Clone)]
pub struct Namespaces {
    /// (type, path): `None` = a new namespace, `Some` = join the namespace at that path.
    pub entries: Vec<(LinuxNamespaceType, Option<PathBuf>)>,
}

impl Namespaces {
    /// Whether the container gets its own namespace of this type (new or joined).
    pub fn private(&self, typ: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(t, _)| *t == typ)
    }

    /// Whether a new namespace of this type is created.
    pub fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.entries.iter().any(|(t, p)| *t == typ && p.is_none())
    }

    /// The path to join for this type, if any.
    pub fn join_path(&self, typ: LinuxNamespaceType) -> Option<&Path> {
        self.entries
            .iter()
            .find(|(t, _)| *t == typ)
            .and_then(|(_, p)| p.as_deref())
    }

    /// Reads the namespaces of a spec (without validating).
    pub fn of(spec: &Spec) -> Self {
        let entries = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .map(|ns| {
                ns.iter()
                    .map(|n| {
                        (
                            n.typ(),
                            n.path().clone().filter(|p| !p.as_os_str().is_empty()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Namespaces { entries }
    }
}

fn validate_namespaces(spec: &Spec) -> Result<Namespaces, SpecError> {
    let ns = Namespaces::of(spec);
    let mut seen = HashSet::new();
    for (i, (typ, path)) in ns.entries.iter().enumerate() {
        if !seen.insert(*typ) {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                format!("{typ} is listed twice"),
            ));
        }
        if *typ == LinuxNamespaceType::Time {
            return Err(invalid(
                format!("linux.namespaces[{i}].type"),
                "time namespaces are not supported",
            ));
        }
        if let Some(path) = path {
            if !path.is_absolute() {
                return Err(invalid(
                    format!("linux.namespaces[{i}].path"),
                    format!("{} must be an absolute path", path.display()),
                ));
            }
        }
    }
    let linux = spec.linux().as_ref();
    let has_maps = linux.is_some_and(|l| {
        l.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || l.gid_mappings().as_ref().is_some_and(|m| !m.is_empty())
    });
    if ns.creates(LinuxNamespaceType::User) {
        for (field, maps) in [
            (
                "linux.uidMappings",
                linux.and_then(|l| l.uid_mappings().as_ref()),
            ),
            (
                "linux.gidMappings",
                linux.and_then(|l| l.gid_mappings().as_ref()),
            ),
        ] {
            let maps = maps
                .filter(|m| !m.is_empty())
                .ok_or_else(|| invalid(field, "a new user namespace needs at least one mapping"))?;
            if maps.len() > 340 {
                return Err(invalid(field, "the kernel accepts at most 340 mappings"));
            }
            for (i, m) in maps.iter().enumerate() {
                if m.size() == 0 {
                    return Err(invalid(format!("{field}[{i}].size"), "must be at least 1"));
                }
            }
        }
    } else if has_maps {
        return Err(invalid(
            "linux.uidMappings",
            "mappings need a new user namespace: add {\"type\": \"user\"} to linux.namespaces",
        ));
    }
    if ns.private(LinuxNamespaceType::User) && !ns.private(LinuxNamespaceType::Mount) {
        return Err(invalid(
            "linux.namespaces",
            "a user namespace needs a mount namespace too",
        ));
    }
    if !ns.private(LinuxNamespaceType::Mount) {
        return Err(invalid(
            "linux.namespaces",
            "a mount namespace is required: add {\"type\": \"mount\"}",
        ));
    }
    Ok(ns)
}

/// Only namespaced sysctls may be set, and only when the container has that namespace.
fn validate_sysctl(key: &str, ns: &Namespaces) -> Result<(), SpecError> {
    let field = format!("linux.sysctl.{key}");
    if key.is_empty() || key.contains("..") || key.starts_with(['/', '.']) || key.contains('\0') {
        return Err(invalid(field, "is not a valid sysctl name"));
    }
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let needed = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if key.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        return Err(invalid(field, "is not a namespaced sysctl; a container may only set net.*, ipc (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) and uts ones"));
    };
    if !ns.private(needed) {
        return Err(invalid(
            field,
            format!("needs the container's own {needed} namespace"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;

/// A default config.json (as `runc spec` writes): busybox-friendly, a shell on a terminal,
/// new pid, network, ipc, uts and mount namespaces, runc's capabilities, masked paths.
pub const EXAMPLE: &str = include_str!("example-config.json");

/// Reads a process JSON file for `exec --process`.
pub fn load_process(path: &Path) -> Result<oci_spec::runtime::Process, SpecError> {
    let text = read_limited(path)?;
    let de = &mut serde_json::Deserializer::from_slice(&text);
    let process: oci_spec::runtime::Process =
        serde_path_to_error::deserialize(de).map_err(|e| SpecError::Parse {
            path: path.to_path_buf(),
            field: e.path().to_string(),
            message: e.into_inner().to_string(),
        })?;
    validate_exec_process(&process)?;
    Ok(process)
}
