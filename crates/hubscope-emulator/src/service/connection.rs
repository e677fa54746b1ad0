//! One client connection: the engine runs the protocol, and this module decides what each
//! attached link is for and serves it from a task of its own.
//!
//! A link that cannot be served (unknown hub, partition or consumer group; no authorization; a
//! refused owner level) is refused at attach with the service's error, which the engine sends in
//! a Detach right after the Attach: how the service refuses links and how both clients expect to
//! learn why.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fe2o3_amqp_types::definitions::{self, Role};
use fe2o3_amqp_types::messaging::TargetArchetype;
use fe2o3_amqp_types::performatives::Attach;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::protocol::amqp::{self, AmqpMessage};
use crate::protocol::bundles::Bundle;
use crate::protocol::engine::{
    self, Application, AttachContext, IncomingLink, LinkEndpoint, LinkOptions, Outcome,
    OutgoingLink, Payload, Settings,
};
use crate::service::address::{parse_node, Node};
use crate::service::auth::ConnectionGrants;
use crate::service::consume;
use crate::service::publish::{self, MAX_MESSAGE_SIZE};
use crate::service::requests;
use crate::service::shared::Shared;

/// A delivery is kept whole up to this size, so that one over the limit can be rejected with its
/// size (`publish` applies the limit); beyond it only its size is counted, which bounds memory
/// per delivery.
const REASSEMBLY_LIMIT: usize = 1024 * 1024 + 64 * 1024;
/// Largest frame a client may send us: the `max-frame-size` our Open advertises.
const MAX_FRAME_SIZE: u32 = 65536;
/// Credit each publish link keeps granted: deliveries its handler has not settled count against
/// it, which bounds what a connection holds for a slow store.
const LINK_CREDIT: u32 = 300;
/// A client gets this long to finish the AMQP and SASL handshakes.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a shutdown waits for link handlers to finish before closing the connection.
const LINK_DRAIN: Duration = Duration::from_secs(1);
/// How long a `$cbs` or `$management` request waits before it is settled.
const REQUEST_SETTLE_DELAY: Duration = Duration::from_millis(1);
/// How long a request waits for its reply link to be attached.
const REPLY_LINK_WAIT: Duration = Duration::from_secs(5);

fn settings() -> Settings {
    Settings {
        container_id: "hubscope-emulator".to_owned(),
        max_frame_size: MAX_FRAME_SIZE,
        max_message_size: MAX_MESSAGE_SIZE,
        reassembly_limit: REASSEMBLY_LIMIT,
        link_credit: LINK_CREDIT,
        handshake_timeout: HANDSHAKE_TIMEOUT,
        shutdown_drain: LINK_DRAIN,
    }
}

/// Serves one client until it closes, misbehaves, or the emulator shuts down.
pub async fn serve<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin,
{
    let shutdown = shared.shutdown.clone();
    let mut links = EventHubsLinks {
        grants: Arc::new(ConnectionGrants::default()),
        replies: HashMap::new(),
        tasks: JoinSet::new(),
        shared,
    };
    engine::serve(stream, &mut links, &settings(), &shutdown).await;
    // Dropping the set aborts the handlers still running: their links are gone.
}

/// The links of one connection, by what they address.
struct EventHubsLinks {
    shared: Arc<Shared>,
    grants: Arc<ConnectionGrants>,
    /// Reply links by session.
    replies: HashMap<u64, Arc<ReplyLinks>>,
    tasks: JoinSet<()>,
}

impl Application for EventHubsLinks {
    fn attach(
        &mut self,
        context: &AttachContext,
        attach: &Attach,
        link: LinkEndpoint,
    ) -> Result<LinkOptions, definitions::Error> {
        while self.tasks.try_join_next().is_some() {}
        let address = address_of(attach).unwrap_or_default();
        let node = parse_node(&address);
        let shared = self.shared.clone();
        let grants = self.grants.clone();
        match (link, node) {
            (LinkEndpoint::Incoming(link), Some(node @ (Node::Cbs | Node::Management))) => {
                let silent = context.peer.rust_sdk && node == Node::Cbs;
                let replies = self.replies_of(context.session);
                self.tasks
                    .spawn(serve_requests(link, node, grants, replies, shared));
                Ok(LinkOptions {
                    silent_after_peer_end: silent,
                    ..LinkOptions::default()
                })
            }
            (LinkEndpoint::Outgoing(link), Some(node @ (Node::Cbs | Node::Management))) => {
                let silent = context.peer.rust_sdk && node == Node::Cbs;
                let (tx, rx) = mpsc::channel(16);
                *self.replies_of(context.session).slot(&node) = Some(tx);
                self.tasks.spawn(serve_replies(link, rx, shared));
                Ok(LinkOptions {
                    silent_after_peer_end: silent,
                    ..LinkOptions::default()
                })
            }
            (LinkEndpoint::Incoming(link), Some(Node::Publish { hub, partition })) => {
                let target =
                    publish::Target::open(&hub, partition.as_deref(), &address, &grants, &shared)?;
                self.tasks.spawn(publish::serve(link, target, shared));
                Ok(LinkOptions::default())
            }
            (LinkEndpoint::Outgoing(link), Some(node @ Node::Consume { .. })) => {
                let stream = consume::Stream::open(attach, &node, &address, &grants, &shared)?;
                self.tasks.spawn(stream.serve(link, shared));
                Ok(LinkOptions {
                    answers_drain: true,
                    ..LinkOptions::default()
                })
            }
            (_, _) => {
                tracing::debug!(%address, role = ?attach.role, "attach to an unknown node refused");
                Err(amqp::error(
                    "amqp:not-found",
                    format!(
                        "The messaging entity '{}/{}' could not be found.",
                        self.shared.endpoint,
                        address.trim_start_matches('/')
                    ),
                ))
            }
        }
    }

