//! Lag and rates per partition. Lag is measured in sequence numbers (never offsets): the last
//! enqueued sequence number (polled from the partition's properties) minus the last one read;
//! and in time: the last enqueued time minus the enqueued time of the last event read.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// Where the reader started, as far as lag is concerned: events before the start are not lag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Baseline {
    /// From the earliest: everything retained is waiting.
    #[default]
    Beginning,
    /// From the end: what was last enqueued when the reader started is not waiting. Taken from
    /// the first properties poll, then [`Baseline::Before`].
    LastEnqueuedAtStart,
    /// The sequence number just before the first one the reader will read.
    Before(i64),
    /// From an offset or a time: unknown until the first event arrives.
    FirstRead,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionLag {
    pub baseline: Baseline,
    /// The partition's last enqueued event, from its properties (`None`: empty or not polled yet).
    pub last_enqueued_sequence: Option<i64>,
    pub last_enqueued_time: Option<SystemTime>,
    /// The partition's first retained sequence number, from its properties.
    pub beginning_sequence: Option<i64>,
    /// The last event this reader forwarded.
    pub last_read_sequence: Option<i64>,
    pub last_read_enqueued_time: Option<SystemTime>,
}

impl PartitionLag {
    /// Records a properties poll; the first one fixes a start-from-latest reader's baseline.
    pub fn polled(
        &mut self,
        beginning: i64,
        last_enqueued: i64,
        is_empty: bool,
        time: Option<SystemTime>,
    ) {
        self.beginning_sequence = Some(beginning);
        self.last_enqueued_sequence = (!is_empty).then_some(last_enqueued);
        self.last_enqueued_time = time.filter(|_| !is_empty);
        if self.baseline == Baseline::LastEnqueuedAtStart {
            self.baseline = Baseline::Before(if is_empty {
                beginning - 1
            } else {
                last_enqueued
            });
        }
    }

    /// Events enqueued after the reader's start and not yet read: from the earliest, everything
    /// retained counts before the first read; from the latest, nothing that was already there.
    #[must_use]
    pub fn events(&self) -> Option<i64> {
        // An empty partition (once polled) has nothing waiting, whatever the start.
        let Some(last) = self.last_enqueued_sequence else {
            return self.beginning_sequence.map(|_| 0);
        };
        let read = match (self.last_read_sequence, self.baseline) {
            (Some(read), _) => read,
            (None, Baseline::Beginning) => self.beginning_sequence? - 1,
            (None, Baseline::Before(before)) => before,
            (None, Baseline::LastEnqueuedAtStart | Baseline::FirstRead) => return None,
        };
        // The properties are polled; a reader can be ahead of the last poll.
        Some((last - read).max(0))
    }

    /// How far behind in time: zero when caught up.
    #[must_use]
    pub fn time(&self) -> Option<Duration> {
        let last = self.last_enqueued_time?;
        if self.events() == Some(0) {
            return Some(Duration::ZERO);
        }
        let read = self.last_read_enqueued_time?;
        Some(last.duration_since(read).unwrap_or_default())
    }
}

/// Events and bytes per second over one-second buckets.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    events_this_second: u64,
    bytes_this_second: u64,
    /// The last completed second's totals.
    pub events_per_sec: u64,
    pub bytes_per_sec: u64,
}

impl RateMeter {
    pub fn record(&mut self, bytes: usize) {
        self.events_this_second += 1;
        self.bytes_this_second += bytes as u64;
    }

    /// Closes the current second.
    pub fn tick(&mut self) {
        self.events_per_sec = std::mem::take(&mut self.events_this_second);
        self.bytes_per_sec = std::mem::take(&mut self.bytes_this_second);
    }
}

/// A time series bounded by age: points older than `keep` fall off the front.
#[derive(Debug, Clone)]
pub struct Series {
    points: VecDeque<(f64, f64)>,
    keep_secs: f64,
}

impl Series {
    #[must_use]
    pub fn new(keep: Duration) -> Self {
        Self {
            points: VecDeque::new(),
            keep_secs: keep.as_secs_f64(),
        }
    }

    pub fn push(&mut self, t_secs: f64, value: f64) {
        self.points.push_back((t_secs, value));
        while self
            .points
            .front()
            .is_some_and(|(t, _)| *t < t_secs - self.keep_secs)
        {
            self.points.pop_front();
        }
    }

