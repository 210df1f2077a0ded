//! Secrets and configs end to end (root): `skiff dev` (a control plane and an agent with the
//! real engine) in a network namespace this test makes. A secret created with `skiff secret
//! create` is readable, with its mode, at /run/secrets/NAME in the container of the service
//! that declares it and nowhere else; the API never shows it; no file under the data
//! directory holds it (the control plane's sled files hold ciphertext; the container's copy
//! lives on a tmpfs); a task whose secret is missing does not start and says which; removing
//! the app leaves no staged files nor mounts behind.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::dev::{container_ids, text, DevCluster};
use support::mounts_under;

/// The secret's payload: unique enough that finding it anywhere is a leak.
const PLAINTEXT: &str = "pw-7f3c9a1e-secret-payload";
const CONFIG: &str = "listen = 8080\n";

const APP: &str = "name: shop
services:
  web:
    image: test:latest
    command: [\"sleep\", \"1000\"]
    secrets:
      - source: api-token
        mode: 0440
        uid: \"1000\"
        gid: \"1001\"
    configs:
      - source: app-conf
        target: /etc/app.conf
  other:
    image: test:latest
    command: [\"sleep\", \"1000\"]
  broken:
    image: test:latest
    command: [\"sleep\", \"1000\"]
    secrets: [not-created]
secrets:
  api-token: {external: true}
  not-created: {external: true}
configs:
  app-conf: {external: true}
";

/// Every regular file under `dir`, but for those under a mount point in `skip`.
fn files_on_disk(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if skip.iter().any(|m| path.starts_with(m)) {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => files_on_disk(&path, skip, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    // Mounted file systems (the containers' root file systems, the staged-files tmpfs) are
    // not the disk; everything else under the data directory is.
    let skip = mounts_under(dir);
    let mut files = Vec::new();
    files_on_disk(dir, &skip, &mut files);
    assert!(
        files.len() > 10,
        "the data directory holds files: {files:?}"
    );
    files
        .into_iter()
        .filter(|f| {
            std::fs::read(f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

#[test]
fn a_secret_reaches_only_its_declaring_container_and_never_the_disk_or_the_api() {
    let started = Instant::now();
    let dev = DevCluster::start("sktsec", None);
    dev.eventually(&["get", "envs"], |_| true);
    let _ = dev.skiff(&["env", "create", "dev"]);
    let secret_file = dev.dir.path().join("token.txt");
    std::fs::write(&secret_file, PLAINTEXT).unwrap();
    let created = dev.ok(&[
        "secret",
        "create",
        "api-token",
        secret_file.to_str().unwrap(),
    ]);
    assert!(
        created.starts_with("created secret dev/api-token"),
        "{created}"
    );
    std::fs::remove_file(&secret_file).unwrap();
    // From standard input too; and a second create of the same name is refused.
    let mut config = dev
        .command(&["config", "create", "app-conf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    config
        .stdin
        .take()
        .unwrap()
        .write_all(CONFIG.as_bytes())
        .unwrap();
    let config = config.wait_with_output().unwrap();
    assert!(config.status.success(), "{config:?}");
    let again = dev.skiff(&["config", "create", "app-conf", "-"]);
    assert!(!again.status.success(), "{again:?}");

    let compose = dev.dir.path().join("compose.yaml");
    std::fs::write(&compose, APP).unwrap();
    dev.ok(&["apply", "-f", compose.to_str().unwrap(), "--detach"]);

    // The declaring container reads it, with the mode, owner and group asked for.
    let cat = dev.eventually(
        &["exec", "web", "--", "cat", "/run/secrets/api-token"],
        |_| true,
    );
    assert_eq!(text(&cat.stdout), PLAINTEXT);
    let stat = dev.ok(&[
        "exec",
        "web",
        "--",
        "stat",
        "-c",
        "%a %u %g",
        "/run/secrets/api-token",
    ]);
    assert_eq!(stat.trim(), "440 1000 1001");
    let conf = dev.ok(&["exec", "web", "--", "cat", "/etc/app.conf"]);
    assert_eq!(conf, CONFIG);
    let write = dev.skiff(&[
        "exec",
        "web",
        "--",
        "sh",
        "-c",
        "echo x > /run/secrets/api-token",
    ]);
    assert!(!write.status.success(), "secrets are read-only: {write:?}");
    // The other service's container has no /run/secrets at all.
    dev.eventually(&["exec", "other", "--", "true"], |_| true);
    let none = dev.skiff(&["exec", "other", "--", "cat", "/run/secrets/api-token"]);
    assert!(!none.status.success(), "{none:?}");
    assert!(text(&none.stderr).contains("No such file"), "{none:?}");
    let dir = dev.skiff(&["exec", "other", "--", "test", "-e", "/run/secrets"]);
    assert_eq!(dir.status.code(), Some(1), "{dir:?}");

    // The task whose secret was never created does not start, and says which is missing.
    let ps = dev.eventually(&["ps"], |out| {
        text(&out.stdout)
            .lines()
            .any(|l| l.contains("broken") && l.contains("secret \"not-created\" (the app's"))
    });
    let broken = text(&ps.stdout)
        .lines()
        .find(|l| l.contains("\"not-created\""))
        .unwrap()
        .to_owned();
    assert!(broken.contains(" failed "), "{broken}");
    assert!(
        broken.contains("skiff secret create --env dev not-created FILE"),
        "{broken}"
    );
    // Once the secret exists, a retry of the task starts with it.
    let late = dev.dir.path().join("late.txt");
    std::fs::write(&late, "late-secret").unwrap();
    dev.ok(&["secret", "create", "not-created", late.to_str().unwrap()]);
    std::fs::remove_file(&late).unwrap();
    let cat = dev.eventually(
        &["exec", "broken", "--", "cat", "/run/secrets/not-created"],
        |_| true,
    );
    assert_eq!(text(&cat.stdout), "late-secret");

    // The API shows its name and size, never the payload nor the ciphertext.
    let ls = dev.ok(&["secret", "ls"]);
    assert!(ls.contains("api-token"), "{ls}");
    let json = dev.ok(&["secret", "ls", "-o", "json"]);
    assert!(
        json.contains(&format!("\"size\": {}", PLAINTEXT.len())),
        "{json}"
    );
    assert!(!json.contains("ciphertext"), "{json}");
    for output in [&ls, &json, &dev.ok(&["get", "apps", "-o", "json"])] {
        assert!(!output.contains(PLAINTEXT), "{output}");
    }

    // On disk: neither the control plane's files nor the engine's hold the plaintext.
    let leaks = holding(&dev.data_dir(), PLAINTEXT.as_bytes());
    assert!(leaks.is_empty(), "the plaintext is on disk in {leaks:?}");
    let staged: Vec<_> = mounts_under(&dev.engine_dir())
        .into_iter()
        .filter(|m| m.ends_with("files"))
        .collect();
    assert_eq!(
        staged.len(),
        2,
        "one tmpfs each for web's and broken's containers: {staged:?}"
    );

    // Removing the app removes the containers, their tmpfs and the files with them.
    let rm = dev.ok(&["secret", "rm", "api-token"]);
    assert!(rm.starts_with("removed secret dev/api-token"), "{rm}");
    dev.ok(&["rm", "shop"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !container_ids(&dev.engine_dir()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "containers left: {:?}",
            container_ids(&dev.engine_dir())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let left: Vec<_> = mounts_under(&dev.engine_dir())
        .into_iter()
        .filter(|m| m.ends_with("files"))
        .collect();
    assert!(left.is_empty(), "staged files still mounted: {left:?}");
    let leaks = holding(&dev.data_dir(), PLAINTEXT.as_bytes());
    assert!(leaks.is_empty(), "the plaintext is on disk in {leaks:?}");
    assert!(
        !dev.log().contains(PLAINTEXT),
        "skiff dev logged the secret"
    );
    eprintln!("took {:?}", started.elapsed());
}
