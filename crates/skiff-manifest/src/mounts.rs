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

use std::collections::BTreeMap;
use std::path::Path;

use skiff_api::{ByteSize, MountSpec, Propagation};

use crate::decode::{index, join, Cx, Fields, Schema};
use crate::diag::did_you_mean;
use crate::yaml::{Kind, Node, Span};

/// What relative host paths are resolved against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MountContext<'a> {
    /// The project directory, absolute: `./data` is `<project_dir>/data`.
    pub project_dir: &'a Path,
    /// The home directory `~` stands for (absolute), when known; `None` makes `~` an error.
    pub home: Option<&'a str>,
}

/// The keys of a long-syntax volume.
const LONG_SYNTAX: Schema = Schema {
    known: &[
        "type",
        "source",
        "target",
        "read_only",
        "consistency",
        "bind",
        "volume",
        "tmpfs",
    ],
    unsupported: &[(
        "image",
        "image mounts are not available; copy the content into a named volume, or build it into \
         this service's image",
    )],
};

/// The keys of `bind:`.
const BIND_OPTIONS: Schema = Schema {
    known: &["propagation", "create_host_path"],
    unsupported: &[(
        "selinux",
        "Skiff does not use SELinux, so there is nothing to relabel; remove it",
    )],
};

/// The keys of `volume:`.
const VOLUME_OPTIONS: Schema = Schema {
    known: &["nocopy", "subpath"],
    unsupported: &[],
};

/// The keys of `tmpfs:`.
const TMPFS_OPTIONS: Schema = Schema {
    known: &["size", "mode"],
    unsupported: &[],
};

/// The short-syntax options, for "did you mean".
const SHORT_OPTIONS: &[&str] = &[
    "ro", "rw", "nocopy", "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Flags of the `tmpfs:` key that are accepted and ignored: Skiff mounts every tmpfs
/// `rw,nosuid,nodev` and executable, whatever is asked.
const IGNORED_TMPFS_FLAGS: &[&str] = &["rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev"];

/// The three kinds of mount Skiff makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MountType {
    /// A named or anonymous volume.
    Volume,
    /// A host path.
    Bind,
    /// A tmpfs.
    Tmpfs,
}

impl MountType {
    /// The name written after `type:`.
    fn as_str(self) -> &'static str {
        match self {
            Self::Volume => "volume",
            Self::Bind => "bind",
            Self::Tmpfs => "tmpfs",
        }
    }
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

/// Reads a short-syntax entry, `[SOURCE:]TARGET[:MODE]`.
fn short_volume(
    cx: &mut Cx,
    item: &Node,
    p: &str,
    text: &str,
    mcx: &MountContext,
) -> Option<MountSpec> {
    let parts: Vec<&str> = text.split(':').collect();
    let problem = if text.is_empty() {
        "empty entry: write `SOURCE:TARGET[:MODE]`, or a container path such as `/data` for an \
         anonymous volume"
            .to_owned()
    } else if parts.len() > 3 {
        format!("`{text}` has too many colons: write `SOURCE:TARGET[:MODE]`")
    } else if parts.contains(&"") {
        format!("`{text}` has an empty part between colons: write `SOURCE:TARGET[:MODE]`")
    } else {
        String::new()
    };
    if !problem.is_empty() {
        cx.error(item.span, p, problem);
        return None;
    }
    let (source, target, options) = match parts[..] {
        [target] => (None, target, ""),
        [source, target] => (Some(source), target, ""),
        [source, target, options] => (Some(source), target, options),
        _ => unreachable!("at most three parts, checked above"),
    };
    let target = match container_path(target) {
        Ok(t) => Some(t),
        Err(_) if SHORT_OPTIONS.contains(&target) => {
            let message = format!(
                "`{target}` is not an absolute container path: options come third, as in \
                 `SOURCE:TARGET:{target}`"
            );
            cx.error(item.span, p, message);
            None
        }
        Err(e) => {
            cx.error(item.span, p, e);
            None
        }
    };
    let bind = source.is_some_and(is_host_path);
    let opts = short_options(cx, item.span, p, options, source.unwrap_or_default(), bind);
    let source = match source {
        None => Some(None),
        Some(s) if bind => host_path(cx, item.span, p, s, mcx).map(Some),
        Some(s) => volume_name(cx, item.span, p, s).map(Some),
    };
    let (target, source, opts) = (target?, source?, opts?);
    Some(match source {
        Some(source) if bind => MountSpec::Bind {
            source,
            target,
            read_only: opts.read_only,
            propagation: opts.propagation,
            // Compose creates a missing host directory for the short syntax.
            create_host_path: true,
        },
        source => MountSpec::Volume {
            source,
            target,
            read_only: opts.read_only,
            nocopy: opts.nocopy,
            subpath: None,
        },
    })
}

