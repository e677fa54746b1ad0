//! Byte-level AMQP 1.0 values: how long an encoded value is, a performative's fields, and a
//! performative encoded with exactly the fields given.
//!
//! `codec` uses this to send every performative at full arity (docs/amqp-wire.md §0 item 1:
//! `serde_amqp` trims trailing nulls, and the Python client cannot read such performatives), and
//! `sections` and `stamps` to walk a message's sections without decoding them.
//!
//! Everything here parses untrusted bytes, so it never indexes without a bounds check, never
//! recurses without a depth limit, and returns [`WireError`] instead of panicking.

use std::fmt;

/// Size of an AMQP frame header: size (4), data offset (1), type (1), channel (2).
pub const FRAME_HEADER_LEN: usize = 8;
/// A protocol header (`AMQP` + protocol id + version) opens each direction, and again after SASL.
pub const PROTOCOL_HEADER_LEN: usize = 8;

/// Deepest nesting of described values we follow before calling the input malformed.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// More bytes are needed to finish the value or frame.
    Incomplete,
    /// The bytes cannot be AMQP.
    Malformed(&'static str),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete => f.write_str("incomplete AMQP value"),
            Self::Malformed(why) => write!(f, "malformed AMQP: {why}"),
        }
    }
}

impl std::error::Error for WireError {}

/// Performative descriptor codes (AMQP 1.0 §2.7, SASL §5.3) and the field count each has.
pub mod code {
    pub const OPEN: u64 = 0x10;
    pub const BEGIN: u64 = 0x11;
    pub const ATTACH: u64 = 0x12;
    pub const FLOW: u64 = 0x13;
    pub const TRANSFER: u64 = 0x14;
    pub const DISPOSITION: u64 = 0x15;
    pub const DETACH: u64 = 0x16;
    pub const END: u64 = 0x17;
    pub const CLOSE: u64 = 0x18;
    pub const SASL_MECHANISMS: u64 = 0x40;
    pub const SASL_INIT: u64 = 0x41;
    pub const SASL_CHALLENGE: u64 = 0x42;
    pub const SASL_RESPONSE: u64 = 0x43;
    pub const SASL_OUTCOME: u64 = 0x44;
}

/// The full number of fields of a performative, or `None` for descriptors we do not rewrite.
#[must_use]
pub fn full_arity(descriptor: u64) -> Option<usize> {
    Some(match descriptor {
        code::OPEN => 10,
        code::BEGIN => 8,
        code::ATTACH => 14,
        code::FLOW | code::TRANSFER => 11,
        code::DISPOSITION => 6,
        code::DETACH | code::SASL_INIT => 3,
        code::END
        | code::CLOSE
        | code::SASL_MECHANISMS
        | code::SASL_CHALLENGE
        | code::SASL_RESPONSE => 1,
        code::SASL_OUTCOME => 2,
        _ => return None,
    })
}

fn take(buf: &[u8], n: usize) -> Result<&[u8], WireError> {
    buf.get(..n).ok_or(WireError::Incomplete)
}

fn be_u32(buf: &[u8]) -> Result<usize, WireError> {
    let b = take(buf, 4)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

/// Length in bytes of the encoded AMQP value at the start of `buf`.
///
/// # Errors
/// [`WireError::Incomplete`] if `buf` ends inside the value; [`WireError::Malformed`] for an
/// unknown constructor or nesting beyond [`MAX_DEPTH`].
pub fn value_len(buf: &[u8]) -> Result<usize, WireError> {
    value_len_at_depth(buf, 0)
}

fn value_len_at_depth(buf: &[u8], depth: usize) -> Result<usize, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::Malformed("described values nested too deeply"));
    }
    let constructor = *buf.first().ok_or(WireError::Incomplete)?;
    if constructor == 0x00 {
        let rest = &buf[1..];
        let descriptor = value_len_at_depth(rest, depth + 1)?;
        let value = value_len_at_depth(rest.get(descriptor..).unwrap_or_default(), depth + 1)?;
        return Ok(1 + descriptor + value);
    }
    let body = match constructor >> 4 {
        0x4 => 0,
        0x5 => 1,
        0x6 => 2,
        0x7 => 4,
        0x8 => 8,
        0x9 => 16,
        // Variable width and compound types carry their own size after the constructor.
        0xa | 0xc | 0xe => 1 + usize::from(*buf.get(1).ok_or(WireError::Incomplete)?),
        0xb | 0xd | 0xf => 4 + be_u32(&buf[1..])?,
        _ => return Err(WireError::Malformed("unknown constructor")),
    };
    let total = 1usize
        .checked_add(body)
        .ok_or(WireError::Malformed("size overflows"))?;
    if buf.len() < total {
        return Err(WireError::Incomplete);
    }
    Ok(total)
}

/// A performative split into its descriptor and the encoded bytes of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Performative<'a> {
    pub descriptor: u64,
    pub fields: Vec<&'a [u8]>,
    /// Bytes the performative occupied; whatever follows in the frame body is payload.
    pub encoded_len: usize,
}

