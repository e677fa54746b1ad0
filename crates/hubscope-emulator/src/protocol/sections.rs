//! An encoded AMQP message as its sections, found without decoding them (AMQP 1.0 §3.2).
//!
//! Events are stored as the publisher encoded them. Ingest only needs to know that each is a
//! well-formed run of sections, and delivery only needs to replace the message annotations and
//! copy the rest: decoding every event into fe2o3's types and encoding it again on the way out
//! cost more CPU than everything else a delivery does. Like `wire`, this parses untrusted bytes
//! and never panics.

use crate::protocol::wire::{self, WireError};

const HEADER: u64 = 0x70;
const DELIVERY_ANNOTATIONS: u64 = 0x71;
const MESSAGE_ANNOTATIONS: u64 = 0x72;
const DATA: u64 = 0x75;
const FOOTER: u64 = 0x78;

/// The section codes by their symbolic descriptors, which a publisher may use instead.
const SYMBOLIC: [(&[u8], u64); 9] = [
    (b"amqp:header:list", 0x70),
    (b"amqp:delivery-annotations:map", 0x71),
    (b"amqp:message-annotations:map", 0x72),
    (b"amqp:properties:list", 0x73),
    (b"amqp:application-properties:map", 0x74),
    (b"amqp:data:binary", 0x75),
    (b"amqp:amqp-sequence:list", 0x76),
    (b"amqp:amqp-value:*", 0x77),
    (b"amqp:footer:map", 0x78),
];

/// A message split where delivery needs it. Each part is the encoded section(s), descriptor
/// included; `rest` is everything from the properties on (properties, application properties,
/// body, footer), passed through untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sections<'a> {
    pub header: Option<&'a [u8]>,
    pub delivery_annotations: Option<&'a [u8]>,
    pub message_annotations: Option<&'a [u8]>,
    pub rest: &'a [u8],
}

/// Splits an encoded message into its sections, checking that it is nothing but sections, each
/// a whole described value, in the order AMQP prescribes, with one leniency the service has: a
/// header or annotations section may also come after the rest, at the end of the message. The
/// Python client writes its delivery annotations there, and the service takes them.
///
/// # Errors
/// [`WireError::Malformed`] (or `Incomplete` for a value cut short) when the bytes are not a
/// message.
pub fn split(message: &[u8]) -> Result<Sections<'_>, WireError> {
    let out_of_order = WireError::Malformed("message sections out of order");
    let mut sections = Sections::default();
    let mut cursor = 0;
    let mut last_code = 0;
    let mut rest = None::<std::ops::Range<usize>>;
    // Set once a header or annotations section has come after a later section: from then on,
    // only such sections may follow.
    let mut trailing = false;
    while cursor < message.len() {
        let section = &message[cursor..];
        let len = wire::value_len(section)?;
        let code = section_code(section)?;
        let leads = matches!(code, HEADER | DELIVERY_ANNOTATIONS | MESSAGE_ANNOTATIONS);
        if leads && code < last_code {
            trailing = true;
        } else if trailing {
            return Err(out_of_order);
        } else {
            // Body sections (data, sequence) may repeat; nothing else may, and order is fixed.
            let repeats_body = code == last_code && (0x75..=0x76).contains(&code);
            if code < last_code || (code == last_code && !repeats_body) {
                return Err(out_of_order);
            }
            let body_kinds = 0x75..=0x77;
            if body_kinds.contains(&last_code) && body_kinds.contains(&code) && code != last_code {
                return Err(WireError::Malformed("a message has one kind of body"));
            }
            last_code = code;
        }
        let bytes = &section[..len];
        let slot = match code {
            HEADER => Some(&mut sections.header),
            DELIVERY_ANNOTATIONS => Some(&mut sections.delivery_annotations),
            MESSAGE_ANNOTATIONS => Some(&mut sections.message_annotations),
            _ => None,
        };
        if let Some(slot) = slot {
            if slot.replace(bytes).is_some() {
                return Err(WireError::Malformed("a message section is repeated"));
            }
        } else {
            let start = rest.as_ref().map_or(cursor, |r| r.start);
            rest = Some(start..cursor + len);
        }
        cursor += len;
    }
    sections.rest = rest.map_or(&[][..], |r| &message[r]);
    Ok(sections)
}

