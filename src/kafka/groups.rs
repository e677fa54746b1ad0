//! Kafka consumer groups of one hub (topic) as the lag rules take them: a group's committed
//! offset for a partition is the next event it will read, so its "checkpoint" is the event
//! before; the member a partition is assigned to is its owner, live while the group says so.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Buf as _;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DescribeGroupsRequest, DescribeGroupsResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, GroupId, ListGroupsRequest,
    ListGroupsResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::{Decodable as _, StrBytes};

use super::{KafkaAccess, KafkaClient, KafkaError};
use crate::checkpoints::{Checkpoint, GroupCheckpoints, Ownership};

/// What the app asks of a Kafka endpoint for lag.
pub struct KafkaGroups {
    access: KafkaAccess,
    timeout: Duration,
    bootstrap: Option<KafkaClient>,
    /// Coordinators other than the bootstrap broker, by `host:port`.
    coordinators: BTreeMap<String, KafkaClient>,
}

impl std::fmt::Debug for KafkaGroups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaGroups")
            .field("access", &self.access)
            .finish_non_exhaustive()
    }
}

/// One group's reading.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaGroupReading {
    /// Checkpoints (committed offset − 1) and owners by partition id.
    pub checkpoints: GroupCheckpoints,
    /// The group's state as the coordinator names it (`Stable`, `Empty`, …).
    pub state: String,
    pub members: usize,
}

impl KafkaGroups {
    #[must_use]
    pub fn new(access: KafkaAccess, timeout: Duration) -> Self {
        Self {
            access,
            timeout,
            bootstrap: None,
            coordinators: BTreeMap::new(),
        }
    }

    /// `host:port` of the endpoint, for reports.
    #[must_use]
    pub fn endpoint(&self) -> String {
        self.access.endpoint()
    }

    /// The groups to report for `topic`: `only` when given, else every group the endpoint
    /// lists that has committed offsets in `topic` or members assigned its partitions; each
    /// with its readings over `partitions`. A failed connection is dropped and opened again
    /// on the next call.
    ///
    /// # Errors
    /// [`KafkaError`] for an endpoint that cannot be reached, refuses the credentials, or a
    /// request.
    pub async fn read(
        &mut self,
        topic: &str,
        partitions: &[String],
        only: &[String],
    ) -> Result<Vec<(String, KafkaGroupReading)>, KafkaError> {
        let outcome = self.read_all(topic, partitions, only).await;
        if outcome.is_err() {
            self.bootstrap = None;
            self.coordinators.clear();
        }
        outcome
    }

    async fn read_all(
        &mut self,
        topic: &str,
        partitions: &[String],
        only: &[String],
    ) -> Result<Vec<(String, KafkaGroupReading)>, KafkaError> {
        let names = if only.is_empty() {
            self.list().await?
        } else {
            only.to_vec()
        };
        let mut readings = Vec::with_capacity(names.len());
        for name in names {
            let reading = self.group(&name, topic, partitions).await?;
            let involved = !reading.checkpoints.checkpoints.is_empty()
                || !reading.checkpoints.ownerships.is_empty();
            if involved || !only.is_empty() {
                readings.push((name, reading));
            }
        }
        Ok(readings)
    }

    async fn bootstrap(&mut self) -> Result<&mut KafkaClient, KafkaError> {
        if self.bootstrap.is_none() {
            self.bootstrap = Some(KafkaClient::connect(&self.access, self.timeout).await?);
        }
        self.bootstrap
            .as_mut()
            .ok_or_else(|| KafkaError::Profile("no connection".into()))
    }

    async fn list(&mut self) -> Result<Vec<String>, KafkaError> {
        let client = self.bootstrap().await?;
        let listed: ListGroupsResponse = client
            .call(ApiKey::ListGroups, 2, &ListGroupsRequest::default())
            .await?;
        if listed.error_code != 0 {
            return Err(client.refused("ListGroups", listed.error_code, None));
        }
        Ok(listed
            .groups
            .into_iter()
            .filter(|g| g.protocol_type.is_empty() || g.protocol_type.as_str() == "consumer")
            .map(|g| g.group_id.to_string())
            .collect())
    }

