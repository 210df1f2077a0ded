//! A service's `tmpfs:` key: container paths, each with optional `size=` and `mode=` options.

use skiff_api::{ByteSize, MountSpec};

use super::{container_path, Targets};
use crate::decode::{index, Cx};
use crate::yaml::{Kind, Node, Span};

/// Flags of the `tmpfs:` key that are accepted and ignored: Skiff mounts every tmpfs
/// `rw,nosuid,nodev` and executable, whatever is asked.
const IGNORED_TMPFS_FLAGS: &[&str] = &["rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev"];

/// Reads a service's `tmpfs:` key: one container path or a list of them, each optionally with
/// mount options (`/run:size=64m,mode=1777`).
pub(crate) fn tmpfs(cx: &mut Cx, node: &Node, path: &str) -> Vec<MountSpec> {
    let entries: Vec<(&Node, String)> = match &node.kind {
        Kind::Scalar(_) => vec![(node, path.to_owned())],
        _ => match cx.seq(node, path) {
            Some(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, index(path, i)))
                .collect(),
            None => return Vec::new(),
        },
    };
    let mut targets = Targets::new(path);
    let mut out = Vec::new();
    for (i, (item, p)) in entries.into_iter().enumerate() {
        let Kind::Scalar(s) = &item.kind else {
            cx.error(
                item.span,
                &p,
                format!(
                    "expected a container path such as `/run` or `/run:size=64m`, found {}",
                    item.describe()
                ),
            );
            continue;
        };
        if let Some(m) = tmpfs_entry(cx, item.span, &p, &s.text) {
            if targets.claim(cx, item.span, &p, m.target(), i) {
                out.push(m);
            }
        }
    }
    out
}

/// Reads one `tmpfs:` entry.
fn tmpfs_entry(cx: &mut Cx, span: Span, p: &str, text: &str) -> Option<MountSpec> {
    let (target, options) = match text.split_once(':') {
        Some((target, options)) => (target, Some(options)),
        None => (text, None),
    };
    let target = container_path(target)
        .map_err(|e| cx.error(span, p, e))
        .ok();
    let (mut size, mut mode, mut ok) = (None, None, true);
    let options: Vec<&str> = options.map(|o| o.split(',').collect()).unwrap_or_default();
    if options.contains(&"") {
        let message = format!(
            "`{text}` has an empty option: separate options with single commas, such as \
             `/run:size=64m,mode=1777`"
        );
        cx.error(span, p, message);
        ok = false;
    }
    for opt in options.into_iter().filter(|o| !o.is_empty()) {
        let problem = if let Some(v) = opt.strip_prefix("size=") {
            match ByteSize::parse(v) {
                Ok(_) if size.is_some() => Some("`size=` is given twice: keep one".to_owned()),
                Ok(s) => {
                    size = Some(s);
                    None
                }
                Err(e) => Some(e.to_string()),
            }
        } else if let Some(v) = opt.strip_prefix("mode=") {
            match octal_mode(v) {
                Some(_) if mode.is_some() => Some("`mode=` is given twice: keep one".to_owned()),
                Some(m) => {
                    mode = Some(m);
                    None
                }
                None => Some(format!(
                    "`{opt}` is not a file mode: write octal permission bits, such as `mode=1777`"
                )),
            }
        } else if IGNORED_TMPFS_FLAGS.contains(&opt) {
            None
        } else {
            Some(format!(
                "unknown tmpfs option `{opt}`: use `size=` (such as `size=64m`) and `mode=` \
                 (octal, such as `mode=1777`); rw, exec, noexec, suid, nosuid, dev and nodev are \
                 accepted and ignored (Skiff mounts tmpfs nosuid,nodev)"
            ))
        };
        if let Some(message) = problem {
            cx.error(span, p, message);
            ok = false;
        }
    }
    Some(MountSpec::Tmpfs {
        target: target.filter(|_| ok)?,
        size,
        mode,
    })
}

/// Reads octal permission bits, as a mount's `mode=` option is read by the kernel.
fn octal_mode(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777)
}
