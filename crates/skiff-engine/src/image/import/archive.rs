//! Reading an archive (tar, tar+gzip or tar+zstd) in one pass: each entry that may be a blob
//! goes into the content store as it is read, the metadata stays in memory, links are
//! recorded as names of other entries. Nothing is extracted to disk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::source::{digest_in_name, store, Source, Stored, Tap};
use super::{ImportError, MAX_METADATA};
use crate::content::{ContentError, ContentStore};
use crate::image::media::{sniff_compression, Compression};

/// Most entries an archive may have.
pub(super) const MAX_ENTRIES: usize = 200_000;

/// Most links followed from one name to the entry it finally names.
const MAX_LINK_HOPS: usize = 16;

/// An archive read in full: its stored entries by name.
#[derive(Debug)]
pub(super) struct ArchiveSource {
    path: PathBuf,
    files: BTreeMap<String, Stored>,
    links: BTreeMap<String, String>,
    metadata: BTreeMap<String, Vec<u8>>,
}

/// What an entry is, by its (normalised) name.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// `index.json`, `manifest.json`, `oci-layout`: kept in memory.
    Metadata,
    /// A blob or a `docker save` layer or config: into the content store.
    Blob,
    /// Anything else (`repositories`, the legacy `<id>/json` and `<id>/VERSION`): skipped.
    Skip,
}

fn kind(name: &str) -> Kind {
    match name {
        "index.json" | "manifest.json" | "oci-layout" => Kind::Metadata,
        _ if name.starts_with("blobs/sha256/") => Kind::Blob,
        _ if name.ends_with(".tar") || name.ends_with(".json") => Kind::Blob,
        _ => Kind::Skip,
    }
}

/// An entry name made relative and clean (`./a//b/` is `a/b`); `Err` with the reason when it
/// is absolute or has a `..` component. The empty name is the archive's root.
pub(super) fn clean_name(raw: &[u8]) -> Result<String, &'static str> {
    let text = std::str::from_utf8(raw).map_err(|_| "the name is not UTF-8")?;
    if text.starts_with('/') {
        return Err("absolute names are not allowed");
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("names with '..' could write outside the archive's directory"),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// The entry a link names, relative to the archive's root: a hard link's target is already
/// relative to the root, a symbolic link's is relative to the link's directory. `Err` when it
/// leads outside the archive.
pub(super) fn link_target(
    entry: &str,
    target: &[u8],
    symbolic: bool,
) -> Result<String, &'static str> {
    let text = std::str::from_utf8(target).map_err(|_| "the link target is not UTF-8")?;
    if text.starts_with('/') {
        return Err("links to absolute paths are not followed");
    }
    let mut parts: Vec<&str> = Vec::new();
    if symbolic {
        parts.extend(entry.split('/'));
        parts.pop();
    }
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("the link leads outside the archive");
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

impl ArchiveSource {
    /// Reads the archive at `path`, storing its blobs into `content`.
    pub fn read(content: &ContentStore, path: &Path) -> Result<ArchiveSource, ImportError> {
        let io_err = |source| ImportError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut buffered = BufReader::with_capacity(1 << 20, File::open(path).map_err(io_err)?);
        let compression = sniff_compression(buffered.fill_buf().map_err(io_err)?);
        let reader: Box<dyn Read> = match compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(zstd::Decoder::with_buffer(buffered).map_err(io_err)?),
        };
        let mut source = ArchiveSource {
            path: path.to_path_buf(),
            files: BTreeMap::new(),
            links: BTreeMap::new(),
            metadata: BTreeMap::new(),
        };
        source.read_entries(content, reader)?;
        Ok(source)
    }

    fn read_entries(
        &mut self,
        content: &ContentStore,
        reader: Box<dyn Read>,
    ) -> Result<(), ImportError> {
        let mut tar = tar::Archive::new(reader);
        let mut last: Option<String> = None;
        let entries = tar
            .entries()
            .map_err(|source| self.read_err("the archive", source))?;
        for (count, entry) in entries.enumerate() {
            if count >= MAX_ENTRIES {
                return Err(ImportError::TooManyEntries {
                    archive: self.path.clone(),
                    limit: MAX_ENTRIES,
                });
            }
            let entry = entry.map_err(|source| {
                let at = match &last {
                    Some(name) => format!("the entry after {}", escape_controls(name)),
                    None => "the first entry".to_string(),
                };
                self.read_err(&at, source)
            });
            let mut entry = entry?;
            let raw = entry.path_bytes().into_owned();
            let name = clean_name(&raw).map_err(|reason| self.unsafe_entry(&raw, reason))?;
            last = Some(name.clone());
            self.read_entry(content, &mut entry, &raw, name)?;
        }
        Ok(())
    }

    fn read_entry(
        &mut self,
        content: &ContentStore,
        entry: &mut tar::Entry<'_, Box<dyn Read>>,
        raw: &[u8],
        name: String,
    ) -> Result<(), ImportError> {
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Directory | T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => {
                Ok(())
            }
            T::Symlink | T::Link => {
                let symbolic = entry.header().entry_type() == T::Symlink;
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                let target = link_target(&name, &target, symbolic)
                    .map_err(|reason| self.unsafe_entry(raw, reason))?;
                self.links.insert(name, target);
                Ok(())
            }
            T::Regular | T::Continuous => match kind(&name) {
                Kind::Metadata => self.keep_metadata(entry, name),
                Kind::Blob => self.store_blob(content, entry, name),
                Kind::Skip => Ok(()),
            },
            _ => Err(self.unsafe_entry(raw, "only files, directories and links are accepted")),
        }
    }

    fn keep_metadata(&mut self, entry: &mut dyn Read, name: String) -> Result<(), ImportError> {
        let mut bytes = Vec::new();
        entry
            .take(MAX_METADATA + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| self.read_err(&name, source))?;
        if bytes.len() as u64 > MAX_METADATA {
            return Err(ImportError::TooLarge {
                archive: self.path.clone(),
                entry: name,
                limit: MAX_METADATA,
            });
        }
        if self.metadata.contains_key(&name) {
            return Err(ImportError::DuplicateEntry {
                archive: self.path.clone(),
                entry: name,
            });
        }
        self.metadata.insert(name, bytes);
        Ok(())
    }

    fn store_blob(
        &mut self,
        content: &ContentStore,
        entry: &mut tar::Entry<'_, Box<dyn Read>>,
        name: String,
    ) -> Result<(), ImportError> {
        let expected = digest_in_name(&name).map_err(|()| ImportError::BadBlobName {
            archive: self.path.clone(),
            entry: name.clone(),
        })?;
        let size = entry.size();
        let mut tap = Tap::new(entry);
        let stored = store(content, expected.as_ref(), size, &mut tap);
        let stored = match (stored, tap.failed) {
            (Ok(stored), _) => stored,
            (Err(_), Some(source)) => return Err(self.read_err(&name, source)),
            (Err(ContentError::SizeMismatch { actual, .. }), None) if actual < size => {
                return Err(ImportError::Truncated {
                    archive: self.path.clone(),
                    entry: name,
                })
            }
            (Err(source), None) => {
                return Err(ImportError::Blob {
                    archive: self.path.clone(),
                    entry: name,
                    source,
                })
            }
        };
        self.files.insert(name, stored);
        Ok(())
    }

    fn read_err(&self, entry: &str, source: io::Error) -> ImportError {
        // The tar parser quotes the bytes it could not read: they come from the archive and
        // must not drive the terminal the message is shown on.
        let text = source.to_string();
        let source = if text.chars().any(char::is_control) {
            io::Error::new(source.kind(), escape_controls(&text))
        } else {
            source
        };
        ImportError::Read {
            archive: self.path.clone(),
            entry: entry.to_string(),
            source,
        }
    }

    fn unsafe_entry(&self, raw: &[u8], reason: &'static str) -> ImportError {
        ImportError::UnsafeEntry {
            archive: self.path.clone(),
            entry: String::from_utf8_lossy(raw).chars().take(300).collect(),
            reason,
        }
    }
}

