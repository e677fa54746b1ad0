//! The load panel driven by label against the app's own embedded endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use hubscope::profiles::ProfileStore;
use hubscope::ui::HubscopeApp;

const PATIENCE: Duration = Duration::from_secs(30);

fn app(dir: &Path) -> Harness<'static, HubscopeApp> {
    let store = ProfileStore::in_dir(dir);
    let loaded = store.load().expect("profiles load");
    let app = HubscopeApp::new(store, loaded, Arc::new(|| {})).expect("app starts");
    Harness::builder()
        .with_size([1400.0, 1000.0])
        .build_ui_state(|ui, app: &mut HubscopeApp| app.ui(ui), app)
}

fn wait_for(
    harness: &mut Harness<'_, HubscopeApp>,
    what: &str,
    done: impl Fn(&Harness<'_, HubscopeApp>) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        harness.step();
        if done(harness) {
            return;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn shows(harness: &Harness<'_, HubscopeApp>, text: &str) -> bool {
    harness.query_all_by_label_contains(text).next().is_some()
}

fn type_into(harness: &mut Harness<'_, HubscopeApp>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.key_press(egui::Key::Backspace);
    harness.get_by_label(label).type_text(text);
    harness.run_steps(2);
}

#[test]
fn plan_start_watch_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path());
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("Load").click();
    harness.run_steps(3);

    type_into(&mut harness, "Rate", "fast");
    assert!(
        shows(&harness, "is not a positive rate"),
        "a bad plan is explained"
    );
    type_into(&mut harness, "Rate", "5000");
    assert!(
        shows(&harness, "needs about 6 throughput unit"),
        "bytes bind: 5,000 x 1 KiB is 5.1 MB/s"
    );
    type_into(&mut harness, "Rate", "500");
    type_into(&mut harness, "Duration", "2s");
    type_into(&mut harness, "Routing", "round-robin");
    harness.get_by_label("Start load").click();
    wait_for(&mut harness, "the report", |h| {
        shows(h, "Events sent (acknowledged)")
    });
    let result = harness.state().load.result.clone().expect("finished");
    let report = result.expect("the run succeeded").report;
    assert!((900..=1100).contains(&report.events_sent), "{report:?}");
    assert_eq!(report.events_failed, 0);
    assert!(shows(&harness, "Export JSON"));
    assert!(
        shows(&harness, "partition") || shows(&harness, "0:"),
        "events per destination are listed"
    );

    // A long run stops within a second of pressing Stop.
    type_into(&mut harness, "Duration", "60s");
    harness.get_by_label("Start load").click();
    wait_for(&mut harness, "the second run to start", |h| {
        h.state().load.progress.is_some() && h.state().load.result.is_none()
    });
    std::thread::sleep(Duration::from_millis(1500));
    harness.step();
    let stopped_at = Instant::now();
    harness.get_by_label("Stop load").click();
    wait_for(&mut harness, "the stop", |h| {
        h.state().load.result.is_some()
    });
    assert!(
        stopped_at.elapsed() < Duration::from_secs(3),
        "stopped in {:?}",
        stopped_at.elapsed()
    );
    assert!(shows(&harness, "stopped by the user"));
}
