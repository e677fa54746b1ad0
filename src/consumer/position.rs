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

/// The forms a start position takes, as an error names them.
const START_FORMS: &str = "earliest, latest, seq:N, offset:O or time:RFC3339";

/// Why a typed start or end position cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PositionError {
    #[error("`{0}` is not a sequence number")]
    NotASequenceNumber(String),
    #[error("`{text}` is not an RFC 3339 time: {why}")]
    NotATime { text: String, why: String },
    /// None of the forms; `forms` lists those this position takes.
    #[error("`{text}`: use {forms}")]
    UnknownForm { text: String, forms: &'static str },
}

impl std::str::FromStr for StartFrom {
    type Err = PositionError;

    fn from_str(text: &str) -> Result<Self, PositionError> {
        let text = text.trim();
        Ok(match text {
            "earliest" => Self::Earliest,
            "latest" => Self::Latest,
            _ => match text.split_once(':') {
                Some(("seq", n)) => Self::SequenceNumber(
                    n.parse()
                        .map_err(|_| PositionError::NotASequenceNumber(n.to_owned()))?,
                ),
                Some(("offset", o)) if !o.is_empty() => Self::Offset(o.to_string()),
                Some(("time", t)) => Self::EnqueuedTime(
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map_err(|e| PositionError::NotATime {
                            text: t.to_owned(),
                            why: e.to_string(),
                        })?
                        .into(),
                ),
                _ => {
                    return Err(PositionError::UnknownForm {
                        text: text.to_owned(),
                        forms: START_FORMS,
                    })
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
        assert_eq!(
            "beginning"
                .parse::<StartFrom>()
                .expect_err("not a form")
                .to_string(),
            "`beginning`: use earliest, latest, seq:N, offset:O or time:RFC3339"
        );
    }
}
