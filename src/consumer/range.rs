//! A range of a hub to read: where each partition's reading ends (`--until now`, `seq:N`,
//! `time:…`), fixed from the partitions' properties when reading begins. `hubscope tail --until`
//! and the live view's hub-wide search both stop there.

use std::time::SystemTime;

use super::position::PositionError;
use super::{ReceivedRecord, StartFrom};
use crate::hub::PartitionSnapshot;

/// `--until`: where each partition's reading ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    Now,
    Sequence(i64),
    Time(SystemTime),
}

impl std::str::FromStr for Until {
    type Err = PositionError;

    fn from_str(text: &str) -> Result<Self, PositionError> {
        let other_form = || PositionError::UnknownForm {
            text: text.trim().to_owned(),
            forms: "now, seq:N or time:RFC3339",
        };
        match StartFrom::from_str(text) {
            _ if text.trim() == "now" => Ok(Self::Now),
            Ok(StartFrom::SequenceNumber(n)) => Ok(Self::Sequence(n)),
            Ok(StartFrom::EnqueuedTime(t)) => Ok(Self::Time(t)),
            Ok(_) | Err(PositionError::UnknownForm { .. }) => Err(other_form()),
            Err(e) => Err(e),
        }
    }
}

/// Where one partition's reading ends, fixed at the start from its properties.
#[derive(Debug, Clone, Copy)]
struct Limit {
    /// The last sequence number to print; `None`: no such limit.
    last_sequence: Option<i64>,
    /// Events enqueued after this are past the end.
    time: Option<SystemTime>,
}

impl Limit {
    fn new(until: Option<&Until>, partition: &PartitionSnapshot) -> Self {
        let last_now = (!partition.is_empty).then_some(partition.last_enqueued_sequence_number);
        match until {
            None => Self {
                last_sequence: None,
                time: None,
            },
            // An empty partition has nothing to read up to now: -1 is before any event.
            Some(Until::Now) => Self {
                last_sequence: Some(last_now.unwrap_or(-1)),
                time: None,
            },
            // As for a time: what is there now, up to N. A partition that has not reached N
            // (an empty one, say) ends at its last event instead of waiting for ever.
            Some(Until::Sequence(n)) => Self {
                last_sequence: Some((*n).min(last_now.unwrap_or(-1))),
                time: None,
            },
            Some(Until::Time(t)) => Self {
                // Everything there now is before the time: reading ends at the last of it.
                last_sequence: partition
                    .last_enqueued_time
                    .filter(|last| last <= t)
                    .and(last_now)
                    .or(if partition.is_empty { Some(-1) } else { None }),
                time: Some(*t),
            },
        }
    }

    /// Whether `record` is past the end.
    fn past(&self, record: &ReceivedRecord) -> bool {
        self.last_sequence
            .is_some_and(|last| record.sequence_number > last)
            || self
                .time
                .is_some_and(|t| record.enqueued_time.is_some_and(|e| e > t))
    }

    /// Whether nothing after `record` can be printed.
    fn reached(&self, record: &ReceivedRecord) -> bool {
        self.last_sequence
            .is_some_and(|last| record.sequence_number >= last)
    }
}

/// One partition's end, where its reading began, and whether the end has been reached.
#[derive(Debug, Clone)]
struct PartitionEnd {
    id: String,
    limit: Limit,
    /// The first sequence number read, when the start position tells it.
    first: Option<i64>,
    done: bool,
}

/// Where each partition's reading ends: a range of the hub, as `hubscope tail --until` and the
/// live view's search read it.
#[derive(Debug, Clone, Default)]
pub struct Ends {
    partitions: Vec<PartitionEnd>,
}

impl Ends {
    /// Each of `partitions` read from `from` to `until`, fixed from their properties now.
    #[must_use]
    pub fn new(from: &StartFrom, until: Option<&Until>, partitions: &[PartitionSnapshot]) -> Self {
        let partitions = partitions
            .iter()
            .map(|p| {
                let limit = Limit::new(until, p);
                let first = first_to_read(from, p);
                let done = matches!((limit.last_sequence, first), (Some(last), Some(first)) if last < first);
                PartitionEnd {
                    id: p.id.clone(),
                    limit,
                    first,
                    done,
                }
            })
            .collect();
        Self { partitions }
    }

