//! An entry's headers, read from the raw bytes the tar parser consumed for it: GNU long names
//! and links, PAX records, and the entry's own header block.
//!
//! The `tar` crate frames the archive (it finds each entry and its data), but its PAX reader
//! splits records at newlines, and values may contain newlines: xattrs are binary, and a
//! `security.capability` with CAP_DAC_OVERRIDE|CAP_FOWNER has the byte 0x0a. So the records
//! are read here by their lengths, as POSIX defines them, and everything an entry says about
//! itself — name, link, owner, mtime, xattrs — comes from this one reading.

use std::ffi::CString;

use nix::sys::time::TimeSpec;
use tar::{EntryType, Header};

use super::UnpackError;

/// Tar block size.
pub(super) const BLOCK: u64 = 512;

/// An xattr whose name and value are ready for the system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Xattr {
    /// Its name (`security.capability`).
    pub(super) name: CString,
    /// Its value, raw.
    pub(super) value: Vec<u8>,
}

/// What the headers say about one entry.
#[derive(Debug)]
pub(super) struct Headers {
    /// The entry's header block as it is in the archive.
    pub(super) header: Header,
    /// Its name, raw.
    pub(super) path: Vec<u8>,
    /// Its link target (symlinks, hard links), raw.
    pub(super) link: Vec<u8>,
    /// Permission bits, with setuid, setgid and sticky.
    pub(super) mode: u32,
    /// Numeric owner.
    pub(super) uid: u32,
    /// Numeric group.
    pub(super) gid: u32,
    /// Modification time.
    pub(super) mtime: TimeSpec,
    /// Data size the PAX records give, if any (checked against the parser's framing).
    pub(super) pax_size: Option<u64>,
    /// Whether PAX records describe a sparse file (not supported).
    pub(super) pax_sparse: bool,
    /// Extended attributes (`SCHILY.xattr.*`).
    pub(super) xattrs: Vec<Xattr>,
}

/// Reads the headers of the entry whose header block starts at stream position `header_pos`;
/// `raw` holds the stream from position `start`, where the entry's first extension header (or
/// its own header) begins.
pub(super) fn read(raw: &[u8], start: u64, header_pos: u64) -> Result<Headers, UnpackError> {
    let bad = |offset: u64, reason: &'static str| UnpackError::BadHeader {
        offset: start + offset,
        reason,
    };
    let at = usize::try_from(header_pos.saturating_sub(start)).unwrap_or(usize::MAX);
    let block = raw
        .get(at..at + BLOCK as usize)
        .ok_or_else(|| bad(0, "the entry's header was not where the parser said"))?;
    let header = Header::from_byte_slice(block).clone();
    let mut long_name = None;
    let mut long_link = None;
    let mut pax = Vec::new();
    let mut pos = 0;
    while pos < at {
        let offset = pos as u64;
        let ext = raw
            .get(pos..pos + BLOCK as usize)
            .filter(|_| pos + BLOCK as usize <= at)
            .map(Header::from_byte_slice)
            .ok_or_else(|| bad(offset, "extension header cut short"))?;
        let size = ext
            .entry_size()
            .map_err(|_| bad(offset, "unreadable size"))?;
        let data_start = pos + BLOCK as usize;
        let data = usize::try_from(size)
            .ok()
            .and_then(|size| raw.get(data_start..data_start.checked_add(size)?))
            .ok_or_else(|| bad(offset, "data runs past the entry's header"))?;
        match ext.entry_type() {
            EntryType::GNULongName => long_name = Some(c_string(data)),
            EntryType::GNULongLink => long_link = Some(c_string(data)),
            EntryType::XHeader => pax = records(data).map_err(|reason| bad(offset, reason))?,
            _ => return Err(bad(offset, "unexpected extension header type")),
        }
        pos = data_start + round_up(size) as usize;
    }
    let old = header.as_old();
    let mut headers = Headers {
        path: header.path_bytes().into_owned(),
        link: header
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default(),
        mode: numeric(header.mode().map(u64::from), &old.mode)
            .and_then(|m| u32::try_from(m & 0o7777).ok())
            .ok_or_else(|| bad(at as u64, "unreadable mode"))?,
        uid: numeric(header.uid(), &old.uid)
            .and_then(id)
            .ok_or_else(|| bad(at as u64, "unreadable uid"))?,
        gid: numeric(header.gid(), &old.gid)
            .and_then(id)
            .ok_or_else(|| bad(at as u64, "unreadable gid"))?,
        mtime: numeric(header.mtime(), &old.mtime)
            .and_then(|t| i64::try_from(t).ok())
            .map(|t| TimeSpec::new(t, 0))
            .ok_or_else(|| bad(at as u64, "unreadable mtime"))?,
        header,
        pax_size: None,
        pax_sparse: false,
        xattrs: Vec::new(),
    };
    for (key, value) in pax {
        headers.apply(key, value).map_err(|reason| bad(0, reason))?;
    }
    // GNU long names win over PAX ones, as in GNU tar and Go's archive/tar.
    if let Some(name) = long_name {
        headers.path = name;
    }
    if let Some(link) = long_link {
        headers.link = link;
    }
    Ok(headers)
}

