//! Outgoing session channels, as the Rust SDK's fe2o3-amqp 0.16 needs them.
//!
//! Two workarounds for that client, both applied to frames on their way out (see `shim`):
//!
//! - Channel numbers are handed out in rotation instead of fe2o3's lowest-free choice. The
//!   client frees a session's channel some time after the End exchange; when our next session
//!   reuses that number at once (as the SDK's short-lived `$cbs` sessions make us do), the late
//!   clean-up drops the new session and the client closes the connection ("Session is not found").
//! - Once the Rust SDK has ended one of its `$cbs` sessions, nothing more of ours goes out on it,
//!   not even the End reply AMQP asks for. The SDK drops those sessions instead of ending them,
//!   and the client's session task exits right after sending End; any later frame of ours (our
//!   End, or a Detach reply fe2o3 0.18 sends from the link's own task) makes the client close the
//!   whole connection. Sessions with other links are answered as AMQP says: the SDK's `close()`
//!   waits for the End.

use std::collections::{HashMap, HashSet};

use crate::protocol::codec;
use crate::protocol::wire::{self, code};

/// Hands out outgoing channel numbers in rotation and silences ended `$cbs` sessions.
#[derive(Debug)]
pub struct ChannelRotation {
    /// fe2o3's channel → (channel on the wire, the client's channel for the session).
    wire_of: HashMap<u16, (u16, u16)>,
    /// Client channels whose session the client has ended and we have not yet.
    ended_by_client: HashSet<u16>,
    /// Our channels whose links so far are all `$cbs` links.
    cbs_only: HashSet<u16>,
    /// Whether ended token sessions are silenced: only for the Rust SDK, which needs it. Every
    /// other client waits for the End it is owed.
    silence_token_sessions: bool,
    next: u16,
    /// Highest channel both sides allow: fe2o3's default channel-max, lowered to the client's.
    max: u16,
}

impl Default for ChannelRotation {
    fn default() -> Self {
        Self {
            wire_of: HashMap::new(),
            ended_by_client: HashSet::new(),
            cbs_only: HashSet::new(),
            silence_token_sessions: false,
            next: 0,
            max: 255,
        }
    }
}

impl ChannelRotation {
    pub fn limit_to(&mut self, client_channel_max: u16) {
        self.max = self.max.min(client_channel_max);
    }

    /// Turns on silencing ended `$cbs` sessions (see the module documentation).
    pub fn silence_ended_token_sessions(&mut self, on: bool) {
        self.silence_token_sessions = on;
    }

    /// The channel on the wire, and the client's channel, of fe2o3's session on `ours`.
    #[must_use]
    pub fn channels_of(&self, ours: u16) -> Option<(u16, u16)> {
        self.wire_of.get(&ours).copied()
    }

    /// Notes that the client sent End on its `channel`.
    pub fn client_ended(&mut self, channel: u16) {
        self.ended_by_client.insert(channel);
    }

