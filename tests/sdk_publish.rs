//! Publishing through the Rust SDK: routing by key, id and spread; batches; limits and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use azure_messaging_eventhubs::models::EventData;
use azure_messaging_eventhubs::{
    EventDataBatchOptions, ProducerClient, SendEventOptions, StartLocation,
};
use common::*;

#[derive(serde::Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}
#[derive(serde::Deserialize)]
struct Vector {
    key: String,
    partition_of_4: usize,
    partition_of_32: usize,
}

async fn send_keyed(producer: &ProducerClient, key: &str, body: &str) {
    let batch = producer
        .create_batch(Some(EventDataBatchOptions {
            partition_key: Some(key.to_owned()),
            ..Default::default()
        }))
        .await
        .expect("batch");
    assert!(batch
        .try_add_event_data(body.as_bytes().to_vec(), None)
        .expect("add"));
    producer
        .send_batch(batch, None)
        .await
        .expect("send keyed batch");
}

/// Keys land where the service's hash puts them, for 4 and 32 partitions.
#[tokio::test]
async fn partition_keys_route_like_the_service() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("data/partition-key-hash-vectors.json"))
            .expect("vectors");
    let emu = emulator_with(hubs(&[("four", 4), ("thirtytwo", 32)])).await;
    for (hub, pick) in [("four", 4usize), ("thirtytwo", 32usize)] {
        let producer = producer(&emu, hub).await;
        for v in &vectors.vectors {
            send_keyed(&producer, &v.key, &v.key).await;
        }
        let mut expected: HashMap<usize, usize> = HashMap::new();
        for v in &vectors.vectors {
            let p = if pick == 4 {
                v.partition_of_4
            } else {
                v.partition_of_32
            };
            *expected.entry(p).or_default() += 1;
        }
        let consumer = consumer(&emu, hub, None).await;
        for (partition, count) in expected {
            let receiver = receiver(
                &consumer,
                &partition.to_string(),
                from(StartLocation::Earliest, false),
            )
            .await
            .expect("receiver");
            for event in take(&receiver, count).await {
                let key = event.partition_key().clone().expect("stamped with its key");
                let v = vectors
                    .vectors
                    .iter()
                    .find(|v| v.key == key)
                    .expect("known key");
                let want = if pick == 4 {
                    v.partition_of_4
                } else {
                    v.partition_of_32
                };
                assert_eq!(want, partition, "key {key:?} on {hub}");
                assert_eq!(body_text(&event), key);
            }
            receiver.close().await.expect("close");
        }
        consumer.close().await.expect("close");
        producer.close().await.expect("close");
    }
    emu.shutdown().await;
}

