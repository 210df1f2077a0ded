//! Compose variable interpolation in values: `$VAR`, `${VAR}` and the `${VAR:-default}` family.
//!
//! The syntax and results are those of compose-go's `template` package, which Docker Compose
//! uses:
//!
//! * `$VAR` and `${VAR}`, names `[A-Za-z_][A-Za-z0-9_]*`; an unset variable reads as "" and is
//!   reported so the caller can warn;
//! * `${VAR:-default}` / `${VAR-default}`: the default when unset or empty / when unset;
//! * `${VAR:?message}` / `${VAR?message}`: an error when unset or empty / when unset;
//! * `${VAR:+replacement}` / `${VAR+replacement}`: the replacement when set and non-empty / when
//!   set, else "";
//! * defaults, messages and replacements are themselves interpolated, so they nest;
//! * `$$` is a literal `$`, and a `$` followed by anything but a name, `{` or `$` stays as it is
//!   (`$1`, `$ `, a trailing `$`), as in Compose;
//! * a `${` must be closed on its own line, as Compose's pattern does not reach past a newline.
//!
//! Where this differs from Compose, on purpose:
//!
//! * the branch not taken (the default of a set variable, say) is checked for syntax but neither
//!   looked up nor warned about: a typo in a default fails today, not the day the variable is
//!   unset, and a variable that is never read is never reported as unset;
//! * braces inside a default must balance (`${A-{}` is an error; Compose reads the default `{`),
//!   which also avoids a Compose quirk where `${A:-{}} ${B}` swallows the `${B}`;
//! * nesting is bounded ([`MAX_DEPTH`]) so that a hostile value cannot exhaust the stack.

use std::collections::HashSet;
use std::fmt::Write as _;

use crate::decode::Cx;
use crate::yaml::{Kind, Node, Scalar, Span};

/// How deeply `${…}` may nest inside defaults; far beyond any real file, and small enough that
/// recursion stays a few kilobytes of stack.
pub(crate) const MAX_DEPTH: usize = 32;

/// The largest value interpolation may produce (as large as a value written in the file may be),
/// so that `$A$A$A…` cannot multiply a large variable into gigabytes.
pub(crate) const MAX_VALUE_BYTES: usize = 1 << 20;

impl InterpolationError {
    /// Whether the error is about the applying shell's variables rather than the file's text.
    pub(crate) fn is_about_the_environment(&self) -> bool {
        matches!(
            self,
            Self::RequiredUnset { .. } | Self::RequiredEmpty { .. }
        )
    }
}

/// How much of a value an error message quotes back.
const ECHO_CHARS: usize = 120;

/// One string after interpolation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Interpolated {
    /// The expanded text.
    pub value: String,
    /// Variables read without a default that are not set, each once, in order of first use.
    pub unset: Vec<String>,
}

