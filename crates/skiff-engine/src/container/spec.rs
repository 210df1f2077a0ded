//! The OCI runtime spec of a container: [`build`] merges its [`ContainerConfig`] with the
//! image's config the way `docker run` does, over Docker's defaults (capabilities, seccomp
//! profile, masked and read-only paths, default mounts, device rules, sysctls). It is pure:
//! everything it needs from the host — the resolved user, the volumes' directories, the
//! prepared /etc files, the nofile limit — comes in a [`SpecContext`].

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    Capability, LinuxCapabilities, LinuxNamespace, LinuxNamespaceType, PosixRlimitBuilder,
    PosixRlimitType, Process, Root, Spec, User,
};

use super::config::{ContainerConfig, NetworkMode};
use super::user::ResolvedUser;

mod caps;
mod linux;
mod mounts;

pub use caps::{capabilities, parse_capability, DEFAULT_CAPABILITIES};
pub use linux::{MASKED_PATHS, READONLY_PATHS};
pub use mounts::check_mounts;

/// `PATH` when neither the image nor the config sets one (Docker's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What [`build`] needs from the host besides the two configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecContext {
    /// The container id.
    pub id: String,
    /// The mounted root filesystem (absolute).
    pub rootfs: PathBuf,
    /// The user the process runs as ([`super::user::resolve`] of [`effective_user`]).
    pub user: ResolvedUser,
    /// Each named volume's host directory (its `_data`), from
    /// [`VolumeStore::ensure`](crate::storage::VolumeStore::ensure).
    pub volume_paths: BTreeMap<String, PathBuf>,
    /// The container's cgroup (`/skiff/<id>`).
    pub cgroups_path: String,
    /// Annotations added to the spec.
    pub annotations: BTreeMap<String, String>,
    /// RLIMIT_NOFILE (soft and hard) of the process: the caller's own hard limit, as podman
    /// does ([`nofile_hard_limit`]); Docker's 1048576 can exceed what the host allows.
    pub nofile_limit: u64,
    /// A prepared file bind-mounted at /etc/hosts.
    pub hosts_file: Option<PathBuf>,
    /// A prepared file bind-mounted at /etc/hostname.
    pub hostname_file: Option<PathBuf>,
    /// A prepared file bind-mounted at /etc/resolv.conf.
    pub resolv_conf: Option<PathBuf>,
    /// The host's name: the default hostname of a container on the host's network, as
    /// Docker's (else the id's first 12 characters are used there too).
    pub host_hostname: Option<String>,
}

impl SpecContext {
    /// A context with the defaults: cgroup `/skiff/<id>`, no volumes, files or annotations.
    pub fn new(id: &str, rootfs: &Path, user: ResolvedUser, nofile_limit: u64) -> Self {
        SpecContext {
            id: id.to_string(),
            rootfs: rootfs.to_path_buf(),
            user,
            volume_paths: BTreeMap::new(),
            cgroups_path: format!("/skiff/{id}"),
            annotations: BTreeMap::new(),
            nofile_limit,
            hosts_file: None,
            hostname_file: None,
            resolv_conf: None,
            host_hostname: None,
        }
    }
}

