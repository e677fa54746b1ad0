//! Consume deliveries written by the shim instead of fe2o3.
//!
//! Sent one by one through fe2o3, each delivered event took a hop through its link and session
//! tasks, a serialized Transfer and two copies: about 40 % of the endpoint's CPU at 100,000
//! events/s. Instead a consume link encodes up to [`BUNDLE_MAX_EVENTS`] events into one
//! [`Bundle`], parks it here and sends fe2o3 a single pre-settled *carrier* delivery holding the
//! bundle's token ([`BUNDLE_MESSAGE_FORMAT`]). When the carrier's frame reaches the shim, the
//! shim writes the bundle's events as transfers of their own ([`write_transfers`]), in the
//! carrier's place, so they keep their order relative to everything else on the link (the
//! attach before them, a detach after them).
//!
//! fe2o3 then counts one delivery where the client counts many, so two things are kept straight
//! by the shim:
//! - **Link credit**, the client's to grant per event. The shim reads every Flow the client
//!   sends for a bundled link into its [`LinkCredit`], which the consume link obeys exactly; fe2o3
//!   is told the link has [`FE2O3_CREDIT`], so it never holds a carrier back, and is never asked
//!   to echo or drain. The consume link answers those itself: a bundle may end with a
//!   [`FlowReply`], which the shim writes as a Flow after the bundle's transfers (see `flows`).
//! - **Delivery ids**, one per event on the wire: fe2o3's ids on the session are shifted past the
//!   ids the bundles took.
//!
//! The session's incoming window is not applied to the extra transfers: fe2o3 applies it to the
//! carriers. Neither official client enforces it (the Rust SDK's fe2o3 never decrements its
//! window; Python's resets it when it reaches zero).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fe2o3_amqp_types::definitions::Role;
use fe2o3_amqp_types::performatives::{Attach, Performative};
use tokio::sync::Notify;

use crate::protocol::wire::{self, code};

/// The message format of a carrier delivery (a vendor format that never reaches a client).
pub const BUNDLE_MESSAGE_FORMAT: u32 = 0x4855_4201;

/// Events per bundle at most: enough that fe2o3's per-delivery work is spread thin.
pub const BUNDLE_MAX_EVENTS: usize = 128;

/// Encoded bytes per bundle after which no further event is added (a bundle always takes one).
/// Bounds what one carrier expands to in the shim's outgoing buffer.
pub const BUNDLE_MAX_BYTES: usize = 256 * 1024;

/// Encoded bytes a link may have parked and not yet written before it waits: what bounds the
/// memory a reader that stops reading holds (fe2o3's queues would otherwise hold hundreds of
/// bundles).
pub const UNWRITTEN_LIMIT: usize = 1024 * 1024;

/// The link credit fe2o3 is told a bundled link has, so that only [`LinkCredit`] decides.
pub const FE2O3_CREDIT: u32 = 1 << 30;

/// Encoded events to be delivered on one link, in order, and the link's flow state to send after
/// them when the client asked for it.
#[derive(Debug, Default)]
pub struct Bundle {
    bytes: Vec<u8>,
    /// Where each event ends in `bytes`.
    ends: Vec<usize>,
    pub flow: Option<FlowReply>,
}

/// A consume link's flow state, as its answer to a client's drain or echo (AMQP 1.0 §2.6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowReply {
    /// The link's delivery count after the bundle's events (and a drain's advance).
    pub delivery_count: u32,
    pub link_credit: u32,
    /// The client's drain flag, echoed.
    pub drain: bool,
}

impl Bundle {
    /// Appends one event, encoded by `encode`; on error nothing is appended.
    ///
    /// # Errors
    /// Whatever `encode` returns.
    pub fn push_with<E>(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        if let Err(e) = encode(&mut self.bytes) {
            self.bytes.truncate(start);
            return Err(e);
        }
        self.ends.push(self.bytes.len());
        Ok(())
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    pub fn events(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(start, end)| &self.bytes[start..end])
    }
}

