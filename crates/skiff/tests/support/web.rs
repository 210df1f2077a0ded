//! Web servers in test containers and fetching from them, for the network tests: each
//! server answers its own name, so a test can tell which backend a connection reached.

use std::collections::BTreeSet;

use super::id_of;
use super::netns::TestHost;

/// Runs a web server answering its own name in a bridge container (no published port).
pub fn web(host: &TestHost, name: &str) -> String {
    let script =
        format!("mkdir -p /www && echo {name} > /www/index.html && exec httpd -f -p 80 -h /www");
    id_of(&host.engine.ok(&[
        "container",
        "run",
        "-d",
        "--network",
        "bridge",
        "--name",
        name,
        "test:latest",
        "sh",
        "-c",
        &script,
    ]))
}

/// A shell command fetching `http://IP:PORT/` with `nc` (busybox wget crashes here).
pub fn http_get(nc: &str, ip: &str, port: u16) -> String {
    format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | {nc} -w 2 {ip} {port} 2>&1")
}

/// Fetches `http://IP:PORT/` from the test host itself: what came back, errors included.
pub fn fetch(host: &TestHost, ip: &str, port: u16) -> String {
    let out = host.sh(&http_get("busybox nc", ip, port));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fetches `http://IP:PORT/` from inside container `name`.
pub fn fetch_in(host: &TestHost, name: &str, ip: &str, port: u16) -> String {
    let out = host.engine.run(&[
        "container",
        "exec",
        name,
        "sh",
        "-c",
        &http_get("nc", ip, port),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fetches with `f` until every one of `want` has answered (at most 60 tries, each backend
/// being picked at random); fails on an answer outside `want`.
pub fn all_answer(what: &str, want: &[&str], mut f: impl FnMut() -> String) {
    let mut seen = BTreeSet::new();
    for _ in 0..60 {
        let got = f();
        let name = want.iter().find(|w| got.contains(**w));
        match name {
            Some(n) => seen.insert(*n),
            None if got.contains("web-") => panic!("{what}: an answer from elsewhere: {got:?}"),
            None => false, // a server not listening yet
        };
        if seen.len() == want.len() {
            return;
        }
    }
    panic!("{what}: only {seen:?} of {want:?} answered");
}

/// Skiff's table as nft lists it ("" when there is none).
pub fn skiff_table(host: &TestHost) -> String {
    let out = host.sh("nft list table ip skiff");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sets one of the host's node-level lists (`skiff network SUBCOMMAND FILE`: `service-ports`,
/// `vips`, `isolation`) to the JSON `json`; the command's output.
pub fn set_list(host: &TestHost, subcommand: &str, json: &str) -> std::process::Output {
    let file = host.engine.dir.path().join(format!("{subcommand}.json"));
    std::fs::write(&file, json).unwrap();
    host.engine
        .run(&["network", subcommand, file.to_str().unwrap()])
}

/// [`set_list`], which must succeed.
pub fn set_list_ok(host: &TestHost, subcommand: &str, json: &str) {
    let out = set_list(host, subcommand, json);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
