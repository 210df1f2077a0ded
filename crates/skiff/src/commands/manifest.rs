//! Loading compose files named on the command line, as `skiff validate` and `skiff apply` both
//! do: the same options, the same defaults, the same diagnostics.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use skiff_api::{AppSpec, PayloadSource, PayloadSpec};
use skiff_manifest::{Diagnostic, Diagnostics, Loaded, Options, Severity};

use crate::fs_loader::FsLoader;

/// The files Compose looks for when no `-f` is given, in its order of preference.
const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// The arguments that say which files make the app (the environment is each command's own:
/// `apply` also reads `SKIFF_ENV`).
#[derive(clap::Args, Debug)]
pub struct ManifestArgs {
    /// A compose file; repeat to merge several in order [default: compose.yaml, compose.yml,
    /// docker-compose.yaml or docker-compose.yml in the current directory].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A file of `VAR=value` lines for interpolation; repeatable [default: .env in the project
    /// directory, if it exists].
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<PathBuf>,
    /// The app's name, instead of `name:` or the project directory's name.
    #[arg(short = 'p', long, value_name = "NAME")]
    project_name: Option<String>,
    /// The directory relative paths are resolved against [default: the first file's].
    #[arg(long, value_name = "DIR")]
    project_directory: Option<PathBuf>,
    /// Enable the services of this Compose profile; repeatable.
    #[arg(long = "profile", value_name = "PROFILE")]
    profiles: Vec<String>,
}

impl ManifestArgs {
    /// Whether files were named with `-f`.
    pub fn has_files(&self) -> bool {
        !self.files.is_empty()
    }
}

/// Loads the app for `environment`. On success the warnings are printed on stderr; when the
/// files are refused, every problem is printed (one per line, then the tally) and the answer is
/// `None`: the command exits 1.
pub fn load(args: &ManifestArgs, environment: &str) -> anyhow::Result<Option<Loaded>> {
    let options = options(args, environment)?;
    let loader = FsLoader::new(options.limits.max_bytes);
    let loaded = match skiff_manifest::load(&options, &loader) {
        Ok(loaded) => loaded,
        Err(diags) => {
            report_load_failure(diags);
            return Ok(None);
        }
    };
    // The manifest crate does no I/O, so whether the payload files are there is checked here.
    let unreadable = unreadable_payload_files(&loaded.spec);
    if !unreadable.is_empty() {
        report_failure(&loaded.warnings, &unreadable);
        return Ok(None);
    }
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    Ok(Some(loaded))
}

/// The library's options from the command line and the process environment.
fn options(args: &ManifestArgs, environment: &str) -> anyhow::Result<Options> {
    let files = if args.files.is_empty() {
        vec![default_file(args.project_directory.as_deref())?]
    } else {
        args.files.clone()
    };
    // The manifest crate cannot know the current directory, so every path it gets is made
    // absolute here: each file has one identity (an include cycle through `-f a.yaml` is seen at
    // once), secrets' `file:`s come out absolute, and the project gets its directory's name.
    // Diagnostics still name files relative to the current directory.
    let dir = args
        .project_directory
        .as_deref()
        .unwrap_or_else(|| files[0].parent().unwrap_or(Path::new("")));
    let files = files
        .iter()
        .map(|f| absolute(f))
        .collect::<Result<Vec<_>, _>>()?;
    let mut options = Options::new(files);
    options.display_dir = Some(absolute(Path::new("."))?);
    options.project_dir = Some(absolute(dir)?);
    options.env_files = args
        .env_files
        .iter()
        .map(|f| absolute(f))
        .collect::<Result<_, _>>()?;
    environment.clone_into(&mut options.environment);
    options.process_env = process_env();
    options.project_name = args.project_name.clone();
    options.profiles = args.profiles.clone();
    Ok(options)
}

/// `path` from the root, as Compose resolves it (lexically: symlinks are kept).
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::path::absolute(path)
        .with_context(|| format!("resolving {} against the current directory", path.display()))
}

/// The first of Compose's default file names that exists in `dir` (the current directory when
/// `None`), named as the operator would name it so that diagnostics read `compose.yaml:3:5`.
fn default_file(dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let named = |f: &str| dir.map_or_else(|| PathBuf::from(f), |d| d.join(f));
    DEFAULT_FILES
        .iter()
        .map(|f| named(f))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no compose file: none of {} is in {}; name one with -f",
                DEFAULT_FILES.join(", "),
                dir.map_or_else(
                    || "the current directory".into(),
                    |d| d.display().to_string()
                )
            )
        })
}