    /// The points since `since`, at most `max_points` of them: each bucket keeps its maximum, so
    /// a spike survives decimation.
    #[must_use]
    pub fn window(&self, since: f64, max_points: usize) -> Vec<[f64; 2]> {
        let points: Vec<[f64; 2]> = self
            .points
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|&(t, v)| [t, v])
            .collect();
        let max_points = max_points.max(1);
        if points.len() <= max_points {
            return points;
        }
        let per_bucket = points.len().div_ceil(max_points);
        points
            .chunks(per_bucket)
            .filter_map(|chunk| {
                chunk
                    .iter()
                    .copied()
                    .max_by(|a, b| a[1].total_cmp(&b[1]))
                    .map(|top| [chunk[chunk.len() - 1][0], top[1]])
            })
            .collect()
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.points.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn lag_in_events_and_time() {
        let mut lag = PartitionLag {
            last_enqueued_sequence: Some(99),
            last_enqueued_time: Some(at(1_000)),
            beginning_sequence: Some(10),
            ..PartitionLag::default()
        };
        assert_eq!(
            lag.events(),
            Some(90),
            "nothing read: all 90 retained events"
        );
        assert_eq!(lag.time(), None, "no event read, no time lag yet");
        lag.last_read_sequence = Some(89);
        lag.last_read_enqueued_time = Some(at(970));
        assert_eq!(lag.events(), Some(10));
        assert_eq!(lag.time(), Some(Duration::from_secs(30)));
        lag.last_read_sequence = Some(99);
        lag.last_read_enqueued_time = Some(at(1_000));
        assert_eq!(lag.events(), Some(0));
        assert_eq!(lag.time(), Some(Duration::ZERO));
        lag.last_read_sequence = Some(105);
        assert_eq!(
            lag.events(),
            Some(0),
            "a reader ahead of the last poll is not negative"
        );
        assert_eq!(PartitionLag::default().events(), None);
    }

    #[test]
    fn lag_counts_only_events_after_the_start() {
        // From the latest: the 90 already there are not lag, the 5 that arrive after are.
        let mut lag = PartitionLag {
            baseline: Baseline::LastEnqueuedAtStart,
            ..PartitionLag::default()
        };
        assert_eq!(lag.events(), None, "unknown until the first poll");
        lag.polled(10, 99, false, Some(at(1_000)));
        assert_eq!(lag.events(), Some(0));
        lag.polled(10, 104, false, Some(at(1_005)));
        assert_eq!(lag.events(), Some(5));
        // From a sequence number: only what comes from it.
        let mut from_seq = PartitionLag {
            baseline: Baseline::Before(49),
            ..PartitionLag::default()
        };
        from_seq.polled(10, 99, false, None);
        assert_eq!(from_seq.events(), Some(50));
        // From an offset or a time: unknown until an event is read.
        let mut from_time = PartitionLag {
            baseline: Baseline::FirstRead,
            ..PartitionLag::default()
        };
        from_time.polled(10, 99, false, None);
        assert_eq!(from_time.events(), None);
        from_time.last_read_sequence = Some(95);
        assert_eq!(from_time.events(), Some(4));
        // An empty partition read from the latest has nothing waiting until an event arrives.
        let mut empty = PartitionLag {
            baseline: Baseline::LastEnqueuedAtStart,
            ..PartitionLag::default()
        };
        empty.polled(0, -1, true, None);
        empty.polled(0, 0, false, None);
        assert_eq!(empty.events(), Some(1));
    }

    #[test]
    fn rates_close_each_second() {
        let mut meter = RateMeter::default();
        for _ in 0..3 {
            meter.record(100);
        }
        meter.tick();
        assert_eq!((meter.events_per_sec, meter.bytes_per_sec), (3, 300));
        meter.tick();
        assert_eq!(meter.events_per_sec, 0);
    }

    #[test]
    fn series_are_bounded_and_decimated_keeping_peaks() {
        let mut series = Series::new(Duration::from_secs(60));
        for t in 0..1_000 {
            series.push(f64::from(t), if t == 990 { 500.0 } else { 1.0 });
        }
        assert_eq!(series.len(), 61, "older than 60 s is gone");
        let drawn = series.window(900.0, 10);
        assert!(drawn.len() <= 10);
        assert!(
            drawn.iter().any(|p| (p[1] - 500.0).abs() < f64::EPSILON),
            "the spike survives"
        );
    }
}
