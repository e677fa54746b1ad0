//! A stream wrapper that makes fe2o3-amqp's frames look like the service's to the official clients.
//!
//! Outgoing (server → client), every performative is re-encoded at full arity (docs/amqp-wire.md §0 item 1)
//! and our receiver links advertise the service's 1 MB `max-message-size` (fe2o3 itself enforces a
//! larger reassembly bound, so that an oversized publish gets a `rejected` outcome as from the
//! service instead of a link detach).
//!
//! Outgoing session frames also pass through [`ChannelRotation`] (see `channels`), which works
//! around how the Rust SDK's fe2o3 0.16 tracks session channels.
//!
//! Consume links deliver their events in bundles, which this stream writes as transfers in
//! place of the carrier delivery fe2o3 sends (see `bundles`); it also keeps their link credit
//! current from the client's Flows, and the session's other delivery ids clear of theirs.
//!
//! Incoming publish batches are taken off the wire before fe2o3 reassembles them (see
//! `batches`).
//!
//! Incoming, two more things are touched. The client's Open: its `max-frame-size` is lowered by
//! [`FRAME_PADDING_ALLOWANCE`] so that frames fe2o3 splits to that size still fit the client's
//! real limit after padding. And continuation transfers: the Rust SDK's fe2o3-amqp 0.16 puts a
//! fresh `delivery-id` on the last frame of a long multi-frame delivery, which fe2o3 0.18 rightly
//! calls inconsistent (and the SDK then hangs on the detach). Continuation frames may omit those
//! fields, so we drop them there, as the service evidently tolerates them.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use fe2o3_amqp_types::performatives::{Open, Performative as Decoded};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::protocol::batches::{self, Collecting, InboundBatches};
use crate::protocol::bundles::{self, OutboundDeliveries, ReceivingLinks, BUNDLE_MESSAGE_FORMAT};
use crate::protocol::channels::ChannelRotation;
use crate::protocol::codec::{self, PeerProfile};
use crate::protocol::flows::SessionFlows;
use crate::protocol::wire::{self, code, FieldOverride, Performative, Unit, WireError};

/// Bytes a padded performative may grow by: up to 13 nulls plus a list8 → list32 header.
pub const FRAME_PADDING_ALLOWANCE: u32 = 64;

/// What the service advertises as its largest publish, and what our receiver links advertise.
pub const ADVERTISED_MAX_MESSAGE_SIZE: u64 = 1024 * 1024;

/// Largest frame accepted before the client's Open, when no limit has been negotiated yet.
const PRE_OPEN_MAX_FRAME: usize = 64 * 1024;

/// Largest frame a client may send us: the `max-frame-size` our Open advertises.
pub const INBOUND_MAX_FRAME: u32 = 65536;

/// Outgoing bytes held before `poll_write` pushes back on fe2o3's writer.
const OUTGOING_HIGH_WATER: usize = 512 * 1024;

/// Outgoing bytes that go to the socket at once rather than waiting for fe2o3 to pause.
const OUTGOING_COALESCE: usize = 64 * 1024;

/// Bytes read from the socket per read call.
const READ_CHUNK: usize = 64 * 1024;

/// The largest frame fe2o3 may hand us; it never exceeds what it negotiated, this is a backstop.
const OUTGOING_MAX_FRAME: usize = 16 * 1024 * 1024;

/// How long the settled half of a two-phase disposition is held back (see [`HeldDisposition`]).
/// Long enough to outlast a preempted client thread; only a send that lost the race waits it.
const SETTLED_DISPOSITION_DELAY: Duration = Duration::from_millis(50);

