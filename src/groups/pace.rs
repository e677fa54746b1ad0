//! A group's pace on each partition: how fast its checkpoint advances, against how fast events
//! arrive, over the readings of the last minute.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Rates over the window; `None` until two readings are at least [`MIN_SPAN`] apart.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pace {
    pub consumed_per_sec: Option<f64>,
    pub ingress_per_sec: Option<f64>,
}

/// Readings closer together than this say nothing about a rate.
const MIN_SPAN: Duration = Duration::from_secs(2);
/// Older readings fall out: the pace is the recent one.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    checkpoint: Option<i64>,
    last_enqueued: i64,
}

/// Readings by (group, partition).
#[derive(Debug, Default)]
pub struct PaceTracker {
    readings: HashMap<(String, String), VecDeque<Reading>>,
}

impl PaceTracker {
    /// Records a reading and returns the pace over the window.
    pub fn record(
        &mut self,
        group: &str,
        partition: &str,
        at: Instant,
        checkpoint: Option<i64>,
        last_enqueued: i64,
    ) -> Pace {
        let readings = self
            .readings
            .entry((group.to_ascii_lowercase(), partition.to_string()))
            .or_default();
        readings.push_back(Reading {
            at,
            checkpoint,
            last_enqueued,
        });
        while readings
            .front()
            .is_some_and(|r| at.duration_since(r.at) > WINDOW)
        {
            readings.pop_front();
        }
        let (Some(first), Some(last)) = (readings.front(), readings.back()) else {
            return Pace::default();
        };
        let span = last.at.duration_since(first.at);
        if span < MIN_SPAN {
            return Pace::default();
        }
        let per_sec = |from: i64, to: i64| {
            super::as_f64(u64::try_from(to - from).unwrap_or(0)) / span.as_secs_f64()
        };
        Pace {
            // A checkpoint that appears counts from the window's start only once it exists.
            consumed_per_sec: match (first.checkpoint, last.checkpoint) {
                (Some(from), Some(to)) => Some(per_sec(from, to)),
                (None, Some(_)) => None,
                (_, None) => Some(0.0),
            },
            ingress_per_sec: Some(per_sec(first.last_enqueued, last.last_enqueued)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let mut tracker = PaceTracker::default();
        let start = Instant::now();
        let first = tracker.record("g", "0", start, Some(100), 1000);
        assert_eq!(first, Pace::default());
        let pace = tracker.record("G", "0", start + Duration::from_secs(10), Some(200), 1500);
        assert_eq!(pace.consumed_per_sec, Some(10.0));
        assert_eq!(pace.ingress_per_sec, Some(50.0));
        // Over a minute later the first reading has fallen out: no progress since the second.
        let later = tracker.record("g", "0", start + Duration::from_secs(65), Some(200), 1500);
        assert_eq!(later.consumed_per_sec, Some(0.0));
    }

    #[test]
    fn a_group_without_checkpoints_consumes_nothing() {
        let mut tracker = PaceTracker::default();
        let start = Instant::now();
        tracker.record("g", "0", start, None, 10);
        let pace = tracker.record("g", "0", start + Duration::from_secs(5), None, 20);
        assert_eq!(pace.consumed_per_sec, Some(0.0));
        assert_eq!(pace.ingress_per_sec, Some(2.0));
    }
}
