//! Pulling images: from Debian's real docker-registry (pushed to with skopeo), and from a fake
//! registry on 127.0.0.1 for what a real one will not do on demand (token auth, errors,
//! hangs, tampering, truncation, odd manifests). Runs as root (layers are unpacked with their
//! owners); talks only to 127.0.0.1.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;
use skiff_engine::image::pull::NoProgress;
use skiff_engine::Digest;
use skiff_testkit::image::{layered_busybox, scratch};
use skiff_testkit::registry::{Registry, RegistryOptions};

use support::fake_registry::{FakeRegistry, Reply};
use support::{
    config, engine, index, layer_digest, manifest_json, one_layer_image, reference, served,
    small_image, Recorder,
};

fn digest(text: &str) -> Digest {
    text.parse().unwrap()
}

#[test]
fn pulls_by_tag_and_by_digest_from_docker_registry() {
    let dir = scratch();
    let built = layered_busybox().write_oci_layout(&dir.path().join("layout"), "v1");
    let registry = Registry::start();
    registry.push_layout(&dir.path().join("layout"), "v1", "test/busybox", None);
    let addr = registry.addr();

    let e = engine(&dir.path().join("one"), config(addr));
    let by_tag = reference(&format!("{addr}/test/busybox:v1"));
    let progress = Recorder::default();
    let image = e.pull(&by_tag, &progress).unwrap();
    assert_eq!(image.names, vec![by_tag.clone()]);
    assert_eq!(image.manifest, digest(&built.manifest_digest));
    assert_eq!(image.id, digest(&built.config_digest));
    assert_eq!(image.layers.len(), 3);
    for (layer, diff_id) in image.layers.iter().zip(&built.diff_ids) {
        assert_eq!(layer.diff_id, digest(diff_id));
        assert!(e.content().contains(&layer.blob));
        assert!(e.layer_store().contains(&layer.diff_id));
        assert_eq!(progress.bytes_of(&layer.blob), layer.size);
    }
    assert!(e.content().contains(&image.manifest) && e.content().contains(&image.id));
    assert_eq!(
        *progress.resolved.lock().unwrap(),
        Some(image.manifest.clone())
    );
    let found = e.image_index().find(&by_tag.to_string()).unwrap().unwrap();
    assert_eq!(found, image);

    // Again: nothing is downloaded.
    let again = Recorder::default();
    e.pull(&by_tag, &again).unwrap();
    assert!(again.bytes.lock().unwrap().is_empty());
    assert!(again
        .done
        .lock()
        .unwrap()
        .iter()
        .all(|(_, present)| *present));

    let e = engine(&dir.path().join("two"), config(addr));
    let pinned = reference(&format!("{addr}/test/busybox@{}", built.manifest_digest));
    let image = e.pull(&pinned, &NoProgress).unwrap();
    assert_eq!(image.names, vec![pinned.clone()]);
    assert_eq!(image.manifest, digest(&built.manifest_digest));
    assert_eq!(image.layers.len(), 3);
    assert!(image
        .layers
        .iter()
        .all(|l| e.layer_store().contains(&l.diff_id)));
    assert!(e.image_index().find(&pinned.to_string()).unwrap().is_some());
}

#[test]
fn missing_tag_is_named_with_its_registry() {
    let dir = scratch();
    let registry = Registry::start();
    let addr = registry.addr();
    let e = engine(dir.path(), config(addr));
    let err = e
        .pull(
            &reference(&format!("{addr}/test/busybox:nope")),
            &NoProgress,
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("{addr}/test/busybox:nope not found in {addr}")),
        "{err}"
    );
}

#[test]
fn basic_auth_against_htpasswd_registry() {
    let dir = scratch();
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("right-pass", 4).unwrap();
    std::fs::write(&htpasswd, format!("skiff:{hash}\n")).unwrap();
    let registry = Registry::start_with(&RegistryOptions {
        htpasswd: Some(htpasswd),
    });
    let addr = registry.addr();
    let layout = dir.path().join("layout");
    small_image().write_oci_layout(&layout, "v1");
    registry.push_layout(&layout, "v1", "private/app", Some("skiff:right-pass"));
    let image = reference(&format!("{addr}/private/app:v1"));

    let anonymous = engine(&dir.path().join("anon"), config(addr));
    let err = anonymous.pull(&image, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains(&format!("authentication required for {addr}")),
        "{err}"
    );

    let auth_file = |name: &str, password: &str| {
        let path = dir.path().join(name);
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("skiff:{password}"));
        let file = json!({"auths": {addr: {"auth": auth}}});
        std::fs::write(&path, file.to_string()).unwrap();
        let mut c = config(addr);
        c.auth_file = Some(path);
        c
    };
    let wrong = engine(
        &dir.path().join("wrong"),
        auth_file("wrong.json", "wrong-pass"),
    );
    let err = wrong.pull(&image, &NoProgress).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains(&format!("credentials rejected for {addr}")),
        "{text}"
    );
    let secret_b64 = base64::engine::general_purpose::STANDARD.encode("skiff:wrong-pass");
    assert!(
        !text.contains("wrong-pass") && !text.contains(&secret_b64),
        "{text}"
    );

    let right = engine(
        &dir.path().join("right"),
        auth_file("right.json", "right-pass"),
    );
    let pulled = right.pull(&image, &NoProgress).unwrap();
    assert_eq!(pulled.layers.len(), 3);
    assert!(!format!("{:?}", right.options()).contains("right-pass"));
}