/// The settled disposition of a two-phase pair, waiting for its time.
///
/// The Rust SDK's fe2o3-amqp 0.16.2 registers a delivery as pending only after queueing its
/// transfer, and drops a disposition that beats the registration (docs/amqp-wire.md §0 item 8). A
/// preempted client thread makes that window milliseconds wide, and then the send hangs forever.
/// So a settled disposition from our receiving links goes out twice: at once *unsettled* (the
/// client completes the send if it has registered the delivery, and keeps the delivery id
/// mapped either way), and a little later *settled*, which completes a send that lost the race.
/// Only the Rust SDK gets this (decided from its Open, see [`PeerProfile`]): every other client
/// gets one settled disposition, at once. Python's client ignores unsettled dispositions and
/// would wait for the held one on every send.
#[derive(Debug)]
struct HeldDisposition {
    due: tokio::time::Instant,
    /// fe2o3's channel, before renumbering: an End on it sends the frame early.
    channel: u16,
    frame: Vec<u8>,
}

/// Wraps a client connection; see the module documentation.
#[derive(Debug)]
pub struct ServiceShapedStream<S> {
    inner: S,
    /// Distinguishes connections in trace output.
    id: u64,
    /// Inbound bytes not yet forming a whole frame (a `BytesMut`, so that reads go into spare
    /// capacity without zeroing it first).
    inbound_pending: BytesMut,
    /// Links (channel, handle) in the middle of a multi-frame delivery.
    deliveries_in_progress: HashSet<(u16, u64)>,
    /// Publish batches being taken off the wire, by link (see `batches`).
    collecting: HashMap<(u16, u64), Collecting>,
    batches: Arc<InboundBatches>,
    /// Consume bundles to write, and the credit of the client's receiving links.
    deliveries: Arc<OutboundDeliveries>,
    receiving_links: ReceivingLinks,
    /// Each session's transfer counts, for the Flows we write ourselves.
    sessions: SessionFlows,
    /// The client's max-frame-size: the largest frame a bundle's transfer may take.
    client_max_frame: usize,
    /// Delivery ids the bundles on a session took beyond fe2o3's one per carrier, by fe2o3's
    /// channel: fe2o3's own delivery ids there are shifted by as many.
    delivery_id_shift: HashMap<u16, u32>,
    /// Inbound bytes ready to hand to fe2o3.
    inbound_ready: Vec<u8>,
    inbound_ready_pos: usize,
    open_seen: bool,
    /// Outbound bytes from fe2o3 that do not yet form a whole frame.
    outbound_pending: Vec<u8>,
    /// Our (fe2o3's) channel → the channel the client sees, per live session.
    channel_map: ChannelRotation,
    /// Rewritten outbound bytes waiting for the socket.
    outbound_ready: Vec<u8>,
    outbound_ready_pos: usize,
    /// Whether dispositions go out in two phases: only for the Rust SDK (see [`PeerProfile`]).
    two_phase: bool,
    held: VecDeque<HeldDisposition>,
    held_timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> ServiceShapedStream<S> {
    pub fn new(
        inner: S,
        batches: Arc<InboundBatches>,
        deliveries: Arc<OutboundDeliveries>,
    ) -> Self {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            inner,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            inbound_pending: BytesMut::new(),
            deliveries_in_progress: HashSet::new(),
            collecting: HashMap::new(),
            batches,
            deliveries,
            receiving_links: ReceivingLinks::default(),
            sessions: SessionFlows::default(),
            client_max_frame: OUTGOING_MAX_FRAME,
            delivery_id_shift: HashMap::new(),
            inbound_ready: Vec::new(),
            inbound_ready_pos: 0,
            open_seen: false,
            outbound_pending: Vec::new(),
            channel_map: ChannelRotation::default(),
            outbound_ready: Vec::new(),
            outbound_ready_pos: 0,
            two_phase: false,
            held: VecDeque::new(),
            held_timer: None,
        }
    }

