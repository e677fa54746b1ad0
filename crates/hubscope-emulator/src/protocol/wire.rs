//! Byte-level AMQP 1.0 framing: just enough to walk encoded values and rewrite performatives.
//!
//! fe2o3-amqp does all real protocol work. This module exists because two official clients read
//! performative fields at fixed positions (docs/amqp-wire.md §0 items 1–2): the Python client cannot decode
//! a performative whose trailing null fields were trimmed, which AMQP allows and `serde_amqp` does.
//! [`rewrite_frame`] re-encodes a frame's performative at full arity, optionally replacing fields.
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

/// A field to put in place of whatever a performative carries at `index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldOverride {
    pub index: usize,
    pub encoded: Vec<u8>,
}

/// Encodes an AMQP `uint`.
#[must_use]
pub fn encode_uint(value: u32) -> Vec<u8> {
    let mut v = vec![0x70];
    v.extend_from_slice(&value.to_be_bytes());
    v
}

/// Encodes an AMQP `ulong`.
#[must_use]
pub fn encode_ulong(value: u64) -> Vec<u8> {
    let mut v = vec![0x80];
    v.extend_from_slice(&value.to_be_bytes());
    v
}

/// Decodes an AMQP unsigned integer field (uint or ulong in any width); `None` for null or
/// anything else.
#[must_use]
pub fn decode_unsigned(field: &[u8]) -> Option<u64> {
    let (&constructor, rest) = field.split_first()?;
    match constructor {
        0x43 | 0x44 => Some(0),
        0x52 | 0x53 => rest.first().map(|&b| u64::from(b)),
        0x70 => rest
            .get(..4)
            .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        0x80 => rest.get(..8).map(|b| {
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            u64::from_be_bytes(w)
        }),
        _ => None,
    }
}

/// Decodes an AMQP `string` field (str8 or str32); `None` for anything else.
#[must_use]
pub fn decode_str(field: &[u8]) -> Option<&str> {
    let bytes = match field.split_first()? {
        (0xa1, rest) => rest.get(1..=usize::from(*rest.first()?))?,
        (0xb1, rest) => rest.get(4..4 + be_u32(rest).ok()?)?,
        _ => return None,
    };
    std::str::from_utf8(bytes).ok()
}

/// One unit of the byte stream: a protocol header or a whole frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    ProtocolHeader,
    Frame { size: usize },
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

/// Whether an encoded boolean field is `true`.
#[must_use]
pub fn is_true(field: &[u8]) -> bool {
    field == [0x41] || field == [0x56, 0x01]
}

/// The body of a whole frame: what follows its header (and any extended header). Empty for a
/// heartbeat, or for bytes too short to be a frame.
#[must_use]
pub fn frame_body(frame: &[u8]) -> &[u8] {
    frame
        .get(4)
        .and_then(|&data_offset| frame.get(usize::from(data_offset) * 4..))
        .unwrap_or_default()
}

/// Finds the next complete unit at the start of `buf`, refusing frames larger than `max_frame`.
///
/// # Errors
/// [`WireError::Incomplete`] when more bytes are needed, [`WireError::Malformed`] for a frame
/// header that cannot be valid.
pub fn next_unit(buf: &[u8], max_frame: usize) -> Result<Unit, WireError> {
    if buf.len() < 4 {
        return Err(WireError::Incomplete);
    }
    if &buf[..4] == b"AMQP" {
        return if buf.len() >= PROTOCOL_HEADER_LEN {
            Ok(Unit::ProtocolHeader)
        } else {
            Err(WireError::Incomplete)
        };
    }
    let size = be_u32(buf)?;
    if size < FRAME_HEADER_LEN {
        return Err(WireError::Malformed("frame smaller than its header"));
    }
    if size > max_frame {
        return Err(WireError::Malformed("frame larger than allowed"));
    }
    if buf.len() >= FRAME_HEADER_LEN {
        let data_offset = usize::from(buf[4]) * 4;
        if data_offset < FRAME_HEADER_LEN || data_offset > size {
            return Err(WireError::Malformed("bad frame data offset"));
        }
    }
    if buf.len() < size {
        return Err(WireError::Incomplete);
    }
    Ok(Unit::Frame { size })
}