/// A fake that wants a bearer token for everything under /v2/ and redirects blobs to a
/// second server (another origin), which must not see the token.
#[test]
fn bearer_token_and_blob_redirects() {
    let dir = scratch();
    let (content, built) = served(&small_image(), &dir.path().join("layout"), "v1");
    let (in_flight, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let storage = FakeRegistry::start({
        let (content, in_flight, most) = (content.clone(), in_flight.clone(), most.clone());
        move |req| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            content.serve(req)
        }
    });
    let storage_addr = storage.addr().to_string();
    let fake = FakeRegistry::start(move |req| {
        let host = req.header("host").unwrap_or("").to_string();
        if req.path.starts_with("/token") {
            return Reply::ok(
                "application/json",
                br#"{"access_token":"tok-123"}"#.to_vec(),
            );
        }
        if req.header("authorization") != Some("Bearer tok-123") {
            let challenge = format!(
                r#"Bearer realm="http://{host}/token",service="fake",scope="repository:test/app:pull""#
            );
            return Reply::status(401).header("WWW-Authenticate", &challenge);
        }
        if req.path.contains("/blobs/") {
            let location = format!("http://{storage_addr}{}", req.path);
            return Reply::status(307).header("Location", &location);
        }
        content.serve(req)
    });
    let addr = fake.addr().to_string();
    let auth = dir.path().join("auth.json");
    let file = json!({"auths": {format!("http://{addr}"): {"username": "u", "password": "p"}}});
    std::fs::write(&auth, file.to_string()).unwrap();
    let mut c = config(&addr);
    c.auth_file = Some(auth);
    let e = engine(&dir.path().join("data"), c);
    let image = e
        .pull(&reference(&format!("{addr}/test/app:v1")), &NoProgress)
        .unwrap();
    assert_eq!(image.manifest, digest(&built.manifest_digest));

    let token = fake
        .requests()
        .into_iter()
        .find(|r| r.path.starts_with("/token"));
    let token = token.expect("a token was asked for");
    assert!(token.path.contains("service=fake"), "{}", token.path);
    assert!(
        token.path.contains("scope=repository%3Atest%2Fapp%3Apull"),
        "{}",
        token.path
    );
    let basic = base64::engine::general_purpose::STANDARD.encode("u:p");
    assert_eq!(
        token.header("authorization"),
        Some(&*format!("Basic {basic}"))
    );
    assert_eq!(
        storage.count("/v2/test/app/blobs/"),
        4,
        "config and three layers"
    );
    assert!(
        most.load(Ordering::SeqCst) >= 2,
        "layers are downloaded concurrently"
    );
    assert!(storage
        .requests()
        .iter()
        .all(|r| r.header("authorization").is_none()));
}

#[test]
fn server_error_then_success_is_retried() {
    let dir = scratch();
    let (content, _) = served(&small_image(), &dir.path().join("layout"), "v1");
    let failures = AtomicUsize::new(0);
    let fake = FakeRegistry::start(move |req| {
        if req.path.contains("/manifests/") && failures.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::status(500);
        }
        if req.path.contains("/blobs/") && failures.fetch_add(1, Ordering::SeqCst) == 2 {
            return Reply::status(503);
        }
        content.serve(req)
    });
    let e = engine(&dir.path().join("data"), config(fake.addr()));
    let r = reference(&format!("{}/test/app:v1", fake.addr()));
    assert_eq!(e.pull(&r, &NoProgress).unwrap().layers.len(), 3);
    assert_eq!(fake.count("/v2/test/app/manifests/"), 2);
}

