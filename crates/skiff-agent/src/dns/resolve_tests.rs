//! Every naming rule of `resolve.rs`, as a table.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::rr::RecordType;

use super::resolve::Answer;
use super::table::{ClientScope, DnsTable, DnsTableError, Target};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

const DEV_SHOP: &str = "10.0.0.2";
const DEV_BLOG: &str = "10.0.0.3";
const PROD_SHOP: &str = "10.1.0.2";
const UNKNOWN: &str = "10.9.9.9";

/// Two environments with an app `shop` each (different VIPs), a `blog` app in dev, a dnsrr
/// service, aliases on an app and on a network.
fn table() -> DnsTable {
    DnsTable::builder()
        .ttl(1)
        .client(
            DEV_SHOP.parse().unwrap(),
            ClientScope::new("dev", "shop").network("front"),
        )
        .client(DEV_BLOG.parse().unwrap(), ClientScope::new("dev", "blog"))
        .client(PROD_SHOP.parse().unwrap(), ClientScope::new("prod", "shop"))
        .service("dev", "shop", "web", Target::Vip(ip("10.96.0.1")))
        .service("dev", "shop", "DB", Target::Vip(ip("10.96.0.2")))
        .service("dev", "shop", "empty", Target::Tasks(vec![]))
        .service(
            "dev",
            "blog",
            "posts",
            Target::Tasks(vec![ip("10.0.1.5"), ip("10.0.2.5")]),
        )
        .service("dev", "blog", "web", Target::Vip(ip("10.96.0.9")))
        .service("prod", "shop", "web", Target::Vip(ip("10.97.0.1")))
        .app_alias("dev", "shop", "www", Target::Vip(ip("10.96.0.1")))
        .network_alias("dev", "front", "cache", Target::Tasks(vec![ip("10.0.3.3")]))
        .network_alias("dev", "front", "cache", Target::Tasks(vec![ip("10.0.3.4")]))
        .build()
        .unwrap()
}

fn a(addrs: &[&str]) -> Answer {
    Answer::Addresses {
        addrs: addrs.iter().map(|s| ip(s)).collect(),
        ttl: 1,
    }
}

#[test]
fn names_resolve_by_the_rules() {
    use RecordType::{A, AAAA, ANY, MX};
    let t = table();
    let cases: &[(&str, &str, RecordType, Answer)] = &[
        // Short names: the client's app first.
        (DEV_SHOP, "web", A, a(&["10.96.0.1"])),
        (DEV_BLOG, "web", A, a(&["10.96.0.9"])),
        (PROD_SHOP, "web", A, a(&["10.97.0.1"])),
        (DEV_SHOP, "db", A, a(&["10.96.0.2"])),
        (DEV_SHOP, "www", A, a(&["10.96.0.1"])),
        // Network aliases by short name, only for clients on that network; entries merged.
        (DEV_SHOP, "cache", A, a(&["10.0.3.3", "10.0.3.4"])),
        (DEV_BLOG, "cache", A, Answer::Forward),
        // A short name of another app is not visible: it is forwarded.
        (DEV_SHOP, "posts", A, Answer::Forward),
        // svc.app within the environment.
        (DEV_SHOP, "posts.blog", A, a(&["10.0.1.5", "10.0.2.5"])),
        (DEV_BLOG, "web.shop", A, a(&["10.96.0.1"])),
        (DEV_BLOG, "www.shop", A, a(&["10.96.0.1"])),
        (PROD_SHOP, "web.shop", A, a(&["10.97.0.1"])),
        (DEV_SHOP, "nope.shop", A, Answer::NxDomain),
        (PROD_SHOP, "posts.blog", A, Answer::Forward),
        // svc.app.env only in the client's own environment.
        (DEV_SHOP, "web.shop.dev", A, a(&["10.96.0.1"])),
        (PROD_SHOP, "web.shop.prod", A, a(&["10.97.0.1"])),
        (PROD_SHOP, "web.shop.dev", A, Answer::NxDomain),
        (PROD_SHOP, "posts.blog.dev", A, Answer::NxDomain),
        (DEV_SHOP, "web.shop.prod", A, Answer::NxDomain),
        (DEV_SHOP, "nope.shop.dev", A, Answer::NxDomain),
        // Public names that merely look like ours are forwarded.
        (DEV_SHOP, "www.example.dev", A, Answer::Forward),
        (DEV_SHOP, "example.com", A, Answer::Forward),
        (DEV_SHOP, "a.b.c.d", A, Answer::Forward),
        // Case and the trailing dot do not matter.
        (DEV_SHOP, "WEB.Shop.DEV.", A, a(&["10.96.0.1"])),
        (DEV_SHOP, "Web.", A, a(&["10.96.0.1"])),
        // The cluster domain: same names, never forwarded.
        (DEV_SHOP, "web.skiff.internal", A, a(&["10.96.0.1"])),
        (
            DEV_SHOP,
            "web.shop.dev.skiff.internal.",
            A,
            a(&["10.96.0.1"]),
        ),
        (DEV_SHOP, "WEB.SHOP.SKIFF.INTERNAL", A, a(&["10.96.0.1"])),
        (
            PROD_SHOP,
            "web.shop.dev.skiff.internal",
            A,
            Answer::NxDomain,
        ),
        (DEV_SHOP, "nothing.skiff.internal", A, Answer::NxDomain),
        (DEV_SHOP, "a.b.c.d.skiff.internal", A, Answer::NxDomain),
        (DEV_SHOP, "a..skiff.internal", A, Answer::NxDomain),
        (DEV_SHOP, "skiff.internal", A, Answer::NoData),
        (DEV_SHOP, "notskiff.internal", A, Answer::Forward),
        // Types: AAAA and others of a known name are NOERROR without answers; ANY gives A.
        (DEV_SHOP, "web", AAAA, Answer::NoData),
        (DEV_SHOP, "web", MX, Answer::NoData),
        (DEV_SHOP, "web", ANY, a(&["10.96.0.1"])),
        (DEV_SHOP, "nope.shop", AAAA, Answer::NxDomain),
        (DEV_SHOP, "example.com", AAAA, Answer::Forward),
        // A dnsrr service without healthy tasks exists but has no address.
        (DEV_SHOP, "empty", A, Answer::NoData),
        // Unknown clients: no scope at all.
        (UNKNOWN, "web", A, Answer::Forward),
        (UNKNOWN, "web.shop.dev", A, Answer::Forward),
        (UNKNOWN, "web.shop.dev.skiff.internal", A, Answer::NxDomain),
        (UNKNOWN, "example.com", A, Answer::Forward),
        // The root and empty names are not ours.
        (DEV_SHOP, ".", A, Answer::Forward),
        (DEV_SHOP, "", A, Answer::Forward),
        (DEV_SHOP, "web..shop", A, Answer::Forward),
    ];
    for (client, qname, qtype, want) in cases {
        let client: IpAddr = client.parse().unwrap();
        let got = t.resolve(client, qname, *qtype);
        assert_eq!(&got, want, "{client} asks {qname} {qtype}");
    }
}

