//! What an apply would change, object by object and field by field: the answer to
//! `?dry_run`, and what the CLI prints.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use skiff_api::{AppSpec, ServiceMode, ServiceSpec};

use crate::objects::{Key, Name};

/// How long a value in a [`FieldChange`] may be before it is shortened.
const VALUE_LEN: usize = 60;

/// What applying an app changes, per stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppDiff {
    /// The environment.
    pub env: Name,
    /// The app.
    pub app: Name,
    /// The app's spec revision before the apply; `None` for a new app.
    pub from_revision: Option<u64>,
    /// The app's spec revision after it (the same when the spec does not change).
    pub to_revision: u64,
    /// The app object first, then its services in name order.
    pub objects: Vec<ObjectDiff>,
}

/// What happens to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ObjectDiff {
    /// The object's key.
    pub key: Key,
    /// Added, changed, removed or unchanged.
    pub change: ChangeKind,
    /// For a change: which fields differ, in field order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
}

/// What happens to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// It is created.
    Added,
    /// It is replaced.
    Changed,
    /// It is deleted.
    Removed,
    /// It stays as it is.
    Unchanged,
}

/// One field that differs, with short renderings of both values (`None`: not set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    /// The field's path: `image`, `deploy.replicas`, `deploy.resources`, …
    pub field: String,
    /// Its value before.
    pub from: Option<String>,
    /// Its value after.
    pub to: Option<String>,
}

impl AppDiff {
    /// Whether the apply changes nothing.
    pub fn is_empty(&self) -> bool {
        self.objects
            .iter()
            .all(|o| o.change == ChangeKind::Unchanged)
    }
}

impl ObjectDiff {
    pub(crate) fn new(key: Key, change: ChangeKind) -> Self {
        Self {
            key,
            change,
            fields: Vec::new(),
        }
    }
}

impl fmt::Display for AppDiff {
    /// `+` added, `~` changed (with its fields), `-` removed, `=` unchanged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (env, app, to) = (&self.env, &self.app, self.to_revision);
        match self.from_revision {
            None => writeln!(f, "app {env}/{app}: new, spec revision {to}")?,
            Some(from) if from != to => {
                writeln!(f, "app {env}/{app}: spec revision {from} → {to}")?
            }
            Some(_) if self.is_empty() => writeln!(
                f,
                "app {env}/{app}: unchanged at spec revision {to}, nothing to do"
            )?,
            Some(_) => writeln!(f, "app {env}/{app}: spec revision {to}")?,
        }
        for object in &self.objects {
            let mark = match object.change {
                ChangeKind::Added => '+',
                ChangeKind::Changed => '~',
                ChangeKind::Removed => '-',
                ChangeKind::Unchanged => '=',
            };
            writeln!(f, "  {mark} {}", object.key)?;
            for field in &object.fields {
                let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".into());
                writeln!(
                    f,
                    "      {}: {} → {}",
                    field.field,
                    show(&field.from),
                    show(&field.to)
                )?;
            }
        }
        Ok(())
    }
}

/// The fields of two service specs that differ, as paths down to the values that changed
/// (`image`, `environment.LOG_LEVEL`, `deploy.resources.reservations.cpus`); lists and values
/// set on one side only are shown whole, and a replica count as `deploy.replicas`.
pub(crate) fn service_fields(old: &ServiceSpec, new: &ServiceSpec) -> Vec<FieldChange> {
    let replicas = match (old.deploy.mode, new.deploy.mode) {
        (ServiceMode::Replicated { replicas: a }, ServiceMode::Replicated { replicas: b }) => {
            Some((a, b))
        }
        _ => None,
    };
    let mut fields = Vec::new();
    walk("", &to_map(old), &to_map(new), replicas, &mut fields);
    fields
}

/// Appends the differences between two JSON objects under `path`; `replicas` is the replica
/// count before and after when the service is replicated on both sides.
fn walk(
    path: &str,
    a: &Map<String, Value>,
    b: &Map<String, Value>,
    replicas: Option<(u32, u32)>,
    out: &mut Vec<FieldChange>,
) {
    for (name, x, y) in differing(a, b, &[]) {
        let path = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        match (x, y, replicas) {
            (_, _, Some((from, to))) if path == "deploy.mode" => out.push(change(
                "deploy.replicas",
                Some(from.to_string()),
                Some(to.to_string()),
            )),
            (Some(Value::Object(x)), Some(Value::Object(y)), _) => walk(&path, x, y, replicas, out),
            _ => out.push(change(&path, x.map(render), y.map(render))),
        }
    }
}

/// The top-level fields of two app specs that differ, other than `services` (each service is
/// an object of its own).
pub(crate) fn app_fields(old: &AppSpec, new: &AppSpec) -> Vec<FieldChange> {
    let (old, new) = (to_map(old), to_map(new));
    differing(&old, &new, &["services"])
        .into_iter()
        .map(|(name, a, b)| change(name, a.map(render), b.map(render)))
        .collect()
}

pub(crate) fn change(field: &str, from: Option<String>, to: Option<String>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        from,
        to,
    }
}

fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        // Specs are structs of plain data: they always serialize to a JSON object.
        _ => Map::new(),
    }
}

/// The keys of `a` and `b` whose values differ (absent on one side counts), in `a`'s order
/// then `b`'s new keys, leaving out `skip`.
fn differing<'a>(
    a: &'a Map<String, Value>,
    b: &'a Map<String, Value>,
    skip: &[&str],
) -> Vec<(&'a str, Option<&'a Value>, Option<&'a Value>)> {
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    keys.filter(|k| !skip.contains(&k.as_str()))
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.as_str(), a.get(k), b.get(k)))
        .collect()
}

/// A value for people: a string as it is, anything else as compact JSON, shortened.
fn render(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match text.char_indices().nth(VALUE_LEN) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}
