//! Waiting longer after each failure before trying again.

use std::time::{Duration, Instant};

/// When a failed attempt may be made again: after the first failure [`Backoff::FIRST`], doubling
/// up to [`Backoff::LONGEST`].
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(5);
    const LONGEST: Duration = Duration::from_secs(300);

    #[must_use]
    pub fn allows(&self, now: Instant) -> bool {
        self.not_before.is_none_or(|t| now >= t)
    }

    /// Doubles the wait from [`Self::FIRST`] up to [`Self::LONGEST`].
    pub fn failed(&mut self, now: Instant) {
        let wait = Self::FIRST.saturating_mul(1 << self.failures.min(16));
        self.not_before = Some(now + wait.min(Self::LONGEST));
        self.failures = self.failures.saturating_add(1);
    }

    pub fn succeeded(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_after_failures_doubles_up_to_a_bound() {
        let start = Instant::now();
        let mut backoff = Backoff::default();
        assert!(backoff.allows(start));
        let mut waits = Vec::new();
        for _ in 0..10 {
            backoff.failed(start);
            let until = backoff.not_before.expect("a wait");
            assert!(!backoff.allows(start));
            assert!(backoff.allows(until));
            waits.push(until.duration_since(start).as_secs());
        }
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300, 300]);
        backoff.succeeded();
        assert!(backoff.allows(start));
    }
}
