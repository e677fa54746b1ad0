//! The endpoint's command line, shared by `hubscope-emulator` and `hubscope emulator`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::storage::namespace::Namespace;
use crate::transport::tls::{TlsIdentity, TlsSource};
use crate::{self as emulator, config, AuthMode, EmulatorConfig, Listener, Transport};
use anyhow::Context as _;
use clap::Args;

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on; loopback unless you mean to share it.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// AMQP port.
    #[arg(long, default_value_t = 5672)]
    port: u16,
    /// The official emulator's Config.json (hubs, partitions, consumer groups).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Keep events in an append-only log per partition here; without it, memory only.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Verify SAS tokens against this key; without it any well-formed token is accepted.
    #[arg(long, env = "HUBSCOPE_SAS_KEY", hide_env_values = true)]
    sas_key: Option<String>,
    /// The key name tokens must carry when --sas-key is set.
    #[arg(long, default_value = emulator::DEFAULT_KEY_NAME)]
    sas_key_name: String,
    /// How long events are kept, e.g. 90s, 30m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = config::parse_duration)]
    retention: std::time::Duration,
    /// Most event data held in memory, in `MiB`, across all partitions; the oldest go first.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    max_memory_mib: u64,
    /// Also serve `amqps` (AMQP over TLS, and over websockets in TLS) on this port; 5671 by
    /// convention.
    #[arg(long, value_name = "PORT")]
    tls_port: Option<u16>,
    /// The TLS certificate chain (PEM); without it one is generated on first start and kept in
    /// the data directory, or else the config directory.
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A name the generated certificate holds besides localhost and 127.0.0.1 (repeatable).
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
    /// Also serve AMQP over plain websockets (`ws://HOST:PORT/$servicebus/websocket`) here.
    #[arg(long, value_name = "PORT")]
    ws_port: Option<u16>,
    /// Serve the namespace management API (list, create and delete hubs and consumer groups;
    /// `GET /health`) here, over HTTPS when --tls-port is set. Default 5300, where Microsoft's
    /// emulator answers its health check; when 5300 is taken the endpoint starts without it.
    /// 0 picks a free port.
    #[arg(long, value_name = "PORT", conflicts_with = "no_management")]
    management_port: Option<u16>,
    /// Do not serve the management API.
    #[arg(long)]
    no_management: bool,
    /// Serve Kafka here, over the same hubs (SASL PLAIN with user `$ConnectionString`, as
    /// Microsoft's emulator serves 9092). Default 9092; when 9092 is taken the endpoint starts
    /// without it. 0 picks a free port.
    #[arg(long, value_name = "PORT", conflicts_with = "no_kafka")]
    kafka_port: Option<u16>,
    /// Also serve Kafka over TLS (`SASL_SSL`, as the service serves 9093) with the endpoint's
    /// certificate.
    #[arg(long, value_name = "PORT")]
    kafka_tls_port: Option<u16>,
    /// Do not serve Kafka on the plain port.
    #[arg(long)]
    no_kafka: bool,
}

/// The management API's port when none is given.
const DEFAULT_MANAGEMENT_PORT: u16 = 5300;
/// The Kafka port when none is given, Microsoft's emulator's.
const DEFAULT_KAFKA_PORT: u16 = 9092;

pub fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let mut cfg = EmulatorConfig::default();
    if let Some(path) = &args.config {
        let (namespace, hubs) = config::load_official_config(path)?;
        cfg.namespace = namespace;
        cfg.hubs = hubs;
    }
    let key = args.sas_key.clone();
    cfg.auth = match &key {
        Some(key) => AuthMode::SharedAccessKey {
            key_name: args.sas_key_name.clone(),
            key: key.clone(),
        },
        None => AuthMode::AcceptAnyToken,
    };
    cfg.retention = args.retention;
    cfg.max_retained_bytes = args.max_memory_mib.saturating_mul(1024 * 1024);
    cfg.data_dir.clone_from(&args.data_dir);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hubscope-emulator")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Opened before anything is announced: a bad --data-dir must not print a banner first.
        let namespace = Arc::new(Namespace::open(&cfg)?);
        let tls = if args.tls_port.is_some() || args.kafka_tls_port.is_some() {
            Some(tls_source(&args)?.load()?)
        } else {
            None
        };
        let mut listeners = vec![Listener::plain(listen(&args.bind, args.port).await?)];
        if let (Some(port), Some(identity)) = (args.tls_port, &tls) {
            listeners.push(Listener {
                socket: listen(&args.bind, port).await?,
                transport: Transport::tls(identity),
            });
        }
        if let Some(port) = args.ws_port {
            listeners.push(Listener {
                socket: listen(&args.bind, port).await?,
                transport: Transport::WebSocket,
            });
        }
        let management = management_listener(&args, tls.as_ref()).await?;
        let kafka = kafka_listeners(&args, tls.as_ref()).await?;
        let faces = emulator::Faces {
            amqp: listeners,
            management,
            kafka,
        };
        print_banner(
            &faces,
            tls.as_ref(),
            &cfg,
            &namespace,
            &args.sas_key_name,
            key.is_some(),
        )?;
        emulator::serve(faces, namespace, &cfg, shutdown_signal()).await;
        tracing::info!("emulator stopped");
        anyhow::Ok(())
    })
}

