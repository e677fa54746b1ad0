//! Sending composed events: checked first, grouped by destination (a batch goes to one
//! partition), packed into the SDK's `EventDataBatch` and split where the size limit says, each
//! publish under a timeout. A failure after some publishes says how many events went out.

use std::time::{Duration, Instant};

use azure_messaging_eventhubs::{EventDataBatchOptions, ProducerClient};

use super::event::{EventError, OutgoingEvent, Routing};
use crate::hub::error_chain;
use crate::partition_key;

/// One publish that the hub acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct SendReceipt {
    /// Where the events went, as a person would say it.
    pub destination: String,
    pub events: usize,
    pub bytes: usize,
    pub latency: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Each event is its own publish.
    OnePerSend,
    /// As few publishes as the size limit allows, per destination.
    Batches,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("event {number}: {reason}")]
    Invalid { number: usize, reason: EventError },
    #[error("event {number} is too large for one publish (the limit is 1 MB with metadata)")]
    DoesNotFit { number: usize },
    #[error("partition `{id}` does not exist; the hub has partitions {}", known.join(", "))]
    UnknownPartition { id: String, known: Vec<String> },
    #[error("could not {what}: {detail}")]
    Service { what: &'static str, detail: String },
    #[error("no answer within {} s while trying to {what}", after.as_secs())]
    Timeout { what: &'static str, after: Duration },
    #[error("{cause}; {sent} of {total} events had been sent before the failure")]
    Partial {
        sent: usize,
        total: usize,
        cause: Box<SendError>,
    },
}

/// Checks every event and destination before anything is sent.
pub fn check(events: &[OutgoingEvent], partition_ids: &[String]) -> Result<(), SendError> {
    for (i, event) in events.iter().enumerate() {
        event.validate().map_err(|reason| SendError::Invalid {
            number: i + 1,
            reason,
        })?;
        if let Routing::Partition(id) = &event.routing {
            if !partition_ids.is_empty() && !partition_ids.contains(id) {
                return Err(SendError::UnknownPartition {
                    id: id.clone(),
                    known: partition_ids.to_vec(),
                });
            }
        }
    }
    Ok(())
}

/// Sends `events`; `on_receipt` hears of each publish as it is acknowledged.
pub async fn send_events(
    producer: &ProducerClient,
    events: &[OutgoingEvent],
    partition_ids: &[String],
    packing: Packing,
    timeout: Duration,
    mut on_receipt: impl FnMut(&SendReceipt),
) -> Result<Vec<SendReceipt>, SendError> {
    check(events, partition_ids)?;
    // Only a send that asks for it pays for dealing (the load generator's sends never do).
    let dealt;
    let events = if events.iter().any(|e| e.routing == Routing::RoundRobin) {
        dealt = deal_round_robin(events, partition_ids);
        &dealt[..]
    } else {
        events
    };
    let total = events.len();
    let mut receipts = Vec::new();
    let mut sent = 0;
    for (routing, members) in group_by_destination(events) {
        let destination = describe(&routing, partition_ids);
        let chunks: Vec<&[usize]> = match packing {
            Packing::OnePerSend => members.chunks(1).collect(),
            Packing::Batches => vec![&members[..]],
        };
        for chunk in chunks {
            let outcome = send_group(
                producer,
                events,
                chunk,
                &routing,
                &destination,
                timeout,
                |r| {
                    sent += r.events;
                    on_receipt(r);
                    receipts.push(r.clone());
                },
            )
            .await;
            if let Err(cause) = outcome {
                return Err(if sent == 0 {
                    cause
                } else {
                    SendError::Partial {
                        sent,
                        total,
                        cause: Box::new(cause),
                    }
                });
            }
        }
    }
    Ok(receipts)
}

/// Round-robin events dealt to the partitions in turn: the n-th of them to partition n mod N.
/// With no partitions known, the service spreads them.
fn deal_round_robin(events: &[OutgoingEvent], partition_ids: &[String]) -> Vec<OutgoingEvent> {
    let mut turn = 0;
    events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            if event.routing == Routing::RoundRobin {
                event.routing = match partition_ids.get(turn % partition_ids.len().max(1)) {
                    Some(id) => Routing::Partition(id.clone()),
                    None => Routing::Spread,
                };
                turn += 1;
            }
            event
        })
        .collect()
}

/// Events' indices per destination, destinations in order of first appearance.
fn group_by_destination(events: &[OutgoingEvent]) -> Vec<(Routing, Vec<usize>)> {
    let mut groups: Vec<(Routing, Vec<usize>)> = Vec::new();
    for (i, event) in events.iter().enumerate() {
        match groups.iter_mut().find(|(r, _)| *r == event.routing) {
            Some((_, members)) => members.push(i),
            None => groups.push((event.routing.clone(), vec![i])),
        }
    }
    groups
}

fn describe(routing: &Routing, partition_ids: &[String]) -> String {
    match routing {
        Routing::Spread => "any partition (spread)".into(),
        Routing::RoundRobin => "each partition in turn".into(),
        Routing::Partition(id) => format!("partition {id}"),
        Routing::Key(key) if partition_ids.is_empty() => format!("key {key}"),
        Routing::Key(key) => {
            let index = partition_key::partition_index(key, partition_ids.len());
            format!("partition {} (key {key})", partition_ids[index])
        }
    }
}

/// Sends the events at `indices` to one destination, in as many batches as they need.
async fn send_group(
    producer: &ProducerClient,
    events: &[OutgoingEvent],
    indices: &[usize],
    routing: &Routing,
    destination: &str,
    timeout: Duration,
    mut on_receipt: impl FnMut(&SendReceipt),
) -> Result<(), SendError> {
    let options = || EventDataBatchOptions {
        partition_key: match routing {
            Routing::Key(k) => Some(k.clone()),
            _ => None,
        },
        partition_id: match routing {
            Routing::Partition(id) => Some(id.clone()),
            _ => None,
        },
        ..Default::default()
    };
    let mut pending = indices.iter().copied().peekable();
    while pending.peek().is_some() {
        let batch = within(
            "prepare a batch",
            timeout,
            producer.create_batch(Some(options())),
        )
        .await?;
        let mut count = 0;
        let mut bytes = 0;
        while let Some(&i) = pending.peek() {
            let added = batch
                .try_add_event_data(events[i].to_event_data(), None)
                .map_err(|e| SendError::Service {
                    what: "add an event to a batch",
                    detail: error_chain(&e),
                })?;
            if !added {
                if count == 0 {
                    return Err(SendError::DoesNotFit { number: i + 1 });
                }
                break;
            }
            count += 1;
            bytes += events[i].body.len();
            pending.next();
        }
        let started = Instant::now();
        within("send", timeout, producer.send_batch(batch, None)).await?;
        on_receipt(&SendReceipt {
            destination: destination.to_string(),
            events: count,
            bytes,
            latency: started.elapsed(),
        });
    }
    Ok(())
}

async fn within<T>(
    what: &'static str,
    after: Duration,
    future: impl std::future::Future<Output = azure_messaging_eventhubs::Result<T>>,
) -> Result<T, SendError> {
    match tokio::time::timeout(after, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(SendError::Service {
            what,
            detail: error_chain(&e),
        }),
        Err(_) => Err(SendError::Timeout { what, after }),
    }
}
