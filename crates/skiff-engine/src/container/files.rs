//! Secrets and configs as files in a container, never on the node's disk.
//!
//! The payloads come in the [`ContainerConfig`](super::ContainerConfig) (held in memory only:
//! the field is never serialized into the container's record). At create, the engine mounts a
//! private tmpfs at `<container dir>/files` (mode 0700, `nosuid,nodev,noexec`), writes each
//! file there with its mode, uid and gid, and bind-mounts, read-only, its `secrets/`
//! directory at `/run/secrets` (every file whose target is directly under it) and each other
//! file at its own target. At rm the tmpfs is unmounted before the directory goes; a node that
//! reboots loses it with the rest of memory.

use std::fmt;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::config::MountConfig;

/// Where secrets go in a container.
pub const SECRETS_DIR: &str = "/run/secrets";

/// The most files a container may get.
pub const MAX_FILES: usize = 256;

/// One file a container gets. `Debug` shows the payload's length, never the payload.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ContainerFile {
    /// Absolute path in the container.
    pub target: String,
    /// The payload.
    pub data: Vec<u8>,
    /// Permission bits (at most 0o7777).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

impl fmt::Debug for ContainerFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerFile")
            .field("target", &self.target)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("mode", &format_args!("{:o}", self.mode))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .finish()
    }
}

/// Why a container's files cannot be given to it.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// A target that is not a clean absolute path to a file.
    #[error("files[{index}].target {target:?}: {reason}")]
    BadTarget {
        /// Which file.
        index: usize,
        /// Its target.
        target: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two files at one target.
    #[error("files[{index}].target {target:?}: another file already goes there")]
    DuplicateTarget {
        /// The second file.
        index: usize,
        /// The target.
        target: String,
    },
    /// A mode with bits beyond 0o7777.
    #[error("files[{index}].mode {mode:o}: permission bits are at most 7777")]
    BadMode {
        /// Which file.
        index: usize,
        /// The mode.
        mode: u32,
    },
    /// More than [`MAX_FILES`].
    #[error("{count} files: a container gets at most {MAX_FILES}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// Making the staging tmpfs or a file in it failed.
    #[error("staging container files at {path}: {source}")]
    Stage {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Where one file is staged (relative to the staging tmpfs), and whether it is reached
/// through the `/run/secrets` directory bind rather than a bind of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Its path under the staging tmpfs.
    pub staged: PathBuf,
    /// Its target in the container.
    pub target: String,
    /// Under `/run/secrets` (the directory is bound once).
    pub in_secrets_dir: bool,
}

/// Checks `files` and says where each is staged. Pure.
pub fn plan(files: &[ContainerFile]) -> Result<Vec<Placement>, FilesError> {
    if files.len() > MAX_FILES {
        return Err(FilesError::TooMany { count: files.len() });
    }
    let mut out: Vec<Placement> = Vec::with_capacity(files.len());
    for (index, file) in files.iter().enumerate() {
        let bad = |reason| FilesError::BadTarget {
            index,
            target: file.target.clone(),
            reason,
        };
        let t = &file.target;
        if !t.starts_with('/') {
            return Err(bad("must be an absolute path"));
        }
        if t.contains('\0') || t.ends_with('/') {
            return Err(bad("must name a file: no trailing / nor NUL"));
        }
        let parts: Vec<&str> = t.split('/').skip(1).collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return Err(bad("must be a clean path: no empty, . or .. components"));
        }
        if parts[0] == "proc" || parts[0] == "sys" || parts[0] == "dev" {
            return Err(bad("must not be under /proc, /sys or /dev"));
        }
        if t == SECRETS_DIR {
            return Err(bad("/run/secrets is the secrets directory, not a file"));
        }
        if file.mode > 0o7777 {
            return Err(FilesError::BadMode {
                index,
                mode: file.mode,
            });
        }
        if out.iter().any(|p| p.target == *t) {
            return Err(FilesError::DuplicateTarget {
                index,
                target: t.clone(),
            });
        }
        let in_secrets = t
            .strip_prefix(SECRETS_DIR)
            .and_then(|rest| rest.strip_prefix('/'));
        if in_secrets.is_some_and(|name| name.contains('/')) {
            // /run/secrets is a read-only bind: no mount point can be made inside it.
            return Err(bad("a file under /run/secrets must be directly in it"));
        }
        out.push(match in_secrets {
            Some(name) => Placement {
                staged: Path::new("secrets").join(name),
                target: t.clone(),
                in_secrets_dir: true,
            },
            None => Placement {
                staged: Path::new("other").join(index.to_string()),
                target: t.clone(),
                in_secrets_dir: false,
            },
        });
    }
    Ok(out)
}

/// The read-only binds that put the staged files (under `dir`) at their targets.
pub fn binds(dir: &Path, placements: &[Placement]) -> Vec<MountConfig> {
    let mut out = Vec::new();
    if placements.iter().any(|p| p.in_secrets_dir) {
        out.push(MountConfig::Bind {
            source: dir.join("secrets"),
            target: SECRETS_DIR.to_owned(),
            read_only: true,
        });
    }
    for p in placements.iter().filter(|p| !p.in_secrets_dir) {
        out.push(MountConfig::Bind {
            source: dir.join(&p.staged),
            target: p.target.clone(),
            read_only: true,
        });
    }
    out
}

