//! The uncompressed tar stream, carried from the thread that reads, decompresses and hashes
//! the blob to the thread that writes files, in large chunks through a bounded channel — so
//! decompression and file writing overlap, as `tar -xzf` overlaps its gzip child and itself.

use std::cell::{Cell, RefCell};
use std::io::{self, BufReader, Read};
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use super::UnpackError;
use crate::digest::{Digest, HashingReader};
use crate::image::media::Compression;

/// Bytes per chunk.
pub(super) const CHUNK: usize = 256 << 10;
/// Chunks in flight between the threads (bounds the memory an unpack holds).
pub(super) const DEPTH: usize = 8;
/// Read buffer for the compressed blob.
const INPUT_BUF: usize = 256 << 10;

/// A filled part of a buffer.
#[derive(Debug)]
pub(super) struct Chunk {
    buf: Box<[u8]>,
    len: usize,
}

/// Reads `source` to its end, decompressing, hashing, counting against `max_bytes`, and
/// sends the bytes on `chunks`; `free` returns used buffers. Returns the digest and size of
/// the whole uncompressed stream, or `None` if the receiver went away (it failed; its error
/// is the one to report).
pub(super) fn produce(
    source: &mut dyn Read,
    compression: Compression,
    max_bytes: u64,
    chunks: SyncSender<Chunk>,
    free: Receiver<Chunk>,
) -> Result<Option<(Digest, u64)>, UnpackError> {
    let read_error = |offset, source| UnpackError::Read {
        compression,
        offset,
        source,
    };
    let decoder: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(source),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(
            BufReader::with_capacity(INPUT_BUF, source),
        )),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(INPUT_BUF, source))
                .map_err(|e| read_error(0, e))?,
        ),
    };
    let mut stream = HashingReader::new(decoder);
    loop {
        let mut chunk = free.try_recv().unwrap_or_else(|_| Chunk {
            buf: vec![0; CHUNK].into_boxed_slice(),
            len: 0,
        });
        chunk.len = 0;
        while chunk.len < CHUNK {
            match stream.read(&mut chunk.buf[chunk.len..]) {
                Ok(0) => break,
                Ok(n) => chunk.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(stream.count(), e)),
            }
            if stream.count() > max_bytes {
                return Err(UnpackError::TooLarge { limit: max_bytes });
            }
        }
        if chunk.len == 0 {
            return Ok(Some(stream.finish()));
        }
        if chunks.send(chunk).is_err() {
            return Ok(None);
        }
    }
}

/// What the reading side shares with the code driving the tar parser: position, a read limit
/// (so a parser's unbounded read of extension headers stops early) and a capture of the raw
/// header bytes.
#[derive(Debug, Default)]
pub(super) struct ReadState {
    consumed: Cell<u64>,
    limit: Cell<u64>,
    hit_limit: Cell<bool>,
    capture_from: Cell<Option<u64>>,
    captured: RefCell<Vec<u8>>,
}

impl ReadState {
    /// Bytes of tar stream read so far.
    pub(super) fn consumed(&self) -> u64 {
        self.consumed.get()
    }

    /// The parser is about to read the headers of an entry, from stream position `at`: keep
    /// the bytes from there on, and fail reads past `at + max`.
    pub(super) fn headers_start(&self, at: u64, max: u64) {
        self.captured.borrow_mut().clear();
        self.capture_from.set(Some(at));
        self.limit.set(at.saturating_add(max));
        self.hit_limit.set(false);
    }

    /// The parser has read the headers (and may now read data): returns the bytes kept.
    pub(super) fn headers_end(&self) -> std::cell::Ref<'_, Vec<u8>> {
        self.capture_from.set(None);
        self.limit.set(u64::MAX);
        self.captured.borrow()
    }

    /// Whether a read failed on the headers' limit.
    pub(super) fn hit_limit(&self) -> bool {
        self.hit_limit.get()
    }
}

/// The receiving end, as a reader for the tar parser.
#[derive(Debug)]
pub(super) struct ChunkReader {
    chunks: Receiver<Chunk>,
    free: Sender<Chunk>,
    current: Option<Chunk>,
    pos: usize,
    state: Rc<ReadState>,
}

impl ChunkReader {
    /// A reader of what `produce` sends; `state` is shared with the caller.
    pub(super) fn new(chunks: Receiver<Chunk>, free: Sender<Chunk>, state: Rc<ReadState>) -> Self {
        state.limit.set(u64::MAX);
        ChunkReader {
            chunks,
            free,
            current: None,
            pos: 0,
            state,
        }
    }

    /// Reads and drops the rest of the stream, so the producer hashes it all.
    pub(super) fn drain(mut self) {
        if let Some(chunk) = self.current.take() {
            let _ = self.free.send(chunk);
        }
        while let Ok(chunk) = self.chunks.recv() {
            let _ = self.free.send(chunk);
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if matches!(&self.current, Some(chunk) if self.pos < chunk.len) {
                break;
            }
            if let Some(used) = self.current.take() {
                // The producer may have finished and dropped its end; then the buffer goes.
                let _ = self.free.send(used);
            }
            match self.chunks.recv() {
                Ok(chunk) => {
                    self.current = Some(chunk);
                    self.pos = 0;
                }
                // The producer finished (or failed, which the caller learns from it).
                Err(_) => return Ok(0),
            }
        }
        let Some(chunk) = &self.current else {
            return Ok(0);
        };
        let state = &self.state;
        let at = state.consumed.get();
        let room = state.limit.get().saturating_sub(at);
        if room == 0 {
            state.hit_limit.set(true);
            return Err(io::Error::other(
                "read past the limit for extension headers",
            ));
        }
        let n = buf
            .len()
            .min(chunk.len - self.pos)
            .min(usize::try_from(room).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&chunk.buf[self.pos..self.pos + n]);
        if let Some(from) = state.capture_from.get() {
            let end = at + n as u64;
            if end > from {
                let skip = from.saturating_sub(at) as usize;
                state.captured.borrow_mut().extend_from_slice(&buf[skip..n]);
            }
        }
        self.pos += n;
        state.consumed.set(at + n as u64);
        Ok(n)
    }
}