/// Events with neither key nor partition spread over every partition.
#[tokio::test]
async fn unkeyed_events_spread_over_partitions() {
    let emu = emulator_with(hubs(&[("spread", 4)])).await;
    let producer = producer(&emu, "spread").await;
    for i in 0..40 {
        producer
            .send_event(format!("e{i}").into_bytes(), None)
            .await
            .expect("send");
    }
    let mut total = 0;
    for id in 0..4 {
        let p = producer
            .get_partition_properties(&id.to_string())
            .await
            .expect("props");
        assert!(
            p.last_enqueued_sequence_number >= 4,
            "partition {id} got too few: {p:?}"
        );
        total += p.last_enqueued_sequence_number + 1;
    }
    assert_eq!(total, 40);
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// A batch is stored as its events: contiguous sequence numbers, increasing offsets, properties kept.
#[tokio::test]
async fn batch_events_are_stored_individually_with_properties() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let batch = producer
        .create_batch(Some(EventDataBatchOptions {
            partition_id: Some("0".into()),
            ..Default::default()
        }))
        .await
        .expect("batch");
    for i in 0..50 {
        let event = EventData::builder()
            .with_body(format!("payload {i}").into_bytes())
            .with_content_type("text/plain".to_owned())
            .add_property("index".to_owned(), i64::from(i))
            .build();
        assert!(batch.try_add_event_data(event, None).expect("add"));
    }
    producer.send_batch(batch, None).await.expect("send batch");
    let consumer = consumer(&emu, "eh1", None).await;
    let receiver = receiver(&consumer, "0", from(StartLocation::Earliest, false))
        .await
        .expect("rx");
    let events = take(&receiver, 50).await;
    let mut last_offset: Option<u64> = None;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.sequence_number(), Some(i64::try_from(i).unwrap()));
        let offset: u64 = event
            .offset()
            .clone()
            .expect("offset")
            .parse()
            .expect("decimal offset");
        assert!(
            last_offset.is_none_or(|last| offset > last),
            "offsets increase"
        );
        last_offset = Some(offset);
        assert_eq!(body_text(event), format!("payload {i}"));
        assert_eq!(event.event_data().content_type(), Some("text/plain"));
        let props = event
            .event_data()
            .properties()
            .expect("application properties");
        assert!(props.contains_key("index"));
    }
    receiver.close().await.expect("close");
    consumer.close().await.expect("close");
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// A full batch arrives in many frames (the endpoint takes it off the wire itself); every event
/// comes back whole and in order.
#[tokio::test]
async fn a_full_batch_spanning_many_frames_is_stored_intact() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let batch = producer
        .create_batch(Some(EventDataBatchOptions {
            partition_id: Some("1".into()),
            ..Default::default()
        }))
        .await
        .expect("batch");
    let body = |i: usize| {
        let mut body = format!("event {i} ").into_bytes();
        body.resize(1024, u8::try_from(i % 251).unwrap());
        body
    };
    let mut added = 0;
    while batch.try_add_event_data(body(added), None).expect("add") {
        added += 1;
    }
    assert!(added > 900, "a full batch holds about 1 MB: {added} events");
    producer.send_batch(batch, None).await.expect("send batch");
    let consumer = consumer(&emu, "eh1", None).await;
    let receiver = receiver(&consumer, "1", from(StartLocation::Earliest, false))
        .await
        .expect("rx");
    let events = take(&receiver, added).await;
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.sequence_number(), Some(i64::try_from(i).unwrap()));
        assert_eq!(event.event_data().body(), Some(&body(i)[..]), "event {i}");
    }
    receiver.close().await.expect("close");
    consumer.close().await.expect("close");
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// Over 1 MB is refused with the service's condition, quickly, and the link keeps working.
#[tokio::test]
async fn oversized_publish_is_rejected() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let big = vec![b'x'; 1_100_000];
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        PATIENCE,
        producer.send_event(
            big,
            Some(SendEventOptions {
                partition_id: Some("0".into()),
            }),
        ),
    )
    .await
    .expect("no hang");
    let err = result.expect_err("oversized event refused");
    assert!(
        format!("{err:?}").contains("LinkPayloadSizeExceeded"),
        "unexpected error: {err:?}"
    );
    assert!(started.elapsed() < PATIENCE);
    // A just-under-limit event still goes through on the same client.
    producer
        .send_event(
            vec![b'y'; 900_000],
            Some(SendEventOptions {
                partition_id: Some("0".into()),
            }),
        )
        .await
        .expect("large but legal event");
    let p = producer.get_partition_properties("0").await.expect("props");
    assert_eq!(
        p.last_enqueued_sequence_number, 0,
        "only the legal event was stored"
    );
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// Unknown hubs and partitions fail fast with a clear error, never a hang.
#[tokio::test]
async fn unknown_hub_and_partition_fail_fast() {
    let emu = emulator().await;
    let ghost = tokio::time::timeout(
        PATIENCE,
        ProducerClient::builder()
            .with_custom_endpoint(emu.custom_endpoint())
            .open_with_connection_string(&emu.connection_string(), Some("nosuchhub")),
    )
    .await
    .expect("no hang");
    let not_found = |text: String| {
        text.to_lowercase().contains("could not be found") || text.contains("NotFound")
    };
    match ghost {
        Err(e) => assert!(not_found(format!("{e:?}")), "{e:?}"),
        Ok(producer) => {
            let err = tokio::time::timeout(PATIENCE, producer.get_eventhub_properties())
                .await
                .expect("no hang")
                .expect_err("unknown hub");
            assert!(not_found(format!("{err:?}")), "{err:?}");
            let err = tokio::time::timeout(PATIENCE, producer.send_event(b"x".to_vec(), None))
                .await
                .expect("no hang")
                .expect_err("unknown hub send");
            assert!(not_found(format!("{err:?}")), "{err:?}");
        }
    }
    let producer = producer(&emu, "eh1").await;
    let err = tokio::time::timeout(
        PATIENCE,
        producer.send_event(
            b"x".to_vec(),
            Some(SendEventOptions {
                partition_id: Some("7".into()),
            }),
        ),
    )
    .await
    .expect("no hang")
    .expect_err("unknown partition");
    assert!(format!("{err:?}").contains("ArgumentOutOfRange"), "{err:?}");
    let err = tokio::time::timeout(PATIENCE, producer.get_partition_properties("7"))
        .await
        .expect("no hang")
        .expect_err("unknown partition properties");
    assert!(format!("{err:?}").contains("invalid"), "{err:?}");
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// Many hubs: well past the official emulator's cap of 10.
#[tokio::test]
async fn serves_more_than_a_hundred_hubs() {
    let names: Vec<String> = (0..120).map(|i| format!("hub{i}")).collect();
    let specs: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    let emu = emulator_with(hubs(&specs)).await;
    for name in ["hub0", "hub64", "hub119"] {
        let producer = producer(&emu, name).await;
        producer
            .send_event(name.as_bytes().to_vec(), None)
            .await
            .expect("send");
        let props = producer.get_eventhub_properties().await.expect("props");
        assert_eq!(props.name, name);
        producer.close().await.expect("close");
    }
    emu.shutdown().await;
}

/// One client publishing to many partitions from a multi-threaded runtime opens and drops a
/// short-lived `$cbs` session per partition; fe2o3 0.16 used to lose the whole connection when
/// our replies on those sessions trailed its End ("Session is not found").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_many_partitions_on_a_multi_threaded_runtime() {
    let emu = emulator_with(hubs(&[("wide", 16)])).await;
    let producer = producer(&emu, "wide").await;
    for round in 0..3 {
        for p in 0..16 {
            tokio::time::timeout(
                PATIENCE,
                producer.send_event(
                    format!("r{round}").into_bytes(),
                    Some(SendEventOptions {
                        partition_id: Some(p.to_string()),
                    }),
                ),
            )
            .await
            .expect("no hang")
            .unwrap_or_else(|e| panic!("send to partition {p} in round {round}: {e}"));
        }
    }
    for p in 0..16 {
        let props = producer
            .get_partition_properties(&p.to_string())
            .await
            .expect("props");
        assert_eq!(props.last_enqueued_sequence_number, 2, "partition {p}");
    }
    tokio::time::timeout(PATIENCE, producer.close())
        .await
        .expect("close does not hang")
        .expect("close");
    emu.shutdown().await;
}

/// The SDK drops a disposition that arrives before it has registered the delivery (docs/amqp-wire.md §0
/// item 8); a preempted client thread widens that window. With the CPU contended, settling after
/// a mere scheduler yield hung 32 of 423 sends; every send here must complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_do_not_hang_when_the_cpu_is_contended() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let burners: Vec<_> = (0..3)
        .map(|i| {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("cpu-burner-{i}"))
                .spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
                .expect("thread")
        })
        .collect();
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let mut hung = Vec::new();
    for i in 0..300 {
        let options = SendEventOptions {
            partition_id: Some((i % 2).to_string()),
        };
        let sending = producer.send_event(format!("e{i}").into_bytes(), Some(options));
        let Ok(sent) = tokio::time::timeout(std::time::Duration::from_secs(5), sending).await
        else {
            hung.push(i);
            break;
        };
        sent.expect("send");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for burner in burners {
        burner.join().expect("burner");
    }
    assert!(hung.is_empty(), "send {hung:?} never completed");
    emu.shutdown().await;
}