    fn session_ended(&mut self, session: u64) {
        self.replies.remove(&session);
    }
}

impl EventHubsLinks {
    fn replies_of(&mut self, session: u64) -> Arc<ReplyLinks> {
        self.replies.entry(session).or_default().clone()
    }
}

/// The node a link addresses: its target when the client sends, its source when it receives.
fn address_of(attach: &Attach) -> Option<String> {
    match attach.role {
        Role::Sender => attach.target.as_ref().and_then(|t| match t.as_ref() {
            TargetArchetype::Target(t) => t.address.clone(),
            #[allow(unreachable_patterns)]
            _ => None,
        }),
        Role::Receiver => attach.source.as_ref().and_then(|s| s.address.clone()),
    }
}

/// Reply links of one session, by node: a request on `$cbs` is answered on the session's `$cbs`
/// receiving link (Python sets no `reply-to`, so the session is what pairs them).
#[derive(Debug, Default)]
struct ReplyLinks {
    cbs: Mutex<Option<mpsc::Sender<AmqpMessage>>>,
    management: Mutex<Option<mpsc::Sender<AmqpMessage>>>,
}

impl ReplyLinks {
    fn slot(&self, node: &Node) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<AmqpMessage>>> {
        let slot = match node {
            Node::Cbs => &self.cbs,
            _ => &self.management,
        };
        // Each update is one assignment, so a panic elsewhere cannot leave it half done.
        slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends a reply, waiting briefly for the reply link if the client has not attached it yet.
    async fn send(&self, node: &Node, reply: AmqpMessage) {
        let deadline = tokio::time::Instant::now() + REPLY_LINK_WAIT;
        loop {
            let sender = self.slot(node).clone();
            if let Some(sender) = sender {
                let _ = sender.send(reply).await;
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::debug!(?node, "request dropped: no reply link attached");
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn serve_requests(
    mut link: IncomingLink,
    node: Node,
    grants: Arc<ConnectionGrants>,
    replies: Arc<ReplyLinks>,
    shared: Arc<Shared>,
) {
    loop {
        let delivery = tokio::select! {
            delivery = link.recv() => delivery,
            () = shared.shutdown.cancelled() => return,
        };
        let Some(delivery) = delivery else { return };
        let request = match &delivery.payload {
            Payload::Whole(bytes) => amqp::decode(bytes).map_err(|e| e.to_string()),
            Payload::TooLarge { size } => Err(format!("A request of {size} bytes is too large.")),
        };
        let request = match request {
            Ok(request) => request,
            Err(text) => {
                let error = amqp::error("amqp:decode-error", text);
                link.settle(&delivery, Outcome::Rejected(error)).await;
                continue;
            }
        };
        let now_s = crate::storage::store::now_ms() / 1000;
        let reply = match node {
            Node::Cbs => requests::put_token(&request, &shared.authorizer, &grants, now_s),
            _ => requests::management(
                &request,
                &shared.namespace,
                &shared.authorizer,
                &grants,
                &shared.endpoint,
                now_s,
            ),
        };
        // Never settle in the instant a delivery arrives: fe2o3-amqp 0.16 (the Rust SDK's) can
        // lose a disposition that beats its own bookkeeping (docs/amqp-wire.md §0 item 8).
        // Requests are rare, so they wait a timer tick (≈1 ms, which lost none), not just a yield.
        tokio::time::sleep(REQUEST_SETTLE_DELAY).await;
        link.settle(&delivery, Outcome::Accepted).await;
        replies.send(&node, reply).await;
    }
}

async fn serve_replies(
    link: OutgoingLink,
    mut replies: mpsc::Receiver<AmqpMessage>,
    shared: Arc<Shared>,
) {
    loop {
        let reply = tokio::select! {
            reply = replies.recv() => reply,
            () = link.detached() => return,
            () = shared.shutdown.cancelled() => return,
        };
        let Some(reply) = reply else { break };
        let mut bundle = Bundle::default();
        let encoded =
            bundle.push_with(|out| amqp::encode(&reply).map(|bytes| out.extend_from_slice(&bytes)));
        match encoded {
            Ok(()) => link.send(bundle).await,
            Err(e) => tracing::error!(error = %e, "a reply could not be encoded"),
        }
    }
    link.close(None).await;
}