/// The process environment for interpolation. Variables that are not UTF-8 cannot appear in a
/// UTF-8 manifest, so they are left out rather than failing the whole command.
fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// A failed load's diagnostics, in file order, then the tally.
fn report_load_failure(mut diags: Diagnostics) {
    // A refusal without an error would read "0 errors" next to exit code 1.
    let extra = if diags.has_errors() {
        Vec::new()
    } else {
        vec!["error: the manifest was refused without a reason; please report this".to_owned()]
    };
    diags.sort();
    report_failure(&diags.into_vec(), &extra);
}

/// Every diagnostic and extra error line on stderr, one per line, then the tally.
fn report_failure(diags: &[Diagnostic], extra_errors: &[String]) {
    for d in diags {
        eprintln!("{d}");
    }
    for e in extra_errors {
        eprintln!("{e}");
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count()
        + extra_errors.len();
    let warnings = diags.len() + extra_errors.len() - errors;
    eprintln!("{}, {}", count(errors, "error"), count(warnings, "warning"));
}

/// One error line for each secret or config whose `file:` is not a readable regular file.
fn unreadable_payload_files(spec: &AppSpec) -> Vec<String> {
    let secrets = spec.secrets.iter().map(|(n, p)| ("secrets", n, p));
    let configs = spec.configs.iter().map(|(n, p)| ("configs", n, p));
    secrets
        .chain(configs)
        .filter_map(|(kind, name, payload)| {
            let why = payload_file_problem(payload)?;
            Some(format!("error: {kind}.{name}: {why}"))
        })
        .collect()
}

/// Why the payload's file cannot be read at apply time, if it is a file and it cannot.
fn payload_file_problem(payload: &PayloadSpec) -> Option<String> {
    let PayloadSource::File(path) = &payload.source else {
        return None;
    };
    // `metadata` before `open`: opening a FIFO would block until someone writes to it.
    let problem = match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_owned(),
        Err(e) => format!("cannot be read: {e}"),
        Ok(meta) if !meta.is_file() => "is not a regular file".to_owned(),
        Ok(_) => match std::fs::File::open(path) {
            Ok(_) => return None,
            Err(e) => format!("cannot be read: {e}"),
        },
    };
    Some(format!("file {path} {problem}"))
}

/// `1 service`, `2 services`, `0 services`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> AppSpec {
        serde_json::from_value(json).unwrap()
    }

    fn payload(path: &Path) -> serde_json::Value {
        serde_json::json!({"name": "x", "source": {"file": path.to_str().unwrap()}})
    }

    fn parse(args: &[&str]) -> ManifestArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: ManifestArgs,
        }
        let argv = std::iter::once("validate").chain(args.iter().copied());
        <Cli as clap::Parser>::parse_from(argv).args
    }

    #[test]
    fn paths_the_manifest_crate_resolves_against_are_absolute() {
        let cwd = std::env::current_dir().unwrap();
        let args = parse(&["-f", "app/compose.yaml", "--env-file", "a.env"]);
        let o = options(&args, "dev").unwrap();
        assert_eq!(o.files, [cwd.join("app/compose.yaml")]);
        assert_eq!(o.display_dir, Some(cwd.clone()));
        assert_eq!(o.project_dir, Some(cwd.join("app")));
        assert_eq!(o.env_files, [cwd.join("a.env")]);
        let o = options(&parse(&["-f", "compose.yaml"]), "prod").unwrap();
        assert_eq!(o.project_dir, Some(cwd.clone()));
        assert_eq!(o.environment, "prod");
        let args = parse(&["-f", "x.yaml", "--project-directory", "/srv/shop"]);
        let o = options(&args, "dev").unwrap();
        assert_eq!(o.project_dir, Some(PathBuf::from("/srv/shop")));
    }

    #[test]
    fn payload_files_must_be_readable_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("db_password.txt");
        std::fs::write(&present, "placeholder\n").unwrap();
        let missing = dir.path().join("missing.txt");
        let app = spec(serde_json::json!({
            "name": "a", "environment": "dev", "services": {},
            "secrets": {"ok": payload(&present), "gone": payload(&missing),
                        "env": {"name": "a_env", "source": {"environment": "TOKEN"}}},
            "configs": {"dir": payload(dir.path())},
        }));
        assert_eq!(
            unreadable_payload_files(&app),
            [
                format!(
                    "error: secrets.gone: file {} does not exist",
                    missing.display()
                ),
                format!(
                    "error: configs.dir: file {} is not a regular file",
                    dir.path().display()
                ),
            ]
        );
    }

    #[test]
    fn without_a_compose_file_the_error_names_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let err = default_file(Some(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("compose.yaml, compose.yml, docker-compose.yaml"),
            "{err}"
        );
        std::fs::write(dir.path().join("docker-compose.yml"), "").unwrap();
        std::fs::write(dir.path().join("compose.yml"), "").unwrap();
        assert_eq!(
            default_file(Some(dir.path())).unwrap(),
            dir.path().join("compose.yml")
        );
    }
}