impl Headers {
    /// Applies one PAX record. An empty value cancels the keyword (POSIX).
    fn apply(&mut self, key: &[u8], value: &[u8]) -> Result<(), &'static str> {
        if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
            // Only whiteouts may steer overlayfs: a layer's own `trusted.overlay.*` (redirect,
            // metacopy, origin) could make it show files of the layers below elsewhere.
            if name.starts_with(b"trusted.overlay.") {
                return Ok(());
            }
            let name = CString::new(name).map_err(|_| "xattr name with a NUL byte")?;
            self.xattrs.push(Xattr {
                name,
                value: value.to_vec(),
            });
            return Ok(());
        }
        if key.starts_with(b"GNU.sparse.") {
            self.pax_sparse = true;
            return Ok(());
        }
        if value.is_empty() {
            return Ok(());
        }
        match key {
            b"path" => self.path = value.to_vec(),
            b"linkpath" => self.link = value.to_vec(),
            b"uid" => self.uid = decimal(value).ok_or("bad PAX uid")?,
            b"gid" => self.gid = decimal(value).ok_or("bad PAX gid")?,
            b"size" => self.pax_size = Some(decimal(value).ok_or("bad PAX size")?),
            b"mtime" => self.mtime = pax_time(value).ok_or("bad PAX mtime")?,
            _ => {}
        }
        Ok(())
    }
}

/// `n` rounded up to whole blocks.
pub(super) fn round_up(n: u64) -> u64 {
    n.div_ceil(BLOCK) * BLOCK
}

/// Bytes up to the first NUL, as C (and GNU tar) read a long name.
fn c_string(data: &[u8]) -> Vec<u8> {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    data[..end].to_vec()
}

/// A numeric header field: as the parser reads it, or 0 if the field is empty (all NULs or
/// spaces), as GNU tar and Go's archive/tar read it.
fn numeric(parsed: std::io::Result<u64>, field: &[u8]) -> Option<u64> {
    match parsed {
        Ok(value) => Some(value),
        Err(_) if field.iter().all(|&b| b == 0 || b == b' ') => Some(0),
        Err(_) => None,
    }
}

/// A uid or gid that `chown` can take (`u32::MAX` means "leave unchanged" to it).
fn id(value: u64) -> Option<u32> {
    u32::try_from(value).ok().filter(|&v| v != u32::MAX)
}

fn decimal<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    if !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// A PAX time: `[-]SECONDS[.FRACTION]`.
fn pax_time(value: &[u8]) -> Option<TimeSpec> {
    let (negative, value) = match value.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (secs, frac) = match value.iter().position(|&b| b == b'.') {
        Some(dot) => (&value[..dot], &value[dot + 1..]),
        None => (value, &b""[..]),
    };
    if secs.is_empty() || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let secs: i64 = decimal(secs)?;
    let mut nanos: i64 = 0;
    for i in 0..9 {
        nanos = nanos * 10 + frac.get(i).map_or(0, |d| i64::from(d - b'0'));
    }
    Some(match (negative, nanos) {
        (false, _) => TimeSpec::new(secs, nanos),
        (true, 0) => TimeSpec::new(-secs, 0),
        (true, _) => TimeSpec::new(-secs - 1, 1_000_000_000 - nanos),
    })
}

/// A PAX record's key and value.
type Record<'a> = (&'a [u8], &'a [u8]);

/// PAX records, `LENGTH KEY=VALUE\n`, LENGTH counting the whole record.
fn records(data: &[u8]) -> Result<Vec<Record<'_>>, &'static str> {
    let mut out = Vec::new();
    let mut rest = data;
    // Some writers pad the records with NULs.
    while !rest.iter().all(|&b| b == 0) {
        let space = rest
            .iter()
            .take(20)
            .position(|&b| b == b' ')
            .ok_or("PAX record without a length")?;
        let len: usize = decimal(&rest[..space]).ok_or("PAX record with a bad length")?;
        if len <= space + 1 || len > rest.len() {
            return Err("PAX record length out of range");
        }
        let (record, tail) = rest.split_at(len);
        let body = record[space + 1..]
            .strip_suffix(b"\n")
            .ok_or("PAX record not ended by a newline")?;
        let eq = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or("PAX record without `=`")?;
        out.push((&body[..eq], &body[eq + 1..]));
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_may_hold_newlines() {
        let recs = records(b"21 SCHILY.xattr.a=\n\n\n12 path=a/b\n").unwrap();
        assert_eq!(
            recs,
            vec![
                (&b"SCHILY.xattr.a"[..], &b"\n\n"[..]),
                (&b"path"[..], &b"a/b"[..])
            ]
        );
        assert!(records(b"99 path=a\n").is_err());
        assert!(records(b"8 path=a\n").is_err(), "length one short");
        assert!(records(b"10 patha/b\n").is_err());
        assert_eq!(records(b"10 path=a\n\0\0\0").unwrap().len(), 1);
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            pax_time(b"1700000000"),
            Some(TimeSpec::new(1_700_000_000, 0))
        );
        assert_eq!(pax_time(b"1.5"), Some(TimeSpec::new(1, 500_000_000)));
        assert_eq!(
            pax_time(b"1.1234567891"),
            Some(TimeSpec::new(1, 123_456_789))
        );
        assert_eq!(pax_time(b"-1.25"), Some(TimeSpec::new(-2, 750_000_000)));
        assert_eq!(pax_time(b"x"), None);
        assert_eq!(pax_time(b".5"), None);
    }
}
