//! Nothing lands outside the layer.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use tar::EntryType;

use super::{lstat, Fixture, Tar};
use crate::image::unpack::{NameProblem, UnpackError};

#[test]
fn refuses_dot_dot_names() {
    for name in [
        "../outside/evil",
        "a/../../outside/evil",
        "./../outside/evil",
        "a/..",
    ] {
        let fx = Fixture::new();
        let tar = Tar::new()
            .dir("a")
            .raw(EntryType::Regular, name.as_bytes(), b"", b"pwned")
            .finish();
        let err = fx.unpack(&tar).unwrap_err();
        assert!(
            matches!(&err, UnpackError::UnsafeName { entry, problem: NameProblem::ParentDir } if entry == name),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
        fx.assert_outside_untouched();
    }
}

#[test]
fn refuses_absolute_names() {
    let fx = Fixture::new();
    // Were it taken as it is, it would land in `outside`.
    let name = format!("{}/evil", fx.outside.display());
    let tar = Tar::new()
        .raw(EntryType::Regular, name.as_bytes(), b"", b"pwned")
        .finish();
    let err = fx.unpack(&tar).unwrap_err();
    assert!(
        matches!(&err, UnpackError::UnsafeName { entry, problem: NameProblem::Absolute } if *entry == name),
        "{err:?}"
    );
    fx.assert_outside_untouched();
    assert!(!fx.path("evil").exists());
}

#[test]
fn refuses_writing_through_a_symlink_out() {
    let fx = Fixture::new();
    let abs = fx.outside.display().to_string();
    for (link, target) in [("rel", "../outside"), ("abs", abs.as_str())] {
        let tar = Tar::new()
            .symlink(link, target)
            .file(&format!("{link}/evil"), b"pwned")
            .finish();
        let err = fx.unpack(&tar).unwrap_err();
        assert!(
            matches!(&err, UnpackError::ThroughSymlink { entry, through }
                if *entry == format!("{link}/evil") && through == link),
            "{err:?}"
        );
        fx.assert_outside_untouched();
        // The symlink itself is kept as it was written, absolute or not.
        assert_eq!(fs::read_link(fx.path(link)).unwrap().to_str(), Some(target));
    }
}

#[test]
fn refuses_symlinked_parents_even_inside_the_layer() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .dir("real")
        .dir("a")
        .symlink("a/b", "../real")
        .file("a/b/c/d", b"x")
        .finish();
    let err = fx.unpack(&tar).unwrap_err();
    assert!(
        matches!(&err, UnpackError::ThroughSymlink { entry, through } if entry == "a/b/c/d" && through == "a/b"),
        "{err:?}"
    );
    assert_eq!(fs::read_dir(fx.path("real")).unwrap().count(), 0);
}

#[test]
fn replaces_a_symlink_instead_of_following_it() {
    let fx = Fixture::new();
    let target = fx.outside.join("evil");
    let outside_mode = lstat(&fx.outside).mode();
    let tar = Tar::new()
        .symlink("f", target.to_str().unwrap())
        .file("f", b"mine")
        .symlink("d", fx.outside.to_str().unwrap())
        .dir_with("d", |h| h.set_mode(0o700))
        .symlink("n", target.to_str().unwrap())
        .node("n", EntryType::Fifo, 0o600, 0, 0)
        .finish();
    fx.unpack(&tar).unwrap();
    fx.assert_outside_untouched();
    assert_eq!(fs::read(fx.path("f")).unwrap(), b"mine");
    assert!(lstat(&fx.path("d")).is_dir());
    assert!(lstat(&fx.path("n")).file_type().is_fifo());
    assert_eq!(
        lstat(&fx.outside).mode(),
        outside_mode,
        "mode set through the symlink"
    );
}

#[test]
fn refuses_hard_links_out() {
    let fx = Fixture::new();
    let secret = fx.outside.parent().unwrap().join("secret");
    fs::write(&secret, b"secret").unwrap();
    let abs = secret.display().to_string();
    let cases: [(&[u8], NameProblem); 3] = [
        (b"../secret", NameProblem::ParentDir),
        (abs.as_bytes(), NameProblem::Absolute),
        (b".", NameProblem::Empty),
    ];
    for (target, problem) in cases {
        let tar = Tar::new()
            .raw(EntryType::Link, b"link", target, b"")
            .finish();
        let err = fx.unpack(&tar).unwrap_err();
        assert!(
            matches!(&err, UnpackError::UnsafeLinkTarget { entry, problem: p, .. } if entry == "link" && *p == problem),
            "{err:?}"
        );
        assert!(!fx.path("link").exists());
    }
    assert_eq!(lstat(&secret).nlink(), 1);
}

#[test]
fn refuses_hard_links_through_symlinks() {
    let fx = Fixture::new();
    fs::write(fx.outside.parent().unwrap().join("secret"), b"secret").unwrap();
    let tar = Tar::new()
        .symlink("up", "..")
        .hardlink("link", "up/secret")
        .finish();
    let err = fx.unpack(&tar).unwrap_err();
    assert!(
        matches!(&err, UnpackError::LinkThroughSymlink { entry, target, through }
            if entry == "link" && target == "up/secret" && through == "up"),
        "{err:?}"
    );
    assert!(!fx.path("link").exists());
    assert_eq!(
        lstat(&fx.outside.parent().unwrap().join("secret")).nlink(),
        1
    );
}

#[test]
fn hard_link_to_a_symlink_links_the_symlink() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .symlink("s", fx.outside.to_str().unwrap())
        .hardlink("h", "s")
        .finish();
    fx.unpack(&tar).unwrap();
    assert!(lstat(&fx.path("h")).is_symlink());
    assert_eq!(lstat(&fx.path("h")).ino(), lstat(&fx.path("s")).ino());
    fx.assert_outside_untouched();
}

#[test]
fn refuses_whiteouts_that_escape() {
    for name in ["a/.wh..", "a/.wh...", ".wh."] {
        let fx = Fixture::new();
        let tar = Tar::new()
            .dir("a")
            .raw(EntryType::Regular, name.as_bytes(), b"", b"")
            .finish();
        let err = fx.unpack(&tar).unwrap_err();
        assert!(
            matches!(&err, UnpackError::BadWhiteout { .. }),
            "{name}: {err:?}"
        );
        fx.assert_outside_untouched();
    }
}

#[test]
fn refuses_a_file_as_the_root() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .raw(EntryType::Regular, b"./", b"", b"x")
        .finish();
    let err = fx.unpack(&tar).unwrap_err();
    assert!(
        matches!(
            &err,
            UnpackError::UnsafeName {
                problem: NameProblem::Empty,
                ..
            }
        ),
        "{err:?}"
    );
}
