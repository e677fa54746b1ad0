//! Small helpers over fe2o3-amqp's message and error types, shaped for the Event Hubs contract.

use bytes::Bytes;
use fe2o3_amqp_types::definitions::{self, ErrorCondition, Fields};
use fe2o3_amqp_types::messaging::message::__private::Serializable;
use fe2o3_amqp_types::messaging::{ApplicationProperties, Body, Message, Properties};
use fe2o3_amqp_types::primitives::{SimpleValue, Symbol, Value};

/// A message with whatever body it carries.
pub type AmqpMessage = Message<Body<Value>>;

/// Message format of an Event Hubs batch: each data section is a whole encoded message.
pub const BATCH_MESSAGE_FORMAT: u32 = 0x8001_3700;

/// Encodes a message as it travels in a transfer.
///
/// # Errors
/// `serde_amqp`'s encoding error (only for values AMQP cannot represent).
pub fn encode(message: &AmqpMessage) -> Result<Bytes, serde_amqp::Error> {
    serde_amqp::to_vec(&Serializable(message)).map(Bytes::from)
}

/// Decodes one encoded message.
///
/// # Errors
/// `serde_amqp`'s decoding error for bytes that are not a message.
pub fn decode(bytes: &[u8]) -> Result<AmqpMessage, serde_amqp::Error> {
    use fe2o3_amqp_types::messaging::message::__private::Deserializable;
    serde_amqp::from_slice::<Deserializable<AmqpMessage>>(bytes).map(|d| d.0)
}

/// An AMQP error value with all three fields present: the Python client reads `info` by position
/// and hangs or crashes without it (docs/amqp-wire.md §0 item 5).
#[must_use]
pub fn error(condition: &str, description: impl Into<String>) -> definitions::Error {
    let mut info = Fields::new();
    info.insert(Symbol::from("hubscope"), Value::from("emulator"));
    definitions::Error {
        condition: ErrorCondition::Custom(Symbol::from(condition)),
        description: Some(description.into()),
        info: Some(Box::new(info)),
    }
}

/// A message annotation by symbol key.
#[cfg(test)]
#[must_use]
pub fn annotation<'a>(message: &'a AmqpMessage, key: &str) -> Option<&'a Value> {
    use fe2o3_amqp_types::messaging::annotations::OwnedKey;
    message
        .message_annotations
        .as_ref()
        .and_then(|a| a.0.get(&OwnedKey::Symbol(Symbol::from(key))))
}

/// Sets a message annotation, creating the section if needed.
#[cfg(test)]
pub fn set_annotation(message: &mut AmqpMessage, key: &str, value: Value) {
    message
        .message_annotations
        .get_or_insert_with(|| {
            fe2o3_amqp_types::messaging::MessageAnnotations(
                fe2o3_amqp_types::primitives::OrderedMap::new(),
            )
        })
        .0
        .insert(
            fe2o3_amqp_types::messaging::annotations::OwnedKey::Symbol(Symbol::from(key)),
            value,
        );
}

/// An application property of a request, as a string.
#[must_use]
pub fn string_property(message: &AmqpMessage, key: &str) -> Option<String> {
    match message.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::String(s) => Some(s.clone()),
        SimpleValue::Symbol(s) => Some(s.0.clone()),
        _ => None,
    }
}

/// An application property of a request, as an integer of any width.
#[must_use]
pub fn integer_property(message: &AmqpMessage, key: &str) -> Option<i64> {
    match message.application_properties.as_ref()?.0.get(key)? {
        SimpleValue::Int(v) => Some(i64::from(*v)),
        SimpleValue::Long(v) => Some(*v),
        SimpleValue::Uint(v) => Some(i64::from(*v)),
        SimpleValue::Ulong(v) => i64::try_from(*v).ok(),
        SimpleValue::Timestamp(t) => Some(t.milliseconds()),
        _ => None,
    }
}

/// A reply to a `$cbs` or `$management` request: correlated by the request's message id (same
/// AMQP type), with `status-code` as an int and `status-description`.
#[must_use]
pub fn reply(request: &AmqpMessage, status: i32, description: &str, body: Value) -> AmqpMessage {
    let mut properties = ApplicationProperties::default();
    properties
        .0
        .insert("status-code".to_owned(), SimpleValue::Int(status));
    properties.0.insert(
        "status-description".to_owned(),
        SimpleValue::String(description.to_owned()),
    );
    let correlation_id = request
        .properties
        .as_ref()
        .and_then(|p| p.message_id.clone());
    let to = request.properties.as_ref().and_then(|p| p.reply_to.clone());
    Message {
        header: None,
        delivery_annotations: None,
        message_annotations: None,
        properties: Some(Properties {
            correlation_id,
            to,
            ..Properties::default()
        }),
        application_properties: Some(properties),
        body: Body::Value(fe2o3_amqp_types::messaging::AmqpValue(body)),
        footer: None,
    }
}

/// A failed request's reply: the status, its description and, when given, an `error-condition`.
#[must_use]
pub fn error_reply(
    request: &AmqpMessage,
    status: i32,
    condition: Option<&str>,
    description: &str,
) -> AmqpMessage {
    let mut message = reply(request, status, description, Value::Null);
    // azure-eventhub 5.15.1 asks its management link for `statusDescription` (it passes the
    // hyphenated name under a keyword the link ignores); without this its errors say "None".
    if let Some(properties) = message.application_properties.as_mut() {
        properties.0.insert(
            "statusDescription".to_owned(),
            SimpleValue::String(description.to_owned()),
        );
    }
    if let (Some(condition), Some(properties)) =
        (condition, message.application_properties.as_mut())
    {
        properties.0.insert(
            "error-condition".to_owned(),
            SimpleValue::Symbol(Symbol::from(condition)),
        );
    }
    message
}

/// The error condition the service pairs with a management status code (docs/amqp-wire.md §3).
#[must_use]
pub fn status_condition(status: i32) -> Option<&'static str> {
    Some(match status {
        400 => "com.microsoft:argument-error",
        401 => "amqp:unauthorized-access",
        403 => "amqp:resource-limit-exceeded",
        404 => "amqp:not-found",
        408 => "com.microsoft:timeout",
        410 => "amqp:link:stolen",
        500 => "amqp:internal-error",
        503 => "com.microsoft:server-busy",
        _ => return None,
    })
}
