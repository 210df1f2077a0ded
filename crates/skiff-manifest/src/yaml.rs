//! YAML to a tree of [`Node`]s that remember where they came from.
//!
//! Built on yaml-rust2's event parser (pulled one event at a time, so a hostile document is
//! refused as soon as it crosses a limit, not after it has been read whole). On top of plain YAML:
//!
//! * anchors and aliases are expanded, with every expanded node counted against
//!   [`Limits::max_nodes`] — a "billion laughs" document is refused before it is built;
//! * merge keys (`<<: *base`, `<<: [*a, *b]`) are applied: keys written in the mapping win, then
//!   the merged mappings in order;
//! * duplicate keys are errors;
//! * Compose's `!reset` and `!override` tags are kept on the node for the file merge;
//! * depth, scalar size and document size are bounded.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Which file a node came from: an index into the load's file table.
pub type FileId = u32;

/// The "file" of problems with the command line's options rather than a file (`--env Prod`).
pub const COMMAND_LINE: FileId = FileId::MAX;

/// A place in a file (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// The file.
    pub file: FileId,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

/// A YAML value with its place.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub span: Span,
    /// The value.
    pub kind: Kind,
    /// A Compose merge tag on it, if any.
    pub tag: Option<MergeTag>,
}

/// The shape of a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// `null`, `~` or nothing.
    Null,
    /// Any scalar but null, as text; typing happens when it is decoded against the schema.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order, keys unique.
    Map(Vec<Entry>),
}

/// A scalar's text and whether it was written plain (unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar {
    /// The text.
    pub text: String,
    /// Written without quotes (so `true` and `80` may be read as a bool or a number).
    pub plain: bool,
}

/// A mapping entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key's text.
    pub key: String,
    /// Where the key is.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

/// Compose's merge tags, used by override files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    /// `!reset`: remove the value inherited from earlier files.
    Reset,
    /// `!override`: replace it instead of merging.
    Override,
}

/// Bounds on what one document may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in bytes.
    pub max_bytes: usize,
    /// Largest scalar, in bytes.
    pub max_scalar_bytes: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes in the tree, counting every node an alias expands to.
    pub max_nodes: usize,
    /// Most bytes of values in the tree, counting what aliases repeat.
    pub max_expanded_bytes: usize,
}

impl Default for Limits {
    /// 8 MiB documents, 1 MiB scalars, depth 64, 250 000 nodes: a 500-service file uses about
    /// 4 % of the node budget and depth 8.
    fn default() -> Self {
        Self {
            max_bytes: 8 << 20,
            max_scalar_bytes: 1 << 20,
            max_depth: 64,
            max_nodes: 250_000,
            max_expanded_bytes: 32 << 20,
        }
    }
}

/// Why a document could not be read as YAML at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line (0 for the document as a whole).
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    /// What is wrong.
    pub message: String,
}

impl Node {
    /// A node of this kind at this place.
    pub fn new(span: Span, kind: Kind) -> Self {
        Self {
            span,
            kind,
            tag: None,
        }
    }

    /// The entries if this is a mapping.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The items if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            Kind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The text if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    /// The value under `key` if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// What the value is, for messages: "a mapping", "a list", "a string", "null".
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            Kind::Null => "null",
            Kind::Scalar(_) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// Parses one YAML document. An empty document is a null node.
pub fn parse(text: &str, file: FileId, limits: &Limits) -> Result<Node, ParseError> {
    if text.len() > limits.max_bytes {
        return Err(ParseError {
            line: 0,
            col: 0,
            message: format!(
                "the file is {} bytes; Skiff reads manifests of at most {} bytes",
                text.len(),
                limits.max_bytes
            ),
        });
    }
    let mut builder = Builder {
        file,
        limits,
        anchors: Vec::new(),
        stack: Vec::new(),
        nodes: 0,
        bytes: 0,
        root: None,
        docs: 0,
    };
    // Editors on Windows start UTF-8 files with a byte-order mark; it is not part of the text.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| ParseError {
            line: e.marker().line() as u32,
            col: e.marker().col() as u32 + 1,
            message: if e.info().contains("recursion limit") {
                // The scanner bounds flow nesting (`[[[[…`) on its own, below our depth limit.
                format!(
                    "nesting deeper than {} levels; Skiff refuses such documents",
                    limits.max_depth
                )
            } else {
                format!("not valid YAML: {}", e.info())
            },
        })?;
        if event == Event::StreamEnd {
            break;
        }
        builder.event(event, mark)?;
    }
    Ok(builder.root.unwrap_or_else(|| {
        Node::new(
            Span {
                file,
                line: 1,
                col: 1,
            },
            Kind::Null,
        )
    }))
}

/// A container being built.
enum Open {
    Seq {
        node: Node,
        items: Vec<Node>,
        anchor: usize,
    },
    Map {
        node: Node,
        entries: Vec<Entry>,
        /// Keys seen so far, with their line, to refuse duplicates in constant time.
        seen: HashMap<String, u32>,
        merges: Vec<Node>,
        key: Option<(String, Span)>,
        anchor: usize,
    },
}

