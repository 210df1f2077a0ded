//! Container logs: what the container writes on stdout and stderr, as JSON lines
//! (`{"log":"…\n","stream":"stdout","time":"…"}`, Docker's json-file format) in
//! `logs/container.log`, rotated by size into `container.log.1`, `.2`, …
//!
//! The shim writes them ([`LogWriter`]); `skiff container logs` reads them ([`LogReader`]),
//! following the current file across rotations.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::config::LogConfig;

/// Longest line written as one record; longer output is split (Docker splits at 16 KiB).
const MAX_LINE: usize = 16 * 1024;
/// Name of the current log file.
pub const LOG_FILE: &str = "container.log";

/// Which stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The text, with its newline if it had one.
    pub log: String,
    /// Where it came from.
    pub stream: Stream,
    /// When the shim read it (RFC 3339, nanoseconds).
    pub time: String,
}

/// Writes records into a log directory, rotating by size.
#[derive(Debug)]
pub struct LogWriter {
    dir: PathBuf,
    config: LogConfig,
    file: File,
    size: u64,
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    /// Opens (appending to) `dir/container.log`.
    pub fn open(dir: &Path, config: LogConfig) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let file = open_append(&dir.join(LOG_FILE))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            config,
            file,
            size,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Takes bytes the container wrote on `stream`: whole lines are written at once, a
    /// trailing partial line waits for its end (or for [`flush_partial`](Self::flush_partial)).
    pub fn write(&mut self, stream: Stream, mut data: &[u8], now: &str) -> io::Result<()> {
        let slot = stream as usize;
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            let (line, rest) = data.split_at(pos + 1);
            let mut buf = std::mem::take(&mut self.partial[slot]);
            buf.extend_from_slice(line);
            self.emit(stream, &buf, now)?;
            data = rest;
        }
        self.partial[slot].extend_from_slice(data);
        while self.partial[slot].len() >= MAX_LINE {
            let chunk: Vec<u8> = self.partial[slot].drain(..MAX_LINE).collect();
            self.emit(stream, &chunk, now)?;
        }
        Ok(())
    }

    /// Writes out partial lines (at exit).
    pub fn flush_partial(&mut self, now: &str) -> io::Result<()> {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(&mut self.partial[stream as usize]);
            if !buf.is_empty() {
                self.emit(stream, &buf, now)?;
            }
        }
        Ok(())
    }

    fn emit(&mut self, stream: Stream, line: &[u8], now: &str) -> io::Result<()> {
        let record = Record {
            log: String::from_utf8_lossy(line).into_owned(),
            stream,
            time: now.to_string(),
        };
        let mut bytes = serde_json::to_vec(&record).map_err(io::Error::other)?;
        bytes.push(b'\n');
        if self.size > 0 && self.size + bytes.len() as u64 > self.config.max_size {
            self.rotate()?;
        }
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let keep = self.config.max_files.max(1);
        let name = |n: u32| {
            if n == 0 {
                self.dir.join(LOG_FILE)
            } else {
                self.dir.join(format!("{LOG_FILE}.{n}"))
            }
        };
        if keep == 1 {
            self.file.set_len(0)?;
            self.file.seek(SeekFrom::Start(0))?;
            self.size = 0;
            return Ok(());
        }
        let _ = fs::remove_file(name(keep - 1));
        for n in (0..keep - 1).rev() {
            match fs::rename(name(n), name(n + 1)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        self.file = open_append(&name(0))?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The log files of a container, oldest first.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let n = name.strip_prefix(&format!("{LOG_FILE}."))?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    let current = dir.join(LOG_FILE);
    if current.exists() {
        out.push(current);
    }
    out
}

/// Reads every record (oldest first); `tail` keeps only the last N.
pub fn read_all(dir: &Path, tail: Option<usize>) -> io::Result<Vec<Record>> {
    let mut out = Vec::new();
    for path in files(dir) {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in BufReader::new(file).lines() {
            if let Ok(record) = serde_json::from_str::<Record>(&line?) {
                out.push(record);
            }
        }
    }
    if let Some(n) = tail {
        let skip = out.len().saturating_sub(n);
        out.drain(..skip);
    }
    Ok(out)
}

/// Follows the current log file: returns new records as they are written, also after the
/// writer rotated the file away.
#[derive(Debug)]
pub struct LogReader {
    dir: PathBuf,
    file: Option<BufReader<File>>,
    inode: u64,
    pending: String,
}

impl LogReader {
    /// A reader positioned at the end of the current file (records already read with
    /// [`read_all`] are not returned again).
    pub fn at_end(dir: &Path) -> Self {
        let mut reader = LogReader {
            dir: dir.to_path_buf(),
            file: None,
            inode: 0,
            pending: String::new(),
        };
        if let Ok(mut f) = File::open(dir.join(LOG_FILE)) {
            if f.seek(SeekFrom::End(0)).is_ok() {
                reader.inode = f.metadata().map(|m| m.ino()).unwrap_or(0);
                reader.file = Some(BufReader::new(f));
            }
        }
        reader
    }

    /// Records written since the last call (possibly none).
    pub fn poll(&mut self) -> io::Result<Vec<Record>> {
        let mut out = Vec::new();
        loop {
            self.drain(&mut out)?;
            // At the end of our file: if the writer rotated, the current name is another
            // file; finish ours (done above) and switch.
            let current = fs::metadata(self.dir.join(LOG_FILE)).map(|m| m.ino()).ok();
            match current {
                Some(ino) if ino != self.inode => {
                    let f = File::open(self.dir.join(LOG_FILE))?;
                    self.inode = ino;
                    self.file = Some(BufReader::new(f));
                    self.pending.clear();
                }
                _ => return Ok(out),
            }
        }
    }

    fn drain(&mut self, out: &mut Vec<Record>) -> io::Result<()> {
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        let mut chunk = String::new();
        file.read_to_string(&mut chunk)?;
        self.pending.push_str(&chunk);
        while let Some(pos) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=pos).collect();
            if let Ok(record) = serde_json::from_str::<Record>(line.trim_end()) {
                out.push(record);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(records: &[Record]) -> String {
        records.iter().map(|r| r.log.as_str()).collect()
    }

    #[test]
    fn lines_are_split_and_partials_wait() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), LogConfig::default()).unwrap();
        w.write(Stream::Stdout, b"one\ntw", "t1").unwrap();
        w.write(Stream::Stderr, b"err\n", "t2").unwrap();
        w.write(Stream::Stdout, b"o\nthree", "t3").unwrap();
        let got = read_all(dir.path(), None).unwrap();
        assert_eq!(text(&got), "one\nerr\ntwo\n");
        assert_eq!(got[1].stream, Stream::Stderr);
        assert_eq!(got[2].time, "t3");
        w.flush_partial("t4").unwrap();
        assert_eq!(text(&read_all(dir.path(), Some(1)).unwrap()), "three");
    }

    #[test]
    fn long_lines_are_cut_at_16k() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), LogConfig::default()).unwrap();
        w.write(Stream::Stdout, &vec![b'x'; 40_000], "t").unwrap();
        let got = read_all(dir.path(), None).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].log.len(), MAX_LINE);
    }

    #[test]
    fn rotation_keeps_max_files_and_order() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            max_size: 200,
            max_files: 3,
        };
        let mut w = LogWriter::open(dir.path(), config).unwrap();
        for i in 0..40 {
            w.write(
                Stream::Stdout,
                format!("line {i:03}\n").as_bytes(),
                "2026-01-01T00:00:00Z",
            )
            .unwrap();
        }
        let files = files(dir.path());
        assert_eq!(files.len(), 3, "{files:?}");
        for f in &files {
            assert!(fs::metadata(f).unwrap().len() <= 200);
        }
        let got = read_all(dir.path(), None).unwrap();
        assert!(got.len() < 40, "old records were rotated out");
        assert_eq!(got.last().unwrap().log, "line 039\n");
        let numbers: Vec<String> = got.iter().map(|r| r.log.clone()).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        assert_eq!(numbers, sorted, "oldest first");
    }

    #[test]
    fn follower_sees_new_records_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            max_size: 150,
            max_files: 2,
        };
        let mut w = LogWriter::open(dir.path(), config).unwrap();
        w.write(Stream::Stdout, b"before\n", "t").unwrap();
        let mut r = LogReader::at_end(dir.path());
        assert!(r.poll().unwrap().is_empty());
        let mut seen = String::new();
        for i in 0..10 {
            w.write(Stream::Stdout, format!("n{i}\n").as_bytes(), "t")
                .unwrap();
            seen.push_str(&text(&r.poll().unwrap()));
        }
        let want: String = (0..10).map(|i| format!("n{i}\n")).collect();
        assert_eq!(seen, want);
    }
}