/// The options of a short-syntax entry.
#[derive(Debug, Default)]
struct ShortOptions {
    /// `ro`.
    read_only: bool,
    /// `nocopy`.
    nocopy: bool,
    /// `rshared` and the like.
    propagation: Option<Propagation>,
}

/// Reads the `MODE` of a short-syntax entry: a comma list of options.
fn short_options(
    cx: &mut Cx,
    span: Span,
    p: &str,
    text: &str,
    source: &str,
    bind: bool,
) -> Option<ShortOptions> {
    let mut o = ShortOptions::default();
    let (mut access, mut prop_text, mut ok) = (None, None, true);
    let options: Vec<&str> = text.split(',').filter(|_| !text.is_empty()).collect();
    if options.contains(&"") {
        let message = format!(
            "`{text}` has an empty option: separate options with single commas, such as \
             `ro,rshared`"
        );
        cx.error(span, p, message);
        ok = false;
    }
    for opt in options.into_iter().filter(|o| !o.is_empty()) {
        let problem = match opt {
            "ro" | "rw" if access.is_some_and(|a| a != opt) => {
                Some("`ro` and `rw` contradict each other: keep one".to_owned())
            }
            "ro" | "rw" => {
                access = Some(opt);
                o.read_only = opt == "ro";
                None
            }
            "nocopy" if bind => Some(format!(
                "`nocopy` applies to volumes only, and `{source}` is a bind mount: drop `nocopy`"
            )),
            "nocopy" => {
                o.nocopy = true;
                None
            }
            "z" | "Z" => Some(format!(
                "`{opt}` asks for an SELinux relabel, and Skiff has no SELinux support: drop `{opt}`"
            )),
            // Docker Desktop's macOS file-sharing hints; meaningless on Linux nodes.
            "consistent" | "cached" | "delegated" => None,
            _ => match propagation(opt) {
                Some(_) if !bind => Some(format!(
                    "propagation `{opt}` applies to bind mounts only, and `{source}` is a volume: \
                     drop `{opt}`"
                )),
                Some(_) if prop_text.is_some_and(|t| t != opt) => Some(format!(
                    "`{}` and `{opt}` are both propagation modes: keep one",
                    prop_text.unwrap_or_default()
                )),
                Some(prop) => {
                    prop_text = Some(opt);
                    o.propagation = Some(prop);
                    None
                }
                None => Some(match did_you_mean(opt, SHORT_OPTIONS.iter().copied()) {
                    Some(near) => format!("unknown volume option `{opt}`; did you mean `{near}`?"),
                    None => format!(
                        "unknown volume option `{opt}`: use ro or rw, nocopy (volumes), or a \
                         propagation mode for bind mounts: rprivate, private, rshared, shared, \
                         rslave or slave"
                    ),
                }),
            },
        };
        if let Some(message) = problem {
            cx.error(span, p, message);
            ok = false;
        }
    }
    ok.then_some(o)
}

