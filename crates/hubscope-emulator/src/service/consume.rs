//! Consume links: one partition through one consumer group, to one receiver (docs/amqp-wire.md §5).
//!
//! The link starts where its selector filter says, then streams stored events and waits for new
//! ones, sending only while the client has granted credit. Events go to the engine in bundles
//! (see `bundles`), which it writes as pre-settled transfers. A receiver with a
//! higher owner level takes the partition away with `amqp:link:stolen`.

use std::sync::Arc;

use fe2o3_amqp_types::definitions;
use fe2o3_amqp_types::messaging::annotations::OwnedKey;
use fe2o3_amqp_types::messaging::{Body, DeliveryAnnotations, Message};
use fe2o3_amqp_types::performatives::Attach;
use fe2o3_amqp_types::primitives::{Binary, OrderedMap, Symbol, Timestamp, Value};
use serde::Serialize;

use crate::protocol::amqp;
use crate::protocol::bundles::{Bundle, BUNDLE_MAX_BYTES, BUNDLE_MAX_EVENTS};
use crate::protocol::engine::OutgoingLink;
use crate::protocol::sections;
use crate::protocol::stamps::{self, Stamps};
use crate::service::address::{parse_selector, Node};
use crate::service::auth::ConnectionGrants;
use crate::service::shared::Shared;
use crate::storage::ownership::{Claim, ClaimRefused};
use crate::storage::store::{now_ms, Partition, StoredEvent};

const SELECTOR_FILTER: &str = "apache.org:selector-filter:string";
const EPOCH_PROPERTY: &str = "com.microsoft:epoch";
const RECEIVER_NAME_PROPERTY: &str = "com.microsoft.com:receiver-name";
const RUNTIME_METRIC_CAPABILITY: &str = "com.microsoft:enable-receiver-runtime-metric";

/// What a consumer asked for in its attach.
#[derive(Debug)]
struct Request {
    /// The receiver's name, for owner-level claims.
    name: String,
    epoch: Option<i64>,
    selector: Option<String>,
    runtime_metrics: bool,
}

impl Request {
    fn of(attach: &Attach) -> Self {
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
            name,
            epoch,
            selector,
            runtime_metrics,
        }
    }
}

/// A consume link, once its attach has been accepted: where it reads and from where.
#[derive(Debug)]
pub struct Stream {
    partition: Arc<Partition>,
    next: i64,
    claim: Claim,
    runtime_metrics: bool,
}

impl Stream {
    /// Checks a consumer's attach against the namespace, its token and the partition's owners.
    ///
    /// # Errors
    /// The service's error for an unknown hub, consumer group or partition, a missing token, a
    /// malformed filter, or an owner-level claim that is refused.
    pub fn open(
        attach: &Attach,
        node: &Node,
        address: &str,
        grants: &ConnectionGrants,
        shared: &Shared,
    ) -> Result<Self, definitions::Error> {
        let Node::Consume {
            hub: hub_name,
            consumer_group,
            partition: partition_id,
        } = node
        else {
            return Err(amqp::error("amqp:not-found", "Not a partition to read."));
        };
        let request = Request::of(attach);
        let not_found = |what: String| amqp::error("amqp:not-found", what);
        let Some(hub) = shared.namespace.hub(hub_name) else {
            return Err(not_found(format!(
                "The messaging entity '{}/{hub_name}' could not be found.",
                shared.endpoint
            )));
        };
        let Some(group) = hub.consumer_group(consumer_group) else {
            return Err(not_found(format!(
                "The messaging entity '{}/{}/consumergroups/{consumer_group}' could not be found.",
                shared.endpoint, hub.name
            )));
        };
        let Some(partition) = hub.partition(partition_id).cloned() else {
            let text = format!(
                "The specified partition is invalid for an EventHub partition sender or receiver. It should be between 0 and {}.",
                hub.partitions.len().saturating_sub(1)
            );
            return Err(amqp::error("com.microsoft:argument-out-of-range", text));
        };
        if !grants.allows(address, now_ms() / 1000) {
            let text =
                format!("Unauthorized access to '{address}'. Put a valid token on $cbs first.");
            return Err(amqp::error("amqp:unauthorized-access", text));
        }
        let start = match request.selector.as_deref().map(parse_selector) {
            None => crate::storage::store::StartPosition::Earliest,
            Some(Ok(position)) => position,
            Some(Err(invalid)) => {
                return Err(amqp::error(
                    "com.microsoft:argument-error",
                    invalid.to_string(),
                ))
            }
        };
        let claim = hub
            .ownership
            .claim(&group, &partition.id, &request.name, request.epoch)
            .map_err(|refused| {
                let condition = match refused {
                    ClaimRefused::HigherEpochHeld { .. } => "amqp:link:stolen",
                    ClaimRefused::TooManyReceivers { .. } => "amqp:resource-limit-exceeded",
                };
                amqp::error(condition, refused.to_string())
            })?;
        let next = partition.resolve_start(&start);
        tracing::debug!(hub = %hub.name, %group, partition = %partition.id, next, "consumer attached");
        Ok(Self {
            partition,
            next,
            claim,
            runtime_metrics: request.runtime_metrics,
        })
    }

