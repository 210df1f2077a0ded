//! Three `skiff server` processes on 127.0.0.1 under faults: every member serves writes and
//! reads (followers forward), the leader SIGKILLed while clients write (a new leader, no
//! acknowledged write lost, the old one catches up), and SIGSTOP partitions (a minority
//! commits nothing, a majority keeps committing). See `cluster_support` for the harness.

mod cluster_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::{Cluster, Precondition, Reply, Timing, ENV};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_member_takes_writes_and_serves_reads() {
    let cluster = Cluster::start(3, Timing::default()).await;
    let leader = cluster.leader(&cluster.ids()).await;
    cluster.create_env(leader % 3 + 1, ENV).await;
    let mut revisions = Vec::new();
    for id in cluster.ids() {
        let reply = cluster
            .api
            .put(
                &cluster.addr(id),
                (ENV, &format!("via-{id}")),
                format!("written through {id}").as_bytes(),
                Precondition::Absent,
                Duration::from_secs(5),
            )
            .await;
        let revision = reply.revision();
        assert!(revision.is_some(), "a write through server {id}: {reply:?}");
        revisions.push(revision);
    }
    assert!(revisions.is_sorted(), "one log orders them: {revisions:?}");

    let written = cluster.configs(leader, false).await;
    assert_eq!(written.len(), 3);
    for reader in cluster.ids() {
        for writer in cluster.ids() {
            let name = format!("via-{writer}");
            let read = cluster.get(reader, &name, false).await;
            let read = read.unwrap_or_else(|e| panic!("{name} on server {reader}: {e:?}"));
            assert_eq!(
                read.as_ref(),
                written.get(&name),
                "{name} on server {reader}"
            );
        }
        // Its own state catches up too (a stale read may lag, but not for long).
        cluster.converges(reader, &written).await;
    }
}

/// One write of the workload and what came back.
#[derive(Debug, Clone)]
struct Attempt {
    name: String,
    value: Vec<u8>,
    started: Instant,
    done: Instant,
    reply: Reply,
}

/// Writers that each put fresh names, through every member in turn, until told to stop.
struct Workload {
    stop: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    writers: Vec<tokio::task::JoinHandle<()>>,
}

