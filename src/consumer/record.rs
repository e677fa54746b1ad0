//! A received event as hubscope keeps it: owned, with its metadata turned into plain values, and
//! convertible to the export format (`hubscope tail --output jsonl`, the consumer view's export).

use std::time::SystemTime;

use azure_messaging_eventhubs::models::{AmqpSimpleValue, MessageId, ReceivedEventData};
use base64::Engine as _;
use serde_json::Value;

use crate::hub::properties::rfc3339_opt;
use crate::producer::export_format::ExportedEvent;

#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRecord {
    pub partition_id: String,
    pub sequence_number: i64,
    pub offset: String,
    pub enqueued_time: Option<SystemTime>,
    pub partition_key: Option<String>,
    pub properties: serde_json::Map<String, Value>,
    pub system_properties: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub correlation_id: Option<String>,
    pub message_id: Option<String>,
    pub body: Vec<u8>,
}

/// A bare record for unit tests: `body` at `seq` of `partition`, nothing else set.
#[cfg(test)]
pub(crate) fn test_record(partition: &str, seq: i64, body: &str) -> ReceivedRecord {
    ReceivedRecord {
        partition_id: partition.into(),
        sequence_number: seq,
        offset: seq.to_string(),
        enqueued_time: None,
        partition_key: None,
        properties: serde_json::Map::new(),
        system_properties: Vec::new(),
        content_type: None,
        correlation_id: None,
        message_id: None,
        body: body.as_bytes().to_vec(),
    }
}

impl ReceivedRecord {
    #[must_use]
    pub fn from_sdk(partition_id: &str, event: &ReceivedEventData) -> Self {
        let data = event.event_data();
        let properties = data
            .properties()
            .map(|props| {
                let mut sorted: Vec<_> = props.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), simple_to_json(v)))
                    .collect()
            })
            .unwrap_or_default();
        let mut system_properties: Vec<(String, String)> = event
            .system_properties()
            .iter()
            .map(|(k, v)| (k.clone(), format!("{v:?}")))
            .collect();
        system_properties.sort();
        Self {
            partition_id: partition_id.to_string(),
            sequence_number: event.sequence_number().unwrap_or(-1),
            offset: event.offset().clone().unwrap_or_default(),
            enqueued_time: event.enqueued_time(),
            partition_key: event.partition_key().clone(),
            properties,
            system_properties,
            content_type: data.content_type().map(str::to_string),
            correlation_id: data.correlation_id().map(message_id_text),
            message_id: data.message_id().map(message_id_text),
            body: data.body().unwrap_or_default().to_vec(),
        }
    }

    /// The body as text when it is UTF-8.
    #[must_use]
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The line `hubscope tail --output jsonl` prints and `hubscope send --replay` reads.
    #[must_use]
    pub fn to_export(&self) -> ExportedEvent {
        let (body, body_encoding) = match self.body_text() {
            Some(text) => (text.to_string(), None),
            None => (
                base64::engine::general_purpose::STANDARD.encode(&self.body),
                Some("base64".to_string()),
            ),
        };
        ExportedEvent {
            partition_id: Some(self.partition_id.clone()),
            sequence_number: Some(self.sequence_number),
            offset: Some(self.offset.clone()),
            enqueued_time: self.enqueued_time.map(rfc3339_opt::format),
            partition_key: self.partition_key.clone(),
            properties: self.properties.clone(),
            content_type: self.content_type.clone(),
            correlation_id: self.correlation_id.clone(),
            message_id: self.message_id.clone(),
            body,
            body_encoding,
        }
    }

    /// Approximate memory held by this record, for bounding views.
    #[must_use]
    pub fn footprint(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.body.len()
            + self.offset.len()
            + self
                .properties
                .iter()
                .map(|(k, v)| k.len() + v.to_string().len() + 32)
                .sum::<usize>()
            + self
                .system_properties
                .iter()
                .map(|(k, v)| k.len() + v.len() + 48)
                .sum::<usize>()
    }
}

fn message_id_text(id: &MessageId) -> String {
    match id {
        MessageId::String(s) => s.clone(),
        MessageId::Ulong(n) => n.to_string(),
        MessageId::Uuid(u) => u.to_string(),
        MessageId::Binary(b) => base64::engine::general_purpose::STANDARD.encode(b),
    }
}

fn simple_to_json(value: &AmqpSimpleValue) -> Value {
    match value {
        AmqpSimpleValue::Null => Value::Null,
        AmqpSimpleValue::Boolean(b) => Value::Bool(*b),
        AmqpSimpleValue::UByte(n) => Value::from(*n),
        AmqpSimpleValue::Byte(n) => Value::from(*n),
        AmqpSimpleValue::UShort(n) => Value::from(*n),
        AmqpSimpleValue::Short(n) => Value::from(*n),
        AmqpSimpleValue::UInt(n) => Value::from(*n),
        AmqpSimpleValue::Int(n) => Value::from(*n),
        AmqpSimpleValue::ULong(n) => Value::from(*n),
        AmqpSimpleValue::Long(n) => Value::from(*n),
        AmqpSimpleValue::Float(f) => Value::from(f64::from(*f)),
        AmqpSimpleValue::Double(f) => Value::from(*f),
        AmqpSimpleValue::Char(c) => Value::String(c.to_string()),
        AmqpSimpleValue::String(s) => Value::String(s.clone()),
        AmqpSimpleValue::Uuid(u) => Value::String(u.to_string()),
        AmqpSimpleValue::Binary(b) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        other => Value::String(format!("{other:?}")),
    }
}
