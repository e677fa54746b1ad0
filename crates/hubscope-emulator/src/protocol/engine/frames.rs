//! The performatives a session sends, and the protocol errors that end a session or a connection.

use fe2o3_amqp_types::definitions::{self, Handle, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp_types::messaging::{Accepted, DeliveryState, Rejected, Target, TargetArchetype};
use fe2o3_amqp_types::performatives::{Attach, Detach, Disposition, Flow, Performative};

use super::endpoints::Outcome;
use super::Settings;

/// What ends a session or the connection when a client breaks the protocol.
#[derive(Debug)]
pub(super) enum Violation {
    Session(definitions::Error),
    Connection(definitions::Error),
}

pub(super) fn violation(condition: &str, text: impl Into<String>) -> definitions::Error {
    crate::protocol::amqp::error(condition, text)
}

pub(super) fn session_flow(
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

pub(super) fn detach(local_handle: u32, error: Option<definitions::Error>) -> Performative {
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
pub(super) fn attach_reply(
    attach: &Attach,
    local_handle: u32,
    settings: &Settings,
) -> Performative {
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

pub(super) fn name_of(performative: &Performative) -> &'static str {
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
