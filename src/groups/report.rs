//! A consumer group's lag, partition by partition, from what the partitions' properties and the
//! checkpoint store say: pure arithmetic, no I/O, so every rule is tested here.
//!
//! - Lag in events is last enqueued − checkpoint, KEDA's formula, so the numbers match what an
//!   autoscaler sees; with no checkpoint it is everything retained, and an empty partition
//!   never checkpointed has none.
//! - Expired unread: checkpointed events before the partition's beginning are gone.
//! - About to expire: the oldest unprocessed event passes retention before the group, at its
//!   pace, would read everything behind it.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::checkpoints::{Checkpoint, Ownership};
use crate::hub::PartitionSnapshot;

use super::pace::Pace;

/// What the rules need to know besides the data.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// An owner whose heartbeat is older is no longer live.
    pub stale_after: Duration,
    /// The hub's retention, when known (the endpoint's, the management API's, or typed).
    pub retention: Option<Duration>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            stale_after: Duration::from_secs(120),
            retention: None,
        }
    }
}

/// One partition of one group: the `hubscope lag --output json` shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionLag {
    pub partition_id: String,
    pub checkpoint_sequence_number: Option<i64>,
    pub checkpoint_offset: Option<String>,
    pub beginning_sequence_number: i64,
    pub last_enqueued_sequence_number: i64,
    pub lag_events: u64,
    pub oldest_unprocessed_age_secs: Option<f64>,
    pub expired_unread: u64,
    /// Seconds until the oldest unprocessed event passes retention (negative: it has).
    pub expires_in_secs: Option<f64>,
    pub owner_id: Option<String>,
    pub ownership_age_secs: Option<f64>,
    /// The owner's heartbeat is older than the stale limit, or it gave the partition up.
    pub owner_stale: bool,
    /// Checkpoint advance per second; `None` until two readings are some time apart.
    pub consumed_per_sec: Option<f64>,
    pub ingress_per_sec: Option<f64>,
}

/// Where a group's positions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// An Event Hubs consumer group, read from a checkpoint store.
    #[default]
    CheckpointStore,
    /// A Kafka consumer group, read from the namespace's Kafka endpoint.
    Kafka,
}

/// One group: its partitions, totals and warnings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupLag {
    pub name: String,
    pub kind: GroupKind,
    pub lag_events: u64,
    pub consumed_per_sec: Option<f64>,
    pub ingress_per_sec: Option<f64>,
    /// At the current pace; `None` when falling behind, caught up or not yet known.
    pub catch_up_secs: Option<f64>,
    pub warnings: Vec<String>,
    /// Some events will expire, or have expired, before this group reads them.
    pub losing_events: bool,
    /// The store has a checkpoint or an owner for this group: some application reads it. A group
    /// without either gets its lag counted but no pace or expiry warnings: nobody is behind.
    pub has_checkpoints: bool,
    pub partitions: Vec<PartitionLag>,
}

impl GroupLag {
    /// The group's name, marked for Kafka: a Kafka group may share its name with a
    /// checkpoint-store group of the same hub.
    #[must_use]
    pub fn key(&self) -> String {
        match self.kind {
            GroupKind::CheckpointStore => self.name.clone(),
            GroupKind::Kafka => format!("{} (Kafka)", self.name),
        }
    }
}

/// What is known about one partition of a group before the rules run.
pub struct PartitionInput<'a> {
    pub partition: &'a PartitionSnapshot,
    pub checkpoint: Option<&'a Checkpoint>,
    pub ownership: Option<&'a Ownership>,
    /// The enqueued time of the first event after the checkpoint, read from the hub.
    pub oldest_unprocessed_enqueued: Option<SystemTime>,
    pub pace: Pace,
}

