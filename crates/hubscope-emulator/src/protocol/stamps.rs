//! The message annotations of a delivered event, written straight to bytes.
//!
//! The service stamps every event it delivers with its sequence number, offset, enqueued time and
//! partition key, as message annotations next to any the publisher set. Decoding the publisher's
//! annotations into a map of fe2o3 values, inserting the stamps and encoding the map again cost a
//! tenth of the endpoint's CPU at 100,000 deliveries/s; this copies the publisher's entries as they
//! are and appends the stamps. Like `wire`, it reads stored bytes without trusting them and never
//! panics.

use crate::protocol::wire::{self, WireError};

/// The service's annotations on a delivered event.
#[derive(Debug, Clone, Copy)]
pub struct Stamps<'a> {
    pub sequence_number: i64,
    pub offset: u64,
    pub enqueued_ms: i64,
    pub partition_key: Option<&'a str>,
}

const SEQUENCE_NUMBER: &[u8] = b"x-opt-sequence-number";
const OFFSET: &[u8] = b"x-opt-offset";
const ENQUEUED_TIME: &[u8] = b"x-opt-enqueued-time";
const PARTITION_KEY: &[u8] = b"x-opt-partition-key";

/// Writes a message-annotations section: the entries of the publisher's section (`publisher`, the
/// whole encoded section) except any under the keys the service stamps, then the stamps.
///
/// # Errors
/// [`WireError`] when the publisher's section is not a map of whole key–value pairs; nothing is
/// written then.
pub fn write_annotations(
    publisher: Option<&[u8]>,
    stamps: &Stamps<'_>,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let mut entries = Vec::with_capacity(160);
    let mut count = 0u32;
    if let Some(section) = publisher {
        for_each_entry(section, |key, value| {
            let stamped = symbol(key).is_some_and(|name| {
                [SEQUENCE_NUMBER, OFFSET, ENQUEUED_TIME].contains(&name)
                    || (name == PARTITION_KEY && stamps.partition_key.is_some())
            });
            if !stamped {
                entries.extend_from_slice(key);
                entries.extend_from_slice(value);
                count += 2;
            }
        })?;
    }
    put_symbol(SEQUENCE_NUMBER, &mut entries);
    entries.push(0x81); // long
    entries.extend_from_slice(&stamps.sequence_number.to_be_bytes());
    put_symbol(OFFSET, &mut entries);
    put_string(&stamps.offset.to_string(), &mut entries);
    put_symbol(ENQUEUED_TIME, &mut entries);
    entries.push(0x83); // timestamp
    entries.extend_from_slice(&stamps.enqueued_ms.to_be_bytes());
    count += 6;
    if let Some(key) = stamps.partition_key {
        put_symbol(PARTITION_KEY, &mut entries);
        put_string(key, &mut entries);
        count += 2;
    }

    out.extend_from_slice(&[0x00, 0x53, 0x72]);
    if let (Ok(size), Ok(count)) = (u8::try_from(entries.len() + 1), u8::try_from(count)) {
        out.extend_from_slice(&[0xc1, size, count]);
    } else {
        let size = u32::try_from(entries.len() + 4)
            .map_err(|_| WireError::Malformed("message annotations too large"))?;
        out.push(0xd1);
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
    }
    out.extend_from_slice(&entries);
    Ok(())
}

/// Calls `entry` with each encoded key and value of a message-annotations section.
fn for_each_entry(section: &[u8], mut entry: impl FnMut(&[u8], &[u8])) -> Result<(), WireError> {
    let not_a_map = WireError::Malformed("message annotations are not a map");
    if section.first() != Some(&0x00) {
        return Err(not_a_map);
    }
    let descriptor = wire::value_len(&section[1..])?;
    let map = section.get(1 + descriptor..).ok_or(WireError::Incomplete)?;
    let map = map
        .get(..wire::value_len(map)?)
        .ok_or(WireError::Incomplete)?;
    let mut elements = match map.first() {
        Some(0x40) => return Ok(()), // null: no annotations
        Some(0xc1) => map.get(3..),
        Some(0xd1) => map.get(9..),
        _ => return Err(not_a_map),
    }
    .ok_or(WireError::Incomplete)?;
    while !elements.is_empty() {
        let key_len = wire::value_len(elements)?;
        let (key, rest) = elements.split_at(key_len);
        // Annotation keys are symbols or ulongs (AMQP 1.0 §3.2.10).
        if !matches!(key[0], 0xa3 | 0xb3 | 0x80 | 0x53 | 0x44) {
            return Err(WireError::Malformed(
                "message annotations key is not a symbol or ulong",
            ));
        }
        if rest.is_empty() {
            return Err(WireError::Malformed(
                "message annotations key without a value",
            ));
        }
        let value_len = wire::value_len(rest)?;
        let (value, rest) = rest.split_at(value_len);
        entry(key, value);
        elements = rest;
    }
    Ok(())
}

