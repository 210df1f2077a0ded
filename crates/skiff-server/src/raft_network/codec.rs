//! openraft's messages as the JSON bytes that `raft.proto` carries.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The JSON encoding of an openraft message. openraft's message types serialize to JSON
/// without fail (their keys are strings, their values plain data).
pub(crate) fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("openraft's messages serialize to JSON")
}

/// An openraft message from its JSON encoding.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}
