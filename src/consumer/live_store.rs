//! What a live view keeps: the newest N events and the filtered subset of them, per-partition
//! rates, lag and their series, and a search's progress. The collector writes it on the
//! runtime; the UI locks it only briefly, to copy the rows it draws.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::filter::EventFilter;
use super::lag::{Baseline, PartitionLag, RateMeter, Series};
use super::record::ReceivedRecord;
use super::StartFrom;

/// How long series are kept: the widest chart window.
const SERIES_KEPT: Duration = Duration::from_secs(15 * 60);

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
    /// Events the filter let through since the view (or its filter) started.
    pub matched: u64,
    /// The range being searched, when the view has an end.
    pub range: Option<RangeProgress>,
    pub partitions: Vec<PartitionStats>,
    filter: Arc<EventFilter>,
    /// Seconds since the view started, for series.
    started: Instant,
}

impl LiveStore {
    pub(super) fn new(
        partitions: &[String],
        capacity: usize,
        start: &StartFrom,
        filter: EventFilter,
    ) -> Self {
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
            matched: 0,
            range: None,
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
            filter: Arc::new(filter),
            started: Instant::now(),
        }
    }

    pub(super) fn push(&mut self, record: ReceivedRecord) {
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
            self.matched += 1;
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
    /// newest are kept, and how many of those the filter shows; numbers written by `number`
    /// (the UI's has thousands separators).
    #[must_use]
    pub fn counts_text(&self, number: impl Fn(u64) -> String) -> String {
        let kept = self.all.len() as u64;
        let gone = self.received - kept;
        let kept_text = if gone > 0 {
            format!(
                ", the newest {} kept ({} no longer kept)",
                number(kept),
                number(gone)
            )
        } else {
            String::new()
        };
        let shown = number(self.shown.len() as u64);
        let shown_text = if self.filter.is_empty() {
            format!("{shown} shown")
        } else {
            format!("{shown} match the filter")
        };
        format!(
            "{} received{kept_text}, {shown_text}",
            number(self.received)
        )
    }

    /// Closes a second of rates and samples the series; whether any rate or lag changed (what
    /// the UI would draw differently).
    pub(super) fn tick(&mut self) -> bool {
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
        self.matched = 0;
        (self.all.iter().cloned().collect(), self.filter.clone())
    }

    /// Second half: `matched` (in order) goes before whatever matched since the first half.
    pub fn finish_refilter(&mut self, matched: Vec<Arc<ReceivedRecord>>) {
        let since = std::mem::take(&mut self.shown);
        self.matched += matched.len() as u64;
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

/// How far a search of a range of the hub has come. Events scanned are the store's `received`,
/// matches its `matched`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeProgress {
    /// Events between the start and the end, when the positions tell it.
    pub in_range: Option<u64>,
    pub state: RangeState,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RangeState {
    /// Reading the partitions' properties, to fix where each ends.
    Preparing,
    Reading,
    /// Every partition reached its end, after this long.
    Finished(Duration),
    /// Where the range ends could not be read.
    Failed(String),
}

impl RangeProgress {
    /// The share of the range scanned, when its size is known.
    #[must_use]
    pub fn fraction(&self, scanned: u64) -> Option<f32> {
        #[allow(clippy::cast_precision_loss)] // counts far below 2^24 matter only as a share
        self.in_range.map(|total| {
            if total == 0 {
                1.0
            } else {
                (scanned as f32 / total as f32).min(1.0)
            }
        })
    }
}

/// Locks the store, recovering from a poisoned lock (a panic elsewhere must not blank the view).
pub fn lock(store: &Mutex<LiveStore>) -> MutexGuard<'_, LiveStore> {
    store
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A view's store holding events `seqs` of partition "0", for the UI's tests.
#[cfg(test)]
pub(crate) fn test_store(seqs: std::ops::Range<i64>) -> LiveStore {
    let all = EventFilter::none();
    let mut store = LiveStore::new(&["0".into()], 100, &StartFrom::Earliest, all);
    for seq in seqs {
        store.push(super::record::test_record("0", seq, "{}"));
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::consumer::record::test_record as record;

    #[test]
    fn keeps_the_newest_and_its_counts_add_up() {
        let mut store = LiveStore::new(
            &["0".into(), "1".into()],
            3,
            &StartFrom::Earliest,
            EventFilter::none(),
        );
        for seq in 0..5 {
            store.push(record("0", seq, &format!("e{seq}")));
        }
        assert_eq!(store.shown.len(), 3);
        assert_eq!(store.shown[0].sequence_number, 2);
        assert_eq!(
            store.counts_text(|n| n.to_string()),
            "5 received, the newest 3 kept (2 no longer kept), 3 shown"
        );
        assert_eq!(store.received, 5);
        assert_eq!(store.partitions[0].lag.last_read_sequence, Some(4));
    }

    #[test]
    fn a_new_filter_applies_to_what_is_kept() {
        let mut store =
            LiveStore::new(&["0".into()], 10, &StartFrom::Earliest, EventFilter::none());
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
