//! The cluster secret: every Raft RPC carries it (gRPC metadata `x-skiff-cluster-secret`) and
//! a member refuses RPCs that do not, since the Raft service shares its port with the API.
//!
//! The bootstrapping server generates it; a server that has none yet (waiting to join) trusts
//! the first cluster that contacts it — the leader adding it as a learner — and keeps that
//! secret from then on (in `<data-dir>/cluster.secret`, mode 0600).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tonic::metadata::MetadataValue;
use tonic::Status;

/// The gRPC metadata key carrying the secret.
pub const SECRET_HEADER: &str = "x-skiff-cluster-secret";

/// A member's cluster secret, shared by its sending and receiving sides. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct ClusterSecret {
    known: Arc<Mutex<Option<String>>>,
    /// Where it is kept; `None` for a secret-less network (in-process tests).
    file: Option<PathBuf>,
    /// Whether an unknown secret may be adopted from the first RPC (servers that join).
    adopt: bool,
}

impl ClusterSecret {
    /// No secret at all: RPCs are neither signed nor checked. For in-process tests only.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// The secret kept in `file`, if it exists; otherwise none yet (adopted on first contact).
    pub fn load(file: PathBuf) -> std::io::Result<Self> {
        let known = match std::fs::read_to_string(&file) {
            Ok(text) => Some(text.trim().to_owned()).filter(|s| !s.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        Ok(Self {
            known: Arc::new(Mutex::new(known)),
            file: Some(file),
            adopt: true,
        })
    }

    /// Never adopts a secret from an RPC (a server that founds its cluster generates it).
    pub fn without_adoption(mut self) -> Self {
        self.adopt = false;
        self
    }

    /// Generates a new secret and keeps it (at bootstrap). Fails if one is already kept.
    pub fn generate(&self) -> std::io::Result<()> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
        self.keep(hex::encode(bytes))
    }

    /// The secret to send, once known.
    pub fn current(&self) -> Option<String> {
        self.known.lock().expect("not poisoned").clone()
    }

    fn keep(&self, secret: String) -> std::io::Result<()> {
        if let Some(file) = &self.file {
            write_private(file, &secret)?;
        }
        *self.known.lock().expect("not poisoned") = Some(secret);
        Ok(())
    }

    /// Adds the secret to an outgoing request.
    pub(crate) fn sign<T>(&self, request: &mut tonic::Request<T>) {
        if let Some(secret) = self.current() {
            if let Ok(value) = MetadataValue::try_from(secret.as_str()) {
                request.metadata_mut().insert(SECRET_HEADER, value);
            }
        }
    }

    /// Checks an incoming request: it must carry the secret this member knows; a member that
    /// knows none yet adopts the one presented.
    pub(crate) fn admit<T>(&self, request: &tonic::Request<T>) -> Result<(), Status> {
        if self.file.is_none() {
            return Ok(());
        }
        let presented = request
            .metadata()
            .get(SECRET_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut known = self.known.lock().expect("not poisoned");
        match (known.as_deref(), presented) {
            // Both are 64 hex characters; equality on them tells an attacker nothing useful.
            (Some(secret), Some(presented)) if secret == presented => Ok(()),
            (Some(_), _) => Err(Status::unauthenticated(
                "this Raft RPC does not carry this cluster's secret",
            )),
            (None, Some(presented)) if self.adopt && is_secret(&presented) => {
                let file = self.file.as_deref().expect("checked above");
                write_private(file, &presented).map_err(|e| {
                    Status::internal(format!("cannot keep the cluster secret: {e}"))
                })?;
                *known = Some(presented);
                Ok(())
            }
            (None, _) => Err(Status::unauthenticated(
                "this server has not joined a cluster; Raft RPCs must carry a cluster secret",
            )),
        }
    }
}

fn is_secret(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{secret}\n").as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(secret: Option<&str>) -> tonic::Request<()> {
        let mut request = tonic::Request::new(());
        if let Some(s) = secret {
            request
                .metadata_mut()
                .insert(SECRET_HEADER, s.parse().unwrap());
        }
        request
    }

    #[test]
    fn a_bootstrapped_member_admits_only_its_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = ClusterSecret::load(dir.path().join("cluster.secret")).unwrap();
        secret.generate().unwrap();
        let good = secret.current().unwrap();
        assert!(secret.admit(&request(Some(&good))).is_ok());
        assert!(secret.admit(&request(None)).is_err());
        assert!(secret.admit(&request(Some(&"0".repeat(64)))).is_err());
        let mut signed = request(None);
        secret.sign(&mut signed);
        assert!(secret.admit(&signed).is_ok());
        // It survives a restart; generating again is refused.
        let again = ClusterSecret::load(dir.path().join("cluster.secret")).unwrap();
        assert_eq!(again.current(), Some(good));
        assert!(again.generate().is_err());
    }

    #[test]
    fn a_waiting_member_adopts_the_first_secret_then_holds_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let secret = ClusterSecret::load(dir.path().join("cluster.secret")).unwrap();
        assert!(secret.admit(&request(None)).is_err());
        assert!(secret.admit(&request(Some("short"))).is_err());
        let first = "a".repeat(64);
        assert!(secret.admit(&request(Some(&first))).is_ok());
        assert!(secret.admit(&request(Some(&"b".repeat(64)))).is_err());
        let reloaded = ClusterSecret::load(dir.path().join("cluster.secret")).unwrap();
        assert_eq!(reloaded.current(), Some(first));
    }

    #[test]
    fn a_founding_member_never_adopts_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let secret = ClusterSecret::load(dir.path().join("cluster.secret"))
            .unwrap()
            .without_adoption();
        assert!(secret.admit(&request(Some(&"a".repeat(64)))).is_err());
        assert_eq!(secret.current(), None);
        assert!(!dir.path().join("cluster.secret").exists());
    }

    #[test]
    fn disabled_admits_everything_and_signs_nothing() {
        let secret = ClusterSecret::disabled();
        assert!(secret.admit(&request(None)).is_ok());
        let mut r = request(None);
        secret.sign(&mut r);
        assert!(r.metadata().get(SECRET_HEADER).is_none());
    }
}
