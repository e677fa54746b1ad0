//! Publish links: events from a producer into partitions (docs/amqp-wire.md §4).
//!
//! A delivery is a single event (message format 0) or a batch (format `0x80013700`, one encoded
//! message per data section). Either way it lands in one partition: the link's own partition,
//! else the partition key's, else the next in turn. The delivery is accepted only after the events
//! are stored (and journaled, with a data directory), so no acknowledged event can be lost.

use std::sync::Arc;

use bytes::Bytes;
use fe2o3_amqp_types::definitions;
use fe2o3_amqp_types::messaging::annotations::OwnedKey;
use fe2o3_amqp_types::messaging::MessageAnnotations;
use fe2o3_amqp_types::primitives::{Symbol, Value};

use crate::protocol::amqp::{self, BATCH_MESSAGE_FORMAT};
use crate::protocol::batches;
use crate::protocol::engine::{InboundDelivery, IncomingLink, Outcome, Payload};
use crate::protocol::sections;
use crate::service::auth::ConnectionGrants;
use crate::service::shared::Shared;
use crate::storage::namespace::Hub;
use crate::storage::store::{NewEvent, Partition, StoreError};

const PARTITION_KEY: &str = "x-opt-partition-key";

/// The largest publish the service takes, and what our receiving links advertise.
pub const MAX_MESSAGE_SIZE: u64 = 1024 * 1024;

/// Where a publish link's events go: its hub, and its partition when the address names one.
#[derive(Debug)]
pub struct Target {
    hub: Arc<Hub>,
    partition: Option<Arc<Partition>>,
}

impl Target {
    /// The target of a link to `hub_name` (and `partition_id`), if it exists and the connection
    /// holds a token for `address`.
    ///
    /// # Errors
    /// The service's error for an unknown hub or partition, or a missing token.
    pub fn open(
        hub_name: &str,
        partition_id: Option<&str>,
        address: &str,
        grants: &ConnectionGrants,
        shared: &Shared,
    ) -> Result<Self, definitions::Error> {
        let Some(hub) = shared.namespace.hub(hub_name) else {
            return Err(not_found(&shared.endpoint, hub_name));
        };
        let partition = match partition_id {
            None => None,
            Some(id) => Some(hub.partition(id).cloned().ok_or_else(|| {
                let text = format!(
                    "The specified partition is invalid for an EventHub partition sender or receiver. It should be between 0 and {}.",
                    hub.partitions.len().saturating_sub(1)
                );
                amqp::error("com.microsoft:argument-out-of-range", text)
            })?),
        };
        if !grants.allows(address, crate::storage::store::now_ms() / 1000) {
            let text =
                format!("Unauthorized access to '{address}'. Put a valid token on $cbs first.");
            return Err(amqp::error("amqp:unauthorized-access", text));
        }
        Ok(Self { hub, partition })
    }
}

/// Serves one publish link until the client detaches it or the emulator shuts down.
///
/// Every delivery taken is stored and then settled; what the client sent after a shutdown began
/// fails with the connection, so a clean shutdown acknowledges exactly what it kept.
pub async fn serve(mut link: IncomingLink, target: Target, shared: Arc<Shared>) {
    loop {
        let delivery = tokio::select! {
            delivery = link.recv() => delivery,
            () = shared.shutdown.cancelled() => return,
        };
        let Some(delivery) = delivery else {
            tracing::debug!(hub = %target.hub.name, "publish link ended");
            return;
        };
        let outcome = ingest(&delivery, &target, &shared.endpoint);
        tracing::trace!(hub = %target.hub.name, ok = outcome.is_ok(), "publish delivery");
        // Never settle in the instant a delivery arrives (docs/amqp-wire.md §0 item 8); the
        // engine also sends the Rust SDK its dispositions in two phases, so a send that loses
        // this race is not lost.
        tokio::task::yield_now().await;
        let outcome = match outcome {
            Ok(()) => Outcome::Accepted,
            Err(error) => Outcome::Rejected(error),
        };
        link.settle(&delivery, outcome).await;
    }
}

/// Stores a delivery's events, or says why it was refused.
fn ingest(
    delivery: &InboundDelivery,
    target: &Target,
    endpoint: &str,
) -> Result<(), definitions::Error> {
    let too_large = |size: u64| {
        amqp::error(
            "amqp:link:message-size-exceeded",
            format!(
                "The received message (delivery-id:{}, size:{size} bytes) exceeds the limit ({MAX_MESSAGE_SIZE} bytes) currently allowed on the link.",
                delivery.delivery_id
            ),
        )
    };
    let decode_error = |text: String| amqp::error("amqp:decode-error", text);
    let bytes = match &delivery.payload {
        Payload::Whole(bytes) => bytes,
        Payload::TooLarge { size } => return Err(too_large(*size)),
    };
    let (events, key) = if delivery.message_format == BATCH_MESSAGE_FORMAT {
        let batch = batches::events_of(bytes).map_err(|e| decode_error(e.to_string()))?;
        let key = batch.annotations.as_ref().and_then(partition_key);
        (batch.events, key)
    } else {
        let message = sections::split(bytes)
            .map_err(|e| decode_error(format!("The message cannot be stored: {e}")))?;
        let annotations = message
            .message_annotations
            .map(serde_amqp::from_slice::<MessageAnnotations>)
            .transpose()
            .map_err(|e| decode_error(format!("The message annotations are malformed: {e}")))?;
        let key = annotations.as_ref().and_then(partition_key);
        (vec![bytes.clone()], key)
    };
    let size: usize = events.iter().map(Bytes::len).sum();
    if size as u64 > MAX_MESSAGE_SIZE {
        return Err(too_large(size as u64));
    }
    let hub = &target.hub;
    let partition = target
        .partition
        .as_ref()
        .unwrap_or_else(|| hub.route(key.as_deref()));
    let new_events = events
        .into_iter()
        .map(|message| NewEvent {
            message,
            partition_key: key.clone(),
        })
        .collect();
    partition.append(new_events).map_err(|e| {
        if matches!(e, StoreError::Deleted) {
            return not_found(endpoint, &hub.name);
        }
        tracing::error!(error = %e, hub = %hub.name, partition = %partition.id, "append failed");
        amqp::error(
            "amqp:internal-error",
            format!("The event could not be stored: {e}"),
        )
    })?;
    Ok(())
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

/// The service's answer for a hub that does not exist (or was deleted while a link was open).
fn not_found(endpoint: &str, hub: &str) -> definitions::Error {
    let text = format!("The messaging entity '{endpoint}/{hub}' could not be found.");
    amqp::error("amqp:not-found", text)
}
