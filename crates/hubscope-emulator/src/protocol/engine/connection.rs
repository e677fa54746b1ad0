//! One connection's state: Open and Close, heartbeats, and its sessions by channel (the
//! protocol headers and SASL are in `handshake`). `driver` runs it from the socket, the
//! handlers' commands and the clock, in one task, so that no state is shared but the links'
//! credit.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::BytesMut;
use fe2o3_amqp_types::definitions;
use fe2o3_amqp_types::performatives::{Close, End, Open, Performative};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::endpoints::{Command, Commands};
use super::frames::Violation;
use super::outbox::Outbox;
use super::session::{Context, Session};
use super::{Application, Settings};
use crate::protocol::amqp;
use crate::protocol::codec::{self, Body, PeerProfile, Unit};

/// Largest frame accepted before the client's Open has been read (Python pipelines its Open,
/// Begin and Attach, and an Attach with filters can be long).
pub(super) const PRE_OPEN_MAX_FRAME: usize = 64 * 1024;
/// The smallest max-frame-size AMQP allows (§2.7.1); a client's smaller value is raised to it.
pub(super) const MIN_MAX_FRAME: usize = 512;
/// Largest frame we send, whatever the client allows.
const OUTGOING_MAX_FRAME: usize = 1024 * 1024;
/// Sessions per connection; the channel numbers we hand out stay below it.
const CHANNEL_MAX: u16 = 4095;
/// Bytes asked of the socket per read.
pub(super) const READ_CHUNK: usize = 64 * 1024;
/// Commands taken per wake-up before the socket gets its turn again.
pub(super) const COMMANDS_PER_TURN: usize = 1024;
/// How long we wait for the client's Close after sending ours.
pub(super) const CLOSE_WAIT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the client's first protocol header.
    Header,
    /// SASL header exchanged; waiting for its sasl-init.
    SaslInit,
    /// SASL done; waiting for the AMQP protocol header.
    SaslAmqpHeader,
    /// Waiting for the client's Open.
    Open,
    Opened,
    /// Our Close is sent; waiting for the client's until the deadline.
    Closing(Instant),
    Done,
}

pub(super) struct Connection<'a> {
    pub(super) app: &'a mut dyn Application,
    pub(super) settings: &'a Settings,
    pub(super) phase: Phase,
    pub(super) peer: PeerProfile,
    pub(super) out: Outbox,
    /// Sessions by the client's channel.
    pub(super) sessions: HashMap<u16, Session>,
    pub(super) local_channels: HashSet<u16>,
    /// Where the search for a free channel of ours starts: channels are handed out in rotation,
    /// because the Rust SDK frees an ended session's channel late and drops a new session that
    /// reuses it at once ("Session is not found", docs/amqp-wire.md §1).
    pub(super) next_channel: u16,
    pub(super) channel_max: u16,
    /// Our sender of commands, cloned into each endpoint; dropped at shutdown, so that the
    /// command channel closes once every handler has let go of its link.
    pub(super) commands: Option<Commands>,
    /// A sender whose receiver is gone, for frames that arrive while shutting down: attaches
    /// then get endpoints whose commands are dropped.
    pub(super) spare_commands: Commands,
    pub(super) next_link_id: u64,
    pub(super) next_session_id: u64,
    /// Half the client's idle time-out: we send something at least this often.
    pub(super) heartbeat: Option<Duration>,
    pub(super) last_sent: Instant,
    pub(super) handshake_deadline: Instant,
    pub(super) shutting_down: bool,
    /// At shutdown: when the Close goes out even if handlers still hold links.
    pub(super) close_due: Option<Instant>,
}

impl<'a> Connection<'a> {
    pub(super) fn new(
        app: &'a mut dyn Application,
        settings: &'a Settings,
        commands: Commands,
    ) -> Self {
        let now = Instant::now();
        Self {
            app,
            settings,
            phase: Phase::Header,
            peer: PeerProfile::default(),
            out: Outbox::new(MIN_MAX_FRAME),
            sessions: HashMap::new(),
            local_channels: HashSet::new(),
            next_channel: 0,
            channel_max: CHANNEL_MAX,
            commands: Some(commands),
            spare_commands: mpsc::channel(1).0,
            next_link_id: 0,
            next_session_id: 0,
            heartbeat: None,
            last_sent: now,
            handshake_deadline: now + settings.handshake_timeout,
            shutting_down: false,
            close_due: None,
        }
    }

