//! Problems found in manifests, each with the file, line, column and key path it is about.
//!
//! Loading never stops at the first problem: every check that can run does, and all errors and
//! warnings come back together, so that an operator fixes a file in one pass.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The manifest cannot be applied.
    Error,
    /// Applied, but probably not what was meant (an obsolete key, an unset variable).
    Warning,
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as the operator named it.
    pub file: String,
    /// 1-based line; 0 when the problem is about the file as a whole.
    pub line: u32,
    /// 1-based column; 0 when the problem is about the file as a whole.
    pub column: u32,
    /// The key path, e.g. `services.web.deploy.resources.limits.memory` or `services.web.ports[1]`;
    /// empty for the document itself.
    pub path: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `compose.yaml:12:9: error: services.web.deploy.replica: unknown key; did you mean `replicas`?`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        write!(f, ": {severity}: ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// The problems of one load, in the order they were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Adds one.
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    /// All of them.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings only.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    /// Whether any is an error.
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sorts by file, line and column, keeping the order of problems at the same place, and
    /// drops exact repeats (the same node can be reached twice through a YAML alias).
    pub fn sort(&mut self) {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
        self.items.dedup();
    }

    /// Moves them out.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.items
    }
}

impl fmt::Display for Diagnostics {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// The closest of `candidates` to a misspelt `word`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Names this long are not typed by hand, and comparing them costs their length squared.
    const MAX_LEN: usize = 64;
    if word.len() > MAX_LEN {
        return None;
    }
    let word = word.to_ascii_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        if c.len() > MAX_LEN || c.len().abs_diff(word.len()) > 3 {
            continue;
        }
        let lower = c.to_ascii_lowercase();
        let score = strsim::jaro_winkler(&word, &lower);
        let close_edit = strsim::damerau_levenshtein(&word, &lower) <= 2 && c.len() > 2;
        if (score >= 0.85 || close_edit) && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested_and_strangers_are_not() {
        let keys = [
            "replicas",
            "resources",
            "restart_policy",
            "mode",
            "placement",
        ];
        assert_eq!(did_you_mean("replica", keys), Some("replicas"));
        assert_eq!(did_you_mean("resource", keys), Some("resources"));
        assert_eq!(did_you_mean("restart-policy", keys), Some("restart_policy"));
        assert_eq!(did_you_mean("Mode", keys), Some("mode"));
        assert_eq!(did_you_mean("banana", keys), None);
    }

    #[test]
    fn a_diagnostic_reads_as_file_line_column_path_message() {
        let d = Diagnostic {
            severity: Severity::Error,
            file: "compose.yaml".into(),
            line: 12,
            column: 9,
            path: "services.web.deploy.replica".into(),
            message: "unknown key; did you mean `replicas`?".into(),
        };
        assert_eq!(
            d.to_string(),
            "compose.yaml:12:9: error: services.web.deploy.replica: unknown key; did you mean `replicas`?"
        );
    }
}
