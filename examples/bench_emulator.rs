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
//!
//! `BENCH_ONLY=live` runs the live cases and memory only, `BENCH_ONLY=single` the one-event-per-send
//! ingest cases only, `BENCH_ONLY=batched1k` batched 1 KiB ingest over 8 connections only (in a
//! fresh process, for profiling); `BENCH_LIVE_RATE=75000` runs only a live
//! case paced at that rate (for finding where the readers stop keeping up, or for profiling). The
//! endpoint runs on its own runtime (threads named `emulator`), the SDK clients on another
//! (`clients`), so `perf report --sort comm` tells their CPU apart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;

use azure_messaging_eventhubs::{
    ConsumerClient, EventDataBatchOptions, OpenReceiverOptions, ProducerClient, SendEventOptions,
    StartLocation, StartPosition,
};
use futures::StreamExt;
use hubscope::emulator::storage::namespace::Namespace;
use hubscope::emulator::storage::store::NewEvent;
use hubscope::emulator::{EmulatorConfig, HubConfig, RunningEmulator};

/// The same allocator as the `hubscope` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: u32 = 8;
const CASE_DURATION: Duration = Duration::from_secs(4);
/// Live cases run longer, so that readers falling behind show as a growing lag.
const LIVE_DURATION: Duration = Duration::from_secs(10);
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

/// Where the clients connect.
#[derive(Clone)]
struct Endpoint {
    connection_string: String,
    custom: String,
}

impl Endpoint {
    fn of(emu: &RunningEmulator) -> Self {
        Self {
            connection_string: emu.connection_string(),
            custom: emu.custom_endpoint(),
        }
    }
}

async fn producer(emu: &Endpoint, hub: &str) -> ProducerClient {
    let connection_string = emu.connection_string.clone();
    let open = ProducerClient::builder()
        .with_custom_endpoint(emu.custom.clone())
        .open_with_connection_string(&connection_string, Some(hub));
    tokio::time::timeout(SEND_TIMEOUT, open)
        .await
        .expect("opening a producer hung")
        .expect("producer")
}

async fn consumer(emu: &Endpoint, hub: &str) -> ConsumerClient {
    let connection_string = emu.connection_string.clone();
    let open = ConsumerClient::builder()
        .with_custom_endpoint(emu.custom.clone())
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
    emu: &Endpoint,
    hub: &str,
    size: usize,
    mode: Mode,
    connections: usize,
    total_rate_per_sec: Option<f64>,
    duration: Duration,
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
    let deadline = started + duration;
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

/// Eight readers, one per partition, from the earliest event. Each stops once it has read its
/// partition's target (which may be raised or set later, for live runs) or after 30 s of
/// silence. Every read event counts in `counter` and adds its age (now − enqueued time) to
/// `age_ms`. Returns how long the readers took.
async fn read_all(
    emu: &Endpoint,
    hub: &str,
    targets: Arc<Vec<AtomicU64>>,
    counter: Arc<AtomicU64>,
    age_ms: Arc<Mutex<Histogram<u64>>>,
) -> Duration {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..targets.len() {
        let client = consumer(emu, hub).await;
        let (counter, targets, age_ms) = (counter.clone(), targets.clone(), age_ms.clone());
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
            let mut ages = Histogram::<u64>::new(3).expect("histogram");
            let mut read = 0;
            let mut last_event = Instant::now();
            while read < targets[p].load(Ordering::Relaxed) {
                // Short waits, so that a target set while waiting ends the reader promptly.
                match tokio::time::timeout(Duration::from_millis(50), stream.next()).await {
                    Ok(Some(Ok(event))) => {
                        last_event = Instant::now();
                        read += 1;
                        counter.fetch_add(1, Ordering::Relaxed);
                        if let Some(age) = event
                            .enqueued_time()
                            .and_then(|t| SystemTime::now().duration_since(t).ok())
                        {
                            // Auto-resizing, so it records any age.
                            let _ = ages.record(u64::try_from(age.as_millis()).unwrap_or(0));
                        }
                    }
                    Err(_) if last_event.elapsed() < Duration::from_secs(30) => {}
                    _ => break,
                }
            }
            age_ms
                .lock()
                .expect("ages")
                .add(&ages)
                .expect("same histogram shape");
        }));
    }
    for t in tasks {
        t.await.expect("reader");
    }
    started.elapsed()
}

async fn partition_totals(emu: &Endpoint, hub: &str) -> Vec<u64> {
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

/// Process-wide user and system CPU seconds so far (bench diagnostics: where the time goes).
fn user_sys() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |r| r.1);
    let mut f = rest.split_whitespace().skip(11);
    let u: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let k: f64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    (u / 100.0, k / 100.0)
}

/// CPU seconds (user + system) used so far by a `/proc` stat file's process or thread.
fn cpu_seconds_in(stat_path: &std::path::Path) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    std::fs::read_to_string(stat_path)
        .ok()
        .and_then(|s| {
            // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
            let rest = s.rsplit_once(')')?.1;
            let mut fields = rest.split_whitespace().skip(11);
            let utime: f64 = fields.next()?.parse().ok()?;
            let stime: f64 = fields.next()?.parse().ok()?;
            Some((utime + stime) / ticks_per_second)
        })
        .unwrap_or(0.0)
}