    /// Moves whole units from `inbound_pending` to `inbound_ready`, rewriting the client's Open
    /// and continuation transfers.
    fn process_inbound(&mut self) -> io::Result<()> {
        let invalid = |e: WireError| io::Error::new(io::ErrorKind::InvalidData, e);
        let mut consumed = 0;
        loop {
            let rest = &self.inbound_pending[consumed..];
            let limit = if self.open_seen {
                INBOUND_MAX_FRAME as usize
            } else {
                PRE_OPEN_MAX_FRAME
            };
            let unit = match wire::next_unit(rest, limit) {
                Ok(unit) => unit,
                Err(WireError::Incomplete) => break,
                Err(e) => return Err(invalid(e)),
            };
            let size = match unit {
                Unit::ProtocolHeader => wire::PROTOCOL_HEADER_LEN,
                Unit::Frame { size } => size,
            };
            let frame = &rest[..size];
            if matches!(unit, Unit::Frame { .. }) {
                trace_frame(self.id, "recv", frame);
            }
            // The first AMQP frame must be the Open.
            let is_amqp = matches!(unit, Unit::Frame { .. }) && codec::is_amqp(frame);
            if is_amqp && !self.open_seen {
                let open = codec::performative(frame);
                wire::rewrite_frame(frame, lower_max_frame_size, &mut self.inbound_ready)
                    .map_err(invalid)?;
                if let Ok(Some(Decoded::Open(open))) = open {
                    self.on_client_open(&open);
                }
                self.open_seen = true;
            } else if is_amqp {
                let channel = codec::channel(frame);
                let descriptor = codec::descriptor(frame);
                // Decoded once, except transfers: they are most frames, and `batches` and
                // `normalize_continuation` need only a few of their fields.
                let decoded = match descriptor {
                    Some(code::TRANSFER) | None => None,
                    Some(_) => codec::performative(frame).ok().flatten(),
                };
                self.sessions
                    .on_inbound(channel, descriptor, decoded.as_ref());
                // A delivery cut short by its link's detach or its session's end is abandoned
                // (the handle or channel may be used again).
                match &decoded {
                    Some(Decoded::End(_)) => {
                        self.channel_map.client_ended(channel);
                        self.collecting.retain(|&(c, _), _| c != channel);
                        self.deliveries_in_progress.retain(|&(c, _)| c != channel);
                    }
                    Some(Decoded::Detach(detach)) => {
                        let handle = u64::from(detach.handle.0);
                        self.collecting.remove(&(channel, handle));
                        self.deliveries_in_progress.remove(&(channel, handle));
                    }
                    _ => {}
                }
                let flow = self
                    .receiving_links
                    .on_inbound(channel, frame, decoded.as_ref(), &self.deliveries)
                    .map_err(invalid)?;
                let frame = flow.as_deref().unwrap_or(frame);
                let collected = batches::collect(
                    frame,
                    &mut self.collecting,
                    &self.deliveries_in_progress,
                    &self.batches,
                )
                .map_err(invalid)?;
                normalize_continuation(
                    collected.as_deref().unwrap_or(frame),
                    &mut self.deliveries_in_progress,
                    &mut self.inbound_ready,
                )
                .map_err(invalid)?;
            } else {
                self.inbound_ready.extend_from_slice(frame);
            }
            consumed += size;
        }
        self.inbound_pending.advance(consumed);
        Ok(())
    }

    /// Takes what the client's Open says: its limits, and which workarounds it needs.
    fn on_client_open(&mut self, open: &Open) {
        self.channel_map.limit_to(open.channel_max.0);
        self.client_max_frame = usize::try_from(open.max_frame_size.0)
            .unwrap_or(OUTGOING_MAX_FRAME)
            .min(OUTGOING_MAX_FRAME);
        let profile = PeerProfile::of(open);
        self.two_phase = profile.rust_sdk;
        self.channel_map
            .silence_ended_token_sessions(profile.rust_sdk);
        tracing::debug!(connection = self.id, ?profile, "client opened");
    }

