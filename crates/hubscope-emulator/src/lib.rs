//! An embedded Event Hubs-compatible endpoint: AMQP 1.0 over TCP, TLS and `WebSockets`.
//!
//! The official clients (Rust `azure_messaging_eventhubs`, Python `azure-eventhub`) and
//! general-purpose AMQP 1.0 peers talk to it as to the service; `docs/amqp-wire.md` is the wire
//! behaviour it follows.
//!
//! Three layers, each using only the ones below it:
//! - [`protocol`]: AMQP itself, with no Event Hubs and no storage in it. Transports, the codec,
//!   and the engine that runs each connection (sessions, links, credit, settlement).
//! - [`service`]: Event Hubs on top: connections and the nodes their links address (`$cbs`,
//!   `$management`, publish, consume), tokens and grants, and the service's error texts.
//! - [`storage`]: the namespace, partition logs and their journals, owner-level claims, with no
//!   protocol in it.
//!
//! Two more faces sit beside [`service`] over the same storage: [`management`], the namespace
//! management API over HTTP (hubs and consumer groups listed, created and deleted), and
//! [`kafka`], Kafka's protocol over the same hubs and partitions. Both use the service's token
//! checks, and the Kafka face its mapping of events between the protocols. [`config`] is the
//! topology all of them read; this module starts and stops listeners.

pub mod cli;
pub mod config;
pub mod kafka;
pub mod management;
pub mod protocol;
pub mod service;
pub mod storage;

#[cfg(test)]
mod fuzz_tests;

/// The binaries' allocator in the tests too. Kafka's request decoding (kafka-protocol) reserves
/// an array's declared length before reading it; mimalloc reserves address space for a huge
/// claim without committing it, where the system allocator would abort the process, so the
/// fuzz tests run what the binaries run.
#[cfg(test)]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{AuthMode, EmulatorConfig, HubConfig};
pub use protocol::transport::{self, Transport};
use service::auth;
use service::shared::Shared;
use storage::namespace::ManageError;
use storage::namespace::Namespace;

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 1024;
/// How often retention runs and journals are synced.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// How long connections get to close after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest TCP segment we advertise. The Python client reads `TCP_MAXSEG` back and sets it again;
/// on Linux loopback (MTU 64 KiB) it can read 32768, which the kernel refuses to set (the limit is
/// 32767), and the client then fails to connect. Advertising a smaller MSS keeps it in range.
const ADVERTISED_MSS: u32 = 32_000;
/// The key name of the official emulator's connection string.
pub const DEFAULT_KEY_NAME: &str = "RootManageSharedAccessKey";
/// The key of the official emulator's connection string, accepted as any key is.
pub const DEFAULT_KEY: &str = "SAS_KEY_VALUE";

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error(transparent)]
    Namespace(#[from] ManageError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] transport::tls::TlsError),
}

/// A bound port and what it serves.
#[derive(Debug)]
pub struct Listener {
    pub socket: TcpListener,
    pub transport: Transport,
}

impl Listener {
    #[must_use]
    pub fn plain(socket: TcpListener) -> Self {
        Self {
            socket,
            transport: Transport::Plain,
        }
    }
}

