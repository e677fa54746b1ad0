//! Numbers and times as people read them: counts with thousands separators, bytes in
//! KiB/MiB/GiB, and times in UTC or local time as the status bar's choice says.

use std::sync::OnceLock;
use std::time::SystemTime;

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// How times are shown: in UTC (the service's own) or in the machine's local time. Kept in
/// egui's memory, so that every panel of one window reads the same choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Utc,
    Local,
}

static LOCAL_OFFSET: OnceLock<UtcOffset> = OnceLock::new();

/// Reads the machine's offset from UTC. `time` reads it only while the process has one thread
/// (another could change the environment under it), so `main` calls this first; without it, or
/// where it cannot be read, local time is shown as UTC. A change of offset (daylight saving)
/// while the app runs is seen at its next start.
pub fn remember_local_offset() {
    if let Ok(offset) = UtcOffset::current_local_offset() {
        let _ = LOCAL_OFFSET.set(offset);
    }
}

impl Zone {
    fn id() -> egui::Id {
        egui::Id::unique("hubscope_time_zone")
    }

    /// The window's choice.
    #[must_use]
    pub fn of(ctx: &egui::Context) -> Self {
        ctx.data(|d| d.get_temp(Self::id())).unwrap_or_default()
    }

    pub fn choose(self, ctx: &egui::Context) {
        ctx.data_mut(|d| d.insert_temp(Self::id(), self));
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Utc => "UTC",
            Self::Local => "local time",
        }
    }

    fn offset(self) -> UtcOffset {
        match self {
            Self::Utc => UtcOffset::UTC,
            Self::Local => LOCAL_OFFSET.get().copied().unwrap_or(UtcOffset::UTC),
        }
    }

    /// RFC 3339, with the zone's offset (`Z` in UTC).
    #[must_use]
    pub fn timestamp(self, t: SystemTime) -> String {
        OffsetDateTime::from(t)
            .to_offset(self.offset())
            .format(&Rfc3339)
            .unwrap_or_default()
    }

    /// `14:03:07.250`: what tells rows apart; the date is in the detail pane.
    #[must_use]
    pub fn time_of_day(self, t: SystemTime) -> String {
        OffsetDateTime::from(t)
            .to_offset(self.offset())
            .format(time::macros::format_description!(
                "[hour]:[minute]:[second].[subsecond digits:3]"
            ))
            .unwrap_or_default()
    }
}

/// `1234567` → `1,234,567`.
#[must_use]
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1536` → `1.5 KiB`; below a KiB, bytes.
#[must_use]
#[allow(clippy::cast_precision_loss)] // a display rounded to one decimal
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_and_bytes_read_well() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(1000), "1,000");
        assert_eq!(super::count(100_056), "100,056");
        assert_eq!(super::count(1_234_567), "1,234,567");
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(1536), "1.5 KiB");
        assert_eq!(super::bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn times_read_in_the_chosen_zone() {
        use super::Zone;
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_650_000_250);
        assert_eq!(Zone::Utc.timestamp(t), "2025-12-02T04:33:20.25Z");
        assert_eq!(Zone::Utc.time_of_day(t), "04:33:20.250");
        let ctx = egui::Context::default();
        assert_eq!(Zone::of(&ctx), Zone::Utc, "UTC until the user chooses");
        Zone::Local.choose(&ctx);
        assert_eq!(Zone::of(&ctx), Zone::Local);
    }
}