    /// Moves whole frames from `outbound_pending` to `outbound_ready`, padded.
    fn process_outbound(&mut self) {
        // Taken out while frames are rewritten into `self`; the unconsumed rest goes back.
        let pending = std::mem::take(&mut self.outbound_pending);
        let mut consumed = 0;
        // A bundle expands a small frame into many, so the rest waits while the socket is behind.
        while self.outbound_ready.len() - self.outbound_ready_pos < OUTGOING_HIGH_WATER {
            let rest = &pending[consumed..];
            match wire::next_unit(rest, OUTGOING_MAX_FRAME) {
                Ok(Unit::ProtocolHeader) => {
                    self.outbound_ready
                        .extend_from_slice(&rest[..wire::PROTOCOL_HEADER_LEN]);
                    consumed += wire::PROTOCOL_HEADER_LEN;
                }
                Ok(Unit::Frame { size }) => {
                    let frame = &rest[..size];
                    let channel = codec::channel(frame);
                    // A held disposition goes out before its session's End (after it, the
                    // channel may already belong to another session), and all before Close: a
                    // send that lost the race still completes rather than failing although its
                    // events were stored.
                    match codec::descriptor(frame) {
                        Some(code::BEGIN) => {
                            if let Ok(Some(Decoded::Begin(begin))) = codec::performative(frame) {
                                self.sessions.on_outbound_begin(channel, &begin);
                            }
                        }
                        Some(code::END) => {
                            self.release_held(Some(channel));
                            self.delivery_id_shift.remove(&channel);
                            self.sessions.on_outbound_end(channel);
                        }
                        Some(code::CLOSE) => self.release_held(None),
                        Some(code::FLOW) => {
                            // fe2o3's next-outgoing-id leaves out the transfers bundles added.
                            if let Some(id) = self.sessions.next_outgoing_id(channel) {
                                let id = wire::encode_uint(id);
                                self.emit(frame, |p| {
                                    let mut overrides = service_shaped_fields(p);
                                    overrides.push(FieldOverride {
                                        index: 2,
                                        encoded: id.clone(),
                                    });
                                    overrides
                                });
                                consumed += size;
                                continue;
                            }
                        }
                        _ => {}
                    }
                    if self.two_phase && is_settled_receiver_disposition(frame) {
                        let mut settled = Vec::with_capacity(frame.len() + 16);
                        if wire::rewrite_frame(frame, service_shaped_fields, &mut settled).is_ok() {
                            self.held.push_back(HeldDisposition {
                                due: tokio::time::Instant::now() + SETTLED_DISPOSITION_DELAY,
                                channel,
                                frame: settled,
                            });
                            self.emit(frame, unsettled_disposition);
                            consumed += size;
                            continue;
                        }
                    }
                    if !self.emit_transfer(frame, channel) {
                        self.emit(frame, service_shaped_fields);
                    }
                    consumed += size;
                }
                Err(WireError::Incomplete) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "outgoing bytes are not AMQP frames; passing through");
                    self.outbound_ready.extend_from_slice(rest);
                    consumed = pending.len();
                    break;
                }
            }
        }
        let mut pending = pending;
        pending.drain(..consumed);
        self.outbound_pending = pending;
    }

    /// Writes an outgoing transfer if it needs more than padding: a carrier is replaced by its
    /// bundle's transfers, and other deliveries' ids are shifted past the bundles'. Returns
    /// `false` when the frame is not a transfer or needs nothing else.
    fn emit_transfer(&mut self, frame: &[u8], channel: u16) -> bool {
        if codec::descriptor(frame) != Some(code::TRANSFER) {
            return false;
        }
        let body = wire::frame_body(frame);
        let Ok(p) = wire::parse_performative(body) else {
            return false;
        };
        let shift = self.delivery_id_shift.get(&channel).copied().unwrap_or(0);
        let delivery_id = p
            .fields
            .get(1)
            .and_then(|f| wire::decode_unsigned(f))
            .and_then(|id| u32::try_from(id).ok());
        let carrier = p.fields.get(3).and_then(|f| wire::decode_unsigned(f))
            == Some(u64::from(BUNDLE_MESSAGE_FORMAT));
        match (carrier, delivery_id) {
            (true, Some(id)) => {
                let token = bundles::carrier_token(&body[p.encoded_len..]);
                let Some(bundle) = token.and_then(|t| self.deliveries.take(t)) else {
                    tracing::error!(?token, "a carrier delivery without its bundle; dropped");
                    return true;
                };
                let handle = p.fields.first().copied().unwrap_or(&[0x40]);
                // The wire channel, as the carrier itself would have gone out.
                let mut carrier_frame = frame.to_vec();
                if !self.channel_map.renumber(&mut carrier_frame) {
                    return true;
                }
                trace_frame(self.id, "send", &carrier_frame);
                let wire_channel = codec::channel(&carrier_frame);
                let written = bundles::write_transfers(
                    &bundle,
                    handle,
                    id.wrapping_add(shift),
                    wire_channel,
                    self.client_max_frame,
                    &mut self.outbound_ready,
                );
                self.sessions.on_outbound_transfers(channel, written.frames);
                if let (Some(reply), Some((_, client))) =
                    (bundle.flow, self.channel_map.channels_of(channel))
                {
                    let channels = (channel, client, wire_channel);
                    self.sessions
                        .write_flow(channels, handle, reply, &mut self.outbound_ready);
                }
                // fe2o3 took one id for the carrier.
                let shift = shift.wrapping_add(written.delivery_ids).wrapping_sub(1);
                self.delivery_id_shift.insert(channel, shift);
                true
            }
            (false, Some(id)) if shift != 0 => {
                self.sessions.on_outbound_transfers(channel, 1);
                let shifted = wire::encode_uint(id.wrapping_add(shift));
                self.emit(frame, |p| {
                    let mut overrides = service_shaped_fields(p);
                    overrides.push(FieldOverride {
                        index: 1,
                        encoded: shifted.clone(),
                    });
                    overrides
                });
                true
            }
            _ => {
                self.sessions.on_outbound_transfers(channel, 1);
                false
            }
        }
    }

    /// Rewrites one outgoing frame into `outbound_ready`, renumbering its channel.
    fn emit(&mut self, frame: &[u8], overrides: impl Fn(&Performative<'_>) -> Vec<FieldOverride>) {
        let start = self.outbound_ready.len();
        if let Err(e) = wire::rewrite_frame(frame, overrides, &mut self.outbound_ready) {
            // Our own encoder produced it, so this is a bug; send it as it is.
            tracing::warn!(error = %e, "could not pad an outgoing frame");
            self.outbound_ready.truncate(start);
            self.outbound_ready.extend_from_slice(frame);
        }
        self.renumber_from(start);
    }

    fn renumber_from(&mut self, start: usize) {
        if self.channel_map.renumber(&mut self.outbound_ready[start..]) {
            trace_frame(self.id, "send", &self.outbound_ready[start..]);
        } else {
            self.outbound_ready.truncate(start);
        }
    }

    /// Queues the held dispositions of one channel (or of all), whether due or not.
    fn release_held(&mut self, channel: Option<u16>) {
        let (release, keep) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| channel.is_none_or(|c| c == h.channel));
        self.held = keep;
        for held in release {
            let start = self.outbound_ready.len();
            self.outbound_ready.extend_from_slice(&held.frame);
            self.renumber_from(start);
        }
    }

    /// Queues held dispositions that are due, and arms the timer for the next one. Called from
    /// `poll_read` too: fe2o3 always has a read pending, so that is what wakes us when it is time.
    fn release_due(&mut self, cx: &mut Context<'_>) {
        loop {
            let now = tokio::time::Instant::now();
            while self.held.front().is_some_and(|h| h.due <= now) {
                if let Some(held) = self.held.pop_front() {
                    let start = self.outbound_ready.len();
                    self.outbound_ready.extend_from_slice(&held.frame);
                    self.renumber_from(start);
                }
            }
            let Some(next) = self.held.front().map(|h| h.due) else {
                self.held_timer = None;
                return;
            };
            let timer = self
                .held_timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return;
            }
        }
    }
}

