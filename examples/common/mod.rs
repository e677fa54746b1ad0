//! What the app benchmarks share: the real app on a saved profile, driven headless, and the
//! process's and the UI thread's resources as /proc tells them.
#![allow(dead_code)] // each example uses its part

use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use hubscope::profiles::{Profile, ProfileKind, ProfileStore, ProfilesFile, Secret};
use hubscope::ui::HubscopeApp;

pub const FRAME: Duration = Duration::from_millis(16);

/// Resident memory, MiB.
pub fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// CPU time (user + system) of `/proc/<path>/stat`: the process, or one thread.
fn cpu_time(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name and state.
    let ticks = fields.get(10).unwrap_or(&0) + fields.get(11).unwrap_or(&0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// The calling thread's CPU time.
pub fn thread_cpu() -> Duration {
    cpu_time("/proc/thread-self/stat")
}

/// The whole process's CPU time.
pub fn process_cpu() -> Duration {
    cpu_time("/proc/self/stat")
}

/// The app on a saved profile for `connection_string`'s `hub`, connected, on its Live tab.
/// `waker` is what the runtime calls to ask for a frame.
pub fn app_on(
    connection_string: String,
    hub: &str,
    dir: &std::path::Path,
    waker: hubscope::bridge::Waker,
) -> Harness<'static, HubscopeApp> {
    let mut profile = Profile::new_connection_string();
    profile.name = "bench".into();
    profile.kind = ProfileKind::ConnectionString {
        connection_string: Secret::new(connection_string),
        hub: Some(hub.into()),
    };
    let store = ProfileStore::in_dir(dir);
    store
        .save(&ProfilesFile {
            selected: Some("bench".into()),
            profiles: vec![profile],
            ..ProfilesFile::default()
        })
        .expect("profiles saved");
    let mut harness = connected(store, waker);
    harness.state_mut().view = hubscope::ui::View::Live;
    harness.run_steps(2);
    harness
}

/// The app on the profiles in `store` (a first run when empty), once it has connected.
pub fn connected(
    store: ProfileStore,
    waker: hubscope::bridge::Waker,
) -> Harness<'static, HubscopeApp> {
    let loaded = store.load().expect("profiles load");
    let app = HubscopeApp::new(store, loaded, waker).expect("app starts");
    let mut harness = Harness::builder()
        .with_size([1400.0, 1000.0])
        .with_max_steps(u64::MAX)
        .build_ui_state(|ui, app: &mut HubscopeApp| app.ui(ui), app);
    let deadline = Instant::now() + Duration::from_secs(20);
    while harness.state().snapshot().hub.is_none() {
        assert!(Instant::now() < deadline, "the app did not connect");
        harness.step();
        std::thread::sleep(FRAME);
    }
    harness
}

/// A waker that counts the runtime's requests for a frame.
pub fn counting_waker() -> (hubscope::bridge::Waker, Arc<std::sync::atomic::AtomicU64>) {
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = count.clone();
    let waker = Arc::new(move || {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    (waker, count)
}

/// Where the bench's own load and endpoint run, beside the app: at the UI's priority (another
/// program on the machine), or at the app runtime's, below it (the app's own embedded endpoint and
/// Load tab, which run on that runtime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPriority {
    Ui,
    AppRuntime,
}

/// A 2-thread runtime named `thread_name` (the bench's other programs) and, on it, the endpoint
/// with one hub `wide` of `partitions` partitions keeping at most `max_retained_bytes`.
pub fn wide_endpoint(
    thread_name: &str,
    partitions: u32,
    max_retained_bytes: u64,
    priority: LoadPriority,
) -> (tokio::runtime::Runtime, hubscope::emulator::RunningEmulator) {
    use hubscope::emulator::{EmulatorConfig, HubConfig, RunningEmulator};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(thread_name)
        .on_thread_start(move || {
            if priority == LoadPriority::AppRuntime {
                hubscope::bridge::yield_to_the_ui();
            }
        })
        .enable_all()
        .build()
        .expect("a runtime");
    let emu = runtime
        .block_on(RunningEmulator::start(
            EmulatorConfig {
                hubs: vec![HubConfig {
                    name: "wide".into(),
                    partition_count: partitions,
                    consumer_groups: vec![],
                }],
                max_retained_bytes,
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0",
        ))
        .expect("the endpoint starts");
    (runtime, emu)
}