impl Workload {
    fn start(cluster: &Cluster, writers: usize) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let addrs: Vec<String> = cluster.ids().iter().map(|&id| cluster.addr(id)).collect();
        let writers = (0..writers)
            .map(|w| {
                let (api, addrs) = (cluster.api.clone(), addrs.clone());
                let (stop, attempts) = (stop.clone(), attempts.clone());
                tokio::spawn(async move {
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let name = format!("w{w}-{i}");
                        let value = format!("value of {name}").into_bytes();
                        let addr = &addrs[(w + i) % addrs.len()];
                        let started = Instant::now();
                        let timeout = Duration::from_secs(3);
                        let reply = api
                            .put(addr, (ENV, &name), &value, Precondition::Absent, timeout)
                            .await;
                        let pause = !matches!(reply, Reply::Ok(_));
                        let done = Instant::now();
                        attempts.lock().unwrap().push(Attempt {
                            name,
                            value,
                            started,
                            done,
                            reply,
                        });
                        if pause {
                            // As a client would on a 503: not a busy loop while there is no leader.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Workload {
            stop,
            attempts,
            writers,
        }
    }

    fn acknowledged_since(&self, since: Instant) -> usize {
        let attempts = self.attempts.lock().unwrap();
        attempts
            .iter()
            .filter(|a| a.started >= since && a.reply.revision().is_some())
            .count()
    }

    async fn finish(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        for writer in self.writers {
            writer.await.expect("a writer task");
        }
        Arc::try_unwrap(self.attempts)
            .unwrap()
            .into_inner()
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start(3, Timing::default()).await;
    cluster.create_env(1, ENV).await;
    let began = Instant::now();
    let workload = Workload::start(&cluster, 4);
    cluster
        .eventually(
            "20 writes are acknowledged",
            Duration::from_secs(10),
            || async { (workload.acknowledged_since(began) >= 20).then_some(()) },
        )
        .await;

    let old = cluster.leader(&cluster.ids()).await;
    cluster.kill(old);
    let killed = Instant::now();
    let survivors: Vec<u64> = cluster.live();
    let new = cluster.leader(&survivors).await;
    let elected = killed.elapsed();
    cluster
        .eventually(
            "20 writes after the kill",
            Duration::from_secs(15),
            || async { (workload.acknowledged_since(killed) >= 20).then_some(()) },
        )
        .await;
    let attempts = workload.finish().await;
    let first_ack = attempts
        .iter()
        .filter(|a| a.started >= killed && a.reply.revision().is_some())
        .map(|a| a.done - killed)
        .min()
        .unwrap();
    eprintln!(
        "leader {old} killed: server {new} led after {elected:?}, first write acknowledged \
         after {first_ack:?}; {} attempts",
        attempts.len(),
    );

    let state = cluster.configs(new, false).await;
    check_attempts(&cluster, &attempts, &state);

    cluster.restart(old).await;
    cluster.converges(old, &state).await;
    let state_now = cluster.configs(old, false).await;
    assert_eq!(
        state_now.len(),
        state.len(),
        "a linearizable read through the restarted one"
    );
}

/// Every acknowledged write is there with its value and revision; every write refused before
/// it was proposed is absent; the rest (no answer, a timeout) is there whole or not at all.
fn check_attempts(
    cluster: &Cluster,
    attempts: &[Attempt],
    state: &std::collections::BTreeMap<String, cluster_support::Config>,
) {
    let (mut acknowledged, mut unknown_present, mut unknown_absent) = (0, 0, 0);
    for attempt in attempts {
        let found = state.get(&attempt.name);
        match &attempt.reply {
            Reply::Ok(_) => {
                acknowledged += 1;
                let found = found.unwrap_or_else(|| {
                    cluster.fail(&format!("acknowledged write lost: {attempt:?}"))
                });
                assert_eq!(found.data, attempt.value, "{}", attempt.name);
                assert_eq!(Some(found.mod_revision), attempt.reply.revision());
            }
            reply if reply.surely_not_applied() => {
                if found.is_some() {
                    cluster.fail(&format!(
                        "a write refused with {reply:?} was applied: {attempt:?}"
                    ));
                }
            }
            reply => match found {
                Some(found) => {
                    assert_eq!(
                        found.data, attempt.value,
                        "{} after {reply:?}",
                        attempt.name
                    );
                    unknown_present += 1;
                }
                None => unknown_absent += 1,
            },
        }
    }
    eprintln!(
        "{acknowledged} acknowledged; without a sure answer: {unknown_present} applied, \
         {unknown_absent} not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_majority_keeps_committing_while_a_follower_is_stopped() {
    let mut cluster = Cluster::start(3, Timing::default()).await;
    cluster.create_env(1, ENV).await;
    let leader = cluster.leader(&cluster.ids()).await;
    let followers: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();

    cluster.stop(followers[0]);
    let stopped = Instant::now();
    for i in 0..10 {
        let via = [leader, followers[1]][i % 2];
        let name = format!("majority-{i}");
        let reply = cluster
            .api
            .put(
                &cluster.addr(via),
                (ENV, &name),
                b"v",
                Precondition::Absent,
                Duration::from_secs(5),
            )
            .await;
        if reply.revision().is_none() {
            cluster.fail(&format!("{name} through server {via}: {reply:?}"));
        }
    }
    eprintln!(
        "10 writes with server {} stopped took {:?}",
        followers[0],
        stopped.elapsed()
    );
    let state = cluster.configs(leader, false).await;
    assert_eq!(state.len(), 10);

    cluster.cont(followers[0]);
    cluster.converges(followers[0], &state).await;
}

/// Tries a write of `name` through `via` with a short time limit; returns the reply, which must
/// not be a success.
async fn write_in_minority(cluster: &Cluster, via: u64, name: &str) -> (String, Reply) {
    let value = format!("value of {name}");
    let reply = cluster
        .api
        .put(
            &cluster.addr(via),
            (ENV, name),
            value.as_bytes(),
            Precondition::Absent,
            Duration::from_secs(1),
        )
        .await;
    if matches!(reply, Reply::Ok(_)) {
        cluster.fail(&format!(
            "{name} committed through {via} cut off from the majority"
        ));
    }
    (name.to_owned(), reply)
}

/// After the partition healed: a write commits again, and each write tried in the minority
/// is there whole (it may have been committed once the others came back) or not at all.
async fn check_healed(cluster: &Cluster, tried: &[(String, Reply)]) {
    let healed = Instant::now();
    cluster
        .put(cluster.ids()[0], &format!("healed-{}", tried[0].0), b"v")
        .await;
    eprintln!("a write committed {:?} after SIGCONT", healed.elapsed());
    let state = cluster.configs(cluster.ids()[0], false).await;
    for (name, reply) in tried {
        let found = state.get(name);
        if let Some(found) = found {
            assert!(
                !reply.surely_not_applied(),
                "{name} applied after {reply:?}"
            );
            assert_eq!(
                found.data,
                format!("value of {name}").into_bytes(),
                "{name}"
            );
        }
        let answer = reply.code().unwrap_or("no answer");
        let then = if found.is_some() { "applied" } else { "absent" };
        eprintln!("{name}: {answer}, then {then}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cut_off_from_the_majority_commits_nothing() {
    let mut cluster = Cluster::start(3, Timing::default()).await;
    cluster.create_env(1, ENV).await;

    // The leader left alone: it still believes it leads, but nothing commits.
    let leader = cluster.leader(&cluster.ids()).await;
    let others: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|&id| id != leader)
        .collect();
    others.iter().for_each(|&id| cluster.stop(id));
    let leader_addr = cluster.addr(leader);
    let (a, b, read) = tokio::join!(
        write_in_minority(&cluster, leader, "lone-leader-1"),
        write_in_minority(&cluster, leader, "lone-leader-2"),
        cluster
            .api
            .get(&leader_addr, (ENV, "x"), false, Duration::from_secs(1)),
    );
    assert!(
        !matches!(read, Reply::Ok(_) | Reply::Error { status: 404, .. }),
        "a linearizable read on a leader without its quorum: {read:?}"
    );
    let stale = cluster.get(leader, "x", true).await;
    assert!(
        matches!(stale, Ok(None)),
        "a stale read is served locally: {stale:?}"
    );
    others.iter().for_each(|&id| cluster.cont(id));
    check_healed(&cluster, &[a, b]).await;

    // A follower left alone: it cannot reach the leader, then cannot elect one.
    let leader = cluster.leader(&cluster.ids()).await;
    let lone = cluster.ids().into_iter().find(|&id| id != leader).unwrap();
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != lone).collect();
    others.iter().for_each(|&id| cluster.stop(id));
    let first = write_in_minority(&cluster, lone, "lone-follower-1").await;
    // Once its election timer fires it knows no leader, stands for election in vain, and
    // refuses writes before proposing anything.
    cluster
        .eventually(
            "the lone follower knows no leader",
            Duration::from_secs(5),
            || async {
                let status = cluster.api.cluster(&cluster.addr(lone)).await.ok()?;
                status["leader"].is_null().then_some(())
            },
        )
        .await;
    let second = write_in_minority(&cluster, lone, "lone-follower-2").await;
    assert_eq!(second.1.code(), Some("no_leader"), "{:?}", second.1);
    others.iter().for_each(|&id| cluster.cont(id));
    check_healed(&cluster, &[first, second]).await;
}
