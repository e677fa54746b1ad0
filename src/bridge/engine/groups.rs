//! The Consumer groups tab's job: a [`LagMonitor`] on the connected hub and the profile's
//! checkpoint store, checked every few seconds, with each group's lag kept as history.

use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{send_event, Engine};
use crate::bridge::{Event, GroupHistory, GroupsSnapshot, Waker};
use crate::checkpoints::{CheckpointStore, StorageAccount};
use crate::consumer::lag::Series;
use crate::groups::{self, LagMonitor, Rules};
use crate::hub::LocalEndpoint;
use crate::profiles::CheckpointStoreSettings;

/// How often the store and the hub are read: one List Blobs per hub prefix each time.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// How much history the chart keeps.
const HISTORY: Duration = Duration::from_secs(30 * 60);
/// Each store request's limit.
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// Starts watching the connected hub's groups through `settings` (replacing any watch), or
    /// stops watching when `settings` is `None`.
    pub(super) fn watch_groups(&mut self, settings: Option<CheckpointStoreSettings>) {
        if let Some(stop) = self.groups.take() {
            stop.cancel();
        }
        let Some(settings) = settings else {
            return;
        };
        let (snapshot, receiver) = watch::channel(GroupsSnapshot {
            source: format!("container `{}`", settings.container),
            ..GroupsSnapshot::default()
        });
        send_event(&self.events, &self.waker, Event::GroupsStarted(receiver));
        let Some(target) = self.connected.clone() else {
            snapshot.send_modify(|s| s.error = Some("connect to a profile first".into()));
            return;
        };
        let store = StorageAccount::parse(settings.store.expose(), target.credential()).and_then(
            |account| {
                CheckpointStore::new(account, &settings.container, settings.layout, STORE_TIMEOUT)
            },
        );
        let store = match store {
            Ok(store) => store,
            Err(e) => {
                snapshot.send_modify(|s| s.error = Some(e.to_string()));
                (self.waker)();
                return;
            }
        };
        snapshot.send_modify(|s| {
            s.source = format!("container `{}` at {}", store.container(), store.endpoint());
        });
        // A retention the user typed wins; the embedded endpoint knows its own.
        let typed = settings.retention_duration().ok().flatten();
        let rules = Rules {
            retention: typed.or_else(|| self.local.as_ref().map(LocalEndpoint::retention)),
            ..Rules::default()
        };
        let mut monitor = LagMonitor::new(target.clone(), store, rules)
            .with_namespace(Some(settings.namespace.trim().to_string()));
        if let Some(local) = &self.local {
            monitor.known_groups(local.consumer_groups(&target.hub));
        }
        monitor.known_groups(settings.groups.iter().cloned());
        let cancel = CancellationToken::new();
        self.groups = Some(cancel.clone());
        tokio::spawn(run(monitor, snapshot, self.waker.clone(), cancel));
    }
}

async fn run(
    mut monitor: LagMonitor,
    snapshot: watch::Sender<GroupsSnapshot>,
    waker: Waker,
    cancel: CancellationToken,
) {
    let started = Instant::now();
    loop {
        let checked = tokio::select! {
            () = cancel.cancelled() => return,
            checked = monitor.check() => checked,
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
                Err(e) => s.error = Some(e.to_string()),
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
        let entry = history
            .entry(group.name.clone())
            .or_insert_with(|| GroupHistory {
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
