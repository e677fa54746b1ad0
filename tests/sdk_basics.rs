//! The Rust SDK against the embedded endpoint: properties, sends, receives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use azure_messaging_eventhubs::{SendEventOptions, StartLocation};
use common::*;

#[tokio::test]
async fn hub_and_partition_properties() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let hub = producer
        .get_eventhub_properties()
        .await
        .expect("hub properties");
    assert_eq!(hub.name, "eh1");
    assert_eq!(hub.partition_ids, vec!["0", "1"]);
    assert!(hub.created_on.is_some());
    let p = producer
        .get_partition_properties("1")
        .await
        .expect("partition properties");
    assert_eq!(p.id, "1");
    assert_eq!(p.last_enqueued_sequence_number, -1);
    assert!(p.is_empty);
    producer.close().await.expect("close");
    emu.shutdown().await;
}

#[tokio::test]
async fn send_to_partition_and_read_back_from_earliest() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    for i in 0..3 {
        producer
            .send_event(
                format!("event {i}").as_bytes().to_vec(),
                Some(SendEventOptions {
                    partition_id: Some("1".into()),
                }),
            )
            .await
            .expect("send");
    }
    let p = producer
        .get_partition_properties("1")
        .await
        .expect("properties");
    assert_eq!(p.beginning_sequence_number, 0);
    assert_eq!(p.last_enqueued_sequence_number, 2);
    assert!(!p.is_empty);

    let consumer = consumer(&emu, "eh1", None).await;
    let receiver = receiver(&consumer, "1", from(StartLocation::Earliest, false))
        .await
        .expect("receiver");
    let events = take(&receiver, 3).await;
    let bodies: Vec<String> = events.iter().map(body_text).collect();
    assert_eq!(bodies, vec!["event 0", "event 1", "event 2"]);
    let seqs: Vec<Option<i64>> = events
        .iter()
        .map(azure_messaging_eventhubs::models::ReceivedEventData::sequence_number)
        .collect();
    assert_eq!(seqs, vec![Some(0), Some(1), Some(2)]);
    assert!(events
        .iter()
        .all(|e| e.enqueued_time().is_some() && e.offset().is_some()));
    receiver.close().await.expect("close receiver");
    consumer.close().await.expect("close consumer");
    producer.close().await.expect("close producer");
    emu.shutdown().await;
}
