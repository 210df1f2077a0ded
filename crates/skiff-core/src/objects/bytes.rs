//! Byte payloads (configs' data, secrets' ciphertext) as base64 text in JSON, so that the API,
//! the log and snapshots carry `"bGlzdGVu"` rather than an array of numbers four times as long.
//!
//! Reading also accepts the array of numbers that earlier builds wrote, so a log or snapshot
//! written before the change still restores.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Writes `bytes` as standard, padded base64.
pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

/// Reads standard base64 text (or, from older builds, an array of byte values).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_any(BytesVisitor)
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("base64 text (standard alphabet, padded)")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
        STANDARD
            .decode(text)
            .map_err(|e| E::custom(format!("not base64: {e}")))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(b) = seq.next_element::<u8>()? {
            bytes.push(b);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Payload {
        #[serde(with = "super")]
        data: Vec<u8>,
    }

    #[test]
    fn bytes_are_base64_and_old_arrays_still_read() {
        let p = Payload {
            data: vec![0, 1, 2, 255],
        };
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"data":"AAEC/w=="}"#);
        assert_eq!(serde_json::from_str::<Payload>(&text).unwrap(), p);
        let old: Payload = serde_json::from_str(r#"{"data":[0,1,2,255]}"#).unwrap();
        assert_eq!(old, p);
        let err = serde_json::from_str::<Payload>(r#"{"data":"%%"}"#).unwrap_err();
        assert!(err.to_string().contains("not base64"), "{err}");
        assert!(serde_json::from_str::<Payload>(r#"{"data":[256]}"#).is_err());
    }
}
