//! How listings are printed: an aligned table for people, or the records as JSON or YAML for
//! programs (`-o json`, `-o yaml`).

use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;
use serde::Serialize;

use super::human;

/// `-o`: how a listing is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// Pretty JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Prints `value` as `format` says: `rows` (a header first) for a table, else `value` itself.
pub fn print<T: Serialize>(
    format: Format,
    value: &T,
    rows: Vec<Vec<String>>,
) -> anyhow::Result<()> {
    let text = match format {
        Format::Table => human::table(&rows),
        Format::Json => serde_json::to_string_pretty(value)? + "\n",
        // Through a JSON value, so that tagged enums (`{"app": {…}}`) read as plain maps rather
        // than as YAML tags (`!app`), exactly as in the JSON.
        Format::Yaml => serde_yaml::to_string(&serde_json::to_value(value)?)?,
    };
    write_stdout(&text)
}

/// Writes `text` to stdout.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")
}

/// A table row of cells from anything displayable.
macro_rules! row {
    ($($cell:expr),* $(,)?) => { vec![$($cell.to_string()),*] };
}
pub(crate) use row;

/// The serde name of a unit enum value (`running`, `drain`), as the API writes it.
pub fn word<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// `Some(x)` as text, `None` as `-`.
pub fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