    /// Rewrites the channel of one outgoing frame, or returns `false` when the frame must not be
    /// sent at all. Open, Close and heartbeats keep channel 0.
    pub fn renumber(&mut self, frame: &mut [u8]) -> bool {
        if frame.len() < wire::FRAME_HEADER_LEN || frame[5] != 0 {
            return true;
        }
        let ours = crate::protocol::codec::channel(frame);
        let body = wire::frame_body(frame);
        // Transfers, flows and dispositions (nearly every frame) need only their channel mapped;
        // skip parsing their fields.
        let link_traffic = matches!(body, [0x00, 0x53, c, ..]
            if [code::FLOW, code::TRANSFER, code::DISPOSITION].contains(&u64::from(*c)));
        if link_traffic {
            let Some(&(wire, client)) = self.wire_of.get(&ours) else {
                return true;
            };
            if self.silenced(ours, client) {
                return false;
            }
            crate::protocol::codec::set_channel(frame, wire);
            return true;
        }
        let Ok(performative) = wire::parse_performative(body) else {
            return true;
        };
        let (wire, client) = match performative.descriptor {
            code::OPEN | code::CLOSE => return true,
            // We only ever answer Begins, so every session of ours starts here.
            code::BEGIN => {
                // remote-channel (field 0) is a ushort: 0x60 and two bytes.
                let client = match performative.fields.first().map(|f| &f[..]) {
                    Some(&[0x60, hi, lo]) => u16::from_be_bytes([hi, lo]),
                    _ => u16::MAX,
                };
                let wire = self.allocate();
                self.wire_of.insert(ours, (wire, client));
                (wire, client)
            }
            _ => match self.wire_of.get(&ours) {
                Some(pair) => *pair,
                None => return true,
            },
        };
        if performative.descriptor == code::ATTACH {
            // The attach reply echoes source and target; a `$cbs` address marks a token link.
            if is_token_link(frame) {
                self.cbs_only.insert(ours);
            } else {
                self.cbs_only.remove(&ours);
            }
        }
        let silenced = self.silenced(ours, client);
        if performative.descriptor == code::END {
            self.wire_of.remove(&ours);
            self.ended_by_client.remove(&client);
            self.cbs_only.remove(&ours);
        }
        if silenced {
            return false;
        }
        crate::protocol::codec::set_channel(frame, wire);
        true
    }

    /// A token session the client has ended: what fe2o3 still sends on it must not go out.
    fn silenced(&self, ours: u16, client: u16) -> bool {
        self.silence_token_sessions
            && self.ended_by_client.contains(&client)
            && self.cbs_only.contains(&ours)
    }

    fn allocate(&mut self) -> u16 {
        // fe2o3 never has more than `max + 1` sessions, so a free number always exists.
        for _ in 0..=u32::from(self.max) {
            let candidate = self.next;
            self.next = if candidate >= self.max {
                0
            } else {
                candidate + 1
            };
            if !self.wire_of.values().any(|(w, _)| *w == candidate) {
                return candidate;
            }
        }
        self.next
    }
}

