//! The send composer driven by label against the app's own embedded endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use hubscope::profiles::ProfileStore;
use hubscope::ui::HubscopeApp;

const PATIENCE: Duration = Duration::from_secs(20);

fn app(dir: &Path) -> Harness<'static, HubscopeApp> {
    let store = ProfileStore::in_dir(dir);
    let loaded = store.load().expect("profiles load");
    let app = HubscopeApp::new(store, loaded, Arc::new(|| {})).expect("app starts");
    Harness::builder()
        .with_size([1280.0, 900.0])
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
    harness.get_by_label(label).type_text(text);
    harness.run_steps(2);
}

#[test]
fn compose_validate_send_and_see_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path());
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("Composer").click();
    harness.run_steps(3);

    harness.get_by_label("JSON").click();
    harness.run_steps(2);
    type_into(&mut harness, "Body", r#"{"temp": "#);
    assert!(
        shows(&harness, "not valid JSON"),
        "the JSON problem is shown"
    );
    harness.get_by_label("Send").click();
    harness.run_steps(3);
    assert!(
        shows(&harness, "Nothing sent yet"),
        "an invalid event is not sent"
    );

    type_into(&mut harness, "Body", r#"{"temp": 21}"#);
    assert!(!shows(&harness, "not valid JSON"));
    harness.get_by_label("Partition id").click();
    harness.run_steps(3);
    harness.get_by_label("Send").click();
    wait_for(&mut harness, "the send's result", |h| {
        shows(h, "sent 1 event to partition 0")
    });
    assert!(shows(&harness, "Recently sent from this profile"));

    // The inspector sees the event in partition 0.
    harness.get_by_label("Inspector").click();
    harness.run_steps(3);
    harness.get_by_label("Refresh now").click();
    wait_for(&mut harness, "the event in the inspector", |h| {
        h.state()
            .snapshot()
            .hub
            .as_ref()
            .is_some_and(|hub| !hub.partitions[0].is_empty)
    });
}