#[test]
fn ipv4_mapped_client_addresses_are_the_same_client() {
    let t = table();
    let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
    assert_eq!(t.resolve(mapped, "web", RecordType::A), a(&["10.96.0.1"]));
}

#[test]
fn the_first_network_in_name_order_wins_an_alias_on_two_networks() {
    let t = DnsTable::builder()
        .client(
            "10.0.0.2".parse().unwrap(),
            ClientScope::new("dev", "shop")
                .network("zeta")
                .network("alpha"),
        )
        .network_alias("dev", "zeta", "db", Target::Vip(ip("10.96.0.26")))
        .network_alias("dev", "alpha", "db", Target::Vip(ip("10.96.0.1")))
        .build()
        .unwrap();
    let got = t.resolve("10.0.0.2".parse().unwrap(), "db", RecordType::A);
    assert_eq!(
        got,
        Answer::Addresses {
            addrs: vec![ip("10.96.0.1")],
            ttl: 0
        }
    );
}

#[test]
fn bad_entries_are_refused_with_the_field_named() {
    let vip = || Target::Vip(ip("10.96.0.1"));
    let checks = [
        (
            DnsTable::builder()
                .service("dev", "shop", "a.b", vip())
                .build(),
            DnsTableError::InvalidLabel {
                field: "service",
                value: "a.b".into(),
            },
        ),
        (
            DnsTable::builder()
                .service("", "shop", "web", vip())
                .build(),
            DnsTableError::InvalidLabel {
                field: "env",
                value: "".into(),
            },
        ),
        (
            DnsTable::builder()
                .client(
                    "10.0.0.2".parse().unwrap(),
                    ClientScope::new("dev", "shop").network("bad net"),
                )
                .build(),
            DnsTableError::InvalidLabel {
                field: "network",
                value: "bad net".into(),
            },
        ),
        (
            DnsTable::builder()
                .app_alias("dev", "x".repeat(64), "www", vip())
                .build(),
            DnsTableError::InvalidLabel {
                field: "app",
                value: "x".repeat(64),
            },
        ),
        (
            DnsTable::builder()
                .client("10.0.0.2".parse().unwrap(), ClientScope::new("dev", "a"))
                .client("10.0.0.2".parse().unwrap(), ClientScope::new("dev", "b"))
                .build(),
            DnsTableError::DuplicateClient {
                ip: "10.0.0.2".parse().unwrap(),
            },
        ),
        (
            DnsTable::builder()
                .service("dev", "shop", "web", vip())
                .service("DEV", "shop", "WEB", vip())
                .build(),
            DnsTableError::DuplicateService {
                env: "dev".into(),
                app: "shop".into(),
                service: "web".into(),
            },
        ),
        (
            DnsTable::builder()
                .network_alias("dev", "front", "db", vip())
                .network_alias("dev", "front", "db", Target::Tasks(vec![]))
                .build(),
            DnsTableError::AliasConflict {
                env: "dev".into(),
                scope: "network front".into(),
                alias: "db".into(),
            },
        ),
    ];
    for (got, want) in checks {
        assert_eq!(got.unwrap_err(), want);
    }
    let msg = DnsTableError::InvalidLabel {
        field: "service",
        value: "a.b".into(),
    }
    .to_string();
    assert!(
        msg.contains("service `a.b`") && msg.contains("no dots"),
        "{msg}"
    );
}

#[test]
fn the_same_client_twice_with_the_same_scope_is_accepted() {
    let scope = ClientScope::new("dev", "shop");
    let t = DnsTable::builder()
        .client("10.0.0.2".parse().unwrap(), scope.clone())
        .client("10.0.0.2".parse().unwrap(), scope.clone())
        .build()
        .unwrap();
    assert_eq!(t.client("10.0.0.2".parse().unwrap()), Some(&scope));
}
