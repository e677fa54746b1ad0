use std::time::{Duration, SystemTime};

use super::*;
use crate::checkpoints::{Checkpoint, Ownership};
use crate::hub::PartitionSnapshot;

const NOW: Duration = Duration::from_secs(1_800_000_000);

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + NOW
}

fn ago(secs: u64) -> SystemTime {
    now() - Duration::from_secs(secs)
}

fn partition(id: &str, beginning: i64, last: i64) -> PartitionSnapshot {
    PartitionSnapshot {
        id: id.into(),
        beginning_sequence_number: beginning,
        last_enqueued_sequence_number: last,
        last_enqueued_offset: String::new(),
        last_enqueued_time: Some(ago(1)),
        is_empty: last < beginning,
    }
}

fn checkpoint(sequence_number: i64) -> Checkpoint {
    Checkpoint {
        sequence_number,
        offset: Some(format!("{}", sequence_number * 10)),
    }
}

fn owner(id: &str, secs_ago: u64) -> Ownership {
    Ownership {
        owner_id: id.into(),
        last_modified: Some(ago(secs_ago)),
    }
}

fn input<'a>(
    partition: &'a PartitionSnapshot,
    checkpoint: Option<&'a Checkpoint>,
    ownership: Option<&'a Ownership>,
) -> PartitionInput<'a> {
    PartitionInput {
        partition,
        checkpoint,
        ownership,
        oldest_unprocessed_enqueued: Some(ago(30)),
        pace: Pace::default(),
    }
}

#[test]
fn lag_is_last_minus_checkpoint_or_everything_retained() {
    let (p0, p1, p2) = (
        partition("0", 0, 99),
        partition("1", 10, 59),
        partition("2", 0, -1),
    );
    let c0 = checkpoint(89);
    let report = group_lag(
        "g",
        &[
            input(&p0, Some(&c0), None),
            input(&p1, None, None),
            input(&p2, None, None),
        ],
        Rules::default(),
        now(),
    );
    let lags: Vec<u64> = report.partitions.iter().map(|p| p.lag_events).collect();
    assert_eq!(lags, [10, 50, 0]);
    assert_eq!(report.lag_events, 60);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert_eq!(report.partitions[0].oldest_unprocessed_age_secs, Some(30.0));
}

#[test]
fn a_checkpoint_before_the_beginning_lost_events() {
    let p = partition("0", 50, 99);
    let c = checkpoint(19);
    let report = group_lag("g", &[input(&p, Some(&c), None)], Rules::default(), now());
    assert_eq!(report.partitions[0].lag_events, 80);
    assert_eq!(report.partitions[0].expired_unread, 30);
    assert!(report.losing_events);
    assert!(
        report.warnings[0].starts_with("30 events expired unread"),
        "{:?}",
        report.warnings
    );
    // Everything expired: the partition is empty, all 80 after the checkpoint are gone.
    let gone = PartitionSnapshot {
        beginning_sequence_number: 100,
        is_empty: true,
        ..p
    };
    let report = group_lag(
        "g",
        &[input(&gone, Some(&c), None)],
        Rules::default(),
        now(),
    );
    assert_eq!(report.partitions[0].expired_unread, 80);
    assert_eq!(report.partitions[0].oldest_unprocessed_age_secs, None);
}

#[test]
fn a_checkpoint_ahead_of_the_partition_is_flagged_not_counted() {
    let p = partition("0", 0, 9);
    let c = checkpoint(500);
    let report = group_lag("g", &[input(&p, Some(&c), None)], Rules::default(), now());
    assert_eq!(report.lag_events, 0);
    assert!(report.warnings[0].contains("ahead of the last event"));
}

