//! The group coordinator: Kafka consumer groups, their members, generations and committed
//! offsets. Kafka groups are the namespace's, apart from the hubs' AMQP consumer groups, as on
//! the service: created by their first join or commit, listed, described and deleted through
//! Kafka's own APIs (docs/kafka.md §7).

mod membership;
pub(crate) mod offsets;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::find_coordinator_response::Coordinator as CoordinatorEntry;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, SyncGroupRequest, SyncGroupResponse,
};
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::kafka::topics::NODE;
use crate::kafka::{text, Context, Session};
use membership::{Member, Membership, State};
use offsets::{Committed, KeptGroup, OffsetStore, OffsetsError};

mod commits;

/// Session time-outs a member may ask for (Kafka's defaults are 6 s to 30 min; the lower bound
/// is looser here, so that tests and local tools can notice a dead consumer sooner).
const SESSION_TIMEOUTS: std::ops::RangeInclusive<i32> = 1_000..=1_800_000;
/// How often sessions and rebalance deadlines are checked, and offsets written when changed.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Group {
    membership: Membership,
    offsets: BTreeMap<String, BTreeMap<i32, Committed>>,
}

impl Group {
    fn new(protocol_type: String) -> Self {
        Self {
            membership: Membership::new(protocol_type),
            offsets: BTreeMap::new(),
        }
    }
}

/// Every Kafka group of the namespace.
#[derive(Debug)]
pub(crate) struct Coordinator {
    groups: Mutex<BTreeMap<String, Group>>,
    store: OffsetStore,
    /// Offsets changed since they were last written.
    dirty: AtomicBool,
}

impl Coordinator {
    /// The groups kept in `data_dir`, if any.
    ///
    /// # Errors
    /// [`OffsetsError`] when the kept file cannot be read.
    pub(crate) fn open(data_dir: Option<&std::path::Path>) -> Result<Self, OffsetsError> {
        let store = OffsetStore::new(data_dir);
        let groups = store
            .load()?
            .into_iter()
            .map(|(name, kept)| {
                let mut group = Group::new(kept.protocol_type);
                group.offsets = kept.offsets;
                (name, group)
            })
            .collect();
        Ok(Self {
            groups: Mutex::new(groups),
            store,
            dirty: AtomicBool::new(false),
        })
    }

