//! Topics are hubs: Metadata lists them with this endpoint as every partition's leader, the
//! configs are the hub's, and `CreateTopics`/`DeleteTopics` are the namespace management the
//! management API does (docs/kafka.md §5).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    DescribeClusterRequest, DescribeClusterResponse, DescribeConfigsRequest,
    DescribeConfigsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::kafka::{text, Context, Session};
use crate::service::publish::MAX_MESSAGE_SIZE;
use crate::storage::namespace::{Hub, HubSpec, ManageError};
use crate::storage::store::Partition;

/// This endpoint's broker id: it is the only broker.
pub(crate) const NODE: BrokerId = BrokerId(0);
/// Partitions of a topic created without a count, as a Kafka broker's `num.partitions`.
const DEFAULT_PARTITIONS: u32 = 1;
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
/// `DescribeConfigs` sources: a topic's own setting, and a default.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

/// A hub's stable topic id: the same for its life, new for a hub created again under its name.
pub(crate) fn topic_id(hub: &Hub) -> Uuid {
    let digest = Sha256::new()
        .chain_update(hub.name.to_ascii_lowercase().as_bytes())
        .chain_update(hub.created_ms.to_be_bytes())
        .finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(id)
}

/// A partition id as Kafka numbers it. The endpoint's partitions are named `0`..`n-1`.
pub(crate) fn partition_index(id: &str) -> i32 {
    id.parse().unwrap_or(-1)
}

/// The partition Kafka numbers `index`, if the hub has it.
pub(crate) fn partition(hub: &Hub, index: i32) -> Option<&Arc<Partition>> {
    hub.partition(&index.to_string())
}

pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

pub(crate) fn metadata(
    request: &MetadataRequest,
    version: i16,
    session: &Session,
    context: &Context,
) -> MetadataResponse {
    let hubs = context.namespace.hubs();
    // v0 lists every topic for an empty list; v1 on, for a null one.
    let every = match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    };
    let topics = if every {
        hubs.iter().map(|hub| topic_metadata(hub)).collect()
    } else {
        request
            .topics
            .iter()
            .flatten()
            .map(|wanted| {
                let found = hubs.iter().find(|hub| match &wanted.name {
                    Some(name) => hub.name.eq_ignore_ascii_case(name),
                    None => topic_id(hub) == wanted.topic_id,
                });
                match found {
                    // Clients match names exactly: answer in the spelling asked for.
                    Some(hub) => topic_metadata(hub)
                        .with_name(wanted.name.clone().or_else(|| Some(topic_name(&hub.name)))),
                    None => MetadataResponseTopic::default()
                        .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        .with_name(wanted.name.clone())
                        .with_topic_id(wanted.topic_id),
                }
            })
            .collect()
    };
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(NODE)
            .with_host(text(session.broker.host.clone()))
            .with_port(session.broker.port)])
        .with_cluster_id((version >= 2).then(|| text(context.namespace.name.clone())))
        .with_controller_id(NODE)
        .with_topics(topics)
}

fn topic_metadata(hub: &Hub) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&hub.name)))
        .with_topic_id(topic_id(hub))
        .with_partitions(
            hub.partitions
                .iter()
                .map(|partition| {
                    MetadataResponsePartition::default()
                        .with_partition_index(partition_index(&partition.id))
                        .with_leader_id(NODE)
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![NODE])
                        .with_isr_nodes(vec![NODE])
                })
                .collect(),
        )
}

pub(crate) fn describe_cluster(
    _request: &DescribeClusterRequest,
    session: &Session,
    context: &Context,
) -> DescribeClusterResponse {
    DescribeClusterResponse::default()
        .with_cluster_id(text(context.namespace.name.clone()))
        .with_controller_id(NODE)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(NODE)
            .with_host(text(session.broker.host.clone()))
            .with_port(session.broker.port)])
}