/// The group's report at `now`.
#[must_use]
pub fn group_lag(
    name: &str,
    inputs: &[PartitionInput<'_>],
    rules: Rules,
    now: SystemTime,
) -> GroupLag {
    let partitions: Vec<PartitionLag> = inputs
        .iter()
        .map(|i| partition_lag(i, rules, now))
        .collect();
    let has_checkpoints = partitions.iter().any(|p| {
        p.checkpoint_sequence_number.is_some()
            || p.owner_id.is_some()
            || p.ownership_age_secs.is_some()
    });
    let mut warnings = Vec::new();
    let mut losing_events = false;

    let expired: u64 = partitions.iter().map(|p| p.expired_unread).sum();
    if expired > 0 {
        losing_events = true;
        warnings.push(format!(
            "{expired} events expired unread (retention passed before the checkpoint reached them) on partitions {}",
            ids(partitions.iter().filter(|p| p.expired_unread > 0))
        ));
    }
    for (input, p) in inputs.iter().zip(&partitions) {
        if let Some(text) = expiry_warning(input, p, rules, now).filter(|_| has_checkpoints) {
            losing_events = true;
            warnings.push(text);
        }
        if let (Some(c), true) = (p.checkpoint_sequence_number, !input.partition.is_empty) {
            if c > p.last_enqueued_sequence_number {
                warnings.push(format!(
                    "partition {}: the checkpoint ({c}) is ahead of the last event ({}): was the hub recreated?",
                    p.partition_id, p.last_enqueued_sequence_number
                ));
            }
        }
    }
    warnings.extend(ownership_warnings(&partitions));

    let sum = |f: fn(&PartitionLag) -> Option<f64>| -> Option<f64> {
        partitions.iter().map(f).sum::<Option<f64>>()
    };
    let consumed_per_sec = sum(|p| p.consumed_per_sec);
    let ingress_per_sec = sum(|p| p.ingress_per_sec);
    let lag_events = partitions.iter().map(|p| p.lag_events).sum();
    let catch_up_secs = match (consumed_per_sec, ingress_per_sec) {
        (Some(c), Some(i)) if lag_events > 0 && c > i => Some(super::as_f64(lag_events) / (c - i)),
        _ => None,
    };
    if let (Some(c), Some(i)) = (consumed_per_sec, ingress_per_sec) {
        if has_checkpoints && lag_events > 0 && i > c {
            warnings.push(format!("falling behind by {:.0} events/s", i - c));
        }
    }
    GroupLag {
        kind: GroupKind::CheckpointStore,
        name: name.to_string(),
        lag_events,
        consumed_per_sec,
        ingress_per_sec,
        catch_up_secs,
        warnings,
        losing_events,
        has_checkpoints,
        partitions,
    }
}

fn partition_lag(input: &PartitionInput<'_>, rules: Rules, now: SystemTime) -> PartitionLag {
    let p = input.partition;
    let checkpoint = input.checkpoint.map(|c| c.sequence_number);
    let (lag_events, expired_unread) = match checkpoint {
        None => (p.retained_events(), 0),
        Some(c) if c >= p.last_enqueued_sequence_number => (0, 0),
        Some(c) => {
            let lag = u64::try_from(p.last_enqueued_sequence_number - c).unwrap_or(0);
            // An empty partition's beginning is past its last event: everything after c expired.
            let first_retained = if p.is_empty {
                p.last_enqueued_sequence_number + 1
            } else {
                p.beginning_sequence_number
            };
            let expired = u64::try_from(first_retained - 1 - c).unwrap_or(0).min(lag);
            (lag, expired)
        }
    };
    let readable = lag_events > expired_unread;
    let age = |at: SystemTime| now.duration_since(at).unwrap_or_default().as_secs_f64();
    let oldest_unprocessed_age_secs = input
        .oldest_unprocessed_enqueued
        .filter(|_| readable)
        .map(age);
    let expires_in_secs = match (rules.retention, oldest_unprocessed_age_secs) {
        (Some(retention), Some(age)) => Some(retention.as_secs_f64() - age),
        _ => None,
    };
    let ownership = input.ownership;
    let ownership_age_secs = ownership.and_then(|o| o.last_modified).map(age);
    let owner_stale = ownership.is_some_and(|o| {
        o.owner_id.is_empty()
            || ownership_age_secs.is_none_or(|a| a > rules.stale_after.as_secs_f64())
    });
    PartitionLag {
        partition_id: p.id.clone(),
        checkpoint_sequence_number: checkpoint,
        checkpoint_offset: input.checkpoint.and_then(|c| c.offset.clone()),
        beginning_sequence_number: p.beginning_sequence_number,
        last_enqueued_sequence_number: p.last_enqueued_sequence_number,
        lag_events,
        oldest_unprocessed_age_secs,
        expired_unread,
        expires_in_secs,
        owner_id: ownership
            .map(|o| o.owner_id.clone())
            .filter(|id| !id.is_empty()),
        ownership_age_secs,
        owner_stale,
        consumed_per_sec: input.pace.consumed_per_sec,
        ingress_per_sec: input.pace.ingress_per_sec,
    }
}

/// Reading the backlog in order at pace `c`, the k-th unread event is reached after k/c seconds
/// and is then as old as it is now plus that. Taking the backlog as spread evenly between the
/// oldest and newest enqueued times, the worst case is the oldest event (read first) or the
/// newest (read last): an event is lost when either would pass retention first.
fn expiry_warning(
    input: &PartitionInput<'_>,
    p: &PartitionLag,
    rules: Rules,
    now: SystemTime,
) -> Option<String> {
    let retention = rules.retention?.as_secs_f64();
    let oldest_age = p.oldest_unprocessed_age_secs?;
    let expires_in = p.expires_in_secs?;
    let backlog = p.lag_events - p.expired_unread;
    if backlog == 0 {
        return None;
    }
    let newest_age = input.partition.last_enqueued_time.map_or(oldest_age, |t| {
        now.duration_since(t).unwrap_or_default().as_secs_f64()
    });
    let reason = match p.consumed_per_sec {
        Some(pace) if pace > 0.0 => {
            let newest_read_at = newest_age + super::as_f64(backlog) / pace;
            if oldest_age.max(newest_read_at) > retention {
                format!("at {pace:.1} events/s the group reads them too late")
            } else {
                // Slower than arrivals, the next event to read ages by (1 - pace/ingress) s
                // every second: in time it passes retention, though today's backlog would not.
                let ingress = p.ingress_per_sec.filter(|i| *i > pace)?;
                let losing_in = (retention - oldest_age) / (1.0 - pace / ingress);
                return Some(format!(
                    "partition {}: falling behind; at this pace unread events start to expire in {}",
                    p.partition_id,
                    crate::groups::format_duration(losing_in)
                ));
            }
        }
        Some(_) => "the group is not making progress".to_string(),
        // No pace yet: warn only when it is close.
        None if expires_in < (retention / 10.0).min(3600.0) => "soon".to_string(),
        None => return None,
    };
    Some(format!(
        "partition {}: {backlog} unread events, the oldest expires in {} ({reason})",
        p.partition_id,
        crate::groups::format_duration(expires_in)
    ))
}

fn ownership_warnings(partitions: &[PartitionLag]) -> Vec<String> {
    let mut warnings = Vec::new();
    // A group whose processor keeps no ownership records (plain consumers) has none to flag.
    let owned_somewhere = partitions
        .iter()
        .any(|p| p.owner_id.is_some() || p.ownership_age_secs.is_some());
    if !owned_somewhere {
        return warnings;
    }
    let unowned: Vec<&PartitionLag> = partitions
        .iter()
        .filter(|p| p.owner_stale || p.owner_id.is_none())
        .collect();
    if !unowned.is_empty() {
        warnings.push(format!(
            "no live owner for partitions {}",
            ids(unowned.into_iter())
        ));
    }
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for p in partitions.iter().filter(|p| !p.owner_stale) {
        if let Some(owner) = &p.owner_id {
            *counts.entry(owner.as_str()).or_default() += 1;
        }
    }
    let (min, max) = (counts.values().min(), counts.values().max());
    if let (Some(min), Some(max)) = (min, max) {
        if max - min > 1 {
            let spread: Vec<String> = counts.iter().map(|(o, n)| format!("{o}: {n}")).collect();
            warnings.push(format!(
                "partitions unevenly spread over owners ({})",
                spread.join(", ")
            ));
        }
    }
    warnings
}

fn ids<'a>(partitions: impl Iterator<Item = &'a PartitionLag>) -> String {
    partitions
        .map(|p| p.partition_id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