/// Why a value could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InterpolationError {
    /// A `${` with no matching `}` on its line.
    #[error(
        "`{fragment}` has no closing `}}` on its line{}; write `$$` for a literal `$`",
        context(.fragment, .template)
    )]
    Unclosed {
        /// From the `${` to the end of its line.
        fragment: String,
        /// The whole value.
        template: String,
    },
    /// `${}` or `${:-x}`: no name at all.
    #[error(
        "`{expression}` names no variable{}; write `$$` for a literal `$`",
        context(.expression, .template)
    )]
    MissingName {
        /// The `${…}` expression.
        expression: String,
        /// The whole value.
        template: String,
    },
    /// `${1A}`, `${ A}`: something that is not a variable name.
    #[error(
        "`{expression}`: `{name}` is not a variable name, which is letters, digits and `_`, \
         not starting with a digit{}",
        context(.expression, .template)
    )]
    InvalidName {
        /// What stands where the name should be.
        name: String,
        /// The `${…}` expression.
        expression: String,
        /// The whole value.
        template: String,
    },
    /// `${A:x}`, `${A B}`: a name followed by something that is not a modifier.
    #[error(
        "`{expression}`: expected `}}` or one of `:-`, `-`, `:?`, `?`, `:+`, `+` after `{name}`{}",
        context(.expression, .template)
    )]
    BadModifier {
        /// The variable name.
        name: String,
        /// The `${…}` expression.
        expression: String,
        /// The whole value.
        template: String,
    },
    /// `${…}` nested deeper than [`MAX_DEPTH`].
    #[error("`{}` nests `${{…}}` more than {limit} levels deep", echo(.template))]
    TooDeep {
        /// The whole value.
        template: String,
        /// The bound.
        limit: usize,
    },
    /// The expanded value is larger than [`MAX_VALUE_BYTES`].
    #[error("`{}` expands to more than {limit} bytes; Skiff accepts values of at most that", echo(.template))]
    TooLong {
        /// The whole value.
        template: String,
        /// The bound.
        limit: usize,
    },
    /// `${VAR?message}` or `${VAR:?message}` with the variable unset.
    #[error(
        "required variable `{name}` is not set: set it in the environment or .env{}",
        says(.message)
    )]
    RequiredUnset {
        /// The variable.
        name: String,
        /// The file's own message, interpolated; may be empty.
        message: String,
    },
    /// `${VAR:?message}` with the variable set to "".
    #[error(
        "required variable `{name}` is empty: give it a value in the environment or .env{}",
        says(.message)
    )]
    RequiredEmpty {
        /// The variable.
        name: String,
        /// The file's own message, interpolated; may be empty.
        message: String,
    },
}

/// ` (in `value`)`, unless the part in question is the whole value.
fn context(part: &str, template: &str) -> String {
    if part == template {
        String::new()
    } else {
        format!(" (in `{}`)", echo(template))
    }
}

/// ` (the file says: …)` for a non-empty message.
fn says(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(" (the file says: {message})")
    }
}

/// A value as quoted in a message: on one line, and cut short when long (a scalar may be 1 MiB).
fn echo(text: &str) -> String {
    let mut out: String = text.chars().take(ECHO_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.replace('\n', "\\n")
}

/// Expands the variables in `text`, reading them through `lookup` (`None` means unset).
pub(crate) fn interpolate_str(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, InterpolationError> {
    if !text.contains('$') {
        return Ok(Interpolated {
            value: text.to_owned(),
            unset: Vec::new(),
        });
    }
    let mut expander = Expander {
        template: text,
        lookup,
        unset: Vec::new(),
        depth: 0,
    };
    let mut value = String::with_capacity(text.len());
    expander.expand(text, &mut value, true)?;
    Ok(Interpolated {
        value,
        unset: expander.unset,
    })
}

/// The three families of `${VAR<op>arg}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `-`: a default.
    Default,
    /// `?`: an error.
    Required,
    /// `+`: a replacement.
    Alternate,
}

/// One interpolation of one value.
struct Expander<'a> {
    /// The whole value, for messages.
    template: &'a str,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
    /// How many `${…}` enclose the text being expanded.
    depth: usize,
}

