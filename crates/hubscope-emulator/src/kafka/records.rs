//! Record batches: what a producer sends, read into records; stored events written out as the
//! batches a consumer fetches.
//!
//! A fetched batch holds the events of one append (one enqueued time) and is marked
//! `LogAppendTime`, as the service's hubs are by default: its timestamp is when the endpoint
//! took the events, the `x-opt-enqueued-time` AMQP readers see (docs/kafka.md §4).

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

use crate::service::interop::{self, KafkaRecord};
use crate::storage::event::StoredEvent;

/// Offsets within a batch header (KIP-98's record batch, magic 2).
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const MAGIC_AT: usize = 16;
const TIMESTAMP_TYPE_BIT: u8 = 0x08;
/// What a record adds to its event's bytes in a batch, about: lengths, deltas, header names.
const RECORD_OVERHEAD: usize = 64;

/// A produced batch, read.
#[derive(Debug)]
pub(crate) struct ProducedBatch {
    pub records: Vec<KafkaRecord>,
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The first record's sequence (idempotent producers), else -1.
    pub base_sequence: i32,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RecordsError {
    #[error("the record batch does not decode: {0}")]
    Corrupt(String),
    #[error("record batches of magic {0} are not taken; only magic 2 (Kafka 0.11 and later)")]
    OldFormat(i8),
}

/// Reads the batches of one partition's produce data.
///
/// # Errors
/// [`RecordsError`] when the bytes are not record batches of magic 2 (the CRC is checked).
pub(crate) fn read_produced(mut bytes: Bytes) -> Result<Vec<ProducedBatch>, RecordsError> {
    if let Some(&magic) = bytes.get(MAGIC_AT) {
        if magic != 2 {
            return Err(RecordsError::OldFormat(i8::from_be_bytes([magic])));
        }
    }
    let sets = RecordBatchDecoder::decode_all(&mut bytes)
        .map_err(|e| RecordsError::Corrupt(e.to_string()))?;
    Ok(sets
        .into_iter()
        .filter_map(|set| {
            let first = set.records.first()?;
            let (producer_id, producer_epoch, base_sequence) =
                (first.producer_id, first.producer_epoch, first.sequence);
            let records = set
                .records
                .into_iter()
                .filter(|r| !r.control)
                .map(|r| KafkaRecord {
                    key: r.key,
                    value: r.value,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(name, value)| (name.to_string(), value))
                        .collect(),
                })
                .collect();
            Some(ProducedBatch {
                records,
                producer_id,
                producer_epoch,
                base_sequence,
            })
        })
        .collect())
}

/// Writes stored events as record batches, one per run of equal enqueued times, within
/// `max_bytes`, except that the first event is always written (Kafka returns a first batch even
/// when it is larger, so that a consumer always makes progress). Returns the batches and how
/// many events they hold.
#[must_use]
pub(crate) fn write_fetched(events: &[StoredEvent], max_bytes: usize) -> (Bytes, usize) {
    let mut out = BytesMut::new();
    let mut start = 0;
    while start < events.len() {
        let enqueued = events[start].enqueued_ms;
        let budget = max_bytes.saturating_sub(out.len());
        let mut end = start;
        let mut size = 0;
        while end < events.len() && events[end].enqueued_ms == enqueued {
            let next = events[end].message.len() + RECORD_OVERHEAD;
            if size + next > budget && !(out.is_empty() && end == start) {
                break;
            }
            size += next;
            end += 1;
        }
        if end == start {
            break;
        }
        let records: Vec<Record> = events[start..end].iter().map(record_of).collect();
        let at = out.len();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        if RecordBatchEncoder::encode(&mut out, &records, &options).is_err() {
            // Only a batch of over 2^31 records fails; drop what was half written.
            out.truncate(at);
            break;
        }
        mark_log_append_time(&mut out[at..]);
        start = end;
    }
    (out.freeze(), start)
}

fn record_of(event: &StoredEvent) -> Record {
    let record = interop::event_to_record(event);
    let headers: IndexMap<StrBytes, Option<Bytes>> = record
        .headers
        .into_iter()
        .map(|(name, value)| (StrBytes::from_string(name), value))
        .collect();
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::LogAppend,
        offset: event.sequence_number,
        // One batch per call: the encoder starts a new batch where offset minus sequence
        // changes, so the sequence follows the offset.
        #[allow(clippy::cast_possible_truncation)]
        sequence: event.sequence_number as i32,
        timestamp: event.enqueued_ms,
        key: record.key,
        value: record.value,
        headers,
    }
}

/// Sets the batch's timestamp type to `LogAppendTime` (the encoder always writes
/// `CreateTime`) and its checksum again, which covers the attributes on.
fn mark_log_append_time(batch: &mut [u8]) {
    if batch.len() <= ATTRIBUTES_AT + 1 {
        return;
    }
    batch[ATTRIBUTES_AT + 1] |= TIMESTAMP_TYPE_BIT;
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
