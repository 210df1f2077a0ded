//! `skiff secret|config create|ls|rm` as an operator runs them, against a real `skiff server
//! --bootstrap` process on 127.0.0.1: created from a file, listed without their payloads,
//! refused with a message naming what to fix, removed.

mod server_process;

use server_process::{failed, ok, ServerProcess};

#[test]
fn secrets_and_configs_are_created_listed_and_removed() {
    let server = ServerProcess::bootstrap();
    ok(&server.skiff(&["env", "create", "dev"]));
    ok(&server.skiff(&["env", "create", "prod"]));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pw.txt");
    std::fs::write(&file, "cli-plaintext-4242").unwrap();
    let file = file.to_str().unwrap();

    let created = ok(&server.skiff(&["secret", "create", "db-pw", file, "--label", "team=shop"]));
    assert!(
        created.starts_with("created secret dev/db-pw (revision "),
        "{created}"
    );
    ok(&server.skiff(&["secret", "create", "--env", "prod", "db-pw", file]));
    ok(&server.skiff(&["config", "create", "site", file]));

    let table = ok(&server.skiff(&["secret", "ls"]));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "SIZE", "LABELS", "REVISION"], "{table}");
    assert_eq!(rows[1][..3], ["db-pw", "18", "team=shop"], "{table}");
    assert_eq!(rows.len(), 2, "{table}");
    for format in ["json", "yaml"] {
        let out = ok(&server.skiff(&["secret", "ls", "-o", format]));
        assert!(out.contains("db-pw"), "{out}");
        assert!(!out.contains("cli-plaintext"), "{out}");
        assert!(!out.contains("ciphertext"), "{out}");
    }
    let configs = ok(&server.skiff(&["config", "ls"]));
    assert!(
        configs.lines().nth(1).unwrap().starts_with("site "),
        "{configs}"
    );

    // What cannot be: a second create, a missing file, a bad name, an unknown environment.
    let again = failed(&server.skiff(&["secret", "create", "db-pw", file]));
    assert!(again.contains("/secrets/dev/db-pw"), "{again}");
    let missing = failed(&server.skiff(&["secret", "create", "x", "/no/such/file"]));
    assert!(missing.contains("reading /no/such/file"), "{missing}");
    let bad = failed(&server.skiff(&["secret", "create", "Bad_Name", file]));
    assert!(bad.contains("secret name \"Bad_Name\""), "{bad}");
    let env = failed(&server.skiff(&["secret", "create", "--env", "qa", "x", file]));
    assert!(env.contains("qa"), "{env}");

    let removed = ok(&server.skiff(&["secret", "rm", "db-pw"]));
    assert!(
        removed.starts_with("removed secret dev/db-pw (revision "),
        "{removed}"
    );
    let gone = failed(&server.skiff(&["secret", "rm", "db-pw"]));
    assert!(gone.contains("/secrets/dev/db-pw"), "{gone}");
    assert_eq!(ok(&server.skiff(&["secret", "ls"])).lines().count(), 1);
    let prod = ok(&server.skiff(&["secret", "ls", "--env", "prod"]));
    assert!(prod.contains("db-pw"), "{prod}");
    ok(&server.skiff(&["config", "rm", "site"]));
}
