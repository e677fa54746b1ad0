//! What a load run measured: latency from each event's due time (open model) and from the actual
//! send, in HDR histograms; one-second windows; errors by kind; and the final report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::plan::Plan;

/// Highest latency recorded without saturating: an hour, in microseconds.
const MAX_LATENCY_US: u64 = 3_600_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Throttled or server busy: the namespace is at its limits.
    Throttled,
    Timeout,
    Unauthorized,
    Other,
}

impl ErrorKind {
    /// Sorts an error's text into a kind, by the service's condition names.
    #[must_use]
    pub fn classify(error: &str) -> Self {
        let e = error.to_ascii_lowercase();
        if e.contains("server-busy")
            || e.contains("serverbusy")
            || e.contains("throttl")
            || e.contains("resource-limit-exceeded")
        {
            Self::Throttled
        } else if e.contains("timeout") || e.contains("timed out") || e.contains("no answer within")
        {
            Self::Timeout
        } else if e.contains("unauthorized") || e.contains("401") {
            Self::Unauthorized
        } else {
            Self::Other
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SecondStats {
    pub second: u64,
    pub target_events: u64,
    pub sent_events: u64,
    pub failed_events: u64,
    pub bytes: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// The histogram could not be serialized (the serializer's own words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the latency histogram could not be written: {0}")]
pub struct HistogramError(String);

/// The run's summary; `--output json` prints this.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `null` for `--rate max`.
    pub target_rate_per_sec: Option<f64>,
    pub achieved_rate_per_sec: f64,
    /// Only events the hub acknowledged.
    pub events_sent: u64,
    pub events_failed: u64,
    pub bytes_sent: u64,
    pub duration_secs: f64,
    /// From each event's due time to its acknowledgement.
    pub latency_ms: Percentiles,
    /// From the send call to the acknowledgement.
    pub send_latency_ms: Percentiles,
    pub errors: BTreeMap<ErrorKind, u64>,
    pub throughput_units_needed: Option<u32>,
    /// With `--end-to-end`: events read back and produce → consume latency per partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_to_end: Option<EndToEndReport>,
}

/// What `--end-to-end` adds to the report (`end_to_end` reads the events back).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndToEndReport {
    /// Events of this run read back.
    pub received: u64,
    /// Produce → consume latency per partition.
    pub per_partition_ms: BTreeMap<String, Percentiles>,
}

pub struct Metrics {
    from_due: Histogram<u64>,
    from_send: Histogram<u64>,
    window: Histogram<u64>,
    current: SecondStats,
    pub seconds: Vec<SecondStats>,
    events_sent: u64,
    events_failed: u64,
    bytes_sent: u64,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Acknowledged events per destination (a partition id, `key …`, or `spread`).
    pub per_destination: BTreeMap<String, u64>,
}

fn histogram() -> Histogram<u64> {
    // Constant bounds that hdrhistogram accepts: nothing at run time can make this fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .expect("1 µs to 1 h at 3 digits are valid bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_LATENCY_US)
}

#[allow(clippy::cast_precision_loss)]
fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            from_due: histogram(),
            from_send: histogram(),
            window: histogram(),
            current: SecondStats::default(),
            seconds: Vec::new(),
            events_sent: 0,
            events_failed: 0,
            bytes_sent: 0,
            errors: BTreeMap::new(),
            per_destination: BTreeMap::new(),
        }
    }
}

impl Metrics {
    /// A publish the hub acknowledged: each event's latency from its own due time, and the
    /// publish's from the send.
    pub fn acknowledged(
        &mut self,
        from_due: impl IntoIterator<Item = Duration>,
        from_send: Duration,
        bytes: u64,
    ) {
        let mut events = 0;
        for latency in from_due {
            let us = micros(latency);
            let _ = self.from_due.record(us);
            let _ = self.window.record(us);
            events += 1;
        }
        let _ = self.from_send.record_n(micros(from_send), events);
        self.events_sent += events;
        self.bytes_sent += bytes;
        self.current.sent_events += events;
        self.current.bytes += bytes;
    }

    pub fn count_destination(&mut self, destination: &str, events: u64) {
        *self
            .per_destination
            .entry(destination.to_string())
            .or_default() += events;
    }

