//! Throughput and memory of the embedded endpoint, measured through the real Rust SDK on loopback.
//!
//! Run: `cargo run --release --example bench_emulator` (about two minutes). Prints a Markdown
//! table; the README's performance section records a run.
//!
//! - Ingest: acknowledged events/s and MB/s for 100 B and 1 KiB events, one event per send or
//!   full batches (about 1 MB), over 1 connection (one client sending to 8 partitions at once)
//!   or 8 connections (a client per partition).
//! - Delivery: events/s read back by 8 concurrent readers, one per partition.
//! - Live: batched 1 KiB ingest with the 8 readers running at the same time; the readers' final
//!   lag says whether they kept up.
//! - Memory: resident bytes per million stored 1 KiB events, measured first, on the store alone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_messaging_eventhubs::{
    ConsumerClient, EventDataBatchOptions, OpenReceiverOptions, ProducerClient, SendEventOptions,
    StartLocation, StartPosition,
};
use futures::StreamExt;
use hubscope::emulator::store::{Namespace, NewEvent};
use hubscope::emulator::{EmulatorConfig, HubConfig, RunningEmulator};

/// The same allocator as the `hubscope` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: u32 = 8;
const CASE_DURATION: Duration = Duration::from_secs(4);
/// The SDK has no send timeout; a send that takes this long is reported as hung.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug)]
enum Mode {
    Single,
    Batched,
}

fn config(hub: &str) -> EmulatorConfig {
    EmulatorConfig {
        hubs: vec![HubConfig {
            name: hub.to_owned(),
            partition_count: PARTITIONS,
            consumer_groups: vec![],
        }],
        max_retained_bytes: 8 * 1024 * 1024 * 1024,
        ..EmulatorConfig::default()
    }
}

async fn producer(emu: &RunningEmulator, hub: &str) -> ProducerClient {
    let connection_string = emu.connection_string();
    let open = ProducerClient::builder()
        .with_custom_endpoint(emu.custom_endpoint())
        .open_with_connection_string(&connection_string, Some(hub));
    tokio::time::timeout(SEND_TIMEOUT, open)
        .await
        .expect("opening a producer hung")
        .expect("producer")
}

async fn consumer(emu: &RunningEmulator, hub: &str) -> ConsumerClient {
    let connection_string = emu.connection_string();
    let open = ConsumerClient::builder()
        .with_custom_endpoint(emu.custom_endpoint())
        .open_with_connection_string(&connection_string, Some(hub));
    tokio::time::timeout(SEND_TIMEOUT, open)
        .await
        .expect("opening a consumer hung")
        .expect("consumer")
}

/// Sends to one partition until `deadline`; returns acknowledged events.
async fn send_loop(
    producer: Arc<ProducerClient>,
    partition: String,
    size: usize,
    mode: Mode,
    deadline: Instant,
    rate_per_sec: Option<f64>,
) -> u64 {
    let payload = vec![b'x'; size];
    let mut sent = 0;
    let started = Instant::now();
    while Instant::now() < deadline {
        // Open model: batch k is due at start + events so far / rate, whatever came before.
        if let Some(rate) = rate_per_sec {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        match mode {
            Mode::Single => {
                let pending = producer.send_event(
                    payload.clone(),
                    Some(SendEventOptions {
                        partition_id: Some(partition.clone()),
                    }),
                );
                tokio::time::timeout(SEND_TIMEOUT, pending)
                    .await
                    .unwrap_or_else(|_| panic!("a send to partition {partition} hung"))
                    .expect("send");
                sent += 1;
            }
            Mode::Batched => {
                let batch = producer
                    .create_batch(Some(EventDataBatchOptions {
                        partition_id: Some(partition.clone()),
                        ..Default::default()
                    }))
                    .await
                    .expect("batch");
                while batch
                    .try_add_event_data(payload.clone(), None)
                    .expect("add")
                {}
                let n = batch.len() as u64;
                tokio::time::timeout(SEND_TIMEOUT, producer.send_batch(batch, None))
                    .await
                    .unwrap_or_else(|_| panic!("a batch send to partition {partition} hung"))
                    .expect("send batch");
                sent += n;
            }
        }
    }
    sent
}

async fn ingest(
    emu: &RunningEmulator,
    hub: &str,
    size: usize,
    mode: Mode,
    connections: usize,
    total_rate_per_sec: Option<f64>,
) -> (u64, Duration) {
    let mut clients = Vec::new();
    for _ in 0..connections {
        clients.push(Arc::new(producer(emu, hub).await));
    }
    // Warm every link so that attach and authorization are not measured.
    for p in 0..PARTITIONS {
        let client = &clients[p as usize % connections];
        let warm = client.send_event(
            b"warm".to_vec(),
            Some(SendEventOptions {
                partition_id: Some(p.to_string()),
            }),
        );
        tokio::time::timeout(SEND_TIMEOUT, warm)
            .await
            .unwrap_or_else(|_| panic!("the warm-up send to partition {p} hung"))
            .expect("warm up");
    }
    let started = Instant::now();
    let deadline = started + CASE_DURATION;
    let tasks: Vec<_> = (0..PARTITIONS)
        .map(|p| {
            let client = clients[p as usize % connections].clone();
            let rate = total_rate_per_sec.map(|r| r / f64::from(PARTITIONS));
            tokio::spawn(send_loop(client, p.to_string(), size, mode, deadline, rate))
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("sender");
    }
    let elapsed = started.elapsed();
    for c in clients {
        if let Ok(c) = Arc::try_unwrap(c) {
            let _ = c.close().await;
        }
    }
    (total, elapsed)
}

/// Eight readers, one per partition, from the earliest event; stops each at `target` events in
/// its partition, or when `stop` says so. Returns events read.
async fn read_all(
    emu: &RunningEmulator,
    hub: &str,
    targets: Vec<u64>,
    counter: Arc<AtomicU64>,
) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (p, target) in targets.into_iter().enumerate() {
        let client = consumer(emu, hub).await;
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let open = client.open_receiver_on_partition(
                p.to_string(),
                Some(OpenReceiverOptions {
                    start_position: Some(StartPosition {
                        location: StartLocation::Earliest,
                        inclusive: false,
                    }),
                    prefetch: Some(3000),
                    ..Default::default()
                }),
            );
            let receiver = tokio::time::timeout(SEND_TIMEOUT, open)
                .await
                .expect("opening a receiver hung")
                .expect("receiver");
            let stream = receiver.stream_events();
            futures::pin_mut!(stream);
            let mut read = 0;
            while read < target {
                match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
                    Ok(Some(Ok(_))) => {
                        read += 1;
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            read
        }));
    }
    for t in tasks {
        t.await.expect("reader");
    }
    started.elapsed()
}

