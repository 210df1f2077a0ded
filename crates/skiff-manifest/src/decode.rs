//! Typed reading of [`Node`]s against Skiff's schema, collecting every problem on the way.
//!
//! Each reader takes the node and its key path, and returns `None` after recording a located
//! error when the value does not fit; the caller goes on with the next key, so one pass reports
//! everything. Scalars are typed here, not by the YAML parser, so that `"80"`, `80` and a
//! `${PORT}` that interpolated to `80` all read the same as a port.

use std::collections::{BTreeMap, HashSet};

use skiff_api::{ByteSize, Cpus, Duration, UnitError};

use crate::diag::{did_you_mean, Diagnostic, Diagnostics, Severity};
use crate::yaml::{Entry, FileId, Kind, Node, Span};

/// What keys a mapping may hold.
#[derive(Debug)]
pub(crate) struct Schema {
    /// Keys Skiff reads.
    pub known: &'static [&'static str],
    /// Keys of the Compose Specification that Skiff refuses, with what to do instead.
    pub unsupported: &'static [(&'static str, &'static str)],
}

/// The decoding context: the file names (for locations) and the problems found so far.
#[derive(Debug)]
pub(crate) struct Cx {
    files: Vec<String>,
    /// Everything found so far.
    pub diags: Diagnostics,
    /// Values whose error has been told and whose later checks would only echo it.
    poisoned: HashSet<(FileId, u32, u32)>,
    /// Errors recorded so far.
    errors: usize,
    /// Whether problems with the applying shell's variables are errors (unset required
    /// variables, secrets from unset variables). Off when checking an environment other than the
    /// one being applied: its variables are set where it is applied, not here.
    pub checks_environment: bool,
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// `parent[index]`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// The last key of a path (`ports` of `services.web.ports`), to name sibling entries in errors.
pub(crate) fn last_key(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

/// Where a mapping starts, for errors about the whole of it: its first key (the parser places a
/// block mapping in a list at its first value).
pub(crate) fn start(node: &Node) -> Span {
    match node.as_map() {
        Some([first, ..]) => first.key_span,
        _ => node.span,
    }
}

/// The value of an optional field: `None` when absent, and `ok` cleared when present but invalid.
///
/// `read` is the field's reader mapped over the field (`f.get("mode").map(|n| cx.mode(n, p))`),
/// so that one pass can read every field and still tell whether all of them were valid.
pub(crate) fn optional<T>(ok: &mut bool, read: Option<Option<T>>) -> Option<T> {
    if matches!(read, Some(None)) {
        *ok = false;
    }
    read.flatten()
}

/// A mapping checked against its schema; the default is an empty one.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fields<'n> {
    entries: &'n [Entry],
}

impl<'n> Fields<'n> {
    /// The value under `key`; a null value counts as absent.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
            .filter(|n| n.kind != Kind::Null)
    }

    /// The value under `key`, null included.
    pub fn get_raw(&self, key: &str) -> Option<&'n Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }
}

impl Cx {
    /// A context for files named by `files` (indexed by [`crate::yaml::FileId`]).
    pub fn new(files: &[String]) -> Self {
        Self {
            files: files.to_vec(),
            diags: Diagnostics::default(),
            poisoned: HashSet::new(),
            errors: 0,
            checks_environment: true,
        }
    }

    /// Registers one more file and returns its id.
    pub fn add_file(&mut self, name: String) -> crate::yaml::FileId {
        self.files.push(name);
        (self.files.len() - 1) as crate::yaml::FileId
    }

    /// The display name of a file.
    pub fn file_name(&self, span: Span) -> String {
        self.files
            .get(span.file as usize)
            .cloned()
            .unwrap_or_else(|| "command line".to_owned())
    }

    fn push(&mut self, severity: Severity, span: Span, path: &str, message: String) {
        if severity == Severity::Error && self.poisoned.contains(&(span.file, span.line, span.col))
        {
            return;
        }
        if severity == Severity::Error {
            self.errors += 1;
        }
        let file = self.file_name(span);
        self.diags.push(Diagnostic {
            severity,
            file,
            line: span.line,
            column: span.col,
            path: path.to_owned(),
            message,
        });
    }

    /// How many errors have been recorded.
    pub fn error_count(&self) -> usize {
        self.errors
    }

    /// A new context over the same files and poisoned values, with no problems recorded yet.
    pub fn fork(&self) -> Self {
        Self {
            files: self.files.clone(),
            diags: Diagnostics::default(),
            poisoned: self.poisoned.clone(),
            errors: 0,
            checks_environment: self.checks_environment,
        }
    }

    /// Marks a value as unreadable without a message: later errors about it are dropped.
    pub fn poison(&mut self, span: Span) {
        self.poisoned.insert((span.file, span.line, span.col));
    }

