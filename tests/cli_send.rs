//! `hubscope send` as a script would run it, read back through the real SDK.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_messaging_eventhubs::models::AmqpSimpleValue;
use azure_messaging_eventhubs::StartLocation;
use common::{body_text, consumer, from, hubscope_async, receiver, stderr, stdout, take};
use hubscope::emulator::RunningEmulator;

fn cs(emu: &RunningEmulator) -> String {
    format!("{}EntityPath=eh1", emu.connection_string())
}

async fn send(emu: &RunningEmulator, extra: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["send".to_string(), "--connection-string".into(), cs(emu)];
    args.extend(extra.iter().map(|s| (*s).to_string()));
    hubscope_async(args, dir.path().to_path_buf()).await
}

async fn partition_counts(emu: &RunningEmulator) -> Vec<i64> {
    let client = consumer(emu, "eh1", None).await;
    let mut counts = Vec::new();
    for id in ["0", "1"] {
        let p = client.get_partition_properties(id).await.unwrap();
        counts.push(if p.is_empty {
            0
        } else {
            p.last_enqueued_sequence_number - p.beginning_sequence_number + 1
        });
    }
    client.close().await.unwrap();
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_with_metadata_arrives_as_sent() {
    let emu = common::emulator().await;
    let out = send(
        &emu,
        &[
            "--partition-id",
            "1",
            "--body",
            r#"{"temp": 21.5}"#,
            "--content-type",
            "application/json",
            "--correlation-id",
            "corr-1",
            "--message-id",
            "msg-1",
            "--property",
            "site=berlin",
            "--property",
            "count:int=3",
            "--property",
            "ratio:float=0.5",
            "--property",
            "ok:bool=true",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(
        stdout(&out).starts_with("sent 1 event to partition 1"),
        "{}",
        stdout(&out)
    );

    let client = consumer(&emu, "eh1", None).await;
    let rx = receiver(&client, "1", from(StartLocation::Earliest, true))
        .await
        .unwrap();
    let events = take(&rx, 1).await;
    let data = events[0].event_data();
    assert_eq!(body_text(&events[0]), r#"{"temp": 21.5}"#);
    assert_eq!(data.content_type(), Some("application/json"));
    assert_eq!(
        data.correlation_id().map(|id| format!("{id:?}")),
        Some(r#"String("corr-1")"#.into())
    );
    assert_eq!(
        data.message_id().map(|id| format!("{id:?}")),
        Some(r#"String("msg-1")"#.into())
    );
    let props = data.properties().expect("properties");
    assert_eq!(props["site"], AmqpSimpleValue::String("berlin".into()));
    assert_eq!(props["count"], AmqpSimpleValue::Long(3));
    assert_eq!(props["ratio"], AmqpSimpleValue::Double(0.5));
    assert_eq!(props["ok"], AmqpSimpleValue::Boolean(true));
    rx.close().await.unwrap();
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_files_and_batches() {
    let emu = common::emulator().await;
    // Five events from a template, keyed: one batch, all on the key's partition.
    let out = send(
        &emu,
        &[
            "--partition-key",
            "device-9",
            "--body",
            "n={{seq}}",
            "--count",
            "5",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = hubscope::partition_key::partition_index("device-9", 2);
    assert!(
        stdout(&out).starts_with(&format!(
            "sent 5 events to partition {expected} (key device-9)"
        )),
        "{}",
        stdout(&out)
    );
    let client = consumer(&emu, "eh1", None).await;
    let rx = receiver(
        &client,
        &expected.to_string(),
        from(StartLocation::Earliest, true),
    )
    .await
    .unwrap();
    let bodies: Vec<String> = take(&rx, 5).await.iter().map(body_text).collect();
    assert_eq!(bodies, ["n=0", "n=1", "n=2", "n=3", "n=4"]);
    rx.close().await.unwrap();
    client.close().await.unwrap();

    // A file: one publish per line, or as few batches as fit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bodies.txt");
    std::fs::write(&path, "a\nb\n\nc\n").unwrap();
    let path = path.to_str().unwrap();
    let one_each = send(&emu, &["--partition-id", "0", "--file", path]).await;
    assert!(one_each.status.success(), "{}", stderr(&one_each));
    assert_eq!(
        stdout(&one_each).lines().count(),
        3,
        "{}",
        stdout(&one_each)
    );
    let batched = send(&emu, &["--partition-id", "0", "--file", path, "--batch"]).await;
    assert_eq!(stdout(&batched).lines().count(), 1, "{}", stdout(&batched));
    assert!(stdout(&batched).starts_with("sent 3 events to partition 0"));
    let mut counts = partition_counts(&emu).await;
    counts[expected] -= 5;
    assert_eq!(counts[0], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_files_are_split_at_the_size_limit() {
    let emu = common::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.txt");
    // 40 bodies of 100 KB: about 4 MB, so at least four publishes of at most 1 MB each.
    let line = "x".repeat(100_000);
    std::fs::write(&path, format!("{line}\n").repeat(40)).unwrap();
    let out = send(
        &emu,
        &[
            "--partition-id",
            "1",
            "--file",
            path.to_str().unwrap(),
            "--batch",
        ],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let sends = text.lines().count();
    assert!((4..=6).contains(&sends), "{text}");
    let total: usize = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, 40);
    // Progress goes to stderr, so stdout stays one line per publish.
    let progress = stderr(&out);
    assert!(
        progress.trim_end().ends_with("events/s")
            && progress.contains("sent 40 of 40 events (100 %)"),
        "{progress}"
    );
    assert_eq!(partition_counts(&emu).await, vec![0, 40]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_resends_an_export_with_its_keys_and_properties() {
    let emu = common::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"partition_id":"0","sequence_number":0,"offset":"0","enqueued_time":"2026-11-21T09:00:00Z","partition_key":"device-9","properties":{"n":7},"content_type":"text/plain","correlation_id":null,"message_id":null,"body":"first"}"#,
            "\n",
            r#"{"partition_id":"1","sequence_number":0,"offset":"0","enqueued_time":"2026-11-21T09:00:00Z","partition_key":"device-9","properties":{},"content_type":null,"correlation_id":null,"message_id":null,"body":"AP8=","body_encoding":"base64"}"#,
            "\n"
        ),
    )
    .unwrap();
    let out = send(&emu, &["--replay", path.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = hubscope::partition_key::partition_index("device-9", 2).to_string();
    let client = consumer(&emu, "eh1", None).await;
    let rx = receiver(&client, &expected, from(StartLocation::Earliest, true))
        .await
        .unwrap();
    let events = take(&rx, 2).await;
    assert_eq!(body_text(&events[0]), "first");
    assert_eq!(events[0].event_data().content_type(), Some("text/plain"));
    assert_eq!(
        events[0].event_data().properties().unwrap()["n"],
        AmqpSimpleValue::Long(7)
    );
    assert_eq!(events[0].partition_key().as_deref(), Some("device-9"));
    assert_eq!(events[1].event_data().body(), Some(&[0x00, 0xff][..]));
    rx.close().await.unwrap();
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_nothing_is_sent() {
    let emu = common::emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--partition-id", "7", "--body", "x"],
            "partition `7` does not exist",
        ),
        (
            vec!["--body", "{oops", "--content-type", "application/json"],
            "not valid JSON",
        ),
        (
            vec!["--body", "x", "--property", "=v"],
            "a property needs a key",
        ),
        (
            vec!["--body", "x", "--property", "n:int=seven"],
            "not a valid int",
        ),
        (vec!["--file", missing.to_str().unwrap()], "cannot read"),
        (vec!["--body", "{{nope}}"], "unknown placeholder"),
    ];
    for (args, expected) in cases {
        let out = send(&emu, &args).await;
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let big = dir.path().join("big.txt");
    std::fs::write(&big, "x".repeat(1_100_000)).unwrap();
    let out = send(&emu, &["--file", big.to_str().unwrap()]).await;
    assert!(
        stderr(&out).contains("at most 1048576 bytes"),
        "{}",
        stderr(&out)
    );
    assert_eq!(partition_counts(&emu).await, vec![0, 0], "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_endpoint_fails_without_hanging() {
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = hubscope_async(
        vec![
            "send".into(),
            "--connection-string".into(),
            format!("Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true;EntityPath=eh1"),
            "--body".into(),
            "x".into(),
            "--timeout-secs".into(),
            "5".into(),
        ],
        dir.path().to_path_buf(),
    )
    .await;
    assert!(!out.status.success());
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    assert!(
        stderr(&out).starts_with("error: could not"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_spreads_a_batch_over_every_partition() {
    let emu = common::emulator().await;
    // Without it, a batch goes whole to one partition: the service's choice is per publish.
    let whole = send(&emu, &["--body", "e{{seq}}", "--count", "10"]).await;
    assert!(whole.status.success(), "{}", stderr(&whole));
    let counts = partition_counts(&emu).await;
    assert!(counts.contains(&10) && counts.contains(&0), "{counts:?}");
    let dealt = send(
        &emu,
        &["--body", "e{{seq}}", "--count", "10", "--round-robin"],
    )
    .await;
    assert!(dealt.status.success(), "{}", stderr(&dealt));
    assert!(
        stdout(&dealt).contains("sent 5 events to partition 0"),
        "{}",
        stdout(&dealt)
    );
    assert!(
        stdout(&dealt).contains("sent 5 events to partition 1"),
        "{}",
        stdout(&dealt)
    );
    let after = partition_counts(&emu).await;
    assert_eq!(after.iter().sum::<i64>(), 20);
    assert!(after.iter().all(|c| *c >= 5), "{after:?}");
}
