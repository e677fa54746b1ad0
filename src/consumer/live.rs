//! A live view's engine: readers for the chosen partitions, and a collector that fills the
//! [`LiveStore`]. With an end (`until`) it is a search of the hub: each partition is read to
//! where it ended when the search began, and the view stops there. Everything per event happens
//! here on the runtime; the UI gets the rest as a [`LiveSnapshot`] a few times a second.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::filter::EventFilter;
#[cfg(test)]
pub(crate) use super::live_store::test_store;
pub use super::live_store::{lock, LiveStore, PartitionStats, RangeProgress, RangeState};
use super::range::{Ends, Until};
use super::reader::{spawn_readers, ReaderHandle, ReaderSpec, ReaderState};
use super::record::ReceivedRecord;
use super::StartFrom;
use crate::hub::{self, Target};

/// Events kept by default; the oldest scroll out.
pub const DEFAULT_CAPACITY: usize = 100_000;
const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);
const PROPERTIES_EVERY: Duration = Duration::from_millis(1500);
/// Records handled per lock of the store.
const BATCH: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConfig {
    /// Empty: every partition of the hub.
    pub partitions: Vec<String>,
    pub start: StartFrom,
    pub owner_level: Option<i64>,
    pub prefetch: Option<u32>,
    pub capacity: usize,
    /// Read as this consumer group instead of the profile's.
    pub consumer_group: Option<String>,
    /// Stop each partition here: a search of a range of the hub. `None`: keep reading.
    pub until: Option<Until>,
    /// The filter the view starts with: a jq program and a substring (either may be empty).
    pub jq: String,
    pub text: String,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            consumer_group: None,
            partitions: Vec::new(),
            start: StartFrom::Latest,
            owner_level: None,
            prefetch: None,
            capacity: DEFAULT_CAPACITY,
            until: None,
            jq: String::new(),
            text: String::new(),
        }
    }
}

/// What the UI shows besides the rows: reader states, a few times a second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveSnapshot {
    pub states: Vec<(String, ReaderState)>,
    pub running: bool,
    pub paused: bool,
}

/// A running live view. Dropping it stops the readers and the collector.
pub struct LiveSession {
    pub store: Arc<Mutex<LiveStore>>,
    pub snapshot: watch::Receiver<LiveSnapshot>,
    readers: Vec<ReaderHandle>,
    cancel: CancellationToken,
    paused: watch::Sender<bool>,
}

impl LiveSession {
    /// Starts readers on `partitions` (already checked against the hub) and the collector.
    pub fn start(
        target: &Target,
        partitions: &[String],
        config: &LiveConfig,
        filter: EventFilter,
        waker: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let mut store = LiveStore::new(partitions, config.capacity, &config.start, filter);
        if config.until.is_some() {
            store.range = Some(RangeProgress {
                in_range: None,
                state: RangeState::Preparing,
            });
        }
        let store = Arc::new(Mutex::new(store));
        let (tx, rx) = mpsc::channel(BATCH * 4);
        let like = ReaderSpec {
            partition_id: String::new(),
            start: config.start.clone(),
            owner_level: config.owner_level,
            prefetch: config.prefetch,
        };
        let readers = spawn_readers(target, partitions, &like, &tx);
        let (snapshot_tx, snapshot) = watch::channel(LiveSnapshot::default());
        let (paused, paused_rx) = watch::channel(false);
        let cancel = CancellationToken::new();
        let states: Vec<(String, watch::Receiver<ReaderState>)> = readers
            .iter()
            .map(|r| (r.partition_id.clone(), r.state.clone()))
            .collect();
        let range = config.until.clone().map(|until| RangeSpec {
            target: target.clone(),
            from: config.start.clone(),
            until,
            readers: readers
                .iter()
                .map(|r| (r.partition_id.clone(), r.stopper()))
                .collect(),
        });
        tokio::spawn(collect(
            rx,
            Shared {
                store: store.clone(),
                snapshot: snapshot_tx,
                waker,
            },
            states,
            paused_rx,
            range,
            cancel.clone(),
        ));
        tokio::spawn(poll_properties(
            target.clone(),
            store.clone(),
            cancel.clone(),
        ));
        Self {
            store,
            snapshot,
            readers,
            cancel,
            paused,
        }
    }

    pub fn pause(&self, paused: bool) {
        for reader in &self.readers {
            reader.pause(paused);
        }
        self.paused.send_replace(paused);
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        self.cancel.cancel();
        for reader in &self.readers {
            reader.stop();
        }
    }
}

/// What the collector writes to and whom it wakes.
struct Shared {
    store: Arc<Mutex<LiveStore>>,
    snapshot: watch::Sender<LiveSnapshot>,
    waker: Arc<dyn Fn() + Send + Sync>,
}

/// A search's range: where it starts and ends, and how to stop each partition's reader there.
struct RangeSpec {
    target: Target,
    from: StartFrom,
    until: Until,
    readers: Vec<(String, CancellationToken)>,
}

