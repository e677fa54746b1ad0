//! Readers survive the endpoint going away: killed and restarted mid-stream, they reconnect from
//! the last sequence number they saw, with no gap and no duplicate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};
use hubscope::consumer::{spawn_reader, ReaderSpec, ReaderState, ReceivedRecord, StartFrom};
use hubscope::emulator::{EmulatorConfig, RunningEmulator};
use hubscope::hub::Target;
use tokio::sync::mpsc;

async fn start(port: u16, dir: &std::path::Path) -> RunningEmulator {
    let config = EmulatorConfig {
        data_dir: Some(dir.to_path_buf()),
        ..EmulatorConfig::default()
    };
    common::emulator_on(port, &config).await
}

async fn send(emu: &RunningEmulator, from: usize, count: usize) {
    let producer = ProducerClient::builder()
        .with_custom_endpoint(emu.custom_endpoint())
        .open_with_connection_string(&emu.connection_string(), Some("eh1"))
        .await
        .unwrap();
    for i in from..from + count {
        let batch = producer
            .create_batch(Some(EventDataBatchOptions {
                partition_id: Some((i % 2).to_string()),
                ..Default::default()
            }))
            .await
            .unwrap();
        assert!(batch.try_add_event_data(format!("e{i}"), None).unwrap());
        tokio::time::timeout(common::PATIENCE, producer.send_batch(batch, None))
            .await
            .expect("send in time")
            .unwrap();
    }
    producer.close().await.unwrap();
}

async fn collect(
    rx: &mut mpsc::Receiver<ReceivedRecord>,
    into: &mut Vec<ReceivedRecord>,
    total: usize,
) {
    while into.len() < total {
        let record = tokio::time::timeout(common::PATIENCE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {total} events arrived", into.len()))
            .expect("readers running");
        into.push(record);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_reconnect_from_the_last_event_without_gaps_or_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let emu = start(port, dir.path()).await;
    let target = Target::from_connection_string(&emu.connection_string(), Some("eh1")).unwrap();
    let (tx, mut rx) = mpsc::channel(1024);
    let readers: Vec<_> = ["0", "1"]
        .iter()
        .map(|id| {
            spawn_reader(
                target.clone(),
                ReaderSpec {
                    partition_id: (*id).to_string(),
                    start: StartFrom::Earliest,
                    owner_level: None,
                    prefetch: None,
                },
                tx.clone(),
            )
        })
        .collect();

    let mut seen = Vec::new();
    send(&emu, 0, 40).await;
    collect(&mut rx, &mut seen, 40).await;

    emu.shutdown().await;
    let mut saw_reconnecting = false;
    for _ in 0..100 {
        saw_reconnecting |= readers
            .iter()
            .any(|r| matches!(*r.state.borrow(), ReaderState::Reconnecting { .. }));
        if saw_reconnecting {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        saw_reconnecting,
        "the readers noticed the endpoint going away"
    );

    let emu = start(port, dir.path()).await;
    send(&emu, 40, 40).await;
    collect(&mut rx, &mut seen, 80).await;
    // Anything more would be a duplicate.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .is_err(),
        "no duplicates"
    );

    let mut by_partition: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for record in &seen {
        by_partition
            .entry(record.partition_id.clone())
            .or_default()
            .push(record.sequence_number);
    }
    for (partition, seqs) in by_partition {
        assert_eq!(
            seqs,
            (0..40).collect::<Vec<i64>>(),
            "partition {partition}: contiguous, in order, once each"
        );
    }
    drop(readers);
    emu.shutdown().await;
}
