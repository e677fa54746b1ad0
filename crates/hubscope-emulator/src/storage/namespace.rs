//! The namespace the emulator serves: its hubs, each a set of partitions (see `store`), opened
//! from their journals when there is a data directory; and hubs and consumer groups created and
//! deleted at run time (see `changes`), within the configuration's limits.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use crate::config::{
    is_valid_entity_name, EmulatorConfig, HubConfig, DEFAULT_CONSUMER_GROUP, MAX_CONSUMER_GROUPS,
    MAX_HUBS, MAX_PARTITIONS,
};
pub use crate::storage::changes::ConsumerGroup;
use crate::storage::changes::{Changes, ChangesError, CreatedHub};
use crate::storage::journal::Journal;
use crate::storage::ownership::Ownership;
use crate::storage::store::{now_ms, Partition, StoreError};

/// How far a journal may outgrow twice what its partition retains before it is compacted while
/// running: large enough that compaction is rare, small enough to be no burden on disk.
const JOURNAL_COMPACTION_SLACK: u64 = 64 * 1024 * 1024;
/// The service's longest hub name, and consumer group name.
const MAX_HUB_NAME: usize = 256;
const MAX_GROUP_NAME: usize = 50;

/// One event hub.
#[derive(Debug)]
pub struct Hub {
    pub name: String,
    pub created_ms: i64,
    /// Events older than this expire.
    pub retention: Duration,
    pub partitions: Vec<Arc<Partition>>,
    /// `$Default` first, then the others in the order they were declared or created.
    groups: RwLock<Vec<ConsumerGroup>>,
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
    pub fn consumer_group(&self, name: &str) -> Option<String> {
        read(&self.groups)
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(name))
            .map(|g| g.name.clone())
    }

    /// Every consumer group, `$Default` first.
    #[must_use]
    pub fn consumer_groups(&self) -> Vec<ConsumerGroup> {
        read(&self.groups).clone()
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

/// A hub to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpec {
    pub name: String,
    pub partition_count: u32,
    pub retention: Duration,
}

/// Why a hub or consumer group was not created or deleted.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("hub '{0}' already exists")]
    HubExists(String),
    #[error("hub '{0}' does not exist")]
    HubNotFound(String),
    #[error("consumer group '{group}' already exists on hub '{hub}'")]
    GroupExists { hub: String, group: String },
    #[error("consumer group '{group}' does not exist on hub '{hub}'")]
    GroupNotFound { hub: String, group: String },
    #[error("'{name}' is not a valid {what} name: {why}")]
    InvalidName {
        what: &'static str,
        name: String,
        why: String,
    },
    #[error("a hub has 1 to {MAX_PARTITIONS} partitions, not {0}")]
    PartitionCount(u32),
    #[error("a hub keeps events for at least a second")]
    Retention,
    #[error("the namespace already has {MAX_HUBS} hubs, its limit")]
    TooManyHubs,
    #[error(
        "hub '{0}' already has {MAX_CONSUMER_GROUPS} consumer groups besides $Default, its limit"
    )]
    TooManyGroups(String),
    #[error("the $Default consumer group cannot be deleted")]
    DefaultGroup,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Changes(#[from] ChangesError),
}

/// The hubs served now, by lower-cased name and in order.
#[derive(Debug, Default)]
struct Hubs {
    by_name: HashMap<String, Arc<Hub>>,
    order: Vec<Arc<Hub>>,
}

impl Hubs {
    fn insert(&mut self, hub: Arc<Hub>) {
        self.by_name
            .insert(hub.name.to_ascii_lowercase(), hub.clone());
        self.order.push(hub);
    }

    fn remove(&mut self, name: &str) -> Option<Arc<Hub>> {
        let hub = self.by_name.remove(&name.to_ascii_lowercase())?;
        self.order.retain(|h| !Arc::ptr_eq(h, &hub));
        Some(hub)
    }
}

/// What opening a partition's journal needs.
#[derive(Debug, Clone)]
struct Opening {
    data_dir: Option<PathBuf>,
    namespace_bytes: Arc<AtomicU64>,
    max_bytes: u64,
}

