//! Conditional writes: `If-Match: "<revision>"` (compare-and-swap against the object's
//! `mod_revision`) and `If-None-Match: *` (create only), as HTTP defines them for ETags. A
//! precondition that fails is a 409 `revision_conflict` from the state machine.

use axum::http::{header, HeaderMap};
use skiff_core::Expect;

use super::error::{ApiError, ApiResult};

/// The precondition of a write, from `If-Match` / `If-None-Match` (none: [`Expect::Any`]).
pub fn expectation(headers: &HeaderMap) -> ApiResult<Expect> {
    if let Some(value) = headers.get(header::IF_NONE_MATCH) {
        return match value.to_str() {
            Ok("*") => Ok(Expect::Absent),
            _ => Err(ApiError::invalid(
                "If-None-Match takes only *, for create-only writes",
            )),
        };
    }
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(Expect::Any);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    text.parse::<u64>()
        .map(Expect::Revision)
        .map_err(|_| ApiError::invalid(format!("If-Match must be a revision number, not {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn preconditions_from_headers() {
        assert_eq!(expectation(&HeaderMap::new()).unwrap(), Expect::Any);
        let h = headers(&[(header::IF_NONE_MATCH, "*")]);
        assert_eq!(expectation(&h).unwrap(), Expect::Absent);
        let h = headers(&[(header::IF_MATCH, "\"42\"")]);
        assert_eq!(expectation(&h).unwrap(), Expect::Revision(42));
        let h = headers(&[(header::IF_MATCH, "7")]);
        assert_eq!(expectation(&h).unwrap(), Expect::Revision(7));
        for bad in [
            headers(&[(header::IF_MATCH, "\"abc\"")]),
            headers(&[(header::IF_NONE_MATCH, "\"3\"")]),
        ] {
            assert_eq!(expectation(&bad).unwrap_err().code, "invalid_request");
        }
    }
}
