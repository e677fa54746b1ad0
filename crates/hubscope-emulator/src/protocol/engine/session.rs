//! One session: its transfer windows, its links, and the deliveries on them (AMQP 1.0 §2.5–2.7).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use fe2o3_amqp_types::definitions::{self, Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp_types::messaging::{Accepted, DeliveryState, Rejected, Target, TargetArchetype};
use fe2o3_amqp_types::performatives::{Attach, Detach, Disposition, Flow, Performative, Transfer};
use tokio::sync::mpsc;

use super::endpoints::{
    Commands, InboundDelivery, IncomingLink, LinkId, Outcome, OutgoingLink, Payload, SenderFlow,
};
use super::outbox::Outbox;
use super::{Application, AttachContext, LinkEndpoint, Settings};
use crate::protocol::bundles::Bundle;
use crate::protocol::codec::{self, PeerProfile, TransferHead};

/// Handles per session, as the service sends (the Python client needs a value, docs/amqp-wire.md §0).
pub(super) const HANDLE_MAX: u32 = 255;
/// Transfers a client may send before we widen its window again.
const INCOMING_WINDOW: u32 = 5000;

/// What ends a session or the connection when a client breaks the protocol.
#[derive(Debug)]
pub(super) enum Violation {
    Session(definitions::Error),
    Connection(definitions::Error),
}

fn violation(condition: &str, text: impl Into<String>) -> definitions::Error {
    crate::protocol::amqp::error(condition, text)
}

/// What a session needs from its connection while it handles a frame.
pub(super) struct Context<'a> {
    pub app: &'a mut dyn Application,
    pub commands: &'a Commands,
    pub out: &'a mut Outbox,
    pub peer: PeerProfile,
    pub settings: &'a Settings,
    pub next_link_id: &'a mut LinkId,
}

pub(super) struct Session {
    pub id: u64,
    pub local_channel: u16,
    // Outgoing transfers (AMQP 1.0 §2.5.6).
    next_outgoing_id: u32,
    remote_incoming_window: u32,
    /// The Rust SDK's fe2o3 0.16 never counts its incoming window down and never widens it with
    /// a Flow of its own, so its window is taken as what its bookkeeping makes it: unlimited.
    window_unlimited: bool,
    next_delivery_id: u32,
    // Incoming transfers.
    next_incoming_id: u32,
    incoming_window: u32,
    /// Links by the client's handle.
    links: HashMap<u32, Link>,
    local_handles: BTreeSet<u32>,
    by_id: HashMap<LinkId, u32>,
    /// Client handles of sending links with deliveries queued.
    ready: VecDeque<u32>,
    /// Whether every link attached so far is a token link of the Rust SDK (see `LinkOptions`).
    only_silent_links: bool,
}

struct Link {
    id: LinkId,
    local_handle: u32,
    /// We have detached it and wait for the client's Detach.
    detach_sent: bool,
    silent_after_peer_end: bool,
    kind: LinkKind,
}

enum LinkKind {
    Receiving(Receiving),
    Sending(Sending),
    /// Refused at attach: nothing on it is served.
    Refused,
}

/// A link the client sends on.
struct Receiving {
    deliveries: Option<mpsc::UnboundedSender<InboundDelivery>>,
    /// Credit the client has left, by our count.
    credit: u32,
    delivery_count: u32,
    /// Deliveries handed to the handler and not settled yet.
    outstanding: u32,
    partial: Option<Partial>,
}

/// A delivery whose frames are still arriving.
struct Partial {
    delivery_id: u32,
    message_format: u32,
    settled: bool,
    parts: Vec<Bytes>,
    size: u64,
}

