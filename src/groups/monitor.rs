//! One check of a hub's consumer groups: the partitions' properties from the hub, checkpoints
//! and owners from the store (one listing per hub prefix) or, for Kafka groups, committed
//! offsets and assignments from the namespace's Kafka endpoint; the enqueued time of each
//! group's oldest unprocessed event (one receive, remembered: an event's enqueued time never
//! changes), and the pace since the previous checks. `hubscope lag` and the app's tab both run
//! this.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use azure_messaging_eventhubs::{ConsumerClient, OpenReceiverOptions};
use azure_messaging_eventhubs::{StartLocation, StartPosition};
use futures::StreamExt as _;
use serde::Serialize;

use crate::checkpoints::{CheckpointStore, GroupCheckpoints, HubLocation, StoreError};
use crate::hub::{self, HubError, HubSnapshot, Target};
use crate::kafka::{KafkaError, KafkaGroups};

use super::pace::PaceTracker;
use super::report::{group_lag, GroupKind, GroupLag, PartitionInput, Rules};

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
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

/// Where the groups' positions are read.
enum Source {
    Store(CheckpointStore),
    Kafka(KafkaGroups),
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
    source: Source,
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
        Self::with_source(target, Source::Store(store), rules)
    }

    /// Kafka consumer groups of the hub, read from its namespace's Kafka endpoint.
    #[must_use]
    pub fn kafka(target: Target, groups: KafkaGroups, rules: Rules) -> Self {
        Self::with_source(target, Source::Kafka(groups), rules)
    }

    fn with_source(target: Target, source: Source, rules: Rules) -> Self {
        Self {
            target,
            source,
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

    /// Where the groups' positions are read, for people: no secret in it.
    #[must_use]
    pub fn source(&self) -> String {
        match &self.source {
            Source::Store(store) => format!(
                "Checkpoints in container `{}` at {}",
                store.container(),
                store.endpoint()
            ),
            Source::Kafka(kafka) => format!("Kafka groups on {}", kafka.endpoint()),
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
        if matches!(self.source, Source::Kafka(_)) {
            return self.check_kafka(snapshot).await;
        }
        let location = self.locate().await?;
        let Source::Store(store) = &self.source else {
            return Err(HubError::Profile("no checkpoint store".into()).into());
        };
        let mut stored = store.read_hub(&location).await?;
        let container = store.container().to_owned();
        let mut notes = Vec::new();
        if !location.exact_namespace {
            notes.push(format!(
                "no checkpoints under this profile's namespace `{}`; read those under `{}`, the one \
                 namespace in container `{}` that holds hub `{}`",
                self.target.namespace(),
                location.namespace,
                container,
                snapshot.name
            ));
        }
        if location.prefixes.is_empty() {
            notes.push(format!(
                "container `{}` holds no checkpoints for hub `{}` under `{}`: every group reads as never checkpointed",
                container,
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

    /// One check of the hub's Kafka groups.
    async fn check_kafka(&mut self, snapshot: HubSnapshot) -> Result<HubLag, LagError> {
        let Source::Kafka(kafka) = &mut self.source else {
            return Err(HubError::Profile("no Kafka endpoint".into()).into());
        };
        let partitions: Vec<String> = snapshot.partitions.iter().map(|p| p.id.clone()).collect();
        let only = if self.only_named {
            self.groups.clone()
        } else {
            Vec::new()
        };
        let readings = kafka.read(&snapshot.name, &partitions, &only).await?;
        let endpoint = kafka.endpoint();
        let mut notes = Vec::new();
        if readings.is_empty() {
            notes.push(format!(
                "no Kafka consumer group on {endpoint} has committed offsets or members in `{}`",
                snapshot.name
            ));
        }
        let now = SystemTime::now();
        let at = Instant::now();
        let mut groups = Vec::with_capacity(readings.len());
        for (name, reading) in readings {
            let mut lag = self
                .group(&name, &reading.checkpoints, &snapshot, now, at)
                .await;
            lag.kind = GroupKind::Kafka;
            if reading.members == 0 && !reading.state.is_empty() {
                lag.warnings.push(format!(
                    "no consumer is in the group (state {}): nothing reads it now",
                    reading.state
                ));
            }
            groups.push(lag);
        }
        Ok(HubLag {
            hub: snapshot.name,
            checkpoint_namespace: format!("kafka://{endpoint}"),
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
        let Source::Store(store) = &self.source else {
            return Err(StoreError::Config("no checkpoint store".into()));
        };
        let location = store
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
        if let (false, Source::Store(store)) = (self.only_named, &self.source) {
            for group in store.groups(location).await? {
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
