use std::time::{Duration, Instant};

use super::*;
use crate::yaml::{parse, Entry, FileId, Limits, Span};

/// Parses a test document as file `id`.
fn file(text: &str, id: FileId) -> Node {
    parse(text, id, &Limits::default()).unwrap_or_else(|e| panic!("{e:?} in {text}"))
}

/// The tree as flow-style text without spans or the `plain` flag (tags shown), so that two
/// trees compare equal when they hold the same values and a failure shows both.
fn render(node: &Node) -> String {
    let tag = match node.tag {
        Some(MergeTag::Reset) => "!reset ",
        Some(MergeTag::Override) => "!override ",
        None => "",
    };
    let body = match &node.kind {
        Kind::Null => "~".to_owned(),
        Kind::Scalar(s) => format!("{:?}", s.text),
        Kind::Seq(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        Kind::Map(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|e| format!("{:?}: {}", e.key, render(&e.value)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    };
    format!("{tag}{body}")
}

/// Merges `over` (file 1) onto `base` (file 0).
fn merged(base: &str, over: &str) -> Node {
    merge(file(base, 0), file(over, 1))
}

/// Asserts that merging `over` onto `base` gives the tree `expected`, spans aside.
#[track_caller]
fn assert_merge(base: &str, over: &str, expected: &str) {
    assert_eq!(render(&merged(base, over)), render(&file(expected, 9)));
}

/// The entry at a dotted path (sequence items by index).
fn entry<'n>(root: &'n Node, path: &str) -> &'n Entry {
    let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
    let parent = if parent.is_empty() {
        root
    } else {
        at(root, parent)
    };
    let entries = parent.as_map().expect("a mapping");
    entries.iter().find(|e| e.key == key).expect("the key")
}

/// The node at a dotted path (sequence items by index).
fn at<'n>(root: &'n Node, path: &str) -> &'n Node {
    path.split('.').fold(root, |node, key| match &node.kind {
        Kind::Seq(items) => &items[key.parse::<usize>().expect("an index")],
        _ => node
            .get(key)
            .unwrap_or_else(|| panic!("no `{key}` in {}", render(node))),
    })
}

/// `{a: {b: value}}` for the path `a.b`.
fn nest(path: &str, value: &str) -> String {
    path.rsplit('.')
        .fold(value.to_owned(), |inner, key| format!("{{{key}: {inner}}}"))
}

#[test]
fn mappings_merge_key_by_key_base_keys_first() {
    assert_merge(
        "name: x\nservices: {web: {image: a, restart: always}, db: {image: pg}}\n",
        "services: {web: {image: b, user: u}, cache: {image: redis}}\nvolumes: {data: {}}\n",
        "name: x\nservices: {web: {image: b, restart: always, user: u}, db: {image: pg}, \
         cache: {image: redis}}\nvolumes: {data: {}}\n",
    );
}

#[test]
fn extension_keys_merge_recursively() {
    assert_merge(
        "x-skiff: {environments: {prod: {replicas: 2}}, region: eu}\n",
        "x-skiff: {environments: {prod: {cpus: 1}}}\n",
        "x-skiff: {environments: {prod: {replicas: 2, cpus: 1}}, region: eu}\n",
    );
}

#[test]
fn a_value_of_another_shape_replaces() {
    assert_merge(
        "x-a: {k: v}\nx-b: [1]\nx-c: text\n",
        "x-a: [1]\nx-b: {k: v}\nx-c: {k: v}\n",
        "x-a: [1]\nx-b: {k: v}\nx-c: {k: v}\n",
    );
}

#[test]
fn sequences_append_by_default() {
    assert_merge(
        "services: {web: {security_opt: [a, b]}}\n",
        "services: {web: {security_opt: [c, a]}}\n",
        "services: {web: {security_opt: [a, b, c, a]}}\n",
    );
}

