//! A service's `volumes:` (named volumes, bind mounts and tmpfs, in Compose's short and long
//! syntaxes) and its `tmpfs:` key, as [`MountSpec`]s.
//!
//! Host paths are resolved here, lexically: a relative bind source is joined to the project
//! directory and `.` and `..` are folded without looking at the disk — this crate does no I/O,
//! and the path names a directory on the nodes, not on the machine that reads the manifest.
//! Container paths are normalized the same way, and a `..` in one is refused.
//!
//! Differences from Docker Compose, on purpose:
//!
//! * short-syntax options Compose ignores are errors: unknown ones, `ro` with `rw`, `nocopy` on a
//!   bind mount, propagation on a volume;
//! * `z`/`Z` and `bind.selinux` are refused: Skiff does not run SELinux, and silently skipping a
//!   relabel would leave a container that works under Docker unable to read its files;
//! * `~user/…` is refused (Compose reads it as `<home>user/…`);
//! * a tmpfs cannot be read-only (the spec has no such field, and an empty read-only tmpfs holds
//!   nothing);
//! * `mode=` in the `tmpfs:` key is octal, as the kernel reads the mount option; Compose passes
//!   it to the kernel too, so the result is the same.

mod long;
mod short;
#[cfg(test)]
mod tests;
mod tmpfs;

use std::collections::BTreeMap;
use std::path::Path;

use skiff_api::{MountSpec, Propagation};

use self::long::long_volume;
use self::short::short_volume;
pub(crate) use self::tmpfs::tmpfs;
use crate::decode::{index, last_key, start, Cx};
use crate::yaml::{Kind, Node, Span};

/// What relative host paths are resolved against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MountContext<'a> {
    /// The project directory, absolute: `./data` is `<project_dir>/data`.
    pub project_dir: &'a Path,
    /// The home directory `~` stands for (absolute), when known; `None` makes `~` an error.
    pub home: Option<&'a str>,
}

/// Reads a service's `volumes:` list, in file order.
pub(crate) fn volumes(cx: &mut Cx, node: &Node, path: &str, mcx: &MountContext) -> Vec<MountSpec> {
    let Some(items) = cx.seq(node, path) else {
        return Vec::new();
    };
    let mut targets = Targets::new(path);
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let p = index(path, i);
        let mount = match &item.kind {
            Kind::Scalar(s) => short_volume(cx, item, &p, &s.text, mcx),
            Kind::Map(_) => long_volume(cx, item, &p, mcx),
            _ => {
                cx.error(
                    item.span,
                    &p,
                    format!(
                        "expected `SOURCE:TARGET[:MODE]` or a mapping with `type:` and \
                         `target:`, found {}",
                        item.describe()
                    ),
                );
                None
            }
        };
        if let Some(m) = mount {
            if targets.claim(cx, start(item), &p, m.target(), i) {
                out.push(m);
            }
        }
    }
    out
}

/// The entries' targets so far, to refuse a second mount at the same place.
struct Targets<'p> {
    /// The list's key, to name the first entry in errors (`volumes`).
    list: &'p str,
    /// Each target, with the entry that mounted it first.
    seen: BTreeMap<String, usize>,
}

impl<'p> Targets<'p> {
    /// None yet, in the list at `path`.
    fn new(path: &'p str) -> Self {
        Self {
            list: last_key(path),
            seen: BTreeMap::new(),
        }
    }

    /// Records that entry `i` mounts `target`; records an error instead when one already does.
    fn claim(&mut self, cx: &mut Cx, span: Span, p: &str, target: &str, i: usize) -> bool {
        if let Some(first) = self.seen.get(target) {
            let message = format!(
                "`{target}` is already mounted by {}",
                index(self.list, *first)
            );
            cx.error(span, p, message);
            return false;
        }
        self.seen.insert(target.to_owned(), i);
        true
    }
}

/// Whether a short-syntax source is a host path rather than a volume name (Compose's rule).
fn is_host_path(source: &str) -> bool {
    source.starts_with(['/', '.', '~'])
}

/// Resolves a bind source to an absolute host path, lexically.
fn host_path(cx: &mut Cx, span: Span, p: &str, source: &str, mcx: &MountContext) -> Option<String> {
    let joined = if source == "~" || source.starts_with("~/") {
        let Some(home) = mcx.home else {
            let message = format!(
                "`{source}` starts with `~`, and no home directory is known here: write the \
                 absolute path"
            );
            cx.error(span, p, message);
            return None;
        };
        format!("{home}/{}", &source[1..])
    } else if source.starts_with('~') {
        let message = format!(
            "`{source}`: only `~` and `~/…` (the home directory) are understood, not another \
             user's home: write the absolute path"
        );
        cx.error(span, p, message);
        return None;
    } else if source.starts_with('/') {
        source.to_owned()
    } else {
        // Paths reach the crate as text; a project directory that is not UTF-8 cannot be joined.
        let Some(dir) = mcx.project_dir.to_str() else {
            let message = format!(
                "the project directory `{}` is not UTF-8, so `{source}` cannot be resolved \
                 against it: write the absolute path",
                mcx.project_dir.display()
            );
            cx.error(span, p, message);
            return None;
        };
        format!("{dir}/{source}")
    };
    Some(clean(&joined))
}

/// Checks a volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
fn volume_name(cx: &mut Cx, span: Span, p: &str, name: &str) -> Option<String> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        return Some(name.to_owned());
    }
    let message = format!(
        "`{name}` is not a volume name: use letters, digits, `_`, `.` and `-`, starting with a \
         letter or digit; for a host path, start it with `/` or `./`"
    );
    cx.error(span, p, message);
    None
}

/// Checks and normalizes a container path: absolute, no `..`, not the root itself.
pub(crate) fn container_path(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the container path is empty: write an absolute path such as `/data`".into());
    }
    if !text.starts_with('/') {
        let suggestion = clean(&format!("/{text}"));
        return Err(format!(
            "`{text}` is not an absolute container path: write `{suggestion}`"
        ));
    }
    if text.split('/').any(|c| c == "..") {
        return Err(format!(
            "`{text}` has a `..` component: write the container path without it, such as `{}`",
            clean(text)
        ));
    }
    let cleaned = clean(text);
    if cleaned == "/" {
        return Err(
            "cannot mount over the container's root `/`: choose a directory such as `/data`".into(),
        );
    }
    Ok(cleaned)
}

/// Folds `.`, `..`, repeated and trailing slashes out of a path without touching the disk, as
/// Go's `filepath.Clean` (and so Compose) does: `..` at the root stays at the root.
pub(crate) fn clean(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            _ => parts.push(c),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
}

/// Reads a propagation mode.
fn propagation(text: &str) -> Option<Propagation> {
    Some(match text {
        "private" => Propagation::Private,
        "rprivate" => Propagation::Rprivate,
        "shared" => Propagation::Shared,
        "rshared" => Propagation::Rshared,
        "slave" => Propagation::Slave,
        "rslave" => Propagation::Rslave,
        _ => return None,
    })
}

/// Reads a long-syntax `bind.propagation`.
fn propagation_of(text: &str) -> Result<Propagation, String> {
    propagation(text).ok_or_else(|| {
        format!(
            "unknown propagation `{text}`: use rprivate (the default), private, rshared, shared, \
             rslave or slave"
        )
    })
}