/// Why [`data_bodies`] refused a message whose sections are well formed.
pub const NOT_DATA: &str = "the body is not data sections";

/// Where the contents of a message's data sections are: for a batch, its events. For a message
/// [`split`] has accepted (its section order is not checked again here).
///
/// # Errors
/// [`WireError::Malformed`] with [`NOT_DATA`] when the body is missing or of another kind, or
/// another error when a section is cut short.
pub fn data_bodies(message: &[u8]) -> Result<Vec<std::ops::Range<usize>>, WireError> {
    let mut bodies = Vec::new();
    let mut cursor = 0;
    while cursor < message.len() {
        let section = &message[cursor..];
        let len = wire::value_len(section)?;
        match section_code(section)? {
            DATA => {
                let value = descriptor_len(section)?;
                let (header, size) = match section.get(value) {
                    Some(0xa0) => (2, section.get(value + 1).map(|&n| usize::from(n))),
                    Some(0xb0) => (
                        5,
                        section.get(value + 1..value + 5).map(|b| {
                            let mut word = [0u8; 4];
                            word.copy_from_slice(b);
                            u32::from_be_bytes(word) as usize
                        }),
                    ),
                    _ => (0, None),
                };
                let size = size.ok_or(WireError::Malformed("a data section holds no binary"))?;
                let start = cursor + value + header;
                // `value_len` has measured the section by the same length, so this holds; it is
                // checked because the range will slice a buffer.
                if start + size > cursor + len {
                    return Err(WireError::Malformed("a data section overruns its length"));
                }
                bodies.push(start..start + size);
            }
            0x76 | 0x77 => return Err(WireError::Malformed(NOT_DATA)),
            _ => {}
        }
        cursor += len;
    }
    if bodies.is_empty() {
        return Err(WireError::Malformed(NOT_DATA));
    }
    Ok(bodies)
}

/// The length of the descriptor at the start of a section `split` has accepted.
fn descriptor_len(section: &[u8]) -> Result<usize, WireError> {
    match section.get(1) {
        Some(0x53) => Ok(3),
        Some(0x80) => Ok(10),
        Some(0xa3) => Ok(3 + usize::from(*section.get(2).ok_or(WireError::Incomplete)?)),
        _ => Err(WireError::Malformed("not a message section")),
    }
}

