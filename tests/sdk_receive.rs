//! Receiving through the Rust SDK: start positions, consumer groups, owner levels, limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use azure_messaging_eventhubs::{
    OpenReceiverOptions, ProducerClient, SendEventOptions, StartLocation,
};
use common::*;
use futures::StreamExt;

async fn send_numbered(producer: &ProducerClient, partition: &str, range: std::ops::Range<u32>) {
    for i in range {
        producer
            .send_event(
                format!("n{i}").into_bytes(),
                Some(SendEventOptions {
                    partition_id: Some(partition.to_owned()),
                }),
            )
            .await
            .expect("send");
    }
}

fn bodies(events: &[azure_messaging_eventhubs::models::ReceivedEventData]) -> Vec<String> {
    events.iter().map(body_text).collect()
}

#[tokio::test]
async fn every_start_position() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    send_numbered(&producer, "0", 0..5).await;
    let consumer = consumer(&emu, "eh1", None).await;

    // Read once from the start to learn offsets and times.
    let all = {
        let r = receiver(&consumer, "0", from(StartLocation::Earliest, false))
            .await
            .expect("rx");
        let events = take(&r, 5).await;
        r.close().await.expect("close");
        events
    };
    let offset2 = all[2].offset().clone().expect("offset");
    let cases: Vec<(&str, StartLocation, bool, Vec<&str>)> = vec![
        (
            "offset exclusive",
            StartLocation::Offset(offset2.clone()),
            false,
            vec!["n3", "n4"],
        ),
        (
            "offset inclusive",
            StartLocation::Offset(offset2),
            true,
            vec!["n2", "n3", "n4"],
        ),
        (
            "sequence exclusive",
            StartLocation::SequenceNumber(1),
            false,
            vec!["n2", "n3", "n4"],
        ),
        (
            "sequence inclusive",
            StartLocation::SequenceNumber(1),
            true,
            vec!["n1", "n2", "n3", "n4"],
        ),
    ];
    for (name, location, inclusive, expected) in cases {
        let r = receiver(&consumer, "0", from(location, inclusive))
            .await
            .expect(name);
        assert_eq!(bodies(&take(&r, expected.len()).await), expected, "{name}");
        assert!(
            nothing_within(&r, Duration::from_millis(300)).await,
            "{name}: no extra events"
        );
        r.close().await.expect("close");
    }

    // Enqueued time: everything after a moment between two sends.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_numbered(&producer, "0", 5..7).await;
    let r = receiver(
        &consumer,
        "0",
        from(StartLocation::EnqueuedTime(cut), false),
    )
    .await
    .expect("rx");
    assert_eq!(bodies(&take(&r, 2).await), vec!["n5", "n6"]);
    r.close().await.expect("close");

    // Latest: only what is sent after the receiver opens.
    let r = receiver(&consumer, "0", from(StartLocation::Latest, false))
        .await
        .expect("rx");
    assert!(nothing_within(&r, Duration::from_millis(300)).await);
    send_numbered(&producer, "0", 7..8).await;
    assert_eq!(bodies(&take(&r, 1).await), vec!["n7"]);
    r.close().await.expect("close");

    consumer.close().await.expect("close");
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// A live reader sees events as they are sent, without polling delays.
#[tokio::test]
async fn live_reader_keeps_up() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let consumer = consumer(&emu, "eh1", None).await;
    let r = receiver(&consumer, "1", from(StartLocation::Latest, false))
        .await
        .expect("rx");
    let reader = tokio::spawn(async move {
        let events = take(&r, 200).await;
        r.close().await.expect("close");
        events
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    send_numbered(&producer, "1", 0..200).await;
    let events = reader.await.expect("reader");
    let seqs: Vec<i64> = events
        .iter()
        .filter_map(azure_messaging_eventhubs::models::ReceivedEventData::sequence_number)
        .collect();
    assert_eq!(seqs, (0..200).collect::<Vec<_>>());
    consumer.close().await.expect("close");
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// Consumer groups read independently; unknown groups and partitions are refused clearly.
#[tokio::test]
async fn consumer_groups_are_independent() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    send_numbered(&producer, "0", 0..3).await;
    let default_group = consumer(&emu, "eh1", None).await;
    let cg1 = consumer(&emu, "eh1", Some("cg1")).await;
    let a = receiver(&default_group, "0", from(StartLocation::Earliest, false))
        .await
        .expect("a");
    let b = receiver(&cg1, "0", from(StartLocation::Earliest, false))
        .await
        .expect("b");
    assert_eq!(bodies(&take(&a, 3).await), vec!["n0", "n1", "n2"]);
    assert_eq!(bodies(&take(&b, 3).await), vec!["n0", "n1", "n2"]);
    a.close().await.expect("close");
    b.close().await.expect("close");

    let ghost = consumer(&emu, "eh1", Some("nosuchgroup")).await;
    let outcome: azure_messaging_eventhubs::Result<()> = tokio::time::timeout(PATIENCE, async {
        let r = ghost
            .open_receiver_on_partition("0".into(), Some(from(StartLocation::Earliest, false)))
            .await?;
        let stream = r.stream_events();
        futures::pin_mut!(stream);
        match stream.next().await {
            Some(Err(e)) => Err(e),
            other => panic!("expected an error, got {:?}", other.map(|r| r.is_ok())),
        }
    })
    .await
    .expect("no hang");
    let err = outcome.expect_err("unknown consumer group");
    assert!(
        format!("{err:?}")
            .to_lowercase()
            .contains("could not be found"),
        "{err:?}"
    );
    for c in [default_group, cg1, ghost] {
        c.close().await.expect("close");
    }
    producer.close().await.expect("close");
    emu.shutdown().await;
}

async fn first_error(r: &azure_messaging_eventhubs::EventReceiver) -> String {
    let stream = r.stream_events();
    futures::pin_mut!(stream);
    loop {
        match tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("no hang")
        {
            Some(Ok(_)) => {}
            Some(Err(e)) => return format!("{e:?}"),
            None => return "stream ended".to_owned(),
        }
    }
}

/// A higher owner level takes the partition; a lower one is refused.
#[tokio::test]
async fn owner_level_displaces_and_refuses() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    send_numbered(&producer, "0", 0..1).await;
    // Competing readers are separate clients, as they are separate processes in practice (the
    // SDK also stalls opening a second receiver on one partition from a single client).
    let clients = [
        consumer(&emu, "eh1", None).await,
        consumer(&emu, "eh1", None).await,
        consumer(&emu, "eh1", None).await,
    ];
    let plain = receiver(&clients[0], "0", from(StartLocation::Earliest, false))
        .await
        .expect("plain");
    assert_eq!(take(&plain, 1).await.len(), 1);
    let owner = receiver(
        &clients[1],
        "0",
        OpenReceiverOptions {
            owner_level: Some(5),
            ..from(StartLocation::Earliest, false)
        },
    )
    .await
    .expect("owner");
    assert_eq!(take(&owner, 1).await.len(), 1);
    let err = first_error(&plain).await;
    assert!(
        err.contains("ConsumerDisconnected") || err.contains("stolen") || err.contains("epoch"),
        "{err}"
    );

    let low = receiver(
        &clients[2],
        "0",
        OpenReceiverOptions {
            owner_level: Some(2),
            ..from(StartLocation::Earliest, false)
        },
    )
    .await;
    let err = match low {
        Err(e) => format!("{e:?}"),
        Ok(r) => first_error(&r).await,
    };
    assert!(err.contains("higher epoch"), "{err}");
    owner.close().await.expect("close");
    for c in clients {
        c.close().await.expect("close");
    }
    producer.close().await.expect("close");
    emu.shutdown().await;
}