impl Expander<'_> {
    /// Appends the expansion of `text` to `out`. With `live` false nothing is looked up or
    /// written: the text is only checked, as for the branch of a default that is not taken.
    fn expand(
        &mut self,
        text: &str,
        out: &mut String,
        live: bool,
    ) -> Result<(), InterpolationError> {
        let bytes = text.as_bytes();
        let mut done = 0;
        while let Some(found) = text[done..].find('$') {
            let at = done + found;
            if live {
                out.push_str(&text[done..at]);
            }
            done = match bytes.get(at + 1) {
                Some(b'$') => {
                    if live {
                        out.push('$');
                    }
                    at + 2
                }
                Some(b'{') => self.braced(text, at, out, live)?,
                Some(&c) if is_name_start(c) => {
                    let end = at + 1 + name_len(&bytes[at + 1..]);
                    if live {
                        self.push_var(&text[at + 1..end], out);
                    }
                    end
                }
                // Compose's pattern does not match here, so the `$` is left as written.
                _ => {
                    if live {
                        out.push('$');
                    }
                    at + 1
                }
            };
            if out.len() > MAX_VALUE_BYTES {
                return Err(InterpolationError::TooLong {
                    template: self.template.to_owned(),
                    limit: MAX_VALUE_BYTES,
                });
            }
        }
        if live {
            out.push_str(&text[done..]);
        }
        Ok(())
    }

    /// Expands the `${…}` starting at `text[at]`; returns where the text goes on after it.
    fn braced(
        &mut self,
        text: &str,
        at: usize,
        out: &mut String,
        live: bool,
    ) -> Result<usize, InterpolationError> {
        let Some(close) = closing_brace(text.as_bytes(), at + 2) else {
            let line_end = text[at..].find('\n').map_or(text.len(), |n| at + n);
            return Err(InterpolationError::Unclosed {
                fragment: text[at..line_end].to_owned(),
                template: self.template.to_owned(),
            });
        };
        let expression = &text[at..=close];
        let content = &text[at + 2..close];
        let (name, rest) = content.split_at(name_len(content.as_bytes()));
        self.check_name(name, content, expression)?;
        if rest.is_empty() {
            if live {
                self.push_var(name, out);
            }
            return Ok(close + 1);
        }
        let (colon, after) = match rest.strip_prefix(':') {
            Some(after) => (true, after),
            None => (false, rest),
        };
        let op = match after.as_bytes().first() {
            Some(b'-') => Op::Default,
            Some(b'?') => Op::Required,
            Some(b'+') => Op::Alternate,
            _ => {
                return Err(InterpolationError::BadModifier {
                    name: name.to_owned(),
                    expression: expression.to_owned(),
                    template: self.template.to_owned(),
                })
            }
        };
        if self.depth >= MAX_DEPTH {
            return Err(InterpolationError::TooDeep {
                template: self.template.to_owned(),
                limit: MAX_DEPTH,
            });
        }
        self.depth += 1;
        let applied = self.apply(op, colon, name, &after[1..], out, live);
        self.depth -= 1;
        applied.map(|()| close + 1)
    }

    /// Refuses a missing or malformed name in `${…}`.
    fn check_name(
        &self,
        name: &str,
        content: &str,
        expression: &str,
    ) -> Result<(), InterpolationError> {
        let operator = |c: char| matches!(c, ':' | '-' | '?' | '+');
        if name.is_empty() && (content.is_empty() || content.starts_with(operator)) {
            return Err(InterpolationError::MissingName {
                expression: expression.to_owned(),
                template: self.template.to_owned(),
            });
        }
        if name.is_empty() || name.as_bytes()[0].is_ascii_digit() {
            let end = content.find(operator).unwrap_or(content.len());
            return Err(InterpolationError::InvalidName {
                name: content[..end].to_owned(),
                expression: expression.to_owned(),
                template: self.template.to_owned(),
            });
        }
        Ok(())
    }

    /// Applies `${name<op>arg}` (with `:` when `colon`): the argument is expanded where it is
    /// used and only checked where it is not.
    fn apply(
        &mut self,
        op: Op,
        colon: bool,
        name: &str,
        arg: &str,
        out: &mut String,
        live: bool,
    ) -> Result<(), InterpolationError> {
        if !live {
            return self.expand(arg, out, false);
        }
        let value = (self.lookup)(name);
        // With `:`, an empty value counts as absent.
        let absent = match &value {
            None => true,
            Some(v) => colon && v.is_empty(),
        };
        let use_arg = match op {
            Op::Default | Op::Required => absent,
            Op::Alternate => !absent,
        };
        if !use_arg {
            if op != Op::Alternate {
                out.push_str(value.as_deref().unwrap_or_default());
            }
            return self.expand(arg, out, false);
        }
        if op != Op::Required {
            return self.expand(arg, out, true);
        }
        let mut message = String::new();
        self.expand(arg, &mut message, true)?;
        let name = name.to_owned();
        Err(match value {
            None => InterpolationError::RequiredUnset { name, message },
            Some(_) => InterpolationError::RequiredEmpty { name, message },
        })
    }

    /// Appends the value of `name`, or records it as unset.
    fn push_var(&mut self, name: &str, out: &mut String) {
        match (self.lookup)(name) {
            Some(value) => out.push_str(&value),
            None => {
                if !self.unset.iter().any(|n| n == name) {
                    self.unset.push(name.to_owned());
                }
            }
        }
    }
}

