//! A fake registry for pull tests: a small HTTP/1.1 server on 127.0.0.1 that answers each
//! request with whatever the test's handler says — content, errors, hangs, cut-off bodies —
//! and logs the requests. One request per connection (`Connection: close`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use skiff_testkit::image::digest;

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, …
    pub method: String,
    /// The path with the query.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete answer.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers (with the full `Content-Length` if `announce`), the first `send` bytes of
    /// `body`, then the connection is closed.
    Truncated {
        body: Vec<u8>,
        send: usize,
        announce: bool,
    },
    /// Headers and the first `send` bytes of `body`, then nothing more.
    Stall { body: Vec<u8>, send: usize },
    /// No answer at all.
    Hang,
}

impl Reply {
    /// An empty answer with `status`.
    pub fn status(status: u16) -> Reply {
        Reply::Full {
            status,
            headers: vec![],
            body: vec![],
        }
    }

    /// 200 with `body` of type `content_type`.
    pub fn ok(content_type: &str, body: Vec<u8>) -> Reply {
        Reply::status(200)
            .header("Content-Type", content_type)
            .body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Sets the body.
    pub fn body(mut self, new: Vec<u8>) -> Reply {
        if let Reply::Full { body, .. } = &mut self {
            *body = new;
        }
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A running fake registry, stopped when dropped.
pub struct FakeRegistry {
    addr: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Request>>>,
    accept: Option<JoinHandle<()>>,
}

impl FakeRegistry {
    /// Starts serving with `handler` on a free port of 127.0.0.1.
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (stop, log, handler) = (stop.clone(), log.clone(), handler.clone());
                    std::thread::spawn(move || serve(stream, &*handler, &log, &stop));
                }
            })
        };
        FakeRegistry {
            addr,
            stop,
            log,
            accept: Some(accept),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// How many requests had a path starting with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .count()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let request = Request {
        method,
        path,
        headers,
    };
    log.lock().unwrap().push(request.clone());
    let mut out = stream;
    let head = |status: u16, headers: &[(String, String)], length: Option<usize>| {
        let mut h = format!("HTTP/1.1 {status} Fake\r\nConnection: close\r\n");
        for (n, v) in headers {
            h.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(len) = length {
            h.push_str(&format!("Content-Length: {len}\r\n"));
        }
        h.push_str("\r\n");
        h.into_bytes()
    };
    let wait = |stop: &AtomicBool| {
        let until = Instant::now() + Duration::from_secs(30);
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    match handler(&request) {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let _ = out.write_all(&head(status, &headers, Some(body.len())));
            let _ = out.write_all(&body);
        }
        Reply::Truncated {
            body,
            send,
            announce,
        } => {
            let length = announce.then_some(body.len());
            let _ = out.write_all(&head(200, &[], length));
            let _ = out.write_all(&body[..send]);
        }
        Reply::Stall { body, send } => {
            let _ = out.write_all(&head(200, &[], Some(body.len())));
            let _ = out.write_all(&body[..send]);
            let _ = out.flush();
            wait(stop);
        }
        Reply::Hang => wait(stop),
    }
    let _ = out.flush();
}

/// What a fake serves for one repository: manifests by tag and digest, blobs by digest.
#[derive(Debug, Clone, Default)]
pub struct Content {
    /// Manifests: tag or digest → (media type, bytes).
    pub manifests: HashMap<String, (String, Vec<u8>)>,
    /// Blobs: digest → bytes.
    pub blobs: HashMap<String, Vec<u8>>,
}

impl Content {
    /// Every blob of an OCI layout (manifests among them are also served as blobs).
    pub fn from_layout(dir: &std::path::Path) -> Content {
        let mut content = Content::default();
        for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
            content.add_blob(std::fs::read(entry.unwrap().path()).unwrap());
        }
        content
    }

    /// Adds a blob; returns its digest.
    pub fn add_blob(&mut self, bytes: Vec<u8>) -> String {
        let d = digest(&bytes);
        self.blobs.insert(d.clone(), bytes);
        d
    }

    /// Adds a manifest under `tag` (if any) and its digest; returns the digest.
    pub fn add_manifest(&mut self, tag: Option<&str>, media_type: &str, bytes: Vec<u8>) -> String {
        let d = digest(&bytes);
        let entry = (media_type.to_string(), bytes);
        if let Some(tag) = tag {
            self.manifests.insert(tag.to_string(), entry.clone());
        }
        self.manifests.insert(d.clone(), entry);
        d
    }

    /// Answers `/v2/<repo>/manifests/<ref>` and `/v2/<repo>/blobs/<digest>`; 404 otherwise.
    pub fn serve(&self, req: &Request) -> Reply {
        let path = req.path.split('?').next().unwrap_or("");
        if let Some((_, reference)) = path.split_once("/manifests/") {
            if let Some((media_type, bytes)) = self.manifests.get(reference) {
                return Reply::ok(media_type, bytes.clone())
                    .header("Docker-Content-Digest", &digest(bytes));
            }
        } else if let Some((_, d)) = path.split_once("/blobs/") {
            if let Some(bytes) = self.blobs.get(d) {
                return Reply::ok("application/octet-stream", bytes.clone());
            }
        }
        Reply::status(404)
    }
}
