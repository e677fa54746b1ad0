//! A live view's engine: readers for the chosen partitions, and a collector that keeps the newest
//! N events (and the filtered subset of them), rates, lag and their series. Everything per event
//! happens here on the runtime; the UI locks [`LiveStore`] only briefly, to copy the rows it
//! draws, and gets the rest as a [`LiveSnapshot`] a few times a second.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::filter::EventFilter;
use super::lag::{Baseline, PartitionLag, RateMeter, Series};
use super::reader::{spawn_readers, ReaderHandle, ReaderSpec, ReaderState};
use super::record::ReceivedRecord;
use super::StartFrom;
use crate::hub::{self, Target};

/// Events kept by default; the oldest scroll out.
pub const DEFAULT_CAPACITY: usize = 100_000;
/// How long series are kept: the widest chart window.
const SERIES_KEPT: Duration = Duration::from_secs(15 * 60);
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
        }
    }
}

/// Per-partition numbers and series, kept with the events.
#[derive(Debug, Clone)]
pub struct PartitionStats {
    pub id: String,
    pub rate: RateMeter,
    pub lag: PartitionLag,
    pub lag_series: Series,
    pub rate_series: Series,
    /// Events/s and lag at the last tick: the UI needs waking only when they change.
    last_tick: (u64, Option<i64>),
}

/// The events and series behind a live view.
#[derive(Debug)]
pub struct LiveStore {
    /// Newest last; at most `capacity`.
    all: VecDeque<Arc<ReceivedRecord>>,
    /// The subset the filter lets through; newest last; at most `capacity`.
    pub shown: VecDeque<Arc<ReceivedRecord>>,
    pub capacity: usize,
    pub received: u64,
    pub partitions: Vec<PartitionStats>,
    filter: Arc<EventFilter>,
    /// Seconds since the view started, for series.
    started: Instant,
}

impl LiveStore {
    fn new(partitions: &[String], capacity: usize, start: &StartFrom) -> Self {
        let baseline = match start {
            StartFrom::Earliest => Baseline::Beginning,
            StartFrom::Latest => Baseline::LastEnqueuedAtStart,
            StartFrom::SequenceNumber(n) => Baseline::Before(n - 1),
            StartFrom::Offset(_) | StartFrom::EnqueuedTime(_) => Baseline::FirstRead,
        };
        Self {
            all: VecDeque::new(),
            shown: VecDeque::new(),
            capacity: capacity.max(1),
            received: 0,
            partitions: partitions
                .iter()
                .map(|id| PartitionStats {
                    id: id.clone(),
                    rate: RateMeter::default(),
                    lag: PartitionLag {
                        baseline,
                        ..PartitionLag::default()
                    },
                    lag_series: Series::new(SERIES_KEPT),
                    rate_series: Series::new(SERIES_KEPT),
                    last_tick: (0, None),
                })
                .collect(),
            filter: Arc::new(EventFilter::none()),
            started: Instant::now(),
        }
    }

    fn push(&mut self, record: ReceivedRecord) {
        self.received += 1;
        if let Some(p) = self
            .partitions
            .iter_mut()
            .find(|p| p.id == record.partition_id)
        {
            p.rate.record(record.body.len());
            p.lag.last_read_sequence = Some(record.sequence_number);
            p.lag.last_read_enqueued_time = record.enqueued_time;
        }
        let record = Arc::new(record);
        if self.filter.matches(&record) {
            self.shown.push_back(record.clone());
            if self.shown.len() > self.capacity {
                self.shown.pop_front();
            }
        }
        self.all.push_back(record);
        if self.all.len() > self.capacity {
            self.all.pop_front();
        }
    }

    /// The view's counts, said so that they always add up: everything received, how many of the
    /// newest are kept, and how many of those the filter shows.
    #[must_use]
    pub fn counts_text(&self) -> String {
        let kept = self.all.len() as u64;
        let gone = self.received - kept;
        let kept_text = if gone > 0 {
            format!(", the newest {kept} kept ({gone} no longer kept)")
        } else {
            String::new()
        };
        let shown = self.shown.len();
        let shown_text = if self.filter.is_empty() {
            format!("{shown} shown")
        } else {
            format!("{shown} match the filter")
        };
        format!("{} received{kept_text}, {shown_text}", self.received)
    }

    /// Closes a second of rates and samples the series; whether any rate or lag changed (what
    /// the UI would draw differently).
    fn tick(&mut self) -> bool {
        let t = self.started.elapsed().as_secs_f64();
        let mut changed = false;
        for p in &mut self.partitions {
            p.rate.tick();
            let now = (p.rate.events_per_sec, p.lag.events());
            changed |= p.last_tick != now;
            p.last_tick = now;
            #[allow(clippy::cast_precision_loss)] // rates and lags far below 2^52
            {
                p.rate_series.push(t, p.rate.events_per_sec as f64);
                if let Some(lag) = p.lag.events() {
                    p.lag_series.push(t, lag as f64);
                }
            }
        }
        changed
    }