    /// The group's coordinator: the bootstrap broker, or a connection to the one named.
    async fn coordinator(&mut self, group: &str) -> Result<&mut KafkaClient, KafkaError> {
        let bootstrap_endpoint = self.access.endpoint();
        let client = self.bootstrap().await?;
        let found: FindCoordinatorResponse = client
            .call(
                ApiKey::FindCoordinator,
                1,
                &FindCoordinatorRequest::default().with_key(text(group)),
            )
            .await?;
        if found.error_code != 0 {
            return Err(client.refused(
                "FindCoordinator",
                found.error_code,
                found.error_message.as_ref(),
            ));
        }
        let port = u16::try_from(found.port).unwrap_or(0);
        let endpoint = format!("{}:{port}", found.host.as_str());
        if endpoint == bootstrap_endpoint || endpoint == client.endpoint() {
            return self.bootstrap().await;
        }
        if !self.coordinators.contains_key(&endpoint) {
            let connected =
                KafkaClient::connect_to(&self.access, found.host.as_str(), port, self.timeout)
                    .await?;
            self.coordinators.insert(endpoint.clone(), connected);
        }
        self.coordinators
            .get_mut(&endpoint)
            .ok_or_else(|| KafkaError::Profile("no coordinator".into()))
    }

    async fn group(
        &mut self,
        group: &str,
        topic: &str,
        partitions: &[String],
    ) -> Result<KafkaGroupReading, KafkaError> {
        let client = self.coordinator(group).await?;
        let indexes: Vec<i32> = partitions.iter().filter_map(|p| p.parse().ok()).collect();
        let fetched: OffsetFetchResponse = client
            .call(
                ApiKey::OffsetFetch,
                5,
                &OffsetFetchRequest::default()
                    .with_group_id(GroupId(text(group)))
                    .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                        .with_name(TopicName(text(topic)))
                        .with_partition_indexes(indexes)])),
            )
            .await?;
        if fetched.error_code != 0 {
            return Err(client.refused("OffsetFetch", fetched.error_code, None));
        }
        let described: DescribeGroupsResponse = client
            .call(
                ApiKey::DescribeGroups,
                1,
                &DescribeGroupsRequest::default().with_groups(vec![GroupId(text(group))]),
            )
            .await?;
        let mut reading = KafkaGroupReading::default();
        for t in fetched.topics.iter().filter(|t| t.name.as_str() == topic) {
            for p in t.partitions.iter().filter(|p| p.committed_offset >= 0) {
                reading.checkpoints.checkpoints.insert(
                    p.partition_index.to_string(),
                    Checkpoint {
                        sequence_number: p.committed_offset - 1,
                        offset: None,
                    },
                );
            }
        }
        if let Some(described) = described.groups.into_iter().next() {
            reading.state = described.group_state.to_string();
            reading.members = described.members.len();
            let now = SystemTime::now();
            for member in described.members {
                let owner = format!(
                    "{} ({})",
                    member.client_id.as_str(),
                    member.member_id.as_str()
                );
                for partition in assigned(&member.member_assignment, topic) {
                    reading.checkpoints.ownerships.insert(
                        partition.to_string(),
                        Ownership {
                            owner_id: owner.clone(),
                            last_modified: Some(now),
                        },
                    );
                }
            }
        }
        Ok(reading)
    }
}

/// The partitions of `topic` in a consumer's assignment (a 2-byte version, then the body); an
/// assignment that does not decode (another protocol's) assigns none.
fn assigned(assignment: &bytes::Bytes, topic: &str) -> Vec<i32> {
    let mut bytes = assignment.clone();
    if bytes.remaining() < 2 {
        return Vec::new();
    }
    let version = bytes.get_i16().clamp(0, 3);
    ConsumerProtocolAssignment::decode(&mut bytes, version)
        .map(|a| {
            a.assigned_partitions
                .into_iter()
                .filter(|tp| tp.topic.as_str() == topic)
                .flat_map(|tp| tp.partitions)
                .collect()
        })
        .unwrap_or_default()
}

fn text(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}
