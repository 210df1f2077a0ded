//! An app manifest as posted to `POST /v1/envs/{env}/apps`: a normalized `AppSpec` as JSON
//! (what the CLI sends after loading the files locally) or one compose file as YAML, loaded
//! here by skiff-manifest. Every problem comes back at once, located, in one 400
//! `invalid_manifest`.

use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use skiff_api::AppSpec;
use skiff_core::{Name, NameError};
use skiff_manifest::{Diagnostic, MemoryLoader, Options, Severity};

use super::body::Format;
use super::error::ApiError;

/// The name a posted file has in locations (`request body:3:5`).
pub const BODY_FILE: &str = "request body";

/// One problem with a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Where: `request body:LINE:COLUMN`, or `request body` when the problem is about the whole
    /// document or its position is not known.
    pub location: String,
    /// The key path, e.g. `services.web.deploy.replicas` (empty for the document itself).
    pub field: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl Problem {
    fn at(
        line: usize,
        column: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let location = if line > 0 {
            format!("{BODY_FILE}:{line}:{column}")
        } else {
            BODY_FILE.to_owned()
        };
        Self {
            location,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A problem about the whole document (or whose position is not known).
    pub fn whole(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::at(0, 0, field, message)
    }

    fn from_diagnostic(d: &Diagnostic) -> Self {
        let location = if d.line > 0 {
            format!("{}:{}:{}", d.file, d.line, d.column)
        } else {
            d.file.clone()
        };
        Self {
            location,
            field: d.path.clone(),
            message: d.message.clone(),
        }
    }
}

/// The 400 `invalid_manifest` answer listing `problems`.
pub fn invalid_manifest(problems: Vec<Problem>) -> ApiError {
    let first = problems
        .first()
        .map(|p| match p.field.as_str() {
            "" => format!("{}: {}", p.location, p.message),
            field => format!("{}: {field}: {}", p.location, p.message),
        })
        .unwrap_or_default();
    let more = match problems.len() {
        0 | 1 => String::new(),
        2 => " (and 1 more problem, in details.problems)".to_owned(),
        n => format!(" (and {} more problems, in details.problems)", n - 1),
    };
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_manifest",
        format!("the manifest is not valid: {first}{more}"),
    )
    .with_details(json!({ "problems": problems }))
}

/// The app a request body describes for environment `env`, or every problem with it.
pub fn load(format: Format, bytes: &[u8], env: &Name) -> Result<AppSpec, Vec<Problem>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![Problem::whole(
            "",
            "the request body is empty; send an AppSpec as JSON or a compose file as YAML",
        )]);
    }
    let spec = match format {
        Format::Json => from_json(bytes)?,
        Format::Yaml => from_yaml(bytes, env)?,
    };
    let problems = check(&spec, env);
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

/// A normalized spec as JSON; a syntax or schema error names its line, column and field.
fn from_json(bytes: &[u8]) -> Result<AppSpec, Vec<Problem>> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        // serde_json's message ends with the position, which the location already gives.
        let text = inner.to_string();
        let suffix = format!(" at line {} column {}", inner.line(), inner.column());
        let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
        vec![Problem::at(inner.line(), inner.column(), field, message)]
    })
}

/// One compose file, loaded as the CLI would for `--env env` but with nothing else to read:
/// no includes, no `.env` or `env_file`, and an empty process environment (the server's own
/// environment must not leak into an app through `${VAR}`).
fn from_yaml(bytes: &[u8], env: &Name) -> Result<AppSpec, Vec<Problem>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        vec![Problem::whole(
            "",
            format!(
                "the body is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )]
    })?;
    let loader = MemoryLoader::new().with(BODY_FILE, text);
    let mut options = Options::new([BODY_FILE]);
    options.environment = env.to_string();
    match skiff_manifest::load(&options, &loader) {
        Ok(loaded) => Ok(loaded.spec),
        Err(mut diags) => {
            diags.sort();
            let mut problems: Vec<Problem> = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| {
                    let mut p = Problem::from_diagnostic(d);
                    if d.file != BODY_FILE && d.message == "no such file" {
                        p.message = format!(
                            "{} cannot be read: a manifest posted to the API is one file, so \
                             includes and env files are not read; apply with the CLI, which \
                             reads them and sends the loaded app",
                            d.file
                        );
                    }
                    p
                })
                .collect();
            if problems.is_empty() {
                problems.push(Problem::whole(
                    "",
                    "the manifest was refused without a reason",
                ));
            }
            Err(problems)
        }
    }
}

