//! Compression, the diff id, limits, and broken streams.

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::{Duration, Instant};

use tar::EntryType;

use super::{gzip, zstd, Fixture, Tar};
use crate::digest::Digest;
use crate::image::media::Compression;
use crate::image::unpack::{UnpackError, UnpackLimits};

/// A small layer with a file larger than one chunk of the stream.
fn sample() -> Vec<u8> {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    Tar::new()
        .dir("etc")
        .file("etc/hostname", b"skiff\n")
        .file("big", &big)
        .symlink("link", "etc/hostname")
        .finish()
}

#[test]
fn unpacks_plain_gzip_and_zstd_alike() {
    let tar = sample();
    for (compression, blob) in [
        (Compression::None, tar.clone()),
        (Compression::Gzip, gzip(&tar)),
        (Compression::Zstd, zstd(&tar)),
    ] {
        let fx = Fixture::new();
        let stats = fx
            .unpack_with(&blob, compression, &UnpackLimits::default())
            .unwrap();
        assert_eq!(stats.diff_id, Digest::of(&tar), "{compression:?}");
        assert_eq!(stats.tar_bytes, tar.len() as u64);
        assert_eq!(stats.entries, 4);
        assert_eq!(fs::read(fx.path("etc/hostname")).unwrap(), b"skiff\n");
        assert_eq!(fs::read(fx.path("big")).unwrap().len(), 3_000_000);
        assert_eq!(fs::read(fx.path("big")).unwrap()[1000], (7000 % 251) as u8);
    }
}

#[test]
fn diff_id_covers_the_padding_after_the_archive() {
    let mut tar = sample();
    // GNU tar pads archives to 10 KiB records.
    tar.resize(tar.len().div_ceil(10240) * 10240, 0);
    let fx = Fixture::new();
    let stats = fx.unpack(&tar).unwrap();
    assert_eq!(stats.diff_id, Digest::of(&tar));
    assert_eq!(stats.tar_bytes, tar.len() as u64);
}

#[test]
fn unpacks_what_gnu_tar_writes() {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir_all(src.path().join("usr/bin")).unwrap();
    fs::write(src.path().join("usr/bin/tool"), b"#!/bin/sh\necho hi\n").unwrap();
    std::os::unix::fs::symlink("tool", src.path().join("usr/bin/alias")).unwrap();
    fs::hard_link(
        src.path().join("usr/bin/tool"),
        src.path().join("usr/bin/again"),
    )
    .unwrap();
    let out = Command::new("tar")
        .args(["-c", "--xattrs", "-f", "-", "-C"])
        .arg(src.path())
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success());
    let tar = out.stdout;
    let fx = Fixture::new();
    let stats = fx.unpack_with(&gzip(&tar), Compression::Gzip, &UnpackLimits::default());
    let stats = stats.unwrap();
    assert_eq!(stats.diff_id, Digest::of(&tar));
    assert_eq!(
        fs::read(fx.path("usr/bin/again")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(
        fs::symlink_metadata(fx.path("usr/bin/again"))
            .unwrap()
            .ino(),
        fs::symlink_metadata(fx.path("usr/bin/tool")).unwrap().ino()
    );
    assert_eq!(
        fs::read_link(fx.path("usr/bin/alias")).unwrap().to_str(),
        Some("tool")
    );
}

/// A gzip stream of a tar holding one 1 GiB file of zeros, about 1 MB: gzip members of 1 MiB
/// of zeros, one after the other (gzip readers read concatenated members as one stream).
fn gzip_bomb() -> Vec<u8> {
    const GIB: u64 = 1 << 30;
    let mut header = super::header(EntryType::Regular, 0o644, GIB);
    header.set_path("zeros").unwrap();
    header.set_cksum();
    let mut bomb = gzip(header.as_bytes());
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0; 1 << 20]).unwrap();
    let member = member.finish().unwrap();
    for _ in 0..(GIB >> 20) {
        bomb.extend_from_slice(&member);
    }
    bomb.extend_from_slice(&gzip(&[0; 1024]));
    bomb
}