/// A link the client receives on.
struct Sending {
    flow: Arc<SenderFlow>,
    delivery_count: u32,
    queue: VecDeque<Bundle>,
    /// Where the front bundle is: its next event, and how much of that event is already sent.
    next_event: usize,
    sent_of_event: usize,
    /// The handler answers drains itself (see `LinkOptions::answers_drain`).
    answers_drain: bool,
    /// A drain answer waiting for the queue to empty.
    drain_answer: Option<u64>,
    /// The drain flag of the client's last Flow, echoed in ours.
    drain: bool,
    /// Drains asked for so far: each is answered by its number, so an answer to one that a
    /// later Flow replaced is dropped.
    drains: u64,
}

impl Session {
    pub(super) fn new(
        id: u64,
        local_channel: u16,
        begin: &fe2o3_amqp_types::performatives::Begin,
        peer: PeerProfile,
    ) -> Self {
        Self {
            id,
            local_channel,
            next_outgoing_id: 0,
            remote_incoming_window: begin.incoming_window,
            window_unlimited: peer.rust_sdk,
            next_delivery_id: 0,
            next_incoming_id: begin.next_outgoing_id,
            incoming_window: INCOMING_WINDOW,
            links: HashMap::new(),
            local_handles: BTreeSet::new(),
            by_id: HashMap::new(),
            ready: VecDeque::new(),
            only_silent_links: true,
        }
    }

    /// Our Begin in answer to the client's.
    pub(super) fn begin_reply(&self, remote_channel: u16) -> Performative {
        Performative::Begin(fe2o3_amqp_types::performatives::Begin {
            remote_channel: Some(remote_channel),
            next_outgoing_id: self.next_outgoing_id,
            incoming_window: self.incoming_window,
            outgoing_window: u32::MAX,
            handle_max: Handle(HANDLE_MAX),
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        })
    }

    /// Whether the client's End of this session must go unanswered (docs/amqp-wire.md §9).
    pub(super) fn silent_end(&self) -> bool {
        self.only_silent_links && !self.links.is_empty()
    }

    pub(super) fn owns(&self, link: LinkId) -> bool {
        self.by_id.contains_key(&link)
    }

    /// Ends every link: handlers see their links go.
    pub(super) fn end_links(&mut self) {
        for link in self.links.values_mut() {
            release(link);
        }
    }

    pub(super) fn on_frame(
        &mut self,
        performative: Performative,
        cx: &mut Context<'_>,
    ) -> Result<(), Violation> {
        match performative {
            Performative::Attach(attach) => self.on_attach(attach, cx),
            Performative::Flow(flow) => self.on_flow(&flow, cx),
            Performative::Detach(detach) => {
                self.on_detach(&detach, cx);
                Ok(())
            }
            // Dispositions from the client settle what we sent pre-settled: nothing to do.
            Performative::Disposition(_) => Ok(()),
            other => Err(Violation::Connection(violation(
                "amqp:connection:framing-error",
                format!("Unexpected {} on a session.", name_of(&other)),
            ))),
        }
    }

