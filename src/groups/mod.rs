//! Consumer groups and their real lag: how far each group's checkpoints are behind the hub, who
//! owns each partition, and which events will expire before they are read.
//!
//! - [`report`]: the rules, as arithmetic over properties and checkpoints;
//! - [`pace`]: checkpoint advance and ingress per second, from successive checks;
//! - [`monitor`]: one check against a hub and a checkpoint store, or its Kafka endpoint.

pub mod monitor;
pub mod pace;
pub mod report;

pub use monitor::{HubLag, LagError, LagMonitor};
pub use report::{GroupKind, GroupLag, PartitionLag, Rules};

/// A duration as people read it: `3d 4h`, `2h 5m`, `59m 30s`, `12s`; negative ones as `-5m 2s`.
#[must_use]
pub fn format_duration(secs: f64) -> String {
    let sign = if secs < 0.0 { "-" } else { "" };
    // Whole seconds, saturating: a duration past u64 seconds is not one anyone reads.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let total = secs.abs().round() as u64;
    let (d, h, m, s) = (
        total / 86_400,
        total / 3600 % 24,
        total / 60 % 60,
        total % 60,
    );
    let text = if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    };
    format!("{sign}{text}")
}

/// An event count as a rate's numerator; counts stay far below 2^52.
#[allow(clippy::cast_precision_loss)]
#[must_use]
pub fn as_f64(count: u64) -> f64 {
    count as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_people_say_them() {
        let cases = [
            (0.0, "0s"),
            (12.4, "12s"),
            (3570.0, "59m 30s"),
            (7500.0, "2h 5m"),
            (273_600.0, "3d 4h"),
            (-302.0, "-5m 2s"),
        ];
        for (secs, text) in cases {
            assert_eq!(super::format_duration(secs), text);
        }
    }
}
