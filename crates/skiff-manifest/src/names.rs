//! Checks of names and small values: DNS labels, image references, capabilities, signals,
//! sysctls, ulimits, platforms.

use std::collections::BTreeMap;

use crate::decode::{index, join, Cx};
use crate::yaml::Node;

/// Whether `s` is a DNS label as Skiff uses for app, service and environment names: 1–63
/// lower-case letters, digits and `-`, not starting or ending with `-`.
pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is dot-separated DNS labels (an alias or hostname), at most 253 bytes.
pub(crate) fn is_dns_name(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// A DNS label close to `s`, to suggest: lower case, `_` and `.` and spaces become `-`.
pub(crate) fn suggest_label(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').chars().take(63).collect()
}

/// Checks a name that becomes a DNS label (`what` is "service", "app", …).
pub(crate) fn check_label(
    cx: &mut Cx,
    span: crate::yaml::Span,
    path: &str,
    what: &str,
    name: &str,
) -> bool {
    if is_dns_label(name) {
        return true;
    }
    let hint = suggest_label(name);
    let hint = if hint.is_empty() {
        String::new()
    } else {
        format!(", such as `{hint}`")
    };
    cx.error(
        span,
        path,
        format!(
            "{what} name `{name}` is not a DNS label (Skiff resolves {what}s by name): use 1-63 lower-case letters, digits and `-`{hint}"
        ),
    );
    false
}

/// Whether `s` is a POSIX-shell variable name.
pub(crate) fn is_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Checks an image reference's shape: `[registry[:port]/]name[:tag][@algo:hex]`, name in lower case.
pub(crate) fn check_image(cx: &mut Cx, node: &Node, path: &str, image: &str) -> bool {
    let fail = |cx: &mut Cx, why: &str| {
        cx.error(
            node.span,
            path,
            format!("`{image}` is not an image reference: {why}"),
        );
        false
    };
    if image.chars().any(char::is_whitespace) {
        return fail(cx, "it contains spaces");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(algo, hex)| {
            !algo.is_empty()
                && hex.len() >= 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        });
        if !ok {
            return fail(
                cx,
                "the digest after `@` must look like `sha256:<64 hex digits>`",
            );
        }
    }
    // A tag is after the last `:` that comes after the last `/` (a registry port is before it).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && !tag.starts_with(['.', '-'])
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !ok {
            return fail(cx, "a tag is 1-128 letters, digits, `_`, `.` and `-`");
        }
    }
    if name.is_empty() {
        return fail(cx, "the name is empty");
    }
    // Only the path after a registry host may not have upper case.
    let (host, repo) = match name.split_once('/') {
        Some((h, r)) if h.contains(['.', ':']) || h == "localhost" => (Some(h), r),
        _ => (None, name),
    };
    if host.is_some_and(|h| h.is_empty()) || repo.is_empty() {
        return fail(cx, "the name is empty");
    }
    if !repo
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
    {
        return fail(
            cx,
            "repository names are lower-case letters, digits, `.`, `_`, `-` and `/`",
        );
    }
    true
}

/// Checks a hostname.
pub(crate) fn hostname(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let h = cx.non_empty(node, path)?;
    if !is_dns_name(&h.to_ascii_lowercase()) {
        cx.error(
            node.span,
            path,
            format!("`{h}` is not a valid hostname (letters, digits, `-` and `.`)"),
        );
        return None;
    }
    Some(h)
}

/// Checks a container name (Docker's rule).
pub(crate) fn container_name(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let n = cx.non_empty(node, path)?;
    let mut bytes = n.bytes();
    let ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        cx.error(
            node.span,
            path,
            format!("`{n}` is not a valid container name (letters, digits, `_`, `.`, `-`)"),
        );
        return None;
    }
    Some(n)
}

/// Checks `os/arch[/variant]`.
pub(crate) fn platform(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let p = cx.non_empty(node, path)?;
    let parts: Vec<&str> = p.split('/').collect();
    let ok = (2..=3).contains(&parts.len()) && parts.iter().all(|s| !s.is_empty());
    if !ok {
        cx.error(
            node.span,
            path,
            format!("`{p}` is not a platform; write os/arch such as linux/amd64"),
        );
        return None;
    }
    if parts[0] != "linux" {
        cx.error(
            node.span,
            path,
            format!("`{p}`: Skiff runs Linux containers only"),
        );
        return None;
    }
    Some(p)
}

