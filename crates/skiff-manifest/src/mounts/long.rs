//! The long syntax of a `volumes:` entry: a mapping with `type:`, `target:` and the options of
//! that type.

use skiff_api::MountSpec;

use super::{
    clean, container_path, host_path, is_host_path, propagation_of, volume_name, MountContext,
};
use crate::decode::{join, optional, start, Cx, Fields, Schema};
use crate::diag::did_you_mean;
use crate::yaml::Node;

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

/// Reads a long-syntax entry.
pub(super) fn long_volume(
    cx: &mut Cx,
    item: &Node,
    p: &str,
    mcx: &MountContext,
) -> Option<MountSpec> {
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
    let (vf, vp) = type_options(cx, f, p, "volume", &VOLUME_OPTIONS, &mut ok);
    let np = join(&vp, "nocopy");
    let nocopy = optional(&mut ok, vf.get("nocopy").map(|n| cx.bool(n, &np)));
    let sp = join(&vp, "subpath");
    let subpath = optional(&mut ok, vf.get("subpath").map(|n| sub_path(cx, n, &sp)));
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
    let (bf, bp) = type_options(cx, f, p, "bind", &BIND_OPTIONS, &mut ok);
    let pp = join(&bp, "propagation");
    let propagation = optional(
        &mut ok,
        bf.get("propagation").map(|n| {
            let text = cx.string(n, &pp)?;
            let parsed = propagation_of(&text);
            parsed.map_err(|e| cx.error(n.span, &pp, e)).ok()
        }),
    );
    let cp = join(&bp, "create_host_path");
    let create = optional(&mut ok, bf.get("create_host_path").map(|n| cx.bool(n, &cp)));
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
    let (tf, tp) = type_options(cx, f, p, "tmpfs", &TMPFS_OPTIONS, &mut ok);
    let sp = join(&tp, "size");
    let size = optional(&mut ok, tf.get("size").map(|n| cx.byte_size(n, &sp)));
    let mp = join(&tp, "mode");
    let mode = optional(&mut ok, tf.get("mode").map(|n| cx.mode(n, &mp)));
    Some(MountSpec::Tmpfs {
        target: target.filter(|_| ok)?,
        size,
        mode,
    })
}

/// Reads the options mapping of a mount type (`volume:`, `bind:` or `tmpfs:`) against `schema`,
/// with its path. An absent mapping reads as an empty one; an invalid one also clears `ok`, and
/// reads as empty so that its fields are not read again.
fn type_options<'n>(
    cx: &mut Cx,
    f: &Fields<'n>,
    p: &str,
    key: &str,
    schema: &Schema,
    ok: &mut bool,
) -> (Fields<'n>, String) {
    let path = join(p, key);
    let read = f.get(key).map(|n| cx.fields(n, &path, schema));
    (optional(ok, read).unwrap_or_default(), path)
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