/// The credit a client has granted on one of its receiving links, in events.
#[derive(Debug, Default)]
pub struct LinkCredit {
    /// The client's delivery-count plus link-credit from its last Flow: the delivery count
    /// this link may reach (wrapping, as AMQP sequence numbers do).
    limit: AtomicU32,
    /// Whether a consume link delivers in bundles: only then are the client's Flows rewritten.
    bundled: AtomicBool,
    /// The drain flag of the client's last Flow.
    draining: AtomicBool,
    /// A drain the consume link has yet to answer (once it has sent what it can).
    drain_pending: AtomicBool,
    /// An echo the consume link has yet to answer.
    echo_pending: AtomicBool,
    /// Bytes of this link's bundles parked and not yet written by the shim.
    unwritten: AtomicUsize,
    /// Signalled by a grant and by the shim taking a bundle.
    changed: Notify,
}

impl LinkCredit {
    /// Takes in a Flow's `delivery-count` and `link-credit` (when it has them), `drain` and
    /// `echo`.
    pub fn on_flow(&self, credit: Option<(u32, u32)>, drain: bool, echo: bool) {
        if let Some((delivery_count, link_credit)) = credit {
            // Serial-number arithmetic takes 2^31 or more ahead as behind: a peer's "unlimited"
            // (u32::MAX) is as much as it can mean.
            let link_credit = link_credit.min(u32::MAX / 2);
            self.limit
                .store(delivery_count.wrapping_add(link_credit), Ordering::Release);
        }
        self.draining.store(drain, Ordering::Release);
        if drain {
            self.drain_pending.store(true, Ordering::Release);
        }
        if echo {
            self.echo_pending.store(true, Ordering::Release);
        }
        self.changed.notify_one();
    }

    /// Takes in a Flow's `delivery-count` and `link-credit`.
    #[cfg(test)]
    pub fn grant(&self, delivery_count: u32, link_credit: u32) {
        self.on_flow(Some((delivery_count, link_credit)), false, false);
    }

    /// How many more events may go out after `sent` (the link's own delivery count): none while
    /// [`UNWRITTEN_LIMIT`] bytes wait for the shim.
    #[must_use]
    pub fn available(&self, sent: u32) -> u32 {
        if self.unwritten.load(Ordering::Acquire) >= UNWRITTEN_LIMIT {
            return 0;
        }
        self.credit_left(sent)
    }

    /// The client's credit left after `sent`, whatever waits for the shim.
    #[must_use]
    pub fn credit_left(&self, sent: u32) -> u32 {
        let left = self.limit.load(Ordering::Acquire).wrapping_sub(sent);
        // More than 2^31 ahead means `sent` has passed the limit (serial number arithmetic).
        if left > u32::MAX / 2 {
            0
        } else {
            left
        }
    }

    /// The client's drain flag, as its last Flow set it.
    #[must_use]
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Whether a drain waits for its answer; `true` once per drain asked for.
    pub fn take_drain(&self) -> bool {
        self.drain_pending.swap(false, Ordering::AcqRel)
    }

    /// Whether an echo waits for its answer; `true` once per echo asked for.
    pub fn take_echo(&self) -> bool {
        self.echo_pending.swap(false, Ordering::AcqRel)
    }

    /// Resolves after the next grant or written bundle (or at once if one came since the last
    /// wait).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    #[must_use]
    pub fn is_bundled(&self) -> bool {
        self.bundled.load(Ordering::Acquire)
    }
}

/// One connection's bundles and link credits, shared by the shim and the consume links.
#[derive(Debug, Default)]
pub struct OutboundDeliveries {
    table: Mutex<Table>,
    /// Which of the client's receiving links deliver in bundles, told from its Attach: decided
    /// as the Attach goes by, so that even a Flow in the same packet is kept from fe2o3.
    bundles: Option<fn(&Attach) -> bool>,
}

