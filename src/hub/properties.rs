//! Hub and partition properties, the inspector's data and the real test of a connection
//! (`open()` connects but does not authorize; a properties call does).

use std::time::{Duration, Instant, SystemTime};

use azure_messaging_eventhubs::ConsumerClient;
use serde::Serialize;

use super::{within, HubError, Target};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HubSnapshot {
    pub name: String,
    #[serde(with = "rfc3339_opt")]
    pub created_on: Option<SystemTime>,
    pub partitions: Vec<PartitionSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionSnapshot {
    pub id: String,
    pub beginning_sequence_number: i64,
    pub last_enqueued_sequence_number: i64,
    pub last_enqueued_offset: String,
    #[serde(with = "rfc3339_opt")]
    pub last_enqueued_time: Option<SystemTime>,
    pub is_empty: bool,
}

impl PartitionSnapshot {
    /// Events the partition still holds (sequence numbers are contiguous).
    #[must_use]
    pub fn retained_events(&self) -> u64 {
        if self.is_empty {
            return 0;
        }
        u64::try_from(self.last_enqueued_sequence_number - self.beginning_sequence_number + 1)
            .unwrap_or(0)
    }
}

impl HubSnapshot {
    /// Events each partition enqueued since `earlier`, by anyone: sequence numbers are
    /// contiguous, so this is the hub's own count.
    #[must_use]
    pub fn enqueued_since(&self, earlier: &HubSnapshot) -> Vec<(String, u64)> {
        let through = |p: &PartitionSnapshot| {
            if p.is_empty {
                p.beginning_sequence_number - 1
            } else {
                p.last_enqueued_sequence_number
            }
        };
        self.partitions
            .iter()
            .map(|now| {
                let before = earlier
                    .partitions
                    .iter()
                    .find(|p| p.id == now.id)
                    .map_or(-1, through);
                (
                    now.id.clone(),
                    u64::try_from(through(now) - before).unwrap_or(0),
                )
            })
            .collect()
    }
}

/// Reads the hub's properties and then every partition's.
pub async fn read_properties(
    client: &ConsumerClient,
    timeout: Duration,
) -> Result<HubSnapshot, HubError> {
    within("read the hub's properties", timeout, async {
        let hub = client
            .get_eventhub_properties()
            .await
            .map_err(|e| HubError::from_sdk("read the hub's properties", &e))?;
        let mut partitions = Vec::with_capacity(hub.partition_ids.len());
        for id in &hub.partition_ids {
            let p = client
                .get_partition_properties(id)
                .await
                .map_err(|e| HubError::from_sdk("read partition properties", &e))?;
            partitions.push(PartitionSnapshot {
                id: p.id,
                beginning_sequence_number: p.beginning_sequence_number,
                last_enqueued_sequence_number: p.last_enqueued_sequence_number,
                last_enqueued_offset: p.last_enqueued_offset,
                last_enqueued_time: p.last_enqueued_time_utc,
                is_empty: p.is_empty,
            });
        }
        Ok(HubSnapshot {
            name: hub.name,
            created_on: hub.created_on,
            partitions,
        })
    })
    .await
}

/// The outcome of a connection test.
#[derive(Debug, Clone)]
pub struct Probe {
    /// From opening the connection to the hub's properties arriving.
    pub round_trip: Duration,
    pub hub: HubSnapshot,
}

/// Connects, reads the properties and disconnects: the "Test" button and `hubscope props`.
pub async fn probe(target: &Target, timeout: Duration) -> Result<Probe, HubError> {
    let started = Instant::now();
    let client = within("connect", timeout, target.open_consumer()).await?;
    let remaining = timeout
        .saturating_sub(started.elapsed())
        .max(Duration::from_secs(1));
    let hub = read_properties(&client, remaining).await;
    let round_trip = started.elapsed();
    // Closing is best effort: the answer is already in hand, and a dead endpoint must not hang us.
    let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
    Ok(Probe {
        round_trip,
        hub: hub?,
    })
}

/// RFC 3339 text for JSON output.
pub mod rfc3339_opt {
    use std::time::SystemTime;

    #[must_use]
    pub fn format(time: SystemTime) -> String {
        time::OffsetDateTime::from(time)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    pub fn serialize<S: serde::Serializer>(
        time: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(t) => serializer.serialize_some(&format(*t)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(id: &str, beginning: i64, last: i64) -> PartitionSnapshot {
        PartitionSnapshot {
            id: id.into(),
            beginning_sequence_number: beginning,
            last_enqueued_sequence_number: last,
            last_enqueued_offset: String::new(),
            last_enqueued_time: None,
            is_empty: last < beginning,
        }
    }

    #[test]
    fn the_hub_counts_what_each_partition_enqueued() {
        let hub = |partitions| HubSnapshot {
            name: "h".into(),
            created_on: None,
            partitions,
        };
        let before = hub(vec![partition("0", 0, 9), partition("1", 0, -1)]);
        let after = hub(vec![partition("0", 0, 59), partition("1", 0, 24)]);
        assert_eq!(
            after.enqueued_since(&before),
            [("0".to_string(), 50), ("1".to_string(), 25)]
        );
    }
}