/// Reads a long-syntax entry.
fn long_volume(cx: &mut Cx, item: &Node, p: &str, mcx: &MountContext) -> Option<MountSpec> {
    let f = cx.fields(item, p, &LONG_SYNTAX)?;
    let target = match f.get("target") {
        Some(n) => {
            let tp = join(p, "target");
            cx.string(n, &tp).and_then(|t| {
                container_path(&t)
                    .map_err(|e| cx.error(n.span, &tp, e))
                    .ok()
            })
        }
        None => {
            cx.error(
                start(item),
                p,
                "`target` is required: the absolute path in the container, such as \
                 `target: /data`",
            );
            None
        }
    };
    let kind = mount_type(cx, &f, item, p);
    let mut ok = true;
    let read_only = optional(
        &mut ok,
        f.get("read_only")
            .map(|n| cx.bool(n, &join(p, "read_only"))),
    );
    // Docker Desktop's macOS file-sharing hint: read, and ignored on Linux nodes.
    if let Some(n) = f.get("consistency") {
        ok &= cx.string(n, &join(p, "consistency")).is_some();
    }
    let kind = kind?;
    for other in [MountType::Volume, MountType::Bind, MountType::Tmpfs] {
        let key = other.as_str();
        if let Some(n) = f.get(key).filter(|_| other != kind) {
            let message = format!(
                "`{key}` options apply to `type: {key}` mounts, and this is a `{}` mount: remove \
                 `{key}:` or change `type`",
                kind.as_str()
            );
            cx.error(n.span, &join(p, key), message);
            ok = false;
        }
    }
    let read_only = read_only.unwrap_or(false);
    let mount = match kind {
        MountType::Volume => long_named(cx, &f, p, target, read_only),
        MountType::Bind => long_bind(cx, &f, item, p, mcx, target, read_only),
        MountType::Tmpfs => long_tmpfs(cx, &f, p, target, read_only),
    };
    mount.filter(|_| ok)
}

/// Reads a long-syntax `type`.
fn mount_type(cx: &mut Cx, f: &Fields, item: &Node, p: &str) -> Option<MountType> {
    let Some(n) = f.get("type") else {
        cx.error(
            start(item),
            p,
            "`type` is required: `volume`, `bind` or `tmpfs`",
        );
        return None;
    };
    let tp = join(p, "type");
    let text = cx.string(n, &tp)?;
    let message = match text.as_str() {
        "volume" => return Some(MountType::Volume),
        "bind" => return Some(MountType::Bind),
        "tmpfs" => return Some(MountType::Tmpfs),
        "npipe" => "Skiff does not support `npipe` mounts: named pipes are a Windows feature; \
                    to share a Unix socket, bind-mount it with `type: bind`"
            .to_owned(),
        "cluster" => "Skiff does not support `cluster` mounts (Swarm cluster volumes): use a \
                      named volume with `type: volume`"
            .to_owned(),
        "image" => "Skiff does not support `image` mounts: copy the content into a named volume, \
                    or build it into this service's image"
            .to_owned(),
        _ => match did_you_mean(&text, ["volume", "bind", "tmpfs"]) {
            Some(near) => format!("unknown mount type `{text}`; did you mean `{near}`?"),
            None => format!("unknown mount type `{text}`: use `volume`, `bind` or `tmpfs`"),
        },
    };
    cx.error(n.span, &tp, message);
    None
}

/// Reads the rest of a long-syntax `type: volume`.
fn long_named(
    cx: &mut Cx,
    f: &Fields,
    p: &str,
    target: Option<String>,
    read_only: bool,
) -> Option<MountSpec> {
    let mut ok = true;
    // No source, or an empty one (an unset `${VAR}`), is an anonymous volume, as in Compose.
    let source = f.get("source").and_then(|n| {
        let sp = join(p, "source");
        let checked = match cx.string(n, &sp) {
            Some(s) if s.is_empty() => return None,
            Some(s) if is_host_path(&s) => {
                let message = format!(
                    "`{s}` is a host path, not a volume name: for a bind mount write `type: bind`"
                );
                cx.error(n.span, &sp, message);
                None
            }
            Some(s) => volume_name(cx, n.span, &sp, &s),
            None => None,
        };
        ok &= checked.is_some();
        checked
    });
    let (mut nocopy, mut subpath) = (None, None);
    if let Some(n) = f.get("volume") {
        let vp = join(p, "volume");
        if let Some(vf) = cx.fields(n, &vp, &VOLUME_OPTIONS) {
            let np = join(&vp, "nocopy");
            nocopy = optional(&mut ok, vf.get("nocopy").map(|n| cx.bool(n, &np)));
            let sp = join(&vp, "subpath");
            subpath = optional(&mut ok, vf.get("subpath").map(|n| sub_path(cx, n, &sp)));
        } else {
            ok = false;
        }
    }
    Some(MountSpec::Volume {
        source,
        target: target.filter(|_| ok)?,
        read_only,
        nocopy: nocopy.unwrap_or(false),
        subpath,
    })
}

