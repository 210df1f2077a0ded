//! What lands inside the layer: metadata, links, whiteouts, replacements.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

use tar::EntryType;

use super::{lstat, xattr, Fixture, Tar, MTIME};

#[test]
fn keeps_owners_modes_and_times() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .dir_with("./", |h| {
            h.set_mode(0o751);
            h.set_mtime(1_000_000_001);
        })
        .dir_with("d", |h| {
            h.set_mode(0o1777);
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mtime(1_000_000_000);
        })
        .file_with("d/suid", b"#!/bin/sh\n", |h| {
            h.set_mode(0o4755);
            h.set_uid(1001);
            h.set_gid(1002);
            h.set_mtime(1_111_111_111);
        })
        .dir_with("g", |h| h.set_mode(0o2775))
        .node("d/null", EntryType::Char, 0o666, 1, 3)
        .node("d/loop", EntryType::Block, 0o660, 7, 9)
        .node("d/fifo", EntryType::Fifo, 0o604, 0, 0)
        .symlink_with("d/l", "/etc/passwd", |h| {
            h.set_uid(33);
            h.set_gid(34);
            h.set_mtime(1_222_222_222);
        })
        .finish();
    fx.unpack(&tar).unwrap();

    let d = lstat(&fx.path("d"));
    assert_eq!((d.mode() & 0o7777, d.uid(), d.gid()), (0o1777, 1000, 1000));
    assert_eq!(
        d.mtime(),
        1_000_000_000,
        "directory times are set after their content"
    );
    let root = lstat(&fx.dest);
    assert_eq!((root.mode() & 0o7777, root.mtime()), (0o751, 1_000_000_001));
    let suid = lstat(&fx.path("d/suid"));
    assert_eq!(
        (suid.mode() & 0o7777, suid.uid(), suid.gid(), suid.mtime()),
        (0o4755, 1001, 1002, 1_111_111_111)
    );
    assert_eq!(lstat(&fx.path("g")).mode() & 0o7777, 0o2775);
    let null = lstat(&fx.path("d/null"));
    assert!(null.file_type().is_char_device());
    assert_eq!(
        (null.rdev(), null.mode() & 0o7777),
        (libc::makedev(1, 3), 0o666)
    );
    let block = lstat(&fx.path("d/loop"));
    assert!(block.file_type().is_block_device());
    assert_eq!(
        (block.rdev(), block.mode() & 0o7777),
        (libc::makedev(7, 9), 0o660)
    );
    let fifo = lstat(&fx.path("d/fifo"));
    assert!(fifo.file_type().is_fifo());
    assert_eq!((fifo.mode() & 0o7777, fifo.mtime()), (0o604, MTIME as i64));
    let l = lstat(&fx.path("d/l"));
    assert!(l.is_symlink());
    assert_eq!((l.uid(), l.gid(), l.mtime()), (33, 34, 1_222_222_222));
    assert_eq!(
        fs::read_link(fx.path("d/l")).unwrap().to_str(),
        Some("/etc/passwd")
    );
}

#[test]
fn reads_pax_records_and_xattrs() {
    let fx = Fixture::new();
    // A v2 file capability with CAP_DAC_OVERRIDE|CAP_FOWNER: its second word is 0x0a, a
    // newline, which a reader splitting records at newlines gets wrong.
    let cap: &[u8] = &[
        1, 0, 0, 2, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let long = format!("{}/file", "deep".repeat(50));
    let tar = Tar::new()
        .pax(&[
            ("SCHILY.xattr.security.capability", cap),
            ("SCHILY.xattr.user.note", b"a\nb=c"),
            ("SCHILY.xattr.trusted.overlay.redirect", b"/elsewhere"),
            ("gid", b"3000001"),
            ("mtime", b"1700000000.5"),
            ("path", long.as_bytes()),
            ("uid", b"3000000"),
        ])
        .file_with("short-name", b"content", |h| h.set_uid(5))
        .finish();
    fx.unpack(&tar).unwrap();
    let p = fx.path(&long);
    let m = lstat(&p);
    assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_700_000_000, 500_000_000));
    assert_eq!(xattr(&p, "security.capability").as_deref(), Some(cap));
    assert_eq!(xattr(&p, "user.note").as_deref(), Some(&b"a\nb=c"[..]));
    assert_eq!(
        xattr(&p, "trusted.overlay.redirect"),
        None,
        "overlay xattrs are dropped"
    );
    assert!(!fx.path("short-name").exists());
}