    /// Records an error at `span` about `path`.
    pub fn error(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.push(Severity::Error, span, path, message.into());
    }

    /// Records an error at `span` and drops any later error at the same place: the value could
    /// not be read (a failed interpolation, say), so what later checks say of it would be noise.
    pub fn fatal(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.error(span, path, message);
        self.poisoned.insert((span.file, span.line, span.col));
    }

    /// Records a warning at `span` about `path`.
    pub fn warning(&mut self, span: Span, path: &str, message: impl Into<String>) {
        self.push(Severity::Warning, span, path, message.into());
    }

    /// Reads a mapping whose keys must be in `schema` (or start with `x-`).
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        path: &str,
        schema: &Schema,
    ) -> Option<Fields<'n>> {
        let entries = self.map(node, path)?;
        for e in entries {
            if e.key.starts_with("x-") || schema.known.contains(&e.key.as_str()) {
                continue;
            }
            let key_path = join(path, &e.key);
            if let Some((_, instead)) = schema.unsupported.iter().find(|(k, _)| *k == e.key) {
                self.error(
                    e.key_span,
                    &key_path,
                    format!("Skiff does not support `{}`: {instead}", e.key),
                );
            } else if let Some(near) = did_you_mean(&e.key, schema.known.iter().copied()) {
                self.error(
                    e.key_span,
                    &key_path,
                    format!("unknown key `{}`; did you mean `{near}`?", e.key),
                );
            } else {
                let mut known: Vec<&str> = schema.known.to_vec();
                known.sort_unstable();
                self.error(
                    e.key_span,
                    &key_path,
                    format!("unknown key `{}` (keys here: {})", e.key, known.join(", ")),
                );
            }
        }
        Some(Fields { entries })
    }

    /// Reads a mapping; null reads as an empty one.
    pub fn map<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Entry]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            Kind::Null => Some(&[]),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a mapping, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Reads a sequence; null reads as an empty one.
    pub fn seq<'n>(&mut self, node: &'n Node, path: &str) -> Option<&'n [Node]> {
        match &node.kind {
            Kind::Seq(items) => Some(items),
            Kind::Null => Some(&[]),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a list, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Reads any scalar as text (`80` and `true` included).
    pub fn string(&mut self, node: &Node, path: &str) -> Option<String> {
        match &node.kind {
            Kind::Scalar(s) => Some(s.text.clone()),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected a string, found {}", node.describe()),
                );
                None
            }
        }
    }

    /// Reads a non-empty string.
    pub fn non_empty(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.string(node, path)?;
        if s.is_empty() {
            self.error(node.span, path, "must not be empty");
            return None;
        }
        Some(s)
    }

    /// Reads a boolean: `true`/`false`, and Compose's `yes`/`no`/`on`/`off`/`y`/`n`, any case.
    pub fn bool(&mut self, node: &Node, path: &str) -> Option<bool> {
        let text = self.string(node, path)?;
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" => Some(true),
            "false" | "no" | "n" | "off" => Some(false),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("expected true or false, found `{text}`"),
                );
                None
            }
        }
    }

    /// Reads an unsigned integer no larger than `max`, naming `what` it counts in errors.
    pub fn uint(&mut self, node: &Node, path: &str, max: u64) -> Option<u64> {
        let text = self.string(node, path)?;
        let t = text.trim();
        match t.parse::<u64>() {
            Ok(v) if v <= max => Some(v),
            Ok(v) => {
                self.error(node.span, path, format!("{v} is too large (at most {max})"));
                None
            }
            Err(_) if t.starts_with('-') && t[1..].parse::<u64>().is_ok() => {
                self.error(node.span, path, format!("{t} is negative; use 0 or more"));
                None
            }
            Err(_) => {
                self.error(
                    node.span,
                    path,
                    format!("expected a whole number, found `{text}`"),
                );
                None
            }
        }
    }

    /// Reads a u32.
    pub fn u32(&mut self, node: &Node, path: &str) -> Option<u32> {
        self.uint(node, path, u64::from(u32::MAX)).map(|v| v as u32)
    }

    /// Reads a duration (`1m30s`).
    pub fn duration(&mut self, node: &Node, path: &str) -> Option<Duration> {
        let text = self.string(node, path)?;
        self.unit(node, path, Duration::parse(&text))
    }

    /// Reads a byte size (`512m`, or a number of bytes).
    pub fn byte_size(&mut self, node: &Node, path: &str) -> Option<ByteSize> {
        let text = self.string(node, path)?;
        self.unit(node, path, ByteSize::parse(&text))
    }

    /// Reads a CPU count (`0.5`).
    pub fn cpus(&mut self, node: &Node, path: &str) -> Option<Cpus> {
        let text = self.string(node, path)?;
        self.unit(node, path, Cpus::parse(&text))
    }

    fn unit<T>(&mut self, node: &Node, path: &str, parsed: Result<T, UnitError>) -> Option<T> {
        parsed
            .map_err(|e| self.error(node.span, path, e.to_string()))
            .ok()
    }

    /// Reads a file mode: octal when written with a leading `0` or `0o` (`0440`), else decimal
    /// (YAML 1.1 would have read `0440` as octal too, and Compose files are written that way).
    pub fn mode(&mut self, node: &Node, path: &str) -> Option<u32> {
        let text = self.string(node, path)?;
        let t = text.trim();
        let parsed = if let Some(oct) = t.strip_prefix("0o") {
            u32::from_str_radix(oct, 8).ok()
        } else if t.len() > 1 && t.starts_with('0') {
            u32::from_str_radix(&t[1..], 8).ok()
        } else {
            t.parse().ok()
        };
        match parsed {
            Some(mode) if mode <= 0o7777 => Some(mode),
            _ => {
                self.error(
                    node.span,
                    path,
                    format!("`{text}` is not a file mode: use octal such as 0440"),
                );
                None
            }
        }
    }

    /// Reads a list of strings.
    pub fn string_list(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        let items = self.seq(node, path)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.string(item, &index(path, i)) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Reads a string or a list of strings as a list (`dns: 1.1.1.1`).
    pub fn one_or_many(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.kind {
            Kind::Scalar(s) => Some(vec![s.text.clone()]),
            _ => self.string_list(node, path),
        }
    }

    /// Reads a command: a list, or a string split as a POSIX shell would (`echo "a b"` is two
    /// words), as Compose does for `command` and `entrypoint`.
    pub fn command(&mut self, node: &Node, path: &str) -> Option<Vec<String>> {
        match &node.kind {
            Kind::Scalar(s) => {
                match shell_words::split(&s.text) {
                    Ok(words) => Some(words),
                    Err(_) => {
                        self.error(node.span, path, "unbalanced quotes in the command; close the quote or use the list form");
                        None
                    }
                }
            }
            Kind::Null => Some(Vec::new()),
            _ => self.string_list(node, path),
        }
    }

    /// Reads Compose's "dict or list" forms (`environment`, `labels`, `sysctls`, …): a mapping of
    /// keys to scalars, or a list of `KEY=VALUE` / `KEY` strings. A key without a value (`KEY`
    /// or `KEY:` with null) reads as `None`. Duplicate keys in the list form are errors.
    pub fn dict(&mut self, node: &Node, path: &str) -> Option<Vec<(String, Option<String>, Span)>> {
        let mut out: Vec<(String, Option<String>, Span)> = Vec::new();
        match &node.kind {
            Kind::Null => {}
            Kind::Map(entries) => {
                for e in entries {
                    let value = match &e.value.kind {
                        Kind::Null => None,
                        Kind::Scalar(s) => Some(s.text.clone()),
                        _ => {
                            let p = join(path, &e.key);
                            self.error(
                                e.value.span,
                                &p,
                                format!("expected a string, found {}", e.value.describe()),
                            );
                            continue;
                        }
                    };
                    out.push((e.key.clone(), value, e.key_span));
                }
            }
            Kind::Seq(items) => {
                let mut seen = BTreeMap::new();
                for (i, item) in items.iter().enumerate() {
                    let p = index(path, i);
                    let Some(text) = self.string(item, &p) else {
                        continue;
                    };
                    let (key, value) = match text.split_once('=') {
                        Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                        None => (text.clone(), None),
                    };
                    if key.is_empty() {
                        self.error(item.span, &p, format!("`{text}` has no name before `=`"));
                        continue;
                    }
                    if let Some(first) = seen.insert(key.clone(), item.span.line) {
                        self.error(
                            item.span,
                            &p,
                            format!("`{key}` is set twice (first at line {first})"),
                        );
                        continue;
                    }
                    out.push((key, value, item.span));
                }
            }
            Kind::Scalar(_) => {
                self.error(
                    node.span,
                    path,
                    "expected a mapping or a list of `KEY=VALUE` strings, found a scalar",
                );
                return None;
            }
        }
        Some(out)
    }

    /// Reads a "dict or list" whose keys all need values, as a map (`labels`, `sysctls`).
    /// A key without a value reads as the empty string, as Compose does for labels.
    pub fn string_map(&mut self, node: &Node, path: &str) -> Option<BTreeMap<String, String>> {
        let pairs = self.dict(node, path)?;
        Some(
            pairs
                .into_iter()
                .map(|(k, v, _)| (k, v.unwrap_or_default()))
                .collect(),
        )
    }
}

