//! `hubscope tail` against the embedded endpoint, and the export → replay round trip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hubscope_async, stderr, stdout};
use hubscope::emulator::RunningEmulator;
use hubscope::producer::export_format::ExportedEvent;

async fn run(emu: &RunningEmulator, hub: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec![
        args[0].to_string(),
        "--connection-string".into(),
        format!("{}EntityPath={hub}", emu.connection_string()),
    ];
    all.extend(args[1..].iter().map(|s| (*s).to_string()));
    hubscope_async(all, dir.path().to_path_buf()).await
}

fn lines(output: &std::process::Output) -> Vec<ExportedEvent> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_every_field_and_stops_when_told() {
    let emu = common::emulator_with(common::hubs(&[("src", 2), ("dst", 2)])).await;
    let sent = run(
        &emu,
        "src",
        &[
            "send",
            "--partition-key",
            "k1",
            "--body",
            "{\"n\": {{seq}}}",
            "--count",
            "4",
            "--content-type",
            "application/json",
            "--property",
            "site=a",
            "--property",
            "n:int=3",
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    let binary = run(
        &emu,
        "src",
        &["send", "--partition-id", "1", "--body", "plain"],
    )
    .await;
    assert!(binary.status.success(), "{}", stderr(&binary));

    let started = std::time::Instant::now();
    let all = run(
        &emu,
        "src",
        &[
            "tail",
            "--from",
            "earliest",
            "--idle-timeout",
            "2",
            "--output",
            "jsonl",
        ],
    )
    .await;
    assert!(all.status.success(), "{}", stderr(&all));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "the idle timeout ends it"
    );
    let events = lines(&all);
    assert_eq!(events.len(), 5, "{}", stdout(&all));
    let keyed: Vec<_> = events
        .iter()
        .filter(|e| e.partition_key.as_deref() == Some("k1"))
        .collect();
    assert_eq!(keyed.len(), 4);
    let seqs: Vec<i64> = keyed.iter().map(|e| e.sequence_number.unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
    assert_eq!(keyed[2].body, "{\"n\": 2}");
    assert_eq!(keyed[0].properties["n"], 3);
    assert_eq!(keyed[0].properties["site"], "a");
    assert_eq!(keyed[0].content_type.as_deref(), Some("application/json"));
    assert!(keyed[0].enqueued_time.as_deref().unwrap().ends_with('Z'));
    let plain = events
        .iter()
        .find(|e| e.body == "plain")
        .expect("plain event");
    assert_eq!(plain.partition_id.as_deref(), Some("1"));
    assert_eq!(plain.partition_key, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_limits_and_refusals() {
    let emu = common::emulator_with(common::hubs(&[("src", 2)])).await;
    let sent = run(&emu, "src", &["send", "--body", "e{{seq}}", "--count", "5"]).await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    let two = run(
        &emu,
        "src",
        &[
            "tail",
            "--from",
            "earliest",
            "--max-events",
            "2",
            "--output",
            "jsonl",
        ],
    )
    .await;
    assert!(two.status.success(), "{}", stderr(&two));
    assert_eq!(lines(&two).len(), 2, "stops after --max-events");
    let one_partition = run(
        &emu,
        "src",
        &[
            "tail",
            "--from",
            "earliest",
            "--partition",
            "1",
            "--idle-timeout",
            "1",
            "--output",
            "jsonl",
        ],
    )
    .await;
    assert!(lines(&one_partition)
        .iter()
        .all(|e| e.partition_id.as_deref() == Some("1")));
    let unknown = run(&emu, "src", &["tail", "--partition", "9"]).await;
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("partition `9` does not exist"),
        "{}",
        stderr(&unknown)
    );
    let bad_from = run(&emu, "src", &["tail", "--from", "yesterday"]).await;
    assert!(!bad_from.status.success());
    assert!(
        stderr(&bad_from).contains("earliest, latest, seq:N"),
        "{}",
        stderr(&bad_from)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_replays_into_the_same_events() {
    let emu = common::emulator_with(common::hubs(&[("src", 2), ("dst", 2)])).await;
    for key in ["a", "b", "c"] {
        let out = run(
            &emu,
            "src",
            &[
                "send",
                "--partition-key",
                key,
                "--body",
                &format!("{key}-{{{{seq}}}}"),
                "--count",
                "3",
                "--property",
                "flag:bool=true",
            ],
        )
        .await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    let tailed = run(
        &emu,
        "src",
        &[
            "tail",
            "--from",
            "earliest",
            "--idle-timeout",
            "2",
            "--output",
            "jsonl",
        ],
    )
    .await;
    std::fs::write(&export, stdout(&tailed)).unwrap();
    let replayed = run(&emu, "dst", &["send", "--replay", export.to_str().unwrap()]).await;
    assert!(replayed.status.success(), "{}", stderr(&replayed));
    let copy = run(
        &emu,
        "dst",
        &[
            "tail",
            "--from",
            "earliest",
            "--idle-timeout",
            "2",
            "--output",
            "jsonl",
        ],
    )
    .await;

    let strip = |events: Vec<ExportedEvent>| {
        let mut v: Vec<_> = events
            .into_iter()
            .map(|e| {
                (
                    e.partition_id,
                    e.partition_key,
                    e.body,
                    e.properties,
                    e.content_type,
                )
            })
            .collect();
        v.sort_by(|a, b| a.2.cmp(&b.2));
        v
    };
    let original = strip(lines(&tailed));
    assert_eq!(original.len(), 9);
    assert_eq!(
        original,
        strip(lines(&copy)),
        "same bodies, keys, partitions and properties"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_consumer_group_is_one_line_and_final() {
    let emu = common::emulator_with(common::hubs(&[("src", 2)])).await;
    let started = std::time::Instant::now();
    let out = run(&emu, "src", &["tail", "--consumer-group", "nosuch"]).await;
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "an unknown group is a failure: {err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "final, not retried"
    );
    assert!(
        err.contains("consumer group 'nosuch' does not exist on hub 'src'"),
        "in the service's words: {err}"
    );
    for debug in ["Described", "AmqpOrderedMap", "Some(", "attempt"] {
        assert!(!err.contains(debug), "no SDK debug text or retries: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_earliest_until_now_with_a_filter_searches_the_hub_and_ends() {
    let emu = common::emulator_with(common::hubs(&[("src", 2)])).await;
    let sent = run(
        &emu,
        "src",
        &[
            "send",
            "--body",
            "{\"n\": {{seq}}}",
            "--count",
            "10",
            "--content-type",
            "application/json",
            "--round-robin",
        ],
    )
    .await;
    assert!(sent.status.success(), "{}", stderr(&sent));
    let started = std::time::Instant::now();
    let found = run(
        &emu,
        "src",
        &[
            "tail",
            "--from",
            "earliest",
            "--until",
            "now",
            "--filter",
            ".body.n >= 7",
            "--output",
            "jsonl",
        ],
    )
    .await;
    assert!(found.status.success(), "{}", stderr(&found));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "it ends by itself"
    );
    let mut bodies: Vec<String> = lines(&found).into_iter().map(|e| e.body).collect();
    bodies.sort();
    assert_eq!(bodies, ["{\"n\": 7}", "{\"n\": 8}", "{\"n\": 9}"]);

    // Up to a sequence number, on one partition: 0, 1 and 2 of its five.
    let upto = run(
        &emu,
        "src",
        &[
            "tail",
            "--partition",
            "0",
            "--from",
            "earliest",
            "--until",
            "seq:2",
            "--output",
            "jsonl",
        ],
    )
    .await;
    assert!(upto.status.success(), "{}", stderr(&upto));
    let seqs: Vec<Option<i64>> = lines(&upto).iter().map(|e| e.sequence_number).collect();
    assert_eq!(seqs, [Some(0), Some(1), Some(2)]);

    // A filter that does not parse says where, before reading anything.
    let bad = run(&emu, "src", &["tail", "--filter", ".body.n >="]).await;
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("expected term at column 11"),
        "{}",
        stderr(&bad)
    );
}
