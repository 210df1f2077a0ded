//! Consistency of three `skiff server` processes as clients see it: compare-and-swap counts
//! every increment exactly once, and a history of concurrent puts, compare-and-swaps and reads
//! across every member, through a SIGKILLed leader and a SIGSTOPped follower, is linearizable
//! (checked with `skiff_testkit::linearizability`).

mod cluster_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::api::config;
use cluster_support::{Api, Cluster, Precondition, Reply, Timing, ENV};
use skiff_testkit::linearizability::{Op, OpResult, Recorder, Verdict};

const COUNTER: (&str, &str) = (ENV, "counter");

/// What the counter writers saw.
#[derive(Debug, Default)]
struct Tally {
    /// Each successful compare-and-swap: its revision and the value it wrote.
    written: Vec<(u64, u64)>,
    conflicts: usize,
    /// Writes without a sure answer.
    unknown: Vec<Reply>,
}

/// Reads the counter through `addr`, then writes it plus one if it is still at the revision
/// read, until `done` reaches `target`.
async fn increment(
    writer: usize,
    api: Api,
    addrs: Vec<String>,
    done: Arc<AtomicUsize>,
    tally: Arc<Mutex<Tally>>,
) {
    let target = 200;
    let timeout = Duration::from_secs(5);
    for i in 0.. {
        if done.load(Ordering::SeqCst) >= target {
            break;
        }
        let addr = &addrs[i % addrs.len()];
        let Reply::Ok(record) = api.get(addr, COUNTER, false, timeout).await else {
            continue;
        };
        let read = config(&record);
        let value: u64 = String::from_utf8(read.data).unwrap().parse().unwrap();
        let next = (value + 1).to_string();
        let precondition = Precondition::Revision(read.mod_revision);
        let reply = api
            .put(addr, COUNTER, next.as_bytes(), precondition, timeout)
            .await;
        let conflict = {
            let mut tally = tally.lock().unwrap();
            match reply.revision() {
                Some(revision) => {
                    tally.written.push((revision, value + 1));
                    done.fetch_add(1, Ordering::SeqCst);
                    false
                }
                None if reply.conflict_found().is_some() => {
                    tally.conflicts += 1;
                    true
                }
                None if reply.surely_not_applied() => {
                    panic!("a compare-and-swap refused on a healthy cluster: {reply:?}")
                }
                None => {
                    tally.unknown.push(reply);
                    false
                }
            }
        };
        if conflict {
            // Back off a little, as a client would, so that not every round of reads ends in
            // eight proposals of which one can win.
            let pause = (i as u64 * 7919 + writer as u64 * 104_729) % 8;
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_compare_and_swap_counts_every_increment_once() {
    let cluster = Cluster::start(3, Timing::default()).await;
    cluster.create_env(1, ENV).await;
    let created = cluster
        .api
        .put(
            &cluster.addr(1),
            COUNTER,
            b"0",
            Precondition::Absent,
            Duration::from_secs(5),
        )
        .await;
    assert!(created.revision().is_some(), "{created:?}");

    let began = Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let addrs: Vec<String> = cluster.ids().iter().map(|&id| cluster.addr(id)).collect();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let mut addrs = addrs.clone();
            addrs.rotate_left(w % 3);
            let api = cluster.api.clone();
            tokio::spawn(increment(w, api, addrs, done.clone(), tally.clone()))
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer");
    }
    let tally = Arc::try_unwrap(tally).unwrap().into_inner().unwrap();
    eprintln!(
        "{} increments, {} conflicts, {} without an answer, in {:?}",
        tally.written.len(),
        tally.conflicts,
        tally.unknown.len(),
        began.elapsed()
    );
    assert!(
        tally.unknown.is_empty(),
        "on a healthy cluster: {:?}",
        tally.unknown
    );
    assert!(
        tally.conflicts > 0,
        "8 writers on one key conflict now and then"
    );

    let final_value = cluster.get(2, "counter", false).await.unwrap().unwrap();
    let final_value: u64 = String::from_utf8(final_value.data)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        final_value,
        tally.written.len() as u64,
        "one increment per success"
    );
    // In revision order, the successes wrote 1, 2, 3, …: none saw a stale value.
    let mut written = tally.written;
    written.sort();
    let values: Vec<u64> = written.iter().map(|&(_, v)| v).collect();
    assert_eq!(values, (1..=final_value).collect::<Vec<_>>());
    let mut revisions: Vec<u64> = written.iter().map(|&(r, _)| r).collect();
    revisions.dedup();
    assert_eq!(revisions.len(), written.len(), "unique revisions");
}

/// A tiny deterministic generator (xorshift64*), so a failing run can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n
    }
}

const KEYS: [&str; 3] = ["k0", "k1", "k2"];