    /// The latency-from-due histogram in the HDR V2 compressed format, base64 (what `HdrHistogram`
    /// tools read).
    ///
    /// # Errors
    /// A [`HistogramError`] when the serializer fails (it compresses in memory).
    pub fn hdr_base64(&self) -> Result<String, HistogramError> {
        use base64::Engine as _;
        use hdrhistogram::serialization::Serializer as _;
        let mut bytes = Vec::new();
        hdrhistogram::serialization::V2DeflateSerializer::new()
            .serialize(&self.from_due, &mut bytes)
            .map_err(|e| HistogramError(e.to_string()))?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn failed(&mut self, error: &str, events: u64) {
        *self.errors.entry(ErrorKind::classify(error)).or_default() += events;
        self.events_failed += events;
        self.current.failed_events += events;
    }

    /// Closes the current second (the runner calls this once a second).
    pub fn close_second(&mut self, target_events: u64) {
        let mut done = std::mem::take(&mut self.current);
        done.second = self.seconds.len() as u64;
        done.target_events = target_events;
        if !self.window.is_empty() {
            done.p50_ms = ms(self.window.value_at_quantile(0.5));
            done.p90_ms = ms(self.window.value_at_quantile(0.9));
            done.p99_ms = ms(self.window.value_at_quantile(0.99));
            done.max_ms = ms(self.window.max());
        }
        self.window.reset();
        self.seconds.push(done);
    }

    #[must_use]
    pub fn report(&self, plan: &Plan, duration: Duration) -> Report {
        let percentiles = |h: &Histogram<u64>| Percentiles {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        };
        let secs = duration.as_secs_f64().max(1e-9);
        #[allow(clippy::cast_precision_loss)]
        let achieved = self.events_sent as f64 / secs;
        Report {
            target_rate_per_sec: plan.peak_rate(),
            achieved_rate_per_sec: achieved,
            events_sent: self.events_sent,
            events_failed: self.events_failed,
            bytes_sent: self.bytes_sent,
            duration_secs: secs,
            latency_ms: percentiles(&self.from_due),
            send_latency_ms: percentiles(&self.from_send),
            errors: self.errors.clone(),
            throughput_units_needed: plan.throughput_units(),
            end_to_end: None,
        }
    }

    /// The per-second windows as CSV, with a header line.
    #[must_use]
    pub fn seconds_csv(&self) -> String {
        let mut out = String::from(
            "second,target_events,sent_events,failed_events,bytes,p50_ms,p90_ms,p99_ms,max_ms\n",
        );
        for s in &self.seconds {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.3},{:.3},{:.3},{:.3}",
                s.second,
                s.target_events,
                s.sent_events,
                s.failed_events,
                s.bytes,
                s.p50_ms,
                s.p90_ms,
                s.p99_ms,
                s.max_ms
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::plan::{Rate, Routing};

    fn plan() -> Plan {
        Plan {
            rate: Rate::Fixed { per_sec: 2000.0 },
            duration: Some(Duration::from_secs(2)),
            events: None,
            event_size: 1024,
            template: None,
            batch_size: None,
            routing: Routing::Spread,
            pool_size: 1,
            in_flight_per_connection: 1,
        }
    }

    #[test]
    fn the_json_report_has_the_documented_fields() {
        let mut m = Metrics::default();
        m.acknowledged(
            (1..=100).map(Duration::from_millis),
            Duration::from_millis(3),
            100 * 1024,
        );
        m.failed("could not send: amqp:server-busy", 10);
        m.failed("no answer within 10 s while trying to send", 5);
        m.close_second(2000);
        let report = m.report(&plan(), Duration::from_secs(2));
        let json: serde_json::Value = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["target_rate_per_sec"], 2000.0);
        assert_eq!(json["events_sent"], 100);
        assert_eq!(json["events_failed"], 15);
        assert_eq!(json["bytes_sent"], 102_400);
        assert_eq!(json["achieved_rate_per_sec"], 50.0);
        assert_eq!(json["duration_secs"], 2.0);
        let p50 = json["latency_ms"]["p50"].as_f64().expect("p50");
        assert!((49.0..=51.0).contains(&p50), "{p50}");
        let max = json["latency_ms"]["max"].as_f64().expect("max");
        assert!((99.9..=100.1).contains(&max), "{max}");
        for key in ["p90", "p99", "p999"] {
            assert!(json["latency_ms"][key].is_number(), "{key}");
        }
        assert_eq!(json["errors"]["throttled"], 10);
        assert_eq!(json["errors"]["timeout"], 5);
        assert_eq!(json["throughput_units_needed"], 3);
        assert!(m
            .seconds_csv()
            .lines()
            .nth(1)
            .expect("a second")
            .starts_with("0,2000,100,15,"));
    }

    #[test]
    fn max_has_no_target() {
        let mut p = plan();
        p.rate = Rate::Max;
        let json = serde_json::to_value(Metrics::default().report(&p, Duration::from_secs(1)))
            .expect("json");
        assert!(json["target_rate_per_sec"].is_null());
    }

    #[test]
    fn errors_are_sorted_by_kind() {
        assert_eq!(
            ErrorKind::classify("amqp:unauthorized-access"),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            ErrorKind::classify("ServerBusy: try later"),
            ErrorKind::Throttled
        );
        assert_eq!(ErrorKind::classify("connection refused"), ErrorKind::Other);
    }
}