#[test]
fn command_entrypoint_and_healthcheck_test_are_replaced() {
    assert_merge(
        "services: {web: {command: [a, b], entrypoint: sh -c, \
         healthcheck: {test: [CMD, one], interval: 5s}}}\n",
        "services: {web: {command: [c], entrypoint: [x, y], healthcheck: {test: [CMD, two]}}}\n",
        "services: {web: {command: [c], entrypoint: [x, y], \
         healthcheck: {test: [CMD, two], interval: 5s}}}\n",
    );
}

#[test]
fn null_keeps_the_base_value_except_where_it_replaces() {
    // compose-go reads `key:` in a later file as "nothing to merge", but the wholesale fields
    // take it as their new value.
    assert_merge(
        "services: {web: {image: a, command: [x], networks: [front], environment: [A=1], \
         ulimits: {nofile: {soft: 1, hard: 2}, nproc: 5}}}\n",
        "services: {web: {image: , command: , networks: , environment: , \
         ulimits: {nofile: }, user: }}\n",
        "services: {web: {image: a, command: , networks: [front], environment: [A=1], \
         ulimits: {nofile: , nproc: 5}, user: }}\n",
    );
}

#[test]
fn an_empty_override_file_changes_nothing() {
    assert_merge(
        "services: {web: {image: a}}\n",
        "",
        "services: {web: {image: a}}\n",
    );
    assert_merge(
        "",
        "services: {web: {image: a}}\n",
        "services: {web: {image: a}}\n",
    );
}

#[test]
fn environment_lists_and_mappings_merge_as_mappings() {
    assert_merge(
        "services: {web: {environment: [A=1, B=2, C, D=x]}}\n",
        "services: {web: {environment: {B: 3, C: x=y, E: , D: }}}\n",
        "services: {web: {environment: {A: '1', B: '3', C: x=y, D: , E: }}}\n",
    );
    // A bare `KEY` sets the key to null; the value may itself hold `=`.
    assert_merge(
        "services: {web: {environment: {A: 1, B: 2}}}\n",
        "services: {web: {environment: [A, C=2=3, B=4, B=5]}}\n",
        "services: {web: {environment: {A: , B: '5', C: 2=3}}}\n",
    );
}

#[test]
fn every_dict_or_list_field_merges_as_a_mapping() {
    let paths = [
        "services.s.labels",
        "services.s.deploy.labels",
        "services.s.sysctls",
        "networks.n.labels",
        "volumes.v.labels",
        "secrets.x.labels",
        "configs.x.labels",
    ];
    for path in paths {
        let base = nest(path, "[a=1, b=2]");
        let over = nest(path, "{b: 3, c: 4}");
        let expected = nest(path, "{a: 1, b: 3, c: 4}");
        assert_eq!(
            render(&merged(&base, &over)),
            render(&file(&expected, 9)),
            "{path}"
        );
    }
}

#[test]
fn extra_hosts_split_on_the_first_equals_else_the_first_colon() {
    assert_merge(
        "services: {web: {extra_hosts: ['a:1.1.1.1', 'b=::1', 'c:::2', 'd=10.0.0.1']}}\n",
        "services: {web: {extra_hosts: {a: 9.9.9.9, e: 10.0.0.2}}}\n",
        "services: {web: {extra_hosts: {a: 9.9.9.9, b: '::1', c: '::2', d: 10.0.0.1, \
         e: 10.0.0.2}}}\n",
    );
    assert_merge(
        "services: {web: {extra_hosts: {a: 1.1.1.1}}}\n",
        "services: {web: {extra_hosts: ['a=::1', 'b:2.2.2.2']}}\n",
        "services: {web: {extra_hosts: {a: '::1', b: 2.2.2.2}}}\n",
    );
}

#[test]
fn ulimit_entries_are_replaced_whole() {
    assert_merge(
        "services: {web: {ulimits: {nofile: {soft: 1, hard: 2}, nproc: 10}}}\n",
        "services: {web: {ulimits: {nofile: {soft: 5}, core: 0}}}\n",
        "services: {web: {ulimits: {nofile: {soft: 5}, nproc: 10, core: 0}}}\n",
    );
}

