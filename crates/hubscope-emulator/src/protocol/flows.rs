//! Flows the shim writes itself: a consume link's answer to a client's drain or echo.
//!
//! fe2o3 never sees a bundled link's drain or echo (see `bundles`), so the consume link answers
//! them: its bundle ends with a [`FlowReply`], which the shim writes after the bundle's
//! transfers, in the carrier's place. A Flow carries the session's state too, and fe2o3's view of
//! that is off by the transfers the bundles added, so the shim keeps its own count of each
//! session's transfers in both directions, and puts it into fe2o3's own Flows as well.

use std::collections::HashMap;

use fe2o3_amqp_types::performatives::{Begin, Performative};

use crate::protocol::bundles::FlowReply;
use crate::protocol::wire::{self, code};

/// One session's transfer counts, as AMQP's session flow state (§2.5.6).
#[derive(Debug, Clone, Copy)]
struct OwnSide {
    next_outgoing_id: u32,
    incoming_window: u32,
    outgoing_window: u32,
}

/// The sessions of one connection: the client's transfers by its channel, ours by fe2o3's.
#[derive(Debug, Default)]
pub struct SessionFlows {
    /// The transfer-id the next client transfer will have, by the client's channel.
    next_incoming: HashMap<u16, u32>,
    /// Our side's state, by fe2o3's channel.
    outgoing: HashMap<u16, OwnSide>,
}

impl SessionFlows {
    /// Notes a client frame: a Begin starts its count, each transfer adds one, End forgets it.
    pub fn on_inbound(
        &mut self,
        channel: u16,
        descriptor: Option<u64>,
        decoded: Option<&Performative>,
    ) {
        match (descriptor, decoded) {
            (_, Some(Performative::Begin(begin))) => {
                self.next_incoming.insert(channel, begin.next_outgoing_id);
            }
            (Some(code::TRANSFER), _) => {
                if let Some(id) = self.next_incoming.get_mut(&channel) {
                    *id = id.wrapping_add(1);
                }
            }
            (_, Some(Performative::End(_))) => {
                self.next_incoming.remove(&channel);
            }
            _ => {}
        }
    }

    /// Notes fe2o3's Begin on `ours`.
    pub fn on_outbound_begin(&mut self, ours: u16, begin: &Begin) {
        self.outgoing.insert(
            ours,
            OwnSide {
                next_outgoing_id: begin.next_outgoing_id,
                incoming_window: begin.incoming_window,
                outgoing_window: begin.outgoing_window,
            },
        );
    }

    /// Notes `frames` transfer frames written on `ours`.
    pub fn on_outbound_transfers(&mut self, ours: u16, frames: u32) {
        if let Some(outgoing) = self.outgoing.get_mut(&ours) {
            outgoing.next_outgoing_id = outgoing.next_outgoing_id.wrapping_add(frames);
        }
    }

    /// The transfer-id our next transfer on `ours` will have, as the client counts.
    #[must_use]
    pub fn next_outgoing_id(&self, ours: u16) -> Option<u32> {
        self.outgoing.get(&ours).map(|o| o.next_outgoing_id)
    }

    /// Forgets the session fe2o3 ended on `ours`.
    pub fn on_outbound_end(&mut self, ours: u16) {
        self.outgoing.remove(&ours);
    }

    /// Writes `reply` as a Flow for link `handle` (its encoded field) of the session that is
    /// `ours` to fe2o3 and `client` to the client, on `wire_channel`, at full arity.
    pub fn write_flow(
        &self,
        (ours, client, wire_channel): (u16, u16, u16),
        handle: &[u8],
        reply: FlowReply,
        out: &mut Vec<u8>,
    ) {
        let outgoing = self.outgoing.get(&ours).copied().unwrap_or(OwnSide {
            next_outgoing_id: 0,
            incoming_window: u32::MAX,
            outgoing_window: u32::MAX,
        });
        let next_incoming = self
            .next_incoming
            .get(&client)
            .map_or_else(|| vec![0x40], |&id| wire::encode_uint(id));
        let boolean = |b: bool| if b { [0x41] } else { [0x42] };
        let fields: [&[u8]; 11] = [
            &next_incoming,
            &wire::encode_uint(outgoing.incoming_window),
            &wire::encode_uint(outgoing.next_outgoing_id),
            &wire::encode_uint(outgoing.outgoing_window),
            handle,
            &wire::encode_uint(reply.delivery_count),
            &wire::encode_uint(reply.link_credit),
            &wire::encode_uint(0), // available: nothing we could send now
            &boolean(reply.drain),
            &[0x42], // echo
            &[0x40], // properties
        ];
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, 2, 0]);
        out.extend_from_slice(&wire_channel.to_be_bytes());
        wire::encode_performative(code::FLOW, &fields, out);
        let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
        out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec;
    use fe2o3_amqp_types::performatives::Flow;

    fn begin(next_outgoing_id: u32) -> Begin {
        Begin {
            remote_channel: None,
            next_outgoing_id,
            incoming_window: 2048,
            outgoing_window: 4096,
            handle_max: 255.into(),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        }
    }

    fn decoded_flow(bytes: &[u8]) -> Flow {
        match codec::performative(bytes) {
            Ok(Some(Performative::Flow(flow))) => flow,
            other => panic!("not a flow: {other:?}"),
        }
    }

    #[test]
    fn the_flow_counts_both_sides_transfers() {
        let mut flows = SessionFlows::default();
        let client_begin = Performative::Begin(begin(10));
        flows.on_inbound(3, Some(code::BEGIN), Some(&client_begin));
        for _ in 0..5 {
            flows.on_inbound(3, Some(code::TRANSFER), None);
        }
        flows.on_outbound_begin(0, &begin(100));
        flows.on_outbound_transfers(0, 7);
        let reply = FlowReply {
            delivery_count: 42,
            link_credit: 0,
            drain: true,
        };
        let mut out = Vec::new();
        flows.write_flow((0, 3, 9), &wire::encode_uint(2), reply, &mut out);
        assert_eq!(codec::channel(&out), 9);
        let flow = decoded_flow(&out);
        assert_eq!(flow.next_incoming_id, Some(15));
        assert_eq!(flow.incoming_window, 2048);
        assert_eq!(flow.next_outgoing_id, 107);
        assert_eq!(flow.outgoing_window, 4096);
        assert_eq!(flow.handle.map(|h| h.0), Some(2));
        assert_eq!(flow.delivery_count, Some(42));
        assert_eq!(flow.link_credit, Some(0));
        assert!(flow.drain);
        assert!(!flow.echo);
        // Full arity, as the Python client needs (docs/amqp-wire.md §0 item 1).
        let p = wire::parse_performative(wire::frame_body(&out)).expect("a performative");
        assert_eq!(p.fields.len(), 11);
    }
}
