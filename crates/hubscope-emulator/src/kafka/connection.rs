//! One Kafka connection: requests read, answered and written in order, as Kafka's brokers do.
//!
//! SASL comes first when the endpoint verifies keys (`--sas-key`): before a successful
//! `SaslAuthenticate` only `ApiVersions` and the SASL requests are taken, and anything else closes
//! the connection, as a broker's SASL listener does. Without `--sas-key`, clients may also skip
//! SASL (docs/kafka.md §3).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader};
use kafka_protocol::ResponseError;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::kafka::sasl::Sasl;
use crate::kafka::wire::{self, Incoming, Request, Response, WireError};
use crate::kafka::{fetch, groups, produce, topics, unsupported, Broker, Context, Session};

/// Kafka's `connections.max.idle.ms`: a connection silent this long is closed.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);
/// How long a client may take to authenticate when the endpoint verifies keys.
const AUTHENTICATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What to do after answering.
enum After {
    Continue,
    /// The response is the last: a failed authentication, as Kafka closes then.
    Close,
}

/// Serves one connection until the client closes it, breaks the protocol, or the endpoint stops.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    server_name: Option<String>,
    context: Arc<Context>,
) {
    let broker = Broker {
        host: server_name.unwrap_or_else(|| {
            local.map_or_else(|| "localhost".to_owned(), |a| a.ip().to_string())
        }),
        port: local.map_or(9092, |a| i32::from(a.port())),
    };
    let mut session = Session {
        broker,
        peer,
        client_id: String::new(),
    };
    let mut sasl = Sasl::new(context.authorizer.verifies());
    loop {
        // A client that has not authenticated gets small frames and little time, so idle or
        // unauthenticated sockets cannot hold the connection permits.
        let (max, idle) = if sasl.must_authenticate() {
            (wire::MAX_FRAME_BEFORE_AUTH, AUTHENTICATION_TIMEOUT)
        } else {
            (wire::MAX_FRAME, IDLE_TIMEOUT)
        };
        let frame = tokio::select! {
            frame = tokio::time::timeout(idle, wire::read_frame(&mut stream, max)) => {
                let Ok(frame) = frame else {
                    tracing::debug!(%peer, "Kafka connection idle for {} s: closed", idle.as_secs());
                    return;
                };
                frame
            }
            () = context.shutdown.cancelled() => return,
        };
        let outcome = match frame {
            Ok(frame) if sasl.expects_raw_token() => {
                // After a v0 handshake: an empty frame says yes; a refusal is the connection
                // closing, with nothing written (an empty frame would read as success).
                if !sasl.raw_token(&frame, &context) {
                    return;
                }
                wire::write_frame(&mut stream, &0i32.to_be_bytes()).await
            }
            Ok(frame) => answer(frame, &mut stream, &mut session, &mut sasl, &context).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => {}
            Err(WireError::Closed) => return,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "Kafka connection closed");
                return;
            }
        }
    }
}

/// Decodes one request, answers it and writes the answer.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    frame: Bytes,
    stream: &mut S,
    session: &mut Session,
    sasl: &mut Sasl,
    context: &Context,
) -> Result<(), WireError> {
    let (header, request) = match wire::decode(frame)? {
        Incoming::Request { header, request } => (header, request),
        Incoming::Unsupported { header, api } => {
            let refusal = if api == ApiKey::ApiVersions {
                // KIP-511: the served list in a v0 body, so the client retries at a version both know.
                Some(wire::encode(
                    &header,
                    &api_versions(Some(ResponseError::UnsupportedVersion)).into(),
                )?)
            } else {
                unsupported::refusal(&header, api)
            };
            return match refusal {
                Some(frame) => wire::write_frame(stream, &frame).await,
                None => Err(WireError::Malformed(format!(
                    "{api:?} v{} is newer than Kafka's schemas know",
                    header.request_api_version
                ))),
            };
        }
    };
    if let Some(id) = &header.client_id {
        if session.client_id.is_empty() {
            session.client_id = id.to_string();
        }
    }
    if !sasl.admits(&request) {
        return Err(WireError::Malformed(format!(
            "{:?} before SASL authentication",
            ApiKey::try_from(header.request_api_key).unwrap_or(ApiKey::ApiVersions)
        )));
    }
    let version = header.request_api_version;
    let (response, after) = match *request {
        Request::ApiVersions(r) => {
            tracing::debug!(peer = %session.peer, software = %r.client_software_name, version = %r.client_software_version, "Kafka client");
            (Some(api_versions(None).into()), After::Continue)
        }
        Request::SaslHandshake(r) => (Some(sasl.handshake(&r, version).into()), After::Continue),
        Request::SaslAuthenticate(r) => {
            let (response, ok) = sasl.authenticate(&r, context);
            let after = if ok { After::Continue } else { After::Close };
            (Some(response.into()), after)
        }
        other => (
            dispatch(other, &header, session, context).await,
            After::Continue,
        ),
    };
    if let Some(response) = response {
        write(stream, &header, &response).await?;
    }
    match after {
        After::Continue => Ok(()),
        After::Close => Err(WireError::Closed),
    }
}

async fn dispatch(
    request: Request,
    header: &RequestHeader,
    session: &Session,
    context: &Context,
) -> Option<Response> {
    let version = header.request_api_version;
    let groups = &context.groups;
    Some(match request {
        Request::Metadata(r) => topics::metadata(&r, version, session, context).into(),
        Request::DescribeCluster(r) => topics::describe_cluster(&r, session, context).into(),
        Request::DescribeConfigs(r) => topics::describe_configs(&r, version, context).into(),
        Request::CreateTopics(r) => topics::create(&r, version, context).into(),
        Request::DeleteTopics(r) => topics::delete(&r, version, context).into(),
        Request::Produce(r) => return produce::produce(r, context).map(Into::into),
        Request::Fetch(r) => fetch::fetch(r, context).await.into(),
        Request::ListOffsets(r) => fetch::list_offsets(&r, version, context).into(),
        Request::InitProducerId(r) => produce::init_producer_id(&r, context).into(),
        Request::FindCoordinator(r) => groups::find_coordinator(&r, version, session).into(),
        Request::JoinGroup(r) => groups.join(r, version, session).await.into(),
        Request::SyncGroup(r) => groups.sync(r).await.into(),
        Request::Heartbeat(r) => groups.heartbeat(&r).into(),
        Request::LeaveGroup(r) => groups.leave(&r, version).into(),
        Request::OffsetCommit(r) => groups.commit(&r, context).into(),
        Request::OffsetFetch(r) => groups.fetch_offsets(&r, version).into(),
        Request::ListGroups(r) => groups.list(&r, version).into(),
        Request::DescribeGroups(r) => groups.describe(&r).into(),
        Request::DeleteGroups(r) => groups.delete(&r).into(),
        // Answered before dispatch; nothing else decodes (the wire serves only these APIs).
        _ => return None,
    })
}

async fn write<S: AsyncWrite + Unpin>(
    stream: &mut S,
    header: &RequestHeader,
    response: &Response,
) -> Result<(), WireError> {
    let frame = wire::encode(header, response)?;
    wire::write_frame(stream, &frame).await
}

fn api_versions(error: Option<ResponseError>) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error.map_or(0, |e| e.code()))
        .with_api_keys(
            wire::SERVED
                .iter()
                .map(|&(api, min, max)| {
                    ApiVersion::default()
                        .with_api_key(api as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}