    /// Whether every partition has reached its end (false with no partitions: nothing to wait
    /// for is not an end).
    #[must_use]
    pub fn all_done(&self) -> bool {
        !self.partitions.is_empty() && self.partitions.iter().all(|p| p.done)
    }

    /// Whether `partition` has reached its end.
    #[must_use]
    pub fn done(&self, partition: &str) -> bool {
        self.partitions.iter().any(|p| p.id == partition && p.done)
    }

    /// Whether `record` is inside the range; marks its partition done at or past its end.
    pub fn admit(&mut self, record: &ReceivedRecord) -> bool {
        let Some(end) = self
            .partitions
            .iter_mut()
            .find(|p| p.id == record.partition_id)
        else {
            return true;
        };
        if end.done || end.limit.past(record) {
            end.done = true;
            return false;
        }
        end.done = end.limit.reached(record);
        true
    }

    /// How many events the range holds, when every partition's start and end say it.
    #[must_use]
    pub fn events_in_range(&self) -> Option<u64> {
        self.partitions
            .iter()
            .map(|p| match (p.first, p.limit.last_sequence) {
                (Some(first), Some(last)) => Some(u64::try_from(last - first + 1).unwrap_or(0)),
                _ => None,
            })
            .sum()
    }
}

/// The first sequence number a reader starting at `from` reads, when it can be told.
fn first_to_read(from: &StartFrom, p: &PartitionSnapshot) -> Option<i64> {
    match from {
        StartFrom::Earliest => Some(p.beginning_sequence_number),
        StartFrom::Latest => Some(if p.is_empty {
            p.beginning_sequence_number
        } else {
            p.last_enqueued_sequence_number + 1
        }),
        StartFrom::SequenceNumber(n) => Some(*n),
        StartFrom::Offset(_) | StartFrom::EnqueuedTime(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_names_its_own_forms() {
        assert_eq!("now".parse(), Ok(Until::Now));
        assert_eq!(" seq:7".parse(), Ok(Until::Sequence(7)));
        for text in ["earliest", "offset:5", "yesterday"] {
            assert_eq!(
                text.parse::<Until>(),
                Err(PositionError::UnknownForm {
                    text: text.into(),
                    forms: "now, seq:N or time:RFC3339"
                }),
            );
        }
        assert_eq!(
            "seq:x".parse::<Until>(),
            Err(PositionError::NotASequenceNumber("x".into()))
        );
    }

    fn partition(id: &str, first: i64, last: i64) -> PartitionSnapshot {
        PartitionSnapshot {
            id: id.into(),
            beginning_sequence_number: first,
            last_enqueued_sequence_number: last,
            last_enqueued_offset: String::new(),
            last_enqueued_time: None,
            is_empty: last < first,
        }
    }

    fn record(partition: &str, seq: i64) -> ReceivedRecord {
        crate::consumer::record::test_record(partition, seq, "")
    }

    #[test]
    fn reading_to_now_ends_at_each_partitions_last_event() {
        let hub = [partition("0", 0, 2), partition("1", 0, -1)];
        let mut ends = Ends::new(&StartFrom::Earliest, Some(&Until::Now), &hub);
        assert_eq!(ends.events_in_range(), Some(3));
        assert!(ends.done("1"), "an empty partition has nothing to read");
        assert!(!ends.all_done());
        assert!(ends.admit(&record("0", 0)));
        assert!(ends.admit(&record("0", 1)));
        assert!(ends.admit(&record("0", 2)));
        assert!(ends.all_done(), "the last event there at the start ends it");
        assert!(!ends.admit(&record("0", 3)), "what came later is outside");
    }

    #[test]
    fn without_an_end_nothing_is_outside() {
        let hub = [partition("0", 5, 9)];
        let mut ends = Ends::new(&StartFrom::Latest, None, &hub);
        assert_eq!(ends.events_in_range(), None);
        assert!(ends.admit(&record("0", 100)));
        assert!(!ends.all_done());
        let ends = Ends::new(
            &StartFrom::SequenceNumber(7),
            Some(&Until::Sequence(8)),
            &hub,
        );
        assert_eq!(ends.events_in_range(), Some(2));
        // Past what is there: it ends at the last event, and an empty partition at once.
        let hub = [partition("0", 0, 4), partition("1", 0, -1)];
        let ends = Ends::new(&StartFrom::Earliest, Some(&Until::Sequence(9)), &hub);
        assert_eq!(ends.events_in_range(), Some(5));
        assert!(ends.done("1"));
    }
}
