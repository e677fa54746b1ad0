//! The live consumer view under load: 32 partitions, about 50,000 events/s arriving from the
//! embedded endpoint, and the real app (its runtime, readers, collector and egui frame) driven
//! headless by `egui_kittest` at ~60 frames per second.
//!
//! Run: `cargo run --release --example bench_live_view` (about 40 s; with
//! `BENCH_LOAD_PRIORITY=app-runtime` the load and endpoint run below the UI, as the app's own
//! do; with `BENCH_JQ=<filter>` the view filters every event through it). Reports the UI thread's
//! time per frame (egui's whole frame: layout of every panel, the partition table, both charts
//! and the visible rows; GPU painting is not part of it, as it happens after the frame) and the
//! process's resident memory once the view holds its newest 100,000 events and at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};
use common::{app_on, rss_mib, FRAME};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use hubscope::consumer::live;
use hubscope::emulator::RunningEmulator;
use hubscope::ui::HubscopeApp;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: u32 = 32;
const TARGET_RATE: u64 = 50_000;
const TICK: Duration = Duration::from_millis(20);
const MEASURE: Duration = Duration::from_secs(30);

fn main() {
    // Bounded, so that the process memory measured is the view's, not the endpoint's store.
    // BENCH_LOAD_PRIORITY=app-runtime: the load and the endpoint below the UI, as the app's own
    // embedded endpoint and Load tab run; the default is the UI's priority, another program's.
    let priority = match std::env::var("BENCH_LOAD_PRIORITY").as_deref() {
        Ok("app-runtime") => common::LoadPriority::AppRuntime,
        _ => common::LoadPriority::Ui,
    };
    println!("load and endpoint priority: {priority:?}");
    let (runtime, emu) =
        common::wide_endpoint("bench-load", PARTITIONS, 64 * 1024 * 1024, priority);

    let dir = tempfile::tempdir().unwrap();
    let mut harness = live_app(&emu, dir.path());
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for client in 0..4 {
        runtime.spawn(load(&emu, client, sent.clone(), stop.clone()));
    }
    measure(&mut harness, &sent);
    stop.store(true, Ordering::Relaxed);
    drop(harness);
    runtime.block_on(emu.shutdown());
}

/// The app, connected to `emu` through a saved profile, with the live view started.
fn live_app(emu: &RunningEmulator, dir: &std::path::Path) -> Harness<'static, HubscopeApp> {
    let mut harness = app_on(emu.connection_string(), "wide", dir, Arc::new(|| {}));
    // A filter runs in the collector, while it holds the store: the frame must not wait for it.
    if let Ok(jq) = std::env::var("BENCH_JQ") {
        println!("jq filter: {jq}");
        harness.state_mut().live.jq = jq;
    }
    harness.get_by_label("Start").click();
    while harness.state().live.handle.is_none() {
        harness.step();
        std::thread::sleep(FRAME);
    }
    std::thread::sleep(Duration::from_secs(2)); // readers attach
    harness
}

/// Open-model load from one client: each of its partitions gets its share every tick.
fn load(
    emu: &RunningEmulator,
    client: u32,
    sent: Arc<AtomicU64>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let per_tick = TARGET_RATE * TICK.as_millis() as u64 / 1000 / u64::from(PARTITIONS);
    let (emu_cs, endpoint) = (emu.connection_string(), emu.custom_endpoint());
    async move {
        let producer = Arc::new(
            ProducerClient::builder()
                .with_custom_endpoint(endpoint)
                .open_with_connection_string(&emu_cs, Some("wide"))
                .await
                .unwrap(),
        );
        let body = format!("{{\"payload\": \"{}\"}}", "x".repeat(180));
        let mut tasks = Vec::new();
        for p in (client..PARTITIONS).step_by(4) {
            let (producer, sent, stop, body) =
                (producer.clone(), sent.clone(), stop.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let mut due = tokio::time::Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    due += TICK;
                    let batch = producer
                        .create_batch(Some(EventDataBatchOptions {
                            partition_id: Some(p.to_string()),
                            ..Default::default()
                        }))
                        .await
                        .unwrap();
                    for _ in 0..per_tick {
                        batch.try_add_event_data(body.clone(), None).unwrap();
                    }
                    if let Ok(Ok(())) = tokio::time::timeout(
                        Duration::from_secs(10),
                        producer.send_batch(batch, None),
                    )
                    .await
                    {
                        sent.fetch_add(per_tick, Ordering::Relaxed);
                    }
                    tokio::time::sleep_until(due).await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Steps frames for [`MEASURE`] and prints frame times, rates and memory.
fn measure(harness: &mut Harness<'static, HubscopeApp>, sent: &AtomicU64) {
    let handle = harness.state().live.handle.clone().unwrap();
    let received = || live::lock(&handle.store).received;
    let started = Instant::now();
    let received_at_start = received();
    let mut frames = Vec::new();
    // The UI thread's own work per frame, beside the wall time (which also counts the time the
    // thread waited for a core the endpoint, the load and the readers were using).
    let mut cpu_frames = Vec::new();
    let mut rss_full = None;
    let mut rss_samples = Vec::new();
    while started.elapsed() < MEASURE {
        let second = started.elapsed().as_secs();
        if second > 0 && second % 10 == 0 && rss_samples.last().is_none_or(|(s, _)| *s != second) {
            rss_samples.push((second, rss_mib()));
        }
        let (t, cpu) = (Instant::now(), cpu_time::ThreadTime::now());
        harness.step();
        let took = t.elapsed();
        frames.push(took);
        cpu_frames.push(cpu.elapsed());
        if rss_full.is_none() && live::lock(&handle.store).shown.len() >= live::DEFAULT_CAPACITY {
            rss_full = Some((started.elapsed().as_secs_f64(), rss_mib()));
        }
        std::thread::sleep(FRAME.saturating_sub(took));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let got = received() - received_at_start;
    frames.sort();
    cpu_frames.sort();
    let pct_of = |frames: &[Duration], p: f64| {
        frames[((frames.len() as f64 * p) as usize).min(frames.len() - 1)].as_secs_f64() * 1000.0
    };
    let pct = |p: f64| pct_of(&frames, p);
    println!("| measure | value |");
    println!("|---|---:|");
    println!(
        "| events sent (acknowledged) per second | {:.0} |",
        sent.load(Ordering::Relaxed) as f64 / elapsed
    );
    println!(
        "| events received by the view per second | {:.0} |",
        got as f64 / elapsed
    );
    println!("| frames | {} |", frames.len());
    println!("| UI frame time p50 | {:.2} ms |", pct(0.50));
    println!("| UI frame time p90 | {:.2} ms |", pct(0.90));
    println!("| UI frame time p99 | {:.2} ms |", pct(0.99));
    println!(
        "| UI frame time max | {:.2} ms |",
        frames.last().unwrap().as_secs_f64() * 1000.0
    );
    println!(
        "| UI thread CPU per frame p50 / p90 / p99 | {:.2} / {:.2} / {:.2} ms |",
        pct_of(&cpu_frames, 0.50),
        pct_of(&cpu_frames, 0.90),
        pct_of(&cpu_frames, 0.99)
    );
    if let Some((at, rss)) = rss_full {
        println!("| RSS when the view first held 100,000 events ({at:.0} s in) | {rss:.0} MiB |");
    }
    for (second, rss) in rss_samples {
        println!("| RSS at {second} s | {rss:.0} MiB |");
    }
    println!("| RSS at the end ({elapsed:.0} s) | {:.0} MiB |", rss_mib());
}