/// What the readers' unit tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::Cx;
    use crate::yaml::{parse, Limits, Node};

    /// Runs `read` on the YAML `text` as the value at `path`, returning what it read and every
    /// diagnostic as `file:line:col: error: path: message`.
    pub(crate) fn run_at<T>(
        path: &str,
        text: &str,
        read: impl FnOnce(&mut Cx, &Node, &str) -> T,
    ) -> (T, Vec<String>) {
        let node = parse(text, 0, &Limits::default()).unwrap();
        let mut cx = Cx::new(&["compose.yaml".to_owned()]);
        let out = read(&mut cx, &node, path);
        (out, cx.diags.iter().map(ToString::to_string).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse, Limits};

    fn node(text: &str) -> Node {
        parse(text, 0, &Limits::default()).unwrap()
    }

    fn messages(cx: &Cx) -> Vec<String> {
        cx.diags.iter().map(ToString::to_string).collect()
    }

    const SCHEMA: Schema = Schema {
        known: &["image", "replicas", "resources"],
        unsupported: &[(
            "build",
            "build the image first and refer to it with `image:`",
        )],
    };

    #[test]
    fn unknown_and_unsupported_keys_are_named_with_a_way_out() {
        let files = ["app.yaml".to_owned()];
        let mut cx = Cx::new(&files);
        let n = node("image: a\nreplica: 2\nbuild: .\nfrobnicate: 1\nx-mine: ok\n");
        let f = cx.fields(&n, "services.web", &SCHEMA).unwrap();
        assert_eq!(f.get("image").and_then(Node::as_str), Some("a"));
        assert_eq!(
            messages(&cx),
            [
                "app.yaml:2:1: error: services.web.replica: unknown key `replica`; did you mean `replicas`?",
                "app.yaml:3:1: error: services.web.build: Skiff does not support `build`: build the image first and refer to it with `image:`",
                "app.yaml:4:1: error: services.web.frobnicate: unknown key `frobnicate` (keys here: image, replicas, resources)",
            ]
        );
    }

    #[test]
    fn scalars_are_typed_by_the_schema() {
        let files = ["f".to_owned()];
        let mut cx = Cx::new(&files);
        let n = node("a: 80\nb: '80'\nc: yes\nd: -3\ne: 12 parsecs\nf: 0440\ng: 1m30s\nh: '0.5'\n");
        assert_eq!(cx.u32(n.get("a").unwrap(), "a"), Some(80));
        assert_eq!(cx.u32(n.get("b").unwrap(), "b"), Some(80));
        assert_eq!(cx.bool(n.get("c").unwrap(), "c"), Some(true));
        assert_eq!(cx.u32(n.get("d").unwrap(), "d"), None);
        assert_eq!(cx.byte_size(n.get("e").unwrap(), "e"), None);
        assert_eq!(cx.mode(n.get("f").unwrap(), "f"), Some(0o440));
        assert_eq!(
            cx.duration(n.get("g").unwrap(), "g"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            cx.cpus(n.get("h").unwrap(), "h"),
            Some(Cpus::from_millis(500))
        );
        let m = messages(&cx);
        assert_eq!(m[0], "f:4:4: error: d: -3 is negative; use 0 or more");
        assert!(
            m[1].starts_with("f:5:4: error: e: `12 parsecs` is not a size"),
            "{}",
            m[1]
        );
    }

    #[test]
    fn commands_split_like_a_shell() {
        let files = ["f".to_owned()];
        let mut cx = Cx::new(&files);
        let n = node("a: echo \"a b\" 'c d' e\\ f\nb: [sh, -c, 'x y']\nc: 'echo \"oops'\n");
        assert_eq!(
            cx.command(n.get("a").unwrap(), "a").unwrap(),
            ["echo", "a b", "c d", "e f"]
        );
        assert_eq!(
            cx.command(n.get("b").unwrap(), "b").unwrap(),
            ["sh", "-c", "x y"]
        );
        assert_eq!(cx.command(n.get("c").unwrap(), "c"), None);
    }

    #[test]
    fn dicts_read_both_forms() {
        let files = ["f".to_owned()];
        let mut cx = Cx::new(&files);
        let n = node("a: {X: 1, Y: }\nb: [X=1, Y, Z=a=b, X=2]\n");
        let a = cx.dict(n.get("a").unwrap(), "a").unwrap();
        assert_eq!(
            a.iter()
                .map(|(k, v, _)| (k.as_str(), v.as_deref()))
                .collect::<Vec<_>>(),
            [("X", Some("1")), ("Y", None)]
        );
        let b = cx.dict(n.get("b").unwrap(), "b").unwrap();
        assert_eq!(
            b.iter()
                .map(|(k, v, _)| (k.as_str(), v.as_deref()))
                .collect::<Vec<_>>(),
            [("X", Some("1")), ("Y", None), ("Z", Some("a=b"))]
        );
        assert_eq!(
            messages(&cx),
            ["f:2:20: error: b[3]: `X` is set twice (first at line 2)"]
        );
    }
}
