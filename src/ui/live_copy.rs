//! What a frame of the live view draws, copied out of the runtime's store. While the runtime
//! holds the store (a batch of events going in), the frame draws the copy the last frame took
//! rather than wait: waiting cost frames up to 22 ms under load (measured, README "Where the
//! load runs"). The one wait left is for the list's rows when the list has moved (a scroll, a
//! view still filling up) in a frame the store is busy. The charts are drawn from the copy, so
//! the runtime never waits for a plot.

use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, Weak};

use crate::bridge::LiveHandle;
use crate::consumer::live::{self, LiveStore, RangeProgress};
use crate::consumer::ReceivedRecord;

use super::format::count;
use super::live_charts::{ChartLines, PartitionRow};

/// A search's progress as the bar shows it.
pub struct SearchProgress {
    pub range: RangeProgress,
    pub scanned: u64,
    pub matched: u64,
    pub events_per_sec: u64,
}

/// The store's numbers for one frame: the partition table, the counts line, the charts.
pub struct LiveCopy {
    /// The store this was copied from: a copy of the previous view is never drawn for a new one.
    /// Weak, so that a stopped view's events are not kept alive by its last copy.
    of: Weak<Mutex<LiveStore>>,
    pub rows: Vec<PartitionRow>,
    pub counts: String,
    pub shown: usize,
    pub now_secs: f64,
    pub search: Option<SearchProgress>,
    pub charts: ChartLines,
    /// Drawn again because the store was busy: what it shows may be a frame old.
    pub stale: bool,
}

/// What the charts cover: the window's length and at most how many points per line.
#[derive(Clone, Copy)]
pub struct ChartSpan {
    pub window_secs: f64,
    pub max_points: usize,
}

impl LiveCopy {
    /// This frame's copy: a fresh one when the store is free (or there is nothing to fall back
    /// on), else the last one.
    #[must_use]
    pub fn refreshed(last: Option<Self>, handle: &LiveHandle, span: ChartSpan) -> Self {
        let last = last.filter(|c| is_of(&c.of, &handle.store));
        let store = match (try_lock(&handle.store), last) {
            (Some(store), _) => store,
            (None, Some(last)) => {
                return Self {
                    stale: true,
                    ..last
                }
            }
            (None, None) => live::lock(&handle.store),
        };
        let snapshot = handle.snapshot.borrow();
        let rate: u64 = store.partitions.iter().map(|p| p.rate.events_per_sec).sum();
        let now_secs = store.elapsed_secs();
        Self {
            of: Arc::downgrade(&handle.store),
            rows: (store.partitions.iter())
                .map(|p| PartitionRow::from_stats(p, &snapshot.states))
                .collect(),
            counts: store.counts_text(count),
            shown: store.shown.len(),
            now_secs,
            search: store.range.clone().map(|range| SearchProgress {
                range,
                scanned: store.received,
                matched: store.matched,
                events_per_sec: rate,
            }),
            charts: ChartLines::copy(&store, now_secs - span.window_secs, span.max_points),
            stale: false,
        }
    }
}

/// The event list's rows in view, and which rows of which store they are.
pub struct VisibleRows {
    of: Weak<Mutex<LiveStore>>,
    range: Range<usize>,
    pub rows: Vec<Arc<ReceivedRecord>>,
    /// The last frame's rows, drawn again because the store was busy.
    pub stale: bool,
}

impl VisibleRows {
    /// The rows in `range`: copied when the store is free; the last frame's when it is busy and
    /// the range is the same; else copied after a wait (the last rows drawn at a moved range
    /// would show the list jumping back for a frame).
    #[must_use]
    pub fn refreshed(
        last: Option<Self>,
        store: &Arc<Mutex<LiveStore>>,
        range: Range<usize>,
    ) -> Self {
        let last = last.filter(|v| is_of(&v.of, store) && v.range == range);
        let guard = match (try_lock(store), last) {
            (Some(guard), _) => guard,
            (None, Some(last)) => {
                return Self {
                    stale: true,
                    ..last
                }
            }
            (None, None) => live::lock(store),
        };
        let end = range.end.min(guard.shown.len());
        let rows = (guard.shown.range(range.start.min(end)..end))
            .cloned()
            .collect();
        Self {
            of: Arc::downgrade(store),
            range,
            rows,
            stale: false,
        }
    }
}

/// Whether a copy was taken of `store`. A `Weak` keeps its allocation, so no later store can
/// take the same address while the copy exists.
fn is_of(copied: &Weak<Mutex<LiveStore>>, store: &Arc<Mutex<LiveStore>>) -> bool {
    std::ptr::eq(copied.as_ptr(), Arc::as_ptr(store))
}

/// The store if no one holds it; a poisoned store is still read (see `live::lock`).
fn try_lock(store: &Mutex<LiveStore>) -> Option<MutexGuard<'_, LiveStore>> {
    match store.try_lock() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::consumer::live::{test_store, LiveSnapshot};

    const SPAN: ChartSpan = ChartSpan {
        window_secs: 60.0,
        max_points: 100,
    };

    fn handle(store: LiveStore) -> (LiveHandle, tokio::sync::watch::Sender<LiveSnapshot>) {
        let (tx, snapshot) = tokio::sync::watch::channel(LiveSnapshot::default());
        let store = Arc::new(Mutex::new(store));
        (LiveHandle { store, snapshot }, tx)
    }

    #[test]
    fn a_busy_store_is_drawn_from_the_last_copy_without_waiting() {
        let (view, _tx) = handle(test_store(0..3));
        let first = LiveCopy::refreshed(None, &view, SPAN);
        assert_eq!((first.shown, first.stale), (3, false));
        let rows = VisibleRows::refreshed(None, &view.store, 0..3);
        let seqs = |v: &VisibleRows| v.rows.iter().map(|r| r.sequence_number).collect::<Vec<_>>();
        assert_eq!(seqs(&rows), [0, 1, 2]);
        {
            // The runtime holds the store (here, this thread: waiting would never end).
            let mut store = live::lock(&view.store);
            store.set_capacity(1);
            let again = LiveCopy::refreshed(Some(first), &view, SPAN);
            assert_eq!((again.shown, again.stale), (3, true));
            let rows = VisibleRows::refreshed(Some(rows), &view.store, 0..3);
            assert_eq!((seqs(&rows), rows.stale), (vec![0, 1, 2], true));
        }
        let fresh = LiveCopy::refreshed(None, &view, SPAN);
        assert_eq!((fresh.shown, fresh.stale), (1, false));
        assert_eq!(seqs(&VisibleRows::refreshed(None, &view.store, 0..3)), [2]);
    }

    #[test]
    fn another_views_copy_is_never_drawn() {
        let (old, _old_tx) = handle(test_store(0..3));
        let (new, _new_tx) = handle(test_store(0..5));
        let last = LiveCopy::refreshed(None, &old, SPAN);
        assert_eq!(LiveCopy::refreshed(Some(last), &new, SPAN).shown, 5);
        let rows = VisibleRows::refreshed(None, &old.store, 0..5);
        let rows = VisibleRows::refreshed(Some(rows), &new.store, 0..5);
        assert_eq!(rows.rows.len(), 5);
    }
}
