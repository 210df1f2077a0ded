//! Whole rollouts over a real state: orchestrator rounds applied as transactions, a stand-in
//! scheduler that places every pending task on n1, and a stand-in agent that starts what it is
//! given (or fails it, per the test), half a second of time per round.

use super::txn::{round, state_of};
use super::*;
use crate::state::{Command, Expect, State};
use crate::Object;

/// What the stand-in agent does with a new task of a spec revision.
#[derive(Clone, Copy, PartialEq)]
enum Agent {
    Runs,
    Fails,
}

struct Sim {
    state: State,
    now: u64,
    rounds: u32,
    agent: fn(u64) -> Agent,
}

impl Sim {
    fn new(world: &World, agent: fn(u64) -> Agent) -> Self {
        Sim {
            state: state_of(world),
            now: world.now,
            rounds: 0,
            agent,
        }
    }

    fn apply(&mut self, command: Command) {
        let revision = self.state.revision() + 1;
        let response = self.state.apply(revision, &command);
        assert!(response.is_ok(), "{response:?}");
    }

    /// One orchestrator round, then the scheduler and the agent act on every task.
    fn step(&mut self) {
        let plan = round(&self.state, self.now, &format!("s{}x", self.rounds));
        if !plan.is_empty() {
            self.apply(plan.into_command());
        }
        for mut task in self.tasks() {
            let before = task.clone();
            match (task.desired, task.observed) {
                (DesiredState::Running, TaskState::Pending) => {
                    task.node = Some(name("n1"));
                    task.observed = TaskState::Assigned;
                }
                (DesiredState::Running, TaskState::Assigned) => {
                    task.observed = match (self.agent)(task.spec_revision) {
                        Agent::Runs => TaskState::Running,
                        Agent::Fails => TaskState::Failed,
                    };
                }
                (DesiredState::Shutdown | DesiredState::Remove, s) if !s.is_terminal() => {
                    task.observed = TaskState::Shutdown;
                }
                _ => {}
            }
            if task != before {
                task.updated_at = Timestamp(self.now);
                self.apply(Command::put(Object::Task(task), Expect::Any));
            }
        }
        self.now += 500;
        self.rounds += 1;
    }

    fn tasks(&self) -> Vec<Task> {
        self.state
            .list(&Kind::Task.prefix())
            .into_iter()
            .filter_map(|r| match &r.object {
                Object::Task(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    fn service(&self) -> Service {
        let records = self.state.list(&Kind::Service.prefix());
        match &records[0].object {
            Object::Service(s) => (**s).clone(),
            other => panic!("{other:?}"),
        }
    }

    /// Tasks wanted running: (of the service's revision and running, others running, not
    /// running yet).
    fn counts(&self) -> (usize, usize, usize) {
        let rev = self.service().spec_revision;
        let running: Vec<Task> = self
            .tasks()
            .into_iter()
            .filter(|t| t.desired == DesiredState::Running)
            .collect();
        let up = |t: &&Task| t.observed == TaskState::Running && t.spec_revision == rev;
        let others = |t: &&Task| t.observed == TaskState::Running && t.spec_revision != rev;
        (
            running.iter().filter(up).count(),
            running.iter().filter(others).count(),
            running
                .iter()
                .filter(|t| t.observed != TaskState::Running)
                .count(),
        )
    }

    fn state_of_rollout(&self) -> Option<RolloutState> {
        self.service().rollout.map(|r| r.state)
    }
}

/// Six replicas of revision 1 running, then revision 2 applied with `update`.
fn six(update: &str) -> World {
    let v2 = format!("{}      update_config:\n{update}", replicas(6));
    let mut world = World::new(spec("busybox", &replicas(6)), 1)
        .respec(spec("busybox:2", &v2))
        .tasks((1..=6).map(|i| task(&format!("a{i}"), r(i), 1).at("n1", TaskState::Running)));
    world.now = 100_000;
    world
}

#[test]
fn six_replicas_two_at_a_time_in_batches() {
    let world = six("        parallelism: 2\n        monitor: 1s\n");
    let mut sim = Sim::new(&world, |_| Agent::Runs);
    let mut seen = Vec::new();
    while sim.state_of_rollout() != Some(RolloutState::Completed) {
        sim.step();
        let (new, old, starting) = sim.counts();
        assert!(
            starting <= 2,
            "at most 2 slots in flight, round {}",
            sim.rounds
        );
        if seen.last() != Some(&new) {
            seen.push(new);
        }
        assert!(new + old >= 4, "stop-first: at most 2 down at once");
        assert!(sim.rounds < 60, "no completion after 60 rounds");
    }
    assert_eq!(seen, [0, 2, 4, 6], "two new tasks at a time");
    let status = sim.service().rollout.unwrap();
    assert_eq!((status.from_revision, status.to_revision), (1, 2));
    assert_eq!((status.updated, status.failures), (6, 0));
    assert!(status.watching.is_empty());
    assert_eq!(status.message, "update completed: 6 task(s) replaced");
}

#[test]
fn start_first_keeps_six_running_throughout() {
    let world = six("        parallelism: 2\n        order: start-first\n        monitor: 0s\n");
    let mut sim = Sim::new(&world, |_| Agent::Runs);
    while sim.state_of_rollout() != Some(RolloutState::Completed) {
        sim.step();
        let (new, old, _) = sim.counts();
        assert!(
            new + old >= 6,
            "round {}: only {new} + {old} running",
            sim.rounds
        );
        assert!(sim.rounds < 60, "no completion after 60 rounds");
    }
    assert_eq!(sim.counts(), (6, 0, 0));
}

#[test]
fn a_failing_version_rolls_back_by_itself() {
    let world =
        six("        parallelism: 2\n        failure_action: rollback\n        monitor: 2s\n");
    let mut sim = Sim::new(
        &world,
        |rev| {
            if rev == 2 {
                Agent::Fails
            } else {
                Agent::Runs
            }
        },
    );
    while sim.state_of_rollout() != Some(RolloutState::RollbackCompleted) {
        sim.step();
        assert!(sim.rounds < 60, "no rollback after 60 rounds");
    }
    let service = sim.service();
    assert_eq!(service.spec_revision, 3, "a new app revision");
    assert_eq!(service.spec.image, "busybox", "revision 1's spec restored");
    let status = service.rollout.unwrap();
    assert_eq!(
        (
            status.from_revision,
            status.to_revision,
            status.restores_revision
        ),
        (2, 3, Some(1))
    );
    assert_eq!(
        sim.counts(),
        (6, 0, 0),
        "six tasks of the restored spec run"
    );
    let kept = sim
        .tasks()
        .into_iter()
        .filter(|t| t.desired == DesiredState::Running && t.id.as_str().starts_with('a'))
        .count();
    assert_eq!(kept, 4, "the four slots never updated kept their tasks");
    let Some(Object::App(app)) = sim
        .state
        .get(&crate::Key::App {
            env: name("dev"),
            app: name("shop"),
        })
        .map(|r| r.object.clone())
    else {
        panic!("the app")
    };
    assert_eq!(app.spec_revision, 3);
    assert_eq!(app.spec.services["web"].image, "busybox");
    assert_eq!(
        app.history.last().unwrap().spec.services["web"].image,
        "busybox:2"
    );
}
