use std::net::IpAddr;

use skiff_api::{ExposedPort, PortMode, PortSpec, Protocol};

use super::*;
use crate::decode::test_support::run_at;

fn run(text: &str) -> (Vec<PortSpec>, Vec<String>) {
    run_at("services.web.ports", text, ports)
}

fn run_expose(text: &str) -> (Vec<ExposedPort>, Vec<String>) {
    run_at("services.web.expose", text, expose)
}

fn read_ports(text: &str) -> Vec<PortSpec> {
    let (out, errors) = run(text);
    assert_eq!(errors, Vec::<String>::new());
    out
}

fn port_errors(text: &str) -> Vec<String> {
    run(text).1
}

/// A TCP ingress port, as the short syntax makes it.
fn spec(published: Option<u16>, target: u16) -> PortSpec {
    PortSpec {
        target,
        published,
        protocol: Protocol::Tcp,
        host_ip: None,
        mode: PortMode::Ingress,
        name: None,
        app_protocol: None,
    }
}

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

#[test]
fn short_syntax_reads_every_compose_form() {
    let got = read_ports(
        "- 80\n- '81'\n- 8080:80\n- 8080:80/udp\n- 127.0.0.1:8080:80\n- 127.0.0.1::82\n\
         - '[::1]:8081:80'\n- 9000:90/SCTP\n- ':83'\n",
    );
    let udp = PortSpec {
        protocol: Protocol::Udp,
        ..spec(Some(8080), 80)
    };
    let loopback = PortSpec {
        host_ip: ip("127.0.0.1"),
        ..spec(Some(8080), 80)
    };
    let unpublished_on_loopback = PortSpec {
        host_ip: ip("127.0.0.1"),
        ..spec(None, 82)
    };
    let v6 = PortSpec {
        host_ip: ip("::1"),
        ..spec(Some(8081), 80)
    };
    let sctp = PortSpec {
        protocol: Protocol::Sctp,
        ..spec(Some(9000), 90)
    };
    assert_eq!(
        got,
        [
            spec(None, 80),
            spec(None, 81),
            spec(Some(8080), 80),
            udp,
            loopback,
            unpublished_on_loopback,
            v6,
            sctp,
            spec(None, 83),
        ]
    );
}

#[test]
fn unbracketed_ipv6_keeps_its_colons_as_in_docker() {
    let got = read_ports("- '::1:8080:80'\n");
    assert_eq!(got[0].host_ip, ip("::1"));
    assert_eq!((got[0].published, got[0].target), (Some(8080), 80));
}

#[test]
fn ranges_expand_to_one_port_each() {
    let got = read_ports("- 8000-8002:7000-7002\n- 3000-3001\n- 9090-9091:8080-8081/udp\n");
    let udp = |published, target| PortSpec {
        protocol: Protocol::Udp,
        ..spec(Some(published), target)
    };
    assert_eq!(
        got,
        [
            spec(Some(8000), 7000),
            spec(Some(8001), 7001),
            spec(Some(8002), 7002),
            spec(None, 3000),
            spec(None, 3001),
            udp(9090, 8080),
            udp(9091, 8081),
        ]
    );
    assert_eq!(read_ports("- 5000-5000:6000\n"), [spec(Some(5000), 6000)]);
}

#[test]
fn ranges_of_different_lengths_are_refused() {
    assert_eq!(
        port_errors("- 8000-8010:80\n- 8000-8001:80-82\n- 9080:80-81\n- 90-80\n"),
        [
            "compose.yaml:1:3: error: services.web.ports[0]: published range `8000-8010` maps \
             onto the single target port `80`: Skiff publishes ports one to one, so write a \
             target range of the same length, or publish one port such as `8000:80`",
            "compose.yaml:2:3: error: services.web.ports[1]: published `8000-8001` is 2 ports \
             but target `80-82` is 3 ports: give both sides the same number of ports",
            "compose.yaml:3:3: error: services.web.ports[2]: published `9080` is 1 port but \
             target `80-81` is 2 ports: give both sides the same number of ports",
            "compose.yaml:4:3: error: services.web.ports[3]: range `90-80` ends before it \
             starts: write `80-90`",
        ]
    );
}

#[test]
fn one_entry_expands_to_at_most_a_thousand_ports() {
    assert_eq!(read_ports("- 1-1000\n").len(), 1000);
    assert_eq!(
        port_errors("- 1-1001\n- 2001-3001:1-1001\n"),
        [
            "compose.yaml:1:3: error: services.web.ports[0]: `1-1001` expands to 1001 ports; \
             Skiff takes at most 1000 from one entry: split the range over several entries",
            "compose.yaml:2:3: error: services.web.ports[1]: `2001-3001:1-1001` expands to 1001 \
             ports; Skiff takes at most 1000 from one entry: split the range over several entries",
        ]
    );
}

