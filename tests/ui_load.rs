//! The load panel driven by label against the app's own embedded endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::ui::{app, shows, type_into, wait_for};

use std::time::{Duration, Instant};

use egui_kittest::kittest::Queryable;

#[test]
fn plan_start_watch_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = app(dir.path(), [1400.0, 1000.0]);
    wait_for(&mut harness, "the connection", |h| shows(h, "Hub eh1"));
    harness.get_by_label("Load").click();
    harness.run_steps(3);
    // Every text field of the plan is wide enough to read what is typed, in either column.
    for field in ["Rate", "Duration", "Template", "Routing"] {
        let widest = (harness.query_all_by_label(field))
            .map(|node| node.rect().width())
            .fold(0.0, f32::max);
        assert!(widest >= 150.0, "{field} is {widest} px wide");
    }

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
    // The hub's own count, per partition: round-robin over two partitions, nobody else sending.
    let result = harness.state().load.result.clone().unwrap().unwrap();
    let counted: u64 = result.per_partition.iter().map(|(_, n)| n).sum();
    assert_eq!(counted, report.events_sent, "{:?}", result.per_partition);
    assert!(
        result.per_partition.iter().all(|(_, n)| *n > 0),
        "{:?}",
        result.per_partition
    );
    assert!(shows(
        &harness,
        "Events per partition, as the hub counted them"
    ));
    // The status line ends on the report's totals, not the last second's.
    harness.run_steps(3);
    assert!(
        shows(&harness, &format!("{} sent", report.events_sent)),
        "the status line agrees with the report"
    );
    assert!(shows(&harness, "Finished after"));

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