#[derive(Debug, Default)]
struct Table {
    next_token: u64,
    parked: HashMap<u64, (Bundle, Arc<LinkCredit>)>,
    /// Client receiving links not yet claimed by a consume link, by name and client handle.
    unclaimed: HashMap<(String, u32), Arc<LinkCredit>>,
}

impl OutboundDeliveries {
    /// A connection's table, with `bundles` telling which receiving links deliver in bundles.
    #[must_use]
    pub fn new(bundles: fn(&Attach) -> bool) -> Self {
        Self {
            table: Mutex::default(),
            bundles: Some(bundles),
        }
    }

    /// Notes a client's receiving link as its Attach goes by; returns its credit to keep current.
    pub fn attached(&self, attach: &Attach) -> Arc<LinkCredit> {
        let credit = Arc::new(LinkCredit::default());
        if self.bundles.is_some_and(|bundles| bundles(attach)) {
            credit.bundled.store(true, Ordering::Release);
        }
        self.lock()
            .unclaimed
            .insert((attach.name.clone(), attach.handle.0), credit.clone());
        credit
    }

    /// Forgets an unclaimed link (the client detached it).
    pub fn detached(&self, name: &str, handle: u32) {
        self.lock().unclaimed.remove(&(name.to_owned(), handle));
    }

    /// The credit of the client's receiving link `name` with `handle`, which from now on
    /// delivers in bundles.
    pub fn claim(&self, name: &str, handle: u32) -> Option<Arc<LinkCredit>> {
        let credit = self.lock().unclaimed.remove(&(name.to_owned(), handle))?;
        credit.bundled.store(true, Ordering::Release);
        Some(credit)
    }

    /// Parks a bundle of `link` until the shim writes it; returns its token.
    pub fn park(&self, bundle: Bundle, link: &Arc<LinkCredit>) -> u64 {
        link.unwritten
            .fetch_add(bundle.byte_len(), Ordering::AcqRel);
        let mut table = self.lock();
        let token = table.next_token;
        table.next_token += 1;
        table.parked.insert(token, (bundle, link.clone()));
        token
    }

