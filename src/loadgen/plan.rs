//! A load plan: how fast (fixed, ramp, steps, or as fast as possible), for how long, what each
//! event looks like, and where it goes; plus what the plan would need on a real namespace.

use std::time::Duration;

use serde::Serialize;

use crate::emulator::config::DurationError;
use crate::producer::TemplateError;

/// Ingress one throughput unit allows: 1 MB/s or 1,000 events/s, whichever binds first.
const TU_BYTES_PER_SEC: f64 = 1_000_000.0;
const TU_EVENTS_PER_SEC: f64 = 1_000.0;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rate {
    /// Events per second, held.
    Fixed { per_sec: f64 },
    /// From one rate to another, linearly, over `over`.
    Ramp {
        from_per_sec: f64,
        to_per_sec: f64,
        #[serde(serialize_with = "secs")]
        over: Duration,
    },
    /// Each step's rate for its duration, one after the other.
    Steps { steps: Vec<(f64, Duration)> },
    /// As fast as the hub acknowledges.
    Max,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Routing {
    /// The service picks.
    Spread,
    /// Partition after partition.
    RoundRobin,
    /// Keys `key-0` .. `key-{count-1}`; with `hot_share`, that share of events uses `key-0`.
    Keys {
        count: u32,
        hot_share: Option<f64>,
    },
    Partition {
        id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub rate: Rate,
    /// Stop after this long...
    #[serde(serialize_with = "opt_secs")]
    pub duration: Option<Duration>,
    /// ...or after this many events, whichever comes first.
    pub events: Option<u64>,
    pub event_size: usize,
    /// A body template (the composer's); overrides `event_size`.
    pub template: Option<String>,
    /// Events per batch; `None` packs as many as the size limit allows per partition and tick.
    pub batch_size: Option<usize>,
    pub routing: Routing,
    pub pool_size: usize,
    pub in_flight_per_connection: usize,
}

#[allow(clippy::ref_option)] // serde's `serialize_with` hands over `&Option<T>`
fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl Plan {
    /// The highest rate the plan asks for (`None` for max).
    #[must_use]
    pub fn peak_rate(&self) -> Option<f64> {
        match &self.rate {
            Rate::Fixed { per_sec } => Some(*per_sec),
            Rate::Ramp {
                from_per_sec,
                to_per_sec,
                ..
            } => Some(from_per_sec.max(*to_per_sec)),
            Rate::Steps { steps } => steps.iter().map(|(r, _)| *r).reduce(f64::max),
            Rate::Max => None,
        }
    }

    /// The pool the plan asks for.
    #[must_use]
    pub fn pool_config(&self) -> crate::producer::pool::PoolConfig {
        crate::producer::pool::PoolConfig {
            connections: self.pool_size,
            in_flight_per_connection: self.in_flight_per_connection,
            ..crate::producer::pool::PoolConfig::default()
        }
    }

    /// Throughput units a real namespace would need at the plan's peak.
    #[must_use]
    pub fn throughput_units(&self) -> Option<u32> {
        let rate = self.peak_rate()?;
        #[allow(clippy::cast_precision_loss)]
        let bytes = rate * self.event_size as f64;
        let needed = (rate / TU_EVENTS_PER_SEC)
            .max(bytes / TU_BYTES_PER_SEC)
            .ceil()
            .max(1.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(needed as u32)
    }
}

/// Why a typed plan cannot run: the form of a rate, routing, duration or count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("ramp:FROM-TO/DURATION, e.g. ramp:1000-5000/30s")]
    RampForm,
    #[error("steps:RATE/DURATION,..., e.g. steps:1000/10s,5000/10s")]
    StepsForm,
    #[error("`{0}` is not a positive rate (events per second)")]
    NotARate(String),
    #[error("{0}")]
    Duration(#[from] DurationError),
    #[error("`{0}` is not a number of keys")]
    NotKeys(String),
    #[error("hot share `{0}` must be between 0 and 1")]
    HotShare(String),
    #[error("`{0}`: use spread, round-robin, keys:N[,hot:P] or partition:ID")]
    RoutingForm(String),
    #[error("`{0}` is not a number of events")]
    NotEvents(String),
    #[error("`{0}` is not a batch size")]
    NotABatchSize(String),
    #[error("say how long: a duration or a number of events")]
    NoLength,
    #[error("template: {0}")]
    Template(#[from] TemplateError),
}

/// Parses `N`, `max`, `ramp:A-B/30s` or `steps:1000/10s,5000/10s`.
///
/// # Errors
/// A [`PlanError`] naming the form expected.
pub fn parse_rate(text: &str) -> Result<Rate, PlanError> {
    let text = text.trim();
    if text == "max" {
        return Ok(Rate::Max);
    }
    if let Some(rest) = text.strip_prefix("ramp:") {
        let (range, over) = rest.split_once('/').ok_or(PlanError::RampForm)?;
        let (from, to) = range.split_once('-').ok_or(PlanError::RampForm)?;
        return Ok(Rate::Ramp {
            from_per_sec: positive(from)?,
            to_per_sec: positive(to)?,
            over: crate::emulator::config::parse_duration(over)?,
        });
    }
    if let Some(rest) = text.strip_prefix("steps:") {
        let steps = rest
            .split(',')
            .map(|step| {
                let (rate, dur) = step.split_once('/').ok_or(PlanError::StepsForm)?;
                Ok((
                    positive(rate)?,
                    crate::emulator::config::parse_duration(dur)?,
                ))
            })
            .collect::<Result<Vec<_>, PlanError>>()?;
        return Ok(Rate::Steps { steps });
    }
    Ok(Rate::Fixed {
        per_sec: positive(text)?,
    })
}

fn positive(text: &str) -> Result<f64, PlanError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(PlanError::NotARate(text.to_owned())),
    }
}

/// Parses `spread`, `round-robin`, `keys:N[,hot:P]` or `partition:ID`.
///
/// # Errors
/// A [`PlanError`] naming the form expected.
pub fn parse_routing(text: &str) -> Result<Routing, PlanError> {
    let text = text.trim();
    Ok(match text {
        "spread" => Routing::Spread,
        "round-robin" => Routing::RoundRobin,
        _ => {
            if let Some(id) = text.strip_prefix("partition:") {
                Routing::Partition { id: id.to_string() }
            } else if let Some(rest) = text.strip_prefix("keys:") {
                let (count, hot) = match rest.split_once(",hot:") {
                    Some((count, hot)) => (count, Some(hot)),
                    None => (rest, None),
                };
                let count: u32 = count
                    .parse()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or_else(|| PlanError::NotKeys(count.to_owned()))?;
                let hot_share = match hot {
                    None => None,
                    Some(h) => Some(
                        h.parse::<f64>()
                            .ok()
                            .filter(|p| (0.0..=1.0).contains(p))
                            .ok_or_else(|| PlanError::HotShare(h.to_owned()))?,
                    ),
                };
                Routing::Keys { count, hot_share }
            } else {
                return Err(PlanError::RoutingForm(text.to_owned()));
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: Rate, size: usize) -> Plan {
        Plan {
            rate,
            duration: Some(Duration::from_secs(10)),
            events: None,
            event_size: size,
            template: None,
            batch_size: None,
            routing: Routing::Spread,
            pool_size: 1,
            in_flight_per_connection: 1,
        }
    }

    #[test]
    fn throughput_units_bind_on_events_or_bytes() {
        assert_eq!(
            plan(Rate::Fixed { per_sec: 1_000.0 }, 100).throughput_units(),
            Some(1)
        );
        assert_eq!(
            plan(Rate::Fixed { per_sec: 5_000.0 }, 100).throughput_units(),
            Some(5),
            "events bind"
        );
        assert_eq!(
            plan(Rate::Fixed { per_sec: 1_000.0 }, 4_096).throughput_units(),
            Some(5),
            "bytes bind: 4.1 MB/s"
        );
        assert_eq!(plan(Rate::Max, 100).throughput_units(), None);
        let ramp = Rate::Ramp {
            from_per_sec: 100.0,
            to_per_sec: 2_500.0,
            over: Duration::from_secs(5),
        };
        assert_eq!(plan(ramp, 10).throughput_units(), Some(3));
    }

    #[test]
    fn rates_and_routes_parse() {
        assert_eq!(parse_rate("1500"), Ok(Rate::Fixed { per_sec: 1500.0 }));
        assert_eq!(parse_rate("max"), Ok(Rate::Max));
        assert_eq!(
            parse_rate("ramp:100-200/30s"),
            Ok(Rate::Ramp {
                from_per_sec: 100.0,
                to_per_sec: 200.0,
                over: Duration::from_secs(30)
            })
        );
        assert_eq!(
            parse_rate("steps:10/1s,20/2s"),
            Ok(Rate::Steps {
                steps: vec![
                    (10.0, Duration::from_secs(1)),
                    (20.0, Duration::from_secs(2))
                ]
            })
        );
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("fast").is_err());
        assert_eq!(
            parse_routing("keys:100,hot:0.2"),
            Ok(Routing::Keys {
                count: 100,
                hot_share: Some(0.2)
            })
        );
        assert_eq!(
            parse_routing("partition:3"),
            Ok(Routing::Partition { id: "3".into() })
        );
        assert!(parse_routing("keys:0").is_err());
        assert!(parse_routing("keys:5,hot:2").is_err());
        assert!(parse_routing("random").is_err());
    }
}
