//! A link's state in its session: deliveries arriving in frames, credit granted and used, and
//! deliveries waiting to be sent.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use fe2o3_amqp_types::definitions::Handle;
use fe2o3_amqp_types::performatives::{Performative, Transfer};
use tokio::sync::mpsc;

use super::endpoints::{InboundDelivery, LinkId, SenderFlow};
use super::frames::{session_flow, violation, Violation};
use super::outbox::Outbox;
use super::Settings;
use crate::protocol::bundles::Bundle;

pub(super) struct Link {
    pub(super) id: LinkId,
    pub(super) local_handle: u32,
    /// We have detached it and wait for the client's Detach.
    pub(super) detach_sent: bool,
    pub(super) silent_after_peer_end: bool,
    pub(super) kind: LinkKind,
}

pub(super) enum LinkKind {
    Receiving(Receiving),
    Sending(Sending),
    /// Refused at attach: nothing on it is served.
    Refused,
}

/// A link the client sends on.
pub(super) struct Receiving {
    pub(super) deliveries: Option<mpsc::Sender<InboundDelivery>>,
    /// Credit the client has left, by our count.
    pub(super) credit: u32,
    pub(super) delivery_count: u32,
    /// Deliveries handed to the handler and not settled yet.
    pub(super) outstanding: u32,
    pub(super) partial: Option<Partial>,
}

/// A delivery whose frames are still arriving.
pub(super) struct Partial {
    pub(super) delivery_id: u32,
    pub(super) message_format: u32,
    pub(super) settled: bool,
    pub(super) parts: Vec<Bytes>,
    pub(super) size: u64,
}

/// A link the client receives on.
pub(super) struct Sending {
    pub(super) flow: Arc<SenderFlow>,
    pub(super) delivery_count: u32,
    pub(super) queue: VecDeque<Bundle>,
    /// Where the front bundle is: its next event, and how much of that event is already sent.
    pub(super) next_event: usize,
    pub(super) sent_of_event: usize,
    /// The handler answers drains itself (see `LinkOptions::answers_drain`).
    pub(super) answers_drain: bool,
    /// A drain answer waiting for the queue to empty.
    pub(super) drain_answer: Option<u64>,
    /// The drain flag of the client's last Flow, echoed in ours.
    pub(super) drain: bool,
    /// Drains asked for so far: each is answered by its number, so an answer to one that a
    /// later Flow replaced is dropped.
    pub(super) drains: u64,
}

/// Adds a transfer's payload to the delivery under way on `receiving` (or starts one): the
/// delivery once its last frame is in, `None` while more is to come or when it was aborted.
pub(super) fn next_part(
    receiving: &mut Receiving,
    transfer: &Transfer,
    payload: Bytes,
    settings: &Settings,
) -> Result<Option<Partial>, Violation> {
    let delivery = if let Some(mut partial) = receiving.partial.take() {
        // A continuation: its delivery id and tag, if repeated, are ignored (the Rust SDK's
        // fe2o3 0.16 puts a new id on the last frame of a long delivery, docs/amqp-wire.md §4).
        partial.size += payload.len() as u64;
        if partial.size <= settings.reassembly_limit as u64 {
            partial.parts.push(payload);
        } else {
            partial.parts.clear();
        }
        partial
    } else {
        // A delivery beyond the credit granted is still taken (and counts against the next
        // grant): refusing it would fail a send the client thinks it may make.
        if receiving.credit == 0 {
            tracing::debug!(
                handle = transfer.handle.0,
                "a transfer beyond the link credit granted"
            );
        }
        receiving.credit = receiving.credit.saturating_sub(1);
        receiving.delivery_count = receiving.delivery_count.wrapping_add(1);
        let Some(delivery_id) = transfer.delivery_id else {
            return Err(Violation::Session(violation(
                "amqp:decode-error",
                "The first transfer of a delivery has no delivery-id.",
            )));
        };
        Partial {
            delivery_id,
            message_format: transfer.message_format.unwrap_or(0),
            settled: transfer.settled.unwrap_or(false),
            size: payload.len() as u64,
            parts: vec![payload],
        }
    };
    if transfer.aborted {
        return Ok(None);
    }
    if transfer.more {
        receiving.partial = Some(delivery);
        return Ok(None);
    }
    Ok(Some(delivery))
}

/// Uses up a drained link's credit and tells the client (AMQP 1.0 §2.6.7), if the drain asked
/// is still the one pending.
pub(super) fn answer_drain(
    sending: &mut Sending,
    epoch: u64,
    local_handle: u32,
    state: (u32, u32, u32),
    channel: u16,
    out: &mut Outbox,
) {
    let mut advanced = None;
    sending.flow.update(|s| {
        if s.drain_epoch == Some(epoch) {
            advanced = Some(s.credit);
            s.credit = 0;
            s.drain_epoch = None;
        }
    });
    let Some(unused) = advanced else {
        return;
    };
    sending.delivery_count = sending.delivery_count.wrapping_add(unused);
    let mut reply = sending_flow(sending, local_handle, state);
    if let Performative::Flow(flow) = &mut reply {
        flow.drain = true;
        flow.link_credit = Some(0);
    }
    out.frame(channel, &reply);
}

/// Tops up a receiving link's credit once half is used, unless its handler is behind.
pub(super) fn grant(
    receiving: &mut Receiving,
    local_handle: u32,
    channel: u16,
    state: (u32, u32, u32),
    out: &mut Outbox,
    settings: &Settings,
) {
    let target = settings.link_credit;
    let wanted = target.saturating_sub(receiving.outstanding);
    if receiving.deliveries.is_none()
        || receiving.credit >= target / 2
        || wanted <= receiving.credit
    {
        return;
    }
    receiving.credit = wanted;
    out.frame(channel, &receiving_flow(receiving, local_handle, state));
}

pub(super) fn release(link: &mut Link) {
    match &mut link.kind {
        LinkKind::Receiving(receiving) => receiving.deliveries = None,
        LinkKind::Sending(sending) => {
            sending.queue.clear();
            sending.flow.update(|s| s.detached = true);
        }
        LinkKind::Refused => {}
    }
}

pub(super) fn sending_flow(
    sending: &Sending,
    local_handle: u32,
    state: (u32, u32, u32),
) -> Performative {
    let credit = sending.flow.lock().credit;
    let queued: usize = sending.queue.iter().map(Bundle::len).sum();
    let mut flow = session_flow(state);
    if let Performative::Flow(f) = &mut flow {
        f.handle = Some(Handle(local_handle));
        f.delivery_count = Some(sending.delivery_count);
        f.link_credit = Some(credit);
        f.available = Some(u32::try_from(queued).unwrap_or(u32::MAX));
        f.drain = sending.drain;
    }
    flow
}

pub(super) fn receiving_flow(
    receiving: &Receiving,
    local_handle: u32,
    state: (u32, u32, u32),
) -> Performative {
    let mut flow = session_flow(state);
    if let Performative::Flow(f) = &mut flow {
        f.handle = Some(Handle(local_handle));
        f.delivery_count = Some(receiving.delivery_count);
        f.link_credit = Some(receiving.credit);
    }
    flow
}