/// Why a spec cannot be built; each names the field of the [`ContainerConfig`] at fault.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Neither the image nor the config gives a program.
    #[error("no command: the image has no Entrypoint or Cmd and none was given")]
    NoCommand,
    /// An unknown capability name.
    #[error("{field}: {name:?} is not a capability (examples: NET_ADMIN, CAP_SYS_TIME, ALL)")]
    UnknownCapability {
        /// `cap_add[i]` or `cap_drop[i]`.
        field: String,
        /// The name given.
        name: String,
    },
    /// A path that must be absolute is not.
    #[error("{field}: {path:?} must be an absolute path")]
    RelativePath {
        /// `workdir`, `mounts[i].target`, `mounts[i].source`.
        field: String,
        /// The path given.
        path: String,
    },
    /// A mount over the root directory.
    #[error("{field}: a mount cannot replace the container's root directory /")]
    RootTarget {
        /// `mounts[i].target`.
        field: String,
    },
    /// A mount over /proc or inside it, which the runtime mounts itself (and runc refuses).
    #[error("{field}: {target} is inside /proc, which the container gets from the kernel; mount it elsewhere")]
    ProcTarget {
        /// `mounts[i].target`.
        field: String,
        /// The (normalized) target.
        target: String,
    },
    /// Two mounts on one target.
    #[error("{field}: {target} is already the target of mounts[{first}]")]
    DuplicateTarget {
        /// `mounts[i].target`.
        field: String,
        /// The (normalized) target.
        target: String,
        /// The index of the first mount there.
        first: usize,
    },
    /// A bind source that is not there.
    #[error("{field}: {}: {source}", .path.display())]
    BindSource {
        /// `mounts[i].source`.
        field: String,
        /// The host path.
        path: PathBuf,
        /// Why it is not usable.
        source: io::Error,
    },
    /// A volume name outside `[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}`.
    #[error("{field}: {name:?} is not a volume name (a letter or digit, then up to 127 of letters, digits, '_', '.', '-')")]
    InvalidVolumeName {
        /// `mounts[i].name`.
        field: String,
        /// The name.
        name: String,
    },
    /// A volume without a host directory in the context.
    #[error("{field}: volume {name:?} has no host directory in the spec context (VolumeStore::ensure gives it)")]
    VolumeNotPrepared {
        /// `mounts[i].name`.
        field: String,
        /// The name.
        name: String,
    },
    /// A tmpfs of size 0.
    #[error("{field}: a tmpfs size must be more than 0 bytes (omit it for the kernel's default, half of memory)")]
    TmpfsSize {
        /// `mounts[i].size`.
        field: String,
    },
    /// A tmpfs mode with bits beyond 07777.
    #[error("{field}: {mode:o} is not a directory mode (at most 7777 octal)")]
    TmpfsMode {
        /// `mounts[i].mode`.
        field: String,
        /// The mode.
        mode: u32,
    },
    /// An environment entry that is not `NAME=value` or `NAME`.
    #[error("{field}: {entry:?} is not NAME=value (or NAME, which unsets it)")]
    InvalidEnv {
        /// `env[i]` or `image.Env[i]`.
        field: String,
        /// The entry.
        entry: String,
    },
    /// A hostname the kernel or DNS would not take.
    #[error("hostname: {hostname:?} is not a host name (letters, digits and inner '-' in dot-separated labels, at most 64 characters)")]
    InvalidHostname {
        /// The name.
        hostname: String,
    },
    /// A limit below what a container can run with.
    #[error("{field}: {value} is below the minimum of {min}")]
    TooLow {
        /// `resources.memory`, `resources.memory_reservation`, `resources.millicpus`.
        field: String,
        /// The value given.
        value: u64,
        /// The least accepted.
        min: u64,
    },
    /// A limit beyond what the kernel takes.
    #[error("{field}: {value} is too large")]
    TooLarge {
        /// The field.
        field: String,
        /// The value given.
        value: u64,
    },
    /// A memory reservation above the memory limit.
    #[error("resources.memory_reservation: {reservation} is above the memory limit {limit}")]
    ReservationAboveLimit {
        /// The reservation.
        reservation: u64,
        /// The limit.
        limit: u64,
    },
}