#[test]
fn ports_must_be_between_1_and_65535() {
    assert_eq!(
        port_errors("- 0\n- 70000\n- 8080:0\n- 99999999999999999999\n- http\n- 80.5\n- -80\n"),
        [
            "compose.yaml:1:3: error: services.web.ports[0]: port 0 is out of range 1-65535",
            "compose.yaml:2:3: error: services.web.ports[1]: port 70000 is out of range 1-65535",
            "compose.yaml:3:3: error: services.web.ports[2]: port 0 is out of range 1-65535",
            "compose.yaml:4:3: error: services.web.ports[3]: port 99999999999999999999 is out of \
             range 1-65535",
            "compose.yaml:5:3: error: services.web.ports[4]: `http` is not a port number: write \
             a number from 1 to 65535, or a range such as `8000-8010`",
            "compose.yaml:6:3: error: services.web.ports[5]: `80.5` is not a port number: write \
             a number from 1 to 65535, or a range such as `8000-8010`",
            "compose.yaml:7:3: error: services.web.ports[6]: `-80` is not a port range: write \
             `START-END`, such as `8000-8010`",
        ]
    );
}

#[test]
fn protocols_addresses_and_shapes_are_checked() {
    assert_eq!(
        port_errors(
            "- 8080:80/http\n- 80/\n- localhost:8080:80\n- '[::1]8080:80'\n- '8080:'\n- ''\n\
             - [80]\n-\n"
        ),
        [
            "compose.yaml:1:3: error: services.web.ports[0]: unknown protocol `http`: use tcp, \
             udp or sctp",
            "compose.yaml:2:3: error: services.web.ports[1]: a `/` must be followed by a \
             protocol: tcp, udp or sctp",
            "compose.yaml:3:3: error: services.web.ports[2]: `localhost` is not an IP address: \
             write one such as `127.0.0.1`, or `::1` for IPv6",
            "compose.yaml:4:3: error: services.web.ports[3]: `[::1]8080:80` does not read as \
             `[IP]:PUBLISHED:TARGET`: write `[::1]:8080:80`, or `[::1]::80` to let the cluster \
             pick the published port",
            "compose.yaml:5:3: error: services.web.ports[4]: `8080:` has no container port: \
             write `TARGET`, `PUBLISHED:TARGET` or `IP:PUBLISHED:TARGET`, such as `8080:80`",
            "compose.yaml:6:3: error: services.web.ports[5]: empty port entry: write a port \
             such as `80` or `8080:80`",
            "compose.yaml:7:3: error: services.web.ports[6]: expected a port such as \
             `\"8080:80\"` or a mapping with `target:`, found a list",
            // The parser places an empty list item where the next token starts.
            "compose.yaml:9:1: error: services.web.ports[7]: expected a port such as \
             `\"8080:80\"` or a mapping with `target:`, found null",
        ]
    );
}

#[test]
fn every_problem_of_one_entry_is_reported() {
    assert_eq!(
        port_errors("- 1.2.3:70000:0/http\n- 8080:80\n- 8081:70000\n"),
        [
            "compose.yaml:1:3: error: services.web.ports[0]: unknown protocol `http`: use tcp, \
             udp or sctp",
            "compose.yaml:1:3: error: services.web.ports[0]: `1.2.3` is not an IP address: \
             write one such as `127.0.0.1`, or `::1` for IPv6",
            "compose.yaml:1:3: error: services.web.ports[0]: port 70000 is out of range 1-65535",
            "compose.yaml:1:3: error: services.web.ports[0]: port 0 is out of range 1-65535",
            "compose.yaml:3:3: error: services.web.ports[2]: port 70000 is out of range 1-65535",
        ]
    );
}

#[test]
fn the_list_itself_must_be_a_list() {
    assert_eq!(run(""), (Vec::new(), Vec::new()));
    assert_eq!(
        port_errors("'8080:80'\n"),
        ["compose.yaml:1:1: error: services.web.ports: expected a list, found a scalar"]
    );
}

#[test]
fn long_syntax_reads_every_key() {
    let got = read_ports(
        "- target: 80\n  published: '8080'\n  host_ip: 10.0.0.1\n  protocol: udp\n  mode: host\n\
         \x20 name: web\n  app_protocol: http\n\
         - {target: '81'}\n- {target: 82, published: 8082, host_ip: '[::1]'}\n\
         - {target: 83, published: '', mode: ingress}\n",
    );
    assert_eq!(
        got,
        [
            PortSpec {
                target: 80,
                published: Some(8080),
                protocol: Protocol::Udp,
                host_ip: ip("10.0.0.1"),
                mode: PortMode::Host,
                name: Some("web".into()),
                app_protocol: Some("http".into()),
            },
            spec(None, 81),
            PortSpec {
                host_ip: ip("::1"),
                ..spec(Some(8082), 82)
            },
            spec(None, 83),
        ]
    );
}

