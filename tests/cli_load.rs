//! `hubscope load` end to end against the embedded endpoint: what it reports as sent is what the
//! hub holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{hubscope_async, stderr, stdout};
use hubscope::emulator::RunningEmulator;

async fn load(emu: &RunningEmulator, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec![
        "load".to_string(),
        "--connection-string".into(),
        format!("{}EntityPath=eh1", emu.connection_string()),
    ];
    all.extend(args.iter().map(|s| (*s).to_string()));
    hubscope_async(all, dir.path().to_path_buf()).await
}

async fn held(emu: &RunningEmulator) -> u64 {
    let client = common::consumer(emu, "eh1", None).await;
    let mut total = 0;
    for id in ["0", "1"] {
        let p = client.get_partition_properties(id).await.unwrap();
        if !p.is_empty {
            total +=
                u64::try_from(p.last_enqueued_sequence_number - p.beginning_sequence_number + 1)
                    .unwrap();
        }
    }
    client.close().await.unwrap();
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_rate_run_reports_what_the_hub_holds() {
    let emu = common::emulator().await;
    let out = load(
        &emu,
        &[
            "--rate",
            "1000",
            "--duration",
            "2s",
            "--event-size",
            "256",
            "--routing",
            "round-robin",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    let sent = report["events_sent"].as_u64().unwrap();
    assert_eq!(
        sent,
        held(&emu).await,
        "events_sent counts only what the hub acknowledged"
    );
    assert!((1900..=2100).contains(&sent), "{sent}");
    assert_eq!(report["events_failed"], 0);
    assert_eq!(report["target_rate_per_sec"], 1000.0);
    let achieved = report["achieved_rate_per_sec"].as_f64().unwrap();
    assert!((950.0..=1050.0).contains(&achieved), "{achieved}");
    assert_eq!(report["bytes_sent"].as_u64().unwrap(), sent * 256);
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(report["latency_ms"][key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(report["errors"].as_object().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_rate_with_an_event_count_and_bad_plans() {
    let emu = common::emulator().await;
    let out = load(
        &emu,
        &[
            "--rate",
            "max",
            "--events",
            "5000",
            "--event-size",
            "100",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(report["target_rate_per_sec"].is_null());
    assert_eq!(report["events_sent"], 5000);
    assert_eq!(held(&emu).await, 5000);

    for (args, expected) in [
        (
            vec![
                "--rate",
                "100",
                "--duration",
                "1s",
                "--routing",
                "partition:9",
            ],
            "partition `9` does not exist",
        ),
        (
            vec!["--rate", "fast", "--duration", "1s"],
            "is not a positive rate",
        ),
        (vec!["--rate", "100"], "--duration or --events"),
        (
            vec!["--rate", "100", "--duration", "1s", "--routing", "keys:0"],
            "not a number of keys",
        ),
    ] {
        let out = load(&emu, &args).await;
        assert!(!out.status.success(), "{args:?}");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_mode_reads_every_event_back() {
    let emu = common::emulator().await;
    let out = load(
        &emu,
        &[
            "--rate",
            "500",
            "--duration",
            "2s",
            "--routing",
            "round-robin",
            "--end-to-end",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let sent = report["events_sent"].as_u64().unwrap();
    assert_eq!(
        report["end_to_end"]["received"].as_u64().unwrap(),
        sent,
        "every acknowledged event read back"
    );
    let per_partition = report["end_to_end"]["per_partition_ms"]
        .as_object()
        .unwrap();
    assert_eq!(per_partition.len(), 2, "{per_partition:?}");
    for latency in per_partition.values() {
        assert!(latency["p50"].as_f64().unwrap() > 0.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_plan_runs_over_kafka_and_the_hub_holds_what_was_acknowledged() {
    let emu = common::emulator().await;
    let kafka = emu.kafka_bootstrap().unwrap();
    let out = load(
        &emu,
        &[
            "--protocol",
            "kafka",
            "--kafka-endpoint",
            &kafka,
            "--compression",
            "lz4",
            "--rate",
            "max",
            "--events",
            "3000",
            "--routing",
            "round-robin",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(report["events_sent"], 3000);
    assert_eq!(report["events_failed"], 0);
    assert_eq!(
        held(&emu).await,
        3000,
        "every acknowledged record is in the hub"
    );

    // Keys go where Kafka's default partitioner puts them: one key, one partition.
    let out = load(
        &emu,
        &[
            "--protocol",
            "kafka",
            "--kafka-endpoint",
            &kafka,
            "--rate",
            "max",
            "--events",
            "200",
            "--routing",
            "keys:1",
            "--output",
            "json",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let client = common::consumer(&emu, "eh1", None).await;
    let partition = hubscope::kafka::producer::key_partition(b"key-0", 2).to_string();
    let other = if partition == "0" { "1" } else { "0" };
    let mut held_by = Vec::new();
    for id in [&partition, other] {
        let p = client.get_partition_properties(id).await.unwrap();
        held_by.push(p.last_enqueued_sequence_number - p.beginning_sequence_number + 1);
    }
    assert_eq!(
        (held_by[0], held_by[1]),
        (1700, 1500),
        "round robin split 3000 evenly; all 200 keyed records went to partition {partition}"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_kafka_endpoint_is_a_clear_error_and_no_hang() {
    let emu = common::emulator().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let started = std::time::Instant::now();
    let out = load(
        &emu,
        &[
            "--protocol",
            "kafka",
            "--kafka-endpoint",
            &format!("127.0.0.1:{dead_port}"),
            "--rate",
            "100",
            "--events",
            "10",
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("could not open the Kafka producers"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{dead_port}")), "{err}");
    assert!(
        !err.contains("Error {") && !err.contains("{ "),
        "no Debug text: {err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "it gave up in time"
    );
    let out = load(
        &emu,
        &[
            "--protocol",
            "kafka",
            "--end-to-end",
            "--rate",
            "10",
            "--events",
            "1",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--protocol amqp"), "{}", stderr(&out));
}
