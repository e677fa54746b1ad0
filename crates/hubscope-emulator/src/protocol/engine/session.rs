//! One session: its transfer windows, its links, and the deliveries on them (AMQP 1.0 §2.5–2.7).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use fe2o3_amqp_types::definitions::{self, Handle, Role};
use fe2o3_amqp_types::performatives::{Attach, Detach, Flow, Performative, Transfer};
use tokio::sync::mpsc;

use super::endpoints::{
    Commands, InboundDelivery, IncomingLink, LinkId, Outcome, OutgoingLink, Payload, SenderFlow,
};
use super::frames::{
    attach_reply, detach, disposition, name_of, session_flow, violation, Violation,
};
use super::links::{
    answer_drain, grant, next_part, receiving_flow, release, sending_flow, Link, LinkKind,
    Receiving, Sending,
};
use super::outbox::Outbox;
use super::{Application, AttachContext, LinkEndpoint, Settings};
use crate::protocol::bundles::Bundle;
use crate::protocol::codec::{self, PeerProfile, TransferHead};

/// Handles per session, as the service sends (the Python client needs a value, docs/amqp-wire.md §0).
pub(super) const HANDLE_MAX: u32 = 255;
/// Transfers a client may send before we widen its window again.
const INCOMING_WINDOW: u32 = 5000;

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
            Performative::Attach(attach) => self.on_attach(&attach, cx),
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

    fn on_attach(&mut self, attach: &Attach, cx: &mut Context<'_>) -> Result<(), Violation> {
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
            // Room for all the credit granted and as much again (a client may send past it).
            let room = usize::try_from(cx.settings.link_credit).unwrap_or(1).max(1) * 2;
            let (tx, rx) = mpsc::channel(room);
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
        let decision = cx.app.attach(&context, attach, endpoint);
        cx.out.frame(
            self.local_channel,
            &attach_reply(attach, local_handle, cx.settings),
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
                        cx.out,
                        cx.settings,
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
        let Some(link) = attached(&mut self.links, handle, "Flow")? else {
            return Ok(());
        };
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
        // A silent link's client has already dropped it (see `LinkOptions`): a Detach in answer
        // would reach a link, or a session, it no longer knows, and it closes the connection.
        if !link.detach_sent && !link.silent_after_peer_end {
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
        let Some(link) = attached(&mut self.links, handle, "Transfer")? else {
            return Ok(());
        };
        let local_handle = link.local_handle;
        let LinkKind::Receiving(receiving) = &mut link.kind else {
            return Err(Violation::Session(violation(
                "amqp:session:errant-link",
                format!("Transfer on handle {handle}, on which the client receives."),
            )));
        };
        let Some(delivery) = next_part(receiving, transfer, payload, cx.settings)? else {
            return Ok(());
        };
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
            .is_some_and(|tx| tx.try_send(inbound).is_ok());
        if !handed {
            // Nobody serves the link any more, or the client sent far past its credit: refuse
            // the delivery, so the client is not left waiting for an outcome.
            receiving.outstanding -= 1;
            if !delivery.settled {
                let error = violation("amqp:link:detach-forced", "The link is no longer served.");
                cx.out.frame(
                    self.local_channel,
                    &disposition(delivery.delivery_id, true, Outcome::Rejected(error)),
                );
            }
        }
        grant(
            receiving,
            local_handle,
            self.local_channel,
            state,
            cx.out,
            cx.settings,
        );
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
            grant(
                receiving,
                local_handle,
                self.local_channel,
                state,
                cx.out,
                cx.settings,
            );
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
                    answer_drain(
                        sending,
                        epoch,
                        local_handle,
                        state,
                        self.local_channel,
                        cx.out,
                    );
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

/// The link a client frame names by `handle`: an error when none is attached there, `None` once
/// we have detached it (frames the client sent before reading our Detach are dropped).
fn attached<'a>(
    links: &'a mut HashMap<u32, Link>,
    handle: u32,
    what: &str,
) -> Result<Option<&'a mut Link>, Violation> {
    match links.get_mut(&handle) {
        None => Err(Violation::Session(violation(
            "amqp:session:unattached-handle",
            format!("{what} on handle {handle}, which is not attached."),
        ))),
        Some(link) if link.detach_sent => Ok(None),
        Some(link) => Ok(Some(link)),
    }
}
