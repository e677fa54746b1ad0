//! The one place that turns bytes into AMQP frames and frames into bytes.
//!
//! Incoming, a frame is cut from the read buffer as a `Bytes` slice (a transfer's payload stays a
//! slice of it) and its performative is decoded into `fe2o3-amqp-types` values through
//! `serde_amqp`, whatever encoding the peer chose: `false` is `0x42` or `0x56 0x00`, a ulong has
//! three widths, a descriptor may be a symbol (docs/amqp-wire.md §9 item 2). What the engine
//! decides about a client's frames, it decides from those values.
//!
//! Outgoing, every performative goes out at full arity, with every field present (docs/amqp-wire.md
//! §0 item 1): the Python client reads fields by position. Transfers, the bulk of what is sent,
//! are written by hand ([`write_transfer`]); the rest are encoded by `serde_amqp` and padded.

use bytes::{Buf, Bytes, BytesMut};
use fe2o3_amqp_types::performatives::{Open, Performative, Transfer};
use fe2o3_amqp_types::primitives::{Symbol, Value};
use fe2o3_amqp_types::sasl::{SaslInit, SaslResponse};
use serde::{Deserialize, Serialize};
use serde_amqp::de::Deserializer;
use serde_amqp::read::SliceReader;

use crate::protocol::wire::{self, code, WireError, FRAME_HEADER_LEN, PROTOCOL_HEADER_LEN};

/// Frame type 0: an AMQP frame.
const FRAME_TYPE_AMQP: u8 = 0;
/// Frame type 1: a SASL frame.
const FRAME_TYPE_SASL: u8 = 1;

/// The protocol header that opens plain AMQP.
pub const AMQP_HEADER: [u8; PROTOCOL_HEADER_LEN] = *b"AMQP\x00\x01\x00\x00";
/// The protocol header that opens the SASL layer.
pub const SASL_HEADER: [u8; PROTOCOL_HEADER_LEN] = *b"AMQP\x03\x01\x00\x00";

/// The Rust Event Hubs SDK names itself so in its Open's `product` property.
const RUST_SDK_PRODUCT: &str = "azure_messaging_eventhubs";

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("the performative cannot be decoded: {0}")]
    Decode(serde_amqp::Error),
    #[error("the performative cannot be encoded: {0}")]
    Encode(serde_amqp::Error),
    #[error("frame of {size} bytes is larger than the {limit} allowed")]
    TooLarge { size: usize, limit: usize },
    #[error("a {kind} frame where an AMQP frame belongs")]
    UnexpectedType { kind: u8 },
}

/// What the peer sent next: a protocol header or a frame.
#[derive(Debug)]
pub enum Unit {
    Header([u8; PROTOCOL_HEADER_LEN]),
    Frame(Frame),
}

/// One frame: its channel, whether it is SASL, and its body (after any extended header).
#[derive(Debug)]
pub struct Frame {
    pub channel: u16,
    pub sasl: bool,
    pub body: Bytes,
}

/// Cuts the next unit off the front of `buf`, or `None` until it has arrived whole. A protocol
/// header is taken only where one is expected (`header_expected`); elsewhere those bytes would be
/// a frame size.
///
/// # Errors
/// [`CodecError`] for a frame header that cannot be valid or a frame over `max_frame`.
pub fn next_unit(
    buf: &mut BytesMut,
    max_frame: usize,
    header_expected: bool,
) -> Result<Option<Unit>, CodecError> {
    if header_expected {
        if buf.len() < PROTOCOL_HEADER_LEN {
            return Ok(None);
        }
        let mut header = [0u8; PROTOCOL_HEADER_LEN];
        header.copy_from_slice(&buf[..PROTOCOL_HEADER_LEN]);
        buf.advance(PROTOCOL_HEADER_LEN);
        return Ok(Some(Unit::Header(header)));
    }
    if buf.len() < FRAME_HEADER_LEN {
        return Ok(None);
    }
    let size = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if size < FRAME_HEADER_LEN {
        return Err(WireError::Malformed("frame smaller than its header").into());
    }
    if size > max_frame {
        return Err(CodecError::TooLarge {
            size,
            limit: max_frame,
        });
    }
    let data_offset = usize::from(buf[4]) * 4;
    if data_offset < FRAME_HEADER_LEN || data_offset > size {
        return Err(WireError::Malformed("bad frame data offset").into());
    }
    let kind = buf[5];
    if kind != FRAME_TYPE_AMQP && kind != FRAME_TYPE_SASL {
        return Err(CodecError::UnexpectedType { kind });
    }
    if buf.len() < size {
        buf.reserve(size - buf.len());
        return Ok(None);
    }
    let channel = u16::from_be_bytes([buf[6], buf[7]]);
    let mut frame = buf.split_to(size).freeze();
    frame.advance(data_offset);
    Ok(Some(Unit::Frame(Frame {
        channel,
        sasl: kind == FRAME_TYPE_SASL,
        body: frame,
    })))
}

