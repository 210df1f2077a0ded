//! A real registry for tests: Debian's `docker-registry` (distribution v2) started on
//! 127.0.0.1 on a free port with its storage in a temporary directory, stopped (by the pid
//! this code started) when dropped. Images are pushed with `skopeo`.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The registry binary Debian's `docker-registry` package installs.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

/// Extra set-up for a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// An htpasswd file (bcrypt) to require basic authentication.
    pub htpasswd: Option<PathBuf>,
}

impl Registry {
    /// Starts a registry without authentication.
    pub fn start() -> Registry {
        Self::start_with(&RegistryOptions::default())
    }

    /// Starts a registry.
    pub fn start_with(opts: &RegistryOptions) -> Registry {
        assert!(
            Path::new(REGISTRY_BIN).exists(),
            "docker-registry is not installed (apt install docker-registry)"
        );
        let dir = tempfile::Builder::new()
            .prefix("skiff-registry-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let auth = match &opts.htpasswd {
            Some(path) => format!(
                "auth:\n  htpasswd:\n    realm: skiff-test\n    path: {}\n",
                path.display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        fs::write(&config_path, config).unwrap();
        let log = fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Registry {
            child,
            addr,
            _dir: dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "docker-registry did not listen on {} within 20 s",
            self.addr
        );
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Pushes the image tagged `tag` in the OCI layout `layout` to `repo:tag` here, with
    /// skopeo (`creds` as `user:password` if the registry wants them).
    pub fn push_layout(&self, layout: &Path, tag: &str, repo: &str, creds: Option<&str>) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "--quiet", "--dest-tls-verify=false"]);
        if let Some(creds) = creds {
            cmd.arg(format!("--dest-creds={creds}"));
        }
        // Keep each layer's compression (skopeo would otherwise recompress).
        cmd.arg("--preserve-digests");
        cmd.arg(format!("oci:{}:{tag}", layout.display()));
        cmd.arg(format!("docker://{}/{repo}:{tag}", self.addr));
        let out = cmd.output().expect("run skopeo (apt install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port on 127.0.0.1 nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
