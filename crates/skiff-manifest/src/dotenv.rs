//! `.env` and `env_file` files, read as Docker Compose reads them (compose-go's `dotenv` package,
//! itself derived from godotenv).
//!
//! * `KEY=VALUE`, `KEY: VALUE` and `export KEY=VALUE`; blank lines and `#` comment lines; the
//!   space around the key and after the separator is dropped.
//! * Unquoted values end at the line's end, lose trailing space, and lose an inline comment
//!   starting at ` #` (a space, then `#`); `${VAR}` is interpolated.
//! * Single-quoted values are literal and may span lines; a quote after a backslash does not
//!   close them (the backslash is kept), as in Compose.
//! * Double-quoted values may span lines; `\n`, `\r`, `\t`, `\a`, `\b`, `\f`, `\v`, `\\`, `\"`,
//!   `\$` and octal `\0NNN` are unescaped, any other backslash is kept, then `${VAR}` is
//!   interpolated.
//! * A line holding only `KEY` takes `KEY` from the lookup, or is left out when it is unset.
//!
//! Where this differs from Compose, on purpose:
//!
//! * interpolation sees the variables defined earlier in the file before the lookup (Compose
//!   asks the lookup first), so that a file reads the same whatever the shell exports;
//! * a name must start with a letter or `_` (Compose takes `1BAD=x`, then drops it when it builds
//!   the environment) and must not be empty (`=x`);
//! * text after a closing quote, other than a comment, is an error (Compose reads it as the next
//!   statement, so `A="x" B="y"` silently sets both);
//! * in double quotes `\\` is an escape before a closing quote too (Compose leaves `"a\\"`
//!   unterminated);
//! * every bad line is reported, not only the first; warnings about unset variables are not
//!   reported, as this API has no place for them (Compose logs them).

use std::collections::HashMap;

use crate::interpolate::interpolate_str;

/// A line of an env file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub(crate) struct DotenvError {
    /// The 1-based line the statement starts on.
    pub line: u32,
    /// What is wrong.
    pub message: String,
}

/// Reads an env file: its entries in file order (one per key, at the place of its first
/// definition, with its last value) and every problem found.
///
/// `lookup` supplies the values of bare `KEY` lines and, after the file's own earlier entries,
/// of variables in `${…}`.
pub(crate) fn parse_dotenv(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> (Vec<(String, String)>, Vec<DotenvError>) {
    // Editors on Windows like to start files with a byte-order mark; Compose skips it too.
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        src,
        pos: 0,
        line: 1,
        entries: Vec::new(),
        index: HashMap::new(),
        errors: Vec::new(),
    };
    while parser.next_statement() {
        parser.statement(lookup);
    }
    (parser.entries, parser.errors)
}

/// The state of one [`parse_dotenv`].
struct Parser<'s> {
    src: &'s str,
    /// Where reading resumes.
    pos: usize,
    /// The 1-based line of `pos`.
    line: u32,
    entries: Vec<(String, String)>,
    /// Where each key is in `entries`.
    index: HashMap<String, usize>,
    errors: Vec<DotenvError>,
}

/// Space within a line (a newline ends the line instead).
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\x0b' | '\x0c')
}

impl<'s> Parser<'s> {
    /// Skips blank and comment lines; whether a statement starts at `pos`.
    fn next_statement(&mut self) -> bool {
        loop {
            let rest = &self.src[self.pos..];
            let start = rest
                .find(|c: char| !c.is_whitespace())
                .unwrap_or(rest.len());
            self.line += count_newlines(&rest[..start]);
            self.pos += start;
            if self.pos == self.src.len() {
                return false;
            }
            if !self.src[self.pos..].starts_with('#') {
                return true;
            }
            self.pos = self.line_end(self.pos);
        }
    }

    /// Where the line holding `at` ends (its `\n`, or the end of the text).
    fn line_end(&self, at: usize) -> usize {
        self.src[at..].find('\n').map_or(self.src.len(), |n| at + n)
    }

    /// Reads one statement, starting at `pos`, and leaves `pos` at the end of its last line.
    fn statement(&mut self, lookup: &dyn Fn(&str) -> Option<String>) {
        let line = self.line;
        let eol = self.line_end(self.pos);
        let mut head = &self.src[self.pos..eol];
        if let Some(after) = head.strip_prefix("export") {
            let name = after.trim_start_matches(is_space);
            // `export` alone, or `export=1`, is a variable named `export`.
            if after.starts_with(is_space) && !name.is_empty() {
                head = name;
            }
        }
        let sep = head.find(['=', ':']);
        let key = head[..sep.unwrap_or(head.len())].trim_end_matches(is_space);
        if let Err(message) = check_name(key, sep.map(|s| &head[s..=s])) {
            self.errors.push(DotenvError { line, message });
            self.pos = eol;
            return;
        }
        let Some(sep) = sep else {
            if let Some(value) = lookup(key) {
                self.set(key, value);
            }
            self.pos = eol;
            return;
        };
        let value_at = eol - head[sep + 1..].trim_start_matches(is_space).len();
        let src = self.src;
        let value = match src.as_bytes().get(value_at) {
            Some(b'\'') => self.quoted(value_at, line).map(str::to_owned),
            Some(b'"') => self
                .quoted(value_at, line)
                .and_then(|raw| self.interpolate(&unescape(raw), line, lookup)),
            _ => {
                self.pos = eol;
                // An inline comment starts at ` #`; a `#` elsewhere is part of the value.
                let raw = src[value_at..eol]
                    .split_once(" #")
                    .map_or(&src[value_at..eol], |(v, _)| v);
                self.interpolate(raw.trim_end(), line, lookup)
            }
        };
        if let Some(value) = value {
            self.set(key, value);
        }
    }

