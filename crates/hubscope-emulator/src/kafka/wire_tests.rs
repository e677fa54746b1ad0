use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, MetadataRequest, RequestHeader};
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
    assert!(matches!(request, Request::Metadata(_)));
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
        read_frame(&mut reader).await,
        Err(WireError::FrameSize(_))
    ));
    let mut negative = &(-5i32).to_be_bytes()[..];
    assert!(matches!(
        read_frame(&mut negative).await,
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
