//! The container's user: `ContainerConfig.user` or the image's `User` (`""`, `uid`, `uid:gid`,
//! `name`, `name:group`, `uid:group`, …) resolved against the image's `/etc/passwd` and
//! `/etc/group`, with the rules of runc's `libcontainer/user` that Docker uses:
//!
//! * a numeric user is a uid, matched against /etc/passwd for its primary group and home but
//!   valid without an entry (gid 0 then); a name must have an entry;
//! * an explicit group (name or gid) replaces the primary group, and then no supplementary
//!   groups are added; a numeric group needs no entry;
//! * without an explicit group, every group that lists the user's name is a supplementary
//!   group; the empty spec is uid 0 with root's entry, so root gets its groups too.
//!
//! Ids are limited to 0..=2³¹−1, as runc. [`resolve`] is pure; [`read_account_files`] reads
//! the two files from a mounted root filesystem without leaving it.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// Largest /etc/passwd or /etc/group read from an image.
pub const MAX_ACCOUNT_FILE: u64 = 1 << 20;

/// Largest uid or gid accepted (runc's limit).
const MAX_ID: i64 = (1 << 31) - 1;

/// The process identity a user spec resolves to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    /// The user id.
    pub uid: u32,
    /// The primary group id.
    pub gid: u32,
    /// Supplementary groups: the groups in /etc/group that list the user (when no group was
    /// given).
    pub additional_gids: Vec<u32>,
    /// The home directory from /etc/passwd, when the user has an entry.
    pub home: Option<String>,
}

/// Which account file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountFile {
    /// `/etc/passwd`.
    Passwd,
    /// `/etc/group`.
    Group,
}

impl fmt::Display for AccountFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccountFile::Passwd => "/etc/passwd",
            AccountFile::Group => "/etc/group",
        })
    }
}

/// Why a user spec does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The spec has more than one `:`.
    #[error("user {spec:?}: expected uid, name, uid:gid or name:group")]
    Malformed {
        /// The spec.
        spec: String,
    },
    /// A name is not in the image's file.
    #[error("{kind} {name:?} not found in the image's {file}{}", if *.file_present { "" } else { " (the image has none)" })]
    NotFound {
        /// `user` or `group`.
        kind: &'static str,
        /// The name looked for.
        name: String,
        /// Where.
        file: AccountFile,
        /// Whether the image has the file at all.
        file_present: bool,
    },
    /// A numeric id outside 0..=2147483647.
    #[error("{kind} id {value} is out of range (0 to 2147483647)")]
    OutOfRange {
        /// `user` or `group`.
        kind: &'static str,
        /// The id as given.
        value: String,
    },
    /// The entry that matched has an unusable id field.
    #[error("line {line} of the image's {file} has an invalid id {value:?}")]
    InvalidEntry {
        /// The file.
        file: AccountFile,
        /// 1-based line number.
        line: usize,
        /// The id field.
        value: String,
    },
}

/// One /etc/passwd or /etc/group line: its fields, split on `:`.
struct Entry<'a> {
    line: usize,
    fields: Vec<&'a str>,
}

impl<'a> Entry<'a> {
    fn field(&self, i: usize) -> &'a str {
        self.fields.get(i).copied().unwrap_or("")
    }

    /// The numeric field `i`, or `None` when it is not a valid id.
    fn id(&self, i: usize) -> Option<u32> {
        parse_id(self.field(i)).ok().flatten()
    }

    /// The numeric field `i`, which must be valid (the entry matched by name).
    fn required_id(&self, i: usize, file: AccountFile) -> Result<u32, UserError> {
        self.id(i).ok_or_else(|| UserError::InvalidEntry {
            file,
            line: self.line,
            value: self.field(i).to_string(),
        })
    }
}

fn entries(text: Option<&str>) -> impl Iterator<Item = Entry<'_>> {
    text.unwrap_or("")
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(line, l)| Entry {
            line,
            fields: l.split(':').collect(),
        })
}

/// `Ok(Some(id))` for a valid numeric id, `Ok(None)` for a name, `Err` for a number out of
/// range (the `&str` is what was given).
fn parse_id(text: &str) -> Result<Option<u32>, &str> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    match text.parse::<i64>() {
        Ok(n) if (0..=MAX_ID).contains(&n) => Ok(Some(n as u32)),
        _ => Err(text),
    }
}