/// CPU seconds used so far by the whole process and by each role's threads.
#[derive(Clone, Copy, Default)]
struct CpuUse {
    process: f64,
    endpoint: f64,
    producers: f64,
    readers: f64,
}

impl CpuUse {
    fn now() -> Self {
        let mut used = Self {
            process: cpu_seconds_in(std::path::Path::new("/proc/self/stat")),
            ..Self::default()
        };
        for task in std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(name) = std::fs::read_to_string(task.path().join("comm")) else {
                continue;
            };
            let seconds = cpu_seconds_in(&task.path().join("stat"));
            match name.trim() {
                "emulator" => used.endpoint += seconds,
                "clients" => used.producers += seconds,
                "readers" => used.readers += seconds,
                _ => {}
            }
        }
        used
    }

    fn since(self, before: Self) -> Self {
        Self {
            process: self.process - before.process,
            endpoint: self.endpoint - before.endpoint,
            producers: self.producers - before.producers,
            readers: self.readers - before.readers,
        }
    }
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

/// The endpoint, the producers and the live readers each run on their own runtime (threads named
/// `emulator`, `clients` and `readers`), as three processes would: a live reader is its own
/// program, not a task queued behind a producer's batch building. Profiles can tell them apart.
fn main() {
    let emulator_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("emulator")
        .enable_all()
        .build()
        .expect("emulator runtime");
    let clients_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("clients")
        .enable_all()
        .build()
        .expect("clients runtime");
    let readers_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("readers")
        .enable_all()
        .build()
        .expect("readers runtime");
    clients_runtime.block_on(run(
        emulator_runtime.handle().clone(),
        readers_runtime.handle().clone(),
    ));
}

async fn start(on: &tokio::runtime::Handle, config: EmulatorConfig) -> RunningEmulator {
    on.spawn(RunningEmulator::start(config, "127.0.0.1:0"))
        .await
        .expect("emulator task")
        .expect("emulator")
}

async fn stop(on: &tokio::runtime::Handle, emu: RunningEmulator) {
    on.spawn(emu.shutdown()).await.expect("emulator shutdown");
}

async fn run(emulator_runtime: tokio::runtime::Handle, readers_runtime: tokio::runtime::Handle) {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    println!("| case | events/s | MB/s |");
    println!("|---|---:|---:|");
    // First, while the process is fresh: the allocator keeps freed memory for reuse, which would
    // hide the store's footprint behind what earlier cases left.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let only_live = only == "live";
    let only_single = only == "single";
    // `BENCH_ONLY=batched1k`: batched 1 KiB ingest over 8 connections, nothing else (profiling).
    let only_batched = only == "batched1k";
    let chosen_rate: Option<f64> = std::env::var("BENCH_LIVE_RATE")
        .ok()
        .and_then(|r| r.parse().ok());
    if chosen_rate.is_none() && !only_single && !only_batched {
        let bytes = memory_per_million();
        println!(
            "| memory: 1M stored 1 KiB events (store alone) | {:.0} MiB RSS | {:.0} B/event |",
            bytes / 1024.0 / 1024.0,
            bytes / 1e6
        );
    }
    let mut round = 0;
    for size in [100usize, 1024]
        .into_iter()
        .filter(|_| !only_live && chosen_rate.is_none())
        .filter(|size| !only_batched || *size == 1024)
    {
        for mode in [Mode::Single, Mode::Batched]
            .into_iter()
            .filter(|mode| !only_single || matches!(mode, Mode::Single))
            .filter(|mode| !only_batched || matches!(mode, Mode::Batched))
        {
            for connections in [1usize, 8].into_iter().filter(|c| !only_batched || *c == 8) {
                round += 1;
                let hub = format!("ingest{round}");
                let emu = start(&emulator_runtime, config(&hub)).await;
                let endpoint = Endpoint::of(&emu);
                let (u0, k0) = user_sys();
                let (events, elapsed) = ingest(
                    &endpoint,
                    &hub,
                    size,
                    mode,
                    connections,
                    None,
                    CASE_DURATION,
                )
                .await;
                let rate = events as f64 / elapsed.as_secs_f64();
                println!(
                    "| ingest {size} B, {mode:?}, {connections} conn | {rate:.0} | {:.1} |",
                    rate * size as f64 / 1e6
                );
                let (u1, k1) = user_sys();
                println!(
                    "|   process CPU per event: user {:.2} µs, system {:.2} µs, RSS {} MiB |",
                    (u1 - u0) * 1e6 / events as f64,
                    (k1 - k0) * 1e6 / events as f64,
                    rss_bytes() / 1024 / 1024
                );
                if matches!(mode, Mode::Batched) && connections == 8 && !only_batched {
                    let totals = partition_totals(&endpoint, &hub).await;
                    let total: u64 = totals.iter().sum();
                    let targets = Arc::new(totals.into_iter().map(AtomicU64::new).collect());
                    let elapsed = read_all(
                        &endpoint,
                        &hub,
                        targets,
                        Arc::new(AtomicU64::new(0)),
                        Arc::new(Mutex::new(Histogram::new(3).expect("histogram"))),
                    )
                    .await;
                    let rate = total as f64 / elapsed.as_secs_f64();
                    println!(
                        "| deliver {size} B, 8 readers (backlog of {total}) | {rate:.0} | {:.1} |",
                        rate * size as f64 / 1e6
                    );
                }
                stop(&emulator_runtime, emu).await;
            }
        }
    }

    // Live: ingest and read at the same time, flat out and paced at the target rate (or only
    // paced, at BENCH_LIVE_RATE events/s).
    let live_cases = match chosen_rate {
        _ if only_single || only_batched => vec![],
        Some(rate) => vec![(format!("paced at {rate}/s"), Some(rate))],
        None => vec![
            ("flat out".to_owned(), None),
            ("paced at 100k/s".to_owned(), Some(100_000.0)),
        ],
    };
    for (label, rate) in live_cases {
        live_case(&label, rate, &emulator_runtime, &readers_runtime).await;
    }
    eprintln!("live: emulator stopped");
}

