//! Where a reader starts: `earliest`, `latest`, `seq:N`, `offset:O` or `time:RFC3339`.

use std::time::SystemTime;

use azure_messaging_eventhubs::{StartLocation, StartPosition};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StartFrom {
    Earliest,
    #[default]
    Latest,
    SequenceNumber(i64),
    Offset(String),
    EnqueuedTime(SystemTime),
}

impl std::str::FromStr for StartFrom {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        Ok(match text {
            "earliest" => Self::Earliest,
            "latest" => Self::Latest,
            _ => match text.split_once(':') {
                Some(("seq", n)) => Self::SequenceNumber(
                    n.parse()
                        .map_err(|_| format!("`{n}` is not a sequence number"))?,
                ),
                Some(("offset", o)) if !o.is_empty() => Self::Offset(o.to_string()),
                Some(("time", t)) => Self::EnqueuedTime(
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| format!("`{t}` is not an RFC 3339 time: {e}"))?
                        .into(),
                ),
                _ => {
                    return Err(format!(
                        "`{text}`: use earliest, latest, seq:N, offset:O or time:RFC3339"
                    ))
                }
            },
        })
    }
}

impl StartFrom {
    /// The SDK's start position; sequence numbers and offsets are inclusive.
    #[must_use]
    pub fn to_sdk(&self) -> StartPosition {
        let (location, inclusive) = match self {
            Self::Earliest => (StartLocation::Earliest, true),
            Self::Latest => (StartLocation::Latest, false),
            Self::SequenceNumber(n) => (StartLocation::SequenceNumber(*n), true),
            Self::Offset(o) => (StartLocation::Offset(o.clone()), true),
            Self::EnqueuedTime(t) => (StartLocation::EnqueuedTime(*t), true),
        };
        StartPosition {
            location,
            inclusive,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("earliest".parse(), Ok(StartFrom::Earliest));
        assert_eq!("latest".parse(), Ok(StartFrom::Latest));
        assert_eq!("seq:42".parse(), Ok(StartFrom::SequenceNumber(42)));
        assert_eq!("offset:100".parse(), Ok(StartFrom::Offset("100".into())));
        assert!(matches!(
            "time:2026-11-21T09:00:00Z".parse(),
            Ok(StartFrom::EnqueuedTime(_))
        ));
        assert!("seq:x".parse::<StartFrom>().is_err());
        assert!("time:yesterday".parse::<StartFrom>().is_err());
        assert!("beginning".parse::<StartFrom>().is_err());
    }
}
