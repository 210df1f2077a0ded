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
    let own = match &record.network {
        Some(net) => net.ip.to_string(),
        None => "127.0.1.1".to_string(),
    };
    let hosts = format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n"
    );
    fs::write(&hosts_file, hosts).map_err(|e| io(&hosts_file, e))?;
    let resolv_file = files.join("resolv.conf");
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = match &record.network {
        Some(net) => match net.dns {
            Some(dns) => resolv_conf_with(&host_resolv, dns),
            None => container_resolv_conf(&host_resolv),
        },
        None => host_resolv,
    };
    fs::write(&resolv_file, resolv).map_err(|e| io(&resolv_file, e))?;
    ctx.hostname_file = Some(hostname_file);
    ctx.hosts_file = Some(hosts_file);
    ctx.resolv_conf = Some(resolv_file);
    let spec = spec::build(&record.config, &record.image_config, &ctx)?;
    let config_path = paths.bundle().join("config.json");
    let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| io(&config_path, e.into()))?;
    fs::write(&config_path, bytes).map_err(|e| io(&config_path, e))
}

/// The host's resolv.conf with `nameserver` as its only nameserver (the agent's DNS server,
/// which forwards what is not a service's name to the node's nameservers); the host's search
/// domains and options are kept.
pub fn resolv_conf_with(host: &str, nameserver: std::net::Ipv4Addr) -> String {
    let mut out = format!("nameserver {nameserver}\n");
    for line in host.lines() {
        let first = line.split_whitespace().next();
        if matches!(first, Some("search" | "domain" | "options")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The host's resolv.conf for a container in its own network namespace: nameservers on the
/// host's loopback (systemd-resolved's 127.0.0.53, a local dnsmasq) cannot be reached from
/// there and are left out, as Docker does; no public resolver is put in their place.
pub fn container_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut dropped = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            if let Some(server) = words.next() {
                let loopback = server
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
                if loopback {
                    dropped.push(server.to_string());
                    continue;
                }
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    if !dropped.is_empty() {
        out.push_str(&format!(
            "# skiff: left out the host's loopback nameserver(s) {}, unreachable from a container\n",
            dropped.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{container_resolv_conf, resolv_conf_with};

    #[test]
    fn a_given_nameserver_replaces_the_hosts_and_search_and_options_stay() {
        let host = "# made by hand\nsearch example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n";
        assert_eq!(
            resolv_conf_with(host, "10.208.3.1".parse().unwrap()),
            "nameserver 10.208.3.1\nsearch example.org\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf_with("", "10.208.3.1".parse().unwrap()),
            "nameserver 10.208.3.1\n"
        );
    }

    #[test]
    fn loopback_nameservers_are_left_out_and_the_rest_kept() {
        let host = "search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0\n";
        let got = container_resolv_conf(host);
        assert_eq!(
            got,
            "search example.org\nnameserver 10.0.0.2\noptions edns0\n# skiff: left out the host's loopback nameserver(s) 127.0.0.53, ::1, unreachable from a container\n"
        );
        assert_eq!(
            container_resolv_conf("nameserver 10.0.0.2\n"),
            "nameserver 10.0.0.2\n"
        );
    }
}
