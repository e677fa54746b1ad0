//! Consume links: one partition through one consumer group, to one receiver (contract §5).
//!
//! The link starts where its selector filter says, then streams stored events and waits for new
//! ones, sending only while the client has granted credit (fe2o3 waits for it). Every transfer is
//! pre-settled. A receiver with a higher owner level takes the partition away with
//! `amqp:link:stolen`.

use fe2o3_amqp::acceptor::LinkEndpoint;
use fe2o3_amqp::types::messaging::{Body, Data, DeliveryAnnotations, Message};
use fe2o3_amqp::types::performatives::Attach;
use fe2o3_amqp::types::primitives::{Binary, OrderedMap, Symbol, Timestamp, Value};
use fe2o3_amqp::{Sendable, Sender};
use fe2o3_amqp_types::messaging::annotations::OwnedKey;

use super::address::{parse_selector, Node};
use super::amqp::{self, AmqpMessage};
use super::auth::ConnectionGrants;
use super::connection::{refuse, Shared};
use super::store::{now_ms, Partition, StartPosition, StoredEvent};

const SELECTOR_FILTER: &str = "apache.org:selector-filter:string";
const EPOCH_PROPERTY: &str = "com.microsoft:epoch";
const RECEIVER_NAME_PROPERTY: &str = "com.microsoft.com:receiver-name";
const RUNTIME_METRIC_CAPABILITY: &str = "com.microsoft:enable-receiver-runtime-metric";
/// Events read from the log per pass; each is sent as credit allows.
const READ_CHUNK: usize = 128;

/// What a consumer asked for in its attach.
#[derive(Debug)]
pub struct ConsumerLink {
    node: Node,
    address: String,
    name: String,
    epoch: Option<i64>,
    selector: Option<String>,
    runtime_metrics: bool,
}

impl ConsumerLink {
    #[must_use]
    pub fn new(attach: &Attach, node: Node, address: String) -> Self {
        let property = |key: &str| {
            attach
                .properties
                .as_ref()
                .and_then(|p| p.get(&Symbol::from(key)).cloned())
        };
        let epoch = match property(EPOCH_PROPERTY) {
            Some(Value::Long(v)) => Some(v),
            Some(Value::Int(v)) => Some(i64::from(v)),
            _ => None,
        };
        let name = match property(RECEIVER_NAME_PROPERTY) {
            Some(Value::String(s)) => s,
            _ => attach.name.clone(),
        };
        // The filter value is a described string; its descriptor is a symbol (Python) or a
        // numeric code (Rust), so only the string inside matters.
        let selector = attach
            .source
            .as_ref()
            .and_then(|s| s.filter.as_ref())
            .and_then(|f| f.get(&Symbol::from(SELECTOR_FILTER)))
            .and_then(|v| match v {
                Value::Described(d) => match &d.value {
                    Value::String(s) => Some(s.clone()),
                    _ => None,
                },
                Value::String(s) => Some(s.clone()),
                _ => None,
            });
        let runtime_metrics = attach
            .desired_capabilities
            .as_ref()
            .is_some_and(|caps| caps.0.iter().any(|c| c.0 == RUNTIME_METRIC_CAPABILITY));
        Self {
            node,
            address,
            name,
            epoch,
            selector,
            runtime_metrics,
        }
    }
}