/// Whether `c` may start a variable name.
fn is_name_start(c: u8) -> bool {
    c == b'_' || c.is_ascii_alphabetic()
}

/// How many leading bytes of `bytes` are name characters (digits included).
fn name_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|&&c| c == b'_' || c.is_ascii_alphanumeric())
        .count()
}

/// The index of the `}` closing a `${` whose content starts at `from`, counting the braces in
/// between; `None` if the line or the text ends first.
fn closing_brace(bytes: &[u8], from: usize) -> Option<usize> {
    let mut depth = 1usize;
    for (i, &c) in bytes.iter().enumerate().skip(from) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            b'\n' => return None,
            _ => {}
        }
    }
    None
}

/// Interpolates every scalar value under `node` in place, recording errors and warnings
/// through `cx` at the scalar's place and key path (`path` is `node`'s own).
///
/// Mapping keys are left alone, as Compose leaves them; spans, tags and whether a scalar was
/// plain are kept, so the decoder reads an interpolated `80` as it would a written one. Each
/// unset variable is warned about once, where it is first used.
pub(crate) fn interpolate_tree(
    cx: &mut Cx,
    node: &mut Node,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) {
    let mut walker = Walker {
        cx,
        lookup,
        path: path.to_owned(),
        warned: HashSet::new(),
    };
    walker.node(node);
}

/// The state of one [`interpolate_tree`] walk.
struct Walker<'c, 'l> {
    cx: &'c mut Cx,
    lookup: &'l dyn Fn(&str) -> Option<String>,
    /// The key path of the node being visited, grown and cut back in place so that no path is
    /// built for the many scalars that have nothing to report.
    path: String,
    /// Variables already warned about.
    warned: HashSet<String>,
}

impl Walker<'_, '_> {
    /// Visits one node and everything under it.
    fn node(&mut self, node: &mut Node) {
        let span = node.span;
        match &mut node.kind {
            Kind::Null => {}
            Kind::Scalar(scalar) => self.scalar(span, scalar),
            Kind::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let len = self.path.len();
                    // The same shape as `decode::index`.
                    let _ = write!(self.path, "[{i}]");
                    self.node(item);
                    self.path.truncate(len);
                }
            }
            Kind::Map(entries) => {
                for entry in entries {
                    let len = self.path.len();
                    // The same shape as `decode::join`.
                    if !self.path.is_empty() {
                        self.path.push('.');
                    }
                    self.path.push_str(&entry.key);
                    self.node(&mut entry.value);
                    self.path.truncate(len);
                }
            }
        }
    }

    /// Interpolates one scalar.
    fn scalar(&mut self, span: Span, scalar: &mut Scalar) {
        // Most values have no `$`: leave them without copying.
        if !scalar.text.contains('$') {
            return;
        }
        match interpolate_str(&scalar.text, self.lookup) {
            Ok(done) => {
                scalar.text = done.value;
                for name in done.unset {
                    if !self.warned.contains(&name) {
                        self.cx.warning(
                            span,
                            &self.path,
                            format!("variable `{name}` is not set; using an empty string"),
                        );
                        self.warned.insert(name);
                    }
                }
            }
            Err(e) if e.is_about_the_environment() && !self.cx.checks_environment => {
                self.cx.poison(span)
            }
            Err(e) => self.cx.fatal(span, &self.path, e.to_string()),
        }
    }
}

#[cfg(test)]
#[path = "interpolate_tests.rs"]
mod tests;