#[test]
fn server_errors_that_persist_are_reported() {
    let fake = FakeRegistry::start(|_| Reply::status(500));
    let dir = scratch();
    let e = engine(dir.path(), config(fake.addr()));
    let r = reference(&format!("{}/test/app:v1", fake.addr()));
    let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains(&format!("registry {} answered HTTP 500", fake.addr())),
        "{err}"
    );
    assert!(
        err.contains("test/app:v1") && err.contains("3 times"),
        "{err}"
    );
    assert_eq!(fake.requests().len(), 3);
}

#[test]
fn hanging_registry_times_out() {
    let dir = scratch();
    let (content, _) = served(&one_layer_image(), &dir.path().join("layout"), "v1");
    let layer = layer_digest(&content, "v1", 0);
    for stall_blob in [false, true] {
        let (content, l) = (content.clone(), layer.clone());
        let fake = FakeRegistry::start(move |req| match req.path.contains(&l) {
            true if stall_blob => Reply::Stall {
                body: content.blobs[&l].clone(),
                send: content.blobs[&l].len() / 2,
            },
            _ if !stall_blob => Reply::Hang,
            _ => content.serve(req),
        });
        let e = engine(
            &dir.path().join(format!("data-{stall_blob}")),
            config(fake.addr()),
        );
        let start = Instant::now();
        let r = reference(&format!("{}/test/app:v1", fake.addr()));
        let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert!(
            err.contains(&format!(
                "registry {} did not answer within 1s",
                fake.addr()
            )),
            "{err}"
        );
        assert!(!e.content().contains(&digest(&layer)));
    }
}

#[test]
fn tampered_blob_and_manifest_are_refused() {
    let dir = scratch();
    let (mut content, built) = served(&one_layer_image(), &dir.path().join("layout"), "v1");
    let layer = layer_digest(&content, "v1", 0);
    content.blobs.get_mut(&layer).unwrap()[20] ^= 0xff;
    let mut manifest = content.manifests["v1"].clone();
    manifest.1.push(b' ');
    content
        .manifests
        .insert(built.manifest_digest.clone(), manifest);
    let fake = FakeRegistry::start(move |req| content.serve(req));
    let e = engine(dir.path(), config(fake.addr()));

    let r = reference(&format!("{}/test/app:v1", fake.addr()));
    let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains(&format!("blob {layer} from {}/test/app", fake.addr())),
        "{err}"
    );
    assert!(err.contains("tampered"), "{err}");
    assert!(!e.content().contains(&digest(&layer)));
    assert!(e.image_index().list().unwrap().is_empty());

    let r = reference(&format!(
        "{}/test/app@{}",
        fake.addr(),
        built.manifest_digest
    ));
    let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains("tampered") && err.contains(&built.manifest_digest),
        "{err}"
    );
    for blob in e.content().list().unwrap() {
        let bytes = std::fs::read(e.content().path(&blob)).unwrap();
        assert_eq!(
            Digest::of(&bytes),
            blob,
            "nothing stored under a wrong name"
        );
    }
}

#[test]
fn truncated_blob_is_refused() {
    let dir = scratch();
    let (content, _) = served(&one_layer_image(), &dir.path().join("layout"), "v1");
    let layer = layer_digest(&content, "v1", 0);
    for announce in [true, false] {
        let (content, l) = (content.clone(), layer.clone());
        let fake = FakeRegistry::start(move |req| match req.path.contains(&l) {
            true => Reply::Truncated {
                body: content.blobs[&l].clone(),
                send: content.blobs[&l].len() / 2,
                announce,
            },
            false => content.serve(req),
        });
        let e = engine(
            &dir.path().join(format!("data-{announce}")),
            config(fake.addr()),
        );
        let r = reference(&format!("{}/test/app:v1", fake.addr()));
        let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
        assert!(
            err.contains(&format!("blob {layer} from {}/test/app", fake.addr())),
            "{err}"
        );
        let expected = if announce {
            "cut short 3 times"
        } else {
            "truncated"
        };
        assert!(err.contains(expected), "{err}");
        assert!(!e.content().contains(&digest(&layer)));
    }
}

#[test]
fn unknown_layer_media_type_is_refused_before_downloading() {
    let dir = scratch();
    let (mut content, _) = served(&small_image(), &dir.path().join("layout"), "v1");
    let mut manifest = manifest_json(&content, "v1");
    manifest["layers"][2]["mediaType"] = json!("application/vnd.example.layer.v1.tar+lz4");
    let oci = "application/vnd.oci.image.manifest.v1+json";
    content.add_manifest(Some("v1"), oci, serde_json::to_vec(&manifest).unwrap());
    let fake = FakeRegistry::start(move |req| content.serve(req));
    let e = engine(dir.path(), config(fake.addr()));
    let r = reference(&format!("{}/test/app:v1", fake.addr()));
    let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains("application/vnd.example.layer.v1.tar+lz4"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}/test/app@sha256:", fake.addr())),
        "{err}"
    );
    assert_eq!(fake.count("/v2/test/app/blobs/"), 0);
    assert!(e.content().list().unwrap().is_empty());
}