/// Whether an Attach addresses the `$cbs` node, as its source or its target.
fn is_token_link(frame: &[u8]) -> bool {
    use fe2o3_amqp_types::messaging::TargetArchetype;
    use fe2o3_amqp_types::performatives::Performative;
    let Ok(Some(Performative::Attach(attach))) = codec::performative(frame) else {
        return false;
    };
    let source = attach.source.as_ref().and_then(|s| s.address.as_deref());
    let target = attach.target.as_deref().and_then(|t| match t {
        TargetArchetype::Target(t) => t.address.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    });
    [source, target].contains(&Some("$cbs"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use wire::test_frame as frame;

    fn channel_of(frame: &[u8]) -> u16 {
        u16::from_be_bytes([frame[6], frame[7]])
    }

    /// A session that ends and a new one that fe2o3 puts on the same channel get different
    /// numbers on the wire; frames of a session keep its number until its End.
    #[test]
    fn channels_rotate_instead_of_being_reused_at_once() {
        let mut rotation = ChannelRotation::default();
        let begin = |ch| frame(ch, code::BEGIN, &[&[0x60, 0, 0]]);
        let mut first = begin(0);
        assert!(rotation.renumber(&mut first));
        let mut attach = frame(0, code::ATTACH, &[&[0xa1, 1, b'x']]);
        rotation.renumber(&mut attach);
        assert_eq!(channel_of(&attach), channel_of(&first));
        let mut end = frame(0, code::END, &[]);
        rotation.renumber(&mut end);
        assert_eq!(channel_of(&end), channel_of(&first));
        let mut second = begin(0);
        rotation.renumber(&mut second);
        assert_ne!(channel_of(&second), channel_of(&first));
        let mut close = frame(0, code::CLOSE, &[]);
        rotation.renumber(&mut close);
        assert_eq!(channel_of(&close), 0);
    }

    /// Our Attach reply for a link named `name` between `source` and `target`.
    fn attach(channel: u16, name: &str, source: &str, target: &str) -> Vec<u8> {
        let string = |s: &str| {
            [
                &[0xa1, u8::try_from(s.len()).expect("short")][..],
                s.as_bytes(),
            ]
            .concat()
        };
        let terminus = |descriptor: u8, address: &str| {
            let address = string(address);
            let len = u8::try_from(address.len() + 1).expect("short");
            [&[0x00, 0x53, descriptor, 0xc0, len, 1][..], &address].concat()
        };
        frame(
            channel,
            code::ATTACH,
            &[
                &string(name),
                &[0x43],
                &[0x41],
                &[0x50, 0x02],
                &[0x50, 0x00],
                &terminus(0x28, source),
                &terminus(0x29, target),
            ],
        )
    }

    /// The Rust SDK's token link: a sender to `$cbs`.
    fn cbs_attach(channel: u16) -> Vec<u8> {
        attach(channel, "cbs-sender", "cbs-client", "$cbs")
    }

    #[test]
    fn token_links_are_told_by_their_address_not_their_name() {
        assert!(is_token_link(&cbs_attach(0)));
        assert!(!is_token_link(&attach(
            0,
            "$cbs-lookalike",
            "client",
            "eh1"
        )));
    }

    /// After the client ends a `$cbs` session, nothing of ours goes out on it; other sessions
    /// get their End reply; a new session on the same client channel is served normally.
    #[test]
    fn frames_after_the_rust_sdk_s_end_are_dropped() {
        let mut rotation = ChannelRotation::default();
        rotation.silence_ended_token_sessions(true);
        let mut begin = frame(4, code::BEGIN, &[&[0x60, 0, 7]]);
        assert!(rotation.renumber(&mut begin));
        assert!(rotation.renumber(&mut cbs_attach(4)));
        rotation.client_ended(7);
        let mut detach = frame(4, code::DETACH, &[&[0x43]]);
        assert!(
            !rotation.renumber(&mut detach),
            "detach after the client's End is dropped"
        );
        let mut end = frame(4, code::END, &[]);
        assert!(
            !rotation.renumber(&mut end),
            "no End reply to a client that ended first"
        );
        let mut begin = frame(4, code::BEGIN, &[&[0x60, 0, 7]]);
        assert!(rotation.renumber(&mut begin));
        let mut hub_attach = attach(4, "x", "client", "eh1");
        assert!(
            rotation.renumber(&mut hub_attach),
            "a new session on the same channel is served"
        );
    }

    #[test]
    fn other_clients_get_the_end_they_are_owed() {
        let mut rotation = ChannelRotation::default();
        let mut begin = frame(4, code::BEGIN, &[&[0x60, 0, 7]]);
        assert!(rotation.renumber(&mut begin));
        assert!(rotation.renumber(&mut cbs_attach(4)));
        rotation.client_ended(7);
        let mut detach = frame(4, code::DETACH, &[&[0x43]]);
        assert!(rotation.renumber(&mut detach), "the Detach reply goes out");
        let mut end = frame(4, code::END, &[]);
        assert!(rotation.renumber(&mut end), "the End reply goes out");
    }

    #[test]
    fn rotation_wraps_within_channel_max_and_skips_live_channels() {
        let mut rotation = ChannelRotation::default();
        rotation.limit_to(2);
        let mut seen = Vec::new();
        for ours in 0..3u16 {
            let mut b = frame(ours, code::BEGIN, &[&[0x60, 0, 0]]);
            rotation.renumber(&mut b);
            seen.push(channel_of(&b));
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2]);
        let mut end = frame(1, code::END, &[]);
        rotation.renumber(&mut end);
        let mut b = frame(1, code::BEGIN, &[&[0x60, 0, 0]]);
        rotation.renumber(&mut b);
        assert_eq!(channel_of(&b), channel_of(&end), "the only free number");
    }
}