/// Five receivers per partition and consumer group; the sixth is refused with the service's text.
#[tokio::test]
async fn sixth_receiver_is_refused() {
    let emu = emulator().await;
    let mut clients = Vec::new();
    for _ in 0..6 {
        clients.push(consumer(&emu, "eh1", None).await);
    }
    let mut open = Vec::new();
    for client in &clients[..5] {
        open.push(
            receiver(client, "1", from(StartLocation::Latest, false))
                .await
                .expect("fits"),
        );
    }
    // The link is attached lazily on first receive in some SDK paths: pull once on each.
    for r in &open {
        assert!(nothing_within(r, Duration::from_millis(100)).await);
    }
    let sixth = receiver(&clients[5], "1", from(StartLocation::Latest, false)).await;
    let err = match sixth {
        Err(e) => format!("{e:?}"),
        Ok(r) => first_error(&r).await,
    };
    assert!(err.contains("maximum number of allowed receivers"), "{err}");
    // Another consumer group is not affected.
    let other = common::consumer(&emu, "eh1", Some("cg1")).await;
    let r = receiver(&other, "1", from(StartLocation::Latest, false))
        .await
        .expect("other group");
    assert!(nothing_within(&r, Duration::from_millis(100)).await);
    emu.shutdown().await;
}

/// Sends `bodies` to `partition` in as few batches as fit.
async fn send_in_batches(producer: &ProducerClient, partition: &str, bodies: Vec<Vec<u8>>) {
    let options = || {
        Some(azure_messaging_eventhubs::EventDataBatchOptions {
            partition_id: Some(partition.to_owned()),
            ..Default::default()
        })
    };
    let mut batch = producer.create_batch(options()).await.expect("batch");
    for body in bodies {
        if !batch.try_add_event_data(body.clone(), None).expect("add") {
            producer.send_batch(batch, None).await.expect("send batch");
            batch = producer.create_batch(options()).await.expect("batch");
            assert!(batch.try_add_event_data(body, None).expect("add"));
        }
    }
    producer.send_batch(batch, None).await.expect("send batch");
}