    fn on_attach(&mut self, attach: Attach, cx: &mut Context<'_>) -> Result<(), Violation> {
        let handle = attach.handle.0;
        if handle > HANDLE_MAX {
            return Err(Violation::Connection(violation(
                "amqp:connection:framing-error",
                format!("Handle {handle} is above the session's handle-max {HANDLE_MAX}."),
            )));
        }
        if self.links.contains_key(&handle) {
            return Err(Violation::Session(violation(
                "amqp:session:handle-in-use",
                format!("Handle {handle} is already attached."),
            )));
        }
        let local_handle = (0..=HANDLE_MAX)
            .find(|h| !self.local_handles.contains(h))
            .unwrap_or(HANDLE_MAX);
        let id = *cx.next_link_id;
        *cx.next_link_id += 1;
        let (endpoint, kind) = if attach.role == Role::Sender {
            let (tx, rx) = mpsc::unbounded_channel();
            let endpoint = LinkEndpoint::Incoming(IncomingLink {
                id,
                deliveries: rx,
                commands: cx.commands.clone(),
            });
            let receiving = Receiving {
                deliveries: Some(tx),
                credit: 0,
                delivery_count: attach.initial_delivery_count.unwrap_or(0),
                outstanding: 0,
                partial: None,
            };
            (endpoint, LinkKind::Receiving(receiving))
        } else {
            let flow = Arc::new(SenderFlow::default());
            let endpoint = LinkEndpoint::Outgoing(OutgoingLink {
                id,
                flow: flow.clone(),
                commands: cx.commands.clone(),
            });
            let sending = Sending {
                flow,
                delivery_count: 0,
                queue: VecDeque::new(),
                next_event: 0,
                sent_of_event: 0,
                answers_drain: false,
                drain_answer: None,
                drain: false,
                drains: 0,
            };
            (endpoint, LinkKind::Sending(sending))
        };
        let context = AttachContext {
            peer: cx.peer,
            session: self.id,
        };
        let decision = cx.app.attach(&context, &attach, endpoint);
        cx.out.frame(
            self.local_channel,
            &attach_reply(&attach, local_handle, cx.settings),
        );
        let mut link = Link {
            id,
            local_handle,
            detach_sent: false,
            silent_after_peer_end: false,
            kind,
        };
        match decision {
            Ok(options) => {
                link.silent_after_peer_end = options.silent_after_peer_end;
                if let LinkKind::Sending(sending) = &mut link.kind {
                    sending.answers_drain = options.answers_drain;
                }
                if let LinkKind::Receiving(receiving) = &mut link.kind {
                    grant(
                        receiving,
                        local_handle,
                        self.local_channel,
                        self.flow_state(),
                        cx,
                    );
                }
            }
            Err(error) => {
                // The service's way of refusing: attach, then detach at once with the reason.
                link.kind = LinkKind::Refused;
                link.detach_sent = true;
                cx.out
                    .frame(self.local_channel, &detach(local_handle, Some(error)));
            }
        }
        self.only_silent_links &= link.silent_after_peer_end;
        self.local_handles.insert(local_handle);
        self.by_id.insert(id, handle);
        self.links.insert(handle, link);
        Ok(())
    }

    /// The session's half of a Flow: (next-incoming-id, incoming-window, next-outgoing-id).
    fn flow_state(&self) -> (u32, u32, u32) {
        (
            self.next_incoming_id,
            self.incoming_window,
            self.next_outgoing_id,
        )
    }

    fn on_flow(&mut self, flow: &Flow, cx: &mut Context<'_>) -> Result<(), Violation> {
        // The client's window for what we send: counted from its next-incoming-id (AMQP 1.0
        // §2.5.6), or from our first transfer id when it has seen none yet.
        let next_incoming = flow.next_incoming_id.unwrap_or(0);
        self.remote_incoming_window = next_incoming
            .wrapping_add(flow.incoming_window)
            .wrapping_sub(self.next_outgoing_id);
        if self.remote_incoming_window > flow.incoming_window {
            // Serial arithmetic: the client counted transfers we never sent.
            self.remote_incoming_window = flow.incoming_window;
        }
        let state = self.flow_state();
        let Some(handle) = flow.handle.as_ref().map(|h| h.0) else {
            if flow.echo {
                cx.out.frame(self.local_channel, &session_flow(state));
            }
            self.pump(cx);
            return Ok(());
        };
        let Some(link) = self.links.get_mut(&handle) else {
            return Err(Violation::Session(violation(
                "amqp:session:unattached-handle",
                format!("Flow for handle {handle}, which is not attached."),
            )));
        };
        if link.detach_sent {
            return Ok(());
        }
        let local_handle = link.local_handle;
        match &mut link.kind {
            LinkKind::Sending(sending) => {
                let limit = flow
                    .delivery_count
                    .unwrap_or(0)
                    .wrapping_add(flow.link_credit.unwrap_or(0));
                // Serial-number arithmetic: a limit behind what we sent means no credit.
                let credit = limit.wrapping_sub(sending.delivery_count);
                let credit = if credit > u32::MAX / 2 { 0 } else { credit };
                sending.drain = flow.drain;
                let mut epoch = None;
                if flow.drain {
                    sending.drains += 1;
                    epoch = Some(sending.drains);
                }
                sending.flow.update(|s| {
                    s.credit = credit;
                    s.drain_epoch = epoch;
                });
                if flow.drain && !sending.answers_drain {
                    sending.drain_answer = epoch;
                }
                if flow.echo {
                    let reply = sending_flow(sending, local_handle, state);
                    cx.out.frame(self.local_channel, &reply);
                }
                if !self.ready.contains(&handle) {
                    self.ready.push_back(handle);
                }
            }
            LinkKind::Receiving(receiving) => {
                if let Some(count) = flow.delivery_count {
                    receiving.delivery_count = count;
                }
                if flow.echo {
                    let reply = receiving_flow(receiving, local_handle, state);
                    cx.out.frame(self.local_channel, &reply);
                }
            }
            LinkKind::Refused => {}
        }
        self.pump(cx);
        Ok(())
    }

