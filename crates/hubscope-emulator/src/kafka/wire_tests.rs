use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, RequestHeader,
};
use kafka_protocol::protocol::{Encodable as _, StrBytes};

use super::*;

fn frame_of(api: ApiKey, version: i16, body: &impl kafka_protocol::protocol::Encodable) -> Bytes {
    let mut out = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("test")))
        .encode(&mut out, api.request_header_version(version))
        .expect("header");
    body.encode(&mut out, version).expect("body");
    out.freeze()
}

#[test]
fn a_served_request_decodes_with_its_header() {
    let frame = frame_of(ApiKey::Metadata, 9, &MetadataRequest::default());
    let Ok(Incoming::Request { header, request }) = decode(frame) else {
        panic!("a Metadata v9 request must decode");
    };
    assert_eq!(header.correlation_id, 7);
    assert!(matches!(*request, Request::Metadata(_)));
}

#[test]
fn a_newer_api_versions_is_answered_in_v0_with_the_served_list() {
    let frame = frame_of(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut raw = frame.to_vec();
    raw[2..4].copy_from_slice(&9i16.to_be_bytes());
    let Ok(Incoming::Unsupported { header, api }) = decode(Bytes::from(raw)) else {
        panic!("ApiVersions v9 is not served");
    };
    assert_eq!(api, ApiKey::ApiVersions);
    let response = Response::ApiVersions(ApiVersionsResponse::default().with_error_code(35));
    let encoded = encode(&header, &response).expect("encoded");
    // length, correlation id, then the v0 body: error code 35.
    assert_eq!(&encoded[4..8], &7i32.to_be_bytes());
    assert_eq!(&encoded[8..10], &35i16.to_be_bytes());
}

#[test]
fn unknown_keys_and_short_frames_are_errors_not_panics() {
    assert!(matches!(
        decode(Bytes::from_static(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 1])),
        Err(WireError::UnknownApi(_))
    ));
    assert!(decode(Bytes::from_static(&[0, 3])).is_err());
    let mut frame = frame_of(ApiKey::Metadata, 9, &MetadataRequest::default()).to_vec();
    frame.truncate(frame.len() - 1);
    assert!(decode(Bytes::from(frame)).is_err());
}

#[tokio::test]
async fn frames_outside_the_bound_are_refused_before_reading() {
    let mut input = BytesMut::new();
    input.put_i32(i32::try_from(MAX_FRAME + 1).expect("fits"));
    let mut reader = &input[..];
    assert!(matches!(
        read_frame(&mut reader, MAX_FRAME).await,
        Err(WireError::FrameSize(_))
    ));
    let mut negative = &(-5i32).to_be_bytes()[..];
    assert!(matches!(
        read_frame(&mut negative, MAX_FRAME).await,
        Err(WireError::FrameSize(-5))
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
    ))]
    /// Any bytes after a served API's key and version: decoded or refused, never a panic.
    #[test]
    fn any_request_body_never_panics(
        api in proptest::sample::select(SERVED.iter().map(|s| s.0 as i16).collect::<Vec<_>>()),
        version in 0i16..14,
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
    ) {
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&api.to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&body);
        let _ = decode(Bytes::from(frame));
    }
}

#[test]
fn an_array_claiming_two_billion_entries_is_refused_without_taking_the_memory() {
    // Metadata v4: header, then the topics array's length. kafka-protocol reserves the claimed
    // length before reading; under mimalloc that is address space only, and decoding fails when
    // the bytes run out.
    let mut frame = frame_of(ApiKey::Metadata, 4, &MetadataRequest::default()).to_vec();
    let body_at = frame.len() - 5; // topics (i32) + allow_auto_topic_creation (bool)
    frame.truncate(body_at);
    frame.extend_from_slice(&i32::MAX.to_be_bytes());
    frame.push(0);
    assert!(matches!(
        decode(Bytes::from(frame)),
        Err(WireError::Malformed(_))
    ));
}

/// Valid requests of the APIs that carry the most structure, to mutate.
fn sample_frames() -> Vec<Vec<u8>> {
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{
        FetchRequest, JoinGroupRequest, OffsetCommitRequest, ProduceRequest, TopicName,
    };
    let batch = crate::kafka::records::write_fetched(
        &[crate::storage::event::StoredEvent {
            sequence_number: 0,
            offset: 0,
            enqueued_ms: 1,
            partition_key: None,
            message: crate::service::interop::record_to_message(
                &crate::service::interop::KafkaRecord::default(),
            )
            .expect("encoded"),
        }],
        1 << 20,
    )
    .0;
    let produce =
        ProduceRequest::default()
            .with_acks(1)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("eh1")))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])]);
    let join = JoinGroupRequest::default()
        .with_session_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(Bytes::from_static(b"meta"))]);
    vec![
        frame_of(ApiKey::Produce, 9, &produce).to_vec(),
        frame_of(ApiKey::Produce, 3, &produce).to_vec(),
        frame_of(ApiKey::Metadata, 12, &MetadataRequest::default()).to_vec(),
        frame_of(ApiKey::Fetch, 12, &FetchRequest::default()).to_vec(),
        frame_of(ApiKey::JoinGroup, 9, &join).to_vec(),
        frame_of(ApiKey::JoinGroup, 0, &join).to_vec(),
        frame_of(ApiKey::OffsetCommit, 8, &OffsetCommitRequest::default()).to_vec(),
        frame_of(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()).to_vec(),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000)
    ))]
    /// Valid requests with bytes changed, cut or grown: decoded or refused, never a panic; the
    /// record batches inside a produce are read too.
    #[test]
    fn mutated_requests_never_panic(
        which in 0usize..8,
        edits in proptest::collection::vec((proptest::prelude::any::<usize>(), proptest::prelude::any::<u8>()), 1..6),
        cut in proptest::option::of(proptest::prelude::any::<usize>()),
    ) {
        let mut frame = sample_frames().swap_remove(which);
        for (at, byte) in edits {
            let at = at % frame.len();
            frame[at] = byte;
        }
        if let Some(cut) = cut {
            frame.truncate(cut % (frame.len() + 1));
        }
        if let Ok(Incoming::Request { request, .. }) = decode(Bytes::from(frame)) {
            let Request::Produce(produce) = *request else { return Ok(()) };
            for topic in produce.topic_data {
                for partition in topic.partition_data {
                    if let Some(records) = partition.records {
                        let _ = crate::kafka::records::read_produced(records);
                    }
                }
            }
        }
    }
}

#[test]
fn the_samples_mutated_above_are_valid_requests() {
    for frame in sample_frames() {
        assert!(matches!(
            decode(Bytes::from(frame)),
            Ok(Incoming::Request { .. })
        ));
    }
}