/// An anchored node and what each alias to it costs.
#[derive(Clone)]
struct Anchored {
    node: Node,
    cost: Cost,
}

/// What a subtree adds to the document when an alias repeats it.
#[derive(Debug, Clone, Copy)]
struct Cost {
    nodes: usize,
    bytes: usize,
    /// Levels of mappings and sequences, itself included (0 for a scalar).
    height: usize,
}

impl Cost {
    fn of(node: &Node) -> Self {
        match &node.kind {
            Kind::Null => Self {
                nodes: 1,
                bytes: 0,
                height: 0,
            },
            Kind::Scalar(s) => Self {
                nodes: 1,
                bytes: s.text.len(),
                height: 0,
            },
            Kind::Seq(items) => Self::sum(items.iter().map(Self::of)),
            Kind::Map(entries) => Self::sum(entries.iter().map(|e| {
                let v = Self::of(&e.value);
                Self {
                    nodes: v.nodes + 1,
                    bytes: v.bytes + e.key.len(),
                    height: v.height,
                }
            })),
        }
    }

    fn sum(children: impl Iterator<Item = Self>) -> Self {
        let mut c = Self {
            nodes: 1,
            bytes: 0,
            height: 0,
        };
        for child in children {
            c.nodes += child.nodes;
            c.bytes += child.bytes;
            c.height = c.height.max(child.height);
        }
        c.height += 1;
        c
    }
}

struct Builder<'l> {
    file: FileId,
    limits: &'l Limits,
    /// Anchored nodes by anchor id (yaml-rust2 numbers anchors from 1).
    anchors: Vec<Option<Anchored>>,
    /// Bytes of scalar text in the tree so far, aliases expanded.
    bytes: usize,
    stack: Vec<Open>,
    nodes: usize,
    root: Option<Node>,
    docs: usize,
}