/// An AMQP frame's content, decoded.
#[derive(Debug)]
pub enum Body {
    /// An empty frame: it only keeps the connection alive.
    Heartbeat,
    /// A transfer and its payload, which stays a slice of the read buffer.
    Transfer(Box<Transfer>, Bytes),
    Other(Box<Performative>),
}

/// Decodes an AMQP frame's body.
///
/// # Errors
/// [`CodecError`] when the body is not a performative.
pub fn decode(body: &Bytes) -> Result<Body, CodecError> {
    if body.is_empty() {
        return Ok(Body::Heartbeat);
    }
    // Only a transfer has bytes after its performative; finding where it ends costs a walk of
    // the performative alone.
    let len = wire::value_len(body)?;
    let mut deserializer = Deserializer::new(SliceReader::new(&body[..len]));
    let performative = Performative::deserialize(&mut deserializer).map_err(CodecError::Decode)?;
    Ok(match performative {
        Performative::Transfer(transfer) => Body::Transfer(Box::new(transfer), body.slice(len..)),
        // Bytes after any other performative mean nothing (AMQP 1.0 §2.3.2) and are ignored.
        other => Body::Other(Box::new(other)),
    })
}

/// A SASL frame from the client.
#[derive(Debug)]
pub enum SaslBody {
    Init,
    Response,
    /// Anything a client has no business sending (mechanisms, challenge, outcome).
    Unexpected,
}

/// Decodes a SASL frame's body.
///
/// # Errors
/// [`CodecError`] when it is not a SASL performative.
pub fn decode_sasl(body: &[u8]) -> Result<SaslBody, CodecError> {
    let performative = wire::parse_performative(body)?;
    let mut deserializer = Deserializer::new(SliceReader::new(body));
    Ok(match performative.descriptor {
        // Decoded to check them; any mechanism and response is taken (authorization is `$cbs`'s).
        code::SASL_INIT => {
            SaslInit::deserialize(&mut deserializer).map_err(CodecError::Decode)?;
            SaslBody::Init
        }
        code::SASL_RESPONSE => {
            SaslResponse::deserialize(&mut deserializer).map_err(CodecError::Decode)?;
            SaslBody::Response
        }
        _ => SaslBody::Unexpected,
    })
}

/// Appends a frame holding `performative` on `channel`, at full arity.
///
/// # Errors
/// [`CodecError::Encode`] for a value AMQP cannot represent; `out` is then unchanged.
pub fn write_performative(
    out: &mut Vec<u8>,
    channel: u16,
    performative: &Performative,
) -> Result<(), CodecError> {
    write_padded(out, FRAME_TYPE_AMQP, channel, performative)
}

/// Appends a SASL frame holding `value` (a SASL performative), at full arity.
///
/// # Errors
/// As [`write_performative`].
pub fn write_sasl(out: &mut Vec<u8>, value: &impl Serialize) -> Result<(), CodecError> {
    write_padded(out, FRAME_TYPE_SASL, 0, value)
}

