//! Property tests: `load` never panics, whatever the file says, and a refusal always explains
//! itself. The first property throws arbitrary text at it (mostly stopped by the YAML reader);
//! the second builds YAML documents out of Compose's own key names, anchors and merge keys, so
//! that the inputs get past the parser into interpolation, merging and decoding.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use skiff_manifest::{load, Loaded, MemoryLoader, Options};

/// Key names from every level of a compose file, so random nestings sometimes line up with
/// the schema and sometimes put a key where it does not belong.
#[rustfmt::skip]
const KEYS: &[&str] = &[
    "services", "image", "command", "ports", "deploy", "replicas", "mode", "resources", "limits",
    "reservations", "memory", "cpus", "environment", "volumes", "networks", "secrets", "configs",
    "x-skiff", "environments", "dev", "prod", "healthcheck", "test", "depends_on", "condition",
    "labels", "target", "published", "file", "external", "name", "profiles", "restart_policy",
    "update_config", "placement", "constraints", "web", "db",
];

/// Values that are valid somewhere, invalid elsewhere, or exercise interpolation and YAML.
#[rustfmt::skip]
const SCALARS: &[&str] = &[
    "nginx:1.27-alpine", "80", "8080:80", "70000", "-1", "0", "3", "512M", "12 parsecs", "0.5",
    "1m30s", "true", "no", "null", "~", "''", "\"\"", "web", "db", "global", "replicated",
    "service_healthy", "CMD-SHELL", "node.role == worker", "'quoted: value'", "[a, b]",
    "{a: 1}", "[8080:80, \"53:53/udp\"]", "${TAG}", "${TAG:-1.0}", "${PORT:-80}:80",
    "${REQUIRED:?set it}", "${UNSET}", "$$HOME", "${", "!reset", "!override", "&b value",
    "# comment", "./secret.txt", "/proc:/host/proc:ro", "data:/var/lib/data",
];

const SERVICE_NAMES: &[&str] = &["web", "db", "cache", "worker"];

/// A YAML value to render; `Alias` is `*a`, the anchor every document defines first.
#[derive(Debug, Clone)]
enum Tree {
    Scalar(String),
    Alias,
    Map(Vec<(String, Tree)>),
    Seq(Vec<Tree>),
}

fn scalar() -> impl Strategy<Value = Tree> {
    prop_oneof![
        4 => prop::sample::select(SCALARS).prop_map(|s| Tree::Scalar(s.to_owned())),
        1 => "[a-z0-9][a-z0-9./_-]{0,11}".prop_map(Tree::Scalar),
    ]
}

/// Random nestings up to 5 deep; aliases and merge keys (`<<: *a`) only where the anchor is
/// already defined.
fn tree(aliases: bool) -> BoxedStrategy<Tree> {
    let leaf = if aliases {
        prop_oneof![6 => scalar(), 1 => Just(Tree::Alias)].boxed()
    } else {
        scalar().boxed()
    };
    leaf.prop_recursive(5, 48, 5, move |inner| {
        let merge = if aliases { 0.3 } else { 0.0 };
        prop_oneof![
            3 => map_of(prop::sample::select(KEYS), inner.clone(), merge),
            1 => prop::collection::vec(inner, 0..4).prop_map(Tree::Seq),
        ]
    })
    .boxed()
}

/// A mapping with unique keys (duplicates would stop every such document in the parser),
/// starting with `<<: *a` with probability `merge`.
fn map_of(
    keys: impl Strategy<Value = &'static str>,
    values: impl Strategy<Value = Tree>,
    merge: f64,
) -> impl Strategy<Value = Tree> {
    let entries = prop::collection::btree_map(keys, values, 0..5);
    (entries, prop::bool::weighted(merge)).prop_map(|(m, merge)| {
        let merged = merge.then(|| ("<<".to_owned(), Tree::Alias));
        let own = m.into_iter().map(|(k, v)| (k.to_owned(), v));
        Tree::Map(merged.into_iter().chain(own).collect())
    })
}

/// A compose document: an `x-anchor: &a` mapping first, then `services:` with a few services,
/// then other top-level keys.
fn document() -> impl Strategy<Value = String> {
    let anchor = map_of(prop::sample::select(KEYS), tree(false), 0.0);
    let services = map_of(prop::sample::select(SERVICE_NAMES), tree(true), 0.0);
    let extra = prop::collection::btree_map(prop::sample::select(KEYS), tree(true), 0..3);
    (anchor, services, extra).prop_map(|(anchor, services, extra)| {
        let mut out = String::from("x-anchor: &a");
        render_value(&anchor, 2, &mut out);
        out.push_str("services:");
        render_value(&services, 2, &mut out);
        let extra: Vec<_> = extra
            .into_iter()
            .filter(|(k, _)| *k != "services")
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        render_map(&extra, 0, &mut out);
        out
    })
}