impl Builder<'_> {
    fn span(&self, mark: Marker) -> Span {
        Span {
            file: self.file,
            line: mark.line() as u32,
            col: mark.col() as u32 + 1,
        }
    }

    fn error(&self, mark: Marker, message: impl Into<String>) -> ParseError {
        ParseError {
            line: mark.line() as u32,
            col: mark.col() as u32 + 1,
            message: message.into(),
        }
    }

    fn count(&mut self, n: usize, mark: Marker) -> Result<(), ParseError> {
        self.nodes += n;
        if self.nodes > self.limits.max_nodes {
            return Err(self.error(
                mark,
                format!(
                    "the document expands to more than {} values (aliases included); \
                     is an anchor referenced recursively or too often?",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn tag(
        &self,
        tag: Option<&yaml_rust2::parser::Tag>,
        mark: Marker,
    ) -> Result<Option<MergeTag>, ParseError> {
        let Some(tag) = tag else { return Ok(None) };
        match (tag.handle.as_str(), tag.suffix.as_str()) {
            ("!", "reset") => Ok(Some(MergeTag::Reset)),
            ("!", "override") => Ok(Some(MergeTag::Override)),
            ("tag:yaml.org,2002:", "str" | "int" | "float" | "bool" | "null" | "map" | "seq") => Ok(None),
            (handle, suffix) => Err(self.error(
                mark,
                format!("unsupported tag `{handle}{suffix}`: only `!reset` and `!override` are understood"),
            )),
        }
    }

    fn event(&mut self, event: Event, mark: Marker) -> Result<(), ParseError> {
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing | Event::StreamEnd => Ok(()),
            Event::DocumentStart => {
                self.docs += 1;
                if self.docs > 1 {
                    return Err(self.error(mark, "a manifest holds one YAML document; split the `---` documents into separate files"));
                }
                Ok(())
            }
            Event::Alias(id) => {
                let Some(anchored) = self.anchors.get(id).and_then(Option::as_ref) else {
                    return Err(
                        self.error(mark, "alias to an anchor that is not defined before it")
                    );
                };
                let (mut node, cost) = (anchored.node.clone(), anchored.cost);
                if self.stack.len() + cost.height > self.limits.max_depth {
                    return Err(self.error(
                        mark,
                        format!("nesting deeper than {} levels (through aliases); Skiff refuses such documents", self.limits.max_depth),
                    ));
                }
                self.count(cost.nodes, mark)?;
                self.count_bytes(cost.bytes, mark)?;
                // The alias's own place, so that errors point at the use as well as the anchor.
                node.span = self.span(mark);
                self.finish(node, mark)
            }
            Event::Scalar(text, style, anchor, tag) => {
                if text.len() > self.limits.max_scalar_bytes {
                    return Err(self.error(
                        mark,
                        format!(
                            "a value of {} bytes; Skiff accepts values of at most {} bytes (put large content in a file)",
                            text.len(),
                            self.limits.max_scalar_bytes
                        ),
                    ));
                }
                self.count(1, mark)?;
                self.count_bytes(text.len(), mark)?;
                let merge_tag = self.tag(tag.as_ref(), mark)?;
                let plain = style == TScalarStyle::Plain;
                let forced_str = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let kind = if plain
                    && !forced_str
                    && matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Kind::Null
                } else {
                    Kind::Scalar(Scalar {
                        text,
                        plain: plain && !forced_str,
                    })
                };
                let mut node = Node::new(self.span(mark), kind);
                node.tag = merge_tag;
                self.remember(anchor, &node);
                self.finish(node, mark)
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if self.stack.len() >= self.limits.max_depth {
                    return Err(self.error(
                        mark,
                        format!(
                            "nesting deeper than {} levels; Skiff refuses such documents",
                            self.limits.max_depth
                        ),
                    ));
                }
                self.count(1, mark)?;
                let mut node = Node::new(self.span(mark), Kind::Null);
                node.tag = self.tag(tag.as_ref(), mark)?;
                let is_seq = matches!(event, Event::SequenceStart(..));
                let open = if is_seq {
                    Open::Seq {
                        node,
                        items: Vec::new(),
                        anchor,
                    }
                } else {
                    Open::Map {
                        node,
                        entries: Vec::new(),
                        seen: HashMap::new(),
                        merges: Vec::new(),
                        key: None,
                        anchor,
                    }
                };
                self.stack.push(open);
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq {
                        mut node,
                        items,
                        anchor,
                    }) => {
                        node.kind = Kind::Seq(items);
                        self.remember(anchor, &node);
                        node
                    }
                    Some(Open::Map {
                        mut node,
                        mut entries,
                        seen,
                        merges,
                        anchor,
                        ..
                    }) => {
                        // yaml-rust2 marks a block mapping at its first value; it starts at its
                        // first key (a flow mapping's `{` comes before its first key already).
                        // Keys that `<<` brings in live elsewhere: they do not count.
                        if let Some(first) = entries.first() {
                            let k = first.key_span;
                            if (k.line, k.col) < (node.span.line, node.span.col) {
                                node.span = k;
                            }
                        }
                        apply_merges(&mut entries, seen, merges);
                        node.kind = Kind::Map(entries);
                        self.remember(anchor, &node);
                        node
                    }
                    None => return Err(self.error(mark, "unbalanced YAML structure")),
                };
                self.finish(node, mark)
            }
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor == 0 {
            return;
        }
        if self.anchors.len() <= anchor {
            self.anchors.resize(anchor + 1, None);
        }
        self.anchors[anchor] = Some(Anchored {
            node: node.clone(),
            cost: Cost::of(node),
        });
    }

    fn count_bytes(&mut self, n: usize, mark: Marker) -> Result<(), ParseError> {
        self.bytes += n;
        if self.bytes > self.limits.max_expanded_bytes {
            return Err(self.error(
                mark,
                format!(
                    "the document's values add up to more than {} bytes (aliases included); is a large value referenced too often?",
                    self.limits.max_expanded_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Hands a completed node to its parent (or makes it the root).
    fn finish(&mut self, node: Node, mark: Marker) -> Result<(), ParseError> {
        let error = |m: &str| ParseError {
            line: mark.line() as u32,
            col: mark.col() as u32 + 1,
            message: m.to_owned(),
        };
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(Open::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Open::Map {
                key: key @ None,
                seen,
                ..
            }) => {
                let text = match &node.kind {
                    Kind::Scalar(s) => s.text.clone(),
                    Kind::Null => String::new(),
                    _ => {
                        return Err(error(
                            "a mapping key must be a plain value, not a list or mapping",
                        ))
                    }
                };
                if let Some(line) = seen.get(&text) {
                    return Err(error(&format!(
                        "duplicate key `{text}` (first at line {line})"
                    )));
                }
                seen.insert(text.clone(), node.span.line);
                *key = Some((text, node.span));
                Ok(())
            }
            Some(Open::Map {
                key: key @ Some(_),
                entries,
                merges,
                ..
            }) => {
                let (text, key_span) = key.take().expect("matched Some");
                if text == "<<" {
                    match &node.kind {
                        Kind::Map(_) => merges.push(node),
                        Kind::Seq(items)
                            if items.iter().all(|i| matches!(i.kind, Kind::Map(_))) =>
                        {
                            merges.extend(items.iter().cloned());
                        }
                        _ => return Err(error(
                            "a merge key `<<` takes a mapping or a list of mappings (`<<: *base`)",
                        )),
                    }
                    return Ok(());
                }
                entries.push(Entry {
                    key: text,
                    key_span,
                    value: node,
                });
                Ok(())
            }
        }
    }
}

/// Adds the merged mappings' keys that the mapping does not set itself; earlier sources win.
fn apply_merges(entries: &mut Vec<Entry>, mut seen: HashMap<String, u32>, merges: Vec<Node>) {
    for source in merges {
        if let Kind::Map(more) = source.kind {
            for e in more {
                if !seen.contains_key(&e.key) {
                    seen.insert(e.key.clone(), e.key_span.line);
                    entries.push(e);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "yaml_tests.rs"]
mod tests;
