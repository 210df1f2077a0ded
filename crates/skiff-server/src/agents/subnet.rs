//! Pod subnets: each node gets one /24 of the cluster's pod CIDR when it first registers.

use std::fmt;
use std::str::FromStr;

use ipnet::Ipv4Net;

/// The prefix length of one node's pod subnet.
pub const NODE_PREFIX: u8 = 24;

/// The cluster's pod CIDR (default `10.208.0.0/12`): the range nodes' pod subnets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodCidr(Ipv4Net);

impl Default for PodCidr {
    fn default() -> Self {
        Self("10.208.0.0/12".parse().expect("a valid CIDR"))
    }
}

/// Why a pod CIDR is refused, or no subnet is left.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    /// Not IPv4 CIDR notation.
    #[error("pod CIDR {text:?} is not an IPv4 network in CIDR notation (like 10.208.0.0/12)")]
    Malformed {
        /// The text given.
        text: String,
    },
    /// Host bits are set (`10.208.0.1/12`).
    #[error("pod CIDR {text}: host bits are set; did you mean {network}?")]
    HostBits {
        /// The text given.
        text: String,
        /// The network it lies in.
        network: Ipv4Net,
    },
    /// Too small to hold one node's /24.
    #[error("pod CIDR {cidr} is smaller than one node's /{NODE_PREFIX}; give a /{NODE_PREFIX} or larger")]
    TooSmall {
        /// The CIDR.
        cidr: Ipv4Net,
    },
    /// Every /24 is taken.
    #[error("pod CIDR {cidr} is exhausted: all {count} node subnets (/{NODE_PREFIX}) are taken; remove nodes or start the cluster with a larger --pod-cidr")]
    Exhausted {
        /// The CIDR.
        cidr: Ipv4Net,
        /// How many /24s it holds.
        count: u64,
    },
}

impl PodCidr {
    /// The network.
    pub fn net(&self) -> Ipv4Net {
        self.0
    }

    /// How many node subnets it holds.
    pub fn capacity(&self) -> u64 {
        1u64 << (NODE_PREFIX - self.0.prefix_len())
    }

    /// The first /24 of the CIDR that no subnet in `taken` overlaps. Entries of `taken` that
    /// are not IPv4 CIDRs are ignored (they cannot clash with one that is).
    pub fn allocate<'a>(
        &self,
        taken: impl IntoIterator<Item = &'a str>,
    ) -> Result<Ipv4Net, SubnetError> {
        let taken: Vec<Ipv4Net> = taken
            .into_iter()
            .filter_map(|t| t.parse::<Ipv4Net>().ok())
            .map(|n| n.trunc())
            .collect();
        let overlaps =
            |a: &Ipv4Net, b: &Ipv4Net| a.contains(&b.network()) || b.contains(&a.network());
        self.0
            .subnets(NODE_PREFIX)
            .expect("checked: the CIDR is at most a /24")
            .find(|candidate| !taken.iter().any(|t| overlaps(candidate, t)))
            .ok_or(SubnetError::Exhausted {
                cidr: self.0,
                count: self.capacity(),
            })
    }
}

impl FromStr for PodCidr {
    type Err = SubnetError;

    fn from_str(text: &str) -> Result<Self, SubnetError> {
        let net: Ipv4Net = text.trim().parse().map_err(|_| SubnetError::Malformed {
            text: text.to_owned(),
        })?;
        if net.trunc() != net {
            return Err(SubnetError::HostBits {
                text: text.to_owned(),
                network: net.trunc(),
            });
        }
        if net.prefix_len() > NODE_PREFIX {
            return Err(SubnetError::TooSmall { cidr: net });
        }
        Ok(Self(net))
    }
}

impl fmt::Display for PodCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn cidrs_are_parsed_and_bad_ones_refused() {
        assert_eq!(PodCidr::default().to_string(), "10.208.0.0/12");
        assert_eq!(PodCidr::default().capacity(), 4096);
        let cases = [
            ("10.0.0.0/16", None),
            ("10.0.0.0/24", None),
            ("nonsense", Some("not an IPv4 network")),
            ("fd00::/64", Some("not an IPv4 network")),
            ("10.0.0.1/16", Some("did you mean 10.0.0.0/16")),
            ("10.0.0.0/25", Some("smaller than one node's /24")),
        ];
        for (text, error) in cases {
            match (text.parse::<PodCidr>(), error) {
                (Ok(_), None) => {}
                (Err(e), Some(want)) => assert!(e.to_string().contains(want), "{text}: {e}"),
                (got, want) => panic!("{text}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn allocation_takes_the_first_free_subnet_and_never_a_taken_one() {
        let cidr: PodCidr = "10.1.0.0/22".parse().unwrap();
        assert_eq!(cidr.allocate([]).unwrap().to_string(), "10.1.0.0/24");
        let taken = ["10.1.0.0/24", "garbage", "10.1.2.0/24"];
        assert_eq!(cidr.allocate(taken).unwrap().to_string(), "10.1.1.0/24");
        // A larger block taken (by hand) covers the /24s inside it.
        assert_eq!(
            cidr.allocate(["10.1.0.0/23"]).unwrap().to_string(),
            "10.1.2.0/24"
        );
    }

    #[test]
    fn every_node_gets_its_own_subnet_until_the_cidr_is_exhausted() {
        let cidr: PodCidr = "10.2.0.0/20".parse().unwrap();
        let mut taken: Vec<String> = Vec::new();
        for _ in 0..cidr.capacity() {
            let next = cidr.allocate(taken.iter().map(String::as_str)).unwrap();
            taken.push(next.to_string());
        }
        let distinct: HashSet<&String> = taken.iter().collect();
        assert_eq!(distinct.len(), 16);
        let e = cidr.allocate(taken.iter().map(String::as_str)).unwrap_err();
        assert_eq!(
            e,
            SubnetError::Exhausted {
                cidr: cidr.net(),
                count: 16
            }
        );
        assert!(e.to_string().contains("--pod-cidr"), "{e}");
    }
}