async fn partition_totals(emu: &RunningEmulator, hub: &str) -> Vec<u64> {
    let p = producer(emu, hub).await;
    let mut totals = Vec::new();
    for id in 0..PARTITIONS {
        let props = p
            .get_partition_properties(&id.to_string())
            .await
            .expect("props");
        totals.push(u64::try_from(props.last_enqueued_sequence_number + 1).unwrap_or(0));
    }
    let _ = p.close().await;
    totals
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn memory_per_million() -> f64 {
    let ns = Namespace::open(&config("mem")).expect("namespace");
    let hub = ns.hub("mem").expect("hub").clone();
    let before = rss_bytes();
    let payload = bytes::Bytes::from(vec![b'm'; 1024]);
    for chunk in 0..1000 {
        let events = (0..1000)
            .map(|_| NewEvent {
                // Each event owns its bytes, as events decoded off the wire do.
                message: bytes::Bytes::copy_from_slice(&payload),
                partition_key: None,
            })
            .collect();
        hub.partitions[chunk % hub.partitions.len()]
            .append(events)
            .expect("append");
    }
    let after = rss_bytes();
    (after.saturating_sub(before)) as f64
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    println!("| case | events/s | MB/s |");
    println!("|---|---:|---:|");
    // First, while the process is fresh: the allocator keeps freed memory for reuse, which would
    // hide the store's footprint behind what earlier cases left.
    let bytes = memory_per_million();
    println!(
        "| memory: 1M stored 1 KiB events (store alone) | {:.0} MiB RSS | {:.0} B/event |",
        bytes / 1024.0 / 1024.0,
        bytes / 1e6
    );
    let mut round = 0;
    let only_live = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "live");
    for size in [100usize, 1024].into_iter().filter(|_| !only_live) {
        for mode in [Mode::Single, Mode::Batched] {
            for connections in [1usize, 8] {
                round += 1;
                let hub = format!("ingest{round}");
                let emu = RunningEmulator::start(config(&hub), "127.0.0.1:0")
                    .await
                    .expect("emulator");
                let (events, elapsed) = ingest(&emu, &hub, size, mode, connections, None).await;
                let rate = events as f64 / elapsed.as_secs_f64();
                println!(
                    "| ingest {size} B, {mode:?}, {connections} conn | {rate:.0} | {:.1} |",
                    rate * size as f64 / 1e6
                );
                if matches!(mode, Mode::Batched) && connections == 8 {
                    let totals = partition_totals(&emu, &hub).await;
                    let total: u64 = totals.iter().sum();
                    let elapsed = read_all(&emu, &hub, totals, Arc::new(AtomicU64::new(0))).await;
                    let rate = total as f64 / elapsed.as_secs_f64();
                    println!(
                        "| deliver {size} B, 8 readers (backlog of {total}) | {rate:.0} | {:.1} |",
                        rate * size as f64 / 1e6
                    );
                }
                emu.shutdown().await;
            }
        }
    }

    // Live: ingest and read at the same time, flat out and paced at the target rate.
    for (label, rate) in [("flat out", None), ("paced at 100k/s", Some(100_000.0))] {
        let hub = "live";
        let emu = RunningEmulator::start(config(hub), "127.0.0.1:0")
            .await
            .expect("emulator");
        let read = Arc::new(AtomicU64::new(0));
        let targets = vec![u64::MAX; PARTITIONS as usize];
        // Readers get one second past the ingest window to catch up.
        let reader = tokio::time::timeout(
            CASE_DURATION + Duration::from_secs(1),
            read_all(&emu, hub, targets, read.clone()),
        );
        eprintln!("live {label}: starting");
        let (ingest_result, _) =
            tokio::join!(ingest(&emu, hub, 1024, Mode::Batched, 8, rate), reader);
        let (events, elapsed) = ingest_result;
        let read_now = read.load(Ordering::Relaxed);
        let ingested = events + u64::from(PARTITIONS);
        println!(
            "| live {label}: 1 KiB batched ingest, 8 conn, with 8 readers | {:.0} | {:.1} |",
            events as f64 / elapsed.as_secs_f64(),
            events as f64 * 1024.0 / elapsed.as_secs_f64() / 1e6
        );
        println!(
            "| live {label}: read within 1 s of the last send | {read_now} of {ingested} ({:.0} %) | |",
            read_now as f64 * 100.0 / ingested as f64
        );
        emu.shutdown().await;
    }
    eprintln!("live: emulator stopped");
}