/// Whether `frame` carries the performative `descriptor` (encoded as a small ulong, as fe2o3 and
/// the clients do) and `test` holds for it and its payload. Frames of other kinds are not parsed.
fn performative_is(
    frame: &[u8],
    descriptor: u64,
    test: impl FnOnce(&Performative<'_>, &[u8]) -> bool,
) -> bool {
    let body = wire::frame_body(frame);
    if !matches!(body, [0x00, 0x53, code, ..] if u64::from(*code) == descriptor) {
        return false;
    }
    wire::parse_performative(body).is_ok_and(|p| test(&p, &body[p.encoded_len..]))
}

/// An outgoing Disposition from one of our receiving links (role `true`) that settles.
fn is_settled_receiver_disposition(frame: &[u8]) -> bool {
    performative_is(frame, code::DISPOSITION, |p, _| {
        p.fields.first() == Some(&&[0x41][..]) && p.fields.get(3) == Some(&&[0x41][..])
    })
}

/// The unsettled twin of a settled disposition (field 3 is `settled`).
fn unsettled_disposition(p: &Performative<'_>) -> Vec<FieldOverride> {
    let mut overrides = service_shaped_fields(p);
    if p.descriptor == code::DISPOSITION {
        overrides.push(FieldOverride {
            index: 3,
            encoded: vec![0x42],
        });
    }
    overrides
}

/// Copies an inbound frame, dropping `delivery-id`, `delivery-tag` and `message-format` from
/// transfers that continue a delivery (see the module documentation).
fn normalize_continuation(
    frame: &[u8],
    in_progress: &mut HashSet<(u16, u64)>,
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    if codec::descriptor(frame) != Some(code::TRANSFER) {
        out.extend_from_slice(frame);
        return Ok(());
    }
    let performative = wire::parse_performative(wire::frame_body(frame))?;
    let field = |i: usize| performative.fields.get(i).copied().unwrap_or(&[0x40]);
    let channel = codec::channel(frame);
    let handle = wire::decode_unsigned(field(0)).unwrap_or(u64::MAX);
    let continuing = in_progress.contains(&(channel, handle));
    if wire::is_true(field(5)) && !wire::is_true(field(9)) {
        in_progress.insert((channel, handle));
    } else {
        in_progress.remove(&(channel, handle));
    }
    let repeats_ids = (1..=3).any(|i| field(i) != [0x40]);
    if !(continuing && repeats_ids) {
        out.extend_from_slice(frame);
        return Ok(());
    }
    wire::rewrite_frame(
        frame,
        |_| {
            (1..=3)
                .map(|index| FieldOverride {
                    index,
                    encoded: vec![0x40],
                })
                .collect()
        },
        out,
    )
}

/// Logs a frame's channel and performative at trace level: the wire order, cheaply.
fn trace_frame(connection: u64, direction: &str, frame: &[u8]) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    let channel = codec::channel(frame);
    let body = wire::frame_body(frame);
    let parsed = wire::parse_performative(body).ok();
    let descriptor = parsed.as_ref().map(|p| p.descriptor);
    let first_field = parsed
        .as_ref()
        .and_then(|p| p.fields.first().map(|f| f.to_vec()));
    tracing::trace!(
        connection,
        direction,
        channel,
        ?descriptor,
        ?first_field,
        len = frame.len(),
        "frame"
    );
}

