//! Who reads each partition of each consumer group: owner levels (epochs) and the receiver limit.
//!
//! The service's rules (docs/amqp-wire.md §5): a receiver with an owner level displaces every receiver of
//! the same partition and consumer group with a lower or no owner level; one with a lower or no
//! owner level is refused while a higher one holds the partition; without owner levels at most
//! five receivers share a partition per consumer group.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// At most this many receivers without an owner level per partition per consumer group.
pub const MAX_RECEIVERS_PER_PARTITION: usize = 5;

/// Why a claim was refused; the text is the service's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimRefused {
    #[error("Receiver with a higher epoch of '{held}' already exists. Receiver '{name}' with epoch '{requested}' cannot be created. Make sure you are creating receiver with increasing epoch value to ensure connectivity, or ensure all old epoch receivers are closed or disconnected.")]
    HigherEpochHeld {
        held: i64,
        requested: String,
        name: String,
    },
    #[error("Exceeded the maximum number of allowed receivers per partition in a consumer group which is {MAX_RECEIVERS_PER_PARTITION}. List of connected receivers - {receivers}.")]
    TooManyReceivers { receivers: String },
}

#[derive(Debug)]
struct Holder {
    id: u64,
    name: String,
    epoch: Option<i64>,
    evict: Option<oneshot::Sender<String>>,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    holders: HashMap<(String, String), Vec<Holder>>,
}

/// The registry for one hub.
#[derive(Debug, Default, Clone)]
pub struct Ownership {
    registry: Arc<Mutex<Registry>>,
}

/// A held place; dropping it gives the place up.
#[derive(Debug)]
pub struct Claim {
    registry: Arc<Mutex<Registry>>,
    key: (String, String),
    id: u64,
    /// Resolves with the reason when a higher owner level displaces this receiver.
    pub displaced: oneshot::Receiver<String>,
}

impl Ownership {
    /// Claims a place reading `partition` of `consumer_group` for the receiver named `name`.
    ///
    /// # Errors
    /// [`ClaimRefused`] when the service's rules leave no place.
    pub fn claim(
        &self,
        consumer_group: &str,
        partition: &str,
        name: &str,
        epoch: Option<i64>,
    ) -> Result<Claim, ClaimRefused> {
        let key = (consumer_group.to_ascii_lowercase(), partition.to_owned());
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        registry.next_id += 1;
        let id = registry.next_id;
        let holders = registry.holders.entry(key.clone()).or_default();
        let highest = holders.iter().filter_map(|h| h.epoch).max();
        if let Some(held) = highest.filter(|held| epoch.is_none_or(|r| r < *held)) {
            return Err(ClaimRefused::HigherEpochHeld {
                held,
                requested: epoch.map_or_else(|| "(none)".to_owned(), |r| r.to_string()),
                name: name.to_owned(),
            });
        }
        match epoch {
            Some(requested) => {
                // Everyone below (or without) the new owner level is displaced.
                for holder in holders.iter_mut() {
                    if let Some(evict) = holder.evict.take() {
                        let _ = evict.send(format!(
                            "New receiver '{name}' with higher epoch of '{requested}' is created hence current receiver '{}' with epoch '{}' is getting disconnected. If you are recreating the receiver, make sure a higher epoch is used.",
                            holder.name,
                            holder.epoch.map_or_else(|| "(none)".to_owned(), |e| e.to_string()),
                        ));
                    }
                }
                holders.clear();
            }
            None if holders.len() >= MAX_RECEIVERS_PER_PARTITION => {
                let receivers = holders
                    .iter()
                    .map(|h| h.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ClaimRefused::TooManyReceivers { receivers });
            }
            None => {}
        }
        let (evict, displaced) = oneshot::channel();
        holders.push(Holder {
            id,
            name: name.to_owned(),
            epoch,
            evict: Some(evict),
        });
        Ok(Claim {
            registry: self.registry.clone(),
            key,
            id,
            displaced,
        })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(holders) = registry.holders.get_mut(&self.key) {
            holders.retain(|h| h.id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_receivers_then_refused() {
        let o = Ownership::default();
        let claims: Vec<Claim> = (0..5)
            .map(|i| o.claim("$Default", "0", &format!("r{i}"), None))
            .collect::<Result<_, _>>()
            .expect("five fit");
        assert!(matches!(
            o.claim("$default", "0", "r5", None),
            Err(ClaimRefused::TooManyReceivers { .. })
        ));
        // Another partition and another group are separate.
        assert!(o.claim("$Default", "1", "x", None).is_ok());
        assert!(o.claim("cg1", "0", "y", None).is_ok());
        drop(claims);
        assert!(o.claim("$Default", "0", "r6", None).is_ok());
    }

    #[test]
    fn higher_epoch_displaces_lower_is_refused() {
        let o = Ownership::default();
        let mut plain = o.claim("$Default", "0", "plain", None).expect("plain");
        let mut low = o.claim("$Default", "0", "low", Some(1)).expect("epoch 1");
        assert!(plain.displaced.try_recv().is_ok());
        let high = o.claim("$Default", "0", "high", Some(5)).expect("epoch 5");
        assert!(low.displaced.try_recv().is_ok());
        assert!(matches!(
            o.claim("$Default", "0", "late", Some(2)),
            Err(ClaimRefused::HigherEpochHeld { held: 5, .. })
        ));
        assert!(o.claim("$Default", "0", "none", None).is_err());
        drop(high);
        assert!(o.claim("$Default", "0", "none", None).is_ok());
    }
}
