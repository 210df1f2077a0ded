//! A cache of compiled filters on disk, keyed by the sha256 of the seccomp section (and the
//! libseccomp version that compiled it). Compiling Docker's default profile takes about 15 ms
//! of libseccomp work per container; loading a cached program takes a file read. The cache
//! lives under the runtime's root, which only root can write.

use std::fs;
use std::io::Write;
use std::path::Path;

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use super::{compile, Filter, SeccompError};

/// Compiles `seccomp`, or loads the program compiled for the same section before from
/// `dir`. A cache that cannot be read or written is skipped: the filter is compiled.
pub fn compile_cached(seccomp: &LinuxSeccomp, dir: &Path) -> Result<Filter, SeccompError> {
    let Some(key) = key(seccomp) else {
        return compile(seccomp);
    };
    let path = dir.join(format!("{key}.bpf"));
    if let Ok(bytes) = fs::read(&path) {
        if let Some(filter) = decode(&bytes) {
            return Ok(filter);
        }
    }
    let filter = compile(seccomp)?;
    let _ = store(dir, &path, &filter);
    Ok(filter)
}

fn key(seccomp: &LinuxSeccomp) -> Option<String> {
    let json = serde_json::to_vec(seccomp).ok()?;
    let version = libseccomp::ScmpVersion::current().ok()?;
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{}.{}.{}\0",
        version.major, version.minor, version.micro
    ));
    hasher.update(&json);
    Some(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// File format: 8 bytes of flags (little endian), then the program.
fn decode(bytes: &[u8]) -> Option<Filter> {
    let (flags, program) = bytes.split_at_checked(8)?;
    let flags = u64::from_le_bytes(flags.try_into().ok()?);
    Filter::from_bytes(program, flags as libc::c_ulong).ok()
}

fn store(dir: &Path, path: &Path, filter: &Filter) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let (program, flags) = filter.to_bytes();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::File::create(&tmp)?;
    #[allow(clippy::unnecessary_cast)] // c_ulong is u32 on 32-bit targets
    let flags = flags as u64;
    f.write_all(&flags.to_le_bytes())?;
    f.write_all(&program)?;
    drop(f);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_program_equals_compiled_one() {
        let dir = tempfile::tempdir().unwrap();
        let profile = super::super::docker_default(&[]);
        let first = compile_cached(&profile, dir.path()).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let second = compile_cached(&profile, dir.path()).unwrap();
        assert_eq!(first.to_bytes(), second.to_bytes());
        assert_eq!(first.to_bytes(), compile(&profile).unwrap().to_bytes());
    }

    #[test]
    fn corrupt_cache_entries_are_recompiled() {
        let dir = tempfile::tempdir().unwrap();
        let profile = super::super::docker_default(&[]);
        compile_cached(&profile, dir.path()).unwrap();
        let entry = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        fs::write(&entry, b"garbage").unwrap();
        let filter = compile_cached(&profile, dir.path()).unwrap();
        assert_eq!(filter.to_bytes(), compile(&profile).unwrap().to_bytes());
    }
}
