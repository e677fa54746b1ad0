//! The send composer driven by label against the app's own embedded endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{app, shows, type_into, wait_for};

use egui_kittest::kittest::Queryable;

#[test]
fn compose_validate_send_and_see_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1280.0, 900.0]);
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