#[test]
fn stops_a_decompression_bomb_early() {
    let bomb = gzip_bomb();
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let fx = Fixture::new();
    let limits = UnpackLimits {
        max_uncompressed: 16 << 20,
        ..UnpackLimits::default()
    };
    let start = Instant::now();
    let err = fx
        .unpack_with(&bomb, Compression::Gzip, &limits)
        .unwrap_err();
    assert!(
        matches!(err, UnpackError::TooLarge { limit } if limit == 16 << 20),
        "{err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let written = fs::metadata(fx.path("zeros")).map_or(0, |m| m.len());
    assert!(written <= 16 << 20, "{written}");
}

#[test]
fn the_size_limit_is_inclusive() {
    let tar = sample();
    let fx = Fixture::new();
    let exact = UnpackLimits {
        max_uncompressed: tar.len() as u64,
        ..UnpackLimits::default()
    };
    fx.unpack_with(&tar, Compression::None, &exact).unwrap();
    let fx = Fixture::new();
    let under = UnpackLimits {
        max_uncompressed: tar.len() as u64 - 1,
        ..UnpackLimits::default()
    };
    let err = fx.unpack_with(&tar, Compression::None, &under).unwrap_err();
    assert!(matches!(err, UnpackError::TooLarge { .. }), "{err:?}");
}

#[test]
fn limits_the_number_of_entries() {
    let mut tar = Tar::new();
    for i in 0..10 {
        tar.file(&format!("f{i}"), b"");
    }
    let tar = tar.finish();
    let limits = |max_entries| UnpackLimits {
        max_entries,
        ..UnpackLimits::default()
    };
    let err = Fixture::new()
        .unpack_with(&tar, Compression::None, &limits(5))
        .unwrap_err();
    assert!(
        matches!(err, UnpackError::TooManyEntries { limit: 5 }),
        "{err:?}"
    );
    let stats = Fixture::new()
        .unpack_with(&tar, Compression::None, &limits(10))
        .unwrap();
    assert_eq!(stats.entries, 10);
}

#[test]
fn limits_extension_headers() {
    let huge = vec![b'x'; 2 << 20];
    let tar = Tar::new()
        .pax(&[("SCHILY.xattr.user.huge", &huge)])
        .file("f", b"")
        .finish();
    let err = Fixture::new().unpack(&tar).unwrap_err();
    assert!(
        matches!(err, UnpackError::HeadersTooLarge { offset: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn refuses_truncated_streams() {
    let tar = sample();
    // Offsets: inside the big file's data, just after its data, at the start of the end
    // marker, and nothing at all.
    let big_data = 512 * 4;
    let end_marker = tar.len() - 1024;
    for cut in [big_data + 1000, big_data + 3_000_000, end_marker, 0, 100] {
        let err = Fixture::new().unpack(&tar[..cut]).unwrap_err();
        assert!(
            matches!(
                err,
                UnpackError::Truncated { .. }
                    | UnpackError::TruncatedEntry { .. }
                    | UnpackError::Malformed { .. }
            ),
            "cut at {cut}: {err:?}"
        );
    }
    let err = Fixture::new().unpack(&tar[..big_data + 1000]).unwrap_err();
    assert!(
        matches!(&err, UnpackError::TruncatedEntry { entry, expected: 3_000_000, got: 1000 } if entry == "big"),
        "{err:?}"
    );
    for (compression, blob) in [
        (Compression::Gzip, gzip(&tar)),
        (Compression::Zstd, zstd(&tar)),
    ] {
        for cut in [blob.len() / 2, blob.len() - 4] {
            let err = Fixture::new()
                .unpack_with(&blob[..cut], compression, &UnpackLimits::default())
                .unwrap_err();
            assert!(
                matches!(err, UnpackError::Read { .. }),
                "{compression:?} cut at {cut}: {err:?}"
            );
        }
    }
}

#[test]
fn refuses_corrupt_streams() {
    let tar = sample();
    let mut bad_header = tar.clone();
    bad_header[512 + 10] ^= 0x20; // a name byte of the second header: checksum mismatch
    let err = Fixture::new().unpack(&bad_header).unwrap_err();
    assert!(
        matches!(err, UnpackError::Malformed { offset, .. } if offset >= 1024),
        "{err:?}"
    );

    let garbage: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 256) as u8).collect();
    assert!(matches!(
        Fixture::new().unpack(&garbage).unwrap_err(),
        UnpackError::Malformed { .. }
    ));
    let err = Fixture::new()
        .unpack_with(&garbage, Compression::Gzip, &UnpackLimits::default())
        .unwrap_err();
    assert!(matches!(err, UnpackError::Read { .. }), "{err:?}");

    let mut bad_gzip = gzip(&tar);
    let mid = bad_gzip.len() / 2;
    bad_gzip[mid] ^= 0xff;
    bad_gzip[mid + 1] ^= 0xff;
    let err = Fixture::new()
        .unpack_with(&bad_gzip, Compression::Gzip, &UnpackLimits::default())
        .unwrap_err();
    assert!(
        matches!(
            err,
            UnpackError::Read { .. } | UnpackError::Malformed { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn refuses_unknown_entry_types() {
    let tar = Tar::new()
        .raw(EntryType::new(b'V'), b"volume", b"", b"")
        .finish();
    let err = Fixture::new().unpack(&tar).unwrap_err();
    assert!(
        matches!(&err, UnpackError::UnsupportedType { entry, kind: 'V' } if entry == "volume"),
        "{err:?}"
    );
}

#[test]
fn reports_a_missing_destination() {
    let fx = Fixture::new();
    let tar = sample();
    let err = super::super::unpack(
        &mut &tar[..],
        Compression::None,
        &fx.dest.join("missing"),
        &UnpackLimits::default(),
    )
    .unwrap_err();
    assert!(matches!(err, UnpackError::Io { .. }), "{err:?}");
}
