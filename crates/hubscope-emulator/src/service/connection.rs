//! One client connection: SASL, sessions, and routing each attached link to what it addresses.
//!
//! fe2o3-amqp's acceptors do the protocol; this module decides what each link is for. A link that
//! cannot be served (unknown hub, partition or consumer group; no authorization; a refused owner
//! level) is accepted and at once detached with the service's error, which is how the service
//! refuses links and how both clients expect to learn why.

use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::acceptor::sasl_acceptor::SaslServerFrame;
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, ListenerSessionHandle, SaslAcceptor,
    SessionAcceptor, SupportedReceiverSettleModes, SupportedSenderSettleModes,
};
use fe2o3_amqp::types::definitions::{ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp::types::messaging::{Body, Source, Target, TargetArchetype};
use fe2o3_amqp::types::performatives::Attach;
use fe2o3_amqp::types::primitives::{Array, Symbol, Value};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use fe2o3_amqp::{Receiver, Sender};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, Mutex};
use tokio::task::JoinSet;

use crate::protocol::amqp::{self, AmqpMessage};
use crate::protocol::batches::InboundBatches;
use crate::protocol::bundles::OutboundDeliveries;
use crate::protocol::shim::ServiceShapedStream;
use crate::service::address::{parse_node, Node};
use crate::service::auth::ConnectionGrants;
use crate::service::consume::{self, ConsumerLink};
use crate::service::publish;
use crate::service::requests;
use crate::service::shared::{refuse, Shared};

/// Handles per session, as the service sends (the Python client needs a value, docs/amqp-wire.md §0).
const HANDLE_MAX: u32 = 255;
/// fe2o3 reassembles a delivery up to this size before we judge it against the 1 MB limit;
/// larger ones cost the link, which bounds memory per link. The shim collects batches to the same
/// bound.
pub const REASSEMBLY_LIMIT: u64 = crate::protocol::batches::COLLECT_LIMIT as u64;
/// Frames buffered per link and session channel; bounds memory per slow reader.
const CHANNEL_BUFFER: usize = 256;
/// A client gets this long to finish the AMQP and SASL handshakes.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a `$cbs` or `$management` request waits before it is settled.
const REQUEST_SETTLE_DELAY: Duration = Duration::from_millis(1);
/// How long a request waits for its reply link to be attached.
const REPLY_LINK_WAIT: Duration = Duration::from_secs(5);
/// How long a shutdown waits for publish links to settle and detach before closing connections.
const LINK_DRAIN: Duration = Duration::from_secs(1);

/// Offers what the service offers; authorization happens afterwards over `$cbs`.
#[derive(Debug, Clone, Default)]
struct EventHubsSasl;

impl SaslAcceptor for EventHubsSasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(
            ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"]
                .into_iter()
                .map(Symbol::from)
                .collect::<Vec<_>>(),
        )
    }

    fn on_init(&mut self, _init: SaslInit) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Ok,
            additional_data: None,
        })
    }
}