/// Inbound Open: leave room for our padding under the client's real frame limit.
fn lower_max_frame_size(p: &Performative<'_>) -> Vec<FieldOverride> {
    if p.descriptor != code::OPEN {
        return vec![];
    }
    let declared = p
        .fields
        .get(2)
        .and_then(|f| wire::decode_unsigned(f))
        .unwrap_or(u64::from(u32::MAX));
    let declared = u32::try_from(declared).unwrap_or(u32::MAX);
    // 512 is the smallest max-frame-size AMQP allows; keep at least that.
    let lowered = declared.saturating_sub(FRAME_PADDING_ALLOWANCE).max(512);
    vec![FieldOverride {
        index: 2,
        encoded: wire::encode_uint(lowered),
    }]
}

/// Outbound performatives: advertise the service's max message size on our receiving links.
fn service_shaped_fields(p: &Performative<'_>) -> Vec<FieldOverride> {
    // Attach field 2 is the role; `true` (0x41) means we are the receiver, i.e. a publish link.
    if p.descriptor == code::ATTACH && p.fields.get(2) == Some(&&[0x41][..]) {
        return vec![FieldOverride {
            index: 10,
            encoded: wire::encode_ulong(ADVERTISED_MAX_MESSAGE_SIZE),
        }];
    }
    vec![]
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ServiceShapedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.release_due(cx);
        // fe2o3 flushes after every frame, which would cost a socket write (and a wake-up of the
        // client) per 1 KiB event. So `poll_flush` leaves the bytes here, and they go out when
        // fe2o3's loop next polls its read: at once when it has nothing else to do (it reads
        // whenever it waits, so nothing is left behind), after a few more frames when it is busy
        // sending. (Waiting until it has no frames at all saved more writes, but the extra task
        // wake-up halved the rate of single-event sends, which wait for each acknowledgement.)
        // Always, even with nothing of ours waiting: a TLS stream may still hold bytes it could
        // not write, and this is where they get their next try.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            // If the socket is full, it wakes this read.
            return Poll::Ready(Err(e));
        }
        loop {
            if this.inbound_ready_pos < this.inbound_ready.len() {
                let available = &this.inbound_ready[this.inbound_ready_pos..];
                let n = available.len().min(buf.remaining());
                buf.put_slice(&available[..n]);
                this.inbound_ready_pos += n;
                if this.inbound_ready_pos == this.inbound_ready.len() {
                    this.inbound_ready.clear();
                    this.inbound_ready_pos = 0;
                }
                return Poll::Ready(Ok(()));
            }
            this.inbound_pending.reserve(READ_CHUNK);
            let filled = ready!(tokio_util::io::poll_read_buf(
                Pin::new(&mut this.inner),
                cx,
                &mut this.inbound_pending
            ))?;
            if filled == 0 {
                // End of stream: hand over whatever was held back, then report EOF.
                this.inbound_ready.extend_from_slice(&this.inbound_pending);
                this.inbound_pending.clear();
                if this.inbound_ready.is_empty() {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            this.process_inbound()?;
        }
    }
}