#[test]
fn index_without_linux_amd64_names_what_it_has() {
    let dir = scratch();
    let (mut content, built) = served(&small_image(), &dir.path().join("layout"), "v1");
    let d = built.manifest_digest.as_str();
    let oci_index = "application/vnd.oci.image.index.v1+json";
    let entries = [
        ("linux", "arm64", Some("v8"), d, 1),
        ("linux", "s390x", None, d, 1),
    ];
    content.add_manifest(Some("multi"), oci_index, index(&entries, oci_index));
    let fake = FakeRegistry::start(move |req| content.serve(req));
    let e = engine(dir.path(), config(fake.addr()));
    let r = reference(&format!("{}/test/app:multi", fake.addr()));
    let err = e.pull(&r, &NoProgress).unwrap_err().to_string();
    assert!(
        err.contains("has no image for linux/amd64; it has linux/arm64/v8, linux/s390x"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}/test/app:multi", fake.addr())),
        "{err}"
    );
}

/// Docker schema 2: a manifest list whose linux/amd64 entry is a Docker manifest with Docker
/// layer and config media types.
#[test]
fn docker_manifest_list_picks_linux_amd64() {
    let dir = scratch();
    let (mut content, built) = served(&small_image(), &dir.path().join("layout"), "v1");
    let mut manifest = manifest_json(&content, "v1");
    let docker_manifest = "application/vnd.docker.distribution.manifest.v2+json";
    manifest["mediaType"] = json!(docker_manifest);
    manifest["config"]["mediaType"] = json!("application/vnd.docker.container.image.v1+json");
    manifest["layers"][0]["mediaType"] = json!("application/vnd.docker.image.rootfs.diff.tar.gzip");
    manifest["layers"][2]["mediaType"] = json!("application/vnd.docker.image.rootfs.diff.tar");
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let size = bytes.len() as u64;
    let amd64 = content.add_manifest(None, docker_manifest, bytes);
    let arm = "sha256:".to_string() + &"a".repeat(64);
    let list = "application/vnd.docker.distribution.manifest.list.v2+json";
    let entries = [
        ("linux", "arm64", None, arm.as_str(), 1),
        ("linux", "amd64", None, &amd64, size),
    ];
    let list_digest = content.add_manifest(Some("latest"), list, index(&entries, list));
    let fake = FakeRegistry::start(move |req| content.serve(req));
    let e = engine(dir.path(), config(fake.addr()));
    let image = e
        .pull(
            &reference(&format!("{}/test/app", fake.addr())),
            &NoProgress,
        )
        .unwrap();
    assert_eq!(image.manifest, digest(&amd64));
    assert_eq!(image.id, digest(&built.config_digest));
    assert_eq!(fake.count(&format!("/v2/test/app/manifests/{arm}")), 0);
    let pinned = reference(&format!("{}/test/app@{list_digest}", fake.addr()));
    let again = e.pull(&pinned, &NoProgress).unwrap();
    assert_eq!(again.id, image.id);
    let found = e.image_index().find(&pinned.to_string()).unwrap().unwrap();
    assert_eq!(found.id, image.id);
    let accept = fake.requests()[0]
        .header("accept")
        .unwrap_or("")
        .to_string();
    for kind in [
        list,
        docker_manifest,
        "application/vnd.oci.image.index.v1+json",
    ] {
        assert!(accept.contains(kind), "{accept}");
    }
}

#[test]
fn concurrent_pulls_of_one_image_both_succeed() {
    let dir = scratch();
    let (content, built) = served(&small_image(), &dir.path().join("layout"), "v1");
    let fake = FakeRegistry::start(move |req| {
        std::thread::sleep(Duration::from_millis(20));
        content.serve(req)
    });
    let r = reference(&format!("{}/test/app:v1", fake.addr()));
    let data = Arc::new(dir.path().join("data"));
    let results: Vec<_> = std::thread::scope(|s| {
        let pulls: Vec<_> = (0..2)
            .map(|_| s.spawn(|| engine(&data, config(fake.addr())).pull(&r, &NoProgress)))
            .collect();
        pulls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    for result in results {
        assert_eq!(result.unwrap().manifest, digest(&built.manifest_digest));
    }
    let e = engine(&data, config(fake.addr()));
    assert_eq!(e.image_index().list().unwrap().len(), 1);
}
