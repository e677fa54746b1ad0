//! Shared helpers for integration tests: a fresh emulator on 127.0.0.1:0 and SDK clients for it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

pub mod azurite;
pub mod kafka;
pub mod ui;

use azure_messaging_eventhubs::{
    models::ReceivedEventData, ConsumerClient, EventReceiver, OpenReceiverOptions, ProducerClient,
    StartLocation, StartPosition,
};
use futures::StreamExt;
use hubscope::emulator::{EmulatorConfig, HubConfig, RunningEmulator};

/// A generous bound on anything that should take milliseconds; a hang fails instead of stalling.
pub const PATIENCE: Duration = Duration::from_secs(20);

pub async fn emulator() -> RunningEmulator {
    emulator_with(EmulatorConfig::default()).await
}

pub async fn emulator_with(config: EmulatorConfig) -> RunningEmulator {
    // RUST_LOG=hubscope=debug shows the emulator's side of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    RunningEmulator::start(config, "127.0.0.1:0")
        .await
        .expect("emulator starts")
}

pub fn hubs(specs: &[(&str, u32)]) -> EmulatorConfig {
    EmulatorConfig {
        hubs: specs
            .iter()
            .map(|(name, partitions)| HubConfig {
                name: (*name).to_owned(),
                partition_count: *partitions,
                consumer_groups: vec!["cg1".to_owned()],
            })
            .collect(),
        ..EmulatorConfig::default()
    }
}

pub async fn producer(emu: &RunningEmulator, hub: &str) -> ProducerClient {
    tokio::time::timeout(
        PATIENCE,
        ProducerClient::builder()
            .with_custom_endpoint(emu.custom_endpoint())
            .open_with_connection_string(&emu.connection_string(), Some(hub)),
    )
    .await
    .expect("producer opens in time")
    .expect("producer opens")
}

pub async fn consumer(emu: &RunningEmulator, hub: &str, group: Option<&str>) -> ConsumerClient {
    let mut builder = ConsumerClient::builder().with_custom_endpoint(emu.custom_endpoint());
    if let Some(group) = group {
        builder = builder.with_consumer_group(group.to_owned());
    }
    tokio::time::timeout(
        PATIENCE,
        builder.open_with_connection_string(&emu.connection_string(), Some(hub)),
    )
    .await
    .expect("consumer opens in time")
    .expect("consumer opens")
}

pub fn from(location: StartLocation, inclusive: bool) -> OpenReceiverOptions {
    OpenReceiverOptions {
        start_position: Some(StartPosition {
            location,
            inclusive,
        }),
        ..OpenReceiverOptions::default()
    }
}

pub async fn receiver(
    consumer: &ConsumerClient,
    partition: &str,
    options: OpenReceiverOptions,
) -> azure_messaging_eventhubs::Result<EventReceiver> {
    tokio::time::timeout(
        PATIENCE,
        consumer.open_receiver_on_partition(partition.to_owned(), Some(options)),
    )
    .await
    .expect("receiver opens in time")
}

/// Receives exactly `n` events, failing the test on error or timeout.
pub async fn take(receiver: &EventReceiver, n: usize) -> Vec<ReceivedEventData> {
    let stream = receiver.stream_events();
    futures::pin_mut!(stream);
    let mut events = Vec::with_capacity(n);
    while events.len() < n {
        let next = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived", events.len()));
        match next {
            Some(Ok(event)) => events.push(event),
            Some(Err(e)) => panic!("receive failed after {} events: {e}", events.len()),
            None => panic!("stream ended after {} events", events.len()),
        }
    }
    events
}

/// `true` when nothing arrives within `wait`.
pub async fn nothing_within(receiver: &EventReceiver, wait: Duration) -> bool {
    let stream = receiver.stream_events();
    futures::pin_mut!(stream);
    tokio::time::timeout(wait, stream.next()).await.is_err()
}

pub fn body_text(event: &ReceivedEventData) -> String {
    String::from_utf8_lossy(event.event_data().body().unwrap_or_default()).into_owned()
}

/// Runs the real `hubscope` binary with its config directory at `config_dir`. A run that has
/// not ended within a minute is killed and fails the test, so a hang cannot stall CI.
pub fn hubscope(args: &[&str], config_dir: &std::path::Path) -> std::process::Output {
    use std::io::Read as _;
    use std::process::Stdio;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hubscope"))
        .args(args)
        .env("HUBSCOPE_CONFIG_DIR", config_dir)
        .env_remove("HUBSCOPE_CONNECTION_STRING")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hubscope runs");
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::Builder::new()
            .name("test-pipe".into())
            .spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
            .expect("thread")
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("hubscope {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

/// [`hubscope`] off the async runtime, with owned arguments.
pub async fn hubscope_async(
    args: Vec<String>,
    config_dir: std::path::PathBuf,
) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hubscope(&args, &config_dir)
    })
    .await
    .expect("hubscope task")
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An endpoint on a fixed port (to restart one where clients expect it); the old listener may
/// linger a moment after a shutdown, so binding is retried for up to five seconds.
pub async fn emulator_on(port: u16, config: &EmulatorConfig) -> RunningEmulator {
    for _ in 0..50 {
        if let Ok(emu) = RunningEmulator::start(config.clone(), &format!("127.0.0.1:{port}")).await
        {
            return emu;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the endpoint did not start on port {port}");
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Stands in for an Entra ID credential: a real `TokenCredential` handing the SDK a JWT-shaped token.
#[derive(Debug)]
pub struct StaticToken;

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for StaticToken {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        Ok(azure_core::credentials::AccessToken::new(
            "eyJhbGciOiJub25lIn0.eyJhdWQiOiJodWJzY29wZSJ9.",
            time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        ))
    }
}
