//! Reading manifests from the local disk for `skiff-manifest`, which does no I/O of its own.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use skiff_manifest::{LoadError, Loader};

/// A [`Loader`] over the local file system that refuses files larger than the manifest limit
/// before reading them, so that a mistaken `-f` on a disk image does not fill memory.
#[derive(Debug, Clone, Copy)]
pub struct FsLoader {
    max_bytes: u64,
}

impl FsLoader {
    /// A loader that refuses files of more than `max_bytes` (use `Limits::max_bytes`).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes: u64::try_from(max_bytes).unwrap_or(u64::MAX),
        }
    }

    fn too_big(&self, len: u64) -> LoadError {
        // The same words as skiff-manifest's own check, so the limit reads the same either way.
        LoadError::Io(format!(
            "the file is {len} bytes; Skiff reads manifests of at most {} bytes",
            self.max_bytes
        ))
    }
}

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> Result<String, LoadError> {
        let file = File::open(path).map_err(io_error)?;
        let meta = file.metadata().map_err(io_error)?;
        if meta.is_dir() {
            return Err(LoadError::Io("is a directory, not a file".to_owned()));
        }
        if meta.is_file() && meta.len() > self.max_bytes {
            return Err(self.too_big(meta.len()));
        }
        // Pipes and devices (`-f /dev/stdin`) have no length up front: read one byte past the
        // limit to notice one that is too long without reading it all.
        let mut bytes = Vec::new();
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(io_error)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(self.too_big(bytes.len() as u64));
        }
        String::from_utf8(bytes).map_err(|e| {
            LoadError::Io(format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        })
    }
}

/// NotFound is its own variant because a missing `.env` is not an error, unlike other failures.
fn io_error(e: io::Error) -> LoadError {
    match e.kind() {
        io::ErrorKind::NotFound => LoadError::NotFound,
        _ => LoadError::Io(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_a_file_within_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "compose.yaml", b"services: {}\n");
        assert_eq!(FsLoader::new(13).read(&path).unwrap(), "services: {}\n");
    }

    #[test]
    fn a_missing_file_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let err = FsLoader::new(100).read(&dir.path().join("nope.yaml"));
        assert_eq!(err, Err(LoadError::NotFound));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_by_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "big.yaml", &[b'#'; 14]);
        let Err(LoadError::Io(message)) = FsLoader::new(13).read(&path) else {
            panic!("a 14-byte file passed a 13-byte limit");
        };
        assert_eq!(
            message,
            "the file is 14 bytes; Skiff reads manifests of at most 13 bytes"
        );
    }

    #[test]
    fn an_endless_device_is_cut_off_at_the_limit() {
        let err = FsLoader::new(4096).read(Path::new("/dev/zero"));
        assert!(matches!(err, Err(LoadError::Io(m)) if m.contains("at most 4096 bytes")));
    }

    #[test]
    fn directories_and_binary_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            FsLoader::new(100).read(dir.path()),
            Err(LoadError::Io(m)) if m.contains("directory")
        ));
        let path = write(dir.path(), "bin.yaml", b"ab\xff\xfe");
        assert!(matches!(
            FsLoader::new(100).read(&path),
            Err(LoadError::Io(m)) if m.contains("offset 2")
        ));
    }
}
