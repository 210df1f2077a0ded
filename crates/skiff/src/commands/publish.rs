//! `-p/--publish` of `skiff container run` and `create`: Docker's syntax, read by the
//! manifest's short-syntax port parser (so a port is written the same way on the command line
//! and in a compose file), then narrowed to what the engine publishes: one host port per
//! container port, on every IPv4 address of the node or on one, TCP or UDP.

use std::net::IpAddr;

use anyhow::bail;
use skiff_api::Protocol as ApiProtocol;
use skiff_engine::container::{PortMapping, Protocol};
use skiff_engine::network::ports::MAX_PER_CONTAINER;

/// The longest value taken: `255.255.255.255:65535-65535:65535-65535/tcp` is 44 bytes.
const MAX_LEN: usize = 64;

/// The flag, as errors name it.
const FLAG: &str = "-p/--publish";

/// Reads every `-p` value, ranges expanded, in order.
pub fn parse_all(values: &[String]) -> anyhow::Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for value in values {
        out.extend(parse(value)?);
        if out.len() > MAX_PER_CONTAINER {
            bail!(
                "{FLAG}: {} ports so far with {value:?}; a container publishes at most \
                 {MAX_PER_CONTAINER}: publish fewer or smaller ranges",
                out.len()
            );
        }
    }
    Ok(out)
}