#[test]
fn stale_and_unbalanced_owners_are_flagged() {
    let parts: Vec<_> = (0..4).map(|i| partition(&i.to_string(), 0, 9)).collect();
    let (a, stale, released) = (owner("a", 5), owner("b", 600), owner("", 5));
    let inputs = [
        input(&parts[0], None, Some(&a)),
        input(&parts[1], None, Some(&a)),
        input(&parts[2], None, Some(&stale)),
        input(&parts[3], None, Some(&released)),
    ];
    let report = group_lag("g", &inputs, Rules::default(), now());
    assert!(report.partitions[2].owner_stale && report.partitions[3].owner_stale);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w == "no live owner for partitions 2, 3"),
        "{:?}",
        report.warnings
    );
    // Two live owners, 3 against 1.
    let c = owner("c", 5);
    let inputs = [
        input(&parts[0], None, Some(&a)),
        input(&parts[1], None, Some(&a)),
        input(&parts[2], None, Some(&a)),
        input(&parts[3], None, Some(&c)),
    ];
    let report = group_lag("g", &inputs, Rules::default(), now());
    assert_eq!(
        report.warnings,
        ["partitions unevenly spread over owners (a: 3, c: 1)"]
    );
    // No ownership records at all: nothing to say about owners.
    let report = group_lag(
        "g",
        &[input(&parts[0], None, None)],
        Rules::default(),
        now(),
    );
    assert!(report.warnings.is_empty());
}

#[test]
fn warns_when_retention_comes_before_the_group() {
    let p = partition("0", 0, 999);
    let c = checkpoint(0);
    let rules = Rules {
        retention: Some(Duration::from_secs(3600)),
        ..Rules::default()
    };
    let paced = |consumed: f64| PartitionInput {
        pace: Pace {
            consumed_per_sec: Some(consumed),
            ingress_per_sec: Some(0.0),
        },
        ..input(&p, Some(&c), None)
    };
    // 999 events at 10/s: read in 100 s, well within the hour.
    let fast = group_lag("g", &[paced(10.0)], rules, now());
    assert!(!fast.losing_events, "{:?}", fast.warnings);
    assert_eq!(fast.catch_up_secs, Some(99.9));
    assert_eq!(fast.partitions[0].expires_in_secs, Some(3570.0));
    // At 0.1/s the newest would be read after 9990 s: lost.
    let slow = group_lag("g", &[paced(0.1)], rules, now());
    assert!(slow.losing_events);
    assert!(
        slow.warnings[0].contains("the oldest expires in 59m 30s"),
        "{:?}",
        slow.warnings
    );
    let stalled = group_lag("g", &[paced(0.0)], rules, now());
    assert!(stalled.warnings[0].contains("not making progress"));
}

#[test]
fn falling_behind_says_by_how_much() {
    let p = partition("0", 0, 999);
    let c = checkpoint(0);
    let behind = PartitionInput {
        pace: Pace {
            consumed_per_sec: Some(20.0),
            ingress_per_sec: Some(50.0),
        },
        ..input(&p, Some(&c), None)
    };
    let report = group_lag("g", &[behind], Rules::default(), now());
    assert_eq!(report.catch_up_secs, None);
    assert_eq!(report.warnings, ["falling behind by 30 events/s"]);
}

#[test]
fn a_group_nobody_reads_is_counted_but_not_warned_about() {
    let p = partition("0", 0, 999);
    let idle = PartitionInput {
        pace: Pace {
            consumed_per_sec: Some(0.0),
            ingress_per_sec: Some(50.0),
        },
        ..input(&p, None, None)
    };
    let rules = Rules {
        retention: Some(Duration::from_secs(3600)),
        ..Rules::default()
    };
    let report = group_lag("g", &[idle], rules, now());
    assert_eq!(report.lag_events, 1000);
    assert!(!report.has_checkpoints && !report.losing_events);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn falling_behind_says_when_events_will_start_to_expire() {
    let p = partition("0", 0, 999);
    let c = checkpoint(0);
    // Half as fast as arrivals: the next event to read ages half a second per second, from
    // 30 s old to the hour's retention in 2 × 3570 s.
    let behind = PartitionInput {
        pace: Pace {
            consumed_per_sec: Some(25.0),
            ingress_per_sec: Some(50.0),
        },
        ..input(&p, Some(&c), None)
    };
    let rules = Rules {
        retention: Some(Duration::from_secs(3600)),
        ..Rules::default()
    };
    let report = group_lag("g", &[behind], rules, now());
    assert!(report.losing_events);
    assert_eq!(
        report.warnings[0],
        "partition 0: falling behind; at this pace unread events start to expire in 1h 59m"
    );
}