    /// No groups, kept in `data_dir` from now on.
    pub(crate) fn empty(data_dir: Option<&std::path::Path>) -> Self {
        Self {
            groups: Mutex::default(),
            store: OffsetStore::new(data_dir),
            dirty: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Group>> {
        self.groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn changed(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Writes the offsets when they changed since the last write.
    pub(crate) fn persist(&self) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let kept: BTreeMap<String, KeptGroup> = self
            .lock()
            .iter()
            .map(|(name, group)| {
                let kept = KeptGroup {
                    protocol_type: group.membership.protocol_type.clone(),
                    offsets: group.offsets.clone(),
                };
                (name.clone(), kept)
            })
            .collect();
        if let Err(e) = self.store.save(kept) {
            tracing::error!(error = %e, "Kafka group offsets not written; retrying");
            self.changed();
        }
    }

    pub(crate) async fn join(
        &self,
        request: JoinGroupRequest,
        _version: i16,
        session: &Session,
    ) -> JoinGroupResponse {
        let refuse =
            |error: ResponseError| JoinGroupResponse::default().with_error_code(error.code());
        if request.group_id.is_empty() {
            return refuse(ResponseError::InvalidGroupId);
        }
        if !SESSION_TIMEOUTS.contains(&request.session_timeout_ms) {
            return refuse(ResponseError::InvalidSessionTimeout);
        }
        let (tx, rx) = oneshot::channel();
        {
            let mut groups = self.lock();
            let group = groups
                .entry(request.group_id.to_string())
                .or_insert_with(|| Group::new(request.protocol_type.to_string()));
            let membership = &mut group.membership;
            if membership.members.is_empty() {
                membership.protocol_type = request.protocol_type.to_string();
            } else if membership.protocol_type != request.protocol_type.as_str()
                || !request.protocols.iter().any(|p| {
                    membership
                        .protocol
                        .as_ref()
                        .is_none_or(|chosen| chosen == p.name.as_str())
                })
            {
                return refuse(ResponseError::InconsistentGroupProtocol);
            }
            let member_id = if request.member_id.is_empty() {
                format!("{}-{}", session.client_id, uuid::Uuid::new_v4())
            } else if membership.members.contains_key(request.member_id.as_str()) {
                request.member_id.to_string()
            } else {
                return refuse(ResponseError::UnknownMemberId);
            };
            let rebalance_ms = if request.rebalance_timeout_ms > 0 {
                request.rebalance_timeout_ms
            } else {
                request.session_timeout_ms
            };
            let member = Member {
                client_id: session.client_id.clone(),
                client_host: format!("/{}", session.peer.ip()),
                session_timeout: millis(request.session_timeout_ms),
                rebalance_timeout: millis(rebalance_ms),
                protocols: request
                    .protocols
                    .iter()
                    .map(|p| (p.name.to_string(), p.metadata.clone()))
                    .collect(),
                assignment: bytes::Bytes::new(),
                last_seen: Instant::now(),
                joined: true,
                join_waiter: Some(tx),
                sync_waiter: None,
            };
            membership.join(member_id, member, Instant::now());
        }
        rx.await
            .unwrap_or_else(|_| refuse(ResponseError::RebalanceInProgress))
    }

    pub(crate) async fn sync(&self, request: SyncGroupRequest) -> SyncGroupResponse {
        let refuse =
            |error: ResponseError| SyncGroupResponse::default().with_error_code(error.code());
        let rx = {
            let mut groups = self.lock();
            let Some(group) = groups.get_mut(request.group_id.as_str()) else {
                return refuse(ResponseError::UnknownMemberId);
            };
            let membership = &mut group.membership;
            let Some(member) = membership.members.get_mut(request.member_id.as_str()) else {
                return refuse(ResponseError::UnknownMemberId);
            };
            member.last_seen = Instant::now();
            if request.generation_id != membership.generation {
                return refuse(ResponseError::IllegalGeneration);
            }
            match membership.state {
                State::Empty | State::PreparingRebalance => {
                    return refuse(ResponseError::RebalanceInProgress)
                }
                State::Stable => {
                    let assignment = member.assignment.clone();
                    return membership.sync_answer(&assignment);
                }
                State::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            member.sync_waiter = Some(tx);
            if membership.leader.as_deref() == Some(request.member_id.as_str()) {
                membership.assign(
                    request
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
                        .collect(),
                );
            }
            rx
        };
        rx.await
            .unwrap_or_else(|_| refuse(ResponseError::RebalanceInProgress))
    }

    pub(crate) fn heartbeat(&self, request: &HeartbeatRequest) -> HeartbeatResponse {
        let answer = |error: Option<ResponseError>| {
            HeartbeatResponse::default().with_error_code(error.map_or(0, |e| e.code()))
        };
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(request.group_id.as_str()) else {
            return answer(Some(ResponseError::UnknownMemberId));
        };
        let membership = &mut group.membership;
        let Some(member) = membership.members.get_mut(request.member_id.as_str()) else {
            return answer(Some(ResponseError::UnknownMemberId));
        };
        member.last_seen = Instant::now();
        if membership.state == State::PreparingRebalance {
            return answer(Some(ResponseError::RebalanceInProgress));
        }
        if request.generation_id != membership.generation {
            return answer(Some(ResponseError::IllegalGeneration));
        }
        answer(None)
    }

    pub(crate) fn leave(&self, request: &LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let leaving: Vec<String> = if version >= 3 {
            request
                .members
                .iter()
                .map(|m| m.member_id.to_string())
                .collect()
        } else {
            vec![request.member_id.to_string()]
        };
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(request.group_id.as_str()) else {
            return LeaveGroupResponse::default()
                .with_error_code(ResponseError::UnknownMemberId.code());
        };
        let known: Vec<bool> = leaving
            .iter()
            .map(|id| group.membership.members.contains_key(id))
            .collect();
        group.membership.remove(&leaving, Instant::now());
        if version >= 3 {
            let members = leaving
                .iter()
                .zip(known)
                .map(|(id, known)| {
                    let response = MemberResponse::default().with_member_id(text(id));
                    if known {
                        response
                    } else {
                        response.with_error_code(ResponseError::UnknownMemberId.code())
                    }
                })
                .collect();
            LeaveGroupResponse::default().with_members(members)
        } else if known.first().copied().unwrap_or(false) {
            LeaveGroupResponse::default()
        } else {
            LeaveGroupResponse::default().with_error_code(ResponseError::UnknownMemberId.code())
        }
    }

    pub(crate) fn list(&self, request: &ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let groups = self.lock();
        let listed = groups
            .iter()
            .filter(|(_, g)| {
                request.states_filter.is_empty()
                    || request
                        .states_filter
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.membership.state.name()))
            })
            .map(|(name, group)| {
                let listed = ListedGroup::default()
                    .with_group_id(GroupId(text(name)))
                    .with_protocol_type(text(&group.membership.protocol_type));
                if version >= 4 {
                    listed.with_group_state(text(group.membership.state.name()))
                } else {
                    listed
                }
            })
            .collect();
        ListGroupsResponse::default().with_groups(listed)
    }

    pub(crate) fn describe(&self, request: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = self.lock();
        let described = request
            .groups
            .iter()
            .map(|id| {
                let Some(group) = groups.get(id.as_str()) else {
                    return DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_group_state(text("Dead"));
                };
                let membership = &group.membership;
                let protocol = membership.protocol.clone().unwrap_or_default();
                DescribedGroup::default()
                    .with_group_id(id.clone())
                    .with_group_state(text(membership.state.name()))
                    .with_protocol_type(text(&membership.protocol_type))
                    .with_protocol_data(text(&protocol))
                    .with_members(
                        membership
                            .members
                            .iter()
                            .map(|(member_id, m)| {
                                DescribedGroupMember::default()
                                    .with_member_id(text(member_id))
                                    .with_client_id(text(&m.client_id))
                                    .with_client_host(text(&m.client_host))
                                    .with_member_metadata(
                                        m.protocols
                                            .iter()
                                            .find(|(n, _)| *n == protocol)
                                            .map(|(_, md)| md.clone())
                                            .unwrap_or_default(),
                                    )
                                    .with_member_assignment(m.assignment.clone())
                            })
                            .collect(),
                    )
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(described)
    }

    pub(crate) fn delete(&self, request: &DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut groups = self.lock();
        let results = request
            .groups_names
            .iter()
            .map(|id| {
                let result = DeletableGroupResult::default().with_group_id(id.clone());
                match groups.get(id.as_str()) {
                    None => result.with_error_code(ResponseError::GroupIdNotFound.code()),
                    Some(group) if !group.membership.members.is_empty() => {
                        result.with_error_code(ResponseError::NonEmptyGroup.code())
                    }
                    Some(_) => {
                        groups.remove(id.as_str());
                        self.changed();
                        result
                    }
                }
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }

    /// Ends sessions that ran out and rebalances whose deadline passed.
    fn sweep_once(&self) {
        let now = Instant::now();
        let mut groups = self.lock();
        for (name, group) in groups.iter_mut() {
            let expired = group.membership.expired(now);
            if !expired.is_empty() {
                tracing::debug!(group = name, members = ?expired, "Kafka group members' sessions expired");
                group.membership.remove(&expired, now);
            }
            group.membership.try_complete(now);
        }
    }
}

/// Checks sessions and rebalances, and writes changed offsets, until the endpoint stops.
pub(crate) async fn sweep(context: Arc<Context>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    let mut last_write = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = context.shutdown.cancelled() => return,
        }
        context.groups.sweep_once();
        if last_write.elapsed() >= Duration::from_secs(1) {
            last_write = Instant::now();
            let writer = context.clone();
            let _ = tokio::task::spawn_blocking(move || writer.groups.persist()).await;
        }
    }
}

pub(crate) fn find_coordinator(
    request: &FindCoordinatorRequest,
    version: i16,
    session: &Session,
) -> FindCoordinatorResponse {
    const GROUP: i8 = 0;
    let host = text(&session.broker.host);
    let port = session.broker.port;
    let error = (request.key_type != GROUP).then_some(ResponseError::CoordinatorNotAvailable);
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let entry = CoordinatorEntry::default().with_key(key.clone());
                match error {
                    Some(e) => entry
                        .with_error_code(e.code())
                        .with_node_id(kafka_protocol::messages::BrokerId(-1)),
                    None => entry
                        .with_node_id(NODE)
                        .with_host(host.clone())
                        .with_port(port),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match error {
        Some(e) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_node_id(kafka_protocol::messages::BrokerId(-1)),
        None => FindCoordinatorResponse::default()
            .with_node_id(NODE)
            .with_host(host)
            .with_port(port),
    }
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
