//! Overlay snapshots as data: the [`MountSpec`] that stacks an image's unpacked layers under a
//! container's writable directory, as Docker's overlay2 driver does.
//!
//! Lower directories are named by the layers' short names (`l/ABC…`, 29 bytes each with the
//! separator) relative to the layer store, so the options of a 128-layer image fit in the one
//! page of mount data the classic `mount(2)` takes. [`mount`](super::mount()) resolves them:
//! one `lowerdir+` per layer with the new mount API, or from the layer store as the working
//! directory with the classic call.

use std::path::{Path, PathBuf};

use super::mount::MountSpec;
use super::StorageError;
use crate::digest::Digest;
use crate::image::layers::LayerStore;

/// Describes the overlay mount of an image's layers (`diff_ids_bottom_first`, as the image
/// config lists them), with the layer store's init layer on top, under the writable `upper`
/// directory (with overlayfs' `work` directory
/// on the same filesystem) at `target`. Nothing is mounted; the layers must be unpacked (the
/// init layer is made if missing). `upper`, `work` and `target` must be absolute.
pub fn overlay(
    layer_store: &LayerStore,
    diff_ids_bottom_first: &[Digest],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<MountSpec, StorageError> {
    check_path("upperdir", upper)?;
    check_path("workdir", work)?;
    check_path("target", target)?;
    let root = layer_store.root();
    check_path("layer store", root)?;
    let mkdirs = vec![
        upper.to_path_buf(),
        work.to_path_buf(),
        target.to_path_buf(),
    ];
    // overlayfs lists the topmost lower directory first; the init layer is on top.
    let mut lowers = vec![layer_store.init_layer()?.to_string()];
    for d in diff_ids_bottom_first.iter().rev() {
        lowers.push(layer_store.short_name(d)?);
    }
    Ok(MountSpec {
        fstype: "overlay".into(),
        source: "overlay".into(),
        target: target.to_path_buf(),
        options: vec![
            // Without the index, a layer can sit under any number of overlays (Docker and
            // containerd turn it off too).
            "index=off".into(),
            format!("lowerdir={}", lowers.join(":")),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
        ],
        base_dir: Some(root.to_path_buf()),
        mkdirs,
    })
}

fn check_path(role: &'static str, path: &Path) -> Result<(), StorageError> {
    if !path.is_absolute() {
        return Err(StorageError::RelativePath {
            role,
            path: path.to_path_buf(),
        });
    }
    let text = path.as_os_str().as_encoded_bytes();
    if text.iter().any(|b| matches!(b, b',' | b':' | b'\n')) {
        return Err(StorageError::UnusablePath {
            role,
            path: PathBuf::from(path),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::image::unpack::UnpackLimits;

    /// A layer store with `n` fabricated layers (as `LayerStore` lays them out).
    fn store(n: usize) -> (tempfile::TempDir, LayerStore, Vec<Digest>) {
        let dir = tempfile::tempdir().unwrap();
        let store = LayerStore::open(&dir.path().join("layers"), UnpackLimits::default()).unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let id = Digest::of(format!("layer {i}").as_bytes());
            let short = format!("{:A>26}", format!("L{i}"));
            let layer = store.root().join(id.hex());
            fs::create_dir_all(layer.join("diff")).unwrap();
            fs::write(layer.join("link"), &short).unwrap();
            symlink(
                format!("../{}/diff", id.hex()),
                store.root().join("l").join(&short),
            )
            .unwrap();
            ids.push(id);
        }
        (dir, store, ids)
    }

    #[test]
    fn lowers_are_short_names_top_first() {
        let (_dir, store, ids) = store(3);
        let spec = overlay(
            &store,
            &ids,
            Path::new("/c/fs"),
            Path::new("/c/work"),
            Path::new("/c/rootfs"),
        )
        .unwrap();
        let a = "A".repeat(24);
        assert_eq!(
            spec.options,
            vec![
                "index=off".to_string(),
                format!("lowerdir=init-v1:l/{a}L2:l/{a}L1:l/{a}L0"),
                "upperdir=/c/fs".into(),
                "workdir=/c/work".into(),
            ]
        );
        assert_eq!(spec.fstype, "overlay");
        assert_eq!(spec.base_dir.as_deref(), Some(store.root()));
        assert_eq!(spec.target, Path::new("/c/rootfs"));
        assert_eq!(spec.mkdirs.len(), 3);
    }

    #[test]
    fn the_init_layer_is_on_top_and_holds_the_mount_points() {
        let (_dir, store, _) = store(0);
        let spec = overlay(
            &store,
            &[],
            Path::new("/c/fs"),
            Path::new("/c/work"),
            Path::new("/c/rootfs"),
        )
        .unwrap();
        assert!(spec.options.contains(&"lowerdir=init-v1".to_string()));
        let init = store.root().join("init-v1");
        for dir in ["proc", "sys", "dev", "etc"] {
            assert!(init.join(dir).is_dir(), "{dir}");
        }
        for file in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
            assert!(init.join(file).is_file(), "{file}");
        }
        assert!(
            store.list().unwrap().is_empty(),
            "not a layer GC would look at"
        );
    }

    #[test]
    fn many_layers_fit_in_a_page() {
        let (_dir, store, ids) = store(128);
        let upper = PathBuf::from(format!("/var/lib/skiff/containers/{}/fs", "f".repeat(64)));
        let work = upper.with_file_name("work");
        let spec = overlay(&store, &ids, &upper, &work, Path::new("/r")).unwrap();
        assert!(spec.data().len() < 4096, "{} bytes", spec.data().len());
        let absolute = spec.absolute_options().join(",");
        assert!(absolute.contains(&format!("{}/l/", store.root().display())));
    }

    #[test]
    fn missing_layer_and_bad_paths_are_refused() {
        let (_dir, store, mut ids) = store(1);
        ids.push(Digest::of(b"absent"));
        let err = overlay(
            &store,
            &ids,
            Path::new("/u"),
            Path::new("/w"),
            Path::new("/t"),
        );
        assert!(matches!(err, Err(StorageError::Layer(_))), "{err:?}");
        let err = overlay(
            &store,
            &[],
            Path::new("/u:x"),
            Path::new("/w"),
            Path::new("/t"),
        );
        assert!(
            matches!(
                err,
                Err(StorageError::UnusablePath {
                    role: "upperdir",
                    ..
                })
            ),
            "{err:?}"
        );
        let err = overlay(
            &store,
            &[],
            Path::new("/u"),
            Path::new("w"),
            Path::new("/t"),
        );
        assert!(
            matches!(
                err,
                Err(StorageError::RelativePath {
                    role: "workdir",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
