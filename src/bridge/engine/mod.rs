//! The runtime side of the bridge: one task that owns the connection, the embedded endpoint and
//! the inspector's refresh loop, and turns [`Command`]s into work.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

mod files;
mod groups;
mod jobs;
mod namespace;
mod session;

use session::Session;

use super::{Command, ConnectionState, Event, LoadResult, Notice, Snapshot, TestReport, Waker};
use crate::consumer::live::{self, LiveSession};
use crate::hub::{self, HubError, LocalEndpoint, Target};
use crate::profiles::{Profile, ProfileKind, ProfileStore};

/// Refreshes faster than this would only load the endpoint.
const MIN_REFRESH: Duration = Duration::from_millis(250);

/// What a connection replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconnect {
    /// A profile chosen (or chosen again): it shows as connecting until its hub answers.
    Profile,
    /// Another hub of the connected profile: the profile stays connected meanwhile.
    HubOnly,
}

struct Engine {
    events: mpsc::Sender<Event>,
    snapshot: watch::Sender<Snapshot>,
    waker: Waker,
    store: ProfileStore,
    local: Option<LocalEndpoint>,
    session: Option<CancellationToken>,
    /// The connected hub, for sends and live views.
    connected: Option<Target>,
    live: Option<LiveSession>,
    /// The composer's producers: a small pool on the connected hub, opened on first send.
    composer_pool: Option<Arc<crate::producer::pool::ProducerPool>>,
    /// Stops the running load, if any.
    load: Option<CancellationToken>,
    /// Stops the Consumer groups tab's checks, if any.
    groups: Option<CancellationToken>,
    /// The last finished run, for exports; written by the run's task.
    last_load: Arc<std::sync::Mutex<Option<Box<LoadResult>>>>,
    refresh_interval: watch::Sender<Duration>,
    refresh_now: Arc<Notify>,
    /// The connected profile, as the tree's hub switches start from.
    profile: Option<Profile>,
    /// The namespace's management client and the watch that reads its tree.
    namespace: Option<(crate::management::ManagementClient, CancellationToken)>,
    /// Wakes that watch for a read now.
    namespace_now: Arc<Notify>,
}

pub(super) async fn run(
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    snapshot: watch::Sender<Snapshot>,
    store: ProfileStore,
    waker: Waker,
) {
    let (refresh_interval, _) = watch::channel(super::DEFAULT_REFRESH);
    let mut engine = Engine {
        events,
        snapshot,
        waker,
        store,
        local: None,
        session: None,
        connected: None,
        live: None,
        load: None,
        groups: None,
        composer_pool: None,
        last_load: Arc::default(),
        refresh_interval,
        refresh_now: Arc::new(Notify::new()),
        profile: None,
        namespace: None,
        namespace_now: Arc::new(Notify::new()),
    };
    while let Some(command) = commands.recv().await {
        engine.handle(command).await;
    }
    engine.disconnect();
    if let Some(local) = engine.local.take() {
        local.shutdown().await;
    }
}

