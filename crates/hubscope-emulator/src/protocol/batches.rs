//! Publish batches: one transfer of format `0x80013700` whose data sections are each a whole
//! encoded message (docs/amqp-wire.md §4).
//!
//! The engine hands a batch over as one buffer, and its events are slices of it
//! ([`events_of`]): each is stored as the publisher encoded it, never decoded and re-encoded.

use bytes::Bytes;
use fe2o3_amqp_types::messaging::MessageAnnotations;

use crate::protocol::sections;
use crate::protocol::wire::WireError;

/// What a batch holds: its events, and the envelope's message annotations (where a publisher
/// puts what applies to the whole batch).
#[derive(Debug)]
pub struct BatchEvents {
    /// Each event's encoded message: slices of the batch's buffer.
    pub events: Vec<Bytes>,
    pub annotations: Option<MessageAnnotations>,
}

/// Why a batch's bytes are not a batch.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("The batch is malformed: {0}")]
    Envelope(WireError),
    #[error("A batch must carry its events as data sections.")]
    NotData,
    #[error("Event {index} of the batch is not an AMQP message: {error}")]
    Event { index: usize, error: WireError },
    #[error("The batch's message annotations are malformed: {0}")]
    Annotations(serde_amqp::Error),
}

/// A batch's events and envelope annotations. Each event is checked to be a whole AMQP message by
/// its sections.
///
/// # Errors
/// [`BatchError`] says which part of the batch is malformed.
pub fn events_of(batch: &Bytes) -> Result<BatchEvents, BatchError> {
    let envelope = sections::split(batch).map_err(BatchError::Envelope)?;
    let annotations = envelope
        .message_annotations
        .map(serde_amqp::from_slice)
        .transpose()
        .map_err(BatchError::Annotations)?;
    let bodies = sections::data_bodies(batch).map_err(|e| match e {
        WireError::Malformed(m) if m == sections::NOT_DATA => BatchError::NotData,
        e => BatchError::Envelope(e),
    })?;
    let events = bodies
        .into_iter()
        .enumerate()
        .map(|(index, range)| {
            let event = batch.slice(range);
            sections::split(&event).map_err(|error| BatchError::Event { index, error })?;
            Ok(event)
        })
        .collect::<Result<_, BatchError>>()?;
    Ok(BatchEvents {
        events,
        annotations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::annotations::OwnedKey;
    use fe2o3_amqp_types::messaging::{AmqpValue, Body, Data, Message};
    use fe2o3_amqp_types::primitives::{Binary, Symbol, Value};

    const NOTE: &str = "x-opt-note";

    use crate::protocol::amqp;
    use proptest::collection::vec;
    use proptest::prelude::any;

    fn event(n: u8) -> Vec<u8> {
        let message = Message::builder()
            .body(Body::<Value>::Data(
                vec![Data(Binary::from(vec![n; 300]))].into(),
            ))
            .build();
        amqp::encode(&message).expect("encode").to_vec()
    }

    /// A batch envelope as the SDKs send it: the events as data sections, an annotation for the
    /// whole batch.
    fn envelope(events: &[Vec<u8>], key: Option<&str>) -> Bytes {
        let sections = events
            .iter()
            .map(|e| Data(Binary::from(e.clone())))
            .collect::<Vec<_>>();
        let mut message = Message::builder()
            .body(Body::<Value>::Data(sections.into()))
            .build();
        if let Some(key) = key {
            amqp::set_annotation(&mut message, NOTE, Value::from(key));
        }
        amqp::encode(&message).expect("encode")
    }

    #[test]
    fn a_batch_s_events_are_its_data_sections() {
        // 300-byte events take a data section's 4-byte length form, a 4-byte one the 1-byte form.
        let events = vec![event(1), event(2), vec![0x00, 0x53, 0x77, 0x40]];
        let found = events_of(&envelope(&events, Some("k"))).expect("a batch");
        assert_eq!(found.events, events);
        let note = found
            .annotations
            .as_ref()
            .and_then(|a| a.0.get(&OwnedKey::Symbol(Symbol::from(NOTE))));
        assert_eq!(note, Some(&Value::from("k")));

        let found = events_of(&envelope(&events[..1], None)).expect("a batch");
        assert!(found.annotations.is_none());
    }

    #[test]
    fn a_batch_that_is_not_data_sections_of_messages_is_refused() {
        let value = Message::builder()
            .body(Body::<Value>::Value(AmqpValue(Value::from(1))))
            .build();
        let not_data = events_of(&amqp::encode(&value).expect("encode")).expect_err("refused");
        assert!(matches!(not_data, BatchError::NotData), "{not_data}");

        let not_a_message = events_of(&envelope(&[b"plain bytes".to_vec()], None));
        assert!(not_a_message
            .expect_err("refused")
            .to_string()
            .starts_with("Event 0 of the batch"));

        let mut cut = envelope(&[event(1)], None).to_vec();
        cut.truncate(cut.len() - 1);
        assert!(events_of(&Bytes::from(cut)).is_err());
    }

    proptest::proptest! {
        // Fuzz: any set of events comes back exactly; arbitrary bytes and mutated envelopes
        // never panic (the events are sliced from the buffer, so a wrong range would).
        #[test]
        fn envelopes_give_back_their_events(
            bodies in vec(vec(0u8..255, 0..400), 1..8),
        ) {
            let events: Vec<Vec<u8>> = bodies
                .into_iter()
                .map(|body| {
                    let message = Message::builder()
                        .body(Body::<Value>::Data(vec![Data(Binary::from(body))].into()))
                        .build();
                    amqp::encode(&message).expect("encode").to_vec()
                })
                .collect();
            let found = events_of(&envelope(&events, Some("k"))).expect("a batch");
            proptest::prop_assert_eq!(found.events, events);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
            let _ = events_of(&Bytes::from(bytes));
        }

        #[test]
        fn mutated_envelopes_never_panic(index in 0usize..2048, byte in any::<u8>()) {
            let mut bytes = envelope(&[event(1), event(2)], Some("k")).to_vec();
            let i = index % bytes.len();
            bytes[i] = byte;
            let _ = events_of(&Bytes::from(bytes));
        }
    }
}
