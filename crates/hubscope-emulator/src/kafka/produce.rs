//! Produce: each partition's record batches become events of that partition, acknowledged once
//! stored (and journaled, with `--data-dir`). A partition's batches are taken whole or not at
//! all, as a Kafka broker takes them.
//!
//! Idempotent producers (the default of current clients) get a producer id from
//! `InitProducerId`; a batch sent again after a lost acknowledgement (its sequence already seen)
//! is acknowledged without being stored twice (docs/kafka.md §6).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::kafka::records::{self, RecordsError};
use crate::kafka::{topics, Context};
use crate::service::interop;
use crate::service::publish::MAX_MESSAGE_SIZE;
use crate::storage::namespace::Hub;
use crate::storage::store::{NewEvent, StoreError};

/// Producer–partition pairs remembered for duplicate detection.
const MAX_PRODUCER_SEQUENCES: usize = 100_000;

/// Where an idempotent producer is on one partition.
#[derive(Debug, Clone, Copy)]
struct Sequence {
    epoch: i16,
    /// The sequence its next batch must start at.
    next: i32,
    /// The offset the last batch was stored at, given again to a duplicate.
    last_offset: i64,
}

/// Producer ids handed out, and each idempotent producer's sequences.
#[derive(Debug)]
pub(crate) struct Producers {
    next_id: AtomicI64,
    sequences: Mutex<HashMap<(i64, String, i32), Sequence>>,
}

impl Default for Producers {
    fn default() -> Self {
        // Ids from the clock, so that a producer that outlives an endpoint restart is not
        // mistaken for a new one with the same id.
        let start = crate::storage::store::now_ms().max(1);
        Self {
            next_id: AtomicI64::new(start),
            sequences: Mutex::default(),
        }
    }
}