/// Every hub the emulator serves.
#[derive(Debug)]
pub struct Namespace {
    pub name: String,
    hubs: RwLock<Hubs>,
    /// The namespace's retention, for the configured hubs.
    pub retention: Duration,
    configured: Vec<HubConfig>,
    /// Held for the whole of a create or delete, so that they happen one at a time and the
    /// kept changes always match what is served.
    changes: Mutex<Changes>,
    opening: Opening,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Namespace {
    /// Builds the namespace, reopening journals under `config.data_dir` when set, with the
    /// hubs and groups created and deleted at run time applied on top of the configuration.
    ///
    /// # Errors
    /// [`ManageError::Store`] when a journal cannot be opened or read;
    /// [`ManageError::Changes`] when the kept run-time changes cannot be read.
    pub fn open(config: &EmulatorConfig) -> Result<Self, ManageError> {
        let changes = match &config.data_dir {
            Some(dir) => Changes::load(dir)?,
            None => Changes::default(),
        };
        let opening = Opening {
            data_dir: config.data_dir.clone(),
            namespace_bytes: Arc::new(AtomicU64::new(0)),
            max_bytes: config.max_retained_bytes,
        };
        let opened_ms = now_ms();
        let mut hubs = Hubs::default();
        for hub in changes.apply_to(&config.hubs) {
            let groups = std::iter::once(DEFAULT_CONSUMER_GROUP.to_owned())
                .chain(hub.consumer_groups.iter().cloned())
                .map(|name| ConsumerGroup {
                    created_ms: changes
                        .group_created_ms(&hub.name, &name)
                        .unwrap_or(opened_ms),
                    name,
                })
                .collect();
            hubs.insert(Arc::new(open_hub(
                &hub,
                config.retention,
                opened_ms,
                groups,
                &opening,
            )?));
        }
        for created in &changes.created {
            let hub = HubConfig {
                name: created.name.clone(),
                partition_count: created.partition_count,
                consumer_groups: Vec::new(),
            };
            let groups = std::iter::once(ConsumerGroup {
                name: DEFAULT_CONSUMER_GROUP.to_owned(),
                created_ms: created.created_ms,
            })
            .chain(created.consumer_groups.iter().cloned())
            .collect();
            let retention = Duration::from_secs(created.retention_secs);
            hubs.insert(Arc::new(open_hub(
                &hub,
                retention,
                created.created_ms,
                groups,
                &opening,
            )?));
        }
        let partitions: Vec<&Partition> = hubs
            .order
            .iter()
            .flat_map(|h| h.partitions.iter().map(AsRef::as_ref))
            .collect();
        evict_oldest_to_bound(&partitions, &opening.namespace_bytes, opening.max_bytes);
        Ok(Self {
            name: config.namespace.clone(),
            hubs: RwLock::new(hubs),
            retention: config.retention,
            configured: config.hubs.clone(),
            changes: Mutex::new(changes),
            opening,
        })
    }

    /// Looks a hub up case-insensitively, as the service does.
    #[must_use]
    pub fn hub(&self, name: &str) -> Option<Arc<Hub>> {
        read(&self.hubs)
            .by_name
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Hubs in configuration order, then in the order they were created.
    #[must_use]
    pub fn hubs(&self) -> Vec<Arc<Hub>> {
        read(&self.hubs).order.clone()
    }

    /// Creates a hub with `$Default` as its only consumer group.
    ///
    /// # Errors
    /// A [`ManageError`] saying which rule the spec breaks, or that the change could not be kept.
    pub fn create_hub(&self, spec: &HubSpec) -> Result<Arc<Hub>, ManageError> {
        let mut changes = self.lock_changes();
        self.check_new_hub(spec)?;
        let created_ms = now_ms();
        let default_group = ConsumerGroup {
            name: DEFAULT_CONSUMER_GROUP.to_owned(),
            created_ms,
        };
        let config = HubConfig {
            name: spec.name.clone(),
            partition_count: spec.partition_count,
            consumer_groups: Vec::new(),
        };
        // A hub deleted earlier under this name left no journal behind (see delete_hub).
        let hub = Arc::new(open_hub(
            &config,
            spec.retention,
            created_ms,
            vec![default_group],
            &self.opening,
        )?);
        let mut next = changes.clone();
        next.hub_created(CreatedHub {
            name: spec.name.clone(),
            partition_count: spec.partition_count,
            retention_secs: spec.retention.as_secs(),
            created_ms,
            consumer_groups: Vec::new(),
        });
        self.keep(&next)?;
        *changes = next;
        write(&self.hubs).insert(hub.clone());
        Ok(hub)
    }

    /// Whether [`Self::create_hub`] would take `spec` now, without creating anything.
    ///
    /// # Errors
    /// The [`ManageError`] creating it would give.
    pub fn check_new_hub(&self, spec: &HubSpec) -> Result<(), ManageError> {
        check_name("hub", &spec.name, MAX_HUB_NAME)?;
        if !(1..=MAX_PARTITIONS).contains(&spec.partition_count) {
            return Err(ManageError::PartitionCount(spec.partition_count));
        }
        if spec.retention < Duration::from_secs(1) {
            return Err(ManageError::Retention);
        }
        if let Some(existing) = self.hub(&spec.name) {
            return Err(ManageError::HubExists(existing.name.clone()));
        }
        if read(&self.hubs).order.len() >= MAX_HUBS {
            return Err(ManageError::TooManyHubs);
        }
        Ok(())
    }

    /// Deletes a hub with its events and journals. Links open on it fail from now on.
    ///
    /// # Errors
    /// [`ManageError::HubNotFound`], or the change could not be kept.
    pub fn delete_hub(&self, name: &str) -> Result<(), ManageError> {
        let mut changes = self.lock_changes();
        let hub = self
            .hub(name)
            .ok_or_else(|| ManageError::HubNotFound(name.to_owned()))?;
        let mut next = changes.clone();
        next.hub_deleted(&hub.name, self.configured_hub(&hub.name).is_some());
        self.keep(&next)?;
        *changes = next;
        write(&self.hubs).remove(&hub.name);
        for partition in &hub.partitions {
            partition.delete();
        }
        if let Some(dir) = &self.opening.data_dir {
            let journals = dir.join(&hub.name);
            if let Err(e) = std::fs::remove_dir_all(&journals) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::error!(path = %journals.display(), error = %e, "a deleted hub's journals could not be removed");
                }
            }
        }
        Ok(())
    }