/// The name of an encoded symbol, or `None` for any other value.
fn symbol(encoded: &[u8]) -> Option<&[u8]> {
    match encoded.first()? {
        0xa3 => encoded.get(2..),
        0xb3 => encoded.get(5..),
        _ => None,
    }
}

fn put_symbol(name: &[u8], out: &mut Vec<u8>) {
    put_variable(0xa3, 0xb3, name, out);
}

fn put_string(text: &str, out: &mut Vec<u8>) {
    put_variable(0xa1, 0xb1, text.as_bytes(), out);
}

/// A variable-width value: the one-byte-length constructor when it fits, else the four-byte one.
fn put_variable(short: u8, long: u8, bytes: &[u8], out: &mut Vec<u8>) {
    if let Ok(len) = u8::try_from(bytes.len()) {
        out.extend_from_slice(&[short, len]);
    } else {
        out.push(long);
        // Stored keys and offsets are far below 4 GiB; saturate rather than wrap if not.
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::annotations::OwnedKey;
    use fe2o3_amqp_types::messaging::MessageAnnotations;
    use fe2o3_amqp_types::primitives::{OrderedMap, Symbol, Timestamp, Value};
    use proptest::prelude::*;
    use serde::Serialize;

    fn encode(annotations: &MessageAnnotations) -> Vec<u8> {
        let mut out = Vec::new();
        annotations
            .serialize(&mut serde_amqp::ser::Serializer::new(&mut out))
            .expect("encode");
        out
    }

    /// The decoded entries in a canonical order: where the stamps go in the map does not matter.
    fn decode(section: &[u8]) -> Vec<(String, Value)> {
        let annotations: MessageAnnotations =
            serde_amqp::from_slice(section).expect("a message-annotations section");
        entries_of(annotations)
    }

    fn entries_of(annotations: MessageAnnotations) -> Vec<(String, Value)> {
        let mut entries: Vec<_> = annotations
            .0
            .into_iter()
            .map(|(k, v)| (format!("{k:?}"), v))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    fn key(name: &str) -> OwnedKey {
        OwnedKey::Symbol(Symbol::from(name))
    }

    /// What the stamped annotations must decode to: the publisher's map with the stamps
    /// inserted over it, as fe2o3 would build it.
    fn expected(
        publisher: Option<&MessageAnnotations>,
        stamps: &Stamps<'_>,
    ) -> Vec<(String, Value)> {
        let mut map = publisher.map_or_else(OrderedMap::new, |a| a.0.clone());
        map.insert(
            key("x-opt-sequence-number"),
            Value::Long(stamps.sequence_number),
        );
        map.insert(
            key("x-opt-offset"),
            Value::String(stamps.offset.to_string()),
        );
        map.insert(
            key("x-opt-enqueued-time"),
            Value::Timestamp(Timestamp::from_milliseconds(stamps.enqueued_ms)),
        );
        if let Some(k) = stamps.partition_key {
            map.insert(key("x-opt-partition-key"), Value::String(k.to_owned()));
        }
        entries_of(MessageAnnotations(map))
    }

    const STAMPS: Stamps<'static> = Stamps {
        sequence_number: 41,
        offset: 123_456,
        enqueued_ms: 1_700_000_000_000,
        partition_key: Some("device-7"),
    };

    #[test]
    fn without_publisher_annotations_only_the_stamps() {
        let mut out = Vec::new();
        write_annotations(None, &STAMPS, &mut out).expect("written");
        assert_eq!(decode(&out), expected(None, &STAMPS));
    }

    #[test]
    fn the_publisher_s_entries_stay_and_the_stamps_win() {
        let mut map = OrderedMap::new();
        map.insert(key("custom"), Value::Bool(true));
        map.insert(key("x-opt-sequence-number"), Value::Long(-5));
        map.insert(key("x-opt-partition-key"), Value::String("theirs".into()));
        map.insert(OwnedKey::Ulong(7), Value::Binary(vec![1, 2, 3].into()));
        let publisher = MessageAnnotations(map);
        let mut out = Vec::new();
        write_annotations(Some(&encode(&publisher)), &STAMPS, &mut out).expect("written");
        assert_eq!(decode(&out), expected(Some(&publisher), &STAMPS));
    }

    #[test]
    fn a_publisher_s_partition_key_stays_when_the_event_has_none_of_its_own() {
        let mut map = OrderedMap::new();
        map.insert(key("x-opt-partition-key"), Value::String("theirs".into()));
        let publisher = MessageAnnotations(map);
        let stamps = Stamps {
            partition_key: None,
            ..STAMPS
        };
        let mut out = Vec::new();
        write_annotations(Some(&encode(&publisher)), &stamps, &mut out).expect("written");
        assert_eq!(decode(&out), expected(Some(&publisher), &stamps));
    }

    #[test]
    fn large_annotations_use_the_wide_map_encoding() {
        let long_key = "k".repeat(300);
        let stamps = Stamps {
            partition_key: Some(&long_key),
            ..STAMPS
        };
        let mut out = Vec::new();
        write_annotations(None, &stamps, &mut out).expect("written");
        assert_eq!(out[3], 0xd1);
        assert_eq!(decode(&out), expected(None, &stamps));
    }

    #[test]
    fn what_is_not_a_map_is_refused() {
        let mut out = Vec::new();
        for bad in [
            &[0x00, 0x53, 0x72, 0xa1, 0x01, b'x'][..],
            &[0x00, 0x53],
            &[0x41],
        ] {
            assert!(write_annotations(Some(bad), &STAMPS, &mut out).is_err());
        }
        // An odd number of elements: a key without its value.
        let lone_key = [0x00, 0x53, 0x72, 0xc1, 0x03, 0x01, 0xa3, 0x01, b'k'];
        assert!(write_annotations(Some(&lone_key), &STAMPS, &mut out).is_err());
        assert!(out.is_empty(), "nothing is written for a refused section");
    }

    fn a_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Long),
            any::<bool>().prop_map(Value::Bool),
            ".{0,300}".prop_map(Value::String),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| Value::Binary(b.into())),
            proptest::collection::vec(any::<i32>(), 0..4)
                .prop_map(|v| Value::List(v.into_iter().map(Value::Int).collect())),
        ]
    }

    fn a_key() -> impl Strategy<Value = OwnedKey> {
        prop_oneof![
            prop::sample::select(vec![
                "x-opt-sequence-number",
                "x-opt-offset",
                "x-opt-enqueued-time",
                "x-opt-partition-key",
                "custom",
                "x-opt-publisher",
            ])
            .prop_map(key),
            "[a-z-]{1,40}".prop_map(|k| key(&k)),
            any::<u64>().prop_map(OwnedKey::Ulong),
        ]
    }

    proptest! {
        /// Whatever the publisher annotated, the result decodes to its map with the stamps set.
        #[test]
        fn stamping_matches_inserting_into_the_decoded_map(
            entries in proptest::collection::vec((a_key(), a_value()), 0..12),
            sequence_number in any::<i64>(),
            offset in any::<u64>(),
            enqueued_ms in any::<i64>(),
            partition_key in proptest::option::of(".{0,300}"),
        ) {
            let publisher = MessageAnnotations(entries.into_iter().collect());
            let stamps = Stamps {
                sequence_number,
                offset,
                enqueued_ms,
                partition_key: partition_key.as_deref(),
            };
            let mut out = Vec::new();
            write_annotations(Some(&encode(&publisher)), &stamps, &mut out).expect("written");
            prop_assert_eq!(decode(&out), expected(Some(&publisher), &stamps));
        }

        /// Stored bytes are not trusted: anything either stamps or is refused, without a panic.
        #[test]
        fn arbitrary_sections_never_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut section = vec![0x00, 0x53, 0x72];
            section.extend_from_slice(&tail);
            let mut out = Vec::new();
            if write_annotations(Some(&section), &STAMPS, &mut out).is_ok() {
                prop_assert_eq!(wire::value_len(&out), Ok(out.len()));
            }
        }
    }
}