/// Builds the runtime spec for `cfg` on `image` in `ctx`.
pub fn build(
    cfg: &ContainerConfig,
    image: &ImageConfiguration,
    ctx: &SpecContext,
) -> Result<Spec, SpecError> {
    let hostname = hostname(cfg, ctx)?;
    let caps = capabilities(&cfg.cap_add, &cfg.cap_drop)?;

    let mut user = User::default();
    user.set_uid(ctx.user.uid);
    user.set_gid(ctx.user.gid);
    let groups = &ctx.user.additional_gids;
    user.set_additional_gids((!groups.is_empty()).then(|| groups.clone()));

    let mut process = Process::default();
    process.set_terminal(Some(false));
    process.set_user(user);
    process.set_args(Some(args(cfg, image)?));
    process.set_env(Some(env(cfg, image, &hostname)?));
    process.set_cwd(workdir(cfg, image)?);
    process.set_capabilities(Some(capability_sets(&caps, ctx.user.uid == 0)));
    process.set_no_new_privileges(Some(false));
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(ctx.nofile_limit)
        .hard(ctx.nofile_limit)
        .build()
        // PosixRlimit has no setters; its builder defaults every field and validates nothing.
        .expect("the rlimit builder cannot fail");
    process.set_rlimits(Some(vec![nofile]));

    let mut root = Root::default();
    root.set_path(ctx.rootfs.clone());
    root.set_readonly(Some(cfg.read_only));

    let mut spec = Spec::default();
    spec.set_version("1.2.0".into());
    spec.set_process(Some(process));
    spec.set_root(Some(root));
    spec.set_hostname(Some(hostname));
    spec.set_domainname(None);
    spec.set_mounts(Some(mounts::mounts(cfg, ctx)?));
    let annotations: HashMap<String, String> = ctx.annotations.clone().into_iter().collect();
    spec.set_annotations(Some(annotations));
    spec.set_linux(Some(linux::linux(cfg, ctx, &caps)?));
    Ok(spec)
}

/// Checks at create time everything [`build`] will check at start that needs neither the
/// mounted root filesystem nor the volumes: command, environment, working directory,
/// hostname, capabilities, mounts and resource limits. A container that cannot start for
/// one of these is then never created.
pub fn check(cfg: &ContainerConfig, image: &ImageConfiguration) -> Result<(), SpecError> {
    let mut ctx = SpecContext::new("check", Path::new("/"), ResolvedUser::default(), 1024);
    for m in &cfg.mounts {
        if let super::config::MountConfig::Volume { name, .. } = m {
            ctx.volume_paths.insert(name.clone(), PathBuf::from("/"));
        }
    }
    build(cfg, image, &ctx).map(drop)
}

/// The user spec the container runs as: the config's, else the image's `User`, else `""`
/// (root). Resolve it with [`super::user::resolve`] for [`SpecContext::user`].
pub fn effective_user<'a>(cfg: &'a ContainerConfig, image: &'a ImageConfiguration) -> &'a str {
    cfg.user
        .as_deref()
        .or_else(|| image.config().as_ref().and_then(|c| c.user().as_deref()))
        .unwrap_or("")
}

/// The container's hostname: the config's (checked as Docker's CLI does), else the host's
/// for a container on the host's network when the context has it, else the id's first 12
/// characters. The caller writes the same into /etc/hostname.
pub fn hostname(cfg: &ContainerConfig, ctx: &SpecContext) -> Result<String, SpecError> {
    if let Some(h) = &cfg.hostname {
        if !valid_hostname(h) {
            return Err(SpecError::InvalidHostname {
                hostname: h.clone(),
            });
        }
        return Ok(h.clone());
    }
    if cfg.network == NetworkMode::Host {
        if let Some(h) = &ctx.host_hostname {
            return Ok(h.clone());
        }
    }
    Ok(ctx.id.chars().take(12).collect())
}

fn valid_hostname(h: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    h.len() <= 64 && h.split('.').all(label_ok)
}