    pub(super) fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut deadline = far;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                deadline = deadline.min(at);
            }
        };
        consider(self.out.next_due());
        consider(self.heartbeat.map(|h| self.last_sent + h));
        consider(self.close_due);
        match self.phase {
            Phase::Opened | Phase::Done => {}
            Phase::Closing(until) => consider(Some(until)),
            _ => consider(Some(self.handshake_deadline)),
        }
        deadline
    }

    pub(super) fn on_timer(&mut self, now: Instant) {
        self.out.release_due(now);
        match self.phase {
            Phase::Closing(until) if now >= until => self.phase = Phase::Done,
            Phase::Header | Phase::SaslInit | Phase::SaslAmqpHeader | Phase::Open
                if now >= self.handshake_deadline =>
            {
                tracing::debug!("connection handshake timed out");
                self.phase = Phase::Done;
            }
            _ => {}
        }
        if self.close_due.is_some_and(|d| now >= d) {
            self.close_for_shutdown();
        }
        if let Some(interval) = self.heartbeat {
            if now >= self.last_sent + interval {
                // Output already waiting keeps the connection alive as well as an empty frame.
                if self.out.unwritten().is_empty() {
                    codec::write_heartbeat(&mut self.out.bytes);
                }
                self.last_sent = now;
            }
        }
    }

    pub(super) fn peer_gone(&mut self) {
        if self.phase != Phase::Done {
            tracing::debug!(phase = ?self.phase, "client closed the socket");
        }
        self.phase = Phase::Done;
    }

    pub(super) fn on_bytes(&mut self, inbound: &mut BytesMut) {
        loop {
            if self.phase == Phase::Done {
                inbound.clear();
                return;
            }
            let header_expected = matches!(self.phase, Phase::Header | Phase::SaslAmqpHeader);
            let max_frame = if matches!(self.phase, Phase::Opened | Phase::Closing(_)) {
                self.settings.max_frame_size as usize
            } else {
                PRE_OPEN_MAX_FRAME
            };
            let unit = match codec::next_unit(inbound, max_frame, header_expected) {
                Ok(Some(unit)) => unit,
                Ok(None) => return,
                Err(e) => {
                    inbound.clear();
                    self.fail("amqp:connection:framing-error", &e.to_string());
                    return;
                }
            };
            match unit {
                Unit::Header(header) => self.on_header(header),
                Unit::Frame(frame) if frame.sasl => self.on_sasl(&frame.body),
                Unit::Frame(frame) => self.on_amqp(frame.channel, &frame.body),
            }
        }
    }

    pub(super) fn on_amqp(&mut self, channel: u16, body: &bytes::Bytes) {
        let decoded = match codec::decode(body) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.fail("amqp:decode-error", &e.to_string());
                return;
            }
        };
        match self.phase {
            Phase::Open => match decoded {
                Body::Other(performative) => match *performative {
                    Performative::Open(open) => self.on_open(&open),
                    other => self.fail(
                        "amqp:connection:framing-error",
                        &format!("The first frame must be an open, not {other:?}."),
                    ),
                },
                _ => self.fail(
                    "amqp:connection:framing-error",
                    "The first frame must be an open.",
                ),
            },
            Phase::Opened => self.on_opened_frame(channel, decoded),
            Phase::Closing(_) => {
                if let Body::Other(performative) = decoded {
                    if matches!(*performative, Performative::Close(_)) {
                        self.phase = Phase::Done;
                    }
                }
            }
            _ => {
                tracing::debug!(phase = ?self.phase, "AMQP frame before the handshake ended");
                self.phase = Phase::Done;
            }
        }
    }

    pub(super) fn on_open(&mut self, open: &Open) {
        let max_frame = usize::try_from(open.max_frame_size.0).unwrap_or(OUTGOING_MAX_FRAME);
        self.out.max_frame = max_frame.clamp(MIN_MAX_FRAME, OUTGOING_MAX_FRAME);
        self.channel_max = open.channel_max.0.min(CHANNEL_MAX);
        self.heartbeat = open
            .idle_time_out
            .filter(|&ms| ms > 0)
            .map(|ms| Duration::from_millis(u64::from(ms) / 2));
        self.peer = PeerProfile::of(open);
        self.out.two_phase = self.peer.rust_sdk;
        tracing::debug!(profile = ?self.peer, max_frame = self.out.max_frame, "client opened");
        let reply = self.our_open();
        self.out.frame(0, &reply);
        self.phase = Phase::Opened;
    }

    pub(super) fn our_open(&self) -> Performative {
        Performative::Open(Open {
            container_id: self.settings.container_id.clone(),
            hostname: None,
            max_frame_size: self.settings.max_frame_size.into(),
            channel_max: self.channel_max.into(),
            idle_time_out: None,
            outgoing_locales: None,
            incoming_locales: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        })
    }

    pub(super) fn on_opened_frame(&mut self, channel: u16, decoded: Body) {
        let performative = match decoded {
            Body::Heartbeat => return,
            Body::Transfer(transfer, payload) => {
                self.with_session(channel, |session, cx| {
                    session.on_transfer(&transfer, payload, cx)
                });
                return;
            }
            Body::Other(performative) => *performative,
        };
        match performative {
            Performative::Begin(begin) => self.on_begin(channel, &begin),
            Performative::End(end) => self.on_end(channel, end.error.as_ref()),
            Performative::Close(close) => {
                if let Some(error) = &close.error {
                    tracing::debug!(condition = ?error.condition, description = ?error.description, "client closed with an error");
                }
                self.out.release_held(None);
                self.out
                    .frame(0, &Performative::Close(Close { error: None }));
                self.phase = Phase::Done;
            }
            Performative::Open(_) => self.fail("amqp:connection:framing-error", "A second open."),
            other => self.with_session(channel, |session, cx| session.on_frame(other, cx)),
        }
    }

    pub(super) fn on_begin(
        &mut self,
        channel: u16,
        begin: &fe2o3_amqp_types::performatives::Begin,
    ) {
        if self.sessions.contains_key(&channel) {
            self.fail(
                "amqp:connection:framing-error",
                &format!("Channel {channel} already has a session."),
            );
            return;
        }
        if begin.remote_channel.is_some() {
            self.fail(
                "amqp:connection:framing-error",
                "A begin answering a session we never began.",
            );
            return;
        }
        let Some(local) = self.free_channel() else {
            self.fail(
                "amqp:resource-limit-exceeded",
                "Too many sessions on one connection.",
            );
            return;
        };
        let session = Session::new(self.next_session_id, local, begin, self.peer);
        self.next_session_id += 1;
        self.out.frame(local, &session.begin_reply(channel));
        self.local_channels.insert(local);
        self.sessions.insert(channel, session);
    }

    pub(super) fn free_channel(&mut self) -> Option<u16> {
        let count = u32::from(self.channel_max) + 1;
        for step in 0..count {
            let candidate = u16::try_from((u32::from(self.next_channel) + step) % count).ok()?;
            if !self.local_channels.contains(&candidate) {
                self.next_channel = u16::try_from((u32::from(candidate) + 1) % count).unwrap_or(0);
                return Some(candidate);
            }
        }
        None
    }

    pub(super) fn on_end(&mut self, channel: u16, error: Option<&definitions::Error>) {
        let Some(mut session) = self.sessions.remove(&channel) else {
            // Ours crossed it, or the session ended in error: nothing to answer.
            return;
        };
        if let Some(error) = error {
            tracing::debug!(condition = ?error.condition, description = ?error.description, "client ended a session with an error");
        }
        if self.peer.rust_sdk && session.silent_end() {
            self.out.discard_held(session.local_channel);
        } else {
            self.out.release_held(Some(session.local_channel));
            self.out.frame(
                session.local_channel,
                &Performative::End(End { error: None }),
            );
        }
        self.drop_session(&mut session);
    }

    pub(super) fn drop_session(&mut self, session: &mut Session) {
        session.end_links();
        self.local_channels.remove(&session.local_channel);
        self.app.session_ended(session.id);
    }

    /// Runs `handle` on the session on `channel` and applies any violation it reports.
    pub(super) fn with_session(
        &mut self,
        channel: u16,
        handle: impl FnOnce(&mut Session, &mut Context<'_>) -> Result<(), Violation>,
    ) {
        let commands = self.commands.as_ref().unwrap_or(&self.spare_commands);
        let Some(session) = self.sessions.get_mut(&channel) else {
            // A frame crossing our End (after a session error): dropped.
            tracing::debug!(channel, "frame on a channel with no session");
            return;
        };
        let mut cx = Context {
            app: &mut *self.app,
            commands,
            out: &mut self.out,
            peer: self.peer,
            settings: self.settings,
            next_link_id: &mut self.next_link_id,
        };
        match handle(session, &mut cx) {
            Ok(()) => {}
            Err(Violation::Session(error)) => {
                tracing::debug!(description = ?error.description, "ending a session for a protocol violation");
                if let Some(mut session) = self.sessions.remove(&channel) {
                    self.out.release_held(Some(session.local_channel));
                    self.out.frame(
                        session.local_channel,
                        &Performative::End(End { error: Some(error) }),
                    );
                    self.drop_session(&mut session);
                }
            }
            Err(Violation::Connection(error)) => {
                let text = error.description.clone().unwrap_or_default();
                let condition = match &error.condition {
                    definitions::ErrorCondition::Custom(symbol) => symbol.0.clone(),
                    _ => "amqp:connection:framing-error".to_owned(),
                };
                self.fail(&condition, &text);
            }
        }
    }

    pub(super) fn on_command(&mut self, command: Command) {
        let link = match &command {
            Command::Settle { link, .. }
            | Command::Deliver { link, .. }
            | Command::AnswerDrain { link, .. }
            | Command::Close { link, .. } => *link,
        };
        let Some(channel) = self
            .sessions
            .iter()
            .find(|(_, s)| s.owns(link))
            .map(|(c, _)| *c)
        else {
            return;
        };
        self.with_session(channel, |session, cx| {
            match command {
                Command::Settle {
                    link,
                    delivery_id,
                    settled_by_client,
                    outcome,
                } => session.settle(link, delivery_id, settled_by_client, outcome, cx),
                Command::Deliver { link, bundle } => session.deliver(link, bundle, cx),
                Command::AnswerDrain { link, epoch } => session.answer_drain(link, epoch, cx),
                Command::Close { link, error } => session.close_link(link, error, cx),
            }
            Ok(())
        });
    }

    /// Sends what sending links had waiting for room in the output.
    pub(super) fn resume(&mut self) {
        if self.out.is_full() || self.phase != Phase::Opened {
            return;
        }
        let waiting: Vec<u16> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.has_ready())
            .map(|(c, _)| *c)
            .collect();
        for channel in waiting {
            self.with_session(channel, |session, cx| {
                session.resume(cx);
                Ok(())
            });
        }
    }

    /// Closes the connection for a protocol error and waits briefly for the client's Close.
    pub(super) fn fail(&mut self, condition: &str, description: &str) {
        tracing::debug!(
            condition,
            description,
            "closing a connection for a protocol error"
        );
        if matches!(self.phase, Phase::Closing(_) | Phase::Done) {
            self.phase = Phase::Done;
            return;
        }
        if self.phase == Phase::Opened || self.phase == Phase::Open {
            if self.phase == Phase::Open {
                // AMQP 1.0 §2.4.5: an Open goes before the Close even when refusing.
                let open = self.our_open();
                self.out.frame(0, &open);
            }
            self.out.release_held(None);
            let error = amqp::error(condition, description);
            self.out
                .frame(0, &Performative::Close(Close { error: Some(error) }));
            self.phase = Phase::Closing(Instant::now() + CLOSE_WAIT);
            self.end_all();
        } else {
            self.phase = Phase::Done;
        }
    }

    pub(super) fn begin_shutdown(&mut self) {
        self.commands = None;
        self.shutting_down = true;
        self.close_due = Some(Instant::now() + self.settings.shutdown_drain);
        if self.phase != Phase::Opened {
            self.phase = Phase::Done;
        }
    }

    /// The Close at shutdown, once handlers have let go of their links (so that the outcomes of
    /// what they stored go out first) or the wait is over.
    pub(super) fn close_for_shutdown(&mut self) {
        self.close_due = None;
        if self.phase != Phase::Opened {
            return;
        }
        self.out.release_held(None);
        let error = amqp::error("amqp:connection:forced", "The emulator is shutting down.");
        self.out
            .frame(0, &Performative::Close(Close { error: Some(error) }));
        self.phase = Phase::Closing(Instant::now() + CLOSE_WAIT);
        self.end_all();
    }

    pub(super) fn end_all(&mut self) {
        let sessions: Vec<Session> = self.sessions.drain().map(|(_, s)| s).collect();
        for mut session in sessions {
            self.drop_session(&mut session);
        }
    }
}
