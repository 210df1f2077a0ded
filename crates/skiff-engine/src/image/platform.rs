//! This node's platform and how an image index's entry is chosen for it — one rule for
//! imports and pulls.

use serde::Deserialize;

/// The operating system images must be for.
pub const OS: &str = "linux";
/// The architecture images must be for.
pub const ARCH: &str = "amd64";

/// A descriptor's platform, as image indexes give it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// `linux`, `windows`, … (`unknown` for attestation manifests).
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v8`, …
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// Whether this node can run it.
    pub fn is_ours(&self) -> bool {
        self.os == OS && self.architecture == ARCH
    }

    /// `os/arch[/variant]`.
    pub fn show(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Chooses this node's entry among an index's entries, given their platforms: linux/amd64
/// without a variant first, then with one; a lone entry without a platform is taken (indexes
/// written by some tools for a single image have none). Otherwise the platforms there are,
/// for the error (attestation entries, `unknown/unknown`, left out).
pub fn choose(platforms: &[Option<&Platform>]) -> Result<usize, Vec<String>> {
    let find = |plain: bool| {
        platforms
            .iter()
            .position(|p| p.is_some_and(|p| p.is_ours() && (!plain || p.variant.is_none())))
    };
    if let Some(i) = find(true).or_else(|| find(false)) {
        return Ok(i);
    }
    if let [None] = platforms {
        return Ok(0);
    }
    let mut available: Vec<String> = platforms
        .iter()
        .flatten()
        .filter(|p| p.os != "unknown")
        .map(|p| p.show())
        .collect();
    available.dedup();
    Err(available)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(os: &str, arch: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: arch.into(),
            variant: variant.map(Into::into),
        }
    }

    #[test]
    fn amd64_without_variant_wins() {
        let arm = p("linux", "arm64", Some("v8"));
        let amd_v2 = p("linux", "amd64", Some("v2"));
        let amd = p("linux", "amd64", None);
        assert_eq!(choose(&[Some(&arm), Some(&amd_v2), Some(&amd)]), Ok(2));
        assert_eq!(choose(&[Some(&arm), Some(&amd_v2)]), Ok(1));
        assert_eq!(choose(&[None]), Ok(0));
    }

    #[test]
    fn no_match_lists_the_platforms_there_are() {
        let arm = p("linux", "arm64", Some("v8"));
        let att = p("unknown", "unknown", None);
        let win = p("windows", "amd64", None);
        assert_eq!(
            choose(&[Some(&arm), Some(&att), Some(&win)]),
            Err(vec![
                "linux/arm64/v8".to_string(),
                "windows/amd64".to_string()
            ])
        );
        assert_eq!(choose(&[None, None]), Err(vec![]));
    }
}
