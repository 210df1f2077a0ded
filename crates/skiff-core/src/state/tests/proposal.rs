//! Proposals: several commands in one log entry, each answered on its own, at one revision.

use super::*;

#[test]
fn commands_of_a_proposal_share_its_revision_and_are_answered_each() {
    let mut state = State::new();
    let proposal = Proposal {
        commands: vec![
            put(env("dev")),
            put(env("prod")),
            Command::put(env("dev"), Expect::Absent),
            Command::Delete {
                key: key("/envs/qa"),
                expect: Expect::Revision(1),
            },
        ],
    };
    let answers = state.apply_proposal(5, &proposal);
    assert_eq!(answers.len(), 4);
    assert!(matches!(answers[0], Response::Ok { revision: 5, .. }));
    assert!(matches!(answers[1], Response::Ok { revision: 5, .. }));
    // The same key again in the same entry: refused, so revision 5 names one version of it.
    assert!(
        matches!(
            &answers[2],
            Response::Conflict {
                found: Found::Revision(5),
                ..
            }
        ),
        "{:?}",
        answers[2]
    );
    assert!(matches!(
        answers[3],
        Response::Conflict {
            found: Found::Absent,
            ..
        }
    ));
    assert_eq!(state.revision(), 5);
    assert_eq!(state.get(&key("/envs/dev")).unwrap().mod_revision, 5);
    let events = state.events_since(0).unwrap();
    assert_eq!(events.len(), 2, "only the accepted commands record events");
    assert!(events.iter().all(|e| e.revision == 5));

    // The next entry sees them like any write, and a replayed entry changes nothing.
    let next = state.apply_proposal(
        6,
        &Proposal::one(Command::put(env("dev"), Expect::Revision(5))),
    );
    assert!(matches!(next[0], Response::Ok { revision: 6, .. }));
    let replay = state.apply_proposal(6, &proposal);
    assert!(replay.iter().all(|r| matches!(
        r,
        Response::Invalid {
            reason: Rejection::StaleRevision { .. }
        }
    )));
    assert_eq!(state.get(&key("/envs/dev")).unwrap().mod_revision, 6);
}

#[test]
fn a_proposal_of_one_command_is_the_command() {
    let mut by_proposal = State::new();
    let mut by_command = State::new();
    for (revision, object) in [(1, env("dev")), (2, app("dev", "shop")), (3, env("prod"))] {
        let command = put(object);
        let a = by_proposal.apply_proposal(revision, &Proposal::one(command.clone()));
        let b = by_command.apply(revision, &command);
        assert_eq!(a, vec![b]);
    }
    assert_eq!(by_proposal.to_snapshot(), by_command.to_snapshot());
}