    fn on_detach(&mut self, detach: &Detach, cx: &mut Context<'_>) {
        let handle = detach.handle.0;
        let Some(mut link) = self.links.remove(&handle) else {
            // Not attached: nothing to answer (AMQP 1.0 §2.6.5 lets a peer detach twice).
            return;
        };
        if !link.detach_sent {
            let reply = Performative::Detach(Detach {
                handle: Handle(link.local_handle),
                closed: detach.closed,
                error: None,
            });
            cx.out.frame(self.local_channel, &reply);
        }
        release(&mut link);
        self.local_handles.remove(&link.local_handle);
        self.by_id.remove(&link.id);
        self.ready.retain(|h| *h != handle);
    }

    /// Takes a transfer frame from the client.
    pub(super) fn on_transfer(
        &mut self,
        transfer: &Transfer,
        payload: Bytes,
        cx: &mut Context<'_>,
    ) -> Result<(), Violation> {
        if self.incoming_window == 0 {
            return Err(Violation::Session(violation(
                "amqp:session:window-violation",
                "A transfer arrived with the session's incoming window closed.",
            )));
        }
        self.incoming_window -= 1;
        self.next_incoming_id = self.next_incoming_id.wrapping_add(1);
        if self.incoming_window < INCOMING_WINDOW / 2 {
            self.incoming_window = INCOMING_WINDOW;
            cx.out
                .frame(self.local_channel, &session_flow(self.flow_state()));
        }
        let handle = transfer.handle.0;
        let state = self.flow_state();
        let Some(link) = self.links.get_mut(&handle) else {
            return Err(Violation::Session(violation(
                "amqp:session:unattached-handle",
                format!("Transfer on handle {handle}, which is not attached."),
            )));
        };
        // After our Detach, frames the client sent before reading it are dropped.
        if link.detach_sent {
            return Ok(());
        }
        let local_handle = link.local_handle;
        let LinkKind::Receiving(receiving) = &mut link.kind else {
            return Err(Violation::Session(violation(
                "amqp:session:errant-link",
                format!("Transfer on handle {handle}, on which the client receives."),
            )));
        };
        let delivery = match receiving.partial.take() {
            // A continuation: its delivery id and tag, if repeated, are ignored (the Rust SDK's
            // fe2o3 0.16 puts a new id on the last frame of a long delivery, docs/amqp-wire.md §4).
            Some(mut partial) => {
                partial.size += payload.len() as u64;
                if partial.size <= cx.settings.reassembly_limit as u64 {
                    partial.parts.push(payload);
                } else {
                    partial.parts.clear();
                }
                partial
            }
            None => {
                // A delivery beyond the credit granted is still taken (and counts against the
                // next grant): refusing it would fail a send the client thinks it may make.
                if receiving.credit == 0 {
                    tracing::debug!(handle, "a transfer beyond the link credit granted");
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
            }
        };
        if transfer.aborted {
            return Ok(());
        }
        if transfer.more {
            receiving.partial = Some(delivery);
            return Ok(());
        }
        let payload = if delivery.size > cx.settings.reassembly_limit as u64 {
            Payload::TooLarge {
                size: delivery.size,
            }
        } else if delivery.parts.len() == 1 {
            Payload::Whole(delivery.parts.into_iter().next().unwrap_or_default())
        } else {
            let mut whole = Vec::with_capacity(usize::try_from(delivery.size).unwrap_or(0));
            for part in &delivery.parts {
                whole.extend_from_slice(part);
            }
            Payload::Whole(Bytes::from(whole))
        };
        let inbound = InboundDelivery {
            delivery_id: delivery.delivery_id,
            message_format: delivery.message_format,
            settled: delivery.settled,
            payload,
        };
        receiving.outstanding += 1;
        let handed = receiving
            .deliveries
            .as_ref()
            .is_some_and(|tx| tx.send(inbound).is_ok());
        if !handed {
            // Nobody serves the link any more: refuse what comes, so the client is not left
            // waiting for an outcome.
            receiving.outstanding -= 1;
            if !delivery.settled {
                let error = violation("amqp:link:detach-forced", "The link is no longer served.");
                cx.out.frame(
                    self.local_channel,
                    &disposition(delivery.delivery_id, true, Outcome::Rejected(error)),
                );
            }
        }
        grant(receiving, local_handle, self.local_channel, state, cx);
        Ok(())
    }

    /// Settles a delivery the client sent, as its handler decided.
    pub(super) fn settle(
        &mut self,
        link: LinkId,
        delivery_id: u32,
        settled_by_client: bool,
        outcome: Outcome,
        cx: &mut Context<'_>,
    ) {
        let state = self.flow_state();
        let Some(link) = self.by_id.get(&link).and_then(|h| self.links.get_mut(h)) else {
            return;
        };
        let local_handle = link.local_handle;
        let detach_sent = link.detach_sent;
        let LinkKind::Receiving(receiving) = &mut link.kind else {
            return;
        };
        receiving.outstanding = receiving.outstanding.saturating_sub(1);
        if !settled_by_client {
            cx.out.settle(self.local_channel, delivery_id, outcome);
        }
        if !detach_sent {
            grant(receiving, local_handle, self.local_channel, state, cx);
        }
    }

    /// Queues deliveries on a sending link and sends what credit and window allow.
    pub(super) fn deliver(&mut self, link: LinkId, bundle: Bundle, cx: &mut Context<'_>) {
        let Some(&handle) = self.by_id.get(&link) else {
            return;
        };
        let Some(Link {
            kind: LinkKind::Sending(sending),
            detach_sent: false,
            ..
        }) = self.links.get_mut(&handle)
        else {
            return;
        };
        sending.queue.push_back(bundle);
        if !self.ready.contains(&handle) {
            self.ready.push_back(handle);
        }
        self.pump(cx);
    }

    /// A handler's answer to a drain: sent once what it handed over before has gone out.
    pub(super) fn answer_drain(&mut self, link: LinkId, epoch: u64, cx: &mut Context<'_>) {
        let Some(&handle) = self.by_id.get(&link) else {
            return;
        };
        if let Some(Link {
            kind: LinkKind::Sending(sending),
            ..
        }) = self.links.get_mut(&handle)
        {
            sending.drain_answer = Some(epoch);
        }
        if !self.ready.contains(&handle) {
            self.ready.push_back(handle);
        }
        self.pump(cx);
    }

    /// Detaches a link its handler closed.
    pub(super) fn close_link(
        &mut self,
        link: LinkId,
        error: Option<definitions::Error>,
        cx: &mut Context<'_>,
    ) {
        let Some(link) = self.by_id.get(&link).and_then(|h| self.links.get_mut(h)) else {
            return;
        };
        if link.detach_sent {
            return;
        }
        link.detach_sent = true;
        let local_handle = link.local_handle;
        release(link);
        cx.out
            .frame(self.local_channel, &detach(local_handle, error));
    }

    /// Sends queued deliveries while links have credit and the client's window is open, and
    /// answers drains whose queues have emptied.
    fn pump(&mut self, cx: &mut Context<'_>) {
        let max_frame = cx.out.max_frame;
        let mut rounds = self.ready.len();
        while rounds > 0 {
            rounds -= 1;
            let Some(handle) = self.ready.pop_front() else {
                break;
            };
            let Some(link) = self.links.get_mut(&handle) else {
                continue;
            };
            let local_handle = link.local_handle;
            let LinkKind::Sending(sending) = &mut link.kind else {
                continue;
            };
            let mut sent = 0u32;
            let mut done_bytes = 0usize;
            let mut blocked = false;
            while let Some(bundle) = sending.queue.front() {
                let Some(event) = bundle.event(sending.next_event) else {
                    done_bytes += bundle.byte_len();
                    sending.queue.pop_front();
                    sending.next_event = 0;
                    continue;
                };
                let credit = sending.flow.lock().credit;
                let starting = sending.sent_of_event == 0;
                if (starting && credit <= sent)
                    || (!self.window_unlimited && self.remote_incoming_window == 0)
                {
                    blocked = true;
                    break;
                }
                let head = TransferHead {
                    handle: local_handle,
                    delivery_id: starting.then_some(self.next_delivery_id),
                    settled: true,
                };
                let taken = codec::write_transfer(
                    &mut cx.out.bytes,
                    self.local_channel,
                    head,
                    &event[sending.sent_of_event..],
                    max_frame,
                );
                self.next_outgoing_id = self.next_outgoing_id.wrapping_add(1);
                self.remote_incoming_window = self.remote_incoming_window.saturating_sub(1);
                sending.sent_of_event += taken;
                if sending.sent_of_event >= event.len() {
                    sending.sent_of_event = 0;
                    sending.next_event += 1;
                    sent += 1;
                    self.next_delivery_id = self.next_delivery_id.wrapping_add(1);
                    if sending.next_event >= bundle.len() {
                        done_bytes += bundle.byte_len();
                        sending.queue.pop_front();
                        sending.next_event = 0;
                    }
                }
                if cx.out.is_full() {
                    blocked = true;
                    break;
                }
            }
            if sent > 0 || done_bytes > 0 {
                sending.delivery_count = sending.delivery_count.wrapping_add(sent);
                sending.flow.update(|s| {
                    s.credit = s.credit.saturating_sub(sent);
                    s.claimed = s.claimed.saturating_sub(sent);
                    s.claimed_bytes = s.claimed_bytes.saturating_sub(done_bytes);
                });
            }
            if sending.queue.is_empty() {
                if let Some(epoch) = sending.drain_answer.take() {
                    let state = (
                        self.next_incoming_id,
                        self.incoming_window,
                        self.next_outgoing_id,
                    );
                    answer_drain(sending, epoch, local_handle, state, self.local_channel, cx);
                }
            }
            if blocked && !sending.queue.is_empty() {
                self.ready.push_back(handle);
            }
        }
    }

    /// Whether a sending link has deliveries waiting for window or output room.
    pub(super) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Sends what was waiting for room in the output.
    pub(super) fn resume(&mut self, cx: &mut Context<'_>) {
        self.pump(cx);
    }
}

/// Uses up a drained link's credit and tells the client (AMQP 1.0 §2.6.7), if the drain asked
/// is still the one pending.
fn answer_drain(
    sending: &mut Sending,
    epoch: u64,
    local_handle: u32,
    state: (u32, u32, u32),
    channel: u16,
    cx: &mut Context<'_>,
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
    cx.out.frame(channel, &reply);
}

/// Tops up a receiving link's credit once half is used, unless its handler is behind.
fn grant(
    receiving: &mut Receiving,
    local_handle: u32,
    channel: u16,
    state: (u32, u32, u32),
    cx: &mut Context<'_>,
) {
    let target = cx.settings.link_credit;
    let wanted = target.saturating_sub(receiving.outstanding);
    if receiving.deliveries.is_none()
        || receiving.credit >= target / 2
        || wanted <= receiving.credit
    {
        return;
    }
    receiving.credit = wanted;
    cx.out
        .frame(channel, &receiving_flow(receiving, local_handle, state));
}

fn release(link: &mut Link) {
    match &mut link.kind {
        LinkKind::Receiving(receiving) => receiving.deliveries = None,
        LinkKind::Sending(sending) => {
            sending.queue.clear();
            sending.flow.update(|s| s.detached = true);
        }
        LinkKind::Refused => {}
    }
}

fn session_flow(
    (next_incoming_id, incoming_window, next_outgoing_id): (u32, u32, u32),
) -> Performative {
    Performative::Flow(Flow {
        next_incoming_id: Some(next_incoming_id),
        incoming_window,
        next_outgoing_id,
        outgoing_window: u32::MAX,
        handle: None,
        delivery_count: None,
        link_credit: None,
        available: None,
        drain: false,
        echo: false,
        properties: None,
    })
}

fn sending_flow(sending: &Sending, local_handle: u32, state: (u32, u32, u32)) -> Performative {
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

fn receiving_flow(
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

fn detach(local_handle: u32, error: Option<definitions::Error>) -> Performative {
    Performative::Detach(Detach {
        handle: Handle(local_handle),
        closed: true,
        error,
    })
}

/// A disposition for one delivery the client sent.
pub(super) fn disposition(delivery_id: u32, settled: bool, outcome: Outcome) -> Performative {
    let state = match outcome {
        Outcome::Accepted => DeliveryState::Accepted(Accepted {}),
        Outcome::Rejected(error) => DeliveryState::Rejected(Rejected { error: Some(error) }),
    };
    Performative::Disposition(Disposition {
        role: Role::Receiver,
        first: delivery_id,
        last: None,
        settled,
        state: Some(state),
        batchable: false,
    })
}

/// Our Attach in answer to the client's: source and target echoed (Python refuses a null in
/// either; the Rust SDK's receivers attach with a null target, so one is made up, docs/amqp-wire.md
/// §5), what we send pre-settled and what we receive settled at once (§0 items 3–4).
fn attach_reply(attach: &Attach, local_handle: u32, settings: &Settings) -> Performative {
    let we_send = attach.role == Role::Receiver;
    let target = match (&attach.target, we_send) {
        (None, true) => Some(Box::new(TargetArchetype::Target(
            Target::builder().address(attach.name.clone()).build(),
        ))),
        (target, _) => target.clone(),
    };
    Performative::Attach(Attach {
        name: attach.name.clone(),
        handle: Handle(local_handle),
        role: if we_send {
            Role::Sender
        } else {
            Role::Receiver
        },
        snd_settle_mode: if we_send {
            SenderSettleMode::Settled
        } else {
            attach.snd_settle_mode.clone()
        },
        rcv_settle_mode: ReceiverSettleMode::First,
        source: attach.source.clone(),
        target,
        unsettled: None,
        incomplete_unsettled: false,
        initial_delivery_count: we_send.then_some(0),
        max_message_size: (!we_send).then_some(settings.max_message_size),
        offered_capabilities: None,
        desired_capabilities: None,
        properties: None,
    })
}

fn name_of(performative: &Performative) -> &'static str {
    match performative {
        Performative::Open(_) => "open",
        Performative::Begin(_) => "begin",
        Performative::Attach(_) => "attach",
        Performative::Flow(_) => "flow",
        Performative::Transfer(_) => "transfer",
        Performative::Disposition(_) => "disposition",
        Performative::Detach(_) => "detach",
        Performative::End(_) => "end",
        Performative::Close(_) => "close",
    }
}
