//! Memory over repeated load runs, as a user makes them: the app on its own embedded endpoint
//! (the first-run profile), ten runs in a row from the Load tab at 5,000 events/s for 20 s with
//! 1 KiB events, and the process's resident memory after each. The endpoint keeps what was
//! sent, as the service would, up to the in-app store's bound.
//!
//! Run: `cargo run --release --example bench_load_runs` (about four minutes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connected, rss_mib, FRAME};
use egui_kittest::kittest::Queryable;
use hubscope::profiles::ProfileStore;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 10;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = ProfileStore::in_dir(dir.path());
    let mut harness = connected(store, Arc::new(|| {}));
    harness.state_mut().view = hubscope::ui::View::Load;
    harness.run_steps(2);
    println!("| after | sent | RSS |");
    println!("|---|---:|---:|");
    println!("| start, connected | - | {:.0} MiB |", rss_mib());
    for run in 1..=RUNS {
        {
            let load = &mut harness.state_mut().load;
            load.rate = "5000".into();
            load.duration = "20s".into();
            load.event_size = 1024;
        }
        harness.run_steps(2);
        harness.get_by_label("Start load").click();
        harness.run_steps(2);
        let deadline = Instant::now() + Duration::from_secs(60);
        while harness.state().load.result.is_none() {
            assert!(Instant::now() < deadline, "run {run} did not finish");
            harness.step();
            std::thread::sleep(FRAME);
        }
        let sent = match &harness.state().load.result {
            Some(Ok(result)) => result.report.events_sent.to_string(),
            Some(Err(e)) => format!("failed: {e}"),
            None => unreachable!(),
        };
        // A second for what the run let go of to be returned.
        for _ in 0..60 {
            harness.step();
            std::thread::sleep(FRAME);
        }
        println!("| run {run} | {sent} | {:.0} MiB |", rss_mib());
    }
}
