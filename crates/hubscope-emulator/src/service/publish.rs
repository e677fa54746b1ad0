//! Publish links: events from a producer into partitions (docs/amqp-wire.md §4).
//!
//! A delivery is a single event (message format 0) or a batch (format `0x80013700`, one encoded
//! message per data section). Either way it lands in one partition: the link's own partition,
//! else the partition key's, else the next in turn. The delivery is accepted only after the events
//! are stored (and journaled, with a data directory), so no acknowledged event can be lost.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fe2o3_amqp::link::delivery::DeliveryInfo;
use fe2o3_amqp::types::definitions;
use fe2o3_amqp::types::messaging::{AmqpValue, Body, MessageAnnotations};
use fe2o3_amqp::types::primitives::{Symbol, Value};
use fe2o3_amqp::{Delivery, Receiver};
use fe2o3_amqp_types::messaging::annotations::OwnedKey;

use crate::protocol::amqp::{self, BATCH_MESSAGE_FORMAT};
use crate::protocol::batches::{self, Batch, BatchEvents, InboundBatches};
use crate::protocol::shim::ADVERTISED_MAX_MESSAGE_SIZE;
use crate::service::auth::ConnectionGrants;
use crate::service::shared::{refuse, Shared};
use crate::storage::namespace::Hub;
use crate::storage::store::{NewEvent, Partition};

const PARTITION_KEY: &str = "x-opt-partition-key";

/// How long a shutdown waits for the client to answer a publish link's Detach.
const DETACH_WAIT: Duration = Duration::from_millis(250);

/// Serves one publish link until the client detaches it.
pub async fn serve(
    receiver: Receiver,
    hub_name: &str,
    partition_id: Option<&str>,
    address: &str,
    grants: &ConnectionGrants,
    batches: &InboundBatches,
    shared: &Shared,
) {
    let link = fe2o3_amqp::acceptor::LinkEndpoint::Receiver(receiver);
    let Some(hub) = shared.namespace.hub(hub_name).cloned() else {
        let text = format!(
            "The messaging entity '{}/{hub_name}' could not be found.",
            shared.endpoint
        );
        return refuse(link, amqp::error("amqp:not-found", text)).await;
    };
    let partition = match partition_id {
        None => None,
        Some(id) => {
            if let Some(p) = hub.partition(id) {
                Some(p.clone())
            } else {
                let text = format!(
                "The specified partition is invalid for an EventHub partition sender or receiver. It should be between 0 and {}.",
                hub.partitions.len().saturating_sub(1)
            );
                return refuse(
                    link,
                    amqp::error("com.microsoft:argument-out-of-range", text),
                )
                .await;
            }
        }
    };
    if !grants.allows(address, crate::storage::store::now_ms() / 1000) {
        let text = format!("Unauthorized access to '{address}'. Put a valid token on $cbs first.");
        return refuse(link, amqp::error("amqp:unauthorized-access", text)).await;
    }
    let fe2o3_amqp::acceptor::LinkEndpoint::Receiver(mut receiver) = link else {
        return;
    };
    loop {
        let delivery = tokio::select! {
            delivery = receiver.recv::<Body<Value>>() => delivery,
            () = shared.shutdown.cancelled() => {
                // Every delivery taken so far is stored and settled; what the client sent after
                // it fails with the detach, so a clean shutdown acknowledges exactly what it kept.
                // The wait for the client's Detach is what orders our dispositions before the
                // connection's Close; an idle client answers only when it next uses the link.
                let error = amqp::error("amqp:connection:forced", "The emulator is shutting down.");
                match tokio::time::timeout(DETACH_WAIT, receiver.close_with_error(error)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::debug!(error = %e, "publish link did not close cleanly"),
                    Err(_) => tracing::debug!("publish link: no detach from the client"),
                }
                return;
            }
        };
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err(e) => {
                tracing::debug!(error = %e, hub = %hub.name, "publish link ended");
                return;
            }
        };
        let info = DeliveryInfo::from(&delivery);
        let outcome = ingest(delivery, &hub, partition.as_ref(), batches);
        tracing::trace!(hub = %hub.name, ok = outcome.is_ok(), "publish delivery");
        // Never settle in the instant a delivery arrives (docs/amqp-wire.md §0 item 8); the shim also
        // sends dispositions in two phases, so a send that loses this race is not lost.
        tokio::task::yield_now().await;
        let settled = match outcome {
            Ok(()) => receiver.accept(info).await,
            Err(error) => receiver.reject(info, error).await,
        };
        if settled.is_err() {
            return;
        }
    }
}

