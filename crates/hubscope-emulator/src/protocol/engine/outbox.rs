//! What waits to be written to the client, and dispositions held back for the Rust SDK.

use std::collections::VecDeque;
use std::time::Duration;

use fe2o3_amqp_types::performatives::Performative;
use tokio::time::Instant;

use super::endpoints::Outcome;
use super::frames::disposition;
use crate::protocol::codec;

/// Unwritten bytes beyond which no more deliveries are encoded: what bounds a connection's
/// output when the client reads slowly.
const HIGH_WATER: usize = 1024 * 1024;

/// How long the settled half of a two-phase disposition is held back (see [`Outbox::settle`]).
/// Long enough to outlast a preempted client thread; only a send that lost the race waits it.
const SETTLED_DISPOSITION_DELAY: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub(super) struct Outbox {
    pub bytes: Vec<u8>,
    /// How much of `bytes` the socket has taken.
    written: usize,
    /// The client's max-frame-size: the largest frame we may send.
    pub max_frame: usize,
    /// Dispositions go out in two phases: only for the Rust SDK (see [`Outbox::settle`]).
    pub two_phase: bool,
    held: VecDeque<Held>,
}

#[derive(Debug)]
struct Held {
    due: Instant,
    channel: u16,
    delivery_id: u32,
    outcome: Outcome,
}

impl Outbox {
    pub(super) fn new(max_frame: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(64 * 1024),
            written: 0,
            max_frame,
            two_phase: false,
            held: VecDeque::new(),
        }
    }

    /// Appends a frame.
    pub(super) fn frame(&mut self, channel: u16, performative: &Performative) {
        if let Err(e) = codec::write_performative(&mut self.bytes, channel, performative) {
            // Only our own values are encoded here, and all are representable.
            tracing::error!(error = %e, "a frame could not be encoded; not sent");
        }
    }

    /// Settles a delivery the client sent.
    ///
    /// The Rust SDK's fe2o3-amqp 0.16.2 registers a delivery as pending only after queueing its
    /// transfer, and drops a disposition that beats the registration (docs/amqp-wire.md §0 item
    /// 8). A preempted client thread makes that window milliseconds wide, and the send then hangs
    /// forever. So that client gets each outcome twice: at once *unsettled* (it completes the
    /// send if it has registered the delivery, and keeps the delivery id mapped either way), and
    /// a little later *settled*, which completes a send that lost the race. Every other client
    /// gets one settled disposition at once: Python ignores unsettled ones and would wait for
    /// the held one on every send.
    pub(super) fn settle(&mut self, channel: u16, delivery_id: u32, outcome: Outcome) {
        if !self.two_phase {
            self.frame(channel, &disposition(delivery_id, true, outcome));
            return;
        }
        self.frame(channel, &disposition(delivery_id, false, outcome.clone()));
        self.held.push_back(Held {
            due: Instant::now() + SETTLED_DISPOSITION_DELAY,
            channel,
            delivery_id,
            outcome,
        });
    }

    /// Sends the held dispositions that are due.
    pub(super) fn release_due(&mut self, now: Instant) {
        while self.held.front().is_some_and(|h| h.due <= now) {
            if let Some(held) = self.held.pop_front() {
                self.send_held(held);
            }
        }
    }

    /// Sends held dispositions at once: those of one session before its End (after it the
    /// channel may belong to another session), or all before Close, so that a send that lost the
    /// race still completes rather than failing although its events were stored.
    pub(super) fn release_held(&mut self, channel: Option<u16>) {
        let (now, later): (VecDeque<Held>, VecDeque<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| channel.is_none_or(|c| c == h.channel));
        self.held = later;
        for held in now {
            self.send_held(held);
        }
    }

    /// Drops a session's held dispositions: for a session that may receive nothing more.
    pub(super) fn discard_held(&mut self, channel: u16) {
        self.held.retain(|h| h.channel != channel);
    }

    fn send_held(&mut self, held: Held) {
        self.frame(
            held.channel,
            &disposition(held.delivery_id, true, held.outcome),
        );
    }

    pub(super) fn next_due(&self) -> Option<Instant> {
        self.held.front().map(|h| h.due)
    }

    /// Bytes not yet written.
    pub(super) fn unwritten(&self) -> &[u8] {
        &self.bytes[self.written..]
    }

    /// Notes that the socket took `n` more bytes.
    pub(super) fn advance(&mut self, n: usize) {
        self.written += n;
        if self.written >= self.bytes.len() {
            self.bytes.clear();
            self.written = 0;
        } else if self.written >= HIGH_WATER {
            self.bytes.drain(..self.written);
            self.written = 0;
        }
    }

    /// Whether enough waits for the socket that no more deliveries should be encoded.
    pub(super) fn is_full(&self) -> bool {
        self.bytes.len() - self.written >= HIGH_WATER
    }
}