/// Serves one client until it closes, misbehaves, or the emulator shuts down.
pub async fn serve<S>(stream: S, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + std::fmt::Debug + Send + Unpin + 'static,
{
    let acceptor = ConnectionAcceptor::builder()
        .container_id("hubscope-emulator")
        .max_frame_size(crate::protocol::shim::INBOUND_MAX_FRAME)
        .sasl_acceptor(EventHubsSasl)
        .build();
    let batches = Arc::new(InboundBatches::default());
    let deliveries = Arc::new(OutboundDeliveries::new(is_consume_link));
    let stream = ServiceShapedStream::new(stream, batches.clone(), deliveries.clone());
    let mut connection =
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "connection handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("connection handshake timed out");
                return;
            }
        };
    let session_acceptor = SessionAcceptor::builder()
        .handle_max(HANDLE_MAX)
        .buffer_size(CHANNEL_BUFFER)
        .build();
    let grants = Arc::new(ConnectionGrants::default());
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            incoming = connection.next_incoming_session() => {
                let Some(incoming) = incoming else { break };
                match session_acceptor.accept_incoming_session(incoming, &mut connection).await {
                    Ok(session) => {
                        sessions.spawn(serve_session(
                            session,
                            grants.clone(),
                            batches.clone(),
                            deliveries.clone(),
                            shared.clone(),
                        ));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "session refused");
                        break;
                    }
                }
            }
            () = shared.shutdown.cancelled() => {
                // Sessions first close their publish links, so the dispositions of what was stored
                // go out before the Close.
                let _ = tokio::time::timeout(LINK_DRAIN, async {
                    while sessions.join_next().await.is_some() {}
                })
                .await;
                let error = amqp::error("amqp:connection:forced", "The emulator is shutting down.");
                let _ = connection.close_with_error(error).await;
                sessions.abort_all();
                return;
            }
        }
    }
    sessions.abort_all();
    if let Err(e) = connection.close().await {
        tracing::debug!(error = %e, "connection ended");
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
    fn slot(&self, node: &Node) -> &Mutex<Option<mpsc::Sender<AmqpMessage>>> {
        match node {
            Node::Cbs => &self.cbs,
            _ => &self.management,
        }
    }

    /// Sends a reply, waiting briefly for the reply link if the client has not attached it yet.
    async fn send(&self, node: &Node, reply: AmqpMessage) {
        let deadline = tokio::time::Instant::now() + REPLY_LINK_WAIT;
        loop {
            let sender = self.slot(node).lock().await.clone();
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

/// fe2o3's default acceptor type: dynamic sources and targets are refused (we never create nodes).
type DefaultLinkAcceptor = LinkAcceptor<fn(Source) -> Option<Source>, fn(Target) -> Option<Target>>;

fn link_acceptor() -> DefaultLinkAcceptor {
    LinkAcceptor::builder()
        // The Python producer asks for rcv-settle-mode `second` and then ignores unsettled
        // dispositions (docs/amqp-wire.md §0 item 4): answer `first`.
        .supported_receiver_settle_modes(SupportedReceiverSettleModes::First)
        .fallback_receiver_settle_mode(ReceiverSettleMode::First)
        // Everything we send is pre-settled: the Python consumer never settles (item 3).
        .supported_sender_settle_modes(SupportedSenderSettleModes::Settled)
        .fallback_sender_settle_mode(SenderSettleMode::Settled)
        .max_message_size(REASSEMBLY_LIMIT)
        .build()
}

/// Whether a client's receiving link reads a partition (delivered in bundles, see `bundles`).
fn is_consume_link(attach: &Attach) -> bool {
    attach.role == Role::Receiver
        && matches!(
            parse_node(&address_of(attach).unwrap_or_default()),
            Some(Node::Consume { .. })
        )
}

fn address_of(attach: &Attach) -> Option<String> {
    match attach.role {
        // The client sends: the address is its target.
        Role::Sender => attach.target.as_ref().and_then(|t| match t.as_ref() {
            TargetArchetype::Target(t) => t.address.clone(),
            #[allow(unreachable_patterns)]
            _ => None,
        }),
        Role::Receiver => attach.source.as_ref().and_then(|s| s.address.clone()),
    }
}

async fn serve_session(
    mut session: ListenerSessionHandle,
    grants: Arc<ConnectionGrants>,
    batches: Arc<InboundBatches>,
    deliveries: Arc<OutboundDeliveries>,
    shared: Arc<Shared>,
) {
    let replies = Arc::new(ReplyLinks::default());
    let acceptor = link_acceptor();
    let mut links = JoinSet::new();
    let mut publishers = JoinSet::new();
    loop {
        let attach = tokio::select! {
            attach = session.next_incoming_attach() => attach,
            () = shared.shutdown.cancelled() => None,
        };
        let Some(mut attach) = attach else { break };
        // Rust's receivers attach with a null target; the reply must carry one (docs/amqp-wire.md §5).
        if attach.role == Role::Receiver && attach.target.is_none() {
            let target = Target::builder().address(attach.name.clone()).build();
            attach.target = Some(Box::new(TargetArchetype::Target(target)));
        }
        // fe2o3 enforces the smaller of both sides' limits by detaching the link, but the service
        // answers an oversized publish with a `rejected` outcome (and the Rust SDK hangs on a
        // detach mid-send). So our own reassembly bound applies, and `publish` rejects.
        if attach.role == Role::Sender {
            attach.max_message_size = None;
        }
        let address = address_of(&attach).unwrap_or_default();
        let node = parse_node(&address);
        let role = attach.role.clone();
        let link = match acceptor
            .accept_incoming_attach(attach.clone(), &mut session)
            .await
        {
            Ok(link) => link,
            Err(e) => {
                tracing::debug!(error = ?e, %address, "attach failed");
                continue;
            }
        };
        let ctx = LinkContext {
            grants: grants.clone(),
            batches: batches.clone(),
            deliveries: deliveries.clone(),
            shared: shared.clone(),
            replies: replies.clone(),
        };
        match (link, node) {
            (LinkEndpoint::Receiver(receiver), Some(node @ (Node::Cbs | Node::Management))) => {
                links.spawn(serve_requests(receiver, node, ctx));
            }
            (LinkEndpoint::Sender(sender), Some(node @ (Node::Cbs | Node::Management))) => {
                let (tx, rx) = mpsc::channel(16);
                *replies.slot(&node).lock().await = Some(tx);
                links.spawn(serve_replies(sender, rx));
            }
            (LinkEndpoint::Receiver(receiver), Some(Node::Publish { hub, partition })) => {
                publishers.spawn(async move {
                    publish::serve(
                        receiver,
                        &hub,
                        partition.as_deref(),
                        &address,
                        &ctx.grants,
                        &ctx.batches,
                        &ctx.shared,
                    )
                    .await;
                });
            }
            (LinkEndpoint::Sender(sender), Some(node @ Node::Consume { .. })) => {
                let link = ConsumerLink::new(&attach, node, address);
                links.spawn(async move {
                    consume::serve(sender, link, &ctx.grants, &ctx.deliveries, &ctx.shared).await;
                });
            }
            (link, _) => {
                let error = amqp::error(
                    "amqp:not-found",
                    format!(
                        "The messaging entity '{}/{}' could not be found.",
                        shared.endpoint,
                        address.trim_start_matches('/')
                    ),
                );
                tracing::debug!(%address, ?role, "attach to an unknown node refused");
                refuse(link, error).await;
            }
        }
    }
    // Publish links end on their own (when the client detaches, or on shutdown after settling
    // what they stored); the other links serve until the session goes.
    let _ = tokio::time::timeout(LINK_DRAIN, async {
        while publishers.join_next().await.is_some() {}
    })
    .await;
    publishers.abort_all();
    links.abort_all();
}

/// What a link task needs from its connection and session.
struct LinkContext {
    grants: Arc<ConnectionGrants>,
    batches: Arc<InboundBatches>,
    deliveries: Arc<OutboundDeliveries>,
    shared: Arc<Shared>,
    replies: Arc<ReplyLinks>,
}

async fn serve_requests(mut receiver: Receiver, node: Node, ctx: LinkContext) {
    loop {
        let delivery = tokio::select! {
            delivery = receiver.recv::<Body<Value>>() => delivery,
            () = ctx.shared.shutdown.cancelled() => return,
        };
        let Ok(delivery) = delivery else { return };
        let now_s = crate::storage::store::now_ms() / 1000;
        let request = delivery.message();
        let reply = match node {
            Node::Cbs => requests::put_token(request, &ctx.shared.authorizer, &ctx.grants, now_s),
            _ => requests::management(
                request,
                &ctx.shared.namespace,
                &ctx.shared.authorizer,
                &ctx.grants,
                &ctx.shared.endpoint,
                now_s,
            ),
        };
        // Never settle in the instant a delivery arrives: fe2o3-amqp 0.16 (the Rust SDK's) can lose
        // a disposition that beats its own bookkeeping (docs/amqp-wire.md §0 item 8). Requests are rare, so
        // they wait a timer tick (≈1 ms, which lost none in docs/amqp-wire.md §0 item 8), not just a yield.
        tokio::time::sleep(REQUEST_SETTLE_DELAY).await;
        if receiver.accept(&delivery).await.is_err() {
            return;
        }
        ctx.replies.send(&node, reply).await;
    }
}

async fn serve_replies(mut sender: Sender, mut replies: mpsc::Receiver<AmqpMessage>) {
    loop {
        let reply = tokio::select! {
            reply = replies.recv() => reply,
            _ = sender.on_detach() => return,
        };
        let Some(reply) = reply else { break };
        let sendable = fe2o3_amqp::Sendable::builder()
            .message(reply)
            .settled(true)
            .build();
        if sender.send(sendable).await.is_err() {
            return;
        }
    }
    let _ = sender.close().await;
}