#[test]
fn ports_are_keyed_by_their_binding_in_short_and_long_form() {
    let result = merged(
        "services: {web: {ports: ['80', '8080:80', '127.0.0.1:9000:9000', '53:53/udp', \
         {target: 443, published: 443}, '[::1]:7000:7000']}}\n",
        "services: {web: {ports: [80, {target: 80, published: 8080}, '9000:9000', '53:53', \
         '443:443/tcp', {target: 7000, published: 7000, host_ip: '[::1]'}]}}\n",
    );
    let expected = file(
        "services: {web: {ports: [80, {target: 80, published: 8080}, '127.0.0.1:9000:9000', \
         '53:53/udp', '443:443/tcp', {target: 7000, published: 7000, host_ip: '[::1]'}, \
         '9000:9000', '53:53']}}\n",
        9,
    );
    assert_eq!(render(&result), render(&expected));
    assert_eq!(at(&result, "services.web.ports.1").span.file, 1);
    assert_eq!(at(&result, "services.web.ports.2").span.file, 0);
    // A bare container port is the same port as a long form without `published`.
    assert_merge(
        "services: {web: {ports: ['80']}}\n",
        "services: {web: {ports: [{target: 80, protocol: tcp}, {target: 80, protocol: udp}]}}\n",
        "services: {web: {ports: [{target: 80, protocol: tcp}, {target: 80, protocol: udp}]}}\n",
    );
}

#[test]
fn volumes_are_keyed_by_their_container_target() {
    assert_merge(
        "services: {web: {volumes: ['data:/data', './conf:/etc/conf:ro', /cache, \
         {type: bind, source: ., target: /src}]}}\n",
        "services: {web: {volumes: ['other:/data:ro', {type: volume, target: /cache}, \
         './src:/src', /new]}}\n",
        "services: {web: {volumes: ['other:/data:ro', './conf:/etc/conf:ro', \
         {type: volume, target: /cache}, './src:/src', /new]}}\n",
    );
}

#[test]
fn secrets_and_configs_are_keyed_by_their_mount() {
    assert_merge(
        "services: {web: {secrets: [db, {source: api, target: api_key}, tls]}}\n",
        "services: {web: {secrets: [{source: db2, target: /run/secrets/db}, \
         {source: api, target: api_key, mode: 0400}, {source: tls}, other]}}\n",
        "services: {web: {secrets: [{source: db2, target: /run/secrets/db}, \
         {source: api, target: api_key, mode: 0400}, {source: tls}, other]}}\n",
    );
    assert_merge(
        "services: {web: {configs: [app, {source: b, target: /etc/b}]}}\n",
        "services: {web: {configs: [{source: app, mode: 0440}, {source: c, target: /etc/b}, \
         {source: d, target: /d}]}}\n",
        "services: {web: {configs: [{source: app, mode: 0440}, {source: c, target: /etc/b}, \
         {source: d, target: /d}]}}\n",
    );
}

#[test]
fn plain_lists_with_identity_are_keyed_by_text() {
    assert_merge(
        "services: {web: {expose: [80, '90'], cap_add: [NET_ADMIN], cap_drop: [ALL], \
         profiles: [dev], dns_search: [a.example], \
         networks: {front: {aliases: [a, b], ipv4_address: 10.0.0.2}}}}\n",
        "services: {web: {expose: ['80', 100], cap_add: [NET_ADMIN, SYS_TIME], cap_drop: [ALL], \
         profiles: [dev, test], dns_search: [b.example, a.example], \
         networks: {front: {aliases: [b, c]}}}}\n",
        "services: {web: {expose: [80, 90, 100], cap_add: [NET_ADMIN, SYS_TIME], \
         cap_drop: [ALL], profiles: [dev, test], dns_search: [a.example, b.example], \
         networks: {front: {aliases: [a, b, c], ipv4_address: 10.0.0.2}}}}\n",
    );
}

