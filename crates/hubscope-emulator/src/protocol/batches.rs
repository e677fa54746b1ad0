//! Publish batches taken off the wire before fe2o3 reassembles them.
//!
//! A batch is up to 1 MB of events arriving in 64 KiB frames. fe2o3 would reassemble it (scanning
//! every byte for section boundaries) and then decode each event into a buffer of its own: about
//! an eighth of the endpoint's CPU at 100,000 events/s. Instead the shim collects a batch's
//! payload into one buffer as its frames go by ([`Collecting`]), parks it here, and hands fe2o3
//! the same transfer frames with empty payloads, the last one carrying a token in place of the
//! message ([`token_payload`]). fe2o3's session and link state still see every frame, so flow
//! control and settlement are untouched. The publish link takes the batch by its token; its
//! events are slices of the one buffer ([`events_of`]).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use fe2o3_amqp::types::messaging::MessageAnnotations;

use crate::protocol::amqp::BATCH_MESSAGE_FORMAT;
use crate::protocol::sections;
use crate::protocol::wire::{self, WireError};

/// Bytes of a batch kept beyond this are only counted: enough to report its size when rejecting
/// it (the limit itself, 1 MB of events, is `publish`'s to apply). The same bound as fe2o3's
/// reassembly of other deliveries.
pub const COLLECT_LIMIT: usize = 4 * 1024 * 1024;

/// Parked bytes per connection above which new batches go to fe2o3 as they are. Parked batches
/// are taken within a scheduler turn or two; only a delivery fe2o3 drops (its link failing
/// mid-way) leaves one behind, until the connection ends.
const PARKED_LIMIT: usize = 64 * 1024 * 1024;

/// One connection's batches between the shim and the publish links.
#[derive(Debug, Default)]
pub struct InboundBatches {
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next_token: u64,
    parked: HashMap<u64, Batch>,
    parked_bytes: usize,
}

/// A collected batch: its encoded message, or only its size when it outgrew [`COLLECT_LIMIT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Batch {
    Whole(Bytes),
    TooLarge { size: u64 },
}

impl InboundBatches {
    /// Whether a new batch may be collected, or must go to fe2o3 as it is.
    pub fn has_room(&self) -> bool {
        self.lock().parked_bytes < PARKED_LIMIT
    }

    /// Parks a batch until its publish link takes it; returns its token.
    pub fn park(&self, batch: Batch) -> u64 {
        let mut table = self.lock();
        let token = table.next_token;
        table.next_token += 1;
        if let Batch::Whole(bytes) = &batch {
            table.parked_bytes += bytes.len();
        }
        table.parked.insert(token, batch);
        token
    }