/// Serves one consume link until the client detaches, is displaced, or the emulator stops.
pub async fn serve(sender: Sender, link: ConsumerLink, grants: &ConnectionGrants, shared: &Shared) {
    let endpoint = LinkEndpoint::Sender(sender);
    let Node::Consume {
        hub: hub_name,
        consumer_group,
        partition: partition_id,
    } = &link.node
    else {
        return;
    };
    let not_found = |what: String| amqp::error("amqp:not-found", what);
    let Some(hub) = shared.namespace.hub(hub_name).cloned() else {
        let text = format!(
            "The messaging entity '{}/{hub_name}' could not be found.",
            shared.endpoint
        );
        return refuse(endpoint, not_found(text)).await;
    };
    let Some(group) = hub.consumer_group(consumer_group).map(str::to_owned) else {
        let text = format!(
            "The messaging entity '{}/{}/consumergroups/{consumer_group}' could not be found.",
            shared.endpoint, hub.name
        );
        return refuse(endpoint, not_found(text)).await;
    };
    let Some(partition) = hub.partition(partition_id).cloned() else {
        let text = format!(
            "The specified partition is invalid for an EventHub partition sender or receiver. It should be between 0 and {}.",
            hub.partitions.len().saturating_sub(1)
        );
        return refuse(
            endpoint,
            amqp::error("com.microsoft:argument-out-of-range", text),
        )
        .await;
    };
    if !grants.allows(&link.address, now_ms() / 1000) {
        let text = format!(
            "Unauthorized access to '{}'. Put a valid token on $cbs first.",
            link.address
        );
        return refuse(endpoint, amqp::error("amqp:unauthorized-access", text)).await;
    }
    let start = match link.selector.as_deref().map(parse_selector) {
        None => StartPosition::Earliest,
        Some(Ok(position)) => position,
        Some(Err(text)) => {
            return refuse(endpoint, amqp::error("com.microsoft:argument-error", text)).await;
        }
    };
    let mut claim = match hub
        .ownership
        .claim(&group, &partition.id, &link.name, link.epoch)
    {
        Ok(claim) => claim,
        Err(refused) => {
            let condition = match refused {
                super::ownership::ClaimRefused::HigherEpochHeld { .. } => "amqp:link:stolen",
                super::ownership::ClaimRefused::TooManyReceivers { .. } => {
                    "amqp:resource-limit-exceeded"
                }
            };
            return refuse(endpoint, amqp::error(condition, refused.to_string())).await;
        }
    };
    let LinkEndpoint::Sender(mut sender) = endpoint else {
        return;
    };
    let mut next = partition.resolve_start(&start);
    let mut appended = partition.subscribe();
    tracing::debug!(hub = %hub.name, %group, partition = %partition.id, next, "consumer attached");
    loop {
        let events = partition.read(next, READ_CHUNK);
        if events.is_empty() {
            tokio::select! {
                changed = appended.changed() => if changed.is_err() { return },
                reason = &mut claim.displaced => return displaced(sender, reason.ok()).await,
                _ = sender.on_detach() => return,
                () = shared.shutdown.cancelled() => return,
            }
            continue;
        }
        for event in events {
            let message = delivery_message(&event, link.runtime_metrics.then_some(&*partition));
            let sendable = Sendable::builder().message(message).settled(true).build();
            tokio::select! {
                sent = sender.send(sendable) => if sent.is_err() { return },
                reason = &mut claim.displaced => return displaced(sender, reason.ok()).await,
                () = shared.shutdown.cancelled() => return,
            }
            next = event.sequence_number + 1;
        }
    }
}

async fn displaced(sender: Sender, reason: Option<String>) {
    let text = reason.unwrap_or_else(|| "A receiver with a higher epoch took over.".to_owned());
    refuse(
        LinkEndpoint::Sender(sender),
        amqp::error("amqp:link:stolen", text),
    )
    .await;
}

/// The stored event as the service delivers it: stamped with its sequence number, offset and
/// enqueued time, and with the partition's runtime metrics when the receiver asked for them.
fn delivery_message(event: &StoredEvent, metrics_of: Option<&Partition>) -> AmqpMessage {
    let mut message = amqp::decode(&event.message).unwrap_or_else(|_| {
        // Ingest checks every event decodes, so this only guards against a corrupted journal.
        Message::builder()
            .body(Body::Data(
                vec![Data(Binary::from(event.message.to_vec()))].into(),
            ))
            .build()
    });
    amqp::set_annotation(
        &mut message,
        "x-opt-sequence-number",
        Value::Long(event.sequence_number),
    );
    amqp::set_annotation(
        &mut message,
        "x-opt-offset",
        Value::String(event.offset.to_string()),
    );
    amqp::set_annotation(
        &mut message,
        "x-opt-enqueued-time",
        Value::Timestamp(Timestamp::from_milliseconds(event.enqueued_ms)),
    );
    if let Some(key) = &event.partition_key {
        amqp::set_annotation(
            &mut message,
            "x-opt-partition-key",
            Value::String(key.clone()),
        );
    }
    if let Some(partition) = metrics_of {
        let info = partition.info();
        let mut annotations = OrderedMap::new();
        let mut put = |k: &str, v: Value| {
            annotations.insert(OwnedKey::Symbol(Symbol::from(k)), v);
        };
        put(
            "last_enqueued_sequence_number",
            Value::Long(info.last_sequence_number),
        );
        put(
            "last_enqueued_offset",
            Value::String(info.last_offset.to_string()),
        );
        put(
            "last_enqueued_time_utc",
            Value::Timestamp(Timestamp::from_milliseconds(info.last_enqueued_ms)),
        );
        put(
            "runtime_info_retrieval_time_utc",
            Value::Timestamp(Timestamp::from_milliseconds(now_ms())),
        );
        message.delivery_annotations = Some(DeliveryAnnotations(annotations));
    }
    message
}
