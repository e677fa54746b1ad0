use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::*;

fn member(now: Instant) -> (Member, oneshot::Receiver<JoinGroupResponse>) {
    let (tx, rx) = oneshot::channel();
    let member = Member {
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout: Duration::from_secs(10),
        rebalance_timeout: Duration::from_secs(30),
        protocols: vec![("range".into(), Bytes::from("meta"))],
        assignment: Bytes::new(),
        last_seen: now,
        joined: true,
        join_waiter: Some(tx),
        sync_waiter: None,
    };
    (member, rx)
}

#[test]
fn a_first_member_waits_for_others_then_leads_generation_one() {
    let now = Instant::now();
    let mut group = Membership::new("consumer".into());
    let (m, mut rx) = member(now);
    group.join("a".into(), m, now);
    assert!(rx.try_recv().is_err(), "the initial delay lets others join");
    group.try_complete(now + INITIAL_REBALANCE_DELAY);
    let response = rx.try_recv().expect("joined");
    assert_eq!(response.generation_id, 1);
    assert_eq!(response.leader.as_str(), "a");
    assert_eq!(response.members.len(), 1, "the leader gets the roster");
    assert_eq!(group.state, State::CompletingRebalance);
    group.assign(vec![("a".into(), Bytes::from("p0"))]);
    assert_eq!(group.state, State::Stable);
}

#[test]
fn a_second_member_makes_the_first_rejoin_and_both_share_the_next_generation() {
    let now = Instant::now();
    let mut group = Membership::new("consumer".into());
    let (m, _rx) = member(now);
    group.join("a".into(), m, now);
    group.try_complete(now + INITIAL_REBALANCE_DELAY);
    group.assign(vec![("a".into(), Bytes::new())]);
    let later = now + Duration::from_secs(1);
    let (m, mut rx_b) = member(later);
    group.join("b".into(), m, later);
    assert_eq!(group.state, State::PreparingRebalance);
    assert!(rx_b.try_recv().is_err(), "waits for a to rejoin");
    let (m, mut rx_a) = member(later);
    group.join("a".into(), m, later);
    let (a, b) = (rx_a.try_recv().expect("a"), rx_b.try_recv().expect("b"));
    assert_eq!((a.generation_id, b.generation_id), (2, 2));
    assert_eq!(a.members.len(), 2, "a stays the leader");
    assert!(b.members.is_empty());
}

#[test]
fn a_member_that_does_not_rejoin_is_dropped_at_the_deadline() {
    let now = Instant::now();
    let mut group = Membership::new("consumer".into());
    let (m, _rx) = member(now);
    group.join("a".into(), m, now);
    group.try_complete(now + INITIAL_REBALANCE_DELAY);
    group.assign(vec![]);
    let (m, mut rx_b) = member(now);
    group.join("b".into(), m, now);
    group.try_complete(now + Duration::from_secs(31));
    let b = rx_b.try_recv().expect("completed without a");
    assert_eq!(b.leader.as_str(), "b");
    assert!(!group.members.contains_key("a"));
}

#[test]
fn silent_members_expire_and_leaving_empties_the_group() {
    let now = Instant::now();
    let mut group = Membership::new("consumer".into());
    let (m, _rx) = member(now);
    group.join("a".into(), m, now);
    group.try_complete(now + INITIAL_REBALANCE_DELAY);
    assert!(group.expired(now + Duration::from_secs(5)).is_empty());
    assert_eq!(
        group.expired(now + Duration::from_secs(11)),
        vec!["a".to_owned()]
    );
    group.remove(&["a".into()], now);
    assert_eq!(group.state, State::Empty);
}
