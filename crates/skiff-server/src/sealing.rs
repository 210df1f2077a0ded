//! Secrets at rest: the server seals a secret's payload before it proposes the write, so the
//! Raft log, the snapshots and the watch history hold only ciphertext, and opens it only to hand
//! it to the node that runs a task declaring it.
//!
//! The key is derived from the cluster secret (`<data-dir>/cluster.secret`, which every member
//! holds) with HKDF-SHA256, so every member has it without a new way to hand keys around. The
//! cipher is ChaCha20-Poly1305 with a random 96-bit nonce per seal, stored before the
//! ciphertext; the associated data binds the ciphertext to its environment and name, so a
//! ciphertext copied onto another secret does not open. [`KEY_ID`] names the derivation, so a
//! later key can sit beside this one while secrets are re-sealed.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::raft_network::ClusterSecret;

/// The name of the only key derivation so far, stored with every sealed secret.
pub const KEY_ID: &str = "cluster-v1";

/// The HKDF `info` of [`KEY_ID`]'s derivation: a key for nothing but secrets.
const INFO_V1: &[u8] = b"skiff secrets at rest, cluster-v1";

/// Bytes of the nonce stored before the ciphertext.
const NONCE_LEN: usize = 12;

/// Bytes of the Poly1305 tag after the ciphertext.
const TAG_LEN: usize = 16;

/// What sealing adds to a payload's length.
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Why a payload cannot be sealed or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// This server holds no cluster secret yet (it waits to join a cluster).
    #[error("this server has no cluster secret yet (it has not joined a cluster), so it cannot seal or open secrets; send the request to a member of the cluster")]
    NoClusterSecret,
    /// The cluster secret file holds something other than 64 hex characters.
    #[error("the cluster secret is not 64 hex characters; restore <data-dir>/cluster.secret from another member")]
    BadClusterSecret,
    /// The secret was sealed with a key this server does not know.
    #[error(
        "secret sealed with key {key_id:?}, which this server does not know (it knows {KEY_ID:?})"
    )]
    UnknownKey {
        /// The key id stored with the secret.
        key_id: String,
    },
    /// The ciphertext does not open with the key: altered, moved from another secret, or
    /// sealed by another cluster.
    #[error("the stored ciphertext does not open: it was altered, copied from another secret, or sealed by another cluster")]
    Corrupt,
    /// The random number generator failed.
    #[error("cannot draw a random nonce: {0}")]
    Random(String),
}

/// The secrets key of one member, derived on use from its cluster secret (which a joining
/// member only learns when the cluster first contacts it). Cloning shares the cluster secret.
/// `Debug` shows no key material.
#[derive(Clone)]
pub struct Sealer {
    source: Source,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Source {
    Cluster(ClusterSecret),
    #[cfg(test)]
    Fixed([u8; 32]),
}

impl Sealer {
    /// The sealer of the member holding `secret`.
    pub fn new(secret: ClusterSecret) -> Self {
        Self {
            source: Source::Cluster(secret),
        }
    }

    /// A sealer with a fixed key, for tests.
    #[cfg(test)]
    pub(crate) fn fixed(ikm: [u8; 32]) -> Self {
        Self {
            source: Source::Fixed(ikm),
        }
    }

    fn cipher(&self, key_id: &str) -> Result<ChaCha20Poly1305, SealError> {
        if key_id != KEY_ID {
            return Err(SealError::UnknownKey {
                key_id: key_id.to_owned(),
            });
        }
        let ikm = match &self.source {
            Source::Cluster(secret) => {
                let text = secret.current().ok_or(SealError::NoClusterSecret)?;
                let bytes = hex::decode(text).map_err(|_| SealError::BadClusterSecret)?;
                <[u8; 32]>::try_from(bytes).map_err(|_| SealError::BadClusterSecret)?
            }
            #[cfg(test)]
            Source::Fixed(ikm) => *ikm,
        };
        let mut key = Key::default();
        Hkdf::<Sha256>::new(None, &ikm)
            .expand(INFO_V1, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        Ok(ChaCha20Poly1305::new(&key))
    }

    /// `plaintext` sealed for the secret `name` of `env`: nonce, then ciphertext and tag; and
    /// the id of the key that sealed it.
    pub fn seal(
        &self,
        env: &str,
        name: &str,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, String), SealError> {
        let cipher = self.cipher(KEY_ID)?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SealError::Random(e.to_string()))?;
        let aad = associated_data(env, name);
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Corrupt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok((out, KEY_ID.to_owned()))
    }

