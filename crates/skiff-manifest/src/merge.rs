//! Folds compose files together with the Compose Specification's merge rules.
//!
//! `docker compose -f a.yaml -f b.yaml` merges `b` onto `a` key by key, and Skiff applies an
//! environment's `x-skiff.environments.<env>` fragment the same way. The rules follow compose-go
//! (`override/merge.go` for how values combine, `override/uncity.go` for which sequence items
//! are "the same" item), on our located tree so that every value keeps the span of the file
//! that set it and the decoder's errors point there:
//!
//! * mappings merge key by key (the earlier file's keys first, new keys appended), scalars are
//!   replaced, sequences appended — except for the fields [`rule`] names;
//! * a `null` in the later file means "nothing to merge" and keeps the earlier value, as in
//!   compose-go, except in the fields replaced wholesale (`command`, …) and in the entries of
//!   "dict or list" fields, where `KEY:` is a value of its own (set but empty);
//! * `!reset` drops a key whatever the earlier files said, `!override` replaces instead of
//!   merging; tags in the first file mean nothing and are cleared.

use std::collections::{HashMap, HashSet};

use crate::yaml::{Entry, Kind, MergeTag, Node, Scalar};

/// Merges the compose tree `over` (a later `-f` file, or an environment's override fragment)
/// onto `base`. The result carries no merge tags.
pub(crate) fn merge(mut base: Node, mut over: Node) -> Node {
    clear_tags(&mut base);
    // A tag on the document itself has no key to reset or override.
    over.tag = None;
    merge_value(base, over, &mut Vec::new())
}

/// Merges the files in order, each onto the result of the ones before; `None` if there are none.
pub(crate) fn merge_all(files: Vec<Node>) -> Option<Node> {
    let mut files = files.into_iter();
    let mut first = files.next()?;
    // A single file is not merged, but its tags must go all the same.
    clear_tags(&mut first);
    Some(files.fold(first, merge))
}

/// How the values at a path combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Mappings by key, sequences appended, anything else replaced.
    Default,
    /// The later value replaces the earlier one wholesale, null included.
    Replace,
    /// Compose's "dict or list" (`environment`, `labels`, …): both sides as mappings whose
    /// entries are replaced, not merged.
    Dict(Split),
    /// A sequence whose items have an identity: a later item with an earlier item's key takes
    /// its place. `one_or_many` fields also accept a single scalar for a one-item list.
    Unique { key: ItemKey, one_or_many: bool },
    /// `networks` and `depends_on`: a list of names is a mapping with default values.
    Attach(Attach),
}

/// Where a list item of a "dict or list" field splits into key and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// `KEY=VALUE`, or `KEY` alone for a null value.
    Equals,
    /// `extra_hosts`: `host=ip`, or `host:ip` when there is no `=` (IPv6 addresses hold `:`).
    Host,
}

/// What makes two items of a unique-keyed sequence the same item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKey {
    /// The scalar's text.
    Text,
    /// The binding `[ip:]published:target/protocol`, from either the short or the long form.
    Port,
    /// The path in the container (`source:target[:mode]` or `target:`); devices alike.
    Volume,
    /// The file in the container, under `/run/secrets` unless absolute.
    Secret,
    /// The file in the container, under `/` unless absolute.
    Config,
    /// The env file's path.
    EnvFile,
}

/// The list form of `networks` and `depends_on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attach {
    /// `[a]` is `{a: null}`.
    Network,
    /// `[a]` is `{a: {condition: service_started}}`.
    Dependency,
}

/// The rule for the value at `path` (mapping keys from the document root).
fn rule(path: &[String]) -> Rule {
    // No rule is deeper than five keys; copying into an array lets `match` use slice patterns.
    let mut p = [""; 5];
    if path.len() > p.len() {
        return Rule::Default;
    }
    for (slot, key) in p.iter_mut().zip(path) {
        *slot = key.as_str();
    }
    let unique = |key, one_or_many| Rule::Unique { key, one_or_many };
    match &p[..path.len()] {
        ["services", _, "command" | "entrypoint"]
        | ["services", _, "healthcheck", "test"]
        | ["services", _, "ulimits", _] => Rule::Replace,
        ["services", _, "environment" | "labels" | "sysctls"]
        | ["services", _, "deploy", "labels"]
        | ["networks" | "volumes" | "secrets" | "configs", _, "labels"] => {
            Rule::Dict(Split::Equals)
        }
        ["services", _, "extra_hosts"] => Rule::Dict(Split::Host),
        ["services", _, "ports"] => unique(ItemKey::Port, false),
        ["services", _, "volumes"] => unique(ItemKey::Volume, false),
        ["services", _, "secrets"] => unique(ItemKey::Secret, false),
        ["services", _, "configs"] => unique(ItemKey::Config, false),
        ["services", _, "expose" | "cap_add" | "cap_drop" | "profiles"]
        | ["services", _, "networks", _, "aliases"] => unique(ItemKey::Text, false),
        ["services", _, "dns" | "dns_search" | "tmpfs"] => unique(ItemKey::Text, true),
        ["services", _, "env_file"] => unique(ItemKey::EnvFile, true),
        ["services", _, "networks"] => Rule::Attach(Attach::Network),
        ["services", _, "depends_on"] => Rule::Attach(Attach::Dependency),
        _ => Rule::Default,
    }
}

