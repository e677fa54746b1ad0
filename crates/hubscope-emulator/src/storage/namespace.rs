//! The namespace the emulator serves: its hubs, each a set of partitions (see `store`), opened
//! from their journals when there is a data directory.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{EmulatorConfig, HubConfig, DEFAULT_CONSUMER_GROUP};
use crate::storage::journal::Journal;
use crate::storage::ownership::Ownership;
use crate::storage::store::{now_ms, Partition, StoreError};

/// How far a journal may outgrow twice what its partition retains before it is compacted while
/// running: large enough that compaction is rare, small enough to be no burden on disk.
const JOURNAL_COMPACTION_SLACK: u64 = 64 * 1024 * 1024;

/// One event hub.
#[derive(Debug)]
pub struct Hub {
    pub name: String,
    pub created_ms: i64,
    pub partitions: Vec<Arc<Partition>>,
    /// `$Default` first, then the declared groups.
    pub consumer_groups: Vec<String>,
    pub ownership: Ownership,
    spread: AtomicUsize,
}

impl Hub {
    #[must_use]
    pub fn partition(&self, id: &str) -> Option<&Arc<Partition>> {
        self.partitions.iter().find(|p| p.id == id)
    }

    /// The canonical spelling of a consumer group, matched case-insensitively like the service.
    #[must_use]
    pub fn consumer_group(&self, name: &str) -> Option<&str> {
        self.consumer_groups
            .iter()
            .find(|g| g.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    /// Where an event goes: the explicit partition, else the key's hash, else round robin.
    #[must_use]
    pub fn route(&self, partition_key: Option<&str>) -> &Arc<Partition> {
        let index = match partition_key {
            Some(key) => crate::storage::partition_key::partition_index(key, self.partitions.len()),
            None => self.spread.fetch_add(1, Ordering::Relaxed) % self.partitions.len().max(1),
        };
        &self.partitions[index.min(self.partitions.len() - 1)]
    }
}

/// Every hub the emulator serves.
#[derive(Debug)]
pub struct Namespace {
    pub name: String,
    hubs: HashMap<String, Arc<Hub>>,
    hub_order: Vec<Arc<Hub>>,
    pub retention: Duration,
}

impl Namespace {
    /// Builds the namespace, reopening journals under `config.data_dir` when set.
    ///
    /// # Errors
    /// [`StoreError::Journal`] when a journal cannot be opened or read.
    pub fn open(config: &EmulatorConfig) -> Result<Self, StoreError> {
        let namespace_bytes = Arc::new(AtomicU64::new(0));
        let cutoff = now_ms() - i64::try_from(config.retention.as_millis()).unwrap_or(i64::MAX);
        let mut hubs = HashMap::new();
        let mut hub_order = Vec::new();
        for hub_config in &config.hubs {
            let hub = Arc::new(open_hub(
                hub_config,
                config.data_dir.as_deref(),
                cutoff,
                &namespace_bytes,
                config.max_retained_bytes,
            )?);
            hubs.insert(hub.name.to_ascii_lowercase(), hub.clone());
            hub_order.push(hub);
        }
        let partitions: Vec<&Partition> = hub_order
            .iter()
            .flat_map(|h| h.partitions.iter().map(AsRef::as_ref))
            .collect();
        evict_oldest_to_bound(&partitions, &namespace_bytes, config.max_retained_bytes);
        Ok(Self {
            name: config.namespace.clone(),
            hubs,
            hub_order,
            retention: config.retention,
        })
    }

    /// Looks a hub up case-insensitively, as the service does.
    #[must_use]
    pub fn hub(&self, name: &str) -> Option<&Arc<Hub>> {
        self.hubs.get(&name.to_ascii_lowercase())
    }

    /// Hubs in configuration order.
    pub fn hubs(&self) -> impl Iterator<Item = &Arc<Hub>> {
        self.hub_order.iter()
    }

    /// Applies time retention to every partition; returns how many events expired.
    #[must_use]
    pub fn expire(&self) -> usize {
        let cutoff = now_ms() - i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX);
        self.hub_order
            .iter()
            .flat_map(|h| h.partitions.iter())
            .map(|p| p.expire_before(cutoff))
            .sum()
    }

    /// Compacts every journal that has grown well past what its partition retains (see
    /// [`Partition::compact_journal`]); returns the bytes reclaimed.
    pub fn compact_journals(&self) -> u64 {
        let mut reclaimed = 0;
        for partition in self.hub_order.iter().flat_map(|h| h.partitions.iter()) {
            match partition.compact_journal(JOURNAL_COMPACTION_SLACK) {
                Ok(bytes) => reclaimed += bytes,
                Err(e) => {
                    tracing::error!(partition = %partition.id, error = %e, "journal compaction failed");
                }
            }
        }
        reclaimed
    }

    /// Syncs every journal to disk.
    pub fn sync(&self) {
        for partition in self.hub_order.iter().flat_map(|h| h.partitions.iter()) {
            if let Err(e) = partition.sync() {
                tracing::error!(partition = %partition.id, error = %e, "journal sync failed");
            }
        }
    }
}

/// Applies the memory bound to what the journals held on opening (appends apply it as they go,
/// and a journal may hold more than the bound let memory keep): the namespace's oldest events go
/// first, and each partition keeps its newest.
fn evict_oldest_to_bound(partitions: &[&Partition], namespace_bytes: &AtomicU64, max_bytes: u64) {
    let mut queue: BinaryHeap<Reverse<(i64, usize)>> = partitions
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.oldest_evictable().map(|t| Reverse((t, i))))
        .collect();
    while namespace_bytes.load(Ordering::Relaxed) > max_bytes {
        let Some(Reverse((_, i))) = queue.pop() else {
            break;
        };
        let partition = partitions[i];
        partition.evict_oldest();
        if let Some(t) = partition.oldest_evictable() {
            queue.push(Reverse((t, i)));
        }
    }
}