    /// The batch parked under `token`, once.
    pub fn take(&self, token: u64) -> Option<Batch> {
        let mut table = self.lock();
        let batch = table.parked.remove(&token)?;
        if let Batch::Whole(bytes) = &batch {
            table.parked_bytes -= bytes.len();
        }
        Some(batch)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table is consistent after every statement, so a panic elsewhere cannot corrupt it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A batch's payload while its frames arrive: each frame's part, joined at the end into a buffer
/// of exactly the batch's size. (One growing buffer would leave up to half its capacity unused,
/// held for as long as any of the batch's events is stored.)
#[derive(Debug, Default)]
pub struct Collecting {
    parts: Vec<Vec<u8>>,
    size: u64,
}

impl Collecting {
    pub fn push(&mut self, payload: &[u8]) {
        self.size += payload.len() as u64;
        if self.size <= COLLECT_LIMIT as u64 {
            self.parts.push(payload.to_vec());
        } else {
            self.parts = Vec::new();
        }
    }

    #[must_use]
    pub fn finish(mut self) -> Batch {
        if self.size > COLLECT_LIMIT as u64 {
            return Batch::TooLarge { size: self.size };
        }
        let whole = if self.parts.len() == 1 {
            self.parts.pop().unwrap_or_default()
        } else {
            self.parts.concat()
        };
        Batch::Whole(Bytes::from(whole))
    }
}

/// Takes a publish batch's payload off one of its transfer frames: returns the frame fe2o3 gets
/// instead, or `None` when the frame goes on as it is. `collecting` holds the batches under way
/// by link (channel, handle); `in_progress` the links in the middle of any delivery.
///
/// # Errors
/// When the frame's performative is malformed.
pub(super) fn collect(
    frame: &[u8],
    collecting: &mut HashMap<(u16, u64), Collecting>,
    in_progress: &HashSet<(u16, u64)>,
    batches: &InboundBatches,
) -> Result<Option<Vec<u8>>, WireError> {
    if crate::protocol::codec::descriptor(frame) != Some(wire::code::TRANSFER) {
        return Ok(None);
    }
    let body = wire::frame_body(frame);
    let performative = wire::parse_performative(body)?;
    let field = |i: usize| performative.fields.get(i).copied().unwrap_or(&[0x40]);
    let channel = crate::protocol::codec::channel(frame);
    let link = (channel, wire::decode_unsigned(field(0)).unwrap_or(u64::MAX));
    if let Entry::Vacant(entry) = collecting.entry(link) {
        let starts_batch = !in_progress.contains(&link)
            && wire::decode_unsigned(field(3)) == Some(u64::from(BATCH_MESSAGE_FORMAT));
        if !starts_batch || !batches.has_room() {
            return Ok(None);
        }
        entry.insert(Collecting::default());
    }
    let token;
    let payload: &[u8] = if wire::is_true(field(9)) {
        collecting.remove(&link); // aborted
        &[]
    } else if wire::is_true(field(5)) {
        if let Some(collecting) = collecting.get_mut(&link) {
            collecting.push(&body[performative.encoded_len..]);
        }
        &[]
    } else {
        let mut collecting = collecting.remove(&link).unwrap_or_default();
        collecting.push(&body[performative.encoded_len..]);
        token = token_payload(batches.park(collecting.finish()));
        &token
    };
    let head = frame.len() - body.len() + performative.encoded_len;
    let mut replaced = Vec::with_capacity(head + payload.len());
    replaced.extend_from_slice(&frame[..head]);
    replaced.extend_from_slice(payload);
    let size = u32::try_from(replaced.len()).unwrap_or(u32::MAX);
    replaced[..4].copy_from_slice(&size.to_be_bytes());
    Ok(Some(replaced))
}

/// The message fe2o3 receives in place of a parked batch: an amqp-value section holding the
/// token as a ulong.
#[must_use]
pub fn token_payload(token: u64) -> [u8; 12] {
    let mut payload = [0u8; 12];
    payload[..4].copy_from_slice(&[0x00, 0x53, 0x77, 0x80]);
    payload[4..].copy_from_slice(&token.to_be_bytes());
    payload
}

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
    use fe2o3_amqp::types::messaging::{AmqpValue, Body, Data, Message};
    use fe2o3_amqp::types::primitives::{Binary, Symbol, Value};
    use fe2o3_amqp_types::messaging::annotations::OwnedKey;

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

    #[test]
    fn parked_batches_are_taken_once_by_their_token() {
        let batches = InboundBatches::default();
        let first = batches.park(Batch::Whole(Bytes::from_static(b"one")));
        let second = batches.park(Batch::TooLarge { size: 9 });
        assert_ne!(first, second);
        assert_eq!(batches.take(second), Some(Batch::TooLarge { size: 9 }));
        assert_eq!(
            batches.take(first),
            Some(Batch::Whole(Bytes::from_static(b"one")))
        );
        assert_eq!(batches.take(first), None);
        assert_eq!(batches.lock().parked_bytes, 0);
    }

    #[test]
    fn collecting_past_the_limit_keeps_only_the_size() {
        let mut collecting = Collecting::default();
        collecting.push(&[1; 10]);
        collecting.push(&[2; 5]);
        assert_eq!(
            collecting.finish(),
            Batch::Whole(Bytes::from([[1u8; 10].as_slice(), &[2; 5]].concat()))
        );
        let mut collecting = Collecting::default();
        collecting.push(&vec![0; COLLECT_LIMIT]);
        collecting.push(&[0; 3]);
        collecting.push(&[0; 3]);
        let size = COLLECT_LIMIT as u64 + 6;
        assert_eq!(collecting.finish(), Batch::TooLarge { size });
    }
}
