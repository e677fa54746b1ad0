//! One group's membership, as Kafka's classic group protocol runs it: members join, the
//! coordinator waits until every known member has (re)joined or the rebalance time-out has
//! passed, a new generation starts with a leader who assigns partitions in `SyncGroup`, and the
//! group is stable until a member joins, leaves, or stops heartbeating.
//!
//! This is the state alone; answers to requests that wait (`JoinGroup`, `SyncGroup`) go out through
//! the one-shot channels each member holds.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::kafka::text;
use bytes::Bytes;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How long a group that had no members waits for more to join before its first generation,
/// so that consumers started together share it (Kafka's `group.initial.rebalance.delay.ms`
/// is 3 s; shorter here, for a local endpoint).
pub(crate) const INITIAL_REBALANCE_DELAY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl State {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Member {
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    /// The protocols it supports, in its order of preference, with its metadata for each.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_seen: Instant,
    /// Joined in the rebalance under way.
    pub joined: bool,
    pub join_waiter: Option<oneshot::Sender<JoinGroupResponse>>,
    pub sync_waiter: Option<oneshot::Sender<SyncGroupResponse>>,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }
}

#[derive(Debug)]
pub(crate) struct Membership {
    pub state: State,
    pub generation: i32,
    pub protocol_type: String,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// When the rebalance under way completes whoever has joined.
    rebalance_deadline: Option<Instant>,
    /// Not before this, so that members started together join one generation.
    rebalance_not_before: Option<Instant>,
}

impl Membership {
    pub(crate) fn new(protocol_type: String) -> Self {
        Self {
            state: State::Empty,
            generation: 0,
            protocol_type,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline: None,
            rebalance_not_before: None,
        }
    }

    /// Adds or updates a joining member and starts (or goes on with) a rebalance.
    pub(crate) fn join(&mut self, member_id: String, member: Member, now: Instant) {
        let was_empty = self.members.is_empty();
        let timeout = member.rebalance_timeout;
        self.members.insert(member_id, member);
        if self.state != State::PreparingRebalance {
            self.prepare_rebalance(now);
            if was_empty {
                self.rebalance_not_before = Some(now + INITIAL_REBALANCE_DELAY);
            }
        }
        let deadline = now + timeout;
        self.rebalance_deadline = Some(
            self.rebalance_deadline
                .map_or(deadline, |d| d.max(deadline)),
        );
        self.try_complete(now);
    }

    /// Starts a rebalance: members waiting for their assignment are told to rejoin.
    pub(crate) fn prepare_rebalance(&mut self, now: Instant) {
        self.state = State::PreparingRebalance;
        self.rebalance_not_before = None;
        let longest = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + longest);
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(
                    SyncGroupResponse::default()
                        .with_error_code(ResponseError::RebalanceInProgress.code()),
                );
            }
        }
    }

    /// Completes the rebalance once everyone has joined (or the deadline has passed, dropping
    /// those who did not).
    pub(crate) fn try_complete(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance {
            return;
        }
        if self.rebalance_not_before.is_some_and(|t| now < t) {
            return;
        }
        let everyone = self.members.values().all(|m| m.joined);
        let overdue = self.rebalance_deadline.is_some_and(|d| now >= d);
        if !everyone && !overdue {
            return;
        }
        self.members.retain(|_, m| m.joined);
        self.generation += 1;
        self.rebalance_deadline = None;
        self.rebalance_not_before = None;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.choose_protocol();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.state = State::CompletingRebalance;
        let protocol = self.protocol.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let roster: Vec<JoinGroupResponseMember> = self
            .members
            .iter()
            .map(|(id, m)| {
                JoinGroupResponseMember::default()
                    .with_member_id(text(id))
                    .with_metadata(m.metadata(&protocol))
            })
            .collect();
        for (id, member) in &mut self.members {
            member.joined = false;
            member.last_seen = now;
            if let Some(waiter) = member.join_waiter.take() {
                let members = if *id == leader {
                    roster.clone()
                } else {
                    Vec::new()
                };
                let _ = waiter.send(
                    JoinGroupResponse::default()
                        .with_generation_id(self.generation)
                        .with_protocol_type(Some(text(&self.protocol_type)))
                        .with_protocol_name(Some(text(&protocol)))
                        .with_leader(text(&leader))
                        .with_member_id(text(id))
                        .with_members(members),
                );
            }
        }
    }

    /// The first protocol of the leader-to-be's list that every member supports.
    fn choose_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        first
            .protocols
            .iter()
            .map(|(name, _)| name)
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
    }

    /// The leader's assignments: the group is stable, and waiting members get theirs.
    pub(crate) fn assign(&mut self, assignments: Vec<(String, Bytes)>) {
        for (id, assignment) in assignments {
            if let Some(member) = self.members.get_mut(&id) {
                member.assignment = assignment;
            }
        }
        self.state = State::Stable;
        let (protocol_type, protocol) = (self.protocol_type.clone(), self.protocol.clone());
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(sync_answer(
                    &protocol_type,
                    protocol.as_deref(),
                    &member.assignment,
                ));
            }
        }
    }

    pub(crate) fn sync_answer(&self, assignment: &Bytes) -> SyncGroupResponse {
        sync_answer(&self.protocol_type, self.protocol.as_deref(), assignment)
    }

    /// Removes members; the rest rebalance.
    pub(crate) fn remove(&mut self, ids: &[String], now: Instant) {
        let before = self.members.len();
        for id in ids {
            if let Some(member) = self.members.remove(id) {
                if let Some(waiter) = member.join_waiter {
                    let _ = waiter.send(
                        JoinGroupResponse::default()
                            .with_error_code(ResponseError::UnknownMemberId.code()),
                    );
                }
            }
        }
        if self.members.len() == before {
            return;
        }
        if self.members.is_empty() {
            self.state = State::Empty;
            self.generation += 1;
            self.protocol = None;
            self.leader = None;
            self.rebalance_deadline = None;
            return;
        }
        if self.state != State::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.try_complete(now);
    }

    /// Members whose session has run out: not heard from within their session time-out, and
    /// not waiting in a `JoinGroup` (that wait is bounded by the rebalance time-out instead).
    pub(crate) fn expired(&self, now: Instant) -> Vec<String> {
        self.members
            .iter()
            .filter(|(_, m)| m.join_waiter.is_none() && now >= m.last_seen + m.session_timeout)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

fn sync_answer(
    protocol_type: &str,
    protocol: Option<&str>,
    assignment: &Bytes,
) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_protocol_type(Some(text(protocol_type)))
        .with_protocol_name(protocol.map(text))
        .with_assignment(assignment.clone())
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;