/// The process arguments: Docker's rules. An entrypoint given with something in it drops the
/// image's Cmd; an empty one (`--entrypoint ""`) clears the image's Entrypoint but keeps its
/// Cmd; an empty cmd is no cmd.
fn args(cfg: &ContainerConfig, image: &ImageConfiguration) -> Result<Vec<String>, SpecError> {
    let img = image.config().as_ref();
    let image_entrypoint = img.and_then(|c| c.entrypoint().clone()).unwrap_or_default();
    let image_cmd = img.and_then(|c| c.cmd().clone()).unwrap_or_default();
    let user_cmd = cfg.cmd.clone().filter(|c| !c.is_empty());
    let (entrypoint, cmd) = match &cfg.entrypoint {
        Some(e) if !e.is_empty() => (e.clone(), user_cmd.unwrap_or_default()),
        Some(_) => (Vec::new(), user_cmd.unwrap_or(image_cmd)),
        None => (image_entrypoint, user_cmd.unwrap_or(image_cmd)),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.first().is_none_or(|a| a.is_empty()) {
        return Err(SpecError::NoCommand);
    }
    Ok(args)
}

/// The environment: `PATH` and `HOSTNAME` (Docker's daemon sets both), overridden by the
/// image's Env, overridden by the config's; a bare `NAME` unsets it.
fn env(
    cfg: &ContainerConfig,
    image: &ImageConfiguration,
    hostname: &str,
) -> Result<Vec<String>, SpecError> {
    let mut out = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={hostname}"),
    ];
    let image_env = image.config().as_ref().and_then(|c| c.env().clone());
    for (field, list) in [
        ("image.Env", image_env.unwrap_or_default()),
        ("env", cfg.env.clone()),
    ] {
        for (i, entry) in list.iter().enumerate() {
            let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
            if key.is_empty() || entry.contains('\0') {
                return Err(SpecError::InvalidEnv {
                    field: format!("{field}[{i}]"),
                    entry: entry.clone(),
                });
            }
            let same_key = |e: &String| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key;
            match out.iter().position(same_key) {
                Some(at) => out[at] = entry.clone(),
                None => out.push(entry.clone()),
            }
        }
    }
    out.retain(|e| e.contains('='));
    Ok(out)
}

/// The working directory: the config's (absolute), the image's (made absolute), or `/`.
fn workdir(cfg: &ContainerConfig, image: &ImageConfiguration) -> Result<PathBuf, SpecError> {
    if let Some(w) = cfg.workdir.as_deref().filter(|w| !w.is_empty()) {
        if !w.starts_with('/') {
            return Err(SpecError::RelativePath {
                field: "workdir".into(),
                path: w.to_string(),
            });
        }
        return Ok(PathBuf::from(w));
    }
    let image_dir = image
        .config()
        .as_ref()
        .and_then(|c| c.working_dir().clone());
    Ok(Path::new("/").join(image_dir.unwrap_or_default()))
}

/// Docker's sets: root gets the capabilities in its bounding, effective and permitted sets;
/// any other user only in the bounding set (what execve would give it). Inheritable and
/// ambient stay empty (Docker ≥ 20.10).
fn capability_sets(caps: &[Capability], root: bool) -> LinuxCapabilities {
    let set: oci_spec::runtime::Capabilities = caps.iter().copied().collect();
    let empty = oci_spec::runtime::Capabilities::new();
    let mut out = LinuxCapabilities::default();
    out.set_bounding(Some(set.clone()));
    out.set_effective(Some(if root { set.clone() } else { empty.clone() }));
    out.set_permitted(Some(if root { set } else { empty.clone() }));
    out.set_inheritable(Some(empty.clone()));
    out.set_ambient(Some(empty));
    out
}

/// The hard RLIMIT_NOFILE of this process (for [`SpecContext::nofile_limit`]); 1024 if it
/// cannot be read.
pub fn nofile_hard_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(_, hard)| hard)
}

/// The namespaces: pid, ipc, uts, mount and cgroup always; network unless on the host's.
fn namespaces(cfg: &ContainerConfig) -> Vec<LinuxNamespace> {
    let mut types = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    if cfg.network != NetworkMode::Host {
        types.push(LinuxNamespaceType::Network);
    }
    types.push(LinuxNamespaceType::Cgroup);
    types
        .into_iter()
        .map(|t| {
            let mut ns = LinuxNamespace::default();
            ns.set_typ(t);
            ns.set_path(None);
            ns
        })
        .collect()
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
