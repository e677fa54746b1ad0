//! What a link's handler holds: the link's end as the engine hands it out.
//!
//! Handlers run as tasks of their own and talk to the connection's engine through one ordered
//! command channel, so a link's dispositions, deliveries and detach go out in the order the
//! handler made them. Credit is shared state ([`SenderFlow`]): the engine keeps it current from
//! the client's Flows, and a sending handler reads it to know how much to send.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use fe2o3_amqp_types::definitions;
use tokio::sync::{mpsc, Notify};

use crate::protocol::bundles::Bundle;

/// Encoded bytes a sending link may have handed to the engine and not yet sent before it is
/// told to wait: what bounds the memory a client that grants much credit and reads slowly costs.
pub const UNSENT_LIMIT: usize = 1024 * 1024;

/// A link's identity for the life of its connection (handles are reused; these are not).
pub type LinkId = u64;

/// What a handler asks of the engine.
#[derive(Debug)]
pub(super) enum Command {
    Settle {
        link: LinkId,
        delivery_id: u32,
        settled_by_client: bool,
        outcome: Outcome,
    },
    Deliver {
        link: LinkId,
        bundle: Bundle,
    },
    AnswerDrain {
        link: LinkId,
        epoch: u64,
    },
    Close {
        link: LinkId,
        error: Option<definitions::Error>,
    },
}

pub(super) type Commands = mpsc::Sender<Command>;

/// Commands queued per connection before a handler waits for the engine to take them. The
/// engine never waits for a handler, so a full queue only slows the handlers down.
pub(super) const COMMAND_BUFFER: usize = 1024;

/// How a delivery the client sent ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Accepted,
    Rejected(definitions::Error),
}

/// A delivery's message as it arrived, whole.
#[derive(Debug, Clone)]
pub enum Payload {
    /// The message's bytes: one slice of the read buffer when it came in one frame, or one buffer
    /// holding all of its frames' parts.
    Whole(Bytes),
    /// More than the engine reassembles; only its size was kept.
    TooLarge { size: u64 },
}

/// A delivery from the client.
#[derive(Debug)]
pub struct InboundDelivery {
    pub delivery_id: u32,
    pub message_format: u32,
    /// Sent pre-settled: the client wants no disposition.
    pub settled: bool,
    pub payload: Payload,
}

/// The receiving end of a link the client sends on.
#[derive(Debug)]
pub struct IncomingLink {
    pub(super) id: LinkId,
    pub(super) deliveries: mpsc::Receiver<InboundDelivery>,
    pub(super) commands: Commands,
}

impl IncomingLink {
    /// The next delivery, or `None` once the link is detached or its session or connection ends.
    pub async fn recv(&mut self) -> Option<InboundDelivery> {
        self.deliveries.recv().await
    }

    /// Settles a delivery with its outcome (nothing goes out for a pre-settled one, but its
    /// credit comes back).
    pub async fn settle(&self, delivery: &InboundDelivery, outcome: Outcome) {
        let _ = self
            .commands
            .send(Command::Settle {
                link: self.id,
                delivery_id: delivery.delivery_id,
                settled_by_client: delivery.settled,
                outcome,
            })
            .await;
    }
}

/// The sending end of a link the client receives on. Everything sent is pre-settled.
#[derive(Debug)]
pub struct OutgoingLink {
    pub(super) id: LinkId,
    pub(super) flow: Arc<SenderFlow>,
    pub(super) commands: Commands,
}

impl OutgoingLink {
    /// Deliveries the client has granted credit for and that have not been sent or handed over;
    /// 0 while what was handed over and not yet sent passes [`UNSENT_LIMIT`].
    #[must_use]
    pub fn available(&self) -> u32 {
        let state = self.flow.lock();
        if state.claimed_bytes >= UNSENT_LIMIT {
            return 0;
        }
        state.credit.saturating_sub(state.claimed)
    }

    /// Hands deliveries to the engine, which sends them as credit and the session window allow.
    pub async fn send(&self, bundle: Bundle) {
        if bundle.is_empty() {
            return;
        }
        let count = u32::try_from(bundle.len()).unwrap_or(u32::MAX);
        {
            let mut state = self.flow.lock();
            state.claimed = state.claimed.saturating_add(count);
            state.claimed_bytes += bundle.byte_len();
        }
        let _ = self
            .commands
            .send(Command::Deliver {
                link: self.id,
                bundle,
            })
            .await;
    }

    /// The client's pending drain request, if any: answer it with [`Self::answer_drain`] once
    /// everything there is to send has been handed over.
    #[must_use]
    pub fn drain_requested(&self) -> Option<u64> {
        self.flow.lock().drain_epoch
    }

    /// Answers drain request `epoch`: after what was handed over before, the rest of the credit
    /// is used up and the client is told so (AMQP 1.0 §2.6.7).
    pub async fn answer_drain(&self, epoch: u64) {
        let _ = self
            .commands
            .send(Command::AnswerDrain {
                link: self.id,
                epoch,
            })
            .await;
    }

    /// Whether the client has detached the link (or its session or connection has ended).
    #[must_use]
    pub fn is_detached(&self) -> bool {
        self.flow.lock().detached
    }

    /// Resolves when credit, a drain request or the detach may have changed.
    pub async fn changed(&self) {
        self.flow.changed.notified().await;
    }

    /// Resolves once the link is detached.
    pub async fn detached(&self) {
        while !self.is_detached() {
            self.changed().await;
        }
    }

    /// Detaches the link (closed), with an error when there is one.
    pub async fn close(self, error: Option<definitions::Error>) {
        let _ = self
            .commands
            .send(Command::Close {
                link: self.id,
                error,
            })
            .await;
    }
}

/// A sending link's credit, shared between the engine and the link's handler.
#[derive(Debug, Default)]
pub(super) struct SenderFlow {
    state: Mutex<FlowState>,
    pub(super) changed: Notify,
}

#[derive(Debug, Default)]
pub(super) struct FlowState {
    /// Deliveries the client's last Flow allows beyond those sent.
    pub credit: u32,
    /// Deliveries handed to the engine and not sent yet.
    pub claimed: u32,
    /// Bytes of the bundles handed to the engine and not wholly sent yet.
    pub claimed_bytes: usize,
    /// A drain the client asked for and that is not answered yet, by its number.
    pub drain_epoch: Option<u64>,
    pub detached: bool,
}

impl SenderFlow {
    pub(super) fn lock(&self) -> MutexGuard<'_, FlowState> {
        // Every update leaves the state consistent, so a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Updates the state and wakes the handler.
    pub(super) fn update(&self, change: impl FnOnce(&mut FlowState)) {
        change(&mut self.lock());
        self.changed.notify_one();
    }
}