fn numeric(kind: &'static str, text: &str) -> Result<Option<u32>, UserError> {
    parse_id(text).map_err(|value| UserError::OutOfRange {
        kind,
        value: value.to_string(),
    })
}

/// Resolves `spec` against the image's /etc/passwd and /etc/group (`None` when the image has
/// no such file).
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let spec = spec.trim();
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((_, g)) if g.contains(':') => {
            return Err(UserError::Malformed {
                spec: spec.to_string(),
            })
        }
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let group_arg = group_arg.filter(|g| !g.is_empty());
    let uid_arg = numeric("user", user_arg)?;
    let mut out = ResolvedUser::default();

    let wanted_uid = if user_arg.is_empty() {
        Some(0)
    } else {
        uid_arg
    };
    let matched = entries(passwd).find(|e| match wanted_uid {
        Some(uid) => e.id(2) == Some(uid),
        None => e.field(0) == user_arg,
    });
    let matched_name = match matched {
        Some(e) => {
            out.uid = e.required_id(2, AccountFile::Passwd)?;
            out.gid = e.required_id(3, AccountFile::Passwd)?;
            out.home = Some(e.field(5).to_string()).filter(|h| !h.is_empty());
            Some(e.field(0))
        }
        None => {
            match wanted_uid {
                Some(uid) => out.uid = uid,
                None => {
                    return Err(UserError::NotFound {
                        kind: "user",
                        name: user_arg.to_string(),
                        file: AccountFile::Passwd,
                        file_present: passwd.is_some(),
                    })
                }
            }
            None
        }
    };

    match group_arg {
        Some(g) => {
            let gid_arg = numeric("group", g)?;
            let found = entries(group).find(|e| match gid_arg {
                Some(gid) => e.id(2) == Some(gid),
                None => e.field(0) == g,
            });
            out.gid = match (found, gid_arg) {
                (Some(e), _) => e.required_id(2, AccountFile::Group)?,
                (None, Some(gid)) => gid,
                (None, None) => {
                    return Err(UserError::NotFound {
                        kind: "group",
                        name: g.to_string(),
                        file: AccountFile::Group,
                        file_present: group.is_some(),
                    })
                }
            };
        }
        None => {
            if let Some(name) = matched_name.filter(|n| !n.is_empty()) {
                for e in entries(group) {
                    if e.field(3).split(',').any(|m| m.trim() == name) {
                        out.additional_gids
                            .push(e.required_id(2, AccountFile::Group)?);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Reads `<rootfs>/etc/passwd` and `<rootfs>/etc/group` as the container would see them:
/// resolved by the kernel inside `rootfs` (`openat2` with `RESOLVE_IN_ROOT`), so symbolic links
/// in the image cannot lead to the host's files. A file that is missing, not a regular file,
/// larger than [`MAX_ACCOUNT_FILE`] or unreadable counts as absent (numeric ids still work;
/// names then fail to resolve with a message saying the image has no such file).
pub fn read_account_files(rootfs: &Path) -> (Option<String>, Option<String>) {
    let Ok(root) = File::open(rootfs) else {
        return (None, None);
    };
    let read = |rel: &str| -> Option<String> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK | OFlag::O_NOCTTY)
            .mode(Mode::empty())
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(root.as_fd(), rel, how).ok()?;
        let file = File::from(fd);
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        let mut bytes = Vec::new();
        file.take(MAX_ACCOUNT_FILE + 1)
            .read_to_end(&mut bytes)
            .ok()?;
        if bytes.len() as u64 > MAX_ACCOUNT_FILE {
            return None;
        }
        Some(String::from_utf8_lossy(&bytes).into_owned())
    };
    (read("etc/passwd"), read("etc/group"))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
bob:x:1000:1000:Bob:/home/bob:/bin/sh
alice:x:1001:100::/home/alice:/bin/sh
broken:x:abc:1::/:/bin/sh
";

    const GROUP: &str = "\
root:x:0:root
bin:x:1:root,bin,daemon
wheel:x:10:root,bob
users:x:100:
bob:x:1000:
staff:x:50:bob,alice
bad:x:zz:nobody
";

    fn ok(spec: &str) -> (u32, u32, Vec<u32>) {
        let u = resolve(spec, Some(PASSWD), Some(GROUP)).unwrap();
        (u.uid, u.gid, u.additional_gids)
    }

    #[test]
    fn specs_resolve_as_runc_does() {
        type Expected = (u32, u32, &'static [u32]);
        let table: &[(&str, Expected)] = &[
            ("", (0, 0, &[0, 1, 10])),
            ("root", (0, 0, &[0, 1, 10])),
            ("bob", (1000, 1000, &[10, 50])),
            ("1000", (1000, 1000, &[10, 50])),
            ("bob:", (1000, 1000, &[10, 50])),
            ("alice", (1001, 100, &[50])),
            ("1000:50", (1000, 50, &[])),
            ("bob:staff", (1000, 50, &[])),
            ("bob:users", (1000, 100, &[])),
            ("bob:4343", (1000, 4343, &[])),
            ("4242", (4242, 0, &[])),
            ("4242:4343", (4242, 4343, &[])),
            ("4242:staff", (4242, 50, &[])),
            (":50", (0, 50, &[])),
            (" daemon ", (1, 1, &[1])),
        ];
        for (spec, (uid, gid, groups)) in table {
            assert_eq!(ok(spec), (*uid, *gid, groups.to_vec()), "{spec:?}");
        }
        let bob = resolve("bob", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(bob.home.as_deref(), Some("/home/bob"));
        assert_eq!(resolve("4242", Some(PASSWD), None).unwrap().home, None);
    }

    #[test]
    fn numeric_ids_need_no_files() {
        let u = resolve("33:44", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (33, 44, vec![]));
        assert_eq!(resolve("", None, None).unwrap(), ResolvedUser::default());
    }

    #[test]
    fn errors_say_what_is_missing() {
        let err = |spec: &str, p: Option<&str>, g: Option<&str>| {
            resolve(spec, p, g).unwrap_err().to_string()
        };
        assert_eq!(
            err("carol", Some(PASSWD), Some(GROUP)),
            "user \"carol\" not found in the image's /etc/passwd"
        );
        assert_eq!(
            err("bob", None, None),
            "user \"bob\" not found in the image's /etc/passwd (the image has none)"
        );
        assert_eq!(
            err("bob:nogroup", Some(PASSWD), Some(GROUP)),
            "group \"nogroup\" not found in the image's /etc/group"
        );
        assert_eq!(
            err("broken", Some(PASSWD), Some(GROUP)),
            "line 6 of the image's /etc/passwd has an invalid id \"abc\""
        );
        assert!(err("2147483648", None, None).contains("out of range"));
        assert!(err("-1", None, None).contains("out of range"));
        assert!(err("0:-5", None, None).contains("group id -5 is out of range"));
        assert!(err("a:b:c", None, None).contains("expected uid"));
    }

    #[test]
    fn account_files_are_read_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc")).unwrap();
        fs::write(dir.path().join("host-group"), "host:x:0:").unwrap();
        // Both links would reach the host's file if followed outside the root.
        symlink("../../host-group", rootfs.join("etc/group")).unwrap();
        fs::write(rootfs.join("etc/real-passwd"), "root:x:0:0::/root:/bin/sh").unwrap();
        symlink("/etc/real-passwd", rootfs.join("etc/passwd")).unwrap();
        let (passwd, group) = read_account_files(&rootfs);
        assert_eq!(passwd.as_deref(), Some("root:x:0:0::/root:/bin/sh"));
        assert_eq!(group, None);

        fs::write(rootfs.join("host-group"), "inside:x:7:").unwrap();
        assert_eq!(
            read_account_files(&rootfs).1.as_deref(),
            Some("inside:x:7:")
        );
    }

    #[test]
    fn odd_account_files_count_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir_all(&etc).unwrap();
        nix::unistd::mkfifo(&etc.join("passwd"), Mode::from_bits_truncate(0o644)).unwrap();
        fs::write(etc.join("group"), vec![b'x'; MAX_ACCOUNT_FILE as usize + 1]).unwrap();
        assert_eq!(read_account_files(dir.path()), (None, None));
        assert_eq!(read_account_files(&dir.path().join("absent")), (None, None));
    }
}
