//! `OffsetCommit` and `OffsetFetch`: where each group has got to in each partition.

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::ResponseError;

use super::{Committed, Coordinator, Group};
use crate::kafka::{text, Context};
use crate::storage::store::now_ms;

/// The most metadata a commit may carry, as the service allows (`offset.metadata.max.bytes`).
const MAX_METADATA: usize = 1024;

impl Coordinator {
    pub(crate) fn commit(
        &self,
        request: &OffsetCommitRequest,
        context: &Context,
    ) -> OffsetCommitResponse {
        let mut groups = self.lock();
        let group_error = if request.group_id.is_empty() {
            Some(ResponseError::InvalidGroupId)
        } else {
            let group = groups
                .entry(request.group_id.to_string())
                .or_insert_with(|| Group::new("consumer".to_owned()));
            commit_refusal(group, request)
        };
        let topics = request
            .topics
            .iter()
            .map(|topic| {
                let hub = context.namespace.hub(&topic.name);
                let partitions = topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let error = group_error.or_else(|| {
                            let exists = hub.as_ref().is_some_and(|h| {
                                crate::kafka::topics::partition(h, p.partition_index).is_some()
                            });
                            if !exists {
                                return Some(ResponseError::UnknownTopicOrPartition);
                            }
                            let metadata = p.committed_metadata.as_deref().unwrap_or_default();
                            if metadata.len() > MAX_METADATA {
                                return Some(ResponseError::OffsetMetadataTooLarge);
                            }
                            let group = groups.get_mut(request.group_id.as_str())?;
                            group
                                .offsets
                                .entry(topic.name.to_string())
                                .or_default()
                                .insert(
                                    p.partition_index,
                                    Committed {
                                        offset: p.committed_offset,
                                        metadata: metadata.to_owned(),
                                        commit_ms: now_ms(),
                                    },
                                );
                            self.changed();
                            None
                        });
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    }

    pub(crate) fn fetch_offsets(
        &self,
        request: &OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        let groups = self.lock();
        if version >= 8 {
            let answered = request
                .groups
                .iter()
                .map(|wanted| {
                    let wanted_topics: Option<Vec<(TopicName, Vec<i32>)>> =
                        wanted.topics.as_ref().map(|topics| {
                            topics
                                .iter()
                                .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                                .collect()
                        });
                    let found = committed(groups.get(wanted.group_id.as_str()), wanted_topics);
                    let topics = found
                        .into_iter()
                        .map(|(name, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(name)
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|(index, c)| {
                                            OffsetFetchResponsePartitions::default()
                                                .with_partition_index(index)
                                                .with_committed_offset(
                                                    c.as_ref().map_or(-1, |c| c.offset),
                                                )
                                                .with_metadata(Some(text(
                                                    c.as_ref().map_or("", |c| c.metadata.as_str()),
                                                )))
                                        })
                                        .collect(),
                                )
                        })
                        .collect();
                    OffsetFetchResponseGroup::default()
                        .with_group_id(wanted.group_id.clone())
                        .with_topics(topics)
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(answered);
        }
        let wanted_topics = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| (t.name.clone(), t.partition_indexes.clone()))
                .collect()
        });
        let found = committed(groups.get(request.group_id.as_str()), wanted_topics);
        let topics = found
            .into_iter()
            .map(|(name, partitions)| {
                OffsetFetchResponseTopic::default()
                    .with_name(name)
                    .with_partitions(
                        partitions
                            .into_iter()
                            .map(|(index, c)| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(index)
                                    .with_committed_offset(c.as_ref().map_or(-1, |c| c.offset))
                                    .with_metadata(Some(text(
                                        c.as_ref().map_or("", |c| c.metadata.as_str()),
                                    )))
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponse::default().with_topics(topics)
    }
}

/// Why a commit by this member at this generation is refused, if it is.
fn commit_refusal(group: &mut Group, request: &OffsetCommitRequest) -> Option<ResponseError> {
    let membership = &mut group.membership;
    let generation = request.generation_id_or_member_epoch;
    if generation < 0 && request.member_id.is_empty() {
        // A consumer that assigns itself partitions (no group membership) may commit while the
        // group has no members.
        return (!membership.members.is_empty()).then_some(ResponseError::IllegalGeneration);
    }
    let Some(member) = membership.members.get_mut(request.member_id.as_str()) else {
        return Some(ResponseError::UnknownMemberId);
    };
    // A commit is a sign of life, as a heartbeat is.
    member.last_seen = tokio::time::Instant::now();
    if membership.state == super::State::CompletingRebalance {
        return Some(ResponseError::RebalanceInProgress);
    }
    (generation != membership.generation).then_some(ResponseError::IllegalGeneration)
}

type Found = Vec<(TopicName, Vec<(i32, Option<Committed>)>)>;

/// The committed offsets asked for (`None`: every one the group has); -1 where none was
/// committed, an unknown topic included, as Kafka answers.
fn committed(group: Option<&Group>, wanted: Option<Vec<(TopicName, Vec<i32>)>>) -> Found {
    match wanted {
        None => group
            .map(|g| {
                g.offsets
                    .iter()
                    .map(|(topic, partitions)| {
                        let name = TopicName(text(topic));
                        let entries = partitions
                            .iter()
                            .map(|(index, c)| (*index, Some(c.clone())))
                            .collect();
                        (name, entries)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some(topics) => topics
            .into_iter()
            .map(|(name, indexes)| {
                let entries = indexes
                    .into_iter()
                    .map(|index| {
                        let found = group
                            .and_then(|g| g.offsets.get(name.as_str()))
                            .and_then(|p| p.get(&index))
                            .cloned();
                        (index, found)
                    })
                    .collect();
                (name, entries)
            })
            .collect(),
    }
}