/// Splits the described list at the start of a frame body into its fields.
///
/// # Errors
/// [`WireError`] when the body is not a described list with a numeric descriptor.
pub fn parse_performative(body: &[u8]) -> Result<Performative<'_>, WireError> {
    if body.first() != Some(&0x00) {
        return Err(WireError::Malformed(
            "performative is not a described value",
        ));
    }
    let (descriptor, descriptor_len) = match body.get(1) {
        Some(0x53) => (u64::from(*body.get(2).ok_or(WireError::Incomplete)?), 2),
        Some(0x80) => {
            let b = take(body.get(2..).unwrap_or_default(), 8)?;
            let mut word = [0u8; 8];
            word.copy_from_slice(b);
            (u64::from_be_bytes(word), 9)
        }
        Some(0x44) => (0, 1),
        Some(_) => {
            return Err(WireError::Malformed(
                "performative descriptor is not a ulong",
            ))
        }
        None => return Err(WireError::Incomplete),
    };
    let list = &body[1 + descriptor_len..];
    let list_len = value_len(list)?;
    let (count, mut cursor) = match list.first() {
        Some(0x45) => (0, 1),
        Some(0xc0) => (usize::from(*list.get(2).ok_or(WireError::Incomplete)?), 3),
        Some(0xd0) => (be_u32(list.get(5..).unwrap_or_default())?, 9),
        _ => return Err(WireError::Malformed("performative body is not a list")),
    };
    // Every field takes at least one byte, so a count beyond the list's size is a lie.
    if count > list_len {
        return Err(WireError::Malformed("list count exceeds its size"));
    }
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        let rest = list.get(cursor..list_len).unwrap_or_default();
        let len = value_len(rest).map_err(|e| match e {
            WireError::Incomplete => WireError::Malformed("list element overruns the list"),
            malformed @ WireError::Malformed(_) => malformed,
        })?;
        fields.push(&rest[..len]);
        cursor += len;
    }
    if cursor != list_len {
        return Err(WireError::Malformed(
            "list size disagrees with its elements",
        ));
    }
    Ok(Performative {
        descriptor,
        fields,
        encoded_len: 1 + descriptor_len + list_len,
    })
}

/// Encodes a performative as `0x00 0x53 <code> <list>` with exactly the given fields.
pub fn encode_performative(descriptor: u64, fields: &[&[u8]], out: &mut Vec<u8>) {
    out.push(0x00);
    if let Ok(small) = u8::try_from(descriptor) {
        out.extend_from_slice(&[0x53, small]);
    } else {
        out.push(0x80);
        out.extend_from_slice(&descriptor.to_be_bytes());
    }
    let content: usize = fields.iter().map(|f| f.len()).sum();
    if let (Ok(size), Ok(count)) = (u8::try_from(content + 1), u8::try_from(fields.len())) {
        out.extend_from_slice(&[0xc0, size, count]);
    } else {
        out.push(0xd0);
        // Frames are bounded far below 4 GiB, so these casts cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        {
            out.extend_from_slice(&((content + 4) as u32).to_be_bytes());
            out.extend_from_slice(&(fields.len() as u32).to_be_bytes());
        }
    }
    for field in fields {
        out.extend_from_slice(field);
    }
}

/// Encodes an AMQP `uint`.
#[must_use]
pub fn encode_uint(value: u32) -> Vec<u8> {
    let mut v = vec![0x70];
    v.extend_from_slice(&value.to_be_bytes());
    v
}

/// An AMQP frame on `channel` holding one performative, for tests.
#[cfg(test)]
#[must_use]
pub fn test_frame(channel: u16, descriptor: u64, fields: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    encode_performative(descriptor, fields, &mut body);
    let mut f = Vec::new();
    f.extend_from_slice(&u32::try_from(8 + body.len()).unwrap_or(0).to_be_bytes());
    f.extend_from_slice(&[2, 0]);
    f.extend_from_slice(&channel.to_be_bytes());
    f.extend_from_slice(&body);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_list0_performative_has_no_fields() {
        let p = parse_performative(&[0x00, 0x53, 0x18, 0x45]).expect("a close");
        assert_eq!(p.descriptor, code::CLOSE);
        assert!(p.fields.is_empty());
        assert_eq!(p.encoded_len, 4);
    }

    #[test]
    fn a_transfer_s_payload_follows_its_performative() {
        // transfer [handle=0, delivery-id=1] followed by a 3-byte payload
        let body = [
            0x00, 0x53, 0x14, 0xc0, 0x04, 0x02, 0x43, 0x52, 0x01, 0xaa, 0xbb, 0xcc,
        ];
        let p = parse_performative(&body).expect("a transfer");
        assert_eq!(p.descriptor, code::TRANSFER);
        assert_eq!(p.fields, vec![&[0x43][..], &[0x52, 0x01][..]]);
        assert_eq!(&body[p.encoded_len..], &[0xaa, 0xbb, 0xcc]);
    }

    #[test]
    fn rejects_runaway_nesting() {
        let deep = vec![0x00; 100];
        assert!(matches!(value_len(&deep), Err(WireError::Malformed(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Arbitrary bytes never panic the parser.
        #[test]
        fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_performative(&body);
            let _ = value_len(&body);
        }

        /// Performatives encoded from valid fields parse back to the same fields.
        #[test]
        fn encoded_fields_parse_back(values in proptest::collection::vec(0u32..100_000, 0..300)) {
            let encoded: Vec<Vec<u8>> = values.iter().map(|v| encode_uint(*v)).collect();
            let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
            let mut body = Vec::new();
            encode_performative(code::OPEN, &refs, &mut body);
            let p = parse_performative(&body).expect("parses");
            prop_assert_eq!(p.fields, refs);
            prop_assert_eq!(p.encoded_len, body.len());
        }
    }
}