/// Fixes where each partition's range ends, from its properties now.
async fn prepare_range(spec: &RangeSpec, store: &Mutex<LiveStore>) -> Option<Ends> {
    let probe = hub::probe(&spec.target, hub::DEFAULT_TIMEOUT).await;
    let mut store = lock(store);
    let ids: Vec<String> = store.partitions.iter().map(|p| p.id.clone()).collect();
    let (ends, state) = match probe {
        Ok(probe) => {
            let chosen: Vec<_> = (probe.hub.partitions.into_iter())
                .filter(|p| ids.contains(&p.id))
                .collect();
            let ends = Ends::new(&spec.from, Some(&spec.until), &chosen);
            (Some(ends), RangeState::Reading)
        }
        Err(e) => (None, RangeState::Failed(e.to_string())),
    };
    store.range = Some(RangeProgress {
        in_range: ends.as_ref().and_then(Ends::events_in_range),
        state,
    });
    ends
}

async fn collect(
    mut rx: mpsc::Receiver<ReceivedRecord>,
    shared: Shared,
    states: Vec<(String, watch::Receiver<ReaderState>)>,
    paused: watch::Receiver<bool>,
    range: Option<RangeSpec>,
    cancel: CancellationToken,
) {
    let Shared {
        store,
        snapshot,
        waker,
    } = shared;
    let started = Instant::now();
    let mut ends = None;
    if let Some(spec) = &range {
        ends = prepare_range(spec, &store).await;
        if ends.is_none() {
            finish(&snapshot, &states, &waker);
            return;
        }
    }
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut publish = tokio::time::interval(SNAPSHOT_EVERY);
    let mut batch = Vec::with_capacity(BATCH);
    // The UI is woken only for a change: an idle view costs no frames (issue: a core spent
    // repainting a live view on which nothing arrived).
    let mut received = false;
    let mut last: Option<LiveSnapshot> = None;
    while !ends.as_ref().is_some_and(Ends::all_done) {
        tokio::select! {
            () = cancel.cancelled() => break,
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 { break; }
                let mut store = lock(&store);
                for record in batch.drain(..) {
                    if ends.as_mut().is_none_or(|ends| ends.admit(&record)) {
                        store.push(record);
                    }
                }
                received = true;
            }
            _ = second.tick() => {
                if lock(&store).tick() {
                    waker();
                }
            }
            _ = publish.tick() => {
                let next = LiveSnapshot {
                    states: states.iter().map(|(id, s)| (id.clone(), s.borrow().clone())).collect(),
                    running: true,
                    paused: *paused.borrow(),
                };
                if received || last.as_ref() != Some(&next) {
                    snapshot.send_replace(next.clone());
                    last = Some(next);
                    received = false;
                    waker();
                }
            }
        }
        // A partition at its end has nothing more to read.
        if let (Some(ends), Some(spec)) = (&ends, &range) {
            for (id, stop) in &spec.readers {
                if ends.done(id) {
                    stop.cancel();
                }
            }
        }
    }
    if let Some(range) = lock(&store).range.as_mut() {
        if ends.as_ref().is_some_and(Ends::all_done) {
            range.state = RangeState::Finished(started.elapsed());
        }
    }
    finish(&snapshot, &states, &waker);
}

/// The view has stopped: readers that ended for good keep saying why (an unknown consumer
/// group); the rest stopped.
fn finish(
    snapshot: &watch::Sender<LiveSnapshot>,
    states: &[(String, watch::Receiver<ReaderState>)],
    waker: &Arc<dyn Fn() + Send + Sync>,
) {
    snapshot.send_modify(|s| {
        s.running = false;
        s.states = states
            .iter()
            .map(|(id, state)| {
                let state = state.borrow().clone();
                let kept = matches!(state, ReaderState::Failed(_) | ReaderState::Displaced(_));
                (id.clone(), if kept { state } else { ReaderState::Stopped })
            })
            .collect();
    });
    waker();
}

/// Keeps the last enqueued sequence numbers fresh, for lag.
async fn poll_properties(target: Target, store: Arc<Mutex<LiveStore>>, cancel: CancellationToken) {
    let client = tokio::select! {
        () = cancel.cancelled() => return,
        client = hub::within("connect", hub::DEFAULT_TIMEOUT, target.open_consumer()) => client,
    };
    let Ok(client) = client else {
        return; // the readers report connection trouble; lag stays unknown
    };
    let ids: Vec<String> = lock(&store)
        .partitions
        .iter()
        .map(|p| p.id.clone())
        .collect();
    let mut every = tokio::time::interval(PROPERTIES_EVERY);
    'poll: loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            _ = every.tick() => {}
        }
        for id in &ids {
            let read = tokio::select! {
                () = cancel.cancelled() => break 'poll,
                read = tokio::time::timeout(hub::DEFAULT_TIMEOUT, client.get_partition_properties(id)) => read,
            };
            let Ok(Ok(props)) = read else { continue };
            let mut store = lock(&store);
            if let Some(p) = store.partitions.iter_mut().find(|p| p.id == *id) {
                p.lag.polled(
                    props.beginning_sequence_number,
                    props.last_enqueued_sequence_number,
                    props.is_empty,
                    props.last_enqueued_time_utc,
                );
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
}
