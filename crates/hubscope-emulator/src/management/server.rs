//! The management API's listener: HTTP/1.1 through hyper, in TLS when the endpoint has a
//! certificate. Requests go to [`Api::answer`]; this module only carries them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, IF_MATCH};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::api::Api;
use super::exchange;

/// Larger request bodies are refused: a description is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound port for the management API.
pub struct Listener {
    pub socket: TcpListener,
    /// HTTPS with the endpoint's certificate; plain HTTP without.
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{:?}", self.scheme(), self.socket.local_addr().ok())
    }
}

impl Listener {
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Serves the API on `listener` until `shutdown`; open connections end with it.
pub async fn serve(listener: Listener, api: Arc<Api>, shutdown: CancellationToken) {
    let https = listener.tls.is_some();
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.socket.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "management accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let api = api.clone();
        let tls = listener.tls.clone();
        connections.spawn(async move {
            match tls {
                None => serve_connection(stream, api, https).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, api, https).await,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "management TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "management TLS handshake timed out");
                        }
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    connections.abort_all();
}

async fn serve_connection<S>(stream: S, api: Arc<Api>, https: bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let api = api.clone();
        async move { Ok::<_, Infallible>(handle(&api, request, https).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "management connection ended");
    }
}

async fn handle(api: &Api, request: Request<Incoming>, https: bool) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return respond(&too_large()),
    };
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
    let host = header(HOST)
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(ToString::to_string))
        .unwrap_or_else(|| "localhost".to_owned());
    let answer = api.answer(&exchange::Request {
        method: parts.method.as_str(),
        path: &path,
        query: parts.uri.query().unwrap_or(""),
        host: &host,
        https,
        authorization: header(AUTHORIZATION),
        if_match: header(IF_MATCH).is_some_and(|v| v.trim() == "*"),
        body: &body,
    });
    respond(&answer)
}

fn too_large() -> exchange::Answer {
    exchange::Answer {
        status: 413,
        content_type: super::atom::ERROR_TYPE,
        body: format!(
            "<Error><Code>413</Code><Detail>The request body is larger than {MAX_BODY} bytes.</Detail></Error>"
        ),
    }
}

fn respond(answer: &exchange::Answer) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(answer.body.clone())));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    response
}
