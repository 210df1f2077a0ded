//! The writing side: the tar stream's entries, one by one, into the layer directory.

use std::rc::Rc;

use nix::sys::stat::SFlag;
use tar::EntryType;

use super::headers::{self, round_up, Headers, BLOCK};
use super::name::{display, Name, NameProblem, Special};
use super::stream::{ChunkReader, ReadState};
use super::tree::Tree;
use super::UnpackError;

/// Most bytes of extension headers (long names, PAX records) one entry may have: names are at
/// most 4 KiB and an inode's xattrs at most 64 KiB, so more is an attack on memory.
pub(super) const HEADERS_MAX: u64 = 1 << 20;

/// Size of the buffer file data is copied through.
const COPY_BUF: usize = 1 << 20;

/// Unpacks every entry `reader` gives into `tree`, then reads the stream to its end. Returns
/// the number of entries.
pub(super) fn unpack_entries(
    reader: ChunkReader,
    state: Rc<ReadState>,
    mut tree: Tree,
    max_entries: u64,
) -> Result<u64, UnpackError> {
    let mut archive = tar::Archive::new(reader);
    let mut entries = archive
        .entries()
        .map_err(|source| UnpackError::Malformed { offset: 0, source })?;
    let mut buf = vec![0u8; COPY_BUF];
    let mut count = 0;
    // Where the next header starts: the parser reads from here to the next entry's header.
    let mut next = 0u64;
    loop {
        state.headers_start(next, HEADERS_MAX);
        let item = entries.next();
        let raw = state.headers_end();
        let mut entry = match item {
            None => break,
            Some(Ok(entry)) => entry,
            Some(Err(_)) if state.hit_limit() => {
                return Err(UnpackError::HeadersTooLarge {
                    offset: next,
                    limit: HEADERS_MAX,
                })
            }
            Some(Err(source)) => {
                return Err(UnpackError::Malformed {
                    offset: state.consumed(),
                    source,
                })
            }
        };
        let headers = headers::read(&raw, next, entry.raw_header_position())?;
        drop(raw);
        count += 1;
        if count > max_entries {
            return Err(UnpackError::TooManyEntries { limit: max_entries });
        }
        next = entry
            .raw_file_position()
            .saturating_add(round_up(entry.size()));
        unpack_entry(&mut tree, &mut entry, &headers, &mut buf)?;
    }
    // The parser stops at a zero block or at the end of the stream; only the first is the
    // end of an archive.
    if state.consumed() < next + BLOCK {
        return Err(UnpackError::Truncated {
            offset: state.consumed(),
        });
    }
    tree.finish()?;
    archive.into_inner().drain();
    Ok(count)
}

/// One entry.
fn unpack_entry(
    tree: &mut Tree,
    entry: &mut tar::Entry<'_, ChunkReader>,
    h: &Headers,
    buf: &mut [u8],
) -> Result<(), UnpackError> {
    let kind = h.header.entry_type();
    if kind.is_pax_global_extensions() {
        // Global PAX records (a comment, usually): Docker and containerd ignore them too.
        return Ok(());
    }
    let name = Name::parse(&h.path).map_err(|problem| UnpackError::UnsafeName {
        entry: display(&h.path),
        problem,
    })?;
    if h.pax_size.is_some_and(|size| size != entry.size()) {
        return Err(UnpackError::BadHeader {
            offset: entry.raw_header_position(),
            reason: "its PAX size record and its framing disagree",
        });
    }
    if h.pax_sparse {
        return Err(UnpackError::UnsupportedSparse {
            entry: name.display(),
        });
    }
    match name.special() {
        Special::None => {}
        Special::AufsMeta => return Ok(()),
        Special::Opaque => return tree.opaque(&name),
        Special::Whiteout { target } => return tree.whiteout(&name, target, h),
        Special::BadWhiteout => {
            return Err(UnpackError::BadWhiteout {
                entry: name.display(),
            })
        }
    }
    if name.is_root() && kind != EntryType::Directory {
        return Err(UnpackError::UnsafeName {
            entry: display(&h.path),
            problem: NameProblem::Empty,
        });
    }
    match kind {
        EntryType::Regular | EntryType::Continuous => {
            let size = entry.size();
            tree.file(&name, h, entry, size, buf)
        }
        EntryType::GNUSparse => {
            let size = h
                .header
                .as_gnu()
                .and_then(|gnu| gnu.real_size().ok())
                .ok_or(UnpackError::BadHeader {
                    offset: entry.raw_header_position(),
                    reason: "unreadable sparse file size",
                })?;
            tree.file(&name, h, entry, size, buf)
        }
        EntryType::Directory => tree.dir(&name, h),
        EntryType::Symlink => tree.symlink(&name, h),
        EntryType::Link => {
            let target = Name::parse(&h.link)
                .and_then(|t| {
                    if t.is_root() {
                        Err(NameProblem::Empty)
                    } else {
                        Ok(t)
                    }
                })
                .map_err(|problem| UnpackError::UnsafeLinkTarget {
                    entry: name.display(),
                    target: display(&h.link),
                    problem,
                })?;
            tree.hard_link(&name, &target)
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let field = |value: std::io::Result<Option<u32>>| {
                value
                    .map(Option::unwrap_or_default)
                    .map_err(|_| UnpackError::BadHeader {
                        offset: entry.raw_header_position(),
                        reason: "unreadable device number",
                    })
            };
            let major = field(h.header.device_major())?;
            let minor = field(h.header.device_minor())?;
            let (kind, dev) = match kind {
                EntryType::Char => (SFlag::S_IFCHR, libc::makedev(major, minor)),
                EntryType::Block => (SFlag::S_IFBLK, libc::makedev(major, minor)),
                _ => (SFlag::S_IFIFO, 0),
            };
            tree.node(&name, h, kind, dev)
        }
        other => Err(UnpackError::UnsupportedType {
            entry: name.display(),
            kind: char::from(other.as_byte()),
        }),
    }
}
