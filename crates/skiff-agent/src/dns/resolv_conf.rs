//! The node's upstream resolvers, read from a resolv.conf file.
//!
//! Loopback nameservers are kept: the DNS server runs in the node's own network namespace
//! (in the agent), so systemd-resolved's `127.0.0.53` is reachable from it, although it is not
//! from containers. Only the server's own address is left out (by `DnsServer::set_upstreams`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use super::DnsError;

/// The `nameserver` addresses of the resolv.conf at `path`, on port 53, in file order.
/// Link-local IPv6 nameservers with a zone (`fe80::1%eth0`) are skipped: a zone names an
/// interface of the host, which this parser does not look up. A file without nameservers
/// gives an empty list (the server then answers SERVFAIL for names it cannot answer itself).
pub fn upstreams_from_resolv_conf(path: &Path) -> Result<Vec<SocketAddr>, DnsError> {
    let text = std::fs::read_to_string(path).map_err(|source| DnsError::ReadResolvConf {
        path: path.to_path_buf(),
        source,
    })?;
    parse_resolv_conf(&text).map_err(|(line, value)| DnsError::BadNameserver {
        path: path.to_path_buf(),
        line,
        value,
    })
}

/// [`upstreams_from_resolv_conf`] on the file's text; the error is (line number, value).
pub fn parse_resolv_conf(text: &str) -> Result<Vec<SocketAddr>, (usize, String)> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let value = words.next().unwrap_or_default();
        if value.contains('%') {
            continue;
        }
        let ip: IpAddr = value.parse().map_err(|_| (index + 1, value.to_string()))?;
        let addr = SocketAddr::new(ip, 53);
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameserver_lines_are_read_in_order() {
        let text = "# generated\nsearch example.com\nnameserver 127.0.0.53\n\
                    nameserver\t192.0.2.1   # second\noptions edns0\n;nameserver 192.0.2.9\n\
                    nameserver 2001:db8::1\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\n";
        let got = parse_resolv_conf(text).unwrap();
        let want: Vec<SocketAddr> = ["127.0.0.53:53", "192.0.2.1:53", "[2001:db8::1]:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(parse_resolv_conf("search x\n").unwrap(), vec![]);
    }

    #[test]
    fn a_bad_nameserver_names_its_line() {
        assert_eq!(
            parse_resolv_conf("nameserver 1.2.3.4\nnameserver dns.example\n"),
            Err((2, "dns.example".to_string()))
        );
        assert_eq!(parse_resolv_conf("nameserver\n"), Err((1, String::new())));
    }

    #[test]
    fn the_file_is_named_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        let err = upstreams_from_resolv_conf(&path).unwrap_err().to_string();
        assert!(err.contains("resolv.conf"), "{err}");
        std::fs::write(&path, "nameserver 300.1.1.1\n").unwrap();
        let err = upstreams_from_resolv_conf(&path).unwrap_err().to_string();
        assert!(err.contains("line 1") && err.contains("300.1.1.1"), "{err}");
        std::fs::write(&path, "nameserver 192.0.2.7\n").unwrap();
        let got = upstreams_from_resolv_conf(&path).unwrap();
        assert_eq!(got, vec!["192.0.2.7:53".parse().unwrap()]);
    }
}
