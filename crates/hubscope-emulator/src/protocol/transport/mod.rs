//! What carries the AMQP bytes: plain TCP, TLS (`amqps`), and `WebSockets`, plain or inside TLS.
//!
//! Each listener hands its connections to [`accept`], which completes the transport's handshake
//! and gives back the byte stream that AMQP is then served on. The TLS port serves both AMQP and
//! `WebSockets`, told apart by the client's first bytes, as the service's 443 does for both.

pub mod tls;
pub mod websocket;

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// A client gets this long for the TLS or WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How a listener's connections arrive.
#[derive(Clone)]
pub enum Transport {
    /// AMQP straight over TCP.
    Plain,
    /// AMQP over `WebSockets` over TCP.
    WebSocket,
    /// TLS, then AMQP or `WebSockets` (whichever the client starts).
    Tls(TlsAcceptor),
}

impl Transport {
    /// TLS with this identity.
    #[must_use]
    pub fn tls(identity: &tls::TlsIdentity) -> Self {
        Self::Tls(TlsAcceptor::from(identity.config.clone()))
    }

    /// The URL scheme clients use for it, for the banner.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Plain => "amqp",
            Self::WebSocket => "ws",
            Self::Tls(_) => "amqps",
        }
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.scheme())
    }
}

/// A byte stream AMQP can be served on, whatever carries it.
pub trait ByteStream: AsyncRead + AsyncWrite + std::fmt::Debug + Send + Unpin + 'static {}

impl<S: AsyncRead + AsyncWrite + std::fmt::Debug + Send + Unpin + 'static> ByteStream for S {}

/// Completes the transport's handshake on an accepted connection: the AMQP byte stream, or
/// `None` (logged) when the client did not complete it.
pub async fn accept(transport: Transport, stream: TcpStream) -> Option<Box<dyn ByteStream>> {
    match transport {
        Transport::Plain => Some(Box::new(stream)),
        Transport::WebSocket => upgrade(stream).await,
        Transport::Tls(acceptor) => {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return None;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return None;
                }
            };
            let mut tls = tls;
            // An AMQP client starts with its protocol header; a WebSocket client with `GET`.
            let mut first = [0u8; 4];
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.read_exact(&mut first)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS client sent nothing");
                    return None;
                }
                Err(_) => {
                    tracing::debug!("TLS client sent nothing in time");
                    return None;
                }
            }
            let stream = Rewound::new(first.to_vec(), tls);
            if &first == b"AMQP" {
                Some(Box::new(stream))
            } else {
                upgrade(stream).await
            }
        }
    }
}

async fn upgrade<S: ByteStream>(stream: S) -> Option<Box<dyn ByteStream>> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, websocket::accept(stream)).await {
        Ok(Ok(ws)) => Some(Box::new(ws)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "WebSocket upgrade refused");
            None
        }
        Err(_) => {
            tracing::debug!("WebSocket upgrade timed out");
            None
        }
    }
}

/// A stream with bytes already read from it put back in front.
#[derive(Debug)]
pub struct Rewound<S> {
    prefix: Vec<u8>,
    position: usize,
    inner: S,
}

impl<S> Rewound<S> {
    #[must_use]
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Self {
            prefix,
            position: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.position < this.prefix.len() {
            let rest = &this.prefix[this.position..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.position += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn rewound_bytes_come_first() {
        let (mut client, server) = tokio::io::duplex(64);
        client.write_all(b"rest").await.expect("write");
        drop(client);
        let mut stream = Rewound::new(b"AMQP".to_vec(), server);
        let mut all = Vec::new();
        stream.read_to_end(&mut all).await.expect("read");
        assert_eq!(all, b"AMQPrest");
    }
}