#[test]
fn long_syntax_reports_all_its_problems() {
    assert_eq!(
        port_errors(
            "- published: 8080-8081\n  protocl: tcp\n  mode: global\n  host_ip: nowhere\n\
             \x20 protocol: http\n  name: ''\n\
             - {target: 80-81}\n- {target: 0, published: 70000}\n"
        ),
        [
            "compose.yaml:2:3: error: services.web.ports[0].protocl: unknown key `protocl`; did \
             you mean `protocol`?",
            "compose.yaml:1:3: error: services.web.ports[0]: `target` is required: the \
             container's port, such as `target: 80`",
            "compose.yaml:1:14: error: services.web.ports[0].published: `8080-8081` is a range, \
             but the long syntax takes a single port: write one entry per port, or a \
             short-syntax entry such as `\"8080-8081:80-81\"`",
            "compose.yaml:4:12: error: services.web.ports[0].host_ip: `nowhere` is not an IP \
             address: write one such as `127.0.0.1`, or `::1` for IPv6",
            "compose.yaml:5:13: error: services.web.ports[0].protocol: unknown protocol `http`: \
             use tcp, udp or sctp",
            "compose.yaml:3:9: error: services.web.ports[0].mode: unknown mode `global`: use \
             `ingress` (published on every node) or `host` (only on the nodes running a task)",
            "compose.yaml:6:9: error: services.web.ports[0].name: must not be empty",
            "compose.yaml:7:12: error: services.web.ports[1].target: `80-81` is a range, but the \
             long syntax takes a single port: write one entry per port, or a short-syntax entry \
             such as `\"8080-8081:80-81\"`",
            "compose.yaml:8:12: error: services.web.ports[2].target: port 0 is out of range \
             1-65535",
            "compose.yaml:8:26: error: services.web.ports[2].published: port 70000 is out of \
             range 1-65535",
        ]
    );
}

#[test]
fn a_published_port_is_used_once_per_protocol_and_address() {
    assert_eq!(
        port_errors(
            "- 8080:80\n- 8080:81\n- 8080:80/udp\n- 127.0.0.1:8080:80\n\
             - {target: 82, published: 8080}\n- 8079-8081:79-81\n- 127.0.0.1:8080:83\n\
             - '[::1]:9000:80'\n- '[::1]:9000:81'\n- 80\n- 80\n"
        ),
        [
            "compose.yaml:2:3: error: services.web.ports[1]: published port 8080/tcp is already \
             used by ports[0]",
            "compose.yaml:5:4: error: services.web.ports[4]: published port 8080/tcp is already \
             used by ports[0]",
            "compose.yaml:6:3: error: services.web.ports[5]: published port 8080/tcp is already \
             used by ports[0]",
            "compose.yaml:7:3: error: services.web.ports[6]: published port \
             127.0.0.1:8080/tcp is already used by ports[3]",
            "compose.yaml:9:3: error: services.web.ports[8]: published port [::1]:9000/tcp is \
             already used by ports[7]",
        ]
    );
}

#[test]
fn a_refused_entry_does_not_claim_its_ports() {
    let (got, errors) = run("- 8000-8001:80-81\n- 8001:90\n- 8000:80\n");
    assert_eq!(errors.len(), 2);
    assert_eq!(got.len(), 2, "only the first entry is kept");
    assert!(errors[0].contains("ports[1]: published port 8001/tcp is already used by ports[0]"));
}

#[test]
fn expose_reads_container_ports_and_ranges() {
    let (got, errors) = run_expose("- 3000\n- '3001'\n- 8000-8001\n- 53/udp\n- 3000/tcp\n");
    assert_eq!(errors, Vec::<String>::new());
    let tcp = |port| ExposedPort {
        port,
        protocol: Protocol::Tcp,
    };
    assert_eq!(
        got,
        [
            tcp(3000),
            tcp(3001),
            tcp(8000),
            tcp(8001),
            ExposedPort {
                port: 53,
                protocol: Protocol::Udp
            },
        ],
        "a repeated port is kept once"
    );
}

#[test]
fn expose_refuses_published_ports_and_bad_values() {
    let (got, errors) = run_expose("- 8080:80\n- 70000\n- 53/http\n- {port: 1}\n- 1-2000\n");
    assert!(got.is_empty());
    assert_eq!(
        errors,
        [
            "compose.yaml:1:3: error: services.web.expose[0]: `expose` takes container ports \
             only, such as `3000` or `53/udp`: publish `8080:80` under `ports:` instead",
            "compose.yaml:2:3: error: services.web.expose[1]: port 70000 is out of range 1-65535",
            "compose.yaml:3:3: error: services.web.expose[2]: unknown protocol `http`: use tcp, \
             udp or sctp",
            "compose.yaml:4:3: error: services.web.expose[3]: expected a port such as `3000` or \
             `53/udp`, found a mapping",
            "compose.yaml:5:3: error: services.web.expose[4]: `1-2000` expands to 2000 ports; \
             Skiff takes at most 1000 from one entry: split the range over several entries",
        ]
    );
}