impl Engine {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::StartEmbedded(profile) => {
                if self.local.is_none() {
                    if let Err(e) = self.resolve(&profile).await {
                        self.notify(Notice::error(
                            "The embedded endpoint did not start",
                            e.to_string(),
                        ));
                    }
                }
            }
            Command::Connect(profile) => self.connect(profile).await,
            Command::Disconnect => self.disconnect(),
            Command::Test {
                request_id,
                profile,
            } => self.test(request_id, &profile).await,
            Command::SetRefreshInterval(interval) => {
                let interval = interval.max(MIN_REFRESH);
                self.refresh_interval.send_replace(interval);
                self.update(|s| s.refresh_interval = interval);
            }
            Command::RefreshNow => self.refresh_now.notify_one(),
            Command::SaveProfiles(file) => {
                let store = self.store.clone();
                let saved = tokio::task::spawn_blocking(move || store.save(&file)).await;
                let failure = match saved {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(detail) = failure {
                    self.notify(Notice::error("Profiles were not saved", detail));
                }
            }
            Command::Browse { purpose, suggested } => self.spawn_browse(purpose, suggested),
            Command::ExportProfiles {
                profiles,
                include_secrets,
                path,
            } => self.spawn_profiles_export(profiles, include_secrets, path),
            Command::ImportProfiles(path) => self.spawn_profiles_import(path),
            Command::Send {
                request_id,
                source,
                packing,
                partition_ids,
            } => self.spawn_send(request_id, source, packing, partition_ids),
            Command::StartLive(config) => self.start_live(&config),
            Command::PauseLive(paused) => {
                if let Some(live) = &self.live {
                    live.pause(paused);
                }
            }
            Command::StopLive => self.live = None,
            Command::SetLiveFilter { jq, text } => self.spawn_live_filter(&jq, &text),
            Command::SetLiveCapacity(capacity) => {
                if let Some(live) = &self.live {
                    live::lock(&live.store).set_capacity(capacity);
                }
            }
            Command::ExportLive { only_shown, path } => self.spawn_live_export(only_shown, path),
            Command::StartLoad {
                plan,
                partition_ids,
                end_to_end,
            } => self.start_load(plan, partition_ids, end_to_end),
            Command::StopLoad => {
                if let Some(stop) = self.load.take() {
                    stop.cancel();
                }
            }
            Command::ExportLoad { format, path } => self.spawn_load_export(format, path),
            Command::WatchGroups(settings) => self.watch_groups(settings),
            Command::SwitchHub(hub) => self.switch_hub(&hub).await,
            Command::Manage(change) => self.manage(change),
            Command::RefreshNamespace => self.namespace_now.notify_one(),
        }
    }

    /// Replaces the snapshot and wakes the UI.
    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(change);
        (self.waker)();
    }

    fn notify(&self, notice: Notice) {
        send_event(&self.events, &self.waker, Event::Notice(notice));
    }

    /// The target for `profile`, starting (or restarting) the embedded endpoint it needs.
    async fn resolve(&mut self, profile: &Profile) -> Result<Target, HubError> {
        let ProfileKind::LocalEmulator {
            port, config_path, ..
        } = &profile.kind
        else {
            return Target::from_profile(profile);
        };
        if !self.local.as_ref().is_some_and(|l| l.serves(profile)) {
            if let Some(old) = self.local.take() {
                old.shutdown().await;
            }
            let local = LocalEndpoint::start(*port, config_path.as_deref()).await?;
            if local.port() != *port {
                self.notify(Notice::info(format!(
                    "Port {port} is taken: the embedded endpoint listens on port {} instead",
                    local.port()
                )));
            }
            self.local = Some(local);
        }
        match &self.local {
            Some(local) => local.target(profile),
            None => Err(HubError::Emulator(
                "the embedded endpoint is not running".into(),
            )),
        }
    }

    /// Connects to `profile` and starts reading its namespace's tree. A profile that names no
    /// hub (a namespace-level connection string) works on the namespace's first; the tree
    /// offers the others.
    async fn connect(&mut self, profile: Profile) {
        self.stop_namespace();
        self.update(|s| s.namespace = crate::bridge::NamespaceState::Unknown);
        let profile = match profile.hub() {
            Some(_) => profile,
            None => match self.first_hub(&profile).await {
                Some(hub) => profile.with_hub(&hub),
                None => profile,
            },
        };
        self.connect_keeping_namespace(profile.clone(), Reconnect::Profile)
            .await;
        // The tree is read even when the hub could not be: it is where another is chosen.
        self.profile = Some(profile.clone());
        self.watch_namespace(&profile);
    }

    /// Connects to `profile`; the namespace's tree, if one is shown, stays. For a switch of hub
    /// on a connected profile the profile stays connected while the new hub is read.
    async fn connect_keeping_namespace(&mut self, profile: Profile, reconnect: Reconnect) {
        let stays_connected = reconnect == Reconnect::HubOnly
            && matches!(
                &self.snapshot.borrow().connection,
                ConnectionState::Connected { profile: p, .. } if *p == profile.name
            );
        self.stop_session();
        self.profile = None;
        let name = profile.name.clone();
        let target = match self.resolve(&profile).await {
            Ok(target) => target,
            Err(e) => {
                let error = e.to_string();
                self.update(|s| {
                    *s = Snapshot {
                        connection: ConnectionState::Failed {
                            profile: name.clone(),
                            endpoint: profile.endpoint_label(),
                            error: error.clone(),
                        },
                        refresh_interval: s.refresh_interval,
                        namespace: s.namespace.clone(),
                        ..Snapshot::default()
                    };
                });
                self.notify(Notice::error(format!("Could not connect to {name}"), error));
                return;
            }
        };
        self.profile = Some(profile.clone());
        let endpoint = target.endpoint_label.clone();
        let consumer_groups = self.known_groups(&profile, &target);
        self.update(|s| {
            *s = Snapshot {
                connection: if stays_connected {
                    ConnectionState::Connected {
                        profile: name.clone(),
                        endpoint: endpoint.clone(),
                    }
                } else {
                    ConnectionState::Connecting {
                        profile: name.clone(),
                        endpoint: endpoint.clone(),
                    }
                },
                refresh_interval: s.refresh_interval,
                consumer_groups,
                working_hub: Some(target.hub.clone()),
                namespace: s.namespace.clone(),
                ..Snapshot::default()
            };
        });
        let cancel = CancellationToken::new();
        self.session = Some(cancel.clone());
        self.connected = Some(target.clone());
        let session = Session {
            name,
            target,
            snapshot: self.snapshot.clone(),
            events: self.events.clone(),
            waker: self.waker.clone(),
            interval: self.refresh_interval.subscribe(),
            refresh_now: self.refresh_now.clone(),
        };
        tokio::spawn(session.run(cancel));
    }

    /// The hub's consumer groups as far as the app knows them without management rights.
    fn known_groups(&self, profile: &Profile, target: &Target) -> Vec<String> {
        let mut groups = match (&profile.kind, &self.local) {
            (ProfileKind::LocalEmulator { .. }, Some(local)) => local.consumer_groups(&target.hub),
            _ => Vec::new(),
        };
        let named = std::iter::once(profile.consumer_group.clone()).chain(
            profile
                .checkpoint_store
                .iter()
                .flat_map(|s| s.groups.clone()),
        );
        for group in named {
            if !group.is_empty() && !groups.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
                groups.push(group);
            }
        }
        groups
    }

    fn stop_session(&mut self) {
        self.connected = None;
        self.live = None;
        if let Some(stop) = self.groups.take() {
            stop.cancel();
        }
        if let Some(pool) = self.composer_pool.take() {
            tokio::spawn(async move { pool.close().await });
        }
        if let Some(cancel) = self.session.take() {
            cancel.cancel();
        }
    }

    /// Ends the connection; the embedded endpoint keeps running (it lives as long as the app).
    fn disconnect(&mut self) {
        self.stop_session();
        self.stop_namespace();
        self.profile = None;
        self.update(|s| {
            *s = Snapshot {
                refresh_interval: s.refresh_interval,
                ..Snapshot::default()
            };
        });
    }

    async fn test(&mut self, request_id: u64, profile: &Profile) {
        let target = match self.resolve(profile).await {
            Ok(target) => target,
            Err(e) => {
                let outcome = Err(e);
                send_event(
                    &self.events,
                    &self.waker,
                    Event::TestFinished {
                        request_id,
                        outcome,
                    },
                );
                return;
            }
        };
        let events = self.events.clone();
        let waker = self.waker.clone();
        tokio::spawn(async move {
            let outcome = hub::probe(&target, hub::DEFAULT_TIMEOUT)
                .await
                .map(|probe| TestReport {
                    round_trip: probe.round_trip,
                    hub: probe.hub.name,
                    partition_ids: probe.hub.partitions.into_iter().map(|p| p.id).collect(),
                    endpoint: target.endpoint_label.clone(),
                });
            send_event(
                &events,
                &waker,
                Event::TestFinished {
                    request_id,
                    outcome,
                },
            );
        });
    }
}

/// Hands an event to the UI; if the UI has fallen 256 events behind, this one is dropped
/// (and logged) rather than stalling the runtime.
fn send_event(events: &mpsc::Sender<Event>, waker: &Waker, event: Event) {
    if let Err(e) = events.try_send(event) {
        tracing::warn!("event for the UI dropped: {e}");
    }
    waker();
}