/// A backlog far larger than the receiver's prefetch arrives whole and in order: the endpoint
/// sends no more than the credit the client grants (the SDK fails the receive if it does), and
/// events larger than the client's 64 KiB frames arrive whole.
#[tokio::test]
async fn a_backlog_is_delivered_within_a_small_prefetch() {
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let small: Vec<Vec<u8>> = (0..3000u32).map(|i| format!("n{i}").into_bytes()).collect();
    send_in_batches(&producer, "0", small.clone()).await;
    let large: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'a' + i; 300 * 1024]).collect();
    send_in_batches(&producer, "1", large.clone()).await;
    let consumer = consumer(&emu, "eh1", None).await;

    for (partition, sent, prefetch) in [("0", small, 7), ("1", large, 2)] {
        let options = OpenReceiverOptions {
            prefetch: Some(prefetch),
            ..from(StartLocation::Earliest, false)
        };
        let r = receiver(&consumer, partition, options).await.expect("rx");
        let events = take(&r, sent.len()).await;
        let sequence: Vec<i64> = events
            .iter()
            .filter_map(azure_messaging_eventhubs::models::ReceivedEventData::sequence_number)
            .collect();
        assert_eq!(
            sequence,
            (0..i64::try_from(sent.len()).unwrap()).collect::<Vec<_>>()
        );
        let received: Vec<&[u8]> = events
            .iter()
            .map(|e| e.event_data().body().unwrap_or_default())
            .collect();
        assert!(received == sent, "partition {partition}: bodies as sent");
        r.close().await.expect("close");
    }
    emu.shutdown().await;
}

/// The SDK's own AMQP layer with credit it never renews (it renews only as deliveries are
/// settled, and these are not): exactly the granted number of events arrives, however many wait.
/// (The SDK's event receiver hides a violation by reattaching, so it cannot show this.)
#[tokio::test]
async fn no_more_events_arrive_than_the_credit_granted() {
    use azure_core::{credentials::Secret, time::OffsetDateTime};
    use azure_core_amqp::{
        AmqpClaimsBasedSecurity, AmqpClaimsBasedSecurityApis, AmqpConnection, AmqpConnectionApis,
        AmqpReceiver, AmqpReceiverApis, AmqpReceiverOptions, AmqpSession, AmqpSessionApis,
        AmqpSource, ReceiverCreditMode,
    };
    let emu = emulator().await;
    let producer = producer(&emu, "eh1").await;
    let bodies = (0..400u32).map(|i| format!("n{i}").into_bytes()).collect();
    send_in_batches(&producer, "0", bodies).await;

    let url: azure_core::http::Url = emu.custom_endpoint().parse().expect("url");
    let connection = AmqpConnection::new();
    connection
        .open("credit-test".into(), url, None)
        .await
        .expect("open");
    let cbs_session = AmqpSession::new();
    cbs_session.begin(&connection, None).await.expect("begin");
    let cbs = AmqpClaimsBasedSecurity::new(cbs_session).expect("cbs");
    cbs.attach().await.expect("cbs attach");
    let address = format!(
        "{}/eh1/ConsumerGroups/$Default/Partitions/0",
        emu.custom_endpoint()
    );
    let expires = OffsetDateTime::now_utc() + Duration::from_secs(3600);
    let token = hubscope::emulator::service::auth::sas_token(
        &address,
        "RootManageSharedAccessKey",
        "SAS_KEY_VALUE",
        expires.unix_timestamp(),
    );
    cbs.authorize_path(address.clone(), None, &Secret::new(token), expires)
        .await
        .expect("authorized");

    let session = AmqpSession::new();
    session.begin(&connection, None).await.expect("begin");
    let receiver = AmqpReceiver::new();
    let options = AmqpReceiverOptions {
        credit_mode: Some(ReceiverCreditMode::Auto(5)),
        ..Default::default()
    };
    receiver
        .attach(
            &session,
            AmqpSource::builder().with_address(address).build(),
            Some(options),
        )
        .await
        .expect("attach");
    for i in 0..5 {
        tokio::time::timeout(PATIENCE, receiver.receive_delivery())
            .await
            .unwrap_or_else(|_| panic!("delivery {i} in time"))
            .unwrap_or_else(|e| panic!("delivery {i}: {e}"));
    }
    let sixth = tokio::time::timeout(Duration::from_millis(500), receiver.receive_delivery()).await;
    assert!(
        sixth.is_err(),
        "a sixth event arrived without credit: {sixth:?}"
    );
    connection.close().await.expect("close");
    emu.shutdown().await;
}
