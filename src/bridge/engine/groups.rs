//! The Consumer groups tab's job: [`LagMonitor`]s on the connected hub, one over the profile's
//! checkpoint store and one over the namespace's Kafka endpoint, checked every few seconds side
//! by side, with each group's lag kept as history.

use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{send_event, Engine};
use crate::bridge::{Event, GroupHistory, GroupsSnapshot, Waker};
use crate::checkpoints::{CheckpointStore, StorageAccount, StoreError};
use crate::consumer::lag::Series;
use crate::groups::{self, HubLag, LagMonitor, Rules};
use crate::hub::LocalEndpoint;
use crate::kafka::{KafkaAccess, KafkaError, KafkaGroups};
use crate::profiles::{CheckpointStoreSettings, ProfileKind};

/// How often the store and the hub are read: one List Blobs per hub prefix each time.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How much history the chart keeps.
const HISTORY: Duration = Duration::from_secs(30 * 60);
/// Each store request's limit.
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Starts watching the connected hub's groups (replacing any watch): checkpoint-store groups
    /// through `settings` when the profile has a store, and Kafka groups from the namespace's
    /// Kafka endpoint always.
    pub(super) fn watch_groups(&mut self, settings: Option<CheckpointStoreSettings>) {
        if let Some(stop) = self.groups.take() {
            stop.cancel();
        }
        let (snapshot, receiver) = watch::channel(GroupsSnapshot::default());
        send_event(&self.events, &self.waker, Event::GroupsStarted(receiver));
        let Some(target) = self.connected.clone() else {
            snapshot.send_modify(|s| s.error = Some("connect to a profile first".into()));
            return;
        };
        // A retention the user typed wins; the embedded endpoint knows its own.
        let typed = settings
            .as_ref()
            .and_then(|s| s.retention_duration().ok().flatten());
        let rules = Rules {
            retention: typed.or_else(|| self.local.as_ref().map(LocalEndpoint::retention)),
            ..Rules::default()
        };
        let mut sources = Vec::new();
        let store = match settings.map(|s| self.store_monitor(&target, &s, rules)) {
            Some(Ok(monitor)) => {
                sources.push(monitor.source());
                Some(monitor)
            }
            Some(Err(e)) => {
                sources.push(format!("no checkpoints: {e}"));
                None
            }
            None => None,
        };
        let kafka = match self.kafka_access() {
            Ok(access) => {
                let monitor =
                    LagMonitor::kafka(target, KafkaGroups::new(access, STORE_TIMEOUT), rules);
                sources.push(monitor.source());
                Ok(monitor)
            }
            Err(e) => Err(e.to_string()),
        };
        snapshot.send_modify(|s| s.source = sources.join(" · "));
        let cancel = CancellationToken::new();
        self.groups = Some(cancel.clone());
        let monitors = Monitors { store, kafka };
        tokio::spawn(run(monitors, snapshot, self.waker.clone(), cancel));
    }

    /// The checkpoint-store monitor for `settings`.
    fn store_monitor(
        &self,
        target: &crate::hub::Target,
        settings: &CheckpointStoreSettings,
        rules: Rules,
    ) -> Result<LagMonitor, StoreError> {
        let account = StorageAccount::parse(settings.store.expose(), target.credential())?;
        let store =
            CheckpointStore::new(account, &settings.container, settings.layout, STORE_TIMEOUT)?;
        let mut monitor = LagMonitor::new(target.clone(), store, rules)
            .with_namespace(Some(settings.namespace.trim().to_string()));
        if let Some(local) = &self.local {
            monitor.known_groups(local.consumer_groups(&target.hub));
        }
        monitor.known_groups(settings.groups.iter().cloned());
        Ok(monitor)
    }

    /// Where the connected profile's Kafka endpoint is: the embedded endpoint's own Kafka
    /// listener for a local profile, else as the profile says (`<namespace>:9093`).
    fn kafka_access(&self) -> Result<KafkaAccess, KafkaError> {
        let profile = self
            .profile
            .as_ref()
            .ok_or_else(|| KafkaError::Profile("connect to a profile first".into()))?;
        let endpoint = match (&profile.kind, &self.local) {
            (ProfileKind::LocalEmulator { .. }, Some(local)) => {
                Some(local.kafka_endpoint().ok_or_else(|| {
                    KafkaError::Profile("the embedded endpoint serves no Kafka".into())
                })?)
            }
            _ => None,
        };
        KafkaAccess::from_profile(profile, endpoint.as_deref())
    }
}

/// What one watch reads: the store's groups if the profile has one, and Kafka's groups (or why
/// the Kafka endpoint cannot be described).
struct Monitors {
    store: Option<LagMonitor>,
    kafka: Result<LagMonitor, String>,
}

impl Monitors {
    /// One check of both, side by side in one report. A Kafka endpoint that cannot be read is a
    /// note beside the store's groups (many namespaces have no Kafka: the Basic tier), and the
    /// error only when it is the only source.
    async fn check(&mut self) -> Result<HubLag, String> {
        let kafka = async {
            match &mut self.kafka {
                Ok(monitor) => monitor.check().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.clone()),
            }
        };
        let (store, kafka) = match &mut self.store {
            Some(monitor) => {
                let (store, kafka) = tokio::join!(monitor.check(), kafka);
                (Some(store.map_err(|e| e.to_string())), kafka)
            }
            None => (None, kafka.await),
        };
        match (store, kafka) {
            (None, kafka) => kafka,
            (Some(store), Ok(kafka)) => {
                let mut report = store?;
                report.consumer_groups.extend(kafka.consumer_groups);
                report.notes.extend(kafka.notes);
                Ok(report)
            }
            (Some(store), Err(e)) => {
                let mut report = store?;
                report.notes.push(format!("Kafka groups not read: {e}"));
                Ok(report)
            }
        }
    }
}

async fn run(
    mut monitors: Monitors,
    snapshot: watch::Sender<GroupsSnapshot>,
    waker: Waker,
    cancel: CancellationToken,
) {
    let started = Instant::now();
    loop {
        let checked = tokio::select! {
            () = cancel.cancelled() => return,
            checked = monitors.check() => checked,
        };
        let t = started.elapsed().as_secs_f64();
        snapshot.send_modify(|s| {
            s.checked_at = Some(SystemTime::now());
            s.elapsed_secs = t;
            match checked {
                Ok(report) => {
                    record_history(&mut s.history, &report.consumer_groups, t);
                    s.report = Some(report);
                    s.error = None;
                }
                Err(e) => s.error = Some(e),
            }
        });
        waker();
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
    }
}

fn record_history(
    history: &mut std::collections::BTreeMap<String, GroupHistory>,
    groups: &[groups::GroupLag],
    t: f64,
) {
    for group in groups {
        let entry = history.entry(group.key()).or_insert_with(|| GroupHistory {
            total: Series::new(HISTORY),
            partitions: std::collections::BTreeMap::new(),
        });
        entry.total.push(t, groups::as_f64(group.lag_events));
        for p in &group.partitions {
            entry
                .partitions
                .entry(p.partition_id.clone())
                .or_insert_with(|| Series::new(HISTORY))
                .push(t, groups::as_f64(p.lag_events));
        }
    }
}
