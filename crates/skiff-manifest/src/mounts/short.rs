//! The short syntax of a `volumes:` entry: `[SOURCE:]TARGET[:MODE]`.

use skiff_api::{MountSpec, Propagation};

use super::{container_path, host_path, is_host_path, propagation, volume_name, MountContext};
use crate::decode::Cx;
use crate::diag::did_you_mean;
use crate::yaml::{Node, Span};

/// The short-syntax options, for "did you mean".
const SHORT_OPTIONS: &[&str] = &[
    "ro", "rw", "nocopy", "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

/// Reads a short-syntax entry, `[SOURCE:]TARGET[:MODE]`.
pub(super) fn short_volume(
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
