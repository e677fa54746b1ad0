//! The app idle with a live view on: 32 readers on an empty 32-partition hub, and nothing
//! arriving. The real app runs headless under `egui_kittest`, and frames are drawn the way
//! eframe draws them: only when the runtime's waker or egui itself (a delayed repaint, an
//! animation) asks for one. Reports the frames drawn and the CPU share of the UI thread and of
//! the whole process (runtime, readers and the embedded endpoint included).
//!
//! Run: `cargo run --release --example bench_idle` (about 40 s).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{app_on, counting_waker, process_cpu, thread_cpu, FRAME};
use egui_kittest::kittest::Queryable;
use hubscope::emulator::EmulatorConfig;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PARTITIONS: u32 = 32;
const MEASURE: Duration = Duration::from_secs(30);

fn main() {
    let (runtime, emu) = common::wide_endpoint(
        "bench-endpoint",
        PARTITIONS,
        EmulatorConfig::default().max_retained_bytes,
        common::LoadPriority::Ui,
    );
    let dir = tempfile::tempdir().unwrap();
    let (waker, woken) = counting_waker();
    let mut harness = app_on(emu.connection_string(), "wide", dir.path(), waker);
    // egui's own requests, as eframe hears them: the earliest frame any of them asks for.
    let due: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let asked = due.clone();
    harness.ctx.set_request_repaint_callback(move |info| {
        let at = Instant::now() + info.delay;
        let mut due = asked.lock().unwrap();
        *due = Some(due.map_or(at, |d| d.min(at)));
    });
    harness.get_by_label("Start").click();
    harness.run_steps(2);
    // The readers attach and settle into "idle" (2 s without events) before measuring.
    let settle = Instant::now() + Duration::from_secs(5);
    while Instant::now() < settle {
        harness.step();
        std::thread::sleep(FRAME);
    }
    let readers = harness
        .state()
        .live
        .handle
        .as_ref()
        .unwrap()
        .snapshot
        .borrow()
        .states
        .len();

    let (ui_before, process_before) = (thread_cpu(), process_cpu());
    let woken_before = woken.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut frames = 0u64;
    let mut last_woken = woken_before;
    while started.elapsed() < MEASURE {
        let now = Instant::now();
        let waker_asked = woken.load(Ordering::Relaxed) != last_woken;
        let egui_asked = due.lock().unwrap().is_some_and(|d| d <= now);
        if waker_asked || egui_asked {
            last_woken = woken.load(Ordering::Relaxed);
            *due.lock().unwrap() = None;
            harness.step();
            frames += 1;
        }
        std::thread::sleep(Duration::from_millis(4));
    }
    let elapsed = started.elapsed();
    let share = |cpu: Duration| cpu.as_secs_f64() * 100.0 / elapsed.as_secs_f64();
    println!(
        "| measure ({readers} readers, empty hub, {} s) | value |",
        elapsed.as_secs()
    );
    println!("|---|---:|");
    println!(
        "| frames drawn | {frames} ({:.2}/s) |",
        frames as f64 / elapsed.as_secs_f64()
    );
    println!(
        "| runtime wake-ups | {} |",
        woken.load(Ordering::Relaxed) - woken_before
    );
    println!(
        "| UI thread CPU | {:.2} % of a core |",
        share(thread_cpu().saturating_sub(ui_before))
    );
    println!(
        "| whole process CPU (app, readers, endpoint) | {:.2} % of a core |",
        share(process_cpu().saturating_sub(process_before))
    );
    drop(harness);
    runtime.block_on(emu.shutdown());
}
