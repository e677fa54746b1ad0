//! One reader per partition: opens a receiver, forwards what arrives, and on a transient error
//! reconnects with backoff **from the last sequence number it saw** (the SDK's own recovery
//! replays from the original start position, so it is switched off and not relied on). A
//! sequence number at or below the last one seen is dropped, so a replay can never duplicate.

use std::time::Duration;

use azure_messaging_eventhubs::{
    ConsumerClient, EventReceiver, OpenReceiverOptions, StartLocation, StartPosition,
};
use futures::StreamExt as _;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::position::StartFrom;
use super::record::ReceivedRecord;
use crate::hub::{self, HubError, Target};

/// No event for this long and a receiving reader reports itself idle.
const IDLE_AFTER: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderState {
    Connecting,
    Receiving,
    Idle,
    Paused,
    Reconnecting {
        attempt: u32,
        error: String,
    },
    /// A reader with a higher owner level took the partition.
    Displaced(String),
    Failed(String),
    Stopped,
}

impl ReaderState {
    /// Whether the reader has ended for good.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Displaced(_) | Self::Failed(_) | Self::Stopped)
    }
}

impl std::fmt::Display for ReaderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Receiving => f.write_str("receiving"),
            Self::Idle => f.write_str("idle"),
            Self::Paused => f.write_str("paused"),
            Self::Reconnecting { attempt, error } => {
                write!(f, "reconnecting (attempt {attempt}): {error}")
            }
            Self::Displaced(why) => write!(f, "stopped by a higher owner level: {why}"),
            Self::Failed(why) => write!(f, "error: {why}"),
            Self::Stopped => f.write_str("stopped"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderSpec {
    pub partition_id: String,
    pub start: StartFrom,
    pub owner_level: Option<i64>,
    pub prefetch: Option<u32>,
}

/// The handle the caller keeps: state to watch, pause and stop.
pub struct ReaderHandle {
    pub partition_id: String,
    pub state: watch::Receiver<ReaderState>,
    paused: watch::Sender<bool>,
    cancel: CancellationToken,
}

impl ReaderHandle {
    pub fn pause(&self, paused: bool) {
        self.paused.send_replace(paused);
    }
    pub fn stop(&self) {
        self.cancel.cancel();
    }
    /// A token that stops this reader when cancelled, for whoever decides where reading ends.
    #[must_use]
    pub fn stopper(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

impl Drop for ReaderHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Starts a reader on the current runtime; records go to `out` in sequence order. Dropping the
/// handle stops the reader.
#[must_use = "dropping the handle stops the reader"]
pub fn spawn_reader(
    target: Target,
    spec: ReaderSpec,
    out: mpsc::Sender<ReceivedRecord>,
) -> ReaderHandle {
    let (state_tx, state) = watch::channel(ReaderState::Connecting);
    let (paused, paused_rx) = watch::channel(false);
    let cancel = CancellationToken::new();
    let reader = Reader {
        target,
        spec: spec.clone(),
        out,
        state: state_tx,
        paused: paused_rx,
        cancel: cancel.clone(),
        last_sequence: None,
    };
    tokio::spawn(reader.run());
    ReaderHandle {
        partition_id: spec.partition_id,
        state,
        paused,
        cancel,
    }
}

/// A reader per partition, all alike but for the partition, feeding one channel.
#[must_use = "dropping the handles stops the readers"]
pub fn spawn_readers(
    target: &Target,
    partitions: &[String],
    like: &ReaderSpec,
    out: &mpsc::Sender<ReceivedRecord>,
) -> Vec<ReaderHandle> {
    partitions
        .iter()
        .map(|id| {
            let spec = ReaderSpec {
                partition_id: id.clone(),
                ..like.clone()
            };
            spawn_reader(target.clone(), spec, out.clone())
        })
        .collect()
}

struct Reader {
    target: Target,
    spec: ReaderSpec,
    out: mpsc::Sender<ReceivedRecord>,
    state: watch::Sender<ReaderState>,
    paused: watch::Receiver<bool>,
    cancel: CancellationToken,
    last_sequence: Option<i64>,
}

/// Why one connection's worth of reading ended.
enum Ended {
    Cancelled,
    Displaced(String),
    /// The hub or group does not exist, or the profile cannot work: retrying cannot help.
    Failed(String),
    Transient(String),
}

impl Reader {
    async fn run(mut self) {
        let mut attempt = 0u32;
        loop {
            let ended = self.connect_and_read(&mut attempt).await;
            match ended {
                Ended::Cancelled => break,
                Ended::Displaced(why) => {
                    self.state.send_replace(ReaderState::Displaced(why));
                    return;
                }
                Ended::Failed(why) => {
                    self.state.send_replace(ReaderState::Failed(why));
                    return;
                }
                Ended::Transient(error) => {
                    attempt += 1;
                    self.state
                        .send_replace(ReaderState::Reconnecting { attempt, error });
                    let backoff = FIRST_BACKOFF
                        .saturating_mul(1 << attempt.min(5))
                        .min(MAX_BACKOFF);
                    tokio::select! {
                        () = self.cancel.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                }
            }
        }
        self.state.send_replace(ReaderState::Stopped);
    }

    /// Where to (re)start: just after the last event seen, or the requested start.
    fn start_position(&self) -> StartPosition {
        match self.last_sequence {
            Some(seq) => StartPosition {
                location: StartLocation::SequenceNumber(seq),
                inclusive: false,
            },
            None => self.spec.start.to_sdk(),
        }
    }

    async fn connect_and_read(&mut self, attempt: &mut u32) -> Ended {
        let opened = tokio::select! {
            () = self.cancel.cancelled() => return Ended::Cancelled,
            opened = self.open() => opened,
        };
        let (client, receiver) = match opened {
            Ok(pair) => pair,
            Err(e) if e.is_final() => return Ended::Failed(e.to_string()),
            Err(e) => return classify(&e.to_string()),
        };
        *attempt = 0;
        self.state.send_replace(ReaderState::Receiving);
        let ended = self.read(&receiver).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
        ended
    }

    async fn open(&self) -> Result<(ConsumerClient, EventReceiver), HubError> {
        let client = hub::within(
            "connect",
            hub::DEFAULT_TIMEOUT,
            self.target.open_consumer_for_reader(),
        )
        .await?;
        let options = OpenReceiverOptions {
            owner_level: self.spec.owner_level,
            prefetch: self.spec.prefetch,
            start_position: Some(self.start_position()),
            ..OpenReceiverOptions::default()
        };
        let opened = tokio::time::timeout(
            hub::DEFAULT_TIMEOUT,
            client.open_receiver_on_partition(self.spec.partition_id.clone(), Some(options)),
        )
        .await;
        match opened {
            Ok(Ok(receiver)) => Ok((client, receiver)),
            Ok(Err(e)) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
                Err(HubError::from_sdk("open a receiver", &e))
            }
            Err(_) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
                Err(HubError::Timeout {
                    what: "open a receiver",
                    after: hub::DEFAULT_TIMEOUT,
                })
            }
        }
    }

    async fn read(&mut self, receiver: &EventReceiver) -> Ended {
        let stream = receiver.stream_events();
        futures::pin_mut!(stream);
        loop {
            if *self.paused.borrow() {
                self.state.send_replace(ReaderState::Paused);
                tokio::select! {
                    () = self.cancel.cancelled() => return Ended::Cancelled,
                    changed = self.paused.changed() => {
                        if changed.is_err() { return Ended::Cancelled; }
                        self.state.send_replace(ReaderState::Receiving);
                        continue;
                    }
                }
            }
            let next = tokio::select! {
                () = self.cancel.cancelled() => return Ended::Cancelled,
                _ = self.paused.changed() => continue,
                next = tokio::time::timeout(IDLE_AFTER, stream.next()) => next,
            };
            match next {
                Err(_) => {
                    self.state.send_if_modified(|s| {
                        let idle = *s == ReaderState::Receiving;
                        if idle {
                            *s = ReaderState::Idle;
                        }
                        idle
                    });
                }
                Ok(None) => return Ended::Transient("the receiver closed".into()),
                Ok(Some(Err(e))) => {
                    return match HubError::from_sdk("receive", &e) {
                        final_error if final_error.is_final() => {
                            Ended::Failed(final_error.to_string())
                        }
                        _ => classify(&hub::error_chain(&e)),
                    }
                }
                Ok(Some(Ok(event))) => {
                    let record = ReceivedRecord::from_sdk(&self.spec.partition_id, &event);
                    if self
                        .last_sequence
                        .is_some_and(|last| record.sequence_number <= last)
                    {
                        continue; // a replay after a reconnect: already forwarded
                    }
                    self.last_sequence = Some(record.sequence_number);
                    self.state.send_if_modified(|s| {
                        let changed = *s != ReaderState::Receiving;
                        *s = ReaderState::Receiving;
                        changed
                    });
                    tokio::select! {
                        () = self.cancel.cancelled() => return Ended::Cancelled,
                        sent = self.out.send(record) => {
                            if sent.is_err() { return Ended::Cancelled; }
                        }
                    }
                }
            }
        }
    }
}

/// A displacement by a higher owner level is final; anything else is worth a reconnect.
fn classify(error: &str) -> Ended {
    let lower = error.to_ascii_lowercase();
    if lower.contains("stolen") || lower.contains("higher epoch") {
        Ended::Displaced(error.to_string())
    } else {
        Ended::Transient(error.to_string())
    }
}