/// One client: random gets, puts and compare-and-swaps on [`KEYS`] through random members,
/// each recorded with what came back, until `stop`.
async fn client(
    id: u32,
    seed: u64,
    api: Api,
    addrs: Vec<String>,
    rec: Arc<Recorder>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng(seed);
    // The last revision this client saw per key (`None`: absent), for its compare-and-swaps.
    let mut seen: [Option<u64>; 3] = [None; 3];
    let timeout = Duration::from_secs(1);
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let k = rng.below(3) as usize;
        let key = (ENV, KEYS[k]);
        let addr = &addrs[rng.below(addrs.len() as u64) as usize];
        let value = format!("c{id}-{n}");
        let (op, reply) = match rng.below(10) {
            0..=3 => {
                let call = rec.call(id, KEYS[k], Op::Get);
                (call, api.get(addr, key, false, timeout).await)
            }
            4..=6 => {
                let call = rec.call(
                    id,
                    KEYS[k],
                    Op::Put {
                        value: value.clone(),
                    },
                );
                let reply = api
                    .put(addr, key, value.as_bytes(), Precondition::Any, timeout)
                    .await;
                (call, reply)
            }
            _ => {
                let expected_revision = seen[k];
                let op = Op::Cas {
                    expected_revision,
                    value: value.clone(),
                };
                let precondition =
                    expected_revision.map_or(Precondition::Absent, Precondition::Revision);
                let call = rec.call(id, KEYS[k], op);
                (
                    call,
                    api.put(addr, key, value.as_bytes(), precondition, timeout)
                        .await,
                )
            }
        };
        let result = match &reply {
            Reply::Ok(body) if body.get("object").is_some() => {
                let read = config(body);
                seen[k] = Some(read.mod_revision);
                Some(OpResult::Found {
                    value: String::from_utf8(read.data).expect("values are text"),
                    mod_revision: read.mod_revision,
                })
            }
            Reply::Ok(_) => {
                let revision = reply.revision().expect("a write answers its revision");
                seen[k] = Some(revision);
                Some(OpResult::Ok { revision })
            }
            Reply::Error { status: 404, .. } => {
                seen[k] = None;
                Some(OpResult::Absent)
            }
            _ => reply.conflict_found().map(|found| {
                seen[k] = found;
                OpResult::Conflict { found }
            }),
        };
        match result {
            Some(result) => rec.ret(op, result),
            None if reply.surely_not_applied() => {
                assert!(
                    matches!(reply, Reply::Refused(_) | Reply::Error { status: 503, .. }),
                    "client {id}: an unexpected refusal {reply:?}"
                );
                rec.refused(op);
                // As a client would on a 503: not a busy loop while there is no leader.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            None => rec.unknown(op),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_through_a_killed_leader_and_a_stopped_follower_is_linearizable() {
    let mut cluster = Cluster::start(3, Timing::default()).await;
    cluster.create_env(1, ENV).await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let rec = Arc::new(Recorder::new());
    let stop = Arc::new(AtomicBool::new(false));
    let addrs: Vec<String> = cluster.ids().iter().map(|&id| cluster.addr(id)).collect();
    let clients: Vec<_> = (0..6)
        .map(|id| {
            let seed = seed.wrapping_mul(id as u64 + 1);
            let (api, addrs) = (cluster.api.clone(), addrs.clone());
            tokio::spawn(client(id, seed, api, addrs, rec.clone(), stop.clone()))
        })
        .collect();
    let began = Instant::now();
    let returned = |rec: &Recorder| {
        rec.history()
            .operations
            .iter()
            .filter(|o| o.returned().is_some())
            .count()
    };
    let progress = async |cluster: &Cluster, what: &str, more: usize| {
        let target = returned(&rec) + more;
        cluster
            .eventually(what, Duration::from_secs(15), || async {
                (returned(&rec) >= target).then_some(())
            })
            .await;
        eprintln!("{:>8.3?} {what}: {more}", began.elapsed());
    };

    progress(&cluster, "answers before any fault", 50).await;
    let leader = cluster.leader(&cluster.ids()).await;
    cluster.kill(leader);
    progress(&cluster, "answers after the leader was killed", 50).await;
    cluster.restart(leader).await;
    let leader = cluster.leader(&cluster.ids()).await;
    let follower = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    cluster.stop(follower);
    progress(&cluster, "answers while a follower is stopped", 50).await;
    cluster.cont(follower);
    progress(&cluster, "answers after the follower came back", 50).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("a client");
    }

    let history = rec.history();
    let unknown = history.operations.len() - returned(&rec);
    eprintln!(
        "{} operations ({unknown} without an answer) in {:?}",
        history.operations.len(),
        began.elapsed()
    );
    let checked = Instant::now();
    let verdict = history.check().expect("a well-formed history");
    eprintln!("checked in {:?}: {verdict}", checked.elapsed());
    if verdict != Verdict::Ok {
        let json = serde_json::to_string(&history).unwrap();
        cluster.fail(&format!("{verdict}\nseed {seed}, history: {json}"));
    }
}