    /// Sends events as credit allows until the link ends, another receiver takes the partition,
    /// or the emulator stops.
    pub async fn serve(mut self, link: OutgoingLink, shared: Arc<Shared>) {
        let partition = self.partition.clone();
        let mut appended = partition.subscribe();
        let mut answered_drain = None;
        loop {
            if link.is_detached() {
                return;
            }
            let drain = link.drain_requested();
            let available = link.available() as usize;
            let wanted = available.min(BUNDLE_MAX_EVENTS);
            let events = if wanted == 0 {
                Vec::new()
            } else {
                partition.read(self.next, wanted)
            };
            let metrics_of = self.runtime_metrics.then_some(&*partition);
            let mut bundle = Bundle::default();
            for event in &events {
                if bundle.byte_len() >= BUNDLE_MAX_BYTES {
                    break;
                }
                push_delivery(&mut bundle, event, metrics_of);
                self.next = event.sequence_number + 1;
            }
            let handed_over = bundle.len();
            // A drain is answered once everything stored has gone out or the credit is spent:
            // the engine then uses up the rest of the credit and tells the client.
            let caught_up = events.len() < wanted && handed_over == events.len();
            let credit_spent = handed_over == available;
            link.send(bundle).await;
            if let Some(epoch) = drain.filter(|e| answered_drain != Some(*e)) {
                if caught_up || credit_spent {
                    link.answer_drain(epoch).await;
                    answered_drain = Some(epoch);
                }
            }
            if handed_over > 0 {
                // Yield between bundles so that one busy reader does not starve its connection.
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                () = link.changed() => {}
                changed = appended.changed(), if available > 0 => if changed.is_err() { return },
                reason = &mut self.claim.displaced => {
                    let text = reason.ok().unwrap_or_else(|| "A receiver with a higher epoch took over.".to_owned());
                    link.close(Some(amqp::error("amqp:link:stolen", text))).await;
                    return;
                }
                () = shared.shutdown.cancelled() => return,
            }
        }
    }
}

/// Adds the stored event to `bundle` as the service delivers it: stamped with its sequence
/// number, offset and enqueued time, and with the partition's runtime metrics when the receiver
/// asked for them.
fn push_delivery(bundle: &mut Bundle, event: &StoredEvent, metrics_of: Option<&Partition>) {
    let Err(e) = bundle.push_with(|out| encode_delivery(event, metrics_of, out)) else {
        return;
    };
    // Ingest checks every event's sections, so only a damaged journal gets here; the reader
    // still gets the event, its bytes as the body.
    tracing::warn!(error = %e, sequence_number = event.sequence_number, "stored event is not an AMQP message");
    let fallback = Message::builder()
        .data(Binary::from(event.message.to_vec()))
        .build();
    let event = StoredEvent {
        message: amqp::encode(&fallback.map_body(|data| Body::<Value>::Data(vec![data].into())))
            .unwrap_or_default(),
        ..event.clone()
    };
    if let Err(e) = bundle.push_with(|out| encode_delivery(&event, metrics_of, out)) {
        tracing::error!(error = %e, "could not encode a stand-in for a damaged event");
    }
}

/// Writes the delivered message's encoded sections: the publisher's header, our delivery
/// annotations (runtime metrics), the publisher's message annotations plus the service's stamps,
/// and the rest untouched. The publisher's own delivery annotations are for one hop and are
/// dropped.
fn encode_delivery(
    event: &StoredEvent,
    metrics_of: Option<&Partition>,
    out: &mut Vec<u8>,
) -> Result<(), DeliveryEncodingError> {
    let sections = sections::split(&event.message)?;
    out.reserve(event.message.len() + 192);
    out.extend_from_slice(sections.header.unwrap_or_default());
    if let Some(partition) = metrics_of {
        runtime_metrics(partition).serialize(&mut serde_amqp::ser::Serializer::new(&mut *out))?;
    }
    let stamps = Stamps {
        sequence_number: event.sequence_number,
        offset: event.offset,
        enqueued_ms: event.enqueued_ms,
        partition_key: event.partition_key.as_deref(),
    };
    stamps::write_annotations(sections.message_annotations, &stamps, out)?;
    out.extend_from_slice(sections.rest);
    Ok(())
}

