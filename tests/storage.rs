//! Storage through the Rust SDK: durability across restarts and `kill -9`, retention, memory bound.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{ProducerClient, SendEventOptions, StartLocation};
use common::*;
use hubscope::emulator::EmulatorConfig;

fn durable(dir: &std::path::Path) -> EmulatorConfig {
    EmulatorConfig {
        data_dir: Some(dir.to_owned()),
        ..EmulatorConfig::default()
    }
}

async fn send_with_properties(producer: &ProducerClient, partition: &str, n: u32) {
    for i in 0..n {
        let event = EventData::builder()
            .with_body(format!("durable {i}").into_bytes())
            .with_content_type("text/plain".to_owned())
            .add_property("i".to_owned(), i64::from(i))
            .build();
        producer
            .send_event(
                event,
                Some(SendEventOptions {
                    partition_id: Some(partition.to_owned()),
                }),
            )
            .await
            .expect("acknowledged");
    }
}

type Fingerprint = (Option<i64>, Option<String>, String, Option<String>);

async fn read_all(
    emu: &hubscope::emulator::RunningEmulator,
    partition: &str,
    n: usize,
) -> Vec<Fingerprint> {
    let consumer = consumer(emu, "eh1", None).await;
    let r = receiver(&consumer, partition, from(StartLocation::Earliest, false))
        .await
        .expect("rx");
    let events = take(&r, n).await;
    assert!(
        nothing_within(&r, Duration::from_millis(200)).await,
        "no more than {n} events"
    );
    r.close().await.expect("close");
    consumer.close().await.expect("close");
    events
        .iter()
        .map(|e| {
            (
                e.sequence_number(),
                e.offset().clone(),
                body_text(e),
                e.event_data().content_type().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn events_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emu = emulator_with(durable(dir.path())).await;
    let producer = producer(&emu, "eh1").await;
    send_with_properties(&producer, "0", 20).await;
    send_with_properties(&producer, "1", 5).await;
    producer.close().await.expect("close");
    let before = read_all(&emu, "0", 20).await;
    emu.shutdown().await;

    let emu = emulator_with(durable(dir.path())).await;
    assert_eq!(
        read_all(&emu, "0", 20).await,
        before,
        "same numbers, offsets, bodies, properties"
    );
    let producer = common::producer(&emu, "eh1").await;
    let p = producer.get_partition_properties("1").await.expect("props");
    assert_eq!(p.last_enqueued_sequence_number, 4);
    send_with_properties(&producer, "1", 1).await;
    let p = producer.get_partition_properties("1").await.expect("props");
    assert_eq!(p.last_enqueued_sequence_number, 5, "numbering continues");
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// Runs the real binary; returns it and its port, read from its first line of output.
fn spawn_binary(dir: &std::path::Path) -> (Child, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubscope"))
        .args(["emulator", "--port", "0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("emulator binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout);
    let mut first = String::new();
    lines.read_line(&mut first).expect("first line");
    // Keep draining, as a terminal would.
    std::thread::Builder::new()
        .name("drain-stdout".into())
        .spawn(move || std::io::copy(&mut lines, &mut std::io::sink()))
        .expect("thread");
    let port = first
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {first:?}"));
    (child, port)
}

/// A data directory that cannot be used is refused with its path, before anything is announced.
#[test]
fn an_unusable_data_dir_is_refused_before_the_banner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, b"").expect("file");
    let output = Command::new(env!("CARGO_BIN_EXE_hubscope"))
        .args(["emulator", "--port", "0", "--data-dir"])
        .arg(&not_a_dir)
        .output()
        .expect("emulator binary runs");
    assert!(!output.status.success());
    assert!(
        output.stdout.is_empty(),
        "nothing announced: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a-file") && stderr.contains("Not a directory"),
        "{stderr}"
    );
}

async fn producer_at(port: u16) -> ProducerClient {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let cs =
        hubscope::emulator::connection_string(addr, "RootManageSharedAccessKey", "SAS_KEY_VALUE");
    ProducerClient::builder()
        .with_custom_endpoint(format!("amqp://127.0.0.1:{port}"))
        .open_with_connection_string(&cs, Some("eh1"))
        .await
        .expect("producer")
}

/// Every acknowledged event survives SIGKILL of the process.
#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, port) = spawn_binary(dir.path());
    let producer = producer_at(port).await;
    send_with_properties(&producer, "0", 300).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    drop(producer);

    let (mut child, port) = spawn_binary(dir.path());
    let producer = producer_at(port).await;
    let p = producer.get_partition_properties("0").await.expect("props");
    assert_eq!(
        p.last_enqueued_sequence_number, 299,
        "all 300 acknowledged events are back"
    );
    assert_eq!(p.beginning_sequence_number, 0);
    let _ = producer.close().await;
    child.kill().expect("kill");
    let _ = child.wait();
}

#[tokio::test]
async fn time_retention_moves_the_beginning() {
    let emu = emulator_with(EmulatorConfig {
        retention: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let producer = producer(&emu, "eh1").await;
    send_with_properties(&producer, "0", 3).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let p = producer.get_partition_properties("0").await.expect("props");
    assert_eq!(p.beginning_sequence_number, 3, "{p:?}");
    assert_eq!(p.last_enqueued_sequence_number, 2);
    assert!(p.is_empty);
    send_with_properties(&producer, "0", 1).await;
    let p = producer.get_partition_properties("0").await.expect("props");
    assert_eq!(
        (p.beginning_sequence_number, p.last_enqueued_sequence_number),
        (3, 3)
    );
    producer.close().await.expect("close");
    emu.shutdown().await;
}

#[tokio::test]
async fn memory_bound_drops_the_oldest() {
    let emu = emulator_with(EmulatorConfig {
        max_retained_bytes: 20 * 1024,
        ..EmulatorConfig::default()
    })
    .await;
    let producer = producer(&emu, "eh1").await;
    for _ in 0..50 {
        producer
            .send_event(
                vec![b'm'; 1024],
                Some(SendEventOptions {
                    partition_id: Some("0".into()),
                }),
            )
            .await
            .expect("send");
    }
    let p = producer.get_partition_properties("0").await.expect("props");
    assert_eq!(p.last_enqueued_sequence_number, 49);
    assert!(p.beginning_sequence_number > 25, "oldest dropped: {p:?}");
    let retained = usize::try_from(50 - p.beginning_sequence_number).expect("count");
    let consumer = consumer(&emu, "eh1", None).await;
    let r = receiver(&consumer, "0", from(StartLocation::Earliest, false))
        .await
        .expect("rx");
    let events = take(&r, retained).await;
    assert_eq!(
        events[0].sequence_number(),
        Some(p.beginning_sequence_number)
    );
    producer.close().await.expect("close");
    emu.shutdown().await;
}