/// Mounts a tmpfs at `dir`, writes `files` in it as `placements` say, and returns the binds
/// that show them in the container. On failure nothing stays mounted or written.
pub fn stage(
    dir: &Path,
    files: &[ContainerFile],
    placements: &[Placement],
) -> Result<Vec<MountConfig>, FilesError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FilesError::Stage { path, source }
    };
    DirBuilder::new().mode(0o700).create(dir).map_err(io(dir))?;
    let payload: u64 = files.iter().map(|f| f.data.len() as u64 + 4096).sum();
    let options = format!("mode=0700,size={}", payload + (1 << 20));
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(e) = nix::mount::mount(
        Some("skiff-files"),
        dir,
        Some("tmpfs"),
        flags,
        Some(options.as_str()),
    ) {
        let _ = fs::remove_dir(dir);
        return Err(FilesError::Stage {
            path: dir.to_path_buf(),
            source: e.into(),
        });
    }
    let written = write_all(dir, files, placements);
    if let Err(e) = written {
        unstage(dir);
        return Err(e);
    }
    Ok(binds(dir, placements))
}

fn write_all(
    dir: &Path,
    files: &[ContainerFile],
    placements: &[Placement],
) -> Result<(), FilesError> {
    for (file, place) in files.iter().zip(placements) {
        let path = dir.join(&place.staged);
        let parent = path.parent().expect("staged paths have a parent");
        let io = |source| FilesError::Stage {
            path: path.clone(),
            source,
        };
        DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(parent)
            .map_err(io)?;
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        out.write_all(&file.data).map_err(io)?;
        std::os::unix::fs::fchown(&out, Some(file.uid), Some(file.gid)).map_err(io)?;
        // After chown, which clears the set-id bits; and past the umask.
        out.set_permissions(fs::Permissions::from_mode(file.mode))
            .map_err(io)?;
    }
    Ok(())
}

/// Unmounts the staging tmpfs at `dir` (if mounted) and removes the directory; the files go
/// with the tmpfs. Whatever cannot be undone is left for the next try (`rm` again).
pub fn unstage(dir: &Path) {
    let _ = crate::storage::unmount(dir);
    let _ = fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(target: &str) -> ContainerFile {
        ContainerFile {
            target: target.into(),
            data: b"x".to_vec(),
            mode: 0o444,
            ..Default::default()
        }
    }

    #[test]
    fn secrets_share_the_run_secrets_bind_and_others_get_their_own() {
        let files = [
            file("/run/secrets/token"),
            file("/etc/app/conf.yml"),
            file("/run/secrets/db"),
            file("/run/secretsfile"),
        ];
        let plan = plan(&files).unwrap();
        let staged: Vec<_> = plan
            .iter()
            .map(|p| (p.staged.to_str().unwrap(), p.in_secrets_dir))
            .collect();
        assert_eq!(
            staged,
            [
                ("secrets/token", true),
                ("other/1", false),
                ("secrets/db", true),
                ("other/3", false),
            ]
        );
        let dir = Path::new("/d/files");
        let binds = binds(dir, &plan);
        let bind = |s: &str, t: &str| MountConfig::Bind {
            source: dir.join(s),
            target: t.into(),
            read_only: true,
        };
        assert_eq!(
            binds,
            [
                bind("secrets", "/run/secrets"),
                bind("other/1", "/etc/app/conf.yml"),
                bind("other/3", "/run/secretsfile"),
            ]
        );
    }

    #[test]
    fn bad_targets_and_modes_are_named() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["run/secrets/a"],
                "files[0].target \"run/secrets/a\": must be an absolute path",
            ),
            (
                &["/a/../etc/passwd"],
                "files[0].target \"/a/../etc/passwd\": must be a clean path",
            ),
            (&["/a//b"], "must be a clean path"),
            (&["/etc/"], "must name a file"),
            (&["/proc/x"], "must not be under /proc"),
            (&["/run/secrets"], "the secrets directory"),
            (&["/run/secrets/a/b"], "directly in it"),
            (
                &["/a", "/a"],
                "files[1].target \"/a\": another file already goes there",
            ),
        ];
        for (targets, want) in cases {
            let files: Vec<_> = targets.iter().map(|t| file(t)).collect();
            let e = plan(&files).unwrap_err().to_string();
            assert!(e.contains(want), "{targets:?}: {e}");
        }
        let mut f = file("/a");
        f.mode = 0o17777;
        assert_eq!(
            plan(&[f]).unwrap_err().to_string(),
            "files[0].mode 17777: permission bits are at most 7777"
        );
        let many = vec![file("/a"); MAX_FILES + 1];
        assert!(plan(&many).unwrap_err().to_string().contains("at most 256"));
    }

    #[test]
    fn debug_never_shows_the_payload() {
        let mut f = file("/run/secrets/pw");
        f.data = b"hunter2".to_vec();
        let text = format!("{f:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<7 bytes>"), "{text}");
    }
}
