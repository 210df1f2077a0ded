//! Root tests: overlay snapshots over a hand-made layer store, mounted for real.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use skiff_engine::image::layers::LayerStore;
use skiff_engine::image::unpack::UnpackLimits;
use skiff_engine::storage::{mount_with, overlay, unmount, MountMethod, MountSpec};
use skiff_engine::Digest;

/// A layer store in a temporary directory with fabricated layers, laid out as
/// `LayerStore` unpacks them (`<hex>/diff`, `<hex>/link`, `l/<short>` → `../<hex>/diff`).
struct Fixture {
    dir: tempfile::TempDir,
    store: LayerStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(&dir.path().join("layers"), UnpackLimits::default()).unwrap();
        Fixture { dir, store }
    }

    /// Adds a layer; `fill` writes its content into the diff directory.
    fn layer(&self, n: usize, fill: impl FnOnce(&Path)) -> Digest {
        let id = Digest::of(format!("layer {n}").as_bytes());
        let short = format!("{n:0>26}");
        let layer = self.store.root().join(id.hex());
        fs::create_dir_all(layer.join("diff")).unwrap();
        fs::write(layer.join("link"), &short).unwrap();
        symlink(
            format!("../{}/diff", id.hex()),
            self.store.root().join("l").join(&short),
        )
        .unwrap();
        fill(&layer.join("diff"));
        id
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spec(&self, layers: &[Digest]) -> MountSpec {
        overlay(
            &self.store,
            layers,
            &self.path("c/fs"),
            &self.path("c/work"),
            &self.path("c/rootfs"),
        )
        .unwrap()
    }
}

/// Unmounts on drop, so a failing test leaves nothing mounted (the temporary directory is
/// declared first, so it is removed after).
struct Mounted(PathBuf);

impl Mounted {
    fn new(spec: &MountSpec, method: MountMethod) -> Self {
        let guard = Mounted(spec.target.clone());
        mount_with(spec, method).unwrap();
        guard
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = unmount(&self.0);
    }
}