#[test]
fn reads_gnu_long_names_and_links() {
    let fx = Fixture::new();
    let name = format!("{}/f", "n".repeat(150));
    let target = format!("/{}", "t".repeat(150));
    let tar = Tar::new()
        .file(&name, b"x")
        .symlink("long-link", &target)
        .hardlink("hard", &name)
        .finish();
    fx.unpack(&tar).unwrap();
    assert_eq!(fs::read(fx.path(&name)).unwrap(), b"x");
    assert_eq!(
        fs::read_link(fx.path("long-link")).unwrap().to_str(),
        Some(&*target)
    );
    assert_eq!(lstat(&fx.path("hard")).ino(), lstat(&fx.path(&name)).ino());
}

#[test]
fn makes_whiteouts_and_opaque_directories() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .file(".wh.top", b"")
        .dir("b")
        .file("b/.wh..wh..opq", b"")
        .file("b/kept", b"k")
        .dir(".wh..wh.plnk")
        .file(".wh..wh.plnk/1234.5678", b"aufs")
        .file(".wh..wh.aufs", b"")
        .finish();
    fx.unpack(&tar).unwrap();
    for wh in ["a/gone", "top"] {
        let m = lstat(&fx.path(wh));
        assert!(m.file_type().is_char_device(), "{wh}");
        assert_eq!(m.rdev(), 0, "{wh}");
    }
    assert_eq!(
        xattr(&fx.path("b"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(xattr(&fx.path("a"), "trusted.overlay.opaque"), None);
    for absent in [
        "a/.wh.gone",
        ".wh.top",
        "b/.wh..wh..opq",
        ".wh..wh.plnk",
        ".wh..wh.aufs",
    ] {
        assert!(fs::symlink_metadata(fx.path(absent)).is_err(), "{absent}");
    }
    assert_eq!(fs::read(fx.path("b/kept")).unwrap(), b"k");
}

#[test]
fn links_within_the_layer() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .file_with("a", b"shared", |h| h.set_mode(0o640))
        .hardlink("dir/b", "a")
        .hardlink("c", "./a")
        .hardlink("a", "a")
        .finish();
    fx.unpack(&tar).unwrap();
    let a = lstat(&fx.path("a"));
    assert_eq!(a.nlink(), 3);
    assert_eq!(lstat(&fx.path("dir/b")).ino(), a.ino());
    assert_eq!(lstat(&fx.path("c")).ino(), a.ino());
    assert_eq!(fs::read(fx.path("a")).unwrap(), b"shared");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let fx = Fixture::new();
    let tar = Tar::new()
        .file("x", b"one")
        .file("x", b"two")
        .dir("d")
        .file("d/f", b"f")
        .dir_with("d", |h| h.set_mode(0o700))
        .dir("e")
        .file("e/f", b"f")
        .file("e", b"now a file")
        .symlink("s", "x")
        .file("s", b"not through")
        .file("y", b"y")
        .dir("y")
        .hardlink("h", "x")
        .file("h", b"own content")
        .finish();
    fx.unpack(&tar).unwrap();
    assert_eq!(
        fs::read(fx.path("x")).unwrap(),
        b"two",
        "writing h must not change x"
    );
    assert_eq!(
        fs::read(fx.path("d/f")).unwrap(),
        b"f",
        "a directory keeps its content"
    );
    assert_eq!(lstat(&fx.path("d")).permissions().mode() & 0o7777, 0o700);
    assert_eq!(fs::read(fx.path("e")).unwrap(), b"now a file");
    assert_eq!(fs::read(fx.path("s")).unwrap(), b"not through");
    assert!(lstat(&fx.path("y")).is_dir());
    assert_eq!(fs::read(fx.path("h")).unwrap(), b"own content");
    assert_eq!(lstat(&fx.path("x")).nlink(), 1);
}

#[test]
fn creates_missing_parents() {
    let fx = Fixture::new();
    let tar = Tar::new().file("p/q/r", b"deep").finish();
    fx.unpack(&tar).unwrap();
    assert_eq!(fs::read(fx.path("p/q/r")).unwrap(), b"deep");
    for dir in ["p", "p/q"] {
        let m = lstat(&fx.path(dir));
        assert_eq!((m.mode() & 0o7777, m.uid()), (0o755, 0), "{dir}");
    }
}

#[test]
fn reads_empty_numeric_fields_as_zero() {
    let fx = Fixture::new();
    let mut h = tar::Header::new_gnu();
    h.set_path("bare").unwrap();
    h.set_size(1);
    h.set_cksum();
    let mut tar = Tar::new();
    tar.0.append(&h, &b"x"[..]).unwrap();
    fx.unpack(&tar.finish()).unwrap();
    let m = lstat(&fx.path("bare"));
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777, m.mtime()),
        (0, 0, 0, 0)
    );
}
