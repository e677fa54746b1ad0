//! Kafka's framing and the messages the endpoint serves: a request is a 4-byte big-endian length,
//! a request header and a body; a response is a length, a response header and a body, encoded at
//! the request's version. The messages themselves come from `kafka-protocol`, generated from
//! Kafka's schemas; this module only frames them and says which APIs and versions are served
//! (docs/kafka.md §2). Nothing else reads request bytes.

use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable as _, Encodable as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// A request frame before the client has authenticated, when the endpoint verifies keys (Kafka's
/// brokers allow 512 KiB then too).
pub(crate) const MAX_FRAME_BEFORE_AUTH: usize = 512 * 1024;

/// The largest request frame read. The service closes connections whose requests pass about
/// 1 MB; this is looser so that a record a little too large gets Kafka's `MESSAGE_TOO_LARGE`
/// rather than a closed connection, and still bounds what one connection holds.
pub(crate) const MAX_FRAME: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum WireError {
    #[error("the connection closed")]
    Closed,
    #[error("a request frame of {0} bytes is negative or larger than allowed")]
    FrameSize(i64),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("{0}")]
    Malformed(String),
    #[error("a response could not be encoded: {0}")]
    Encode(String),
    #[error(transparent)]
    Io(std::io::Error),
}

impl From<std::io::Error> for WireError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Self::Closed
        } else {
            Self::Io(e)
        }
    }
}

/// A decoded request, and a response: `kafka-protocol`'s enums of every Kafka message.
pub(crate) use kafka_protocol::messages::{RequestKind as Request, ResponseKind as Response};

/// The served APIs with the versions served, as `ApiVersions` reports them. Versions are capped
/// where a newer one needs what the endpoint does not do (topic ids in Produce and Fetch 13).
pub(crate) const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::DescribeCluster, 0, 1),
];

/// What one request frame holds.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A served API at a served version.
    Request {
        header: RequestHeader,
        request: Box<Request>,
    },
    /// A known API at a version (or an API) not served: answered with `UNSUPPORTED_VERSION`
    /// (see `unsupported`).
    Unsupported { header: RequestHeader, api: ApiKey },
}

/// Reads one length-prefixed frame of at most `max` bytes.
///
/// # Errors
/// [`WireError::Closed`] at a clean end of stream, `FrameSize` for a length outside the bound.
pub(crate) async fn read_frame(
    stream: &mut (impl AsyncRead + Unpin),
    max: usize,
) -> Result<Bytes, WireError> {
    let length = i64::from(stream.read_i32().await?);
    let Ok(size) = usize::try_from(length) else {
        return Err(WireError::FrameSize(length));
    };
    if size > max {
        return Err(WireError::FrameSize(length));
    }
    let mut frame = BytesMut::zeroed(size);
    stream.read_exact(&mut frame).await?;
    Ok(frame.freeze())
}

/// Decodes a request frame: its header, then its body at the header's version.
///
/// # Errors
/// [`WireError::UnknownApi`] for an API key Kafka does not define; `Malformed` when the bytes do
/// not decode as the header says.
pub(crate) fn decode(mut frame: Bytes) -> Result<Incoming, WireError> {
    if frame.len() < 4 {
        return Err(WireError::Malformed(
            "a request shorter than its header".into(),
        ));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::try_from(key).map_err(|()| WireError::UnknownApi(key))?;
    let header_version = if version < 0 {
        1
    } else {
        api.request_header_version(version)
    };
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| WireError::Malformed(format!("{api:?} request header: {e}")))?;
    if !served_range(api).is_some_and(|(min, max)| (min..=max).contains(&version)) {
        return Ok(Incoming::Unsupported { header, api });
    }
    match Request::decode(api, &mut frame, version) {
        Ok(request) => Ok(Incoming::Request {
            header,
            request: Box::new(request),
        }),
        Err(e) => Err(WireError::Malformed(format!("{api:?} v{version}: {e}"))),
    }
}

/// The versions served of `api`, if it is served.
pub(crate) fn served_range(api: ApiKey) -> Option<(i16, i16)> {
    SERVED
        .iter()
        .find(|(served, _, _)| *served == api)
        .map(|&(_, min, max)| (min, max))
}

/// Encodes a response to the request `header` into one frame.
///
/// # Errors
/// [`WireError::Encode`] when a field is set that the version cannot carry (a bug of ours).
pub(crate) fn encode(header: &RequestHeader, response: &Response) -> Result<Bytes, WireError> {
    // ApiVersions answers a version it does not serve with a v0 body (KIP-511).
    let version = match response {
        Response::ApiVersions(_)
            if !served_range(ApiKey::ApiVersions)
                .is_some_and(|(min, max)| (min..=max).contains(&header.request_api_version)) =>
        {
            0
        }
        _ => header.request_api_version,
    };
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(header.correlation_id)
        .encode(&mut out, response.header_version(version))
        .and_then(|()| response.encode(&mut out, version))
        .map_err(|e| WireError::Encode(e.to_string()))?;
    let length = i32::try_from(out.len() - 4).map_err(|e| WireError::Encode(e.to_string()))?;
    out[..4].copy_from_slice(&length.to_be_bytes());
    Ok(out.freeze())
}

/// Writes an encoded frame.
///
/// # Errors
/// The socket's error.
pub(crate) async fn write_frame(
    stream: &mut (impl AsyncWrite + Unpin),
    frame: &[u8],
) -> Result<(), WireError> {
    stream.write_all(frame).await?;
    stream.flush().await?;
    Ok(())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