/// One live case: paced (or flat-out) batched ingest with 8 readers running from the start.
async fn live_case(
    label: &str,
    rate: Option<f64>,
    emulator_runtime: &tokio::runtime::Handle,
    readers_runtime: &tokio::runtime::Handle,
) {
    let hub = "live";
    let emu = start(emulator_runtime, config(hub)).await;
    let read = Arc::new(AtomicU64::new(0));
    let ages = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    // Unbounded until ingest ends; then each reader's target is what its partition holds.
    let targets: Arc<Vec<AtomicU64>> =
        Arc::new((0..PARTITIONS).map(|_| AtomicU64::new(u64::MAX)).collect());
    let endpoint = Endpoint::of(&emu);
    let readers = readers_runtime.spawn({
        let (endpoint, targets) = (endpoint.clone(), targets.clone());
        let (read, ages) = (read.clone(), ages.clone());
        async move { read_all(&endpoint, hub, targets, read, ages).await }
    });
    eprintln!("live {label}: starting");
    let progress = tokio::spawn({
        let read = read.clone();
        async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                eprintln!(
                    "{:5.1} s: {} events read so far",
                    t0.elapsed().as_secs_f64(),
                    read.load(Ordering::Relaxed)
                );
            }
        }
    });
    let (cpu_before, wall_before) = (CpuUse::now(), Instant::now());
    let (events, elapsed) =
        ingest(&endpoint, hub, 1024, Mode::Batched, 8, rate, LIVE_DURATION).await;
    let ingest_ended = Instant::now();
    let read_at_end = read.load(Ordering::Relaxed);
    for (target, total) in targets.iter().zip(partition_totals(&endpoint, hub).await) {
        target.store(total, Ordering::Relaxed);
    }
    let caught_up = tokio::time::timeout(Duration::from_secs(60), readers)
        .await
        .is_ok();
    let catch_up = ingest_ended.elapsed();
    let (cpu, wall) = (
        CpuUse::now().since(cpu_before),
        wall_before.elapsed().as_secs_f64(),
    );
    let read_total = read.load(Ordering::Relaxed);
    let ingested = events + u64::from(PARTITIONS);
    let per_event = |seconds: f64| seconds * 1e6 / ingested as f64;
    eprintln!(
        "live {label}: {:.2} cores busy on average: endpoint {:.2}, producers {:.2}, readers {:.2}; \
         CPU per event: endpoint {:.1} µs (in and out), producers {:.1} µs, readers {:.1} µs",
        cpu.process / wall,
        cpu.endpoint / wall,
        cpu.producers / wall,
        cpu.readers / wall,
        per_event(cpu.endpoint),
        per_event(cpu.producers),
        per_event(cpu.readers),
    );
    println!(
        "| live {label}: 1 KiB batched ingest, 8 conn, with 8 readers | {:.0} | {:.1} |",
        events as f64 / elapsed.as_secs_f64(),
        events as f64 * 1024.0 / elapsed.as_secs_f64() / 1e6
    );
    let (p50, p99, max) = {
        let ages = ages.lock().expect("ages");
        (
            ages.value_at_quantile(0.5),
            ages.value_at_quantile(0.99),
            ages.max(),
        )
    };
    println!(
        "| live {label}: read by the end of ingest; all {ingested} read {} after it; \
         age when read p50 / p99 / max | {:.0} % | {p50} / {p99} / {max} ms |",
        if caught_up && read_total >= ingested {
            format!("{} ms", catch_up.as_millis())
        } else {
            format!("not within 60 s ({read_total} read)")
        },
        read_at_end as f64 * 100.0 / ingested as f64,
    );
    progress.abort();
    stop(emulator_runtime, emu).await;
}
