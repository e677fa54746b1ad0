use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};

use super::*;
use crate::service::interop::{self, KafkaRecord};
use crate::storage::event::StoredEvent;

fn produced(compression: Compression) -> Bytes {
    let records: Vec<Record> = (0..3)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("h"),
                Some(Bytes::from(format!("v{i}"))),
            );
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: i32::try_from(i).expect("small"),
                timestamp: 1_000 + i,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'x'; 200])),
                headers,
            }
        })
        .collect();
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encoded");
    out.freeze()
}

#[test]
fn produced_batches_are_read_whatever_their_compression() {
    for compression in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let batches = read_produced(produced(compression)).expect("read");
        assert_eq!(batches.len(), 1, "{compression:?}");
        let records = &batches[0].records;
        assert_eq!(records.len(), 3);
        assert_eq!(records[1].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(
            records[1].headers,
            vec![("h".to_owned(), Some(Bytes::from("v1")))]
        );
        assert_eq!(records[2].value.as_ref().map(Bytes::len), Some(200));
    }
}

#[test]
fn a_flipped_byte_is_a_corrupt_batch_not_a_panic() {
    let mut bytes = produced(Compression::None).to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    assert!(matches!(
        read_produced(Bytes::from(bytes)),
        Err(RecordsError::Corrupt(_))
    ));
}

fn stored(sequence_number: i64, enqueued_ms: i64, value: &str) -> StoredEvent {
    let record = KafkaRecord {
        key: Some(Bytes::from("key")),
        value: Some(Bytes::from(value.to_owned())),
        headers: vec![("h".into(), Some(Bytes::from("1")))],
    };
    StoredEvent {
        sequence_number,
        offset: 0,
        enqueued_ms,
        partition_key: None,
        message: interop::record_to_message(&record).expect("encoded"),
    }
}

#[test]
fn fetched_batches_carry_sequence_numbers_as_offsets_and_append_times() {
    let events = vec![
        stored(10, 5_000, "a"),
        stored(11, 5_000, "b"),
        stored(12, 6_000, "c"),
    ];
    let (mut bytes, written) = write_fetched(&events, 1 << 20);
    assert_eq!(written, 3);
    let sets = RecordBatchDecoder::decode_all(&mut bytes).expect("valid batches, CRC included");
    assert_eq!(sets.len(), 2, "one batch per append time");
    let records: Vec<_> = sets.iter().flat_map(|s| s.records.iter()).collect();
    assert_eq!(
        records.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    assert!(records
        .iter()
        .all(|r| r.timestamp_type == TimestampType::LogAppend));
    assert_eq!(records[2].timestamp, 6_000);
    assert_eq!(records[1].value.as_deref(), Some(&b"b"[..]));
    assert_eq!(records[0].key.as_deref(), Some(&b"key"[..]));
}

#[test]
fn a_fetch_stops_at_its_byte_bound_but_always_takes_one_event() {
    let events: Vec<_> = (0..10)
        .map(|i| stored(i, 1_000 + i, "0123456789"))
        .collect();
    let (_, written) = write_fetched(&events, 1);
    assert_eq!(written, 1, "one event even past the bound");
    let (bytes, written) = write_fetched(&events, 400);
    assert!(written > 1 && written < 10, "{written}");
    assert!(bytes.len() <= 400 + 200, "{}", bytes.len());
}

#[test]
fn a_compressed_batch_that_inflates_past_the_bound_is_refused() {
    for compression in [Compression::Gzip, Compression::Zstd, Compression::Lz4] {
        let batch = produced(compression);
        assert!(read_produced_within(batch.clone(), 1 << 20).is_ok());
        let refused = read_produced_within(batch, 64);
        assert!(
            matches!(&refused, Err(RecordsError::Corrupt(why)) if why.contains("decompressed")),
            "{compression:?}: {refused:?}"
        );
    }
}

#[test]
fn a_record_claiming_more_headers_than_it_holds_is_refused_before_decoding() {
    // Length 10 (zig-zagged: 20), attributes 0, deltas 0, null key and value (-1 zig-zags to
    // 1), then a header count of 2^28 in five varint bytes, with no bytes left for headers.
    let framed = [20u8, 0, 0, 0, 1, 1, 0x80, 0x80, 0x80, 0x80, 0x02];
    let error = check_header_counts(&framed).expect_err("refused");
    assert!(error.to_string().contains("headers"), "{error}");
    // One real record reads.
    let mut batch = produced(Compression::None).to_vec();
    let records = batch.split_off(BATCH_HEADER_LEN);
    assert!(check_header_counts(&records).is_ok());
}

#[test]
fn a_batch_claiming_more_records_than_it_holds_is_refused() {
    let mut batch = produced(Compression::None).to_vec();
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        read_produced(Bytes::from(batch)),
        Err(RecordsError::Corrupt(why)) if why.contains("more records")
    ));
}
