//! The endpoint's Kafka face: Kafka clients produce to and consume from the same hubs and
//! partitions as AMQP clients, over the same storage (docs/kafka.md).
//!
//! A hub is a topic, its partitions are the topic's, a Kafka offset is the event's sequence
//! number. Nothing here speaks AMQP: events cross between the two through
//! [`crate::service::interop`].
//!
//! - [`wire`]: framing, and which APIs and versions are served (messages from `kafka-protocol`);
//! - `connection`: one task per connection, SASL first, then requests answered in order;
//! - `sasl`: PLAIN with `$ConnectionString`, and OAUTHBEARER;
//! - `topics`: Metadata, configs, the cluster, topics created and deleted;
//! - `produce`, `fetch`: records in and out, offsets listed;
//! - `records`: stored events as record batches and back;
//! - `groups`: the group coordinator, its members, generations and committed offsets;
//! - `unsupported`: the refusal of an API or version not served.

pub(crate) mod connection;
pub(crate) mod fetch;
pub(crate) mod groups;
pub(crate) mod produce;
pub(crate) mod records;
pub(crate) mod sasl;
pub(crate) mod topics;
pub(crate) mod unsupported;
pub(crate) mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::service::auth::Authorizer;
use crate::storage::namespace::Namespace;

/// Connections served at once on the Kafka ports.
const MAX_CONNECTIONS: usize = 1024;
/// A client gets this long for the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A bound Kafka port: plain (SASL over TCP, as Microsoft's emulator serves 9092) or TLS (as the
/// service serves 9093).
pub struct Listener {
    pub socket: TcpListener,
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("socket", &self.socket.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Listener {
    /// How the banner names it.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "kafka+ssl"
        } else {
            "kafka"
        }
    }
}

/// Where clients reach this broker: the address they connected to, by the name they used
/// (TLS SNI) when they gave one.
#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub host: String,
    pub port: i32,
}

/// What a handler needs of its connection.
#[derive(Debug)]
pub(crate) struct Session {
    pub broker: Broker,
    pub peer: SocketAddr,
    pub client_id: String,
}

/// A Kafka string from ours.
pub(crate) fn text(value: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(value.into())
}

/// What every Kafka connection shares.
#[derive(Debug)]
pub(crate) struct Context {
    pub namespace: Arc<Namespace>,
    pub authorizer: Authorizer,
    pub groups: groups::Coordinator,
    pub producers: produce::Producers,
    pub shutdown: CancellationToken,
}

/// Serves Kafka on every listener until `shutdown`; committed offsets are kept in `data_dir`.
pub(crate) async fn serve(
    listeners: Vec<Listener>,
    namespace: Arc<Namespace>,
    authorizer: Authorizer,
    data_dir: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) {
    let groups = match groups::Coordinator::open(data_dir.as_deref()) {
        Ok(groups) => groups,
        Err(e @ groups::offsets::OffsetsError::Corrupt { .. }) => {
            // Served anyway: the offsets start empty, and the unreadable file is kept aside.
            tracing::error!(error = %e, "Kafka group offsets could not be read; starting without them");
            groups::Coordinator::empty(data_dir.as_deref())
        }
        Err(e) => {
            // The file may be fine and only unreadable now: never write over it.
            tracing::error!(error = %e, "Kafka group offsets could not be read; this run keeps none");
            groups::Coordinator::empty(None)
        }
    };
    let context = Arc::new(Context {
        namespace,
        authorizer,
        groups,
        producers: produce::Producers::default(),
        shutdown: shutdown.clone(),
    });
    let sweeper = tokio::spawn(groups::sweep(context.clone()));
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut acceptors = JoinSet::new();
    for listener in listeners {
        acceptors.spawn(accept_loop(listener, context.clone(), permits.clone()));
    }
    shutdown.cancelled().await;
    acceptors.shutdown().await;
    let _ = sweeper.await;
    context.groups.persist();
}

async fn accept_loop(
    listener: Listener,
    context: Arc<Context>,
    permits: Arc<tokio::sync::Semaphore>,
) {
    let mut connections = JoinSet::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.socket.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "Kafka accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let context = context.clone();
        let tls = listener.tls.clone();
        connections.spawn(async move {
            let local = stream.local_addr().ok();
            match tls {
                None => connection::serve(stream, peer, local, None, context).await,
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let name = tls.get_ref().1.server_name().map(str::to_owned);
                            connection::serve(tls, peer, local, name, context).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "Kafka TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "Kafka TLS handshake timed out"),
                    }
                }
            }
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
}
