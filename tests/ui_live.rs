//! The live consumer view driven by label: start readers, see events arrive, select one, filter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{app, shows, type_into, wait_for, App};

use egui_kittest::kittest::Queryable;

/// Sends `count` JSON events to partition 0 of the app's own embedded endpoint.
fn send_to_app(harness: &App, count: usize) {
    let port = common::ui::app_port(harness);
    let bodies = (0..count).map(|i| format!("{{\"n\": {i}, \"tag\": \"event-{i}\"}}"));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(common::ui::send_to_partition_0(port, bodies));
}

#[test]
fn live_view_reads_selects_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    send_to_app(&harness, 6);

    harness.get_by_label("Live").click();
    harness.run_steps(3);
    type_into(&mut harness, "Start from", "seq:abc");
    harness.get_by_label("Start").click();
    harness.run_steps(2);
    assert!(
        shows(&harness, "is not a sequence number"),
        "a bad start position is explained"
    );

    type_into(&mut harness, "Start from", "earliest");
    harness.get_by_label("Start").click();
    wait_for(&mut harness, "six events", |h| {
        shows(h, "6 received, 6 shown")
    });
    assert!(shows(&harness, "Lag (events)"));

    assert!(harness.state().live.follow, "the list follows the newest");
    harness.get_by_label_contains("event-3").click();
    harness.run_steps(3);
    assert!(
        !harness.state().live.follow,
        "selecting a row stops following"
    );
    assert!(shows(&harness, "Jump to newest"));
    harness.get_by_label("Jump to newest").click();
    harness.run_steps(3);
    assert!(
        harness.state().live.follow,
        "and following comes back in one click"
    );
    assert!(
        shows(&harness, "Partition 0, sequence number 3"),
        "the detail pane shows the event"
    );
    // Copied as the body, as it was sent.
    harness.get_by_label("Copy body").click();
    harness.step();
    let copied: Vec<String> = (harness.output().platform_output.commands.iter())
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(copied, ["{\"n\": 3, \"tag\": \"event-3\"}"]);

    type_into(&mut harness, "Search", "event-4");
    harness.get_by_label("Apply filter").click();
    wait_for(&mut harness, "the filtered view", |h| {
        shows(h, "6 received, 1 match the filter")
    });

    type_into(&mut harness, "Search", "");
    type_into(&mut harness, "jq filter", ".body.n >= 2");
    harness.get_by_label("Apply filter").click();
    wait_for(&mut harness, "the jq filter", |h| {
        shows(h, "6 received, 4 match the filter")
    });

    // The error takes the line the filter's description had: nothing below it moves.
    let before = harness.get_by_label("Export events…").rect();
    type_into(&mut harness, "jq filter", ".body.n >=");
    harness.get_by_label("Apply filter").click();
    wait_for(&mut harness, "the filter error", |h| {
        shows(
            h,
            "does not parse: expected term at column 11, found the end",
        )
    });
    assert!(
        shows(&harness, "Not applied"),
        "it says the filter is not applied"
    );
    assert!(
        shows(&harness, "The view still filters by jq `.body.n >= 2`"),
        "and which one is"
    );
    assert!(shows(&harness, "6 received, 4 match the filter"));
    assert_eq!(harness.get_by_label("Export events…").rect(), before);

    // Exported through the app's own file prompt: a desktop without a file-chooser portal
    // still gets its file, and a path that cannot be written is said where it is typed.
    harness.get_by_label("Export events…").click();
    wait_for(&mut harness, "the file prompt", |h| {
        shows(h, "Export the events the filter shows")
    });
    let nowhere = dir.path().join("missing").join("events.jsonl");
    type_into(&mut harness, "File", nowhere.to_str().unwrap());
    harness.get_by_label("Export").click();
    harness.run_steps(2);
    assert!(shows(&harness, "does not exist"), "the bad folder is named");
    let file = dir.path().join("events.jsonl");
    type_into(&mut harness, "File", file.to_str().unwrap());
    harness.get_by_label("Export").click();
    wait_for(&mut harness, "the export", |h| {
        shows(h, "Exported 4 events to")
    });
    let exported = std::fs::read_to_string(&file).unwrap();
    assert_eq!(exported.lines().count(), 4, "{exported}");
    assert!(exported.contains("event-5"));

    harness.get_by_label("Stop").click();
    wait_for(&mut harness, "the readers to stop", |h| shows(h, "stopped"));
}

#[test]
fn an_unknown_consumer_group_stops_the_readers_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("Live").click();
    harness.run_steps(3);
    type_into(&mut harness, "Consumer group", "nosuch");
    harness.get_by_label("Start").click();
    wait_for(&mut harness, "the reason", |h| {
        shows(h, "consumer group 'nosuch' does not exist on hub 'eh1'")
    });
    assert!(!shows(&harness, "Described"), "no SDK debug text");
    assert!(!shows(&harness, "reconnecting"), "not retried");
    // The notification history keeps it.
    wait_for(&mut harness, "the notice", |h| {
        shows(h, "The live view stopped reading")
    });
    // The hub's groups are offered beside the typed field.
    harness.get_by_label("Known groups").click();
    harness.run_steps(3);
    harness.get_by_label("cg1").click();
    harness.run_steps(3);
    assert_eq!(harness.state().live.consumer_group, "cg1");
    // Start positions from a drop-down; the typed forms stay.
    harness.get_by_label("Start presets").click();
    harness.run_steps(3);
    harness.get_by_label("a sequence number").click();
    harness.run_steps(3);
    assert_eq!(harness.state().live.start, "seq:0");
}

#[test]
fn a_search_reads_what_is_there_now_through_the_filter_and_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    send_to_app(&harness, 6);
    harness.get_by_label("Live").click();
    harness.run_steps(3);
    // The preset fills in the range; the filter in the field is the search's.
    harness.get_by_label("Start presets").click();
    harness.run_steps(3);
    harness.get_by_label("search everything there now").click();
    harness.run_steps(3);
    assert_eq!(harness.state().live.start, "earliest");
    assert_eq!(harness.state().live.until, "now");
    type_into(&mut harness, "jq filter", ".body.n == 4 or .body.n == 1");
    harness.get_by_label("Start").click();
    wait_for(&mut harness, "the search to end", |h| {
        shows(h, "Search finished: 6 events scanned")
    });
    assert!(shows(&harness, "2 match"), "both matches are counted");
    assert!(shows(&harness, "event-4") && shows(&harness, "event-1"));
    assert!(
        !shows(&harness, "event-3"),
        "what does not match is not listed"
    );
    // Events that came after the search began are outside it.
    send_to_app(&harness, 3);
    harness.run_steps(10);
    assert!(shows(&harness, "Search finished: 6 events scanned"));
    assert!(
        !harness
            .state()
            .live
            .handle
            .as_ref()
            .unwrap()
            .snapshot
            .borrow()
            .running
    );

    // An end inside what is there: the events after it, already waiting, are outside.
    type_into(&mut harness, "jq filter", "");
    type_into(&mut harness, "Until", "seq:2");
    harness.get_by_label("Start").click();
    wait_for(&mut harness, "the bounded search to end", |h| {
        shows(h, "Search finished: 3 events scanned")
    });
    assert!(shows(&harness, "event-2") && !shows(&harness, "event-3"));
}