/// Reads the rest of a long-syntax `type: bind`.
fn long_bind(
    cx: &mut Cx,
    f: &Fields,
    item: &Node,
    p: &str,
    mcx: &MountContext,
    target: Option<String>,
    read_only: bool,
) -> Option<MountSpec> {
    let mut ok = true;
    let source = match f.get("source") {
        Some(n) => {
            let sp = join(p, "source");
            let text = cx.non_empty(n, &sp);
            text.and_then(|s| host_path(cx, n.span, &sp, &s, mcx))
        }
        None => {
            cx.error(
                start(item),
                p,
                "a bind mount needs `source`: the host path to mount, such as `source: ./data`",
            );
            None
        }
    };
    let (mut propagation, mut create) = (None, None);
    if let Some(n) = f.get("bind") {
        let bp = join(p, "bind");
        if let Some(bf) = cx.fields(n, &bp, &BIND_OPTIONS) {
            let pp = join(&bp, "propagation");
            propagation = optional(
                &mut ok,
                bf.get("propagation").map(|n| {
                    let text = cx.string(n, &pp)?;
                    let parsed = propagation_of(&text);
                    parsed.map_err(|e| cx.error(n.span, &pp, e)).ok()
                }),
            );
            let cp = join(&bp, "create_host_path");
            create = optional(&mut ok, bf.get("create_host_path").map(|n| cx.bool(n, &cp)));
        } else {
            ok = false;
        }
    }
    Some(MountSpec::Bind {
        source: source?,
        target: target.filter(|_| ok)?,
        read_only,
        propagation,
        create_host_path: create.unwrap_or(false),
    })
}

/// Reads the rest of a long-syntax `type: tmpfs`.
fn long_tmpfs(
    cx: &mut Cx,
    f: &Fields,
    p: &str,
    target: Option<String>,
    read_only: bool,
) -> Option<MountSpec> {
    let mut ok = true;
    if let Some(n) = f.get("source") {
        cx.error(
            n.span,
            &join(p, "source"),
            "a tmpfs mount has no `source` (it starts empty): remove `source`",
        );
        ok = false;
    }
    if let Some(n) = f.get("read_only").filter(|_| read_only) {
        cx.error(
            n.span,
            &join(p, "read_only"),
            "Skiff cannot mount a tmpfs read-only (it would stay empty): remove `read_only`, or \
             use a volume",
        );
        ok = false;
    }
    let (mut size, mut mode) = (None, None);
    if let Some(n) = f.get("tmpfs") {
        let tp = join(p, "tmpfs");
        if let Some(tf) = cx.fields(n, &tp, &TMPFS_OPTIONS) {
            let sp = join(&tp, "size");
            size = optional(&mut ok, tf.get("size").map(|n| cx.byte_size(n, &sp)));
            let mp = join(&tp, "mode");
            mode = optional(&mut ok, tf.get("mode").map(|n| cx.mode(n, &mp)));
        } else {
            ok = false;
        }
    }
    Some(MountSpec::Tmpfs {
        target: target.filter(|_| ok)?,
        size,
        mode,
    })
}

/// Reads `volume.subpath`: a relative path inside the volume, normalized.
fn sub_path(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let text = cx.non_empty(node, path)?;
    let cleaned = clean(&text);
    if text.starts_with('/') || text.split('/').any(|c| c == "..") || cleaned == "." {
        cx.error(
            node.span,
            path,
            format!(
                "`{text}` does not name a directory inside the volume: write a relative path \
                 without `..`, such as `logs/app`"
            ),
        );
        return None;
    }
    Some(cleaned)
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
            list: path.rsplit('.').next().unwrap_or(path),
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

/// Where a mapping starts, for errors about the whole of it: its first key (the parser places a
/// block mapping in a list at its first value).
fn start(node: &Node) -> Span {
    match node.as_map() {
        Some([first, ..]) => first.key_span,
        _ => node.span,
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
fn container_path(text: &str) -> Result<String, String> {
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
fn clean(path: &str) -> String {
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

/// Reads octal permission bits, as a mount's `mode=` option is read by the kernel.
fn octal_mode(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777)
}

/// The value of an optional field: `None` when absent, and `ok` cleared when present but invalid.
fn optional<T>(ok: &mut bool, read: Option<Option<T>>) -> Option<T> {
    if matches!(read, Some(None)) {
        *ok = false;
    }
    read.flatten()
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