/// The management API's listener: the port given must be free; the default may be taken (by
/// Microsoft's emulator, or a second endpoint), and then the endpoint goes on without it.
async fn management_listener(
    args: &EmulatorArgs,
    tls: Option<&TlsIdentity>,
) -> anyhow::Result<Option<emulator::management::Listener>> {
    if args.no_management {
        return Ok(None);
    }
    let port = args.management_port.unwrap_or(DEFAULT_MANAGEMENT_PORT);
    let socket = match listen(&args.bind, port).await {
        Ok(socket) => socket,
        Err(e) if args.management_port.is_none() => {
            tracing::warn!(error = %e, "port {port} is taken: the management API is not served (give --management-port)");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(Some(emulator::management::Listener {
        socket,
        tls: tls.map(|identity| tokio_rustls::TlsAcceptor::from(identity.config.clone())),
    }))
}

/// The Kafka listeners: the plain port (the default may be taken, as the management API's may)
/// and the TLS one.
async fn kafka_listeners(
    args: &EmulatorArgs,
    tls: Option<&TlsIdentity>,
) -> anyhow::Result<Vec<emulator::kafka::Listener>> {
    let mut listeners = Vec::new();
    if !args.no_kafka {
        let port = args.kafka_port.unwrap_or(DEFAULT_KAFKA_PORT);
        match listen(&args.bind, port).await {
            Ok(socket) => listeners.push(emulator::kafka::Listener { socket, tls: None }),
            Err(e) if args.kafka_port.is_none() => {
                tracing::warn!(error = %e, "Kafka is not served: cannot listen on port {port} (give --kafka-port)");
            }
            Err(e) => return Err(e),
        }
    }
    if let (Some(port), Some(identity)) = (args.kafka_tls_port, tls) {
        listeners.push(emulator::kafka::Listener {
            socket: listen(&args.bind, port).await?,
            tls: Some(tokio_rustls::TlsAcceptor::from(identity.config.clone())),
        });
    }
    Ok(listeners)
}

async fn listen(bind: &str, port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    Ok(emulator::bind(&format!("{bind}:{port}")).await?)
}

/// Where the TLS identity comes from: the given files, or one generated into the data directory
/// (else the config directory) and kept there.
fn tls_source(args: &EmulatorArgs) -> anyhow::Result<TlsSource> {
    let dir = match &args.data_dir {
        Some(dir) => dir.clone(),
        None => directories::ProjectDirs::from("dev", "hubscope", "hubscope")
            .map(|d| d.config_dir().to_owned())
            .context("no config directory to keep a generated certificate in; give --tls-cert and --tls-key")?,
    };
    Ok(TlsSource::from_args(
        args.tls_cert.clone(),
        args.tls_key.clone(),
        dir,
        args.tls_names.clone(),
    )?)
}

/// Tells the user where the endpoint is and what it serves. Written with errors ignored: a
/// closed stdout (a supervisor that stopped reading) must not take the endpoint down.
fn print_banner(
    faces: &emulator::Faces,
    tls: Option<&TlsIdentity>,
    cfg: &EmulatorConfig,
    namespace: &Namespace,
    key_name: &str,
    verifying: bool,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let shown_key = if verifying {
        "<your --sas-key>"
    } else {
        emulator::DEFAULT_KEY
    };
    let mut out = std::io::stdout().lock();
    let mut local = None;
    for listener in &faces.amqp {
        let addr = listener.socket.local_addr()?;
        local.get_or_insert(addr);
        let _ = writeln!(
            out,
            "hubscope emulator listening on {}://{addr}",
            listener.transport.scheme()
        );
    }
    if let Some(management) = &faces.management {
        let addr = management.socket.local_addr()?;
        let _ = writeln!(
            out,
            "hubscope emulator management API on {}://{addr}",
            management.scheme()
        );
    }
    for kafka in &faces.kafka {
        let addr = kafka.socket.local_addr()?;
        let protocol = if kafka.tls.is_some() {
            "SASL_SSL"
        } else {
            "SASL_PLAINTEXT"
        };
        let _ = writeln!(
            out,
            "hubscope emulator Kafka on {addr} ({protocol}, PLAIN, user $ConnectionString, the connection string as password)"
        );
    }
    let local = local.context("no listener")?;
    let _ = writeln!(
        out,
        "connection string: {}",
        emulator::connection_string(local, key_name, shown_key)
    );
    if let Some(tls) = tls {
        let cert = tls.cert_path.display();
        let _ = writeln!(out, "tls certificate: {cert}");
        for how in [
            format!("Python azure-eventhub: connection_verify=\"{cert}\" (and custom_endpoint_address=\"sb://localhost:PORT\")"),
            format!("Rust SDK, OpenSSL and rustls clients: SSL_CERT_FILE={cert}"),
            format!("Node.js: NODE_EXTRA_CA_CERTS={cert}"),
            format!("Java: keytool -importcert -alias hubscope -file {cert}"),
        ] {
            let _ = writeln!(out, "  trust it from {how}");
        }
    }
    for hub in namespace.hubs() {
        let groups: Vec<String> = hub.consumer_groups().into_iter().map(|g| g.name).collect();
        let _ = writeln!(
            out,
            "  hub {:<24} {:>2} partitions, consumer groups: {}",
            hub.name,
            hub.partitions.len(),
            groups.join(", ")
        );
    }
    let _ = match &cfg.data_dir {
        Some(dir) => writeln!(out, "storage: {} (survives restarts)", dir.display()),
        None => writeln!(out, "storage: memory only"),
    };
    let _ = out.flush();
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// Logs to stderr with `default` as the filter; `RUST_LOG` wins over it.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