    /// The bundle parked under `token`, once.
    pub fn take(&self, token: u64) -> Option<Bundle> {
        let (bundle, link) = self.lock().parked.remove(&token)?;
        link.unwritten
            .fetch_sub(bundle.byte_len(), Ordering::AcqRel);
        link.changed.notify_one();
        Some(bundle)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // The table is consistent after every statement, so a panic elsewhere cannot corrupt it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The client's receiving links on one connection, by (client channel, client handle), kept
/// current from the frames the client sends.
#[derive(Debug, Default)]
pub struct ReceivingLinks {
    links: HashMap<(u16, u32), (String, Arc<LinkCredit>)>,
}

impl ReceivingLinks {
    /// Notes a client frame on `channel` (`decoded`, unless it is a transfer): a receiving link's
    /// Attach, a Flow granting it credit, its Detach, or the End of its session. Returns the frame
    /// as fe2o3 must see it when it differs (a Flow for a bundled link).
    ///
    /// # Errors
    /// [`WireError`] if a Flow to rewrite cannot be parsed.
    pub fn on_inbound(
        &mut self,
        channel: u16,
        frame: &[u8],
        decoded: Option<&Performative>,
        deliveries: &OutboundDeliveries,
    ) -> Result<Option<Vec<u8>>, wire::WireError> {
        match decoded {
            // Role `receiver`: the client receives, so this is a consume (or reply) link.
            Some(Performative::Attach(attach)) if attach.role == Role::Receiver => {
                let handle = attach.handle.0;
                let credit = deliveries.attached(attach);
                self.links
                    .insert((channel, handle), (attach.name.clone(), credit));
                Ok(None)
            }
            Some(Performative::Flow(flow)) => {
                let Some(handle) = flow.handle.as_ref().map(|h| h.0) else {
                    return Ok(None);
                };
                let Some((_, credit)) = self.links.get(&(channel, handle)) else {
                    return Ok(None);
                };
                let granted = flow
                    .link_credit
                    .map(|c| (flow.delivery_count.unwrap_or(0), c));
                credit.on_flow(granted, flow.drain, flow.echo);
                if !credit.is_bundled() {
                    return Ok(None);
                }
                let mut rewritten = Vec::with_capacity(frame.len() + 16);
                wire::rewrite_frame(
                    frame,
                    |_| {
                        vec![
                            wire::FieldOverride {
                                index: 6,
                                encoded: wire::encode_uint(FE2O3_CREDIT),
                            },
                            wire::FieldOverride {
                                index: 8,
                                encoded: vec![0x42],
                            },
                            wire::FieldOverride {
                                index: 9,
                                encoded: vec![0x42],
                            },
                        ]
                    },
                    &mut rewritten,
                )?;
                Ok(Some(rewritten))
            }
            Some(Performative::Detach(detach)) => {
                let handle = detach.handle.0;
                if let Some((name, _)) = self.links.remove(&(channel, handle)) {
                    deliveries.detached(&name, handle);
                }
                Ok(None)
            }
            Some(Performative::End(_)) => {
                self.links.retain(|&(c, handle), (name, _)| {
                    if c == channel {
                        deliveries.detached(name, handle);
                    }
                    c != channel
                });
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// The token in a carrier's payload: an amqp-value section holding a ulong.
#[must_use]
pub fn carrier_token(payload: &[u8]) -> Option<u64> {
    let rest = payload.strip_prefix(&[0x00, 0x53, 0x77][..])?;
    wire::decode_unsigned(rest)
}

/// What [`write_transfers`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub delivery_ids: u32,
    pub frames: u32,
}

/// Writes each of `bundle`'s events as a pre-settled delivery on link `handle` (its encoded
/// field), with delivery ids from `first_delivery_id` on, in frames of at most `max_frame`
/// bytes on `channel`.
pub fn write_transfers(
    bundle: &Bundle,
    handle: &[u8],
    first_delivery_id: u32,
    channel: u16,
    max_frame: usize,
    out: &mut Vec<u8>,
) -> Written {
    let mut frames = 0u32;
    let mut delivery_id = first_delivery_id;
    for event in bundle.events() {
        let id = delivery_id.to_be_bytes();
        let encoded_id = [0x70, id[0], id[1], id[2], id[3]];
        let tag = [0xa0, 4, id[0], id[1], id[2], id[3]];
        let mut rest = event;
        let mut first = true;
        loop {
            let start = out.len();
            out.extend_from_slice(&[0, 0, 0, 0, 2, 0]);
            out.extend_from_slice(&channel.to_be_bytes());
            let mut fields: [&[u8]; 11] = [&[0x40]; 11];
            fields[0] = handle;
            if first {
                fields[1] = &encoded_id;
                fields[2] = &tag;
                fields[3] = &[0x43]; // message format 0
            }
            fields[4] = &[0x41]; // settled
            fields[5] = &[0x42]; // more: false, set below if the event goes on
            wire::encode_performative(code::TRANSFER, &fields, out);
            let room = max_frame.saturating_sub(out.len() - start).max(1);
            let (part, after) = rest.split_at(room.min(rest.len()));
            if !after.is_empty() {
                // `more` is the last byte before the five trailing nulls.
                let more_at = out.len() - 6;
                out[more_at] = 0x41;
            }
            out.extend_from_slice(part);
            let size = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
            out[start..start + 4].copy_from_slice(&size.to_be_bytes());
            rest = after;
            first = false;
            frames = frames.wrapping_add(1);
            if rest.is_empty() {
                break;
            }
        }
        delivery_id = delivery_id.wrapping_add(1);
    }
    Written {
        delivery_ids: u32::try_from(bundle.len()).unwrap_or(u32::MAX),
        frames,
    }
}

#[cfg(test)]
#[path = "bundles_tests.rs"]
mod tests;