/// Renders `t` after a `key:` or `-` already written, its children indented by `indent`.
fn render_value(t: &Tree, indent: usize, out: &mut String) {
    match t {
        Tree::Scalar(s) => {
            out.push(' ');
            out.push_str(s);
            out.push('\n');
        }
        Tree::Alias => out.push_str(" *a\n"),
        Tree::Map(m) if m.is_empty() => out.push_str(" {}\n"),
        Tree::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Tree::Map(m) => {
            out.push('\n');
            render_map(m, indent, out);
        }
        Tree::Seq(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&" ".repeat(indent));
                out.push('-');
                render_value(item, indent + 2, out);
            }
        }
    }
}

fn render_map(entries: &[(String, Tree)], indent: usize, out: &mut String) {
    for (k, v) in entries {
        out.push_str(&" ".repeat(indent));
        out.push_str(k);
        out.push(':');
        render_value(v, indent + 2, out);
    }
}

/// `load` of `base` (and `over` merged on top) in `environment`.
fn run(base: &str, over: Option<&str>, environment: &str) -> Result<Loaded, String> {
    let mut loader = MemoryLoader::new()
        .with("/srv/app/compose.yaml", base)
        .with("/srv/app/.env", "TAG=2.0\nPORT=8080\n");
    let mut files = vec!["/srv/app/compose.yaml"];
    if let Some(over) = over {
        loader = loader.with("/srv/app/override.yaml", over);
        files.push("/srv/app/override.yaml");
    }
    let mut options = Options::new(files);
    options.environment = environment.to_owned();
    load(&options, &loader).map_err(|diags| {
        // A refusal must say why: some error that is located or at least has words.
        let explained = diags.errors().any(|d| d.line > 0 || !d.message.is_empty());
        if explained {
            String::new()
        } else {
            format!("refused without an explanation: {diags:?}")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(
        text in prop_oneof![any::<String>(), "[ -~\n\t]{0,400}", "([a-z_:{}\\[\\]$&*<>!#'\" -]{0,8}\n {0,6}){0,40}"],
    ) {
        let _ = run(&text, None, "dev");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn compose_shaped_documents_load_or_explain_why_not(
        base in document(),
        over in prop::option::weighted(0.25, document()),
        environment in prop::sample::select(&["dev", "prod", "qa"][..]),
    ) {
        if let Err(why) = run(&base, over.as_deref(), environment) {
            prop_assert!(why.is_empty(), "{why}\n--- compose.yaml:\n{base}");
        }
    }
}

/// The renderer's output is YAML of the intended shape (checked once, so the properties above
/// are known to reach past the parser).
#[test]
fn rendered_documents_are_yaml() {
    let tree = Tree::Map(vec![(
        "web".to_owned(),
        Tree::Map(vec![
            ("<<".to_owned(), Tree::Alias),
            (
                "ports".to_owned(),
                Tree::Seq(vec![
                    Tree::Scalar("8080:80".to_owned()),
                    Tree::Map(vec![("target".to_owned(), Tree::Scalar("80".to_owned()))]),
                ]),
            ),
        ]),
    )]);
    let mut out = String::from("x-anchor: &a\n  image: nginx\nservices:");
    render_value(&tree, 2, &mut out);
    assert_eq!(
        out,
        "x-anchor: &a\n  image: nginx\nservices:\n  web:\n    <<: *a\n    ports:\n      - 8080:80\n      -\n        target: 80\n"
    );
    let parsed = skiff_manifest::yaml::parse(&out, 0, &Default::default());
    assert!(parsed.is_ok(), "{parsed:?}");
}

/// Nearly all generated documents must be valid YAML, or the second property would only test
/// the parser's error path.
#[test]
fn most_generated_documents_get_past_the_parser() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = document();
    let total = 400;
    let parsed = (0..total)
        .filter(|_| {
            let text = strategy.new_tree(&mut runner).unwrap().current();
            skiff_manifest::yaml::parse(&text, 0, &Default::default()).is_ok()
        })
        .count();
    assert!(parsed * 10 >= total * 9, "only {parsed} of {total} parse");
}