/// Merges two values found at `path`; `over`'s own tag has been dealt with by the caller.
fn merge_value(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    let rule = rule(path);
    if rule == Rule::Replace {
        return clean(over);
    }
    // compose-go: `if o == nil { return e }` after its special cases, so `image:` with no value
    // in an override file leaves the image alone rather than unsetting it.
    if matches!(over.kind, Kind::Null) {
        return base;
    }
    if matches!(base.kind, Kind::Null) {
        return clean(over);
    }
    match rule {
        Rule::Dict(split) => merge_dict(base, over, split),
        Rule::Unique { key, one_or_many } => merge_unique(base, over, key, one_or_many),
        Rule::Attach(attach) => merge_attached(base, over, attach, path),
        _ => merge_default(base, over, path),
    }
}

/// Mappings by key, sequences appended; otherwise (a scalar, or a change of shape) `over` wins.
fn merge_default(base: Node, over: Node, path: &mut Vec<String>) -> Node {
    match (base.kind, over.kind) {
        (Kind::Map(b), Kind::Map(o)) => Node::new(
            base.span,
            Kind::Map(merge_entries(b, o, Children::Rules(path))),
        ),
        (Kind::Seq(mut items), Kind::Seq(more)) => {
            items.extend(more.into_iter().map(clean));
            Node::new(base.span, Kind::Seq(items))
        }
        (_, kind) => clean(Node::new(over.span, kind)),
    }
}

/// How the values of keys present on both sides combine.
#[derive(Debug)]
enum Children<'p> {
    /// By the rules for their path (the mapping's path is given).
    Rules(&'p mut Vec<String>),
    /// `over`'s value replaces `base`'s, a null included.
    Replace,
}

/// Merges mapping entries: `base`'s keys in their order, then `over`'s new keys in theirs.
fn merge_entries(base: Vec<Entry>, over: Vec<Entry>, mut children: Children) -> Vec<Entry> {
    let index = KeyIndex::new(&base, over.len());
    let mut slots: Vec<Option<Entry>> = base.into_iter().map(Some).collect();
    let mut added = Vec::new();
    for entry in over {
        let at = index.find(&slots, &entry.key);
        match (entry.value.tag, at) {
            (Some(MergeTag::Reset), Some(i)) => slots[i] = None,
            (Some(MergeTag::Reset), None) => {}
            (Some(MergeTag::Override), Some(i)) => slots[i] = Some(clean_entry(entry)),
            (_, None) => added.push(clean_entry(entry)),
            (None, Some(i)) => {
                let old = slots[i].take().expect("each key of `over` is found once");
                slots[i] = Some(merge_entry(old, entry, &mut children));
            }
        }
    }
    slots.into_iter().flatten().chain(added).collect()
}

/// Merges one key present on both sides. The key's span follows the value: the later file's
/// when its value won outright, the earlier file's when the earlier value stays or was merged.
fn merge_entry(old: Entry, new: Entry, children: &mut Children) -> Entry {
    let path = match children {
        Children::Replace => return clean_entry(new),
        Children::Rules(path) => path,
    };
    let over_span = new.value.span;
    path.push(new.key);
    let value = merge_value(old.value, new.value, path);
    let key = path.pop().expect("pushed above");
    let key_span = if value.span == over_span {
        new.key_span
    } else {
        old.key_span
    };
    Entry {
        key,
        key_span,
        value,
    }
}

/// Finds a key among the base entries: a scan when few, a hash when a scan per `over` key
/// would add up (a 500-service `services:` mapping).
#[derive(Debug)]
enum KeyIndex {
    /// Look through the entries.
    Scan,
    /// Each base key's position.
    Hashed(HashMap<String, usize>),
}

impl KeyIndex {
    /// An index over `base` for `lookups` searches.
    fn new(base: &[Entry], lookups: usize) -> Self {
        if base.len() * lookups <= 64 {
            return KeyIndex::Scan;
        }
        let keys = base.iter().enumerate().map(|(i, e)| (e.key.clone(), i));
        KeyIndex::Hashed(keys.collect())
    }

    /// The slot holding `key`, if it is still there.
    fn find(&self, slots: &[Option<Entry>], key: &str) -> Option<usize> {
        let at = match self {
            KeyIndex::Scan => slots
                .iter()
                .position(|s| s.as_ref().is_some_and(|e| e.key == key)),
            KeyIndex::Hashed(map) => map.get(key).copied(),
        };
        at.filter(|&i| slots[i].is_some())
    }
}

