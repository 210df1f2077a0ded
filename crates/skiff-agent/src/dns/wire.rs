//! Bytes in, decision out: parses a query with hickory-proto, checks it, resolves it against
//! the table and encodes the reply. Pure (the caller passes the table and the rotation turn),
//! so hostile input is tested without sockets.

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, RData, Record};

use super::resolve::Answer;
use super::table::DnsTable;

/// The largest query accepted, in bytes. A real query (header, one name of at most 255 bytes,
/// an OPT record with a cookie) stays well under it; anything larger is refused.
pub const MAX_QUERY_LEN: usize = 512;

/// The UDP payload size this server advertises and never exceeds in its own answers
/// (the DNS flag day 2020 value, which avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

const HEADER_LEN: usize = 12;

/// The transport a query came over: UDP answers must fit the client's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// What the server does with one incoming message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Send the query to the upstreams; `servfail` is the reply if they all fail.
    Forward { servfail: Vec<u8> },
    /// Send nothing (not a query, or not even a DNS header).
    Drop,
}

/// Decides what to do with `bytes` from `client`; `turn` rotates multi-address answers.
pub(crate) fn handle(
    bytes: &[u8],
    client: IpAddr,
    table: &DnsTable,
    turn: usize,
    transport: Transport,
) -> Decision {
    // A response (QR set) is never answered: that would let two servers loop.
    if bytes.len() < HEADER_LEN || bytes[2] & 0x80 != 0 {
        return Decision::Drop;
    }
    if bytes.len() > MAX_QUERY_LEN {
        return Decision::Reply(header_only(bytes, ResponseCode::Refused));
    }
    let Ok(request) = Message::from_vec(bytes) else {
        return Decision::Reply(header_only(bytes, ResponseCode::FormErr));
    };
    if request.op_code() != OpCode::Query {
        return Decision::Reply(reply(&request, ResponseCode::NotImp).encode());
    }
    let [query] = request.queries() else {
        return Decision::Reply(reply(&request, ResponseCode::FormErr).encode());
    };
    if query.query_class() != DNSClass::IN {
        return Decision::Reply(reply(&request, ResponseCode::Refused).encode());
    }
    let qname = query.name().to_ascii();
    let mut response = reply(&request, ResponseCode::NoError);
    match table.resolve(client, &qname, query.query_type()) {
        Answer::Forward => {
            return Decision::Forward {
                servfail: reply(&request, ResponseCode::ServFail).encode(),
            }
        }
        Answer::NxDomain => {
            response.set_authoritative(true);
            response.set_response_code(ResponseCode::NXDomain);
        }
        Answer::NoData => {
            response.set_authoritative(true);
        }
        Answer::Addresses { mut addrs, ttl } => {
            response.set_authoritative(true);
            let len = addrs.len();
            addrs.rotate_left(turn % len);
            for ip in addrs {
                let record = Record::from_rdata(query.name().clone(), ttl, RData::A(A(ip)));
                response.add_answer(record);
            }
        }
    }
    let limit = match transport {
        Transport::Udp => usize::from(request.max_payload().min(MAX_UDP_PAYLOAD)),
        Transport::Tcp => usize::from(u16::MAX),
    };
    Decision::Reply(encode_within(response, limit))
}

/// A response to `request`: same id and question, recursion available, EDNS if it had EDNS.
fn reply(request: &Message, code: ResponseCode) -> Message {
    let mut msg = Message::new();
    msg.set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(request.op_code())
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true)
        .set_checking_disabled(request.checking_disabled())
        .set_response_code(code);
    msg.add_queries(request.queries().iter().cloned());
    if request.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(MAX_UDP_PAYLOAD);
        msg.set_edns(edns);
    }
    msg
}

trait Encode {
    fn encode(&self) -> Vec<u8>;
}

impl Encode for Message {
    fn encode(&self) -> Vec<u8> {
        // Encoding a message we built from parsed parts cannot fail short of a bug; an empty
        // reply would be dropped by the sender rather than crash the server.
        self.to_vec().unwrap_or_default()
    }
}

/// Encodes `msg`, dropping answers from the end until it fits `limit` bytes. For round-robin
/// names a subset is the right answer (the rotation spreads the subsets), so TC is not set.
fn encode_within(mut msg: Message, limit: usize) -> Vec<u8> {
    loop {
        let bytes = msg.encode();
        if bytes.len() <= limit || msg.answers().is_empty() {
            return bytes;
        }
        // An A record with a compressed name takes 16 bytes.
        let excess = (bytes.len() - limit).div_ceil(16);
        let keep = msg.answers().len().saturating_sub(excess);
        msg.answers_mut().truncate(keep);
    }
}

/// A bare header answering the (unparsable or oversized) query in `bytes` with `code`:
/// same id, opcode and RD bit, no sections.
fn header_only(bytes: &[u8], code: ResponseCode) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    out[..2].copy_from_slice(&bytes[..2]);
    // QR=1, the request's opcode and RD bit; AA, TC cleared.
    out[2] = 0x80 | (bytes[2] & 0x79);
    // RA=1 and the response code (low four bits).
    out[3] = 0x80 | (code.low() & 0x0f);
    out
}
