use super::*;
use crate::image::Layer;

fn layer(name: &[u8]) -> Layer {
    Layer {
        diff_id: Digest::of(&[name, b"-diff"].concat()),
        blob: Digest::of(&[name, b"-blob"].concat()),
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        size: 1,
    }
}

fn image(id: &str, names: &[&str], layers: &[&[u8]]) -> Image {
    Image {
        id: Digest::of(id.as_bytes()),
        manifest: Digest::of(format!("{id}-manifest").as_bytes()),
        names: names.iter().map(|n| n.parse().unwrap()).collect(),
        layers: layers.iter().map(|l| layer(l)).collect(),
        stored_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn id(name: &str) -> Digest {
    Digest::of(name.as_bytes())
}

fn names(list: &[&str]) -> Vec<Reference> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

fn used_by(image: &str, container: &str) -> InUse {
    InUse::from([(id(image), vec![container.to_string()])])
}

fn removal(untag: &[&str], delete: &[&str]) -> Removal {
    Removal {
        untag: names(untag),
        delete: delete.iter().map(|d| id(d)).collect(),
    }
}

fn store() -> Vec<Image> {
    vec![
        image("a", &["app:1", "app:latest"], &[b"base", b"a"]),
        image("b", &["other:1"], &[b"base", b"b"]),
        image("c", &[], &[b"base"]),
    ]
}

#[test]
fn removing_a_name_deletes_the_image_with_its_last_name() {
    let images = store();
    let none = InUse::new();
    let cases: &[(&str, Removal)] = &[
        ("app:1", removal(&["app:1"], &[])),
        ("app", removal(&["app:latest"], &[])),
        ("other:1", removal(&["other:1"], &["b"])),
        ("docker.io/library/other:1", removal(&["other:1"], &["b"])),
    ];
    for (wanted, expected) in cases {
        assert_eq!(
            &plan_remove(&images, &none, wanted, false).unwrap(),
            expected,
            "{wanted}"
        );
    }
}

#[test]
fn removing_by_id_takes_every_name_if_forced() {
    let images = store();
    let none = InUse::new();
    let a = id("a").to_string();
    let err = plan_remove(&images, &none, &a, false).unwrap_err();
    assert!(
        err.to_string()
            .contains("several names (app:1, app:latest)"),
        "{err}"
    );
    assert_eq!(
        plan_remove(&images, &none, &a, true).unwrap(),
        removal(&["app:1", "app:latest"], &["a"])
    );
    let c = id("c");
    let c_prefix = &c.hex()[..12];
    assert_eq!(
        plan_remove(&images, &none, c_prefix, false).unwrap(),
        removal(&[], &["c"])
    );
    let pinned = format!("other@{}", images[1].manifest);
    assert_eq!(
        plan_remove(&images, &none, &pinned, false).unwrap(),
        removal(&["other:1"], &["b"])
    );
    let err = plan_remove(&images, &none, "nothing:1", false).unwrap_err();
    assert!(matches!(err, Error::NoSuchImage { .. }), "{err}");
}

#[test]
fn an_image_in_use_is_kept() {
    let images = store();
    let used = used_by("b", "web-1");
    let err = plan_remove(&images, &used, "other:1", false).unwrap_err();
    assert!(
        err.to_string().contains("used by container(s) web-1"),
        "{err}"
    );
    assert_eq!(
        plan_remove(&images, &used, "other:1", true).unwrap(),
        removal(&["other:1"], &[])
    );
    let b = id("b").to_string();
    assert!(plan_remove(&images, &used, &b, false).is_err());
    assert_eq!(
        plan_remove(&images, &used, &b, true).unwrap(),
        removal(&["other:1"], &[])
    );
    // Another name of an image in use can go: the image stays.
    let used = used_by("a", "web-1");
    assert_eq!(
        plan_remove(&images, &used, "app:1", false).unwrap(),
        removal(&["app:1"], &[])
    );
}

#[test]
fn ambiguous_prefixes_are_refused() {
    // Enough images for two ids to share their first four hex digits.
    let mut images: Vec<Image> = Vec::new();
    let shared = loop {
        let next = image(&images.len().to_string(), &[], &[]);
        let prefix = next.id.hex()[..4].to_string();
        images.push(next);
        if images
            .iter()
            .filter(|i| i.id.hex().starts_with(&prefix))
            .count()
            > 1
        {
            break prefix;
        }
    };
    let err = plan_remove(&images, &InUse::new(), &shared, false).unwrap_err();
    assert!(err.to_string().contains("give more of the id"), "{err}");
}

#[test]
fn prune_takes_dangling_or_all_unused() {
    let images = store();
    assert_eq!(
        plan_prune(&images, &InUse::new(), false),
        removal(&[], &["c"])
    );
    assert_eq!(
        plan_prune(&images, &used_by("c", "x"), false),
        removal(&[], &[])
    );
    assert_eq!(
        plan_prune(&images, &used_by("a", "x"), true),
        removal(&["other:1"], &["b", "c"])
    );
}

#[test]
fn apply_then_unreferenced_keeps_shared_layers() {
    let mut images = store();
    removal(&["other:1"], &["b"]).apply(&mut images);
    assert_eq!(images.len(), 2);
    let all_blobs: Vec<Digest> = [b"base".as_slice(), b"a", b"b"]
        .iter()
        .map(|l| layer(l).blob)
        .chain([id("b"), image("b", &[], &[]).manifest, id("a")])
        .collect();
    let all_layers: Vec<Digest> = [b"base".as_slice(), b"a", b"b"]
        .iter()
        .map(|l| layer(l).diff_id)
        .collect();
    let (blobs, layers) = unreferenced(&images, &all_blobs, &all_layers);
    let mut expected = vec![layer(b"b").blob, id("b"), image("b", &[], &[]).manifest];
    expected.sort();
    let mut blobs = blobs;
    blobs.sort();
    assert_eq!(blobs, expected);
    assert_eq!(layers, vec![layer(b"b").diff_id]);
}