#[derive(Debug, thiserror::Error)]
enum DeliveryEncodingError {
    #[error("its sections: {0}")]
    Sections(#[from] crate::protocol::wire::WireError),
    #[error("its annotations: {0}")]
    Annotations(#[from] serde_amqp::Error),
}

/// The partition's last-enqueued properties, as delivery annotations.
fn runtime_metrics(partition: &Partition) -> DeliveryAnnotations {
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
    DeliveryAnnotations(annotations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp_types::messaging::{ApplicationProperties, Data, Properties};

    use crate::config::{EmulatorConfig, HubConfig};
    use crate::storage::namespace::Namespace;
    use crate::storage::store::NewEvent;

    fn published() -> Vec<u8> {
        let mut message = Message::builder()
            .body(Body::<Value>::Data(
                vec![Data(Binary::from(b"{\"n\":1}".to_vec()))].into(),
            ))
            .build();
        message.properties = Some(
            Properties::builder()
                .message_id(String::from("m-1"))
                .build(),
        );
        message.application_properties = Some(
            ApplicationProperties::builder()
                .insert("kind", "test")
                .build(),
        );
        amqp::set_annotation(&mut message, "x-opt-partition-key", Value::from("k"));
        amqp::set_annotation(&mut message, "publisher-note", Value::from("kept"));
        amqp::encode(&message).expect("encode").to_vec()
    }

    /// What the client receives: the message the engine sends for the event.
    fn received(event: &StoredEvent, metrics_of: Option<&Partition>) -> Vec<u8> {
        let mut bundle = Bundle::default();
        push_delivery(&mut bundle, event, metrics_of);
        assert_eq!(bundle.len(), 1);
        let events: Vec<Vec<u8>> = bundle.events().map(<[u8]>::to_vec).collect();
        events.concat()
    }

    #[test]
    fn deliveries_carry_the_publisher_s_bytes() {
        let config = EmulatorConfig {
            hubs: vec![HubConfig {
                name: "h".into(),
                partition_count: 1,
                consumer_groups: vec![],
            }],
            ..EmulatorConfig::default()
        };
        let namespace = Namespace::open(&config).expect("namespace");
        let partition = namespace.hub("h").expect("hub").partitions[0].clone();
        let bytes = published();
        for _ in 0..2 {
            partition
                .append(vec![NewEvent {
                    message: bytes::Bytes::from(bytes.clone()),
                    partition_key: Some("k".into()),
                }])
                .expect("append");
        }
        let event = partition.read(1, 1).remove(0);

        let plain = received(&event, None);
        let message = amqp::decode(&plain).expect("a message");
        let annotation = |k| amqp::annotation(&message, k).cloned();
        assert_eq!(annotation("x-opt-sequence-number"), Some(Value::Long(1)));
        assert_eq!(
            annotation("x-opt-offset"),
            Some(Value::String(bytes.len().to_string()))
        );
        assert_eq!(
            annotation("x-opt-enqueued-time"),
            Some(Value::Timestamp(Timestamp::from_milliseconds(
                event.enqueued_ms
            )))
        );
        assert_eq!(annotation("x-opt-partition-key"), Some(Value::from("k")));
        assert_eq!(annotation("publisher-note"), Some(Value::from("kept")));
        assert!(message.delivery_annotations.is_none());
        // Properties, application properties and body are the publisher's bytes, untouched.
        let rest = sections::split(&bytes).expect("published").rest;
        assert!(plain.ends_with(rest));

        let with_metrics = received(&event, Some(&partition));
        let message = amqp::decode(&with_metrics).expect("a message");
        let metrics = message.delivery_annotations.expect("runtime metrics").0;
        assert_eq!(
            metrics.get(&OwnedKey::Symbol(Symbol::from(
                "last_enqueued_sequence_number"
            ))),
            Some(&Value::Long(1))
        );
    }

    #[test]
    fn an_event_that_is_not_a_message_is_still_delivered() {
        let event = StoredEvent {
            sequence_number: 7,
            offset: 0,
            enqueued_ms: 0,
            partition_key: None,
            message: bytes::Bytes::from_static(b"not amqp"),
        };
        let message = amqp::decode(&received(&event, None)).expect("a message");
        assert_eq!(
            amqp::annotation(&message, "x-opt-sequence-number"),
            Some(&Value::Long(7))
        );
        assert!(matches!(message.body, Body::Data(_)));
    }
}
