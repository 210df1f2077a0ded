//! `Register`: an agent creates or updates its Node object.
//!
//! The request is checked field by field ([`Registration::parse`]), then the node is written
//! with compare-and-swap on its revision ([`plan`]): a new node becomes active and ready with
//! the first free /24 of the pod CIDR; a known one keeps its availability and pod subnet and
//! becomes ready with its new address, labels and capacity. Registrations on one leader are
//! serialized, so two new nodes never compute the same free subnet at once.

use std::collections::BTreeMap;

use skiff_api::{ByteSize, Cpus};
use skiff_core::objects::{Availability, Node, NodeResources, NodeStatus};
use skiff_core::{Command, Expect, Key, Kind, Name, Object, Record, Response};
use skiff_proto::agent::{RegisterReply, RegisterRequest};
use tonic::Status;

use super::subnet::{PodCidr, SubnetError};
use super::unavailable;
use crate::control::{Consistency, ControlPlane};

/// How many times a registration re-reads and retries after a conflicting write.
const CAS_ATTEMPTS: usize = 8;
/// The longest label key or value, and host name, accepted.
const MAX_TEXT: usize = 253;

/// A field of a [`RegisterRequest`] that cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field, as named in agent.proto (`node_id`, `labels.zone`, …).
    pub field: String,
    /// What is wrong and what to send instead.
    pub message: String,
}

impl From<FieldError> for Status {
    fn from(e: FieldError) -> Self {
        Status::invalid_argument(e.to_string())
    }
}

/// A checked registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The node's id.
    pub id: Name,
    /// Its host name (the id when none was given).
    pub name: String,
    /// `host:port` of its agent.
    pub address: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// What it has.
    pub capacity: NodeResources,
}

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Whether `address` is `host:port` with a non-empty host and a port from 1.
fn check_address(address: &str) -> Result<(), String> {
    let hint =
        "expected host:port, the address the agent serves logs and exec on (like 10.0.0.5:7401)";
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("{address:?} has no port; {hint}"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.len() > MAX_TEXT || host.contains(['/', ' ', '[', ']']) {
        return Err(format!("{address:?} has no valid host; {hint}"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!(
            "{address:?} has no valid port (1 to 65535); {hint}"
        )),
    }
}

fn check_label(key: &str, value: &str) -> Result<(), FieldError> {
    let key_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/');
    if key.is_empty() || key.len() > MAX_TEXT || !key.chars().all(key_ok) {
        return Err(field(
            format!("labels.{key}"),
            "a label key is 1 to 253 characters of letters, digits, '.', '-', '_' and '/'",
        ));
    }
    if value.len() > MAX_TEXT || value.chars().any(char::is_control) {
        return Err(field(
            format!("labels.{key}"),
            "a label value is at most 253 characters, without control characters",
        ));
    }
    Ok(())
}

impl Registration {
    /// Checks every field of `request`; the first bad one is named in the error.
    pub fn parse(request: RegisterRequest) -> Result<Self, FieldError> {
        let id = Name::new(&request.node_id).map_err(|e| {
            field(
                "node_id",
                format!(
                    "{:?} is not a valid node id (a DNS label): {e}",
                    request.node_id
                ),
            )
        })?;
        let name = if request.name.is_empty() {
            id.to_string()
        } else {
            request.name
        };
        if name.len() > MAX_TEXT || name.chars().any(char::is_control) {
            return Err(field(
                "name",
                "a host name is at most 253 characters, without control characters",
            ));
        }
        check_address(&request.address).map_err(|m| field("address", m))?;
        for (key, value) in &request.labels {
            check_label(key, value)?;
        }
        if request.cpus_milli == 0 {
            return Err(field("cpus_milli", "capacity must be more than 0 CPUs"));
        }
        if request.memory_bytes == 0 {
            return Err(field("memory_bytes", "capacity must be more than 0 bytes"));
        }
        Ok(Self {
            id,
            name,
            address: request.address,
            labels: request.labels.into_iter().collect(),
            capacity: NodeResources {
                cpus: Cpus::from_millis(request.cpus_milli),
                memory: ByteSize(request.memory_bytes),
            },
        })
    }
}

/// The node to write for `registration` and what its key must hold: `existing` (the node's
/// record, if it has one) keeps its availability and pod subnet; a new node gets a subnet of
/// `cidr` that none of `taken` (the other nodes' subnets) overlaps.
pub fn plan<'a>(
    registration: &Registration,
    existing: Option<&Record>,
    cidr: &PodCidr,
    taken: impl IntoIterator<Item = &'a str>,
) -> Result<(Node, Expect), SubnetError> {
    let old = existing.and_then(|r| match &r.object {
        Object::Node(node) => Some(node),
        _ => None,
    });
    let pod_subnet = match old.and_then(|n| n.pod_subnet.clone()) {
        Some(subnet) => subnet,
        None => cidr.allocate(taken)?.to_string(),
    };
    let node = Node {
        id: registration.id.clone(),
        name: registration.name.clone(),
        address: registration.address.clone(),
        labels: registration.labels.clone(),
        capacity: registration.capacity,
        allocatable: registration.capacity,
        availability: old.map_or(Availability::Active, |n| n.availability),
        status: NodeStatus::Ready,
        pod_subnet: Some(pod_subnet),
        last_heartbeat: old.and_then(|n| n.last_heartbeat),
    };
    let expect = existing.map_or(Expect::Absent, |r| Expect::Revision(r.mod_revision));
    Ok((node, expect))
}

/// The pod subnets chosen by registrations whose writes are still in flight on this leader.
#[derive(Debug, Default)]
pub struct Reserved {
    subnets: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// A subnet held in [`Reserved`] until the registration's write is over.
struct Reservation<'a> {
    reserved: &'a Reserved,
    subnet: Option<String>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if let Some(subnet) = self.subnet.take() {
            let mut subnets = self.reserved.subnets.lock().expect("reserved subnets");
            subnets.remove(&subnet);
        }
    }
}

