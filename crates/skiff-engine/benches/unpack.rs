//! Layer unpacking against GNU tar: `cargo bench -p skiff-engine --bench unpack` (as root).
//!
//! Builds once (cached under `target/unpack-bench/`) a gzip layer of about 200 MB uncompressed
//! from files of /usr/share, /usr/lib and /usr/bin — many small files and some large ones —
//! then alternates `tar -xzf LAYER -C DIR` and `skiff_engine::image::unpack::unpack` into
//! fresh directories, ITERATIONS times each (default 5), deleting them and syncing outside the
//! timing, and prints the medians and the ratio of our throughput to tar's.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrusage, UsageWho};
use skiff_engine::image::media::Compression;
use skiff_engine::image::unpack::{unpack, UnpackLimits};

/// Bytes of file content to take from each source tree.
const SOURCES: [(&str, u64); 3] = [
    ("/usr/share", 70 << 20),
    ("/usr/lib", 90 << 20),
    ("/usr/bin", 50 << 20),
];

fn main() -> io::Result<()> {
    let iterations: usize = std::env::var("ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let work = target_dir().join("unpack-bench");
    fs::create_dir_all(&work)?;
    let layer = work.join("layer.tar.gz");
    if !layer.exists() {
        build_layer(&layer)?;
    }
    let tar_bytes = uncompressed_size(&layer)?;
    println!(
        "layer: {} ({:.1} MB tar, {:.1} MB gzip)",
        layer.display(),
        mb(tar_bytes),
        mb(fs::metadata(&layer)?.len())
    );

    let mut tar_times = Vec::new();
    let mut our_times = Vec::new();
    let mut tar_cpu = Vec::new();
    let mut our_cpu = Vec::new();
    let mut entries = 0;
    for i in 0..iterations {
        // Alternate which goes first, so neither always runs on a cache the other warmed.
        for ours in [i % 2 == 0, i % 2 != 0] {
            let dir = work.join(if ours { "out-skiff" } else { "out-tar" });
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            fs::create_dir(&dir)?;
            // Write back what earlier runs left dirty, so no run pays for another's.
            nix::unistd::sync();
            let cpu_start = (cpu(UsageWho::RUSAGE_SELF), cpu(UsageWho::RUSAGE_CHILDREN));
            let start = Instant::now();
            if ours {
                let mut blob = File::open(&layer)?;
                let stats = unpack(&mut blob, Compression::Gzip, &dir, &UnpackLimits::default())
                    .map_err(io::Error::other)?;
                our_times.push(start.elapsed());
                our_cpu.push(cpu(UsageWho::RUSAGE_SELF) - cpu_start.0);
                entries = stats.entries;
                assert_eq!(stats.tar_bytes, tar_bytes);
            } else {
                let status = Command::new("tar")
                    .arg("-xzf")
                    .arg(&layer)
                    .arg("-C")
                    .arg(&dir)
                    .status()?;
                tar_times.push(start.elapsed());
                tar_cpu.push(cpu(UsageWho::RUSAGE_CHILDREN) - cpu_start.1);
                assert!(status.success(), "tar failed");
            }
            fs::remove_dir_all(&dir)?;
        }
    }
    let tar_median = median(&mut tar_times);
    let our_median = median(&mut our_times);
    let rate = |d: Duration| mb(tar_bytes) / d.as_secs_f64();
    println!("entries: {entries}, iterations: {iterations}");
    println!(
        "tar -xzf: median {:.3} s, {:.1} MB/s, CPU (user+sys, tar and gzip) median {:.3} s; runs {:?}",
        tar_median.as_secs_f64(),
        rate(tar_median),
        median(&mut tar_cpu).as_secs_f64(),
        secs(&tar_times)
    );
    println!(
        "unpack:   median {:.3} s, {:.1} MB/s, CPU (user+sys, both threads) median {:.3} s; runs {:?}",
        our_median.as_secs_f64(),
        rate(our_median),
        median(&mut our_cpu).as_secs_f64(),
        secs(&our_times)
    );
    println!(
        "throughput ratio unpack/tar: {:.2} (target >= 0.90)",
        tar_median.as_secs_f64() / our_median.as_secs_f64()
    );
    Ok(())
}

/// CPU time (user and system) of this process or of its waited-for children.
fn cpu(who: UsageWho) -> Duration {
    let usage = getrusage(who).expect("getrusage");
    let d =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    d(usage.user_time()) + d(usage.system_time())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn secs(times: &[Duration]) -> Vec<String> {
    times
        .iter()
        .map(|t| format!("{:.3}", t.as_secs_f64()))
        .collect()
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn uncompressed_size(layer: &Path) -> io::Result<u64> {
    let mut gz = flate2::read::MultiGzDecoder::new(io::BufReader::new(File::open(layer)?));
    io::copy(&mut gz, &mut io::sink())
}

/// Writes the layer: directories, symlinks and regular files of the sources, in sorted walk
/// order, until each source's byte budget is (nearly) spent.
fn build_layer(layer: &Path) -> io::Result<()> {
    println!("building {} (once)…", layer.display());
    let tmp = layer.with_extension("tmp");
    let gz = flate2::write::GzEncoder::new(
        BufWriter::new(File::create(&tmp)?),
        flate2::Compression::default(),
    );
    let mut builder = tar::Builder::new(gz);
    builder.follow_symlinks(false);
    for (root, budget) in SOURCES {
        let mut left = budget;
        add_tree(&mut builder, Path::new(root), &mut left)?;
    }
    builder.into_inner()?.finish()?;
    fs::rename(&tmp, layer)
}

fn add_tree<W: io::Write>(
    builder: &mut tar::Builder<W>,
    dir: &Path,
    left: &mut u64,
) -> io::Result<()> {
    let name = dir.strip_prefix("/").unwrap_or(dir);
    builder.append_dir(name, dir)?;
    let mut children: Vec<_> = fs::read_dir(dir)?.filter_map(Result::ok).collect();
    children.sort_by_key(|e| e.file_name());
    for child in children {
        if *left < 1 << 20 {
            return Ok(());
        }
        let path = child.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let name = path.strip_prefix("/").unwrap_or(&path);
        if meta.is_dir() {
            add_tree(builder, &path, left)?;
        } else if meta.is_symlink() {
            builder.append_path_with_name(&path, name)?;
        } else if meta.is_file() && meta.len() <= *left {
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            let mut header = tar::Header::new_gnu();
            header.set_metadata(&meta);
            let mut data = Vec::with_capacity(meta.len() as usize);
            file.read_to_end(&mut data)?;
            header.set_size(data.len() as u64);
            builder.append_data(&mut header, name, &data[..])?;
            *left -= data.len() as u64;
        }
    }
    Ok(())
}