/// `text` with its control characters escaped (`\u{1b}`, `\n`).
fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Source for ArchiveSource {
    fn origin(&self) -> &Path {
        &self.path
    }

    fn metadata(&mut self, name: &str) -> Result<Option<Vec<u8>>, ImportError> {
        Ok(self.metadata.get(name).cloned())
    }

    fn file(&mut self, name: &str, referrer: &str) -> Result<Stored, ImportError> {
        let missing = || ImportError::Missing {
            archive: self.path.clone(),
            referrer: referrer.to_string(),
            entry: name.to_string(),
        };
        let mut current = clean_name(name.as_bytes()).map_err(|_| missing())?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(stored) = self.files.get(&current) {
                return Ok(stored.clone());
            }
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => return Err(missing()),
            }
        }
        Err(missing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned_or_refused() {
        assert_eq!(clean_name(b"./a//b/").unwrap(), "a/b");
        assert_eq!(clean_name(b"./").unwrap(), "");
        assert_eq!(clean_name(b"blobs/sha256/ab").unwrap(), "blobs/sha256/ab");
        assert!(clean_name(b"../x").is_err());
        assert!(clean_name(b"a/../../x").is_err());
        assert!(clean_name(b"/etc/passwd").is_err());
        assert!(clean_name(b"a\xff").is_err());
    }

    #[test]
    fn links_resolve_inside_the_archive_only() {
        assert_eq!(
            link_target("a/layer.tar", b"../b/layer.tar", true).unwrap(),
            "b/layer.tar"
        );
        assert_eq!(
            link_target("a/layer.tar", b"b/layer.tar", false).unwrap(),
            "b/layer.tar"
        );
        assert!(link_target("a/layer.tar", b"../../etc/passwd", true).is_err());
        assert!(link_target("layer.tar", b"/etc/passwd", true).is_err());
        assert!(link_target("x", b"../y", false).is_err());
    }

    #[test]
    fn entry_kinds() {
        assert_eq!(kind("manifest.json"), Kind::Metadata);
        assert_eq!(kind("blobs/sha256/abc"), Kind::Blob);
        assert_eq!(kind("0123/layer.tar"), Kind::Blob);
        assert_eq!(kind("0123.json"), Kind::Blob);
        assert_eq!(kind("0123/json"), Kind::Skip);
        assert_eq!(kind("0123/VERSION"), Kind::Skip);
        assert_eq!(kind("repositories"), Kind::Skip);
    }
}
