//! Link addresses and receive filters, as the clients spell them (docs/amqp-wire.md §4–5).

use crate::storage::store::StartPosition;

/// What a link address points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// The claims-based-security node.
    Cbs,
    /// The management node (hub and partition properties).
    Management,
    /// A hub to publish to, optionally pinned to one partition.
    Publish {
        hub: String,
        partition: Option<String>,
    },
    /// A partition to read through a consumer group.
    Consume {
        hub: String,
        consumer_group: String,
        partition: String,
    },
}

/// Strips an optional `scheme://authority` and leading slashes: `amqps://ns.host:5671/eh1/x` → `eh1/x`.
#[must_use]
pub fn path_of(address: &str) -> &str {
    let rest = match address.find("://") {
        Some(i) => {
            let after = &address[i + 3..];
            after.find('/').map_or("", |j| &after[j..])
        }
        None => address,
    };
    rest.trim_start_matches('/')
}

/// Parses a link address. Hub names may themselves contain `/`, so the known suffixes are matched
/// from the end.
#[must_use]
pub fn parse_node(address: &str) -> Option<Node> {
    let path = path_of(address).trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    let n = segments.len();
    let is = |i: usize, word: &str| segments[i].eq_ignore_ascii_case(word);
    if segments
        .last()
        .is_some_and(|s| s.eq_ignore_ascii_case("$cbs"))
    {
        return Some(Node::Cbs);
    }
    if segments
        .last()
        .is_some_and(|s| s.eq_ignore_ascii_case("$management"))
    {
        return Some(Node::Management);
    }
    if path.is_empty() {
        return None;
    }
    if n >= 5 && is(n - 4, "ConsumerGroups") && is(n - 2, "Partitions") {
        return Some(Node::Consume {
            hub: segments[..n - 4].join("/"),
            consumer_group: segments[n - 3].to_owned(),
            partition: segments[n - 1].to_owned(),
        });
    }
    if n >= 3 && is(n - 2, "Partitions") {
        return Some(Node::Publish {
            hub: segments[..n - 2].join("/"),
            partition: Some(segments[n - 1].to_owned()),
        });
    }
    Some(Node::Publish {
        hub: path.to_owned(),
        partition: None,
    })
}

/// A receiver's filter that is not one of the forms the service takes, in the service's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The filter expression '{0}' is not valid.")]
pub struct InvalidSelector(pub String);

/// Parses a selector such as `amqp.annotation.x-opt-offset > '-1'` into a start position.
///
/// # Errors
/// [`InvalidSelector`] for any other expression.
pub fn parse_selector(expression: &str) -> Result<StartPosition, InvalidSelector> {
    let bad = || InvalidSelector(expression.to_owned());
    let (left, inclusive, right) = if let Some((l, r)) = expression.split_once(">=") {
        (l, true, r)
    } else if let Some((l, r)) = expression.split_once('>') {
        (l, false, r)
    } else {
        return Err(bad());
    };
    let value = right
        .trim()
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .ok_or_else(bad)?;
    let property = left.trim().to_ascii_lowercase();
    let property = property.strip_prefix("amqp.annotation.").ok_or_else(bad)?;
    match property {
        "x-opt-offset" => match value {
            "-1" => Ok(StartPosition::Earliest),
            "@latest" => Ok(StartPosition::Latest),
            offset => offset
                .parse::<u64>()
                .map(|offset| StartPosition::Offset { offset, inclusive })
                .map_err(|_| bad()),
        },
        "x-opt-sequence-number" => value
            .parse::<i64>()
            .map(|sequence_number| {
                if sequence_number < 0 {
                    StartPosition::Earliest
                } else {
                    StartPosition::SequenceNumber {
                        sequence_number,
                        inclusive,
                    }
                }
            })
            .map_err(|_| bad()),
        "x-opt-enqueued-time" => value
            .parse::<i64>()
            .map(|ms| StartPosition::EnqueuedTime {
                unix_ms: if inclusive { ms - 1 } else { ms },
            })
            .map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes() {
        assert_eq!(parse_node("$cbs"), Some(Node::Cbs));
        assert_eq!(
            parse_node("amqps://localhost/eh1/$management"),
            Some(Node::Management)
        );
        assert_eq!(
            parse_node("amqps://ns.example.net:5671/eh1"),
            Some(Node::Publish {
                hub: "eh1".into(),
                partition: None
            })
        );
        assert_eq!(
            parse_node("/orders/v2/Partitions/3"),
            Some(Node::Publish {
                hub: "orders/v2".into(),
                partition: Some("3".into())
            })
        );
        assert_eq!(
            parse_node("amqp://127.0.0.1:5672/eh1/ConsumerGroups/$default/Partitions/0"),
            Some(Node::Consume {
                hub: "eh1".into(),
                consumer_group: "$default".into(),
                partition: "0".into()
            })
        );
        assert_eq!(parse_node("amqps://host/"), None);
    }

    #[test]
    fn selectors() {
        let p = |s: &str| parse_selector(s);
        assert_eq!(
            p("amqp.annotation.x-opt-offset > '-1'"),
            Ok(StartPosition::Earliest)
        );
        assert_eq!(
            p("amqp.annotation.x-opt-offset > '@latest'"),
            Ok(StartPosition::Latest)
        );
        assert_eq!(
            p("amqp.annotation.x-opt-offset >='120'"),
            Ok(StartPosition::Offset {
                offset: 120,
                inclusive: true
            })
        );
        assert_eq!(
            p("amqp.annotation.x-opt-sequence-number > '7'"),
            Ok(StartPosition::SequenceNumber {
                sequence_number: 7,
                inclusive: false
            })
        );
        assert_eq!(
            p("amqp.annotation.x-opt-enqueued-time > '1700000000000'"),
            Ok(StartPosition::EnqueuedTime {
                unix_ms: 1_700_000_000_000
            })
        );
        assert!(p("amqp.annotation.x-opt-offset = '1'").is_err());
        assert!(p("amqp.annotation.x-opt-offset > 1").is_err());
        assert!(p("amqp.annotation.x-opt-bogus > '1'").is_err());
    }
}
