//! Open-model scheduling: event *i* is due at the time the plan's rate has produced *i* events
//! (`start + i / rate` for a fixed rate), whether or not earlier sends have finished. Latency is
//! then measured from the due time, so a stalled endpoint shows in the percentiles instead of
//! quietly slowing the generator (no coordinated omission).

use std::time::Duration;

use super::plan::Rate;

#[derive(Debug, Clone)]
pub struct Schedule {
    rate: Rate,
}

impl Schedule {
    #[must_use]
    pub fn new(rate: Rate) -> Self {
        Self { rate }
    }

    #[must_use]
    pub fn is_max(&self) -> bool {
        matches!(self.rate, Rate::Max)
    }

    /// When event `i` (from 0) is due, as an offset from the start; `None` once the plan's rate
    /// has ended (after the last step). For `max`, every event is due at once.
    #[must_use]
    #[allow(clippy::cast_precision_loss)] // event counts far below 2^52
    pub fn due(&self, i: u64) -> Option<Duration> {
        let i = i as f64;
        let secs = match &self.rate {
            Rate::Max => 0.0,
            Rate::Fixed { per_sec } => i / per_sec,
            Rate::Ramp {
                from_per_sec: a,
                to_per_sec: b,
                over,
            } => {
                let t_ramp = over.as_secs_f64();
                let during = a * t_ramp + (b - a) * t_ramp / 2.0;
                if i >= during || t_ramp == 0.0 {
                    t_ramp + (i - during.min(i)) / b
                } else if (b - a).abs() < f64::EPSILON {
                    i / a
                } else {
                    // a·t + (b−a)·t²/(2T) = i
                    let k = (b - a) / t_ramp;
                    (-a + (a * a + 2.0 * k * i).sqrt()) / k
                }
            }
            Rate::Steps { steps } => {
                let mut start = 0.0;
                let mut before = 0.0;
                let mut found = None;
                for (rate, length) in steps {
                    let count = rate * length.as_secs_f64();
                    if i < before + count {
                        found = Some(start + (i - before) / rate);
                        break;
                    }
                    before += count;
                    start += length.as_secs_f64();
                }
                found?
            }
        };
        Some(Duration::from_secs_f64(secs.max(0.0)))
    }

    /// How many events are due by `elapsed` (the first index not yet due).
    #[must_use]
    pub fn due_by(&self, elapsed: Duration, from: u64, cap: u64) -> u64 {
        if self.is_max() {
            return cap;
        }
        // Due times only grow, so a binary search over [from, cap) finds the first not yet due.
        let (mut low, mut high) = (from, cap);
        while low < high {
            let mid = low + (high - low) / 2;
            match self.due(mid) {
                Some(t) if t <= elapsed => low = mid + 1,
                _ => high = mid,
            }
        }
        low
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: Duration, secs: f64) -> bool {
        (a.as_secs_f64() - secs).abs() < 1e-6
    }

    #[test]
    fn fixed_rate() {
        let s = Schedule::new(Rate::Fixed { per_sec: 1000.0 });
        assert!(close(s.due(0).unwrap(), 0.0));
        assert!(close(s.due(1).unwrap(), 0.001));
        assert!(close(s.due(2500).unwrap(), 2.5));
        assert_eq!(s.due_by(Duration::from_millis(10), 0, 1_000_000), 11);
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 → 100 events/s over 10 s: 500 events during the ramp, then 100/s.
        let s = Schedule::new(Rate::Ramp {
            from_per_sec: 1e-9,
            to_per_sec: 100.0,
            over: Duration::from_secs(10),
        });
        assert!(
            close(s.due(125).unwrap(), 5.0),
            "a quarter of the ramp's events by half time"
        );
        assert!((s.due(500).unwrap().as_secs_f64() - 10.0).abs() < 1e-3);
        assert!((s.due(600).unwrap().as_secs_f64() - 11.0).abs() < 1e-3);
        let flat = Schedule::new(Rate::Ramp {
            from_per_sec: 50.0,
            to_per_sec: 50.0,
            over: Duration::from_secs(4),
        });
        assert!(close(flat.due(100).unwrap(), 2.0));
    }

    #[test]
    fn steps_end() {
        let s = Schedule::new(Rate::Steps {
            steps: vec![
                (10.0, Duration::from_secs(1)),
                (100.0, Duration::from_secs(1)),
            ],
        });
        assert!(close(s.due(5).unwrap(), 0.5));
        assert!(close(s.due(10).unwrap(), 1.0));
        assert!(close(s.due(60).unwrap(), 1.5));
        assert_eq!(s.due(110), None, "the plan's rate is over");
        assert_eq!(s.due_by(Duration::from_secs(5), 0, 1_000), 110);
    }

    #[test]
    fn max_is_always_due() {
        let s = Schedule::new(Rate::Max);
        assert_eq!(s.due(1_000_000), Some(Duration::ZERO));
        assert_eq!(s.due_by(Duration::ZERO, 0, 42), 42);
    }

    /// A pacer on tokio's clock releases exactly what is due, with time paused and advanced.
    #[tokio::test(start_paused = true)]
    async fn pacing_on_paused_time() {
        let s = Schedule::new(Rate::Fixed { per_sec: 200.0 });
        let start = tokio::time::Instant::now();
        let mut released = 0;
        let mut seen = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let due = s.due_by(start.elapsed(), released, u64::MAX);
            seen.push(due - released);
            released = due;
        }
        assert_eq!(released, 201, "events 0..=200 are due by 1 s");
        assert!(seen[1..].iter().all(|n| *n == 20), "{seen:?}");
    }
}