fn write_padded(
    out: &mut Vec<u8>,
    kind: u8,
    channel: u16,
    value: &impl Serialize,
) -> Result<(), CodecError> {
    let encoded = serde_amqp::to_vec(value).map_err(CodecError::Encode)?;
    let parsed = wire::parse_performative(&encoded)?;
    let arity = wire::full_arity(parsed.descriptor).unwrap_or(parsed.fields.len());
    let null: &[u8] = &[0x40];
    let mut fields = parsed.fields;
    if fields.len() < arity {
        fields.resize(arity, null);
    }
    let start = begin_frame(out, kind, channel);
    wire::encode_performative(parsed.descriptor, &fields, out);
    end_frame(out, start);
    Ok(())
}

/// Appends an empty frame, which keeps an idle connection alive.
pub fn write_heartbeat(out: &mut Vec<u8>) {
    let start = begin_frame(out, FRAME_TYPE_AMQP, 0);
    end_frame(out, start);
}

/// The fields of an outgoing transfer frame that vary.
#[derive(Debug, Clone, Copy)]
pub struct TransferHead {
    pub handle: u32,
    /// The delivery's id, on its first frame only (continuations may leave it out).
    pub delivery_id: Option<u32>,
    pub settled: bool,
}

/// Appends one transfer frame on `channel` carrying as much of `payload` as fits in `max_frame`
/// bytes, and returns how much that was; `more` is set when some is left. The delivery tag is the
/// delivery id's four bytes, and the message format 0.
pub fn write_transfer(
    out: &mut Vec<u8>,
    channel: u16,
    head: TransferHead,
    payload: &[u8],
    max_frame: usize,
) -> usize {
    let start = begin_frame(out, FRAME_TYPE_AMQP, channel);
    let handle = uint(head.handle);
    let id = head.delivery_id.map(uint);
    let tag = head.delivery_id.map(|id| {
        let b = id.to_be_bytes();
        [0xa0, 4, b[0], b[1], b[2], b[3]]
    });
    let null: &[u8] = &[0x40];
    let mut fields: [&[u8]; 11] = [null; 11];
    fields[0] = &handle;
    if let (Some(id), Some(tag)) = (&id, &tag) {
        fields[1] = id;
        fields[2] = tag;
        fields[3] = &[0x43]; // message format 0
    }
    fields[4] = if head.settled { &[0x41] } else { &[0x42] };
    fields[5] = &[0x42]; // more: set below when the payload goes on
    wire::encode_performative(code::TRANSFER, &fields, out);
    let room = max_frame.saturating_sub(out.len() - start).max(1);
    let taken = room.min(payload.len());
    if taken < payload.len() {
        // `more` is the last byte before the five trailing nulls.
        let more_at = out.len() - 6;
        out[more_at] = 0x41;
    }
    out.extend_from_slice(&payload[..taken]);
    end_frame(out, start);
    taken
}

fn uint(value: u32) -> [u8; 5] {
    let b = value.to_be_bytes();
    [0x70, b[0], b[1], b[2], b[3]]
}

fn begin_frame(out: &mut Vec<u8>, kind: u8, channel: u16) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, 2, kind]);
    out.extend_from_slice(&channel.to_be_bytes());
    start
}

fn end_frame(out: &mut [u8], start: usize) {
    // Frames are bounded by the negotiated size, far below 4 GiB.
    let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// What the client told us about itself in its Open that changes how we answer it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerProfile {
    /// The Rust Event Hubs SDK, whose fe2o3-amqp 0.16 needs workarounds (see `engine`). Decided
    /// from its Open, never from how it encodes a field.
    pub rust_sdk: bool,
}

impl PeerProfile {
    #[must_use]
    pub fn of(open: &Open) -> Self {
        let product = open
            .properties
            .as_ref()
            .and_then(|p| p.get(&Symbol::from("product")));
        Self {
            rust_sdk: matches!(product, Some(Value::String(s)) if s == RUST_SDK_PRODUCT),
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