pub(crate) fn describe_configs(
    request: &DescribeConfigsRequest,
    version: i16,
    context: &Context,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let configs = match resource.resource_type {
                RESOURCE_TOPIC => match context.namespace.hub(&resource.resource_name) {
                    Some(hub) => topic_configs(&hub),
                    None => {
                        return result
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(Some(text(format!(
                                "topic '{}' does not exist",
                                resource.resource_name.as_str()
                            ))))
                    }
                },
                RESOURCE_BROKER => broker_configs(context),
                _ => {
                    return result
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(Some(text(
                            "only topic and broker configs are described",
                        )))
                }
            };
            let wanted = resource.configuration_keys.as_ref();
            result.with_configs(
                configs
                    .into_iter()
                    .filter(|(name, ..)| {
                        wanted.is_none_or(|keys| keys.iter().any(|k| k.as_str() == *name))
                    })
                    .map(|(name, value, source, config_type)| {
                        let entry = DescribeConfigsResourceResult::default()
                            .with_name(text(name))
                            .with_value(Some(text(value)))
                            .with_read_only(true)
                            .with_config_source(source);
                        if version >= 3 {
                            entry.with_config_type(config_type)
                        } else {
                            entry
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// (name, value, source, type) with Kafka's config types: 2 string, 3 int, 5 long.
type Config = (&'static str, String, i8, i8);

fn topic_configs(hub: &Hub) -> Vec<Config> {
    let retention_ms = u64::try_from(hub.retention.as_millis()).unwrap_or(u64::MAX);
    vec![
        ("retention.ms", retention_ms.to_string(), SOURCE_TOPIC, 5),
        ("cleanup.policy", "delete".to_owned(), SOURCE_DEFAULT, 2),
        (
            "max.message.bytes",
            MAX_MESSAGE_SIZE.to_string(),
            SOURCE_DEFAULT,
            3,
        ),
        (
            "message.timestamp.type",
            "LogAppendTime".to_owned(),
            SOURCE_DEFAULT,
            2,
        ),
        ("compression.type", "producer".to_owned(), SOURCE_DEFAULT, 2),
        ("min.insync.replicas", "1".to_owned(), SOURCE_DEFAULT, 3),
    ]
}

fn broker_configs(context: &Context) -> Vec<Config> {
    let retention_ms = u64::try_from(context.namespace.retention.as_millis()).unwrap_or(u64::MAX);
    vec![
        (
            "log.retention.ms",
            retention_ms.to_string(),
            SOURCE_DEFAULT,
            5,
        ),
        (
            "message.max.bytes",
            MAX_MESSAGE_SIZE.to_string(),
            SOURCE_DEFAULT,
            3,
        ),
        (
            "num.partitions",
            DEFAULT_PARTITIONS.to_string(),
            SOURCE_DEFAULT,
            3,
        ),
        (
            "auto.create.topics.enable",
            "false".to_owned(),
            SOURCE_DEFAULT,
            1,
        ),
        (
            "default.replication.factor",
            "1".to_owned(),
            SOURCE_DEFAULT,
            4,
        ),
    ]
}

pub(crate) fn create(
    request: &CreateTopicsRequest,
    version: i16,
    context: &Context,
) -> CreateTopicsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let result = CreatableTopicResult::default().with_name(topic.name.clone());
            let retention = topic
                .configs
                .iter()
                .find(|c| c.name.as_str() == "retention.ms")
                .and_then(|c| c.value.as_ref()?.parse::<u64>().ok())
                .map_or(context.namespace.retention, Duration::from_millis);
            let partition_count = match topic.num_partitions {
                -1 => DEFAULT_PARTITIONS,
                n => u32::try_from(n).unwrap_or(0),
            };
            let spec = HubSpec {
                name: topic.name.to_string(),
                partition_count,
                retention,
            };
            let outcome = if request.validate_only {
                context.namespace.check_new_hub(&spec).map(|()| None)
            } else {
                context.namespace.create_hub(&spec).map(Some)
            };
            match outcome {
                Ok(hub) => {
                    let result = if version >= 5 {
                        result
                            .with_num_partitions(i32::try_from(partition_count).unwrap_or(i32::MAX))
                            .with_replication_factor(1)
                    } else {
                        result
                    };
                    match (hub, version >= 7) {
                        (Some(hub), true) => result.with_topic_id(topic_id(&hub)),
                        _ => result,
                    }
                }
                Err(e) => result
                    .with_error_code(manage_error(&e).code())
                    .with_error_message(Some(text(e.to_string()))),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

pub(crate) fn delete(
    request: &DeleteTopicsRequest,
    version: i16,
    context: &Context,
) -> DeleteTopicsResponse {
    let names = request
        .topic_names
        .iter()
        .cloned()
        .chain(request.topics.iter().filter_map(|t| t.name.clone()));
    let responses = names
        .map(|name| {
            let result = DeletableTopicResult::default().with_name(Some(name.clone()));
            match context.namespace.delete_hub(&name) {
                Ok(()) => result,
                Err(e) => {
                    let result = result.with_error_code(manage_error(&e).code());
                    if version >= 5 {
                        result.with_error_message(Some(text(e.to_string())))
                    } else {
                        result
                    }
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

fn manage_error(error: &ManageError) -> ResponseError {
    match error {
        ManageError::HubExists(_) => ResponseError::TopicAlreadyExists,
        ManageError::HubNotFound(_) => ResponseError::UnknownTopicOrPartition,
        ManageError::InvalidName { .. } => ResponseError::InvalidTopicException,
        ManageError::PartitionCount(_) => ResponseError::InvalidPartitions,
        ManageError::Retention => ResponseError::InvalidConfig,
        ManageError::TooManyHubs => ResponseError::PolicyViolation,
        _ => ResponseError::UnknownServerError,
    }
}
