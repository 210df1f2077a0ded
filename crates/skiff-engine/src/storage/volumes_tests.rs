//! Tests of the volume store and of copy-up.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

use super::*;

fn store() -> (tempfile::TempDir, VolumeStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = VolumeStore::open(&dir.path().join("volumes")).unwrap();
    (dir, store)
}

#[test]
fn names_follow_dockers_rule() {
    for good in ["a", "db-data", "x.y_z", "0", &"a".repeat(128)] {
        assert!(valid_volume_name(good), "{good}");
    }
    for bad in [
        "",
        ".hidden",
        "-x",
        "_x",
        "a/b",
        "..",
        "a b",
        "é",
        &"a".repeat(129),
    ] {
        assert!(!valid_volume_name(bad), "{bad}");
    }
}

#[test]
fn lifecycle() {
    let (_dir, store) = store();
    let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let v = store.create("data", &labels).unwrap();
    assert_eq!(v.labels, labels);
    assert_eq!(v.data, store.root().join("data/_data"));
    assert!(v.data.is_dir());
    assert!(matches!(
        store.create("data", &labels),
        Err(VolumeError::AlreadyExists { .. })
    ));
    assert_eq!(store.ensure("data").unwrap(), v.data, "ensure keeps it");
    assert_eq!(store.inspect("data").unwrap(), v);
    let other = store.ensure("cache").unwrap();
    assert!(other.is_dir());
    let names: Vec<String> = store.list().unwrap().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["cache", "data"]);
    store.remove("data").unwrap();
    assert!(matches!(
        store.inspect("data"),
        Err(VolumeError::NotFound { .. })
    ));
    assert!(matches!(
        store.remove("data"),
        Err(VolumeError::NotFound { .. })
    ));
    assert!(matches!(
        store.ensure("../x"),
        Err(VolumeError::InvalidName { .. })
    ));
    let left: Vec<_> = fs::read_dir(store.root()).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporaries left");
}

#[test]
fn concurrent_ensure_agrees_on_one_volume() {
    let (_dir, store) = store();
    let paths: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| store.ensure("v").unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(paths.iter().all(|p| *p == paths[0]));
    let entries: Vec<_> = fs::read_dir(store.root()).unwrap().collect();
    assert_eq!(entries.len(), 1);
    store.inspect("v").unwrap();
}

#[test]
fn clean_tmp_removes_leftovers() {
    let (_dir, store) = store();
    fs::create_dir_all(store.root().join(".tmp-1/_data")).unwrap();
    fs::create_dir_all(store.root().join(".rm-2/_data")).unwrap();
    store.ensure("kept").unwrap();
    store.clean_tmp().unwrap();
    let names: Vec<String> = fs::read_dir(store.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["kept"]);
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn copy_up_keeps_content_owners_and_modes() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    let app = rootfs.join("app");
    fs::create_dir_all(app.join("sub")).unwrap();
    fs::write(app.join("file"), "content").unwrap();
    fs::write(app.join("sub/deep"), "deep").unwrap();
    symlink("/etc/passwd", app.join("link")).unwrap();
    nix::unistd::mkfifo(&app.join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
    fs::set_permissions(&app, fs::Permissions::from_mode(0o750)).unwrap();
    if is_root() {
        std::os::unix::fs::lchown(app.join("file"), Some(1000), Some(1000)).unwrap();
        std::os::unix::fs::lchown(&app, Some(33), Some(33)).unwrap();
    }
    // After the chown, which clears set-id bits.
    fs::set_permissions(app.join("file"), fs::Permissions::from_mode(0o4750)).unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();

    assert!(copy_up(&rootfs, "/app", &data).unwrap());
    assert_eq!(fs::read_to_string(data.join("file")).unwrap(), "content");
    assert_eq!(fs::read_to_string(data.join("sub/deep")).unwrap(), "deep");
    assert_eq!(
        fs::read_link(data.join("link")).unwrap(),
        Path::new("/etc/passwd"),
        "links are copied, not followed"
    );
    let fifo = fs::symlink_metadata(data.join("fifo")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&fifo.file_type()));
    let file = fs::metadata(data.join("file")).unwrap();
    assert_eq!(file.mode() & 0o7777, 0o4750, "set-id bit kept after chown");
    assert_eq!(fs::metadata(&data).unwrap().mode() & 0o7777, 0o750);
    assert_eq!(
        fs::metadata(&data).unwrap().mtime(),
        fs::metadata(&app).unwrap().mtime()
    );
    if is_root() {
        assert_eq!((file.uid(), file.gid()), (1000, 1000));
        assert_eq!(fs::metadata(&data).unwrap().uid(), 33);
    }

    fs::write(app.join("later"), "x").unwrap();
    assert!(
        !copy_up(&rootfs, "/app", &data).unwrap(),
        "only into an empty volume"
    );
    assert!(!data.join("later").exists());
}

#[test]
fn copy_up_stays_inside_the_image() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    let host = dir.path().join("host");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("secret"), "host").unwrap();
    // Followed on the host, each would reach `host`.
    symlink("../host", rootfs.join("up")).unwrap();
    symlink(&host, rootfs.join("abs")).unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    assert!(!copy_up(&rootfs, "/up", &data).unwrap());
    assert!(!copy_up(&rootfs, "/abs", &data).unwrap());
    assert!(!copy_up(&rootfs, "/missing", &data).unwrap());
    assert_eq!(fs::read_dir(&data).unwrap().count(), 0);

    fs::write(rootfs.join("plain"), "file").unwrap();
    assert!(
        !copy_up(&rootfs, "/plain", &data).unwrap(),
        "not a directory"
    );
}
