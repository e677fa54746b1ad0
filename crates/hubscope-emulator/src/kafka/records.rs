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
/// A batch's header: base offset, length, leader epoch, magic, CRC, attributes, last offset
/// delta, timestamps, producer id and epoch, base sequence, record count.
const BATCH_HEADER_LEN: usize = 61;
/// The smallest record: length, attributes, deltas, null key and value, no headers.
const MIN_RECORD_LEN: usize = 7;
/// The most a produced batch may inflate to: far above the 1 MB of events a request carries.
const MAX_DECOMPRESSED: u64 = 64 * 1024 * 1024;
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

/// Reads the batches of one partition's produce data. Each batch's claims are checked against
/// its bytes before kafka-protocol reserves memory for them (its record count, each record's
/// header count), and compressed batches are inflated through [`decompress`], which stops at
/// [`MAX_DECOMPRESSED`]: a few bytes must not make the endpoint take gigabytes.
///
/// # Errors
/// [`RecordsError`] when the bytes are not record batches of magic 2 (the CRC is checked).
pub(crate) fn read_produced(bytes: Bytes) -> Result<Vec<ProducedBatch>, RecordsError> {
    read_produced_within(bytes, MAX_DECOMPRESSED)
}

fn read_produced_within(mut bytes: Bytes, cap: u64) -> Result<Vec<ProducedBatch>, RecordsError> {
    if let Some(&magic) = bytes.get(MAGIC_AT) {
        if magic != 2 {
            return Err(RecordsError::OldFormat(i8::from_be_bytes([magic])));
        }
    }
    check_batch_headers(&bytes)?;
    let mut sets = Vec::new();
    while !bytes.is_empty() {
        let inflate = |records: &mut Bytes, compression| decompress(records, compression, cap);
        let set = RecordBatchDecoder::decode_with_custom_compression(&mut bytes, Some(inflate))
            .map_err(|e| RecordsError::Corrupt(e.to_string()))?;
        sets.push(set);
    }
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

/// Each batch's record count must fit its bytes (a record takes at least 7), inflated for a
/// compressed batch.
fn check_batch_headers(bytes: &[u8]) -> Result<(), RecordsError> {
    let corrupt = |why: &str| RecordsError::Corrupt(why.to_owned());
    let mut at = 0;
    while at < bytes.len() {
        let header = bytes
            .get(at..at + BATCH_HEADER_LEN)
            .ok_or_else(|| corrupt("a record batch cut short in its header"))?;
        let length = i32::from_be_bytes([header[8], header[9], header[10], header[11]]);
        let count = i32::from_be_bytes([header[57], header[58], header[59], header[60]]);
        let compressed = header[22] & 0x07 != 0;
        let length = usize::try_from(length).map_err(|_| corrupt("a negative batch length"))?;
        let count = usize::try_from(count).map_err(|_| corrupt("a negative record count"))?;
        // Compressed records may take fewer bytes than records; inflated, they are bounded.
        let room = if compressed {
            usize::try_from(MAX_DECOMPRESSED).unwrap_or(usize::MAX)
        } else {
            length
        };
        if count.saturating_mul(MIN_RECORD_LEN) > room {
            return Err(corrupt("a batch claims more records than its bytes hold"));
        }
        at = at.saturating_add(12).saturating_add(length);
    }
    Ok(())
}

/// Inflates a batch's records, at most `cap` bytes of them, and checks that no record claims
/// more headers than its bytes hold.
fn decompress(records: &mut Bytes, compression: Compression, cap: u64) -> anyhow::Result<Bytes> {
    use std::io::Read as _;
    let capped = |reader: &mut dyn std::io::Read| -> anyhow::Result<Bytes> {
        let mut out = Vec::new();
        reader.take(cap + 1).read_to_end(&mut out)?;
        anyhow::ensure!(
            out.len() as u64 <= cap,
            "a batch of more than {cap} bytes once decompressed"
        );
        Ok(Bytes::from(out))
    };
    let compressed = std::mem::take(records);
    let inflated = match compression {
        Compression::None => compressed,
        Compression::Gzip => capped(&mut flate2::read::GzDecoder::new(&compressed[..]))?,
        Compression::Zstd => capped(&mut zstd::stream::read::Decoder::new(&compressed[..])?)?,
        Compression::Lz4 => capped(&mut lz4::Decoder::new(&compressed[..])?)?,
        // Snappy's format bounds what a byte can expand to (a copy of at most 64 bytes per
        // 2–3 bytes), so the frame bound bounds it too.
        Compression::Snappy => {
            use kafka_protocol::compression::Decompressor as _;
            let mut compressed = compressed;
            kafka_protocol::compression::Snappy::decompress(&mut compressed, |b: &mut Bytes| {
                Ok(std::mem::take(b))
            })?
        }
    };
    check_header_counts(&inflated)?;
    Ok(inflated)
}

/// Walks the records (KIP-98: length, attributes, timestamp and offset deltas, key, value,
/// header count) far enough to see each header count, which must fit the record's bytes (a
/// header takes at least 2): kafka-protocol reserves a map of that many entries first.
fn check_header_counts(mut records: &[u8]) -> anyhow::Result<()> {
    while !records.is_empty() {
        let length = usize::try_from(varint(&mut records)?)
            .map_err(|_| anyhow::anyhow!("a negative record length"))?;
        anyhow::ensure!(length <= records.len(), "a record longer than its batch");
        let (mut record, rest) = records.split_at(length);
        records = rest;
        anyhow::ensure!(!record.is_empty(), "an empty record");
        record = &record[1..]; // attributes
        varint(&mut record)?; // timestamp delta
        varint(&mut record)?; // offset delta
        for _ in 0..2 {
            // key, then value: -1 is null
            if let Ok(len) = usize::try_from(varint(&mut record)?) {
                anyhow::ensure!(len <= record.len(), "a key or value longer than its record");
                record = &record[len..];
            }
        }
        let headers = usize::try_from(varint(&mut record)?)
            .map_err(|_| anyhow::anyhow!("a negative header count"))?;
        anyhow::ensure!(
            headers.saturating_mul(2) <= record.len(),
            "a record claims more headers than its bytes hold"
        );
    }
    Ok(())
}

/// A zig-zag varint (or varlong) of at most 10 bytes.
fn varint(bytes: &mut &[u8]) -> anyhow::Result<i64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let (&byte, rest) = bytes
            .split_first()
            .ok_or_else(|| anyhow::anyhow!("a varint cut short"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            #[allow(clippy::cast_possible_wrap)]
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    anyhow::bail!("a varint longer than 10 bytes")
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