    /// Creates a consumer group on a hub.
    ///
    /// # Errors
    /// A [`ManageError`] naming the missing hub, the existing group, the bad name or the limit.
    pub fn create_group(&self, hub: &str, group: &str) -> Result<ConsumerGroup, ManageError> {
        check_name("consumer group", group, MAX_GROUP_NAME)?;
        let mut changes = self.lock_changes();
        let hub = self
            .hub(hub)
            .ok_or_else(|| ManageError::HubNotFound(hub.to_owned()))?;
        let mut groups = write(&hub.groups);
        if let Some(existing) = groups.iter().find(|g| g.name.eq_ignore_ascii_case(group)) {
            return Err(ManageError::GroupExists {
                hub: hub.name.clone(),
                group: existing.name.clone(),
            });
        }
        if groups.len() > MAX_CONSUMER_GROUPS {
            return Err(ManageError::TooManyGroups(hub.name.clone()));
        }
        let created = ConsumerGroup {
            name: group.to_owned(),
            created_ms: now_ms(),
        };
        let mut next = changes.clone();
        next.group_created(
            &hub.name,
            created.clone(),
            self.configured_group(&hub.name, group),
        );
        self.keep(&next)?;
        *changes = next;
        groups.push(created.clone());
        Ok(created)
    }

    /// Deletes a consumer group; its readers keep reading until they detach.
    ///
    /// # Errors
    /// A [`ManageError`] naming the missing hub or group; `$Default` cannot be deleted.
    pub fn delete_group(&self, hub: &str, group: &str) -> Result<(), ManageError> {
        if group.eq_ignore_ascii_case(DEFAULT_CONSUMER_GROUP) {
            return Err(ManageError::DefaultGroup);
        }
        let mut changes = self.lock_changes();
        let hub = self
            .hub(hub)
            .ok_or_else(|| ManageError::HubNotFound(hub.to_owned()))?;
        let mut groups = write(&hub.groups);
        let Some(index) = groups
            .iter()
            .position(|g| g.name.eq_ignore_ascii_case(group))
        else {
            return Err(ManageError::GroupNotFound {
                hub: hub.name.clone(),
                group: group.to_owned(),
            });
        };
        let mut next = changes.clone();
        next.group_deleted(
            &hub.name,
            &groups[index].name,
            self.configured_group(&hub.name, group),
        );
        self.keep(&next)?;
        *changes = next;
        groups.remove(index);
        Ok(())
    }