fn is_mounted(target: &Path) -> bool {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let target = target.as_os_str().as_bytes();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| mp.as_bytes() == target)
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn three_layers(method: MountMethod) {
    let fx = Fixture::new();
    let bottom = fx.layer(0, |d| {
        write(&d.join("a"), "a0");
        write(&d.join("gone"), "x");
        write(&d.join("dir/x"), "x");
        write(&d.join("opq/old"), "old");
    });
    let middle = fx.layer(1, |d| {
        write(&d.join("a"), "a1");
        mknod(
            &d.join("gone"),
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .unwrap();
        write(&d.join("dir/y"), "y");
    });
    let top = fx.layer(2, |d| {
        write(&d.join("opq/new"), "new");
        let path = std::ffi::CString::new(d.join("opq").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid NUL-terminated strings and a one-byte value.
        let r = unsafe {
            libc::setxattr(
                path.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(r, 0, "setxattr: {}", std::io::Error::last_os_error());
        write(&d.join("b"), "b");
    });
    let spec = fx.spec(&[bottom, middle, top]);
    let target = spec.target.clone();
    {
        let _mounted = Mounted::new(&spec, method);
        assert!(is_mounted(&target));
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "a1");
        assert!(!target.join("gone").exists(), "whiteout hides the file");
        assert_eq!(names(&target.join("dir")), ["x", "y"]);
        assert_eq!(
            names(&target.join("opq")),
            ["new"],
            "opaque dir hides below"
        );
        assert_eq!(image_names(&target), ["a", "b", "dir", "opq"]);
        write(&target.join("c"), "written");
        write(&target.join("a"), "changed");
        fs::remove_file(target.join("b")).unwrap();
    }
    assert!(!is_mounted(&target), "unmounted");
    let upper = fx.path("c/fs");
    assert_eq!(fs::read_to_string(upper.join("c")).unwrap(), "written");
    assert_eq!(fs::read_to_string(upper.join("a")).unwrap(), "changed");
    assert!(
        fs::symlink_metadata(upper.join("b")).is_ok(),
        "whiteout in upper"
    );
    let layer_a = fx.store.diff_dir(&Digest::of(b"layer 1")).join("a");
    assert_eq!(
        fs::read_to_string(layer_a).unwrap(),
        "a1",
        "layers untouched"
    );
}

/// The entries of a mounted root that come from the image, not from the init layer.
fn image_names(dir: &Path) -> Vec<String> {
    names(dir)
        .into_iter()
        .filter(|n| !["dev", "etc", "proc", "sys"].contains(&n.as_str()))
        .collect()
}

#[test]
fn three_layers_new_api() {
    three_layers(MountMethod::NewApi);
}

#[test]
fn three_layers_mount_data() {
    three_layers(MountMethod::MountData);
}

fn many_layers(method: MountMethod) {
    let fx = Fixture::new();
    let layers: Vec<Digest> = (0..128)
        .map(|i| fx.layer(i, |d| write(&d.join(format!("f{i}")), &i.to_string())))
        .collect();
    let spec = fx.spec(&layers);
    assert!(
        spec.absolute_options().join(",").len() > 4096,
        "the absolute paths must not fit, so the relative ones are tested"
    );
    let cwd = std::env::current_dir().unwrap();
    let _mounted = Mounted::new(&spec, method);
    assert_eq!(std::env::current_dir().unwrap(), cwd, "cwd untouched");
    assert_eq!(image_names(&spec.target).len(), 128);
    assert_eq!(fs::read_to_string(spec.target.join("f0")).unwrap(), "0");
    assert_eq!(fs::read_to_string(spec.target.join("f127")).unwrap(), "127");
}

#[test]
fn many_layers_new_api() {
    many_layers(MountMethod::NewApi);
}

#[test]
fn many_layers_mount_data() {
    many_layers(MountMethod::MountData);
}

#[test]
fn no_layers_and_one_layer() {
    let fx = Fixture::new();
    let spec = fx.spec(&[]);
    {
        let _mounted = Mounted::new(&spec, MountMethod::Auto);
        assert!(image_names(&spec.target).is_empty());
        write(&spec.target.join("new"), "x");
    }
    assert!(fx.path("c/fs/new").exists());

    let one = fx.layer(0, |d| write(&d.join("only"), "1"));
    let spec = fx.spec(&[one]);
    let _mounted = Mounted::new(&spec, MountMethod::Auto);
    assert_eq!(image_names(&spec.target), ["new", "only"]);
}

#[test]
fn unmount_of_what_is_not_mounted_is_fine() {
    let fx = Fixture::new();
    unmount(&fx.path("absent")).unwrap();
    fs::create_dir(fx.path("plain")).unwrap();
    unmount(&fx.path("plain")).unwrap();
}

#[test]
fn busy_mount_is_detached() {
    let fx = Fixture::new();
    let one = fx.layer(0, |d| write(&d.join("f"), "1"));
    let spec = fx.spec(&[one]);
    let _mounted = Mounted::new(&spec, MountMethod::Auto);
    let open = fs::File::open(spec.target.join("f")).unwrap();
    unmount(&spec.target).unwrap();
    assert!(!is_mounted(&spec.target));
    drop(open);
}

#[test]
fn kernel_errors_are_reported() {
    let fx = Fixture::new();
    let one = fx.layer(0, |d| write(&d.join("f"), "1"));
    let mut spec = fx.spec(&[one]);
    // A layer whose short name leads nowhere.
    spec.options[1] = "lowerdir=l/NOPE".into();
    let err = mount_with(&spec, MountMethod::NewApi).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("mounting overlay on"), "{text}");
    assert!(
        text.contains("l/NOPE"),
        "the refused option is named: {text}"
    );
    assert!(mount_with(&spec, MountMethod::MountData).is_err());
    assert!(!is_mounted(&spec.target));
}
