//! OpenAPI schemas (utoipa) for the objects the HTTP API carries, behind the `openapi` feature
//! so that only the server, which serves the document, compiles them.
//!
//! Keys and names travel as strings; stored objects (an app's whole spec among them) are
//! described as JSON objects tagged by kind rather than field by field.

use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::objects::{AppRevision, Key, Name, Object};

fn string(description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .description(Some(description))
        .examples([serde_json::json!(example)])
        .into()
}

fn object(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::Object))
        .description(Some(description))
        .into()
}

impl PartialSchema for Key {
    fn schema() -> RefOr<Schema> {
        string(
            "A key: /envs/{env}, /apps/{env}/{app}, /services/{env}/{app}/{svc}, /tasks/{id}, \
             /nodes/{id}, /secrets/{env}/{name}, /configs/{env}/{name} or /tokens/{id}",
            "/apps/dev/shop",
        )
    }
}
impl ToSchema for Key {}

impl PartialSchema for Name {
    fn schema() -> RefOr<Schema> {
        string(
            "A DNS label: 1 to 63 of a-z, 0-9 and -, not starting or ending with -",
            "dev",
        )
    }
}
impl ToSchema for Name {}

impl PartialSchema for Object {
    fn schema() -> RefOr<Schema> {
        object(
            "A stored object, tagged by kind: {\"environment\": {...}}, {\"app\": {...}}, \
             {\"service\": {...}}, {\"task\": {...}}, {\"node\": {...}}, {\"secret\": {...}}, \
             {\"config\": {...}} or {\"token\": {...}} (docs/control-plane.md)",
        )
    }
}
impl ToSchema for Object {}

impl PartialSchema for AppRevision {
    fn schema() -> RefOr<Schema> {
        object("An app's spec at one spec revision: {\"spec_revision\": n, \"spec\": AppSpec}")
    }
}
impl ToSchema for AppRevision {}