#[test]
fn a_string_or_a_list_merges_as_a_list() {
    assert_merge(
        "services: {web: {dns: 8.8.8.8, dns_search: [a.example], tmpfs: /run, env_file: a.env}}\n",
        "services: {web: {dns: [1.1.1.1, 8.8.8.8], dns_search: b.example, tmpfs: [/run, /tmp], \
         env_file: [{path: a.env, required: false}, b.env]}}\n",
        "services: {web: {dns: [8.8.8.8, 1.1.1.1], dns_search: [a.example, b.example], \
         tmpfs: [/run, /tmp], env_file: [{path: a.env, required: false}, b.env]}}\n",
    );
    // Two strings add up, as in compose-go: both env files are read.
    assert_merge(
        "services: {web: {env_file: a.env, dns: 1.1.1.1}}\n",
        "services: {web: {env_file: b.env, dns: 1.1.1.1}}\n",
        "services: {web: {env_file: [a.env, b.env], dns: [1.1.1.1]}}\n",
    );
}

#[test]
fn networks_in_list_form_merge_as_a_mapping() {
    assert_merge(
        "services: {web: {networks: [front, back]}}\n",
        "services: {web: {networks: {back: {aliases: [db]}, extra: }}}\n",
        "services: {web: {networks: {front: , back: {aliases: [db]}, extra: }}}\n",
    );
    // Listing a network again does not forget its settings.
    assert_merge(
        "services: {web: {networks: {front: {aliases: [a]}}}}\n",
        "services: {web: {networks: [front, back, back]}}\n",
        "services: {web: {networks: {front: {aliases: [a]}, back: }}}\n",
    );
}

#[test]
fn depends_on_in_list_form_starts_services_and_is_located_at_the_item() {
    let result = merged(
        "services:\n  web:\n    depends_on: [db, cache]\n",
        "services:\n  web:\n    depends_on:\n      db: {condition: service_healthy}\n",
    );
    let expected = file(
        "services: {web: {depends_on: {db: {condition: service_healthy}, \
         cache: {condition: service_started}}}}\n",
        9,
    );
    assert_eq!(render(&result), render(&expected));
    let item = Span {
        file: 0,
        line: 3,
        col: 22,
    };
    assert_eq!(
        entry(&result, "services.web.depends_on.cache").key_span,
        item
    );
    assert_eq!(at(&result, "services.web.depends_on.cache").span, item);
    assert_eq!(
        at(&result, "services.web.depends_on.cache.condition").span,
        item
    );
    let condition = at(&result, "services.web.depends_on.db.condition").span;
    assert_eq!((condition.file, condition.line), (1, 4));
}

#[test]
fn reset_removes_the_key_whatever_the_base_had() {
    assert_merge(
        "services:\n  web:\n    image: a\n    ports: ['80']\n    environment: {A: 1, B: 2}\n",
        "services:\n  web:\n    ports: !reset []\n    user: !reset\n    environment:\n      \
         A: !reset\n",
        "services: {web: {image: a, environment: {B: 2}}}\n",
    );
}

#[test]
fn reset_inside_a_sequence_or_a_new_subtree() {
    assert_merge(
        "services:\n  web:\n    ports: ['80']\n",
        "services:\n  web:\n    ports: [!reset '81']\n    volumes:\n      - target: /x\n        \
         read_only: !reset true\n  api:\n    image: x\n    ports: !reset ['1']\n",
        "services: {web: {ports: ['80', '81'], volumes: [{target: /x}]}, api: {image: x}}\n",
    );
}

#[test]
fn override_replaces_instead_of_merging() {
    let result = merged(
        "services:\n  web:\n    environment: {A: 1}\n    ports: ['80']\n    \
         networks: {front: {aliases: [a]}}\n",
        "services:\n  web:\n    environment: !override {B: 2}\n    ports: !override ['81']\n    \
         networks: !override [back]\n    user: !override nobody\n",
    );
    let expected = file(
        "services: {web: {environment: {B: 2}, ports: ['81'], networks: [back], user: nobody}}\n",
        9,
    );
    assert_eq!(render(&result), render(&expected));
    assert_eq!(entry(&result, "services.web.ports").key_span.file, 1);
}

