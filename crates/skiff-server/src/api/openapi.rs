//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of this API, generated from the code.
//!
//! Every route is registered through `utoipa_axum::routes!` from its handler's
//! `#[utoipa::path]` (see [`super::routes`]), so a route cannot be served without being in the
//! document, and the path, method and parameters in the document are the ones the router uses.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use skiff_api::v1::ErrorBody;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

/// The document's fixed parts; the paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Skiff API",
        description = "Skiff's control-plane HTTP API. docs/api.md is the reference: \
                       authentication and roles, consistency (linearizable reads unless \
                       `stale=true`), conditional writes and every error code.",
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "envs", description = "Environments: dev, qa, prod, …"),
        (name = "apps", description = "Applying, reading and deleting apps"),
        (name = "services", description = "The services of applied apps"),
        (name = "tasks", description = "Task instances of services"),
        (name = "nodes", description = "The machines agents run on"),
        (name = "configs", description = "Payloads delivered to containers"),
        (name = "secrets", description = "Payloads sealed at rest, delivered to the containers \
                                          that declare them, never read back"),
        (name = "tokens", description = "API tokens"),
        (name = "cluster", description = "Servers and membership"),
        (name = "events", description = "The watch stream"),
        (name = "meta", description = "Health and this document"),
    ),
)]
struct ApiDoc;

/// Declares the `Authorization: Bearer skiff.ID.SECRET` scheme.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("skiff.ID.SECRET".to_owned());
        http.description =
            Some("A token from `POST /v1/tokens` (or the bootstrap admin.token file)".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// The whole document: the fixed parts and every route's operation.
pub fn document() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::routes().into_openapi());
    doc
}

/// The document as served, built once.
static SERVED: LazyLock<String> = LazyLock::new(|| {
    document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// `GET /v1/openapi.json` (no token needed).
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        SERVED.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract's routes (docs/api.md); each must be in the document with its method.
    const CONTRACT: &[(&str, &str)] = &[
        ("/healthz", "get"),
        ("/readyz", "get"),
        ("/v1/openapi.json", "get"),
        ("/v1/envs", "get"),
        ("/v1/envs", "post"),
        ("/v1/envs/{env}", "get"),
        ("/v1/envs/{env}", "delete"),
        ("/v1/envs/{env}/apps", "get"),
        ("/v1/envs/{env}/apps", "post"),
        ("/v1/envs/{env}/apps/{app}", "get"),
        ("/v1/envs/{env}/apps/{app}", "delete"),
        ("/v1/envs/{env}/apps/{app}/history", "get"),
        ("/v1/envs/{env}/apps/{app}/rollback", "post"),
        ("/v1/envs/{env}/services", "get"),
        ("/v1/envs/{env}/apps/{app}/services/{svc}", "get"),
        ("/v1/envs/{env}/apps/{app}/services/{svc}/scale", "post"),
        ("/v1/envs/{env}/configs", "get"),
        ("/v1/envs/{env}/configs/{name}", "get"),
        ("/v1/envs/{env}/configs/{name}", "put"),
        ("/v1/envs/{env}/configs/{name}", "delete"),
        ("/v1/envs/{env}/secrets", "get"),
        ("/v1/envs/{env}/secrets/{name}", "get"),
        ("/v1/envs/{env}/secrets/{name}", "put"),
        ("/v1/envs/{env}/secrets/{name}", "delete"),
        ("/v1/tasks", "get"),
        ("/v1/tasks/{id}", "get"),
        ("/v1/tasks/{id}/logs", "get"),
        ("/v1/tasks/{id}/exec", "post"),
        ("/v1/nodes", "get"),
        ("/v1/nodes/{id}", "get"),
        ("/v1/nodes/{id}", "patch"),
        ("/v1/events", "get"),
        ("/v1/tokens", "get"),
        ("/v1/tokens", "post"),
        ("/v1/tokens/{id}", "delete"),
        ("/v1/cluster", "get"),
        ("/v1/cluster/members", "post"),
        ("/v1/cluster/members/{id}", "delete"),
        ("/v1/cluster/snapshot", "get"),
    ];

    fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                ops.push((path.clone(), method.clone()));
            }
        }
        ops.sort();
        ops
    }

    #[test]
    fn the_document_has_exactly_the_contract_routes() {
        let doc: serde_json::Value = serde_json::from_str(&SERVED).unwrap();
        let mut contract: Vec<(String, String)> = CONTRACT
            .iter()
            .map(|(p, m)| (p.to_string(), m.to_string()))
            .collect();
        contract.sort();
        assert_eq!(operations(&doc), contract);
    }

    #[test]
    fn every_operation_is_described_and_secured_unless_public() {
        let doc: serde_json::Value = serde_json::from_str(&SERVED).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        for (path, method) in operations(&doc) {
            let op = &doc["paths"][&path][&method];
            assert!(op["responses"]["200"].is_object() || op["responses"]["201"].is_object());
            assert!(op["tags"].is_array(), "{method} {path} has no tag");
            let public = ["/healthz", "/readyz", "/v1/openapi.json"].contains(&path.as_str());
            assert_eq!(
                op["security"] == serde_json::json!([{}]),
                public,
                "{method} {path}: only health and this document need no token"
            );
            if !public {
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
            }
        }
        // Referenced schemas exist.
        let text = SERVED.as_str();
        for schema in [
            "List",
            "Record",
            "ApplyResult",
            "AppDiff",
            "Event",
            "WriteResult",
        ] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema}");
        }
        assert!(
            !text.contains("#/components/schemas/Value"),
            "a free-form value is unnamed"
        );
    }
}