/// The section code of the described value at the start of `section`.
fn section_code(section: &[u8]) -> Result<u64, WireError> {
    let not_a_section = WireError::Malformed("not a message section");
    if section.first() != Some(&0x00) {
        return Err(not_a_section);
    }
    let code = match section.get(1) {
        Some(0x53) => section.get(2).map(|&c| u64::from(c)),
        Some(0x80) => section.get(2..10).map(|b| {
            let mut word = [0u8; 8];
            word.copy_from_slice(b);
            u64::from_be_bytes(word)
        }),
        Some(0xa3) => {
            let len = usize::from(*section.get(2).ok_or(WireError::Incomplete)?);
            let name = section.get(3..3 + len).ok_or(WireError::Incomplete)?;
            SYMBOLIC
                .iter()
                .find(|(symbol, _)| *symbol == name)
                .map(|&(_, code)| code)
        }
        _ => None,
    };
    code.filter(|c| (HEADER..=FOOTER).contains(c))
        .ok_or(not_a_section)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::annotations::OwnedKey;
    use fe2o3_amqp_types::messaging::ApplicationProperties;
    use fe2o3_amqp_types::messaging::{Body, Data, Header, Message, MessageAnnotations};
    use fe2o3_amqp_types::primitives::{Binary, OrderedMap, Symbol, Value};
    use proptest::prelude::*;

    use crate::protocol::amqp;

    fn event(with_header: bool, with_annotations: bool) -> Vec<u8> {
        let mut message = Message::builder()
            .body(Body::<Value>::Data(
                vec![Data(Binary::from(b"hello".to_vec()))].into(),
            ))
            .build();
        message.application_properties =
            Some(ApplicationProperties::builder().insert("k", 1).build());
        if with_header {
            message.header = Some(Header::default());
        }
        if with_annotations {
            let mut map = OrderedMap::new();
            map.insert(
                OwnedKey::Symbol(Symbol::from("x-opt-partition-key")),
                Value::from("key"),
            );
            message.message_annotations = Some(MessageAnnotations(map));
        }
        amqp::encode(&message).expect("encode").to_vec()
    }

    #[test]
    fn splits_header_and_annotations_from_the_rest() {
        let bytes = event(true, true);
        let sections = split(&bytes).expect("a message");
        let header = sections.header.expect("header");
        let annotations = sections.message_annotations.expect("annotations");
        assert_eq!(sections.delivery_annotations, None);
        // Reassembled, the parts are the message again.
        assert_eq!([header, annotations, sections.rest].concat(), bytes);
        assert!(sections.rest.starts_with(&[0x00, 0x53, 0x74]));
    }

    #[test]
    fn a_bare_event_is_all_rest() {
        let bytes = event(false, false);
        let sections = split(&bytes).expect("a message");
        assert_eq!(sections.rest, &bytes[..]);
        assert_eq!(sections.header, None);
    }

    #[test]
    fn symbolic_descriptors_are_sections_too() {
        let mut bytes = vec![0x00, 0xa3, 16];
        bytes.extend_from_slice(b"amqp:data:binary");
        bytes.extend_from_slice(&[0xa0, 2, b'h', b'i']);
        assert_eq!(split(&bytes).expect("a message").rest, &bytes[..]);
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        let good = event(true, true);
        for bad in [
            &b"plain text"[..],
            &[0x00, 0x53, 0x10, 0x45][..], // an Open performative, not a section
            &good[..good.len() - 1],       // cut short
            &[0x00, 0x53, 0x75, 0xa0, 9, 1][..], // data claiming more bytes than it has
        ] {
            assert!(split(bad).is_err(), "{bad:?}");
        }
        // A header between the body's parts, and one given twice: out of order.
        let sections = split(&good).expect("good");
        let header = sections.header.expect("header");
        let misplaced = [sections.rest, header, sections.rest].concat();
        assert!(split(&misplaced).is_err());
        assert!(split(&[header, &good[..]].concat()).is_err());
    }

    /// The Python client writes delivery annotations after the body (and the footer); the service
    /// takes such a message, and so do we.
    #[test]
    fn annotations_after_the_body_are_taken() {
        let good = event(true, true);
        let parts = split(&good).expect("good");
        let delivery_annotations = [0x00, 0x53, 0x71, 0xc1, 1, 0];
        let late = [&good[..], &delivery_annotations[..]].concat();
        let sections = split(&late).expect("taken");
        assert_eq!(
            sections.delivery_annotations,
            Some(&delivery_annotations[..])
        );
        assert_eq!(sections.rest, parts.rest);
        assert_eq!(sections.header, parts.header);
        // A header after the body, too.
        let header = parts.header.expect("header");
        let reordered = [&good[header.len()..], header].concat();
        assert_eq!(split(&reordered).expect("taken").header, Some(header));
    }

    #[test]
    fn several_data_sections_are_one_body() {
        let data = [0x00, 0x53, 0x75, 0xa0, 1, b'x'];
        let bytes = [&data[..], &data[..]].concat();
        assert!(split(&bytes).is_ok());
        let value = [0x00, 0x53, 0x77, 0x40];
        assert!(split(&[&data[..], &value[..]].concat()).is_err());
    }

    proptest! {
        // Fuzz: arbitrary bytes never panic, and whatever splits reassembles exactly.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(s) = split(&bytes) {
                // Put back in the order they stand in the message, the parts are the message.
                let mut parts: Vec<&[u8]> = [s.header, s.delivery_annotations, s.message_annotations]
                    .into_iter()
                    .flatten()
                    .chain(std::iter::once(s.rest))
                    .collect();
                parts.sort_by_key(|part| part.as_ptr() as usize);
                prop_assert_eq!(parts.concat(), bytes);
            }
        }

        // Mutated real messages: the decoder and the splitter may disagree on what is valid
        // inside a section, but the splitter must never panic.
        #[test]
        fn mutated_messages_never_panic(index in 0usize..64, byte in any::<u8>()) {
            let mut bytes = event(true, true);
            let i = index % bytes.len();
            bytes[i] = byte;
            let _ = split(&bytes);
        }
    }
}
