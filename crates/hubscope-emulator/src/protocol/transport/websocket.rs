//! AMQP over `WebSockets`: the service's binding (`/$servicebus/websocket`, subprotocol
//! `AMQPWSB10` or `amqp`), each binary message a run of AMQP bytes (docs/amqp-wire.md §10).
//!
//! [`accept`] answers the HTTP upgrade; [`WsByteStream`] turns the message stream into the byte
//! stream the AMQP connection reads and writes.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The path clients ask for; the Rust SDK adds a trailing slash.
const PATH: &str = "/$servicebus/websocket";
/// The subprotocols of the AMQP WebSocket binding: Microsoft's name (Python, .NET) and the OASIS
/// binding's (fe2o3-amqp-ws, under the Rust SDK).
const SUBPROTOCOLS: [&str; 2] = ["AMQPWSB10", "amqp"];
/// Largest WebSocket message accepted: a whole AMQP frame of the size our Open allows, and room.
const MAX_MESSAGE: usize = 1024 * 1024;

/// Answers a client's WebSocket upgrade on `stream`, refusing other paths and clients that do not
/// offer the AMQP subprotocol.
///
/// # Errors
/// The handshake's error, when the request is not an acceptable upgrade.
pub async fn accept<S>(stream: S) -> Result<WsByteStream<S>, tokio_tungstenite::tungstenite::Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, check_request, Some(config))
        .await?;
    Ok(WsByteStream {
        ws,
        reading: Bytes::new(),
    })
}

// The signature is tungstenite's callback's.
#[allow(clippy::result_large_err)]
fn check_request(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let refuse = |status: StatusCode, text: &str| {
        let mut refusal = ErrorResponse::new(Some(text.to_owned()));
        *refusal.status_mut() = status;
        refusal
    };
    let path = percent_encoding::percent_decode_str(request.uri().path()).decode_utf8_lossy();
    if path.trim_end_matches('/') != PATH {
        tracing::debug!(%path, "WebSocket upgrade for another path refused");
        return Err(refuse(
            StatusCode::NOT_FOUND,
            "AMQP over WebSockets is served at /$servicebus/websocket",
        ));
    }
    let offered = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|offered| {
            SUBPROTOCOLS
                .into_iter()
                .find(|ours| offered.trim().eq_ignore_ascii_case(ours))
        });
    let Some(subprotocol) = offered else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the WebSocket subprotocol must be AMQPWSB10 or amqp",
        ));
    };
    response.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(subprotocol),
    );
    Ok(response)
}

/// A WebSocket connection read and written as a byte stream.
#[derive(Debug)]
pub struct WsByteStream<S> {
    ws: WebSocketStream<S>,
    /// What is left of the last binary message read.
    reading: Bytes,
}

fn to_io(e: tokio_tungstenite::tungstenite::Error) -> io::Error {
    io::Error::other(e)
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.reading.is_empty() {
            match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                Some(Ok(Message::Binary(bytes))) => this.reading = bytes,
                // tungstenite answers pings itself; the answer goes out with the next write.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "AMQP over WebSockets takes binary messages only",
                    )))
                }
                Some(Ok(Message::Close(_))) | None => return Poll::Ready(Ok(())),
                Some(Err(e)) => return Poll::Ready(Err(to_io(e))),
            }
        }
        let n = this.reading.len().min(buf.remaining());
        buf.put_slice(&this.reading[..n]);
        this.reading.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(Pin::new(&mut this.ws).poll_ready(cx)).map_err(to_io)?;
        Pin::new(&mut this.ws)
            .start_send(Message::binary(buf.to_vec()))
            .map_err(to_io)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(to_io)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(to_io)
    }
}
