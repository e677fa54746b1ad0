//! Lag and rates per partition. Lag is measured in sequence numbers (never offsets): the last
//! enqueued sequence number (polled from the partition's properties) minus the last one read;
//! and in time: the last enqueued time minus the enqueued time of the last event read.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionLag {
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
    /// Events enqueued but not yet read. Before the first read, everything retained counts.
    #[must_use]
    pub fn events(&self) -> Option<i64> {
        let last = self.last_enqueued_sequence?;
        let read = match (self.last_read_sequence, self.beginning_sequence) {
            (Some(read), _) => read,
            (None, Some(beginning)) => beginning - 1,
            (None, None) => return None,
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
