//! One check of a hub's consumer groups: the partitions' properties from the hub, checkpoints
//! and owners from the store (one listing per hub prefix), the enqueued time of each group's
//! oldest unprocessed event (one receive, remembered: an event's enqueued time never changes),
//! and the pace since the previous checks. `hubscope lag` and the app's tab both run this.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use azure_messaging_eventhubs::{ConsumerClient, OpenReceiverOptions};
use azure_messaging_eventhubs::{StartLocation, StartPosition};
use futures::StreamExt as _;
use serde::Serialize;

use crate::checkpoints::{CheckpointStore, GroupCheckpoints, HubLocation, StoreError};
use crate::hub::{self, HubError, HubSnapshot, Target};

use super::pace::PaceTracker;
use super::report::{group_lag, GroupLag, PartitionInput, Rules};

/// How long one receive of an oldest event may take before its age is reported unknown.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(5);
/// Enqueued times remembered; past this the memory starts over.
const REMEMBERED_EVENTS: usize = 10_000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum LagError {
    #[error(transparent)]
    Hub(#[from] HubError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The `hubscope lag --output json` document.
#[derive(Debug, Clone, Serialize)]
pub struct HubLag {
    pub hub: String,
    /// The namespace the checkpoints were found under, as the writers spelled it.
    pub checkpoint_namespace: String,
    pub consumer_groups: Vec<GroupLag>,
    /// Things the user should know about how the answer was found.
    pub notes: Vec<String>,
}

impl HubLag {
    /// The group most in need of attention: one an application reads (it has checkpoints)
    /// before one nobody reads, then losing events, then the most lag.
    #[must_use]
    pub fn most_urgent(&self) -> Option<&GroupLag> {
        self.consumer_groups
            .iter()
            .filter(|g| g.losing_events || g.lag_events > 0)
            .max_by_key(|g| (g.has_checkpoints, g.losing_events, g.lag_events))
    }
}

/// What to check: the hub, the store, which groups, and the rules.
pub struct LagMonitor {
    target: Target,
    store: CheckpointStore,
    /// The namespace prefix the user picked, when the profile's is not in the store.
    chosen_namespace: Option<String>,
    /// Groups to report even without checkpoints (asked for, or the emulator's topology).
    groups: Vec<String>,
    /// Report only [`Self::groups`], not every group found in the store.
    only_named: bool,
    pub rules: Rules,
    client: Option<ConsumerClient>,
    location: Option<HubLocation>,
    pace: PaceTracker,
    enqueued_times: HashMap<(String, i64), SystemTime>,
}

impl LagMonitor {
    #[must_use]
    pub fn new(target: Target, store: CheckpointStore, rules: Rules) -> Self {
        Self {
            target,
            store,
            chosen_namespace: None,
            groups: Vec::new(),
            only_named: false,
            rules,
            client: None,
            location: None,
            pace: PaceTracker::default(),
            enqueued_times: HashMap::new(),
        }
    }

    /// Report exactly these groups (`--consumer-group`).
    #[must_use]
    pub fn only_groups(mut self, groups: Vec<String>) -> Self {
        self.only_named = !groups.is_empty();
        self.groups = groups;
        self
    }

    /// Report these groups as well as those found in the store (the emulator's topology).
    pub fn known_groups(&mut self, groups: impl IntoIterator<Item = String>) {
        for group in groups {
            if !self.groups.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
                self.groups.push(group);
            }
        }
    }

    #[must_use]
    pub fn with_namespace(mut self, namespace: Option<String>) -> Self {
        self.chosen_namespace = namespace.filter(|n| !n.is_empty());
        self
    }

    /// One check. A failed hub connection is dropped and opened again on the next check.
    pub async fn check(&mut self) -> Result<HubLag, LagError> {
        let snapshot = self.properties().await?;
        let location = self.locate().await?;
        let mut stored = self.store.read_hub(&location).await?;
        let mut notes = Vec::new();
        if !location.exact_namespace {
            notes.push(format!(
                "no checkpoints under this profile's namespace `{}`; read those under `{}`, the one \
                 namespace in container `{}` that holds hub `{}`",
                self.target.namespace(),
                location.namespace,
                self.store.container(),
                snapshot.name
            ));
        }
        if location.prefixes.is_empty() {
            notes.push(format!(
                "container `{}` holds no checkpoints for hub `{}` under `{}`: every group reads as never checkpointed",
                self.store.container(),
                snapshot.name,
                location.namespace
            ));
        }
        let names = self.group_names(&location).await?;
        let now = SystemTime::now();
        let at = Instant::now();
        let mut groups = Vec::with_capacity(names.len());
        for name in names {
            let found = stored
                .remove(&name.to_ascii_lowercase())
                .unwrap_or_default();
            groups.push(self.group(&name, &found, &snapshot, now, at).await);
        }
        Ok(HubLag {
            hub: snapshot.name,
            checkpoint_namespace: location.namespace,
            consumer_groups: groups,
            notes,
        })
    }

    async fn group(
        &mut self,
        name: &str,
        found: &GroupCheckpoints,
        snapshot: &HubSnapshot,
        now: SystemTime,
        at: Instant,
    ) -> GroupLag {
        let mut oldest = Vec::with_capacity(snapshot.partitions.len());
        for partition in &snapshot.partitions {
            let checkpoint = found.checkpoints.get(&partition.id);
            let next = checkpoint.map_or(partition.beginning_sequence_number, |c| {
                (c.sequence_number + 1).max(partition.beginning_sequence_number)
            });
            let unread = !partition.is_empty && next <= partition.last_enqueued_sequence_number;
            oldest.push(if !unread {
                None
            } else if next == partition.last_enqueued_sequence_number {
                partition.last_enqueued_time
            } else {
                self.enqueued_time(&partition.id, next).await
            });
        }
        let inputs: Vec<PartitionInput<'_>> = snapshot
            .partitions
            .iter()
            .zip(oldest)
            .map(|(partition, oldest_unprocessed_enqueued)| {
                let checkpoint = found.checkpoints.get(&partition.id);
                PartitionInput {
                    partition,
                    checkpoint,
                    ownership: found.ownerships.get(&partition.id),
                    oldest_unprocessed_enqueued,
                    pace: self.pace.record(
                        name,
                        &partition.id,
                        at,
                        checkpoint.map(|c| c.sequence_number),
                        partition.last_enqueued_sequence_number,
                    ),
                }
            })
            .collect();
        group_lag(name, &inputs, self.rules, now)
    }

    async fn properties(&mut self) -> Result<HubSnapshot, HubError> {
        if self.client.is_none() {
            self.client = Some(
                hub::within("connect", hub::DEFAULT_TIMEOUT, self.target.open_consumer()).await?,
            );
        }
        let client = self
            .client
            .as_ref()
            .ok_or(HubError::Profile("no connection".into()))?;
        match hub::read_properties(client, hub::DEFAULT_TIMEOUT).await {
            Ok(snapshot) => Ok(snapshot),
            Err(e) => {
                if let Some(client) = self.client.take() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
                }
                Err(e)
            }
        }
    }

    /// Where the hub's checkpoints are; looked up again while there are none.
    async fn locate(&mut self) -> Result<HubLocation, StoreError> {
        if let Some(location) = self.location.as_ref().filter(|l| !l.prefixes.is_empty()) {
            return Ok(location.clone());
        }
        let location = self
            .store
            .locate(
                &self.target.namespace(),
                &self.target.hub,
                self.chosen_namespace.as_deref(),
            )
            .await?;
        self.location = Some(location.clone());
        Ok(location)
    }

    /// The named groups, then (unless only those were asked for) those found in the store; with
    /// none at all, `$Default`.
    async fn group_names(&self, location: &HubLocation) -> Result<Vec<String>, StoreError> {
        let mut names = self.groups.clone();
        if !self.only_named {
            for group in self.store.groups(location).await? {
                if !names.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
                    names.push(group);
                }
            }
        }
        if names.is_empty() {
            names.push(crate::profiles::model::DEFAULT_CONSUMER_GROUP.to_string());
        }
        Ok(names)
    }

    /// The enqueued time of event `sequence` on `partition`: one receive, then remembered.
    async fn enqueued_time(&mut self, partition: &str, sequence: i64) -> Option<SystemTime> {
        let key = (partition.to_string(), sequence);
        if let Some(time) = self.enqueued_times.get(&key) {
            return Some(*time);
        }
        let client = self.client.as_ref()?;
        let options = OpenReceiverOptions {
            prefetch: Some(1),
            start_position: Some(StartPosition {
                location: StartLocation::SequenceNumber(sequence),
                inclusive: true,
            }),
            ..OpenReceiverOptions::default()
        };
        let read = async {
            let receiver = client
                .open_receiver_on_partition(partition.to_string(), Some(options))
                .await
                .ok()?;
            let time = {
                let stream = receiver.stream_events();
                futures::pin_mut!(stream);
                match stream.next().await {
                    Some(Ok(event)) => event.enqueued_time(),
                    _ => None,
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), receiver.close()).await;
            time
        };
        let time = tokio::time::timeout(RECEIVE_TIMEOUT, read)
            .await
            .ok()
            .flatten()?;
        if self.enqueued_times.len() >= REMEMBERED_EVENTS {
            self.enqueued_times.clear();
        }
        self.enqueued_times.insert(key, time);
        Some(time)
    }
}
