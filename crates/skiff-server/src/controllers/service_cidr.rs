//! The cluster's service range: where services' virtual IPs come from.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;
use skiff_core::orchestrate::VipRange;

/// The cluster's service CIDR (default `10.96.0.0/16`), /8 to /30.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCidr(Ipv4Net);

impl Default for ServiceCidr {
    fn default() -> Self {
        Self("10.96.0.0/16".parse().expect("a valid CIDR"))
    }
}

/// Why a service CIDR is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceCidrError {
    /// Not IPv4 CIDR notation.
    #[error("service CIDR {text:?} is not an IPv4 network in CIDR notation (like 10.96.0.0/16)")]
    Malformed {
        /// The text given.
        text: String,
    },
    /// Host bits set, or a size outside /8 to /30.
    #[error("service CIDR {text}: {why}")]
    Range {
        /// The text given.
        text: String,
        /// What is wrong.
        why: String,
    },
}

impl ServiceCidr {
    /// The network.
    pub fn net(&self) -> Ipv4Net {
        self.0
    }

    /// The range the orchestrator assigns from.
    pub fn range(&self) -> VipRange {
        VipRange::new(self.0.network(), self.0.prefix_len()).expect("checked when parsed")
    }
}

impl FromStr for ServiceCidr {
    type Err = ServiceCidrError;

    fn from_str(text: &str) -> Result<Self, ServiceCidrError> {
        let net: Ipv4Net = text
            .trim()
            .parse()
            .map_err(|_| ServiceCidrError::Malformed {
                text: text.to_owned(),
            })?;
        VipRange::new(net.addr(), net.prefix_len()).map_err(|e| ServiceCidrError::Range {
            text: text.to_owned(),
            why: e.to_string(),
        })?;
        Ok(Self(net))
    }
}

impl fmt::Display for ServiceCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_cidrs_parse_and_bad_ones_say_why() {
        let cidr: ServiceCidr = "10.96.0.0/16".parse().unwrap();
        assert_eq!(cidr.to_string(), "10.96.0.0/16");
        assert_eq!(cidr.range().capacity(), 65_534);
        assert_eq!(ServiceCidr::default(), cidr);
        for (text, want) in [
            ("10.96.0.0", "not an IPv4 network in CIDR notation"),
            ("fd00::/64", "not an IPv4 network"),
            ("10.96.0.1/16", "bits set past the prefix"),
            ("10.96.0.0/31", "/8 to /30"),
            ("10.0.0.0/7", "/8 to /30"),
        ] {
            let err = text.parse::<ServiceCidr>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