/// Merges two "dict or list" values as mappings, or lets `over` win if either is neither.
fn merge_dict(base: Node, over: Node, split: Split) -> Node {
    if !map_or_scalars(&base) || !map_or_scalars(&over) {
        return clean(over);
    }
    let span = base.span;
    let entries = merge_entries(
        dict_entries(base, split),
        dict_entries(over, split),
        Children::Replace,
    );
    Node::new(span, Kind::Map(entries))
}

/// A mapping, or a list of scalars: the two forms of "dict or list", `networks` and `depends_on`.
fn map_or_scalars(node: &Node) -> bool {
    match &node.kind {
        Kind::Map(_) => true,
        Kind::Seq(items) => items.iter().all(|i| matches!(i.kind, Kind::Scalar(_))),
        _ => false,
    }
}

/// The entries of a [`map_or_scalars`] value. List items become entries located at the item; an item
/// repeating a key replaces the earlier one in its place (as compose-go's unicity pass does).
fn dict_entries(node: Node, split: Split) -> Vec<Entry> {
    let items = match node.kind {
        Kind::Map(entries) => return entries,
        Kind::Seq(items) => items,
        _ => return Vec::new(),
    };
    let mut out: Vec<Entry> = Vec::with_capacity(items.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in items {
        let Kind::Scalar(scalar) = &item.kind else {
            continue;
        };
        let (key, value) = split_item(&scalar.text, split);
        let value = match value {
            // It was part of a string, so it is one: `A=true` must not read as a boolean.
            Some(text) => Kind::Scalar(Scalar {
                text: text.to_owned(),
                plain: false,
            }),
            None => Kind::Null,
        };
        let entry = Entry {
            key: key.to_owned(),
            key_span: item.span,
            value: Node::new(item.span, value),
        };
        match seen.get(key) {
            Some(&i) => out[i] = entry,
            None => {
                seen.insert(entry.key.clone(), out.len());
                out.push(entry);
            }
        }
    }
    out
}

/// Splits a "dict or list" item into its key and, if it has one, its value.
fn split_item(text: &str, split: Split) -> (&str, Option<&str>) {
    let at = match split {
        Split::Equals => text.find('='),
        Split::Host => text.find('=').or_else(|| text.find(':')),
    };
    match at {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    }
}

/// Merges unique-keyed sequences: an `over` item with a `base` item's key takes its place, the
/// others are appended. Items without a key (malformed; the decoder says so) are appended.
fn merge_unique(base: Node, over: Node, key: ItemKey, one_or_many: bool) -> Node {
    let (base, over) = if one_or_many {
        (one_item_list(base), one_item_list(over))
    } else {
        (base, over)
    };
    let (mut items, more) = match (base.kind, over.kind) {
        (Kind::Seq(items), Kind::Seq(more)) => (items, more),
        (_, kind) => return clean(Node::new(over.span, kind)),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(k) = item_key(item, key) {
            index.entry(k).or_insert(i);
        }
    }
    for item in more {
        let item = clean(item);
        match item_key(&item, key) {
            Some(k) => match index.get(&k) {
                Some(&i) => items[i] = item,
                None => {
                    index.insert(k, items.len());
                    items.push(item);
                }
            },
            None => items.push(item),
        }
    }
    Node::new(base.span, Kind::Seq(items))
}

/// A scalar as a list of itself, for the fields that take a string or a list.
fn one_item_list(node: Node) -> Node {
    match node.kind {
        Kind::Scalar(_) => Node::new(node.span, Kind::Seq(vec![node])),
        _ => node,
    }
}

/// The identity of a unique-keyed sequence's item, if it has one.
fn item_key(item: &Node, key: ItemKey) -> Option<String> {
    let field = |name| item.get(name).and_then(Node::as_str);
    match (key, &item.kind) {
        (ItemKey::Port, _) => port_key(item),
        (ItemKey::Text | ItemKey::EnvFile, Kind::Scalar(s)) => Some(s.text.clone()),
        (ItemKey::EnvFile, Kind::Map(_)) => field("path").map(str::to_owned),
        // `source:target[:mode]`, or the lone `target` of an anonymous volume.
        (ItemKey::Volume, Kind::Scalar(s)) => Some(crate::mounts::clean(
            s.text.split(':').nth(1).unwrap_or(&s.text),
        )),
        (ItemKey::Volume, Kind::Map(_)) => field("target").map(crate::mounts::clean),
        (ItemKey::Secret | ItemKey::Config, Kind::Scalar(s)) => Some(mount_path(key, &s.text)),
        (ItemKey::Secret | ItemKey::Config, Kind::Map(_)) => field("target")
            .or_else(|| field("source"))
            .map(|name| mount_path(key, name)),
        _ => None,
    }
}

/// Where a secret or config lands: relative names and targets are under the default directory,
/// so that `- db_password` and `{source: db_password, target: /run/secrets/db_password}` are
/// the same mount, as in compose-go.
fn mount_path(key: ItemKey, name: &str) -> String {
    let path = match key {
        _ if name.starts_with('/') => name.to_owned(),
        ItemKey::Secret => format!("/run/secrets/{name}"),
        _ => format!("/{name}"),
    };
    crate::mounts::clean(&path)
}

/// A port's binding as `[ip:]published:target/protocol`, the same for `"127.0.0.1:80:80"` and
/// `{host_ip: 127.0.0.1, published: 80, target: 80}`; a bare `80` is `:80/tcp`.
fn port_key(item: &Node) -> Option<String> {
    let (ip, published, target, protocol) = match &item.kind {
        Kind::Scalar(s) => {
            let (rest, protocol) = s.text.rsplit_once('/').unwrap_or((&s.text, "tcp"));
            // From the right, since an IPv6 host address (`[::1]:80:80`) holds colons.
            let (front, target) = rest.rsplit_once(':').unwrap_or(("", rest));
            let (ip, published) = front.rsplit_once(':').unwrap_or(("", front));
            (ip, published, target, protocol)
        }
        Kind::Map(_) => {
            let field = |name| item.get(name).and_then(Node::as_str);
            (
                field("host_ip").unwrap_or(""),
                field("published").unwrap_or(""),
                field("target")?,
                field("protocol").unwrap_or("tcp"),
            )
        }
        _ => return None,
    };
    // Protocols are case-insensitive, as the decoder reads them.
    let protocol = protocol.to_ascii_lowercase();
    Some(if ip.is_empty() {
        format!("{published}:{target}/{protocol}")
    } else {
        format!("{ip}:{published}:{target}/{protocol}")
    })
}

/// Merges `networks` or `depends_on`, reading a list of names as a mapping first; the entries
/// then merge by the rules below the path (`networks.*.aliases` is unique-keyed).
fn merge_attached(base: Node, over: Node, attach: Attach, path: &mut Vec<String>) -> Node {
    if !map_or_scalars(&base) || !map_or_scalars(&over) {
        return clean(over);
    }
    let span = base.span;
    let entries = merge_entries(
        attach_entries(base, attach),
        attach_entries(over, attach),
        Children::Rules(path),
    );
    Node::new(span, Kind::Map(entries))
}

/// The entries of a `networks` or `depends_on` value, a list's defaults located at its items.
fn attach_entries(node: Node, attach: Attach) -> Vec<Entry> {
    let items = match node.kind {
        Kind::Map(entries) => return entries,
        Kind::Seq(items) => items,
        _ => return Vec::new(),
    };
    let mut out: Vec<Entry> = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for item in items {
        let Kind::Scalar(scalar) = item.kind else {
            continue;
        };
        // `[a, a]` says the same thing twice; keep one.
        if !seen.insert(scalar.text.clone()) {
            continue;
        }
        let span = item.span;
        let value = match attach {
            Attach::Network => Node::new(span, Kind::Null),
            Attach::Dependency => Node::new(
                span,
                Kind::Map(vec![Entry {
                    key: "condition".to_owned(),
                    key_span: span,
                    value: Node::new(
                        span,
                        Kind::Scalar(Scalar {
                            text: "service_started".to_owned(),
                            plain: true,
                        }),
                    ),
                }]),
            ),
        };
        out.push(Entry {
            key: scalar.text,
            key_span: span,
            value,
        });
    }
    out
}

/// An entry taken from `over` as it is.
fn clean_entry(entry: Entry) -> Entry {
    Entry {
        value: clean(entry.value),
        ..entry
    }
}

/// A subtree taken from `over` without merging: keys tagged `!reset` inside it go (Compose
/// drops them wherever they are), other tags are cleared.
fn clean(mut node: Node) -> Node {
    strip(&mut node, true);
    node
}

/// Clears the merge tags in a tree (the first file's, which have nothing to reset).
fn clear_tags(node: &mut Node) {
    strip(node, false);
}

/// Clears tags throughout `node`, removing `!reset` keys first if `resets` says so. A tag on a
/// sequence item is ignored: Compose does not remove items from sequences.
fn strip(node: &mut Node, resets: bool) {
    node.tag = None;
    match &mut node.kind {
        Kind::Map(entries) => {
            if resets {
                entries.retain(|e| e.value.tag != Some(MergeTag::Reset));
            }
            for e in entries {
                strip(&mut e.value, resets);
            }
        }
        Kind::Seq(items) => {
            for item in items {
                strip(item, resets);
            }
        }
        Kind::Null | Kind::Scalar(_) => {}
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
