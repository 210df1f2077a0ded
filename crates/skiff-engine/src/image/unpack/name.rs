//! Entry names: checked to stay inside the layer, split into parent and last component, and
//! sorted into ordinary names, whiteouts and AUFS leftovers.

use std::fmt;

/// Why a name (an entry's or a hard link's target) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// It starts with `/`.
    Absolute,
    /// It has a `..` component.
    ParentDir,
    /// It names the layer's root where a file is needed.
    Empty,
    /// It contains a NUL byte (no system call can take it).
    Nul,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameProblem::Absolute => "is absolute",
            NameProblem::ParentDir => "has a `..` component",
            NameProblem::Empty => "names the layer's root",
            NameProblem::Nul => "contains a NUL byte",
        })
    }
}

/// A name relative to the layer root with no empty, `.` or `..` components, stored as its
/// components joined by `/` (empty for the root itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name {
    bytes: Vec<u8>,
    /// Where the last component starts.
    last: usize,
}

impl Name {
    /// Checks and normalises a name from the archive: `./a//b/` becomes `a/b`.
    pub(super) fn parse(raw: &[u8]) -> Result<Name, NameProblem> {
        if raw.contains(&0) {
            return Err(NameProblem::Nul);
        }
        if raw.starts_with(b"/") {
            return Err(NameProblem::Absolute);
        }
        let mut bytes = Vec::with_capacity(raw.len());
        let mut last = 0;
        for component in raw.split(|&b| b == b'/') {
            match component {
                b"" | b"." => continue,
                b".." => return Err(NameProblem::ParentDir),
                _ => {}
            }
            if !bytes.is_empty() {
                bytes.push(b'/');
            }
            last = bytes.len();
            bytes.extend_from_slice(component);
        }
        Ok(Name { bytes, last })
    }

    /// Whether this is the layer's root (`.` or `./`).
    pub(super) fn is_root(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The whole name.
    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The directory holding the entry (empty for the root's children).
    pub(super) fn parent(&self) -> &[u8] {
        &self.bytes[..self.last.saturating_sub(1)]
    }

    /// The last component (empty for the root).
    pub(super) fn file_name(&self) -> &[u8] {
        &self.bytes[self.last..]
    }

    /// The name for messages.
    pub(super) fn display(&self) -> String {
        display(&self.bytes)
    }
}

/// A name from the archive as messages show it: lossy UTF-8 with control characters escaped
/// (names come from the archive, and must not drive a terminal), cut to a readable length.
pub(super) fn display(raw: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len().min(MAX));
    for (i, c) in text.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// What an entry means to overlayfs, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Special<'a> {
    /// An ordinary entry.
    None,
    /// `DIR/.wh.NAME`: NAME is deleted from the layers below.
    Whiteout {
        /// NAME.
        target: &'a [u8],
    },
    /// `DIR/.wh..wh..opq`: DIR hides the content of the layers below.
    Opaque,
    /// AUFS metadata (`.wh..wh.plnk`, `.wh..wh.aufs`, …), which has no meaning in overlayfs.
    AufsMeta,
    /// `.wh.`, `.wh..` or `.wh...`: a whiteout naming nothing or escaping its directory.
    BadWhiteout,
}

const WHITEOUT: &[u8] = b".wh.";
const META: &[u8] = b".wh..wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

impl Name {
    /// What the entry means to overlayfs.
    pub(super) fn special(&self) -> Special<'_> {
        let file_name = self.file_name();
        if file_name == OPAQUE {
            return Special::Opaque;
        }
        if self
            .bytes
            .split(|&b| b == b'/')
            .any(|c| c.starts_with(META))
        {
            return Special::AufsMeta;
        }
        match file_name.strip_prefix(WHITEOUT) {
            None => Special::None,
            Some(b"" | b"." | b"..") => Special::BadWhiteout,
            Some(target) => Special::Whiteout { target },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> (String, String, String) {
        let n = Name::parse(raw.as_bytes()).unwrap();
        let s = |b: &[u8]| String::from_utf8(b.to_vec()).unwrap();
        (s(n.as_bytes()), s(n.parent()), s(n.file_name()))
    }

    #[test]
    fn normalises_names() {
        assert_eq!(
            parsed("./usr//bin/ls"),
            ("usr/bin/ls".into(), "usr/bin".into(), "ls".into())
        );
        assert_eq!(parsed("etc/"), ("etc".into(), "".into(), "etc".into()));
        assert_eq!(parsed("a/./b"), ("a/b".into(), "a".into(), "b".into()));
        assert!(Name::parse(b"./").unwrap().is_root());
        assert!(Name::parse(b"").unwrap().is_root());
        assert_eq!(
            parsed("..foo/..bar"),
            ("..foo/..bar".into(), "..foo".into(), "..bar".into())
        );
    }

    #[test]
    fn refuses_escaping_names() {
        assert_eq!(Name::parse(b"/etc/passwd"), Err(NameProblem::Absolute));
        assert_eq!(Name::parse(b"../x"), Err(NameProblem::ParentDir));
        assert_eq!(Name::parse(b"a/../../x"), Err(NameProblem::ParentDir));
        assert_eq!(Name::parse(b"a/.."), Err(NameProblem::ParentDir));
        assert_eq!(Name::parse(b"a\0b"), Err(NameProblem::Nul));
    }

    #[test]
    fn sorts_whiteouts() {
        let special = |raw: &str| {
            let name = Name::parse(raw.as_bytes()).unwrap();
            match name.special() {
                Special::Whiteout { target } => format!("whiteout {}", display(target)),
                other => format!("{other:?}"),
            }
        };
        assert_eq!(special("a/b"), "None");
        assert_eq!(special("a/.wh.b"), "whiteout b");
        assert_eq!(special(".wh.b"), "whiteout b");
        assert_eq!(special("a/.wh..wh..opq"), "Opaque");
        assert_eq!(special(".wh..wh.plnk"), "AufsMeta");
        assert_eq!(special(".wh..wh.plnk/123.456"), "AufsMeta");
        assert_eq!(special("a/.wh..wh.aufs"), "AufsMeta");
        assert_eq!(special("a/.wh."), "BadWhiteout");
        assert_eq!(special("a/.wh.."), "BadWhiteout");
        assert_eq!(special("a/.wh..."), "BadWhiteout");
        assert_eq!(special("a/x.wh.b"), "None");
    }

    #[test]
    fn display_cuts_long_names() {
        assert_eq!(display(b"a/b"), "a/b");
        let long = vec![b'x'; 1000];
        assert_eq!(display(&long).chars().count(), 301);
        assert_eq!(display(b"a\x1b[31m\nb"), "a\\u{1b}[31m\\nb");
        assert_eq!(display(b"caf\xc3\xa9 \xff"), "café \u{fffd}");
    }
}