    fn lock_changes(&self) -> std::sync::MutexGuard<'_, Changes> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the changes down first: what is served never runs ahead of what a restart keeps.
    fn keep(&self, changes: &Changes) -> Result<(), ManageError> {
        match &self.opening.data_dir {
            Some(dir) => Ok(changes.save(dir)?),
            None => Ok(()),
        }
    }

    fn configured_hub(&self, name: &str) -> Option<&HubConfig> {
        self.configured
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }

    fn configured_group(&self, hub: &str, group: &str) -> bool {
        self.configured_hub(hub).is_some_and(|h| {
            h.consumer_groups
                .iter()
                .any(|g| g.eq_ignore_ascii_case(group))
        })
    }

    /// Applies time retention to every partition; returns how many events expired.
    #[must_use]
    pub fn expire(&self) -> usize {
        let now = now_ms();
        self.hubs()
            .iter()
            .map(|hub| {
                let cutoff = now - i64::try_from(hub.retention.as_millis()).unwrap_or(i64::MAX);
                hub.partitions
                    .iter()
                    .map(|p| p.expire_before(cutoff))
                    .sum::<usize>()
            })
            .sum()
    }

    /// Compacts every journal that has grown well past what its partition retains (see
    /// [`Partition::compact_journal`]); returns the bytes reclaimed.
    pub fn compact_journals(&self) -> u64 {
        let mut reclaimed = 0;
        for hub in self.hubs() {
            for partition in &hub.partitions {
                match partition.compact_journal(JOURNAL_COMPACTION_SLACK) {
                    Ok(bytes) => reclaimed += bytes,
                    Err(e) => {
                        tracing::error!(partition = %partition.id, error = %e, "journal compaction failed");
                    }
                }
            }
        }
        reclaimed
    }

    /// Syncs every journal to disk.
    pub fn sync(&self) {
        for hub in self.hubs() {
            for partition in &hub.partitions {
                if let Err(e) = partition.sync() {
                    tracing::error!(partition = %partition.id, error = %e, "journal sync failed");
                }
            }
        }
    }
}

/// The service's naming rules for hubs and consumer groups.
fn check_name(what: &'static str, name: &str, max_len: usize) -> Result<(), ManageError> {
    let why = if name.is_empty() || name.len() > max_len {
        format!("it must be 1 to {max_len} characters long")
    } else if !is_valid_entity_name(name) {
        "it may contain only letters, digits, periods, hyphens, underscores and slashes, and must start and end with a letter or digit".to_owned()
    } else {
        return Ok(());
    };
    Err(ManageError::InvalidName {
        what,
        name: name.to_owned(),
        why,
    })
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
    retention: Duration,
    created_ms: i64,
    groups: Vec<ConsumerGroup>,
    opening: &Opening,
) -> Result<Hub, StoreError> {
    let cutoff_ms = now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut partitions = Vec::new();
    for index in 0..config.partition_count {
        let id = index.to_string();
        let journal = match opening.data_dir.as_deref() {
            Some(dir) => Some(Journal::open(
                &journal_path(dir, &config.name, &id),
                cutoff_ms,
            )?),
            None => None,
        };
        partitions.push(Arc::new(Partition::new(
            id,
            journal,
            opening.namespace_bytes.clone(),
            opening.max_bytes,
        )));
    }
    Ok(Hub {
        name: config.name.clone(),
        created_ms,
        retention,
        partitions,
        groups: RwLock::new(groups),
        ownership: Ownership::default(),
        spread: AtomicUsize::new(0),
    })
}

fn journal_path(dir: &Path, hub: &str, partition: &str) -> PathBuf {
    dir.join(hub).join(format!("{partition}.log"))
}

#[cfg(test)]
#[path = "namespace_tests.rs"]
mod tests;
