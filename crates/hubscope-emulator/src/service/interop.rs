//! One event, two protocols: how a Kafka record becomes the AMQP message the store keeps, and how
//! a stored event reads as a Kafka record. The mapping is the service's (docs/kafka.md §4):
//!
//! - the record's value is the message's body (one data section); a null value is an
//!   `amqp-value` null, and reads back as null;
//! - the record's key is the message annotation `x-opt-kafka-key` (binary). It is not the
//!   partition key: a Kafka client and an AMQP client would hash the same key to different
//!   partitions, so the service keeps the two apart on purpose;
//! - each header is an application property holding the header's bytes as binary;
//! - read over Kafka, an AMQP event's partition key is the header `x-opt-partition-key` (UTF-8),
//!   its properties `message-id`, `content-type` … are UTF-8 headers of those names, and each
//!   application property is a header holding the property's AMQP encoding, type byte first, as
//!   the service sends them (binary properties, as Kafka headers are stored, read back bare);
//! - an `amqp-value` or `amqp-sequence` body reads as its AMQP encoding.

use bytes::Bytes;
use fe2o3_amqp_types::messaging::annotations::OwnedKey;
use fe2o3_amqp_types::messaging::{
    AmqpValue, ApplicationProperties, Batch, Body, Data, Message, MessageAnnotations, MessageId,
};
use fe2o3_amqp_types::primitives::{Binary, SimpleValue, Symbol, Value};

use crate::protocol::amqp::{self, AmqpMessage};
use crate::storage::event::StoredEvent;

/// The annotation the service keeps a Kafka record's key in.
pub const KAFKA_KEY: &str = "x-opt-kafka-key";
/// The header a Kafka consumer finds an event's partition key in.
pub const PARTITION_KEY_HEADER: &str = "x-opt-partition-key";

/// A record as the Kafka face reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// In order; Kafka allows a name twice, AMQP's properties do not (the last one is kept).
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    #[error("the record cannot be encoded as an event: {0}")]
    Encode(#[from] serde_amqp::Error),
}

/// The AMQP message a produced record is stored as.
///
/// # Errors
/// [`InteropError::Encode`] (only for values AMQP cannot represent, which bytes never are).
pub fn record_to_message(record: &KafkaRecord) -> Result<Bytes, InteropError> {
    let body = match &record.value {
        Some(value) => Body::Data(Batch::new(vec![Data(Binary::from(value.to_vec()))])),
        None => Body::Value(AmqpValue(Value::Null)),
    };
    let message_annotations = record.key.as_ref().map(|key| {
        let mut annotations = MessageAnnotations::default();
        annotations.0.insert(
            OwnedKey::Symbol(Symbol::from(KAFKA_KEY)),
            Value::Binary(Binary::from(key.to_vec())),
        );
        annotations
    });
    let application_properties = (!record.headers.is_empty()).then(|| {
        let mut properties = ApplicationProperties::default();
        for (name, value) in &record.headers {
            let value = value.as_ref().map_or(SimpleValue::Null, |bytes| {
                SimpleValue::Binary(Binary::from(bytes.to_vec()))
            });
            properties.0.insert(name.clone(), value);
        }
        properties
    });
    let message: AmqpMessage = Message {
        header: None,
        delivery_annotations: None,
        message_annotations,
        properties: None,
        application_properties,
        body,
        footer: None,
    };
    Ok(amqp::encode(&message)?)
}

/// A stored event as a Kafka consumer reads it. An event that does not decode (never written by
/// the endpoint, but possible in an old journal) reads as its bytes, without key or headers.
#[must_use]
pub fn event_to_record(event: &StoredEvent) -> KafkaRecord {
    let Ok(message) = amqp::decode(&event.message) else {
        return KafkaRecord {
            value: Some(event.message.clone()),
            ..KafkaRecord::default()
        };
    };
    let mut headers = Vec::new();
    if let Some(key) = &event.partition_key {
        headers.push((
            PARTITION_KEY_HEADER.to_owned(),
            Some(Bytes::copy_from_slice(key.as_bytes())),
        ));
    }
    if let Some(properties) = &message.properties {
        let text = |name: &str, value: Option<String>| {
            value.map(|v| (name.to_owned(), Some(Bytes::from(v))))
        };
        headers.extend(
            [
                text(
                    "message-id",
                    properties.message_id.as_ref().map(message_id_text),
                ),
                text(
                    "user-id",
                    properties
                        .user_id
                        .as_ref()
                        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()),
                ),
                text("to", properties.to.clone()),
                text("reply-to", properties.reply_to.clone()),
                text(
                    "content-type",
                    properties.content_type.as_ref().map(|s| s.0.clone()),
                ),
                text(
                    "content-encoding",
                    properties.content_encoding.as_ref().map(|s| s.0.clone()),
                ),
                text(
                    "creation-time",
                    properties
                        .creation_time
                        .as_ref()
                        .map(|t| t.milliseconds().to_string()),
                ),
            ]
            .into_iter()
            .flatten(),
        );
    }
    if let Some(properties) = &message.application_properties {
        for (name, value) in &properties.0 {
            let bytes = match value {
                SimpleValue::Binary(bytes) => Some(Bytes::copy_from_slice(bytes.as_ref())),
                SimpleValue::Null => None,
                other => serde_amqp::to_vec(other).ok().map(Bytes::from),
            };
            headers.push((name.clone(), bytes));
        }
    }
    let key = message
        .message_annotations
        .as_ref()
        .and_then(|a| a.0.get(&OwnedKey::Symbol(Symbol::from(KAFKA_KEY))))
        .and_then(|v| match v {
            Value::Binary(b) => Some(Bytes::copy_from_slice(b.as_ref())),
            Value::String(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
            _ => None,
        });
    KafkaRecord {
        key,
        value: body_bytes(&message.body),
        headers,
    }
}

fn body_bytes(body: &Body<Value>) -> Option<Bytes> {
    match body {
        Body::Data(sections) => {
            let mut out = Vec::new();
            for section in sections {
                out.extend_from_slice(section.0.as_ref());
            }
            Some(Bytes::from(out))
        }
        Body::Value(AmqpValue(Value::Null)) | Body::Empty => None,
        Body::Value(AmqpValue(value)) => serde_amqp::to_vec(value).ok().map(Bytes::from),
        Body::Sequence(sequences) => {
            let mut out = Vec::new();
            for sequence in sequences {
                if let Ok(bytes) = serde_amqp::to_vec(&sequence.0) {
                    out.extend_from_slice(&bytes);
                }
            }
            Some(Bytes::from(out))
        }
    }
}

fn message_id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => uuid::Uuid::from_bytes(*u.as_inner()).to_string(),
        MessageId::Binary(b) => String::from_utf8_lossy(b.as_ref()).into_owned(),
    }
}

#[cfg(test)]
#[path = "interop_tests.rs"]
mod tests;
