//! Request bodies: JSON, or YAML where the content type says so, read up to the body limit and
//! parsed with the path of the field that is wrong in the error.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;

/// The formats a body may come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (also when no content type is given).
    Json,
    /// `application/yaml`, `application/x-yaml`, `text/yaml`, `text/x-yaml`.
    Yaml,
}

impl Format {
    /// The format a request's `Content-Type` names.
    pub fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(value) = headers.get(header::CONTENT_TYPE) else {
            return Ok(Format::Json);
        };
        let text = value.to_str().unwrap_or_default();
        let essence = text
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/json" => Ok(Format::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => {
                Ok(Format::Yaml)
            }
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "content type {text:?} is not accepted; send application/json \
                     (or application/yaml where a manifest is posted)"
                ),
            )),
        }
    }
}

/// Reads the whole body, answering 413 `body_too_large` past the router's limit.
pub async fn read_bytes(req: Request) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &()).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "the request body is larger than this server accepts; send a smaller one",
            )
        } else {
            ApiError::invalid(format!("cannot read the request body: {rejection}"))
        }
    })
}

/// Parses `bytes` as `format` into `T`; the error names the field path and the position.
pub fn parse<T: DeserializeOwned>(format: Format, bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the request body is empty; send a JSON object",
        ));
    }
    match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let inner = e.inner();
                body_error(
                    e.path().to_string(),
                    inner,
                    Some((inner.line(), inner.column())),
                )
            })
        }
        Format::Yaml => {
            let de = serde_yaml::Deserializer::from_slice(bytes);
            serde_path_to_error::deserialize(de).map_err(|e| {
                let inner = e.inner();
                let position = inner.location().map(|l| (l.line(), l.column()));
                body_error(e.path().to_string(), inner, position)
            })
        }
    }
}

fn body_error(
    path: String,
    inner: &dyn std::fmt::Display,
    position: Option<(usize, usize)>,
) -> ApiError {
    let field = if path == "." {
        "the body".to_owned()
    } else {
        format!("field {path}")
    };
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        format!("request body, {field}: {inner}"),
    )
    .with_details(json!({
        "field": path,
        "line": position.map(|p| p.0),
        "column": position.map(|p| p.1),
    }))
}

/// A parsed request body (JSON, or YAML when the content type says so).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let format = Format::of(req.headers())?;
        let bytes = read_bytes(req).await?;
        parse(format, &bytes).map(Body)
    }
}

/// A body read whole with the format its content type names, for handlers that parse it
/// themselves (an app manifest: a JSON `AppSpec` or a YAML compose file).
#[derive(Debug)]
pub struct RawBody {
    /// The format the content type names.
    pub format: Format,
    /// The bytes.
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let format = Format::of(req.headers())?;
        let bytes = read_bytes(req).await?;
        Ok(RawBody { format, bytes })
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn errors_name_the_field_and_position() {
        let e =
            parse::<Thing>(Format::Json, br#"{"name": "a", "inner": {"count": "x"}}"#).unwrap_err();
        assert_eq!(e.code, "invalid_body");
        assert!(e.message.contains("field inner.count"), "{}", e.message);
        assert_eq!(e.details["field"], "inner.count");
        assert_eq!(e.details["line"], 1);

        let e = parse::<Thing>(
            Format::Json,
            br#"{"name": "a", "inner": {"count": 1}, "x": 1}"#,
        )
        .unwrap_err();
        assert!(e.message.contains("unknown field `x`"), "{}", e.message);

        let e = parse::<Thing>(Format::Yaml, b"name: a\ninner:\n  count: -1\n").unwrap_err();
        assert_eq!(e.details["field"], "inner.count");
        assert_eq!(e.details["line"], 3);

        let e = parse::<Thing>(Format::Json, b"{\"name\": ").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(parse::<Thing>(Format::Json, b"").is_err());
    }

    #[test]
    fn content_types() {
        let mut headers = HeaderMap::new();
        assert_eq!(Format::of(&headers).unwrap(), Format::Json);
        headers.insert(
            header::CONTENT_TYPE,
            "application/yaml; charset=utf-8".parse().unwrap(),
        );
        assert_eq!(Format::of(&headers).unwrap(), Format::Yaml);
        headers.insert(header::CONTENT_TYPE, "text/html".parse().unwrap());
        assert_eq!(
            Format::of(&headers).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
