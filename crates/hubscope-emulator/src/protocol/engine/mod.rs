//! The endpoint's AMQP 1.0 engine: one state machine per connection, over [`codec`].
//!
//! It owns everything AMQP says about a connection (AMQP 1.0 §2.4–2.7): the protocol headers and
//! SASL, Open and Close, heartbeats, sessions and their transfer windows, links and their credit
//! (drain and echo answered), deliveries in one frame or many, and settlement. Every End, Detach
//! and Close is answered (docs/amqp-wire.md §9 item 1).
//!
//! What a link is *for* is not its business: an [`Application`] decides that at attach, and
//! serves the link through the endpoint it is handed ([`IncomingLink`] for links the client
//! sends on, [`OutgoingLink`] for links it receives on), from a task of its own. The engine
//! never waits for an application: handlers talk to it through one ordered channel, deliveries
//! to a handler are bounded by the credit the engine grants, and deliveries from a handler by
//! the credit the client grants.
//!
//! [`codec`]: crate::protocol::codec

mod connection;
mod driver;
mod endpoints;
mod frames;
mod handshake;
mod links;
mod outbox;
mod session;

use std::time::Duration;

use fe2o3_amqp_types::definitions;
use fe2o3_amqp_types::performatives::Attach;

pub use driver::serve;
pub use endpoints::{InboundDelivery, IncomingLink, Outcome, OutgoingLink, Payload};

use crate::protocol::codec::PeerProfile;

/// What the engine offers and enforces.
#[derive(Debug, Clone)]
pub struct Settings {
    pub container_id: String,
    /// Our Open's `max-frame-size`: the largest frame a client may send.
    pub max_frame_size: u32,
    /// The `max-message-size` of the links we receive on.
    pub max_message_size: u64,
    /// Deliveries larger than this are not kept, only measured (see [`Payload::TooLarge`]).
    pub reassembly_limit: usize,
    /// Credit each receiving link keeps granted, less what its handler has not settled.
    pub link_credit: u32,
    /// How long a client may take from connecting to its Open.
    pub handshake_timeout: Duration,
    /// How long a shutdown waits for handlers to let go of their links before the Close.
    pub shutdown_drain: Duration,
}

/// A link as handed to the application at attach.
#[derive(Debug)]
pub enum LinkEndpoint {
    /// The client sends on it.
    Incoming(IncomingLink),
    /// The client receives on it.
    Outgoing(OutgoingLink),
}

/// Where an attach happens.
#[derive(Debug, Clone, Copy)]
pub struct AttachContext {
    /// What the client's Open said about it.
    pub peer: PeerProfile,
    /// The session's number, unique within the connection.
    pub session: u64,
}

/// How the engine treats an accepted link.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkOptions {
    /// The handler answers the client's drain requests itself, once it has handed over all it
    /// has (`OutgoingLink::answer_drain`); otherwise the engine answers as soon as its queue is
    /// empty.
    pub answers_drain: bool,
    /// The client drops the link when it detaches it, and its session when it ends it: its
    /// Detach goes unanswered, and when every link of a session has this, so does its End. The
    /// Rust SDK treats its `$cbs` links so, and closes the whole connection when anything more
    /// arrives on one (docs/amqp-wire.md §9).
    pub silent_after_peer_end: bool,
}

/// What serves the links of one connection.
pub trait Application: Send {
    /// Decides what serves a link the client attached: takes `link` and serves it (from a task
    /// of its own), or refuses the link with an error, which the client gets in a Detach right
    /// after our Attach, as the service refuses links.
    ///
    /// # Errors
    /// The AMQP error the link is refused with.
    fn attach(
        &mut self,
        context: &AttachContext,
        attach: &Attach,
        link: LinkEndpoint,
    ) -> Result<LinkOptions, definitions::Error>;

    /// A session ended, with every link on it.
    fn session_ended(&mut self, _session: u64) {}
}