fn open_hub(
    config: &HubConfig,
    data_dir: Option<&Path>,
    cutoff_ms: i64,
    namespace_bytes: &Arc<AtomicU64>,
    max_bytes: u64,
) -> Result<Hub, StoreError> {
    let mut partitions = Vec::new();
    for index in 0..config.partition_count {
        let id = index.to_string();
        let journal = match data_dir {
            Some(dir) => Some(Journal::open(
                &dir.join(&config.name).join(format!("{id}.log")),
                cutoff_ms,
            )?),
            None => None,
        };
        partitions.push(Arc::new(Partition::new(
            id,
            journal,
            namespace_bytes.clone(),
            max_bytes,
        )));
    }
    let mut consumer_groups = vec![DEFAULT_CONSUMER_GROUP.to_owned()];
    consumer_groups.extend(config.consumer_groups.iter().cloned());
    Ok(Hub {
        name: config.name.clone(),
        created_ms: now_ms(),
        partitions,
        consumer_groups,
        ownership: Ownership::default(),
        spread: AtomicUsize::new(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::store::tests::events;

    #[test]
    fn the_memory_bound_applies_to_what_journals_held_on_opening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = EmulatorConfig {
            data_dir: Some(dir.path().to_owned()),
            ..EmulatorConfig::default()
        };
        let ns = Namespace::open(&config).expect("open");
        let hub = ns.hub("eh1").expect("eh1");
        // Partition 0 holds the older events; then both get ten newer ones each.
        let _ = hub.partitions[0].append(events(10, 100));
        std::thread::sleep(Duration::from_millis(5));
        for p in &hub.partitions {
            let _ = p.append(events(10, 100));
        }
        drop(ns);
        config.max_retained_bytes = 1500;
        let ns = Namespace::open(&config).expect("reopen");
        let hub = ns.hub("eh1").expect("eh1");
        let retained: Vec<usize> = hub
            .partitions
            .iter()
            .map(|p| p.info().retained_events)
            .collect();
        // 3000 bytes on disk, 1500 allowed: partition 0's ten older events go, then the oldest five
        // of the newer twenty (partition 0's are as old as partition 1's or older).
        assert_eq!(retained, vec![5, 10]);
        assert_eq!(hub.partitions[0].info().begin_sequence_number, 15);
        // Appends go on numbering where the journal left off.
        assert_eq!(hub.partitions[0].append(events(1, 100)).ok(), Some(20));
    }
}