#[test]
fn tags_in_the_first_file_mean_nothing() {
    let base = "services:\n  web:\n    image: !reset a\n    ports: !override ['80']\n";
    let result = merged(base, "services: {web: {ports: ['81']}}\n");
    assert_eq!(
        render(&result),
        render(&file(
            "services: {web: {image: a, ports: ['80', '81']}}\n",
            9
        ))
    );
    let single = merge_all(vec![file(base, 0)]).expect("one file");
    assert_eq!(
        render(&single),
        render(&file("services: {web: {image: a, ports: ['80']}}\n", 9))
    );
}

#[test]
fn winning_values_carry_the_span_of_the_file_that_set_them() {
    let result = merged(
        "services:\n  web:\n    image: a\n    restart: always\n",
        "services:\n  web:\n    image: b\n    environment:\n      - A=1\n",
    );
    let image = entry(&result, "services.web.image");
    assert_eq!((image.key_span.file, image.key_span.line), (1, 3));
    assert_eq!(
        image.value.span,
        Span {
            file: 1,
            line: 3,
            col: 12
        }
    );
    let restart = entry(&result, "services.web.restart");
    assert_eq!((restart.key_span.file, restart.value.span.file), (0, 0));
    // The merged mapping stays where the first file opened it.
    assert_eq!(entry(&result, "services.web").key_span.file, 0);
    // A list converted to a mapping puts key and value at the list item.
    let result = merged(
        "services:\n  web:\n    environment: [B=2]\n",
        "services:\n  web:\n    environment:\n      - A=1\n",
    );
    let item = Span {
        file: 1,
        line: 4,
        col: 9,
    };
    let a = entry(&result, "services.web.environment.A");
    assert_eq!((a.key_span, a.value.span), (item, item));
    assert_eq!(
        entry(&result, "services.web.environment.B").key_span.file,
        0
    );
}

#[test]
fn merge_all_folds_left() {
    assert!(merge_all(Vec::new()).is_none());
    let result = merge_all(vec![
        file("services: {web: {image: a, ports: ['80']}}\n", 0),
        file("services: {web: {image: b, ports: ['81']}}\n", 1),
        file("services: {web: {image: c}}\n", 2),
    ])
    .expect("three files");
    assert_eq!(
        render(&result),
        render(&file(
            "services: {web: {image: c, ports: ['80', '81']}}\n",
            9
        ))
    );
    assert_eq!(at(&result, "services.web.image").span.file, 2);
    assert_eq!(at(&result, "services.web.ports.1").span.file, 1);
}

#[test]
fn a_large_file_merges_quickly() {
    let mut base = String::from("services:\n");
    for i in 0..500 {
        base.push_str(&format!(
            "  svc{i}:\n    image: registry.example/svc{i}:1.0\n    \
             environment: [A=1, B=2, C=3, D=4, E=5]\n    ports: ['{p}:80']\n    \
             labels: {{team: t{i}, tier: web}}\n    networks: [front, back]\n",
            p = 10000 + i
        ));
    }
    let over = "services:\n  svc7: {image: other}\n  svc499: {environment: {A: 2}}\n  \
                new: {image: n}\n";
    let (base, over) = (file(&base, 0), file(over, 1));
    let mut best = Duration::MAX;
    let mut result = None;
    for _ in 0..3 {
        let (b, o) = (base.clone(), over.clone());
        let start = Instant::now();
        result = Some(merge(b, o));
        best = best.min(start.elapsed());
    }
    let result = result.expect("merged");
    assert!(best < Duration::from_millis(5), "took {best:?}");
    assert_eq!(at(&result, "services").as_map().map(<[_]>::len), Some(501));
    assert_eq!(at(&result, "services.svc7.image").as_str(), Some("other"));
    assert_eq!(
        at(&result, "services.svc499.environment.A").as_str(),
        Some("2")
    );
}
