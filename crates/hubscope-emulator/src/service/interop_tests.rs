use bytes::Bytes;
use fe2o3_amqp_types::messaging::{ApplicationProperties, Body, Data, Message, Properties};
use fe2o3_amqp_types::primitives::{Binary, SimpleValue, Value};

use super::*;
use crate::protocol::amqp;
use crate::storage::event::StoredEvent;

fn stored(message: Bytes, partition_key: Option<&str>) -> StoredEvent {
    StoredEvent {
        sequence_number: 0,
        offset: 0,
        enqueued_ms: 0,
        partition_key: partition_key.map(str::to_owned),
        message,
    }
}

#[test]
fn a_kafka_record_comes_back_as_it_went_in() {
    let record = KafkaRecord {
        key: Some(Bytes::from_static(&[0, 159, 146, 150])),
        value: Some(Bytes::from("body")),
        headers: vec![
            ("trace".into(), Some(Bytes::from("abc"))),
            ("empty".into(), None),
        ],
    };
    let message = record_to_message(&record).expect("encoded");
    assert_eq!(event_to_record(&stored(message, None)), record);
}

#[test]
fn amqp_readers_see_the_key_as_an_annotation_and_headers_as_binary_properties() {
    let record = KafkaRecord {
        key: Some(Bytes::from("k")),
        value: Some(Bytes::from("v")),
        headers: vec![("h".into(), Some(Bytes::from("x")))],
    };
    let message = amqp::decode(&record_to_message(&record).expect("encoded")).expect("decoded");
    assert_eq!(
        amqp::annotation(&message, KAFKA_KEY),
        Some(&Value::Binary(Binary::from(b"k".to_vec())))
    );
    let properties = message.application_properties.expect("properties");
    assert_eq!(
        properties.0.get("h"),
        Some(&SimpleValue::Binary(Binary::from(b"x".to_vec())))
    );
    assert!(matches!(message.body, Body::Data(_)));
}

#[test]
fn an_amqp_event_reads_over_kafka_with_its_partition_key_and_typed_properties() {
    let mut properties = ApplicationProperties::default();
    properties.0.insert("count".into(), SimpleValue::Int(7));
    let message: amqp::AmqpMessage = Message {
        header: None,
        delivery_annotations: None,
        message_annotations: None,
        properties: Some(Properties {
            content_type: Some("application/json".into()),
            ..Properties::default()
        }),
        application_properties: Some(properties),
        body: Body::Data(Batch::new(vec![Data(Binary::from(b"{}".to_vec()))])),
        footer: None,
    };
    let record = event_to_record(&stored(
        amqp::encode(&message).expect("encoded"),
        Some("pk"),
    ));
    assert_eq!(record.key, None, "a partition key is not a Kafka key");
    assert_eq!(record.value.as_deref(), Some(&b"{}"[..]));
    let header = |name: &str| {
        record
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    };
    assert_eq!(header(PARTITION_KEY_HEADER).as_deref(), Some(&b"pk"[..]));
    assert_eq!(
        header("content-type").as_deref(),
        Some(&b"application/json"[..])
    );
    // The service sends an application property's AMQP encoding: int 7 is 0x54 0x07.
    assert_eq!(header("count").as_deref(), Some(&[0x54, 0x07][..]));
}

#[test]
fn a_null_value_stays_null() {
    let record = KafkaRecord {
        key: Some(Bytes::from("tombstone")),
        value: None,
        headers: Vec::new(),
    };
    let message = record_to_message(&record).expect("encoded");
    assert_eq!(event_to_record(&stored(message, None)).value, None);
}

#[test]
fn bytes_that_are_not_a_message_read_as_the_value() {
    let record = event_to_record(&stored(Bytes::from_static(b"\x01\x02"), None));
    assert_eq!(record.value.as_deref(), Some(&b"\x01\x02"[..]));
}