/// The Linux capabilities Docker and runc know, without `CAP_`.
const CAPABILITIES: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYSLOG",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "WAKE_ALARM",
];

/// Reads `cap_add` / `cap_drop`: upper-cased, `CAP_` stripped, checked against the known names.
pub(crate) fn capabilities(cx: &mut Cx, node: &Node, path: &str, adding: bool) -> Vec<String> {
    let mut out = Vec::new();
    let Some(items) = cx.seq(node, path) else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ip = index(path, i);
        let Some(text) = cx.string(item, &ip) else {
            continue;
        };
        let upper = text.to_ascii_uppercase();
        let name = upper.strip_prefix("CAP_").unwrap_or(&upper).to_owned();
        if name == "ALL" && adding {
            cx.error(item.span, &ip, "`cap_add: [ALL]` would make the container as powerful as the node; list the capabilities it needs");
            continue;
        }
        if name != "ALL" && !CAPABILITIES.contains(&name.as_str()) {
            let hint = crate::diag::did_you_mean(&name, CAPABILITIES.iter().copied())
                .map(|c| format!("; did you mean `{c}`?"))
                .unwrap_or_default();
            cx.error(item.span, &ip, format!("unknown capability `{text}`{hint}"));
            continue;
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// Signal names a stop signal may be, without `SIG`.
const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// Reads a signal (`SIGTERM`, `TERM`, `15`) as `SIGNAME`.
pub(crate) fn signal(cx: &mut Cx, node: &Node, path: &str) -> Option<String> {
    let text = cx.non_empty(node, path)?;
    let upper = text.to_ascii_uppercase();
    if let Ok(n) = upper.parse::<usize>() {
        if (1..=SIGNALS.len()).contains(&n) {
            return Some(format!("SIG{}", SIGNALS[n - 1]));
        }
    }
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name) || name.starts_with("RTMIN") || name.starts_with("RTMAX") {
        return Some(format!("SIG{name}"));
    }
    cx.error(
        node.span,
        path,
        format!("unknown signal `{text}`; use a name such as SIGTERM, SIGINT or SIGQUIT"),
    );
    None
}

/// ulimit names.
pub(crate) const ULIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Reads `sysctls`, allowing only the namespaced ones a container may set.
pub(crate) fn sysctls(cx: &mut Cx, node: &Node, path: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, value, span) in cx.dict(node, path).unwrap_or_default() {
        let namespaced = key.starts_with("net.")
            || key.starts_with("fs.mqueue.")
            || key.starts_with("kernel.shm")
            || key.starts_with("kernel.msg")
            || key == "kernel.sem"
            || key == "kernel.domainname"
            || key == "kernel.hostname";
        if !namespaced {
            cx.error(
                span,
                &join(path, &key),
                format!("`{key}` is not a namespaced sysctl and would change the whole node; only net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.hostname and kernel.domainname are allowed"),
            );
            continue;
        }
        match value {
            Some(v) => {
                out.insert(key, v);
            }
            None => cx.error(span, &join(path, &key), "a sysctl needs a value"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        for ok in ["web", "web-1", "a", "0db"] {
            assert!(is_dns_label(ok), "{ok}");
        }
        for bad in ["", "Web", "web_1", "-web", "web-", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
        assert_eq!(suggest_label("My_Service.v2"), "my-service-v2");
    }

    #[test]
    fn image_references() {
        let files = ["f".to_owned()];
        let node = Node::new(Default::default(), crate::yaml::Kind::Null);
        let mut cx = Cx::new(&files);
        for ok in [
            "busybox",
            "busybox:1.36",
            "library/busybox:latest",
            "localhost:5000/app:v1",
            "registry.example.com/team/app:1",
            "ghcr.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_image(&mut cx, &node, "image", ok), "{ok}: {}", cx.diags);
        }
        for bad in [
            "Busybox",
            "registry.example.com/Team/app",
            "busy box",
            "app:",
            "app:-x",
            "app@md5:xyz",
            ":tag",
        ] {
            assert!(!check_image(&mut cx, &node, "image", bad), "{bad}");
        }
    }
}
