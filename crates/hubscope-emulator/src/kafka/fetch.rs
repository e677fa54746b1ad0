//! Fetch and `ListOffsets`: a partition's events by offset (= sequence number), waited for up to
//! the request's `max_wait_ms` until `min_bytes` are there, as Kafka's long polling does. Every
//! event is committed once stored, so both isolation levels read the same (docs/kafka.md §4).

use std::time::Duration;

use futures::future::{select_all, FutureExt as _};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
};
use kafka_protocol::ResponseError;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::kafka::{records, topics, Context};
use crate::storage::store::{Partition, PartitionInfo, StartPosition};

/// Longest a fetch waits, whatever the client asks.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// The most a fetch response holds, whatever the client asks (a broker's `fetch.max.bytes`).
const MAX_FETCH_BYTES: usize = 50 * 1024 * 1024;
/// Most events read from a partition for one fetch; the bytes bound usually comes first.
const MAX_EVENTS: usize = 2048;
/// `ListOffsets`' special timestamps; -1 (latest) and any other negative one give the high
/// watermark.
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// A partition's bounds in Kafka's terms.
struct Bounds {
    log_start: i64,
    high_watermark: i64,
}

fn bounds(info: &PartitionInfo) -> Bounds {
    Bounds {
        log_start: info.begin_sequence_number,
        high_watermark: info.last_sequence_number + 1,
    }
}

pub(crate) async fn fetch(request: FetchRequest, context: &Context) -> FetchResponse {
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0)).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    loop {
        // Subscribed before reading, so that an append between the read and the wait wakes us.
        let mut watchers = subscribe(&request, context);
        let (response, bytes, refused) = read_once(&request, context);
        // min_bytes 0 answers at once, as Kafka does.
        if bytes >= min_bytes || refused || Instant::now() >= deadline || watchers.is_empty() {
            return response;
        }
        let changed = select_all(watchers.iter_mut().map(|w| w.changed().boxed()));
        tokio::select! {
            _ = changed => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = context.shutdown.cancelled() => return response,
        }
    }
}

fn subscribe(request: &FetchRequest, context: &Context) -> Vec<watch::Receiver<i64>> {
    let mut watchers = Vec::new();
    for topic in &request.topics {
        let Some(hub) = context.namespace.hub(&topic.topic) else {
            continue;
        };
        for wanted in &topic.partitions {
            if let Some(partition) = topics::partition(&hub, wanted.partition) {
                let mut watcher = partition.subscribe();
                watcher.borrow_and_update();
                watchers.push(watcher);
            }
        }
    }
    watchers
}

/// One pass over the wanted partitions: the response, the record bytes in it, and whether any
/// partition was refused (which is answered at once rather than waited on).
fn read_once(request: &FetchRequest, context: &Context) -> (FetchResponse, usize, bool) {
    let mut budget = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .clamp(1, MAX_FETCH_BYTES);
    let mut total = 0;
    let mut refused = false;
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            let hub = context.namespace.hub(&topic.topic);
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let data = PartitionData::default().with_partition_index(wanted.partition);
                    let Some(partition) = hub
                        .as_ref()
                        .and_then(|hub| topics::partition(hub, wanted.partition))
                    else {
                        refused = true;
                        return data.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let max = usize::try_from(wanted.partition_max_bytes)
                        .unwrap_or(0)
                        .min(budget);
                    let (data, bytes) = read_partition(partition, wanted.fetch_offset, max, data);
                    if data.error_code != 0 {
                        refused = true;
                    }
                    budget = budget.saturating_sub(bytes);
                    total += bytes;
                    data
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (
        FetchResponse::default().with_responses(responses),
        total,
        refused,
    )
}

fn read_partition(
    partition: &Partition,
    offset: i64,
    max_bytes: usize,
    data: PartitionData,
) -> (PartitionData, usize) {
    let bounds = bounds(&partition.info());
    let data = data
        .with_high_watermark(bounds.high_watermark)
        .with_last_stable_offset(bounds.high_watermark)
        .with_log_start_offset(bounds.log_start);
    if offset < bounds.log_start || offset > bounds.high_watermark {
        return (
            data.with_error_code(ResponseError::OffsetOutOfRange.code()),
            0,
        );
    }
    if offset == bounds.high_watermark || max_bytes == 0 {
        return (data, 0);
    }
    let events = partition.read(offset, MAX_EVENTS);
    // An event expired between the bounds and the read: the next fetch says out of range.
    if events.first().is_some_and(|e| e.sequence_number != offset) {
        return (data, 0);
    }
    let (batches, _) = records::write_fetched(&events, max_bytes);
    let bytes = batches.len();
    (data.with_records(Some(batches)), bytes)
}

pub(crate) fn list_offsets(
    request: &ListOffsetsRequest,
    version: i16,
    context: &Context,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let hub = context.namespace.hub(&topic.name);
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(wanted.partition_index);
                    let Some(partition) = hub
                        .as_ref()
                        .and_then(|hub| topics::partition(hub, wanted.partition_index))
                    else {
                        return response
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    let (offset, timestamp) = find_offset(partition, wanted.timestamp);
                    let response = response.with_offset(offset).with_timestamp(timestamp);
                    if version >= 4 {
                        response.with_leader_epoch(0)
                    } else {
                        response
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// The offset (and its timestamp, or -1) a `ListOffsets` timestamp names.
fn find_offset(partition: &Partition, timestamp: i64) -> (i64, i64) {
    let info = partition.info();
    let bounds = bounds(&info);
    match timestamp {
        EARLIEST | EARLIEST_LOCAL => (bounds.log_start, -1),
        MAX_TIMESTAMP if info.is_empty => (-1, -1),
        MAX_TIMESTAMP => (info.last_sequence_number, info.last_enqueued_ms),
        t if t < 0 => (bounds.high_watermark, -1),
        t => {
            // The first event enqueued at or after t.
            let sequence = partition.resolve_start(&StartPosition::EnqueuedTime {
                unix_ms: t.saturating_sub(1),
            });
            partition
                .read(sequence, 1)
                .first()
                .filter(|e| e.sequence_number == sequence)
                .map_or((-1, -1), |e| (e.sequence_number, e.enqueued_ms))
        }
    }
}