/// Registers the node `request` describes on the leader `control`. Registrations run side by
/// side (so that their writes share Raft entries): each picks its subnet among those neither
/// in the state nor reserved by another registration in flight, and holds it until its write
/// is over.
pub async fn register(
    control: &ControlPlane,
    reserved: &Reserved,
    cidr: &PodCidr,
    request: RegisterRequest,
) -> Result<RegisterReply, Status> {
    let registration = Registration::parse(request)?;
    let key = Key::Node {
        id: registration.id.clone(),
    };
    for _ in 0..CAS_ATTEMPTS {
        let (existing, taken) = control
            .read(Consistency::Linearizable, |state| {
                let taken: Vec<String> = state
                    .list(&Kind::Node.prefix())
                    .into_iter()
                    .filter(|r| r.key != key)
                    .filter_map(|r| match &r.object {
                        Object::Node(n) => n.pod_subnet.clone(),
                        _ => None,
                    })
                    .collect();
                (state.get(&key).cloned(), taken)
            })
            .await
            .map_err(unavailable)?;
        let mut reservation = Reservation {
            reserved,
            subnet: None,
        };
        let (node, expect) = {
            let mut subnets = reserved.subnets.lock().expect("reserved subnets");
            let in_flight = subnets.iter().map(String::as_str);
            let (node, expect) = plan(
                &registration,
                existing.as_ref(),
                cidr,
                taken.iter().map(String::as_str).chain(in_flight),
            )
            .map_err(|e| Status::resource_exhausted(e.to_string()))?;
            if let Some(subnet) = &node.pod_subnet {
                if subnets.insert(subnet.clone()) {
                    reservation.subnet = Some(subnet.clone());
                }
            }
            (node, expect)
        };
        let pod_subnet = node.pod_subnet.clone().unwrap_or_default();
        let command = Command::put(Object::Node(node), expect);
        match control.propose(command).await.map_err(unavailable)? {
            Response::Ok { revision, .. } => {
                return Ok(RegisterReply {
                    node_id: registration.id.to_string(),
                    pod_subnet,
                    revision,
                    pod_cidr: cidr.to_string(),
                })
            }
            // Another write (an operator's drain, the node monitor) came first: re-read.
            Response::Conflict { .. } => continue,
            Response::Invalid { reason } => {
                return Err(Status::invalid_argument(reason.to_string()))
            }
        }
    }
    Err(Status::aborted(format!(
        "node {}: its record kept changing under {CAS_ATTEMPTS} attempts to register; retry",
        registration.id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RegisterRequest {
        RegisterRequest {
            node_id: "n1".into(),
            name: "host-1".into(),
            address: "10.0.0.5:7401".into(),
            labels: [("zone".to_owned(), "a".to_owned())].into(),
            cpus_milli: 4000,
            memory_bytes: 8 << 30,
        }
    }

    #[test]
    fn each_bad_field_is_named() {
        type Tweak = fn(&mut RegisterRequest);
        let cases: [(&str, Tweak); 9] = [
            ("node_id", |r| r.node_id = "Not_A_Label".into()),
            ("node_id", |r| r.node_id = String::new()),
            ("address", |r| r.address = "10.0.0.5".into()),
            ("address", |r| r.address = ":7401".into()),
            ("address", |r| r.address = "host:0".into()),
            ("address", |r| r.address = "host:http".into()),
            ("labels.bad key", |r| {
                r.labels.insert("bad key".into(), "x".into());
            }),
            ("cpus_milli", |r| r.cpus_milli = 0),
            ("memory_bytes", |r| r.memory_bytes = 0),
        ];
        for (name, tweak) in cases {
            let mut r = request();
            tweak(&mut r);
            let e = Registration::parse(r).unwrap_err();
            assert_eq!(e.field, name, "{e}");
        }
        for good in ["[fd00::1]:7401", "node-1.example:1"] {
            let mut r = request();
            r.address = good.into();
            Registration::parse(r).unwrap();
        }
        let mut r = request();
        r.name.clear();
        assert_eq!(Registration::parse(r).unwrap().name, "n1");
    }

    #[test]
    fn a_new_node_gets_a_free_subnet_and_a_known_one_keeps_its_own() {
        let registration = Registration::parse(request()).unwrap();
        let cidr: PodCidr = "10.9.0.0/16".parse().unwrap();
        let (node, expect) = plan(&registration, None, &cidr, ["10.9.0.0/24"]).unwrap();
        assert_eq!(expect, Expect::Absent);
        assert_eq!(node.pod_subnet.as_deref(), Some("10.9.1.0/24"));
        assert_eq!(node.availability, Availability::Active);
        assert_eq!(node.status, NodeStatus::Ready);
        assert_eq!(node.allocatable, node.capacity);

        let mut old = node.clone();
        old.availability = Availability::Drain;
        old.status = NodeStatus::Down;
        old.address = "10.0.0.9:1".into();
        let record = Record {
            key: Key::Node { id: old.id.clone() },
            object: Object::Node(old),
            create_revision: 3,
            mod_revision: 7,
        };
        let (again, expect) = plan(&registration, Some(&record), &cidr, ["10.9.1.0/24"]).unwrap();
        assert_eq!(expect, Expect::Revision(7));
        assert_eq!(again.pod_subnet.as_deref(), Some("10.9.1.0/24"));
        assert_eq!(again.availability, Availability::Drain);
        assert_eq!(again.status, NodeStatus::Ready);
        assert_eq!(again.address, "10.0.0.5:7401");
    }
}