/// Stores a delivery's events, or says why it was refused.
fn ingest(
    delivery: Delivery<Body<Value>>,
    hub: &Hub,
    partition: Option<&Arc<Partition>>,
    batches: &InboundBatches,
) -> Result<(), definitions::Error> {
    let is_batch = *delivery.message_format() == Some(BATCH_MESSAGE_FORMAT);
    let delivery_id = delivery.delivery_id().to_owned();
    let mut message = delivery.into_message();
    let mut key = amqp::string_annotation(&message, PARTITION_KEY);
    let events = if let Some(parked) = parked_batch(is_batch, &message.body, batches) {
        let parked = parked?;
        key = parked.annotations.as_ref().and_then(partition_key);
        parked.events
    } else if is_batch {
        batch_events(std::mem::replace(&mut message.body, Body::Empty))?
    } else {
        let encoded = amqp::encode(&message).map_err(|e| {
            amqp::error(
                "amqp:decode-error",
                format!("The message cannot be stored: {e}"),
            )
        })?;
        vec![encoded]
    };
    let size: usize = events.iter().map(Bytes::len).sum();
    if size as u64 > ADVERTISED_MAX_MESSAGE_SIZE {
        return Err(amqp::error(
            "amqp:link:message-size-exceeded",
            format!(
                "The received message (delivery-id:{delivery_id}, size:{size} bytes) exceeds the limit ({ADVERTISED_MAX_MESSAGE_SIZE} bytes) currently allowed on the link.",
            ),
        ));
    }
    let target = partition.unwrap_or_else(|| hub.route(key.as_deref()));
    let new_events = events
        .into_iter()
        .map(|message| NewEvent {
            message,
            partition_key: key.clone(),
        })
        .collect();
    target.append(new_events).map_err(|e| {
        tracing::error!(error = %e, hub = %hub.name, partition = %target.id, "append failed");
        amqp::error(
            "amqp:internal-error",
            format!("The event could not be stored: {e}"),
        )
    })?;
    Ok(())
}

/// The events and partition key of a batch the shim took off the wire (see `batches`), or `None`
/// when fe2o3 received the delivery as it was sent.
fn parked_batch(
    is_batch: bool,
    body: &Body<Value>,
    batches: &InboundBatches,
) -> Option<Result<BatchEvents, definitions::Error>> {
    let Body::Value(AmqpValue(Value::Ulong(token))) = body else {
        return None;
    };
    if !is_batch {
        return None;
    }
    let decode_error = |text: String| amqp::error("amqp:decode-error", text);
    Some(match batches.take(*token) {
        Some(Batch::Whole(bytes)) => {
            batches::events_of(&bytes).map_err(|e| decode_error(e.to_string()))
        }
        Some(Batch::TooLarge { size }) => Err(amqp::error(
            "amqp:link:message-size-exceeded",
            format!(
                "The received message (size:{size} bytes) exceeds the limit ({ADVERTISED_MAX_MESSAGE_SIZE} bytes) currently allowed on the link.",
            ),
        )),
        None => Err(decode_error(format!("Batch {token} was not received."))),
    })
}

/// The partition key a batch's envelope carries (a string or symbol annotation).
fn partition_key(annotations: &MessageAnnotations) -> Option<String> {
    match annotations
        .0
        .get(&OwnedKey::Symbol(Symbol::from(PARTITION_KEY)))
    {
        Some(Value::String(key)) => Some(key.clone()),
        Some(Value::Symbol(key)) => Some(key.0.clone()),
        _ => None,
    }
}

/// The inner messages of a batch, each checked to be a whole AMQP message (by its sections:
/// decoding every event in full cost more than the rest of ingest).
fn batch_events(envelope: Body<Value>) -> Result<Vec<Bytes>, definitions::Error> {
    let Body::Data(sections) = envelope else {
        return Err(amqp::error(
            "amqp:decode-error",
            "A batch must carry its events as data sections.",
        ));
    };
    sections
        .into_iter()
        .enumerate()
        .map(|(i, section)| {
            let bytes = Bytes::from(section.0.into_vec());
            crate::protocol::sections::split(&bytes).map_err(|e| {
                amqp::error(
                    "amqp:decode-error",
                    format!("Event {i} of the batch is not an AMQP message: {e}"),
                )
            })?;
            Ok(bytes)
        })
        .collect()
}