/// Serves `config` on `listener` until `shutdown` completes.
///
/// # Errors
/// [`EmulatorError::Namespace`] when the data directory cannot be opened.
pub async fn run(
    listener: TcpListener,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EmulatorError> {
    let namespace = Arc::new(Namespace::open(&config)?);
    let faces = Faces {
        amqp: vec![Listener::plain(listener)],
        ..Faces::default()
    };
    serve(faces, namespace, &config, shutdown).await;
    Ok(())
}

/// What the endpoint serves its namespace on.
#[derive(Debug, Default)]
pub struct Faces {
    /// AMQP: plain, TLS and WebSocket listeners; the first one's address names the endpoint.
    pub amqp: Vec<Listener>,
    /// The namespace management API.
    pub management: Option<management::Listener>,
    /// Kafka: plain (SASL) and TLS listeners.
    pub kafka: Vec<kafka::Listener>,
}

/// Serves an opened namespace on every face; see [`run`]. For callers that must know the
/// namespace opened (its data directory replayed) before they announce the endpoint.
pub async fn serve(
    faces: Faces,
    namespace: Arc<Namespace>,
    config: &EmulatorConfig,
    shutdown: impl Future<Output = ()>,
) {
    let Faces {
        amqp: listeners,
        management,
        kafka,
    } = faces;
    for listener in &listeners {
        if let Err(e) = socket2::SockRef::from(&listener.socket).set_tcp_mss(ADVERTISED_MSS) {
            tracing::debug!(error = %e, "cannot lower the advertised TCP segment size");
        }
    }
    // The service's error texts name the endpoint as the plain port's address.
    let endpoint = listeners
        .first()
        .and_then(|l| l.socket.local_addr().ok())
        .map_or_else(|| "sb://localhost".to_owned(), |a| format!("sb://{a}"));
    let token = CancellationToken::new();
    let shared = Arc::new(Shared {
        namespace: namespace.clone(),
        authorizer: auth::Authorizer::new(config.auth.clone()),
        endpoint,
        shutdown: token.clone(),
    });
    let housekeeping = tokio::spawn(housekeeping(namespace.clone(), token.clone()));
    let management = management.map(|listener| {
        let api = Arc::new(management::Api::new(
            namespace.clone(),
            auth::Authorizer::new(config.auth.clone()),
        ));
        tokio::spawn(management::serve(listener, api, token.clone()))
    });
    let kafka = (!kafka.is_empty()).then(|| {
        tokio::spawn(kafka::serve(
            kafka,
            namespace.clone(),
            auth::Authorizer::new(config.auth.clone()),
            config.data_dir.clone(),
            token.clone(),
        ))
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::channel(16);
    let mut acceptors = JoinSet::new();
    for listener in listeners {
        acceptors.spawn(accept_loop(listener, permits.clone(), accepted_tx.clone()));
    }
    drop(accepted_tx);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            next = accepted.recv() => {
                let Some((stream, transport, permit)) = next else { break };
                let shared = shared.clone();
                connections.spawn(async move {
                    if let Some(stream) = transport::accept(transport, stream).await {
                        // Boxed: a connection's state machine is large, and this task holds it.
                        Box::pin(service::connection::serve(stream, shared)).await;
                    }
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    acceptors.abort_all();
    token.cancel();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    let _ = housekeeping.await;
    if let Some(management) = management {
        let _ = management.await;
    }
    if let Some(kafka) = kafka {
        let _ = kafka.await;
    }
    let sync_namespace = namespace.clone();
    let _ = tokio::task::spawn_blocking(move || sync_namespace.sync()).await;
}

type Accepted = (
    tokio::net::TcpStream,
    Transport,
    tokio::sync::OwnedSemaphorePermit,
);

/// Accepts connections on one listener while the connection limit allows.
async fn accept_loop(
    listener: Listener,
    permits: Arc<Semaphore>,
    accepted: tokio::sync::mpsc::Sender<Accepted>,
) {
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        match listener.socket.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                tracing::debug!(%peer, transport = ?listener.transport, "connection accepted");
                let next = (stream, listener.transport.clone(), permit);
                if accepted.send(next).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn housekeeping(namespace: Arc<Namespace>, token: CancellationToken) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = token.cancelled() => return,
        }
        let ns = namespace.clone();
        let (expired, reclaimed) = tokio::task::spawn_blocking(move || {
            let expired = ns.expire();
            ns.sync();
            (expired, ns.compact_journals())
        })
        .await
        .unwrap_or_default();
        if expired > 0 {
            tracing::debug!(expired, "events expired");
        }
        if reclaimed > 0 {
            tracing::info!(reclaimed_bytes = reclaimed, "journals compacted");
        }
    }
}

/// A running emulator, for tests and the GUI: where it listens and how to stop it.
#[derive(Debug)]
pub struct RunningEmulator {
    pub local_addr: SocketAddr,
    /// Where the management API listens (plain HTTP), when it is served.
    pub management_addr: Option<SocketAddr>,
    /// Where Kafka is served (plain, SASL PLAIN taken), when it is.
    pub kafka_addr: Option<SocketAddr>,
    namespace: Arc<Namespace>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl RunningEmulator {
    /// Binds `addr` (port 0 picks a free port) and serves `config` on the current runtime, with
    /// the management API and Kafka on free ports of the same address.
    ///
    /// # Errors
    /// [`EmulatorError::Bind`] when the address cannot be bound; store errors from opening.
    pub async fn start(config: EmulatorConfig, addr: &str) -> Result<Self, EmulatorError> {
        let listener = bind(addr).await?;
        let ip = listener
            .local_addr()
            .map_or_else(|_| "127.0.0.1".to_owned(), |a| a.ip().to_string());
        let management = management::Listener {
            socket: bind(&format!("{ip}:0")).await?,
            tls: None,
        };
        let kafka = kafka::Listener {
            socket: bind(&format!("{ip}:0")).await?,
            tls: None,
        };
        Self::start_with(
            config,
            Faces {
                amqp: vec![Listener::plain(listener)],
                management: Some(management),
                kafka: vec![kafka],
            },
        )
    }

    /// Serves `config` on bound listeners, on the current runtime; the first listener's address
    /// is [`Self::local_addr`].
    ///
    /// # Errors
    /// Store errors from opening; [`EmulatorError::Bind`] when a listener has no address.
    pub fn start_serving(
        config: EmulatorConfig,
        listeners: Vec<Listener>,
    ) -> Result<Self, EmulatorError> {
        Self::start_with(
            config,
            Faces {
                amqp: listeners,
                ..Faces::default()
            },
        )
    }

    /// Serves `config` on bound faces, on the current runtime; the first AMQP listener's address
    /// is [`Self::local_addr`].
    ///
    /// # Errors
    /// Store errors from opening; [`EmulatorError::Bind`] when there is no AMQP listener.
    pub fn start_with(config: EmulatorConfig, faces: Faces) -> Result<Self, EmulatorError> {
        let management_addr = faces
            .management
            .as_ref()
            .and_then(|m| m.socket.local_addr().ok());
        let kafka_addr = faces.kafka.first().and_then(|k| k.socket.local_addr().ok());
        let local_addr = faces
            .amqp
            .first()
            .map_or_else(
                || Err(std::io::ErrorKind::NotFound.into()),
                |l| l.socket.local_addr(),
            )
            .map_err(|source| EmulatorError::Bind {
                addr: "the first listener".to_owned(),
                source,
            })?;
        let namespace = Arc::new(Namespace::open(&config)?);
        let served = namespace.clone();
        let stop = CancellationToken::new();
        let signal = stop.clone();
        let task = tokio::spawn(async move {
            serve(faces, served, &config, signal.cancelled()).await;
        });
        Ok(Self {
            local_addr,
            management_addr,
            kafka_addr,
            namespace,
            stop,
            task,
        })
    }

    /// A connection string for the official clients, in the official emulator's form.
    #[must_use]
    pub fn connection_string(&self) -> String {
        connection_string(self.local_addr, DEFAULT_KEY_NAME, DEFAULT_KEY)
    }

    /// What it serves now, hubs and groups created at run time included.
    #[must_use]
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// `http://host:port` of the management API, when it is served.
    #[must_use]
    pub fn management_url(&self) -> Option<String> {
        self.management_addr.map(|a| format!("http://{a}"))
    }

    /// `host:port` of the Kafka listener, for a client's `bootstrap.servers`, when it is served.
    #[must_use]
    pub fn kafka_bootstrap(&self) -> Option<String> {
        self.kafka_addr.map(|a| a.to_string())
    }

    /// `amqp://host:port`, for the Rust SDK's `with_custom_endpoint`.
    #[must_use]
    pub fn custom_endpoint(&self) -> String {
        format!("amqp://{}", self.local_addr)
    }

    /// Stops serving and waits for connections to close.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Binds a TCP listener on `addr` (port 0 picks a free port).
///
/// # Errors
/// [`EmulatorError::Bind`] when the address cannot be bound.
pub async fn bind(addr: &str) -> Result<TcpListener, EmulatorError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: addr.to_owned(),
            source,
        })
}

/// The connection string the clients use for an emulator at `addr`.
#[must_use]
pub fn connection_string(addr: SocketAddr, key_name: &str, key: &str) -> String {
    let host = if addr.ip().is_unspecified() {
        "localhost".to_owned()
    } else {
        addr.ip().to_string()
    };
    format!(
        "Endpoint=sb://{host}:{};SharedAccessKeyName={key_name};SharedAccessKey={key};UseDevelopmentEmulator=true;",
        addr.port()
    )
}