    /// The plaintext of `sealed` (as [`Sealer::seal`] made it for `env`/`name` with `key_id`).
    pub fn open(
        &self,
        env: &str,
        name: &str,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        let cipher = self.cipher(key_id)?;
        if sealed.len() < OVERHEAD {
            return Err(SealError::Corrupt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let aad = associated_data(env, name);
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Corrupt)
    }
}

/// The plaintext length of a sealed payload of `sealed_len` bytes.
pub fn plaintext_len(sealed_len: usize) -> usize {
    sealed_len.saturating_sub(OVERHEAD)
}

/// Binds a ciphertext to its secret. Names hold no NUL, so the encoding is unambiguous.
fn associated_data(env: &str, name: &str) -> Vec<u8> {
    format!("skiff-secret\0{env}\0{name}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::fixed([7; 32])
    }

    #[test]
    fn a_sealed_secret_opens_and_holds_no_plaintext() {
        let plain = b"correct horse battery staple";
        let (sealed, key_id) = sealer().seal("dev", "db-password", plain).unwrap();
        assert_eq!(key_id, KEY_ID);
        assert_eq!(sealed.len(), plain.len() + OVERHEAD);
        assert_eq!(plaintext_len(sealed.len()), plain.len());
        assert!(!sealed.windows(5).any(|w| w == b"horse"));
        let opened = sealer()
            .open("dev", "db-password", &key_id, &sealed)
            .unwrap();
        assert_eq!(opened, plain);
    }

    #[test]
    fn every_seal_draws_a_new_nonce() {
        let (a, _) = sealer().seal("dev", "s", b"same").unwrap();
        let (b, _) = sealer().seal("dev", "s", b"same").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_ciphertext_moved_to_another_secret_does_not_open() {
        let (sealed, id) = sealer().seal("dev", "a", b"payload").unwrap();
        for (env, name) in [("dev", "b"), ("prod", "a"), ("deva", ""), ("de", "va")] {
            assert_eq!(
                sealer().open(env, name, &id, &sealed),
                Err(SealError::Corrupt),
                "{env}/{name}"
            );
        }
    }

    #[test]
    fn another_clusters_key_or_an_altered_byte_does_not_open() {
        let (sealed, id) = sealer().seal("dev", "a", b"payload").unwrap();
        let other = Sealer::fixed([8; 32]);
        assert_eq!(
            other.open("dev", "a", &id, &sealed),
            Err(SealError::Corrupt)
        );
        for i in [0, NONCE_LEN, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(
                sealer().open("dev", "a", &id, &altered),
                Err(SealError::Corrupt)
            );
        }
        assert_eq!(
            sealer().open("dev", "a", &id, &sealed[..OVERHEAD - 1]),
            Err(SealError::Corrupt)
        );
    }

    #[test]
    fn an_unknown_key_id_is_named() {
        let (sealed, _) = sealer().seal("dev", "a", b"x").unwrap();
        assert_eq!(
            sealer().open("dev", "a", "cluster-v9", &sealed),
            Err(SealError::UnknownKey {
                key_id: "cluster-v9".into()
            })
        );
    }

    #[test]
    fn the_key_comes_from_the_cluster_secret_once_known() {
        let dir = tempfile::tempdir().unwrap();
        let secret = ClusterSecret::load(dir.path().join("cluster.secret")).unwrap();
        let sealer = Sealer::new(secret.clone());
        assert_eq!(
            sealer.seal("dev", "a", b"x"),
            Err(SealError::NoClusterSecret)
        );
        secret.generate().unwrap();
        let (sealed, id) = sealer.seal("dev", "a", b"x").unwrap();
        // Another member with the same cluster secret opens it.
        let member = Sealer::new(ClusterSecret::load(dir.path().join("cluster.secret")).unwrap());
        assert_eq!(member.open("dev", "a", &id, &sealed).unwrap(), b"x");
        assert_eq!(
            Sealer::new(ClusterSecret::disabled()).open("dev", "a", &id, &sealed),
            Err(SealError::NoClusterSecret)
        );
    }
}