/// Reads one `-p` value: `HOST:CONTAINER`, `IP:HOST:CONTAINER`, each side a port or a range
/// of the same length (`8080-8082:80-82`), with `/tcp` or `/udp`.
pub fn parse(value: &str) -> anyhow::Result<Vec<PortMapping>> {
    if value.len() > MAX_LEN {
        bail!(
            "{FLAG}: a value of {} bytes is too long for a port mapping (at most {MAX_LEN}); \
             write [IP:]HOST:CONTAINER[/udp], such as 8080:80",
            value.len()
        );
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "{FLAG} {value:?}: only printable ASCII goes in a port mapping; write \
             [IP:]HOST:CONTAINER[/udp], such as 8080:80"
        );
    }
    let specs = skiff_manifest::parse_short_port(value)
        .map_err(|errors| anyhow::anyhow!("{FLAG} {value:?}: {}", errors.join("; ")))?;
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some(host_port) = spec.published else {
            bail!(
                "{FLAG} {value:?}: no host port; write HOST:CONTAINER, such as 8080:{}, \
                 or IP:HOST:CONTAINER (Skiff does not pick a free port)",
                spec.target
            );
        };
        let host_ip = match spec.host_ip {
            None => None,
            // Docker's way of saying every address.
            Some(IpAddr::V4(ip)) if ip.is_unspecified() => None,
            Some(IpAddr::V4(ip)) => Some(ip),
            Some(IpAddr::V6(ip)) => bail!(
                "{FLAG} {value:?}: {ip} is an IPv6 address; Skiff publishes on IPv4 only: give \
                 an IPv4 address of the node, or none to publish on every address"
            ),
        };
        let protocol = match spec.protocol {
            ApiProtocol::Tcp => Protocol::Tcp,
            ApiProtocol::Udp => Protocol::Udp,
            ApiProtocol::Sctp => {
                bail!("{FLAG} {value:?}: SCTP ports are not published; use /tcp or /udp")
            }
        };
        out.push(PortMapping {
            host_ip,
            host_port,
            container_port: spec.target,
            protocol,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(host_ip: Option<&str>, host: u16, container: u16, protocol: Protocol) -> PortMapping {
        PortMapping {
            host_ip: host_ip.map(|ip| ip.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol,
        }
    }

    fn error(value: &str) -> String {
        format!("{:#}", parse(value).unwrap_err())
    }

    #[test]
    fn docker_forms_are_read() {
        use Protocol::{Tcp, Udp};
        let cases: [(&str, Vec<PortMapping>); 7] = [
            ("8080:80", vec![map(None, 8080, 80, Tcp)]),
            ("8080:80/tcp", vec![map(None, 8080, 80, Tcp)]),
            ("5353:53/udp", vec![map(None, 5353, 53, Udp)]),
            ("5353:53/UDP", vec![map(None, 5353, 53, Udp)]),
            (
                "127.0.0.1:8080:80",
                vec![map(Some("127.0.0.1"), 8080, 80, Tcp)],
            ),
            ("0.0.0.0:8080:80", vec![map(None, 8080, 80, Tcp)]),
            (
                "10.0.0.1:8080-8082:80-82/udp",
                vec![
                    map(Some("10.0.0.1"), 8080, 80, Udp),
                    map(Some("10.0.0.1"), 8081, 81, Udp),
                    map(Some("10.0.0.1"), 8082, 82, Udp),
                ],
            ),
        ];
        for (value, want) in cases {
            assert_eq!(parse(value).unwrap(), want, "{value}");
        }
    }

    #[test]
    fn malformed_values_are_refused_naming_the_flag_and_the_value() {
        let cases = [
            ("", "empty port entry"),
            ("80", "no host port"),
            ("127.0.0.1::80", "no host port"),
            ("8080:", "has no container port"),
            (":80", "no host port"),
            ("http:80", "`http` is not a port number"),
            ("8080:80/", "must be followed by a protocol"),
            ("8080:80/icmp", "unknown protocol `icmp`"),
            ("8080:80/sctp", "SCTP ports are not published"),
            ("0:80", "out of range 1-65535"),
            ("8080:0", "out of range 1-65535"),
            ("65536:80", "out of range 1-65535"),
            ("-1:80", "not a port range"),
            ("+80:80", "not a port number"),
            ("8080:80/tcp/udp", "`80/tcp` is not a port number"),
            ("300.1.1.1:8080:80", "is not an IP address"),
            ("1.2.3.4:5:6:7", "is not an IP address"),
            ("8082-8080:80-82", "ends before it starts"),
            (
                "8080-8082:80-81",
                "give both sides the same number of ports",
            ),
            ("8080-8082:80", "single target port"),
        ];
        for (value, want) in cases {
            let e = error(value);
            assert!(
                e.starts_with(&format!("-p/--publish {value:?}: ")),
                "{value}: {e}"
            );
            assert!(e.contains(want), "{value}: {e}");
        }
    }

    #[test]
    fn ipv6_is_refused_saying_so() {
        for value in ["[::1]:8080:80", "::1:8080:80", "[::]:8080:80"] {
            let e = error(value);
            assert!(
                e.contains("IPv6 address; Skiff publishes on IPv4 only"),
                "{value}: {e}"
            );
        }
    }

    #[test]
    fn hostile_values_are_refused_without_being_echoed_whole() {
        let long = format!("{}:80", "9".repeat(1 << 20));
        let e = error(&long);
        assert!(e.contains("too long for a port mapping"), "{e}");
        assert!(e.len() < 300, "{} bytes of error", e.len());
        for value in [
            "80\n:80",
            "8080:80\u{0}",
            "８０８０:80",
            "80 80:80",
            "\u{1b}[2J8080:80",
        ] {
            let e = error(value);
            assert!(e.contains("only printable ASCII"), "{value:?}: {e}");
        }
        let e = error("99999999999999999999999:80");
        assert!(e.contains("out of range"), "{e}");
    }

    #[test]
    fn ranges_are_capped() {
        let e = error("1-65535:1-65535");
        assert!(e.contains("expands to 65535 ports"), "{e}");
        assert_eq!(parse("9000-9999:9000-9999").unwrap().len(), 1000);
        let values: Vec<String> = (0..5)
            .map(|i| format!("{}-{}:1000-1999", 10000 + i * 1000, 10999 + i * 1000))
            .collect();
        let e = format!("{:#}", parse_all(&values).unwrap_err());
        assert!(e.contains("a container publishes at most 4096"), "{e}");
        assert_eq!(parse_all(&values[..4]).unwrap().len(), 4000);
    }
}
