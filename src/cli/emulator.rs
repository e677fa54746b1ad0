//! `hubscope emulator`: the embedded endpoint, headless.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use hubscope::emulator::namespace::Namespace;
use hubscope::emulator::{self, config, AuthMode, EmulatorConfig};

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
    /// Most event data held in memory, in MiB, across all partitions; the oldest go first.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    max_memory_mib: u64,
}

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
        let addr = format!("{}:{}", args.bind, args.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        print_banner(local, &cfg, &args.sas_key_name, key.is_some());
        emulator::serve(listener, namespace, &cfg, shutdown_signal()).await;
        tracing::info!("emulator stopped");
        anyhow::Ok(())
    })
}

/// Tells the user where the endpoint is and what it serves. Written with errors ignored: a
/// closed stdout (a supervisor that stopped reading) must not take the endpoint down.
fn print_banner(
    local: std::net::SocketAddr,
    cfg: &EmulatorConfig,
    key_name: &str,
    verifying: bool,
) {
    use std::io::Write as _;
    let shown_key = if verifying {
        "<your --sas-key>"
    } else {
        emulator::DEFAULT_KEY
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "hubscope emulator listening on amqp://{local}");
    let _ = writeln!(
        out,
        "connection string: {}",
        emulator::connection_string(local, key_name, shown_key)
    );
    for hub in &cfg.hubs {
        let mut groups = vec![config::DEFAULT_CONSUMER_GROUP.to_owned()];
        groups.extend(hub.consumer_groups.iter().cloned());
        let _ = writeln!(
            out,
            "  hub {:<24} {:>2} partitions, consumer groups: {}",
            hub.name,
            hub.partition_count,
            groups.join(", ")
        );
    }
    let _ = match &cfg.data_dir {
        Some(dir) => writeln!(out, "storage: {} (survives restarts)", dir.display()),
        None => writeln!(out, "storage: memory only"),
    };
    let _ = out.flush();
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
