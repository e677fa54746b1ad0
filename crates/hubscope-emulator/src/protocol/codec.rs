//! Typed decoding of AMQP frames: performatives as `fe2o3-amqp-types` values, via `serde_amqp`.
//!
//! Deciding anything from a frame's bytes by position misses the other encodings AMQP allows
//! (`false` is `0x42` or `0x56 0x00`, a ulong has three widths, a descriptor may be a symbol):
//! docs/amqp-wire.md §9. So what the endpoint decides about a client's frames, it decides from
//! values this module decoded.

use fe2o3_amqp_types::performatives::{Open, Performative};
use fe2o3_amqp_types::primitives::{Symbol, Value};
use serde::Deserialize;
use serde_amqp::de::Deserializer;
use serde_amqp::read::SliceReader;

use crate::protocol::wire::{self, FRAME_HEADER_LEN};

/// Frame type 0: an AMQP frame (1 is SASL).
const FRAME_TYPE_AMQP: u8 = 0;

/// The Rust Event Hubs SDK names itself so in its Open's `product` property.
const RUST_SDK_PRODUCT: &str = "azure_messaging_eventhubs";

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("the frame is shorter than its header")]
    Truncated,
    #[error("the performative cannot be decoded: {0}")]
    Performative(#[from] serde_amqp::Error),
}

/// The channel of a whole frame (as `wire::next_unit` delimits it).
#[must_use]
pub fn channel(frame: &[u8]) -> u16 {
    match frame.get(6..FRAME_HEADER_LEN) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => 0,
    }
}

/// Sets the channel of a whole frame.
pub fn set_channel(frame: &mut [u8], channel: u16) {
    if let Some(bytes) = frame.get_mut(6..FRAME_HEADER_LEN) {
        bytes.copy_from_slice(&channel.to_be_bytes());
    }
}

/// Whether a whole frame is an AMQP frame (not SASL).
#[must_use]
pub fn is_amqp(frame: &[u8]) -> bool {
    frame.get(5) == Some(&FRAME_TYPE_AMQP)
}

/// The performative of an AMQP frame, or `None` for an empty frame (a heartbeat).
///
/// # Errors
/// [`CodecError`] when the frame is cut short or its body is not a performative.
pub fn performative(frame: &[u8]) -> Result<Option<Performative>, CodecError> {
    if frame.len() < FRAME_HEADER_LEN {
        return Err(CodecError::Truncated);
    }
    let body = wire::frame_body(frame);
    if body.is_empty() {
        return Ok(None);
    }
    // The reader stops at the end of the performative; a transfer's payload follows unread.
    let mut deserializer = Deserializer::new(SliceReader::new(body));
    Ok(Some(Performative::deserialize(&mut deserializer)?))
}

/// The performatives by their symbolic descriptors, which a peer may send instead of the codes.
const SYMBOLIC: [(&[u8], u64); 9] = [
    (b"amqp:open:list", wire::code::OPEN),
    (b"amqp:begin:list", wire::code::BEGIN),
    (b"amqp:attach:list", wire::code::ATTACH),
    (b"amqp:flow:list", wire::code::FLOW),
    (b"amqp:transfer:list", wire::code::TRANSFER),
    (b"amqp:disposition:list", wire::code::DISPOSITION),
    (b"amqp:detach:list", wire::code::DETACH),
    (b"amqp:end:list", wire::code::END),
    (b"amqp:close:list", wire::code::CLOSE),
];

/// The descriptor code of an AMQP frame's performative in any of its encodings (small ulong,
/// ulong, ulong zero, symbol), without decoding the fields: what decides whether a frame is
/// worth decoding. `None` for a heartbeat or a body that is not a described value.
#[must_use]
pub fn descriptor(frame: &[u8]) -> Option<u64> {
    let body = wire::frame_body(frame);
    match body {
        [0x00, 0x53, code, ..] => Some(u64::from(*code)),
        [0x00, 0x44, ..] => Some(0),
        [0x00, 0x80, rest @ ..] => Some(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)),
        [0x00, 0xa3, len, rest @ ..] => {
            let name = rest.get(..usize::from(*len))?;
            SYMBOLIC.iter().find(|(s, _)| *s == name).map(|&(_, c)| c)
        }
        [0x00, 0xb3, rest @ ..] => {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
            let name = rest.get(4..4 + usize::try_from(len).ok()?)?;
            SYMBOLIC.iter().find(|(s, _)| *s == name).map(|&(_, c)| c)
        }
        _ => None,
    }
}

/// What the client told us about itself in its Open that changes how we answer it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerProfile {
    /// The Rust Event Hubs SDK, whose fe2o3-amqp 0.16 needs two workarounds (see `shim` and
    /// `channels`). Decided from its Open, never from how it encodes a field.
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
mod tests {
    use super::*;
    use fe2o3_amqp_types::definitions::{ReceiverSettleMode, Role};

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut frame = Vec::new();
        let size = u32::try_from(FRAME_HEADER_LEN + body.len()).expect("size");
        frame.extend_from_slice(&size.to_be_bytes());
        frame.extend_from_slice(&[2, 0, 0, 3]);
        frame.extend_from_slice(body);
        frame
    }

    /// An attach from a sender asking for rcv-settle-mode second, with `role` encoded as `false`
    /// in the given form.
    fn attach(role_false: &[u8]) -> Vec<u8> {
        let mut fields = Vec::new();
        fields.extend_from_slice(&[0xa1, 1, b'l']); // name
        fields.extend_from_slice(&[0x43]); // handle 0
        fields.extend_from_slice(role_false); // role
        fields.extend_from_slice(&[0x50, 0x02]); // snd-settle-mode mixed
        fields.extend_from_slice(&[0x50, 0x01]); // rcv-settle-mode second
        let mut body = vec![0x00, 0x53, 0x12, 0xc0];
        body.push(u8::try_from(fields.len() + 1).expect("size"));
        body.push(5);
        body.extend_from_slice(&fields);
        frame(&body)
    }

    #[test]
    fn both_encodings_of_false_are_one_role() {
        for role in [&[0x42][..], &[0x56, 0x00][..]] {
            let decoded = performative(&attach(role)).expect("decodes");
            let Some(Performative::Attach(attach)) = decoded else {
                panic!("not an attach: {decoded:?}");
            };
            assert_eq!(attach.role, Role::Sender, "role {role:02x?}");
            assert_eq!(attach.rcv_settle_mode, ReceiverSettleMode::Second);
        }
    }

    #[test]
    fn descriptors_in_every_encoding() {
        let end = |descriptor: &[u8]| frame(&[&[0x00][..], descriptor, &[0x45][..]].concat());
        assert_eq!(descriptor(&end(&[0x53, 0x17])), Some(wire::code::END));
        assert_eq!(
            descriptor(&end(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0x17])),
            Some(wire::code::END)
        );
        let mut symbol = vec![0xa3, 13];
        symbol.extend_from_slice(b"amqp:end:list");
        assert_eq!(descriptor(&end(&symbol)), Some(wire::code::END));
        assert_eq!(descriptor(&frame(&[])), None);
        assert_eq!(descriptor(&frame(&[0x00, 0x80, 1])), None);
    }

    #[test]
    fn a_heartbeat_has_no_performative() {
        assert!(performative(&frame(&[])).expect("decodes").is_none());
        assert_eq!(channel(&frame(&[])), 3);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(performative(&frame(&[0x00, 0x53, 0x12, 0xff])).is_err());
        assert!(performative(&[0, 0, 0]).is_err());
    }
}
