//! `skiff validate` run as a process: every example in manifests/ validates, every file in
//! manifests/invalid/ fails with the diagnostics its `.expected` file lists, and the printed app
//! reads back into an `AppSpec`. This is how CI checks the examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use skiff_api::{AppSpec, ServiceMode};

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

/// `skiff validate ARGS` in `dir`, with an empty process environment so that interpolation sees
/// only the `.env` files and what a test sets on purpose.
fn validate(dir: &Path, args: &[&str]) -> Output {
    validate_with_env(dir, args, &[])
}

fn validate_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .arg("validate")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run skiff")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The app printed by `-o json`, after checking the run succeeded.
fn app(out: &Output) -> AppSpec {
    assert!(out.status.success(), "skiff failed:\n{}", stderr(out));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("-o json is not an AppSpec: {e}\n{}", stdout(out)))
}

fn replicas(app: &AppSpec, service: &str) -> u32 {
    match app.services[service].deploy.mode {
        ServiceMode::Replicated { replicas } => replicas,
        ServiceMode::Global => panic!("{service} is global"),
    }
}

/// The example apps: every directory of manifests/ with a compose.yaml.
fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(manifests())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("compose.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 4, "examples went missing: {dirs:?}");
    dirs
}

/// The environments an example defines under `x-skiff.environments`, or the default one.
fn environments(dir: &Path) -> Vec<Option<String>> {
    let text = std::fs::read_to_string(dir.join("compose.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let names: Vec<Option<String>> = doc
        .get("x-skiff")
        .and_then(|x| x.get("environments"))
        .and_then(|e| e.as_mapping())
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str())
                .map(|k| Some(k.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        vec![None]
    } else {
        names
    }
}

#[test]
fn every_example_validates_in_each_of_its_environments() {
    let mut failures = Vec::new();
    for dir in examples() {
        for env in environments(&dir) {
            // No -f: the default file discovery is exercised at the same time.
            let args: Vec<&str> = env.iter().flat_map(|e| ["--env", e.as_str()]).collect();
            let out = validate(&dir, &args);
            let summary = stdout(&out);
            let env_ok = env
                .as_ref()
                .is_none_or(|e| summary.contains(&format!("(environment {e})")));
            if !out.status.success() || !summary.trim_end().ends_with("— valid") || !env_ok {
                failures.push(format!(
                    "{} {env:?}:\n{summary}{}",
                    dir.display(),
                    stderr(&out)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_example_prints_json_and_yaml_that_read_back_as_the_same_app() {
    for dir in examples() {
        for env in environments(&dir) {
            let env_args: Vec<&str> = env.iter().flat_map(|e| ["--env", e.as_str()]).collect();
            let json = app(&validate(&dir, &[&env_args[..], &["-o", "json"]].concat()));
            let out = validate(&dir, &[&env_args[..], &["-o", "yaml"]].concat());
            assert!(out.status.success(), "{}", stderr(&out));
            let yaml: AppSpec = serde_yaml::from_slice(&out.stdout).unwrap();
            assert_eq!(json, yaml, "{}", dir.display());
            assert!(!json.services.is_empty(), "{}", dir.display());
        }
    }
}

/// The `.expected` lines of an invalid manifest: `#` lines are comments.
fn expected_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (every invalid file needs one)", path.display()));
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Why an invalid manifest's run is not as expected, if it is not.
fn check_invalid(dir: &Path, name: &str) -> Option<String> {
    let out = validate(dir, &["-f", name]);
    let err = stderr(&out);
    let mut wrong = Vec::new();
    if out.status.code() != Some(1) {
        wrong.push(format!("exit code {:?}, expected 1", out.status.code()));
    }
    let expected = dir.join(name).with_extension("expected");
    for line in expected_lines(&expected) {
        if !err.contains(&line) {
            wrong.push(format!("missing: {line}"));
        }
    }
    let tally = err.lines().last().unwrap_or_default();
    if !tally.contains(" error") || tally.starts_with("0 errors") {
        wrong.push(format!("last line is not an error tally: {tally}"));
    }
    (!wrong.is_empty()).then(|| format!("{name}: {}\n--- stderr:\n{err}", wrong.join("; ")))
}

#[test]
fn every_invalid_manifest_fails_with_its_expected_diagnostics() {
    let dir = manifests().join("invalid");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "invalid examples went missing: {names:?}");
    let failures: Vec<String> = names
        .iter()
        .filter_map(|n| check_invalid(&dir, n))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn environments_override_the_base_and_the_process_env_wins_over_dot_env() {
    let dir = manifests().join("multi-env");
    let expect = [
        ("dev", 1, 1, "debug"),
        ("qa", 2, 2, "info"),
        ("prod", 5, 3, "warn"),
    ];
    for (env, web, api, log_level) in expect {
        let app = app(&validate(&dir, &["--env", env, "-o", "json"]));
        assert_eq!(app.environment, env);
        assert_eq!(
            (replicas(&app, "web"), replicas(&app, "api")),
            (web, api),
            "{env}"
        );
        assert_eq!(
            app.services["web"].environment["LOG_LEVEL"], log_level,
            "{env}"
        );
        assert_eq!(
            app.services["web"].image,
            "ghcr.io/example/storefront-web:2.3.1"
        );
    }
    let out = validate_with_env(&dir, &["-o", "json"], &[("APP_TAG", "9.9.9")]);
    assert_eq!(
        app(&out).services["api"].image,
        "ghcr.io/example/storefront-api:9.9.9"
    );
}

#[test]
fn profiles_enable_their_services() {
    let dir = manifests().join("multi-env");
    let without = app(&validate(&dir, &["-o", "json"]));
    assert!(!without.services.contains_key("mailpit"));
    let with = app(&validate(&dir, &["--profile", "debug", "-o", "json"]));
    assert!(with.services.contains_key("mailpit"));
}

#[test]
fn files_merge_in_order_and_flags_reach_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write(
        "base.yaml",
        "services:\n  app:\n    image: nginx:${TAG:-none}\n",
    );
    write(
        "more.yaml",
        "services:\n  app:\n    deploy:\n      replicas: 4\n",
    );
    write("tags.env", "TAG=1.27-alpine\n");
    let args = [
        "-f",
        "base.yaml",
        "-f",
        "more.yaml",
        "--env-file",
        "tags.env",
        "--project-name",
        "merged",
        "-o",
        "json",
    ];
    let app = app(&validate(dir.path(), &args));
    assert_eq!(app.name, "merged");
    assert_eq!(app.services["app"].image, "nginx:1.27-alpine");
    assert_eq!(replicas(&app, "app"), 4);
}

#[test]
fn a_missing_secret_file_is_an_error_naming_the_secret_and_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let compose = "services:\n  app:\n    image: busybox:1.36\n    secrets: [token]\n\
                   secrets:\n  token:\n    file: ./token.txt\n";
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let out = validate(dir.path(), &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: secrets.token: file "), "{err}");
    assert!(err.contains("token.txt does not exist"), "{err}");
    assert!(err.trim_end().ends_with("1 error, 0 warnings"), "{err}");

    std::fs::write(dir.path().join("token.txt"), "placeholder\n").unwrap();
    let out = validate(dir.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn warnings_do_not_fail_validation() {
    let dir = tempfile::tempdir().unwrap();
    let compose = "version: \"3.8\"\nservices:\n  app:\n    image: busybox:1.36\n";
    std::fs::write(dir.path().join("compose.yaml"), compose).unwrap();
    let out = validate(dir.path(), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("compose.yaml:1:1: warning: version"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut big = String::from("services: {}\n");
    big.push_str(&"#".repeat(9 << 20));
    std::fs::write(dir.path().join("compose.yaml"), big).unwrap();
    let out = validate(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("at most 8388608 bytes"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_a_compose_file_the_defaults_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = validate(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no compose file: none of compose.yaml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = validate(&manifests(), &["-o", "xml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