/// What `skiff_core::plan::apply_app` would refuse, all at once: a spec for another
/// environment, and app or service names that cannot be key segments.
pub fn check(spec: &AppSpec, env: &Name) -> Vec<Problem> {
    let mut problems = Vec::new();
    if spec.environment != env.as_str() {
        problems.push(Problem::whole(
            "environment",
            format!(
                "the spec is for environment {:?}, but was posted to {env}; post it to \
                 /v1/envs/{}/apps or load it for {env}",
                spec.environment, spec.environment
            ),
        ));
    }
    let bad_name = |field: String, what: &str, name: &str, e: NameError| {
        Problem::whole(field, format!("{what} name {name:?} is not valid: {e}"))
    };
    if let Err(e) = Name::new(&spec.name) {
        problems.push(bad_name("name".into(), "app", &spec.name, e));
    }
    for service in spec.services.keys() {
        if let Err(e) = Name::new(service) {
            problems.push(bad_name(
                format!("services.{service}"),
                "service",
                service,
                e,
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Name {
        Name::new("dev").unwrap()
    }

    const COMPOSE: &str = "name: shop\nservices:\n  web:\n    image: nginx:1\n    \
                           deploy:\n      replicas: 2\nx-skiff:\n  environments:\n    \
                           prod:\n      services:\n        web:\n          deploy:\n            \
                           replicas: 5\n";

    #[test]
    fn yaml_is_loaded_for_the_path_environment() {
        let spec = load(Format::Yaml, COMPOSE.as_bytes(), &dev()).unwrap();
        assert_eq!(spec.name, "shop");
        assert_eq!(spec.environment, "dev");
        let prod = Name::new("prod").unwrap();
        let spec = load(Format::Yaml, COMPOSE.as_bytes(), &prod).unwrap();
        assert_eq!(spec.environment, "prod");
        let mode = spec.services["web"].deploy.mode;
        assert_eq!(
            mode,
            skiff_api::ServiceMode::Replicated { replicas: 5 },
            "the prod override applies"
        );
    }

    #[test]
    fn every_yaml_problem_is_listed_with_its_location() {
        let text = "name: shop\nservices:\n  web:\n    image: nginx\n    deploy:\n      \
                    replica: 2\n  Bad_Name:\n    image: x\n";
        let problems = load(Format::Yaml, text.as_bytes(), &dev()).unwrap_err();
        assert!(problems.len() >= 2, "{problems:?}");
        assert!(problems
            .iter()
            .any(|p| p.location == "request body:6:7" && p.field == "services.web.deploy.replica"));
        assert!(problems.iter().any(|p| p.field == "services.Bad_Name"));
        let e = invalid_manifest(problems.clone());
        assert_eq!(e.code, "invalid_manifest");
        assert_eq!(
            e.details["problems"].as_array().unwrap().len(),
            problems.len()
        );
    }

    #[test]
    fn yaml_syntax_errors_name_line_and_column() {
        let problems = load(Format::Yaml, b"services:\n  web: [\n", &dev()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].location.starts_with("request body:"),
            "{problems:?}"
        );
    }

    #[test]
    fn nothing_is_read_from_outside_the_body() {
        let text = "name: shop\ninclude: [other.yaml]\nservices:\n  web:\n    image: ${HOME}x\n";
        let problems = load(Format::Yaml, text.as_bytes(), &dev()).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .message
                .contains("includes and env files are not read"),
            "{problems:?}"
        );
    }

    #[test]
    fn json_errors_name_line_column_and_field() {
        let problems = load(
            Format::Json,
            b"{\"name\": \"shop\",\n \"services\": 3}",
            &dev(),
        )
        .unwrap_err();
        assert_eq!(problems[0].field, "services");
        assert_eq!(problems[0].location, "request body:2:14");
        assert_eq!(
            problems[0].message,
            "invalid type: integer `3`, expected a map"
        );
        let problems = load(Format::Json, b"{\"name\": ", &dev()).unwrap_err();
        assert!(problems[0].location.starts_with("request body:1:"));
        assert!(load(Format::Json, b"  \n", &dev()).is_err());
    }

    #[test]
    fn json_specs_are_checked_for_environment_and_names() {
        let mut spec = load(Format::Yaml, COMPOSE.as_bytes(), &dev()).unwrap();
        spec.name = "Shop_1".into();
        spec.environment = "prod".into();
        let web = spec.services.remove("web").unwrap();
        spec.services.insert("web_1".into(), web);
        let json = serde_json::to_vec(&spec).unwrap();
        let problems = load(Format::Json, &json, &dev()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["environment", "name", "services.web_1"],
            "{problems:?}"
        );
    }
}
