//! Root test: a container's pieces put together as the lifecycle code will — an overlay
//! snapshot of two layers, the user resolved from the image's files, a volume filled by
//! copy-up, the spec built from a ContainerConfig and an image config — and run with the
//! `skiff-runtime` binary (built by `cargo test --workspace`, or `cargo build -p
//! skiff-runtime`). What the process sees is checked against what `docker run` gives.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;
use skiff_engine::container::config::{ContainerConfig, MountConfig, Resources};
use skiff_engine::container::spec::{self, SpecContext};
use skiff_engine::container::user;
use skiff_engine::image::layers::LayerStore;
use skiff_engine::image::unpack::UnpackLimits;
use skiff_engine::storage::{self, copy_up, VolumeStore};
use skiff_engine::Digest;

const BUSYBOX: &str = "/bin/busybox";

fn runtime_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("skiff-runtime");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p skiff-runtime` (cargo test --workspace builds it)",
        bin.display()
    );
    bin
}

/// Adds a layer to `store` (laid out as `LayerStore` unpacks) and lets `fill` write it.
fn layer(store: &LayerStore, n: usize, fill: impl FnOnce(&Path)) -> Digest {
    let id = Digest::of(format!("spec-runs layer {n}").as_bytes());
    let short = format!("{n:0>26}");
    let dir = store.root().join(id.hex());
    fs::create_dir_all(dir.join("diff")).unwrap();
    fs::write(dir.join("link"), &short).unwrap();
    symlink(
        format!("../{}/diff", id.hex()),
        store.root().join("l").join(&short),
    )
    .unwrap();
    fill(&dir.join("diff"));
    id
}

fn busybox_layer(root: &Path) {
    for dir in ["bin", "etc", "tmp", "proc", "dev", "sys", "root"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
}

/// Unmounts and force-deletes the container whatever happens.
struct Cleanup {
    target: PathBuf,
    runtime: PathBuf,
    state: PathBuf,
    id: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new(&self.runtime)
            .arg("--root")
            .arg(&self.state)
            .args(["delete", "--force", &self.id])
            .stderr(Stdio::null())
            .status();
        let _ = storage::unmount(&self.target);
    }
}

#[test]
fn built_spec_runs_as_docker_would() {
    assert!(nix::unistd::geteuid().is_root(), "this test needs root");
    let runtime = runtime_binary();
    let dir = tempfile::tempdir().unwrap();
    let layers = LayerStore::open(&dir.path().join("layers"), UnpackLimits::default()).unwrap();
    let base = layer(&layers, 0, busybox_layer);
    let app = layer(&layers, 1, |d| {
        fs::create_dir_all(d.join("etc")).unwrap();
        let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
        fs::write(d.join("etc/passwd"), passwd).unwrap();
        fs::write(
            d.join("etc/group"),
            "root:x:0:\napp:x:1000:\nstaff:x:50:app\n",
        )
        .unwrap();
        fs::create_dir_all(d.join("app")).unwrap();
        fs::create_dir_all(d.join("seed")).unwrap();
        fs::write(d.join("seed/hello"), "from the image").unwrap();
        std::os::unix::fs::chown(d.join("seed"), Some(1000), Some(1000)).unwrap();
    });

    // At least 12 characters whatever the pid: the default hostname is the first 12.
    let id = format!("specruns{:08}", std::process::id());
    let container = dir.path().join("containers").join(&id);
    let snapshot = storage::overlay(
        &layers,
        &[base, app],
        &container.join("fs"),
        &container.join("work"),
        &container.join("rootfs"),
    )
    .unwrap();
    let state = dir.path().join("state");
    let _cleanup = Cleanup {
        target: snapshot.target.clone(),
        runtime: runtime.clone(),
        state: state.clone(),
        id: id.clone(),
    };
    storage::mount(&snapshot).unwrap();
    let rootfs = snapshot.target.clone();

    let image: oci_spec::image::ImageConfiguration = serde_json::from_value(json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "User": "app", "WorkingDir": "/app", "Env": ["FROM_IMAGE=1", "MODE=image"],
            "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo image cmd"],
        },
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let script = "\
        echo uid=$(id -u) gid=$(id -g) groups=$(id -G); echo host=$(hostname) env=$HOSTNAME; \
        echo pwd=$(pwd) mode=$MODE from=$FROM_IMAGE; echo nofile=$(ulimit -n); \
        grep -E '^Cap(Bnd|Eff)' /proc/self/status | tr '\\t' ' '; \
        echo seed=$(cat /data/hello); touch /data/new && echo wrote-volume; \
        touch /rootfile 2>/dev/null || echo root-read-only; \
        touch /tmp/t && echo tmp-writable; cat /etc/hostname; \
        echo port-start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)";
    let cfg = ContainerConfig {
        image: "test".into(),
        cmd: Some(vec![script.into()]),
        env: vec!["MODE=config".into()],
        read_only: true,
        mounts: vec![
            MountConfig::Volume {
                name: "seeded".into(),
                target: "/data".into(),
                read_only: false,
            },
            MountConfig::Tmpfs {
                target: "/tmp".into(),
                size: Some(1 << 20),
                mode: None,
            },
        ],
        resources: Resources {
            memory: Some(64 << 20),
            millicpus: Some(500),
            pids: Some(64),
            ..Default::default()
        },
        ..Default::default()
    };
    spec::check_mounts(&cfg).unwrap();

    let (passwd, group) = user::read_account_files(&rootfs);
    let who = user::resolve(
        spec::effective_user(&cfg, &image),
        passwd.as_deref(),
        group.as_deref(),
    )
    .unwrap();
    let volumes = VolumeStore::open(&dir.path().join("volumes")).unwrap();
    let data = volumes.ensure("seeded").unwrap();
    assert!(copy_up(&rootfs, "/seed", &data).unwrap());
    let mut ctx = SpecContext::new(&id, &rootfs, who, spec::nofile_hard_limit());
    ctx.volume_paths = BTreeMap::from([("seeded".to_string(), data.clone())]);
    let etc_hostname = container.join("hostname");
    fs::write(
        &etc_hostname,
        format!("{}\n", spec::hostname(&cfg, &ctx).unwrap()),
    )
    .unwrap();
    ctx.hostname_file = Some(etc_hostname);

    let built = spec::build(&cfg, &image, &ctx).unwrap();
    let bundle = container.join("bundle");
    fs::create_dir_all(&bundle).unwrap();
    fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&built).unwrap(),
    )
    .unwrap();

    let out = Command::new(&runtime)
        .arg("--root")
        .arg(&state)
        .args(["run", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "run failed: {stderr}\n{stdout}");
    let short = &id[..12];
    let nofile = spec::nofile_hard_limit();
    for want in [
        "uid=1000 gid=1000 groups=1000 50".to_string(),
        format!("host={short} env={short}"),
        "pwd=/app mode=config from=1".into(),
        format!("nofile={nofile}"),
        "CapBnd: 00000000a80425fb".into(),
        "CapEff: 0000000000000000".into(),
        "seed=from the image".into(),
        "wrote-volume".into(),
        "root-read-only".into(),
        "tmp-writable".into(),
        short.to_string(),
        "port-start=0".into(),
    ] {
        assert!(
            stdout.contains(&want),
            "missing {want:?} in:\n{stdout}\n{stderr}"
        );
    }
    assert!(
        data.join("new").exists(),
        "the volume is the host directory"
    );
}