    /// Seconds since the view started (the x axis of the series).
    #[must_use]
    pub fn elapsed_secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Applies a new filter to what is kept, and to what comes (small stores; tests).
    pub fn set_filter(&mut self, filter: EventFilter) {
        let (kept, filter) = self.begin_refilter(filter);
        let matched = kept.into_iter().filter(|r| filter.matches(r)).collect();
        self.finish_refilter(matched);
    }

    /// First half of a refilter that runs outside the lock: new events use `filter` from now
    /// on; the events kept so far are returned to be filtered by the caller.
    pub fn begin_refilter(
        &mut self,
        filter: EventFilter,
    ) -> (Vec<Arc<ReceivedRecord>>, Arc<EventFilter>) {
        self.filter = Arc::new(filter);
        self.shown.clear();
        (self.all.iter().cloned().collect(), self.filter.clone())
    }

    /// Second half: `matched` (in order) goes before whatever matched since the first half.
    pub fn finish_refilter(&mut self, matched: Vec<Arc<ReceivedRecord>>) {
        let since = std::mem::take(&mut self.shown);
        self.shown = matched.into_iter().chain(since).collect();
        self.set_capacity(self.capacity);
    }

    /// Copies of the events shown (or all kept ones), for an export written outside the lock.
    #[must_use]
    pub fn export_rows(&self, only_shown: bool) -> Vec<Arc<ReceivedRecord>> {
        if only_shown {
            self.shown.iter().cloned().collect()
        } else {
            self.all.iter().cloned().collect()
        }
    }

    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.shown.len() > self.capacity {
            self.shown.pop_front();
        }
        while self.all.len() > self.capacity {
            self.all.pop_front();
        }
    }
}

/// Locks the store, recovering from a poisoned lock (a panic elsewhere must not blank the view).
pub fn lock(store: &Mutex<LiveStore>) -> MutexGuard<'_, LiveStore> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        waker: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let store = Arc::new(Mutex::new(LiveStore::new(
            partitions,
            config.capacity,
            &config.start,
        )));
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
        tokio::spawn(collect(
            rx,
            store.clone(),
            states,
            snapshot_tx,
            paused_rx,
            waker,
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

async fn collect(
    mut rx: mpsc::Receiver<ReceivedRecord>,
    store: Arc<Mutex<LiveStore>>,
    states: Vec<(String, watch::Receiver<ReaderState>)>,
    snapshot: watch::Sender<LiveSnapshot>,
    paused: watch::Receiver<bool>,
    waker: Arc<dyn Fn() + Send + Sync>,
    cancel: CancellationToken,
) {
    let mut second = tokio::time::interval(Duration::from_secs(1));
    let mut publish = tokio::time::interval(SNAPSHOT_EVERY);
    let mut batch = Vec::with_capacity(BATCH);
    // The UI is woken only for a change: an idle view costs no frames (issue: a core spent
    // repainting a live view on which nothing arrived).
    let mut received = false;
    let mut last: Option<LiveSnapshot> = None;
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            n = rx.recv_many(&mut batch, BATCH) => {
                if n == 0 { break; }
                let mut store = lock(&store);
                for record in batch.drain(..) {
                    store.push(record);
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
    }
    // Readers that ended for good keep saying why (an unknown consumer group); the rest stopped.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: &str, seq: i64, body: &str) -> ReceivedRecord {
        ReceivedRecord {
            partition_id: partition.into(),
            sequence_number: seq,
            offset: seq.to_string(),
            enqueued_time: None,
            partition_key: None,
            properties: serde_json::Map::new(),
            system_properties: Vec::new(),
            content_type: None,
            correlation_id: None,
            message_id: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn keeps_the_newest_and_its_counts_add_up() {
        let mut store = LiveStore::new(&["0".into(), "1".into()], 3, &StartFrom::Earliest);
        for seq in 0..5 {
            store.push(record("0", seq, &format!("e{seq}")));
        }
        assert_eq!(store.shown.len(), 3);
        assert_eq!(store.shown[0].sequence_number, 2);
        assert_eq!(
            store.counts_text(),
            "5 received, the newest 3 kept (2 no longer kept), 3 shown"
        );
        assert_eq!(store.received, 5);
        assert_eq!(store.partitions[0].lag.last_read_sequence, Some(4));
    }

    #[test]
    fn a_new_filter_applies_to_what_is_kept() {
        let mut store = LiveStore::new(&["0".into()], 10, &StartFrom::Earliest);
        for seq in 0..6 {
            store.push(record("0", seq, if seq % 2 == 0 { "even" } else { "odd" }));
        }
        store.set_filter(EventFilter::new("", "odd").expect("filter"));
        assert_eq!(store.shown.len(), 3);
        store.push(record("0", 6, "even"));
        store.push(record("0", 7, "odd"));
        assert_eq!(store.shown.len(), 4);
        store.set_filter(EventFilter::new("", "").expect("filter"));
        assert_eq!(store.shown.len(), 8);
    }
}
