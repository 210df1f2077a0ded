use std::time::Instant;

use super::*;

fn p(text: &str) -> Result<Node, ParseError> {
    parse(text, 0, &Limits::default())
}

fn scalar(node: &Node) -> &str {
    node.as_str().expect("a scalar")
}

#[test]
fn spans_are_one_based_lines_and_columns() {
    let root = p("services:\n  web:\n    image: nginx\n").unwrap();
    let web = root.get("services").unwrap().get("web").unwrap();
    let entry = &web.as_map().unwrap()[0];
    assert_eq!((entry.key_span.line, entry.key_span.col), (3, 5));
    assert_eq!((entry.value.span.line, entry.value.span.col), (3, 12));
    assert_eq!(scalar(&entry.value), "nginx");
}

#[test]
fn nulls_plain_and_quoted_scalars_are_told_apart() {
    let root = p("a:\nb: ~\nc: null\nd: ''\ne: \"80\"\nf: 80\ng: !!str null\n").unwrap();
    assert_eq!(root.get("a").unwrap().kind, Kind::Null);
    assert_eq!(root.get("b").unwrap().kind, Kind::Null);
    assert_eq!(root.get("c").unwrap().kind, Kind::Null);
    assert_eq!(
        root.get("d").unwrap().kind,
        Kind::Scalar(Scalar {
            text: String::new(),
            plain: false
        })
    );
    assert_eq!(
        root.get("e").unwrap().kind,
        Kind::Scalar(Scalar {
            text: "80".into(),
            plain: false
        })
    );
    assert_eq!(
        root.get("f").unwrap().kind,
        Kind::Scalar(Scalar {
            text: "80".into(),
            plain: true
        })
    );
    assert_eq!(
        root.get("g").unwrap().kind,
        Kind::Scalar(Scalar {
            text: "null".into(),
            plain: false
        })
    );
}

#[test]
fn anchors_aliases_and_merge_keys_work() {
    let text = "\
x-base: &base
  image: busybox
  environment: {A: '1'}
x-more: &more
  image: other
  user: nobody
services:
  web:
    <<: [*base, *more]
    environment: {B: '2'}
  worker: *base
";
    let root = p(text).unwrap();
    let web = root.get("services").unwrap().get("web").unwrap();
    assert_eq!(
        scalar(web.get("image").unwrap()),
        "busybox",
        "the first merged mapping wins"
    );
    assert_eq!(scalar(web.get("user").unwrap()), "nobody");
    assert!(
        web.get("environment").unwrap().get("B").is_some(),
        "explicit keys win over merged ones"
    );
    assert!(
        web.get("environment").unwrap().get("A").is_none(),
        "merge is shallow, as in YAML"
    );
    let worker = root.get("services").unwrap().get("worker").unwrap();
    assert_eq!(scalar(worker.get("image").unwrap()), "busybox");
    assert_eq!(worker.span.line, 11, "an alias takes the place of its use");
}

#[test]
fn duplicate_keys_are_refused_with_both_places() {
    let err = p("services:\n  web: {}\n  web: {}\n").unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(err.message, "duplicate key `web` (first at line 2)");
}

#[test]
fn syntax_errors_carry_a_place() {
    let err = p("services:\n  web:\n    image: [a, b\n").unwrap_err();
    assert!(err.message.starts_with("not valid YAML"), "{}", err.message);
    assert!(err.line >= 3, "{err:?}");
}

#[test]
fn several_documents_are_refused() {
    let err = p("a: 1\n---\nb: 2\n").unwrap_err();
    assert!(err.message.contains("one YAML document"), "{}", err.message);
}

#[test]
fn merge_tags_are_kept_and_other_tags_refused() {
    let root = p("a: !reset []\nb: !override {x: 1}\n").unwrap();
    assert_eq!(root.get("a").unwrap().tag, Some(MergeTag::Reset));
    assert_eq!(root.get("b").unwrap().tag, Some(MergeTag::Override));
    let err = p("a: !python/object foo\n").unwrap_err();
    assert!(err.message.contains("unsupported tag"), "{}", err.message);
}

#[test]
fn a_billion_laughs_is_refused_quickly() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let start = Instant::now();
    let err = p(&text).unwrap_err();
    assert!(
        err.message.contains("expands to more than 250000 values"),
        "{}",
        err.message
    );
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
}

#[test]
fn deep_nesting_is_refused_quickly() {
    let depth = 10_000;
    let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let start = Instant::now();
    let err = p(&text).unwrap_err();
    assert!(
        err.message.contains("nesting deeper than 64"),
        "{}",
        err.message
    );
    let block: String = (0..2_000)
        .map(|i| format!("{}k:\n", " ".repeat(i)))
        .collect();
    let err = p(&block).unwrap_err();
    assert!(
        err.message.contains("nesting deeper than 64"),
        "{}",
        err.message
    );
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
}

#[test]
fn huge_documents_and_scalars_are_refused() {
    let big = format!("a: {}\n", "x".repeat(10 << 20));
    let start = Instant::now();
    let err = p(&big).unwrap_err();
    assert!(
        err.message.contains("at most 8388608 bytes"),
        "{}",
        err.message
    );
    let scalar = format!("a: \"{}\"\n", "x".repeat(2 << 20));
    let err = p(&scalar).unwrap_err();
    assert!(
        err.message.contains("values of at most 1048576 bytes"),
        "{}",
        err.message
    );
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
}

#[test]
fn an_empty_document_is_null() {
    assert_eq!(p("").unwrap().kind, Kind::Null);
    assert_eq!(p("# only a comment\n").unwrap().kind, Kind::Null);
}

#[test]
fn a_block_mapping_starts_at_its_first_key_and_a_flow_one_at_its_brace() {
    let root = p("a:\n  b: 1\nc: {d: 2}\n").unwrap();
    let a = root.get("a").unwrap();
    assert_eq!((a.span.line, a.span.col), (2, 3));
    let c = root.get("c").unwrap();
    assert_eq!((c.span.line, c.span.col), (3, 4));
}

#[test]
fn aliases_cannot_nest_past_the_depth_limit() {
    // Each anchor wraps the previous one 20 levels deeper: 4 of them are 80 levels.
    let mut text = String::from("a0: &a0 x\n");
    for i in 1..5 {
        let open = "[".repeat(20);
        let close = "]".repeat(20);
        text.push_str(&format!("a{i}: &a{i} {open}*a{}{close}\n", i - 1));
    }
    let err = p(&text).unwrap_err();
    assert!(
        err.message
            .contains("nesting deeper than 64 levels (through aliases)"),
        "{}",
        err.message
    );
}

#[test]
fn aliases_cannot_repeat_a_large_value_into_gigabytes() {
    let big = "x".repeat(1 << 20);
    let aliases = vec!["*b"; 40].join(", ");
    let text = format!("b: &b '{big}'\nc: [{aliases}]\n");
    let start = Instant::now();
    let err = p(&text).unwrap_err();
    assert!(
        err.message.contains("add up to more than 33554432 bytes"),
        "{}",
        err.message
    );
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_document() {
    let root = p("\u{feff}services: {}\n").unwrap();
    assert!(root.get("services").is_some());
}

#[test]
fn a_mapping_made_only_of_merged_keys_stays_where_it_is_written() {
    let root = p("x: &x\n  image: a\nweb:\n  <<: *x\n").unwrap();
    assert_eq!(root.get("web").unwrap().span.line, 4);
}
