//! The wire layer on raw bytes: replies, limits and hostile input, without sockets.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};

use super::table::{ClientScope, DnsTable, Target};
use super::wire::{handle, Decision, Transport, MAX_QUERY_LEN};

const CLIENT: &str = "10.0.0.2";

fn table(tasks: usize) -> DnsTable {
    let ips = (0..tasks)
        .map(|i| Ipv4Addr::new(10, 0, (i / 250) as u8, (i % 250) as u8 + 1))
        .collect();
    DnsTable::builder()
        .ttl(2)
        .client(CLIENT.parse().unwrap(), ClientScope::new("dev", "shop"))
        .service(
            "dev",
            "shop",
            "web",
            Target::Vip(Ipv4Addr::new(10, 96, 0, 1)),
        )
        .service("dev", "shop", "rr", Target::Tasks(ips))
        .build()
        .unwrap()
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::new();
    msg.set_id(0x4242)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.set_edns(e);
    }
    msg
}

fn run(bytes: &[u8], t: &DnsTable, turn: usize, transport: Transport) -> Decision {
    let client: IpAddr = CLIENT.parse().unwrap();
    handle(bytes, client, t, turn, transport)
}

fn reply_of(d: Decision) -> Message {
    match d {
        Decision::Reply(bytes) => Message::from_vec(&bytes).unwrap(),
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers()
        .iter()
        .map(|r| match r.data() {
            RData::A(a) => a.0,
            other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

#[test]
fn a_local_name_gets_an_authoritative_answer_with_the_question_as_asked() {
    let t = table(0);
    let q = query("Web.Shop.", RecordType::A, None);
    let m = reply_of(run(&q.to_vec().unwrap(), &t, 0, Transport::Udp));
    assert_eq!(m.id(), 0x4242);
    assert_eq!(m.message_type(), MessageType::Response);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative() && m.recursion_desired() && m.recursion_available());
    assert_eq!(m.queries()[0].name().to_ascii(), "Web.Shop.");
    assert_eq!(a_records(&m), vec![Ipv4Addr::new(10, 96, 0, 1)]);
    assert_eq!(m.answers()[0].ttl(), 2);
    assert!(
        m.extensions().is_none(),
        "no EDNS in the reply to a query without it"
    );
}

#[test]
fn nxdomain_nodata_and_forward_are_told_apart() {
    let t = table(0);
    let m = reply_of(run(
        &query("nope.shop.", RecordType::A, None).to_vec().unwrap(),
        &t,
        0,
        Transport::Udp,
    ));
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    assert!(m.authoritative());
    let m = reply_of(run(
        &query("web.", RecordType::AAAA, None).to_vec().unwrap(),
        &t,
        0,
        Transport::Udp,
    ));
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    match run(
        &query("example.com.", RecordType::A, None).to_vec().unwrap(),
        &t,
        0,
        Transport::Udp,
    ) {
        Decision::Forward { servfail } => {
            let m = Message::from_vec(&servfail).unwrap();
            assert_eq!(
                (m.id(), m.response_code()),
                (0x4242, ResponseCode::ServFail)
            );
            assert_eq!(m.queries()[0].name().to_ascii(), "example.com.");
        }
        other => panic!("expected a forward, got {other:?}"),
    }
}

#[test]
fn round_robin_answers_rotate_with_the_turn() {
    let t = table(3);
    let bytes = query("rr.", RecordType::A, None).to_vec().unwrap();
    let first: Vec<Vec<Ipv4Addr>> = (0..4)
        .map(|turn| a_records(&reply_of(run(&bytes, &t, turn, Transport::Udp))))
        .collect();
    let ip = |d| Ipv4Addr::new(10, 0, 0, d);
    assert_eq!(first[0], vec![ip(1), ip(2), ip(3)]);
    assert_eq!(first[1], vec![ip(2), ip(3), ip(1)]);
    assert_eq!(first[2], vec![ip(3), ip(1), ip(2)]);
    assert_eq!(first[3], first[0]);
}

#[test]
fn udp_answers_fit_the_clients_buffer_and_tcp_answers_are_whole() {
    let t = table(400);
    let plain = query("rr.", RecordType::A, None).to_vec().unwrap();
    let Decision::Reply(small) = run(&plain, &t, 0, Transport::Udp) else {
        panic!()
    };
    assert!(small.len() <= 512, "{} bytes", small.len());
    let n_small = a_records(&Message::from_vec(&small).unwrap()).len();
    assert!(n_small >= 20, "only {n_small} answers in 512 bytes");

    let edns = query("rr.", RecordType::A, Some(4096)).to_vec().unwrap();
    let Decision::Reply(big) = run(&edns, &t, 0, Transport::Udp) else {
        panic!()
    };
    assert!(big.len() <= 1232 && big.len() > 1100, "{} bytes", big.len());
    let m = Message::from_vec(&big).unwrap();
    assert_eq!(m.extensions().as_ref().unwrap().max_payload(), 1232);

    let m = reply_of(run(&plain, &t, 0, Transport::Tcp));
    assert_eq!(a_records(&m).len(), 400);
}

#[test]
fn hostile_or_odd_input_is_dropped_or_refused() {
    let t = table(0);
    // Too short for a header, or a response: silence.
    assert_eq!(run(b"\x12\x34\x01", &t, 0, Transport::Udp), Decision::Drop);
    let mut response = query("web.", RecordType::A, None);
    response.set_message_type(MessageType::Response);
    assert_eq!(
        run(&response.to_vec().unwrap(), &t, 0, Transport::Udp),
        Decision::Drop
    );

    // A header followed by garbage: FORMERR with the id and RD kept.
    let mut garbage = vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    garbage.extend_from_slice(&[0xff; 20]);
    let Decision::Reply(r) = run(&garbage, &t, 0, Transport::Udp) else {
        panic!()
    };
    assert_eq!(r, vec![0xab, 0xcd, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);

    // Oversized: REFUSED, header only.
    let mut big = query("web.", RecordType::A, None).to_vec().unwrap();
    big.resize(MAX_QUERY_LEN + 1, 0);
    let Decision::Reply(r) = run(&big, &t, 0, Transport::Udp) else {
        panic!()
    };
    assert_eq!(r.len(), 12);
    assert_eq!(r[3] & 0x0f, 5, "REFUSED");

    // Two questions: FORMERR. An UPDATE: NOTIMP. Class CH: REFUSED.
    let mut two = query("web.", RecordType::A, None);
    two.add_query(Query::query(
        Name::from_ascii("db.").unwrap(),
        RecordType::A,
    ));
    let m = reply_of(run(&two.to_vec().unwrap(), &t, 0, Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::FormErr);
    let mut update = query("web.", RecordType::A, None);
    update.set_op_code(OpCode::Update);
    let m = reply_of(run(&update.to_vec().unwrap(), &t, 0, Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::NotImp);
    let mut chaos = query("version.bind.", RecordType::TXT, None);
    chaos.queries_mut()[0].set_query_class(DNSClass::CH);
    let m = reply_of(run(&chaos.to_vec().unwrap(), &t, 0, Transport::Udp));
    assert_eq!(m.response_code(), ResponseCode::Refused);
}

#[test]
fn every_prefix_of_a_query_is_handled_without_panicking() {
    let t = table(3);
    let bytes = query("rr.shop.dev.", RecordType::A, Some(1232))
        .to_vec()
        .unwrap();
    for n in 0..bytes.len() {
        let _ = run(&bytes[..n], &t, n, Transport::Udp);
        let mut flipped = bytes.clone();
        flipped[n] ^= 0xff;
        let _ = run(&flipped, &t, n, Transport::Tcp);
    }
}