/// Re-encodes one whole frame with its performative padded to full arity and with `overrides`
/// applied (each chosen by the performative's descriptor), appending the result to `out`.
///
/// Frames without a body (heartbeats) or with an unknown descriptor are copied unchanged.
///
/// # Errors
/// [`WireError`] if the frame's performative cannot be parsed; `out` is then unchanged.
pub fn rewrite_frame(
    frame: &[u8],
    overrides: impl Fn(&Performative<'_>) -> Vec<FieldOverride>,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let header = take(frame, FRAME_HEADER_LEN)?;
    let data_offset = usize::from(header[4]) * 4;
    let body = frame
        .get(data_offset..)
        .ok_or(WireError::Malformed("bad frame data offset"))?;
    if body.is_empty() {
        out.extend_from_slice(frame);
        return Ok(());
    }
    let performative = parse_performative(body)?;
    let payload = body
        .get(performative.encoded_len..)
        .ok_or(WireError::Malformed("performative longer than its frame"))?;
    let Some(arity) = full_arity(performative.descriptor) else {
        out.extend_from_slice(frame);
        return Ok(());
    };
    let replacements = overrides(&performative);
    let null: &[u8] = &[0x40];
    let mut fields = performative.fields;
    let wanted = replacements
        .iter()
        .map(|r| r.index + 1)
        .max()
        .unwrap_or(0)
        .max(arity);
    if fields.len() < wanted {
        fields.resize(wanted, null);
    }
    for replacement in &replacements {
        fields[replacement.index] = &replacement.encoded;
    }
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.push(2); // data offset: a plain 8-byte header, extended header dropped
    out.extend_from_slice(&header[5..8]);
    encode_performative(performative.descriptor, &fields, out);
    out.extend_from_slice(payload);
    let size = out.len() - start;
    let Ok(size) = u32::try_from(size) else {
        out.truncate(start);
        return Err(WireError::Malformed("rewritten frame too large"));
    };
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frame(channel: u16, body: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        let size = u32::try_from(8 + body.len()).unwrap_or(u32::MAX);
        f.extend_from_slice(&size.to_be_bytes());
        f.extend_from_slice(&[2, 0]);
        f.extend_from_slice(&channel.to_be_bytes());
        f.extend_from_slice(body);
        f
    }

    #[test]
    fn pads_trimmed_close_and_list0() {
        // close with list0: the Python client cannot read error[0] from it.
        let input = frame(0, &[0x00, 0x53, 0x18, 0x45]);
        let mut out = Vec::new();
        rewrite_frame(&input, |_| vec![], &mut out).expect("valid frame");
        assert_eq!(&out[8..], &[0x00, 0x53, 0x18, 0xc0, 0x02, 0x01, 0x40]);
        assert_eq!(be_u32(&out).expect("size"), out.len());
    }

    #[test]
    fn pads_transfer_and_keeps_payload() {
        // transfer [handle=0, delivery-id=1] followed by a 3-byte payload
        let body = [
            0x00, 0x53, 0x14, 0xc0, 0x04, 0x02, 0x43, 0x52, 0x01, 0xaa, 0xbb, 0xcc,
        ];
        let mut out = Vec::new();
        rewrite_frame(&frame(3, &body), |_| vec![], &mut out).expect("valid frame");
        let p = parse_performative(&out[8..]).expect("rewritten performative parses");
        assert_eq!(p.descriptor, code::TRANSFER);
        assert_eq!(p.fields.len(), 11);
        assert_eq!(p.fields[1], &[0x52, 0x01]);
        assert_eq!(&out[8 + p.encoded_len..], &[0xaa, 0xbb, 0xcc]);
        assert_eq!(&out[6..8], &3u16.to_be_bytes());
    }

    #[test]
    fn overrides_replace_fields() {
        // open [container-id "c", hostname null, max-frame-size 65536]
        let body = [
            0x00, 0x53, 0x10, 0xc0, 0x0a, 0x03, 0xa1, 0x01, b'c', 0x40, 0x70, 0, 1, 0, 0,
        ];
        let mut out = Vec::new();
        rewrite_frame(
            &frame(0, &body),
            |p| {
                let old = decode_unsigned(p.fields[2]).unwrap_or(u64::from(u32::MAX));
                vec![FieldOverride {
                    index: 2,
                    encoded: encode_uint(u32::try_from(old - 64).unwrap_or(0)),
                }]
            },
            &mut out,
        )
        .expect("valid frame");
        let p = parse_performative(&out[8..]).expect("parses");
        assert_eq!(p.fields.len(), 10);
        assert_eq!(decode_unsigned(p.fields[2]), Some(65536 - 64));
    }

    #[test]
    fn rejects_runaway_nesting() {
        let deep = vec![0x00; 100];
        assert!(matches!(value_len(&deep), Err(WireError::Malformed(_))));
    }

    #[test]
    fn unknown_descriptor_copied_verbatim() {
        let input = frame(0, &[0x00, 0x53, 0x70, 0x45]);
        let mut out = Vec::new();
        rewrite_frame(&input, |_| vec![], &mut out).expect("valid frame");
        assert_eq!(out, input);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Arbitrary bytes never panic the parser, and whatever it accepts re-encodes to a frame
        /// whose performative parses again at full arity.
        #[test]
        fn rewrite_never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let input = frame(1, &body);
            let mut out = Vec::new();
            if rewrite_frame(&input, |_| vec![], &mut out).is_ok() && !body.is_empty() {
                prop_assert_eq!(be_u32(&out).ok(), Some(out.len()));
                if let Ok(p) = parse_performative(&out[8..]) {
                    if let Some(arity) = full_arity(p.descriptor) {
                        prop_assert!(p.fields.len() >= arity);
                    }
                }
            }
            let _ = next_unit(&body, 1 << 20);
        }

        /// Performatives built from valid fields survive a rewrite unchanged but for padding.
        #[test]
        fn rewrite_preserves_fields(values in proptest::collection::vec(0u32..100_000, 0..10)) {
            let encoded: Vec<Vec<u8>> = values.iter().map(|v| encode_uint(*v)).collect();
            let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
            let mut body = Vec::new();
            encode_performative(code::OPEN, &refs, &mut body);
            let mut out = Vec::new();
            rewrite_frame(&frame(0, &body), |_| vec![], &mut out).expect("valid");
            let p = parse_performative(&out[8..]).expect("parses");
            prop_assert_eq!(p.fields.len(), 10.max(values.len()));
            for (i, v) in values.iter().enumerate() {
                prop_assert_eq!(decode_unsigned(p.fields[i]), Some(u64::from(*v)));
            }
        }
    }
}