pub(crate) fn init_producer_id(
    request: &InitProducerIdRequest,
    context: &Context,
) -> InitProducerIdResponse {
    if request.transactional_id.is_some() {
        // Transactions are a Premium-tier preview on the service; the endpoint has none.
        return InitProducerIdResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    let id = context.producers.next_id.fetch_add(1, Ordering::Relaxed);
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(0)
}

/// Stores what `request` carries; `None` for `acks = 0`, which Kafka answers with nothing.
pub(crate) fn produce(request: ProduceRequest, context: &Context) -> Option<ProduceResponse> {
    let acks = request.acks;
    let responses = request
        .topic_data
        .into_iter()
        .map(|topic| {
            let hub = context.namespace.hub(&topic.name);
            let partition_responses = topic
                .partition_data
                .into_iter()
                .map(|data| {
                    let index = data.index;
                    let outcome = match &hub {
                        Some(hub) => store(hub, data, context),
                        None => Err((
                            ResponseError::UnknownTopicOrPartition,
                            format!("topic '{}' does not exist", topic.name.as_str()),
                        )),
                    };
                    let response = PartitionProduceResponse::default().with_index(index);
                    match outcome {
                        Ok((base_offset, append_ms)) => response
                            .with_base_offset(base_offset)
                            .with_log_append_time_ms(append_ms),
                        Err((error, why)) => response
                            .with_error_code(error.code())
                            .with_error_message(Some(StrBytes::from_string(why))),
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(partition_responses)
        })
        .collect();
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

/// A partition's refusal: Kafka's error and the reason in words.
type Refusal = (ResponseError, String);

/// Stores one partition's batches: the first offset and the append time.
fn store(hub: &Hub, data: PartitionProduceData, context: &Context) -> Result<(i64, i64), Refusal> {
    let Some(partition) = topics::partition(hub, data.index) else {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!(
                "partition {} does not exist; topic '{}' has partitions 0 to {}",
                data.index,
                hub.name,
                hub.partitions.len().saturating_sub(1)
            ),
        ));
    };
    let Some(bytes) = data.records else {
        return Ok((partition.info().last_sequence_number + 1, -1));
    };
    let batches = records::read_produced(bytes).map_err(|e| match e {
        RecordsError::OldFormat(_) => (ResponseError::UnsupportedForMessageFormat, e.to_string()),
        RecordsError::Corrupt(_) => (ResponseError::CorruptMessage, e.to_string()),
    })?;
    let mut events = Vec::new();
    let mut idempotent = Vec::new();
    let mut duplicate_of = None;
    for batch in batches {
        if batch.producer_id >= 0 && batch.base_sequence >= 0 {
            let key = (batch.producer_id, hub.name.clone(), data.index);
            let seen = context
                .producers
                .sequences
                .lock()
                .map_or(None, |s| s.get(&key).copied());
            if let Some(seen) = seen {
                if seen.epoch == batch.producer_epoch && batch.base_sequence < seen.next {
                    duplicate_of = Some(seen.last_offset);
                    continue;
                }
            }
            let count = i32::try_from(batch.records.len()).unwrap_or(i32::MAX);
            idempotent.push((
                key,
                batch.producer_epoch,
                batch.base_sequence.wrapping_add(count),
            ));
        }
        for record in batch.records {
            let message = interop::record_to_message(&record)
                .map_err(|e| (ResponseError::CorruptMessage, e.to_string()))?;
            if message.len() as u64 > MAX_MESSAGE_SIZE {
                return Err((
                    ResponseError::MessageTooLarge,
                    format!(
                        "a record of {} bytes is larger than the {MAX_MESSAGE_SIZE} bytes an event may have",
                        message.len()
                    ),
                ));
            }
            events.push(NewEvent {
                message,
                partition_key: None,
            });
        }
    }
    if events.is_empty() {
        let offset = duplicate_of.unwrap_or_else(|| partition.info().last_sequence_number + 1);
        return Ok((offset, -1));
    }
    let first = partition.append(events).map_err(|e| match e {
        StoreError::Deleted => (
            ResponseError::UnknownTopicOrPartition,
            format!("topic '{}' was deleted", hub.name),
        ),
        StoreError::Journal(_) => (ResponseError::KafkaStorageError, e.to_string()),
    })?;
    if let Ok(mut sequences) = context.producers.sequences.lock() {
        if sequences.len() > MAX_PRODUCER_SEQUENCES {
            // Forgetting only weakens duplicate detection for producers that come back.
            sequences.clear();
        }
        for (key, epoch, next) in idempotent {
            sequences.insert(
                key,
                Sequence {
                    epoch,
                    next,
                    last_offset: first,
                },
            );
        }
    }
    Ok((first, partition.info().last_enqueued_ms))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;
    use crate::kafka::{groups, text};
    use crate::service::auth::Authorizer;
    use crate::storage::namespace::Namespace;
    use crate::EmulatorConfig;

    fn context() -> Context {
        let config = EmulatorConfig::default();
        Context {
            namespace: Arc::new(Namespace::open(&config).expect("namespace")),
            authorizer: Authorizer::new(config.auth.clone()),
            groups: groups::Coordinator::empty(None),
            producers: Producers::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// Three records from idempotent producer 7, epoch 0, sequences from `first`.
    fn request(first: i32) -> ProduceRequest {
        let records: Vec<Record> = (0..3)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 7,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: i64::from(i),
                sequence: first + i,
                timestamp: 0,
                key: None,
                value: Some(Bytes::from_static(b"v")),
                headers: kafka_protocol::indexmap::IndexMap::default(),
            })
            .collect();
        let mut batch = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut batch, &records, &options).expect("encoded");
        ProduceRequest::default()
            .with_acks(-1)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(text("eh1")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.freeze()))])])
    }

    fn base_offset(response: &ProduceResponse) -> (i16, i64) {
        let partition = &response.responses[0].partition_responses[0];
        (partition.error_code, partition.base_offset)
    }

    #[test]
    fn a_retried_idempotent_batch_is_acknowledged_again_but_stored_once() {
        let context = context();
        let first = produce(request(0), &context).expect("acks=-1 answers");
        assert_eq!(base_offset(&first), (0, 0));
        let retried = produce(request(0), &context).expect("answered");
        assert_eq!(
            base_offset(&retried),
            (0, 0),
            "the same offset as the first time"
        );
        let next = produce(request(3), &context).expect("answered");
        assert_eq!(base_offset(&next), (0, 3));
        let hub = context.namespace.hub("eh1").expect("hub");
        assert_eq!(
            hub.partitions[0].info().retained_events,
            6,
            "the retry was not stored"
        );
    }

    #[test]
    fn acks_zero_gets_no_answer_and_an_unknown_topic_its_error() {
        let context = context();
        assert!(produce(request(0).with_acks(0), &context).is_none());
        let mut unknown = request(10);
        unknown.topic_data[0].name = TopicName(text("nosuch"));
        let response = produce(unknown, &context).expect("answered");
        assert_eq!(
            base_offset(&response).0,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }
}
