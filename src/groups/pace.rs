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
        Pace {
            consumed_per_sec: match last.checkpoint {
                // No checkpoint yet: the group has read nothing.
                None => rate(first, last, |_| Some(0)),
                // Counted from the first reading that had a checkpoint: one that appears is
                // not progress from zero.
                Some(_) => readings
                    .iter()
                    .find(|r| r.checkpoint.is_some())
                    .and_then(|since| rate(since, last, |r| r.checkpoint)),
            },
            ingress_per_sec: rate(first, last, |r| Some(r.last_enqueued)),
        }
    }
}

/// How fast `value` grew from `from` to `to`; `None` over less than [`MIN_SPAN`].
fn rate(from: &Reading, to: &Reading, value: impl Fn(&Reading) -> Option<i64>) -> Option<f64> {
    let span = to.at.duration_since(from.at);
    if span < MIN_SPAN {
        return None;
    }
    let grown = u64::try_from(value(to)? - value(from)?).unwrap_or(0);
    Some(super::as_f64(grown) / span.as_secs_f64())
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
    fn a_first_checkpoint_is_not_progress_from_zero() {
        let mut tracker = PaceTracker::default();
        let start = Instant::now();
        tracker.record("g", "0", start, None, 0);
        tracker.record("g", "0", start + Duration::from_secs(5), Some(500), 100);
        let pace = tracker.record("g", "0", start + Duration::from_secs(10), Some(550), 200);
        assert_eq!(pace.consumed_per_sec, Some(10.0));
        assert_eq!(pace.ingress_per_sec, Some(20.0));
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
