//! Preparing a container's OCI bundle at start (in the shim): the overlay root filesystem is
//! mounted, the user resolved against the image's own /etc/passwd, the hostname, hosts and
//! resolv.conf files written, and `config.json` built from the image config and the
//! container config.

use std::fs;
use std::path::Path;

use super::config::MountConfig;
use super::error::ContainerError;
use super::record::{ContainerRecord, Paths};
use super::spec::{self, SpecContext};
use super::user;
use crate::fsutil::FileLock;
use crate::image::layers::LayerStore;
use crate::image::unpack::UnpackLimits;
use crate::storage::{self, copy_up, VolumeStore};

/// Mounts the root filesystem and writes `bundle/config.json` for `record`. On failure the
/// root filesystem is left unmounted.
pub fn prepare(
    data_dir: &Path,
    paths: &Paths,
    record: &ContainerRecord,
) -> Result<(), ContainerError> {
    // Only to find the layers' directories: the limits are for unpacking, which the shim
    // does not do.
    let layers = LayerStore::open(&data_dir.join("layers"), UnpackLimits::default())
        .map_err(storage::StorageError::from)?;
    let mount = storage::overlay(
        &layers,
        &record.layers,
        &paths.upper(),
        &paths.work(),
        &paths.rootfs(),
    )?;
    // A shim that was killed may have left the previous mount.
    storage::unmount(&paths.rootfs())?;
    storage::mount(&mount)?;
    let built = build_spec(data_dir, paths, record);
    if built.is_err() {
        let _ = storage::unmount(&paths.rootfs());
    }
    built
}

fn build_spec(
    data_dir: &Path,
    paths: &Paths,
    record: &ContainerRecord,
) -> Result<(), ContainerError> {
    let io = |path: &Path, e: std::io::Error| ContainerError::Shim {
        id: record.id.clone(),
        message: format!("{}: {e}", path.display()),
    };
    let (passwd, group) = user::read_account_files(&paths.rootfs());
    let wanted_user = spec::effective_user(&record.config, &record.image_config);
    let user = user::resolve(wanted_user, passwd.as_deref(), group.as_deref())?;
    let mut ctx = SpecContext::new(&record.id, &paths.rootfs(), user, spec::nofile_hard_limit());

    // Volumes are made under the shared GC lock, which collection takes exclusively before
    // it clears half-made volumes.
    let gc_lock = data_dir.join("gc.lock");
    let _gc = FileLock::shared(&gc_lock).map_err(|e| io(&gc_lock, e))?;
    let volumes = VolumeStore::open(&data_dir.join("volumes"))?;
    for m in &record.config.mounts {
        if let MountConfig::Volume { name, target, .. } = m {
            let data = volumes.ensure(name)?;
            copy_up(&paths.rootfs(), target, &data)?;
            ctx.volume_paths.insert(name.clone(), data);
        }
    }

    let hostname = spec::hostname(&record.config, &ctx)?;
    let files = paths.dir.join("etc");
    fs::create_dir_all(&files).map_err(|e| io(&files, e))?;
    let hostname_file = files.join("hostname");
    fs::write(&hostname_file, format!("{hostname}\n")).map_err(|e| io(&hostname_file, e))?;
    let hosts_file = files.join("hosts");
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n"
    );
    fs::write(&hosts_file, hosts).map_err(|e| io(&hosts_file, e))?;
    let resolv_file = files.join("resolv.conf");
    let resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    fs::write(&resolv_file, resolv).map_err(|e| io(&resolv_file, e))?;
    ctx.hostname_file = Some(hostname_file);
    ctx.hosts_file = Some(hosts_file);
    ctx.resolv_conf = Some(resolv_file);
    let spec = spec::build(&record.config, &record.image_config, &ctx)?;
    let config_path = paths.bundle().join("config.json");
    let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| io(&config_path, e.into()))?;
    fs::write(&config_path, bytes).map_err(|e| io(&config_path, e))
}