    /// The text between the quote at `open` and its closing quote, as written; moves `pos` to
    /// the end of the closing quote's line.
    fn quoted(&mut self, open: usize, line: u32) -> Option<&'s str> {
        let src = self.src;
        let quote = char::from(src.as_bytes()[open]);
        let Some(close) = closing_quote(src.as_bytes(), open) else {
            self.errors.push(DotenvError {
                line,
                message: format!("the value's opening `{quote}` is never closed"),
            });
            // Resume on the next line: with no closing quote anywhere, what follows was not
            // meant to be part of the value.
            self.pos = self.line_end(open);
            return None;
        };
        let raw = &src[open + 1..close];
        self.line += count_newlines(raw);
        let eol = self.line_end(close);
        let trailing = src[close + 1..eol].trim_matches(is_space);
        if !trailing.is_empty() && !trailing.starts_with('#') {
            self.errors.push(DotenvError {
                line: self.line,
                message: format!(
                    "unexpected `{trailing}` after the closing `{quote}`; \
                     a comment there starts with `#`"
                ),
            });
        }
        self.pos = eol;
        Some(raw)
    }

    /// Interpolates `raw` with the file's earlier entries, then `lookup`.
    fn interpolate(
        &mut self,
        raw: &str,
        line: u32,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Option<String> {
        let scope = |name: &str| self.get(name).map(str::to_owned).or_else(|| lookup(name));
        match interpolate_str(raw, &scope) {
            Ok(done) => Some(done.value),
            Err(e) => {
                self.errors.push(DotenvError {
                    line,
                    message: e.to_string(),
                });
                None
            }
        }
    }

    /// The value the file has given `key` so far.
    fn get(&self, key: &str) -> Option<&str> {
        self.index.get(key).map(|&i| self.entries[i].1.as_str())
    }

    /// Sets `key`, in place if the file defined it before.
    fn set(&mut self, key: &str, value: String) {
        match self.index.get(key) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(key.to_owned(), self.entries.len());
                self.entries.push((key.to_owned(), value));
            }
        }
    }
}

/// How many lines `text` ends.
fn count_newlines(text: &str) -> u32 {
    u32::try_from(text.bytes().filter(|&b| b == b'\n').count()).unwrap_or(u32::MAX)
}

/// Refuses a key that is not a variable name; `sep` is the `=` or `:` after it, if any.
fn check_name(key: &str, sep: Option<&str>) -> Result<(), String> {
    let Some(first) = key.chars().next() else {
        return Err(format!(
            "missing variable name before `{}`",
            sep.unwrap_or("=")
        ));
    };
    // Compose's set: letters and digits of any script, and `_ . - [ ]` (for names such as
    // `spring.datasource.url` or `a[1]` that programs read from their environment).
    let allowed = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']');
    if let Some(bad) = key.chars().find(|&c| !allowed(c) && !is_space(c)) {
        return Err(format!(
            "unexpected character `{bad}` in variable name `{key}`"
        ));
    }
    if key.contains(is_space) {
        return Err(format!(
            "variable name `{key}` contains a space; write `NAME=value`"
        ));
    }
    if !(first.is_alphabetic() || first == '_') {
        return Err(format!(
            "variable name `{key}` must start with a letter or `_`"
        ));
    }
    Ok(())
}

/// The index of the quote closing the one at `open`. In single quotes a quote after a
/// backslash does not close (Compose's rule); in double quotes a backslash escapes what follows.
fn closing_quote(bytes: &[u8], open: usize) -> Option<usize> {
    let quote = bytes[open];
    let double = quote == b'"';
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if double => i += 1,
            c if c == quote && (double || bytes[i - 1] != b'\\') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Expands the escapes of a double-quoted value. `\$` becomes `$$`, which interpolation later
/// reads as a literal `$`, as in Compose.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let used = match after.as_bytes().first() {
            Some(&c @ (b'n' | b'r' | b't' | b'a' | b'b' | b'f' | b'v' | b'"' | b'\\')) => {
                out.push(match c {
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    b'a' => '\x07',
                    b'b' => '\x08',
                    b'f' => '\x0c',
                    b'v' => '\x0b',
                    other => char::from(other),
                });
                1
            }
            Some(b'$') => {
                out.push_str("$$");
                1
            }
            Some(b'0') => octal(after, &mut out),
            // Anything else keeps its backslash.
            _ => {
                out.push('\\');
                0
            }
        };
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

/// `\0NNN` (with `after` just past the backslash): the byte value NNN, if NNN is three octal
/// digits of at most 255; otherwise the text is kept as written, as Compose keeps it. Returns
/// how much of `after` was used.
fn octal(after: &str, out: &mut String) -> usize {
    let digits = after.as_bytes()[1..]
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let seq = &after[..1 + digits];
    match u8::from_str_radix(&seq[1..], 8) {
        Ok(byte) if digits == 3 => out.push(char::from(byte)),
        _ => {
            out.push('\\');
            out.push_str(seq);
        }
    }
    1 + digits
}

#[cfg(test)]
#[path = "dotenv_tests.rs"]
mod tests;