impl<S: AsyncWrite + Unpin> ServiceShapedStream<S> {
    /// Writes rewritten bytes to the socket until none are left or it would block, rewriting
    /// the frames that waited for room (see `process_outbound`) as it goes.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            while self.outbound_ready_pos < self.outbound_ready.len() {
                let n = ready!(Pin::new(&mut self.inner)
                    .poll_write(cx, &self.outbound_ready[self.outbound_ready_pos..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.outbound_ready_pos += n;
            }
            self.outbound_ready.clear();
            self.outbound_ready_pos = 0;
            if !self.outbound_pending.is_empty() {
                self.process_outbound();
            }
            if self.outbound_ready.is_empty() {
                // Everything whole is written (only part of a frame may be pending). A TCP
                // stream's flush is a no-op; TLS and WebSocket streams send what they buffered.
                return Pin::new(&mut self.inner).poll_flush(cx);
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ServiceShapedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.outbound_ready.len() - this.outbound_ready_pos >= OUTGOING_HIGH_WATER {
            ready!(this.poll_drain(cx))?;
        }
        this.outbound_pending.extend_from_slice(buf);
        this.process_outbound();
        if this.outbound_ready.len() - this.outbound_ready_pos >= OUTGOING_COALESCE {
            // Start sending now, but accept the bytes whether or not the socket is ready.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    /// Leaves the bytes for `poll_read` to send (see there), which also flushes the inner stream.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "shim_tests.rs"]
mod tests;
