//! The runtime side of the bridge: one task that owns the connection, the embedded endpoint and
//! the inspector's refresh loop, and turns [`Command`]s into work.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;

use super::{Command, ConnectionState, Event, LiveHandle, Notice, Snapshot, TestReport, Waker};
use super::{LoadExport, LoadResult};
use crate::consumer::filter::EventFilter;
use crate::consumer::live::{self, LiveConfig, LiveSession};
use crate::consumer::ReceivedRecord;
use crate::hub::{self, HubError, LocalEndpoint, Target};
use crate::loadgen::{self, run::Progress, Plan};
use crate::producer::pool::{PoolConfig, ProducerPool};
use crate::producer::{self, Packing, SendReceipt, SendSource};
use crate::profiles::{store, Profile, ProfileKind, ProfileStore};

/// Refreshes faster than this would only load the endpoint.
const MIN_REFRESH: Duration = Duration::from_millis(250);

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
    /// Stops the running load, if any.
    load: Option<CancellationToken>,
    /// The last finished run, for exports; written by the run's task.
    last_load: Arc<std::sync::Mutex<Option<Box<LoadResult>>>>,
    refresh_interval: watch::Sender<Duration>,
    refresh_now: Arc<Notify>,
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
        last_load: Arc::default(),
        refresh_interval,
        refresh_now: Arc::new(Notify::new()),
    };
    while let Some(command) = commands.recv().await {
        engine.handle(command).await;
    }
    engine.disconnect().await;
}

impl Engine {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Connect(profile) => self.connect(profile).await,
            Command::Disconnect => self.disconnect().await,
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
            Command::ExportProfiles {
                profiles,
                include_secrets,
            } => self.spawn_export(profiles, include_secrets),
            Command::ImportProfiles => self.spawn_import(),
            Command::PickEmulatorConfig => self.spawn_pick_config(),
            Command::PickSendFile => self.spawn_pick_send_file(),
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
            Command::ExportLive { only_shown } => self.spawn_live_export(only_shown),
            Command::StartLoad {
                plan,
                partition_ids,
            } => self.start_load(plan, partition_ids),
            Command::StopLoad => {
                if let Some(stop) = self.load.take() {
                    stop.cancel();
                }
            }
            Command::ExportLoad(format) => self.spawn_load_export(format),
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

    async fn connect(&mut self, profile: Profile) {
        self.stop_session();
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
                        ..Snapshot::default()
                    };
                });
                self.notify(Notice::error(format!("Could not connect to {name}"), error));
                return;
            }
        };
        let endpoint = target.endpoint_label.clone();
        self.update(|s| {
            *s = Snapshot {
                connection: ConnectionState::Connecting {
                    profile: name.clone(),
                    endpoint: endpoint.clone(),
                },
                refresh_interval: s.refresh_interval,
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

    fn stop_session(&mut self) {
        self.connected = None;
        self.live = None;
        if let Some(cancel) = self.session.take() {
            cancel.cancel();
        }
    }

    async fn disconnect(&mut self) {
        self.stop_session();
        if let Some(local) = self.local.take() {
            local.shutdown().await;
        }
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
                let outcome = Err(e.to_string());
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
                })
                .map_err(|e| e.to_string());
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

    fn spawn_export(&self, profiles: Vec<Profile>, include_secrets: bool) {
        let events = self.events.clone();
        let waker = self.waker.clone();
        tokio::spawn(async move {
            let Some(file) = rfd::AsyncFileDialog::new()
                .set_file_name("hubscope-profiles.json")
                .add_filter("JSON", &["json"])
                .save_file()
                .await
            else {
                return;
            };
            let path = file.path().to_path_buf();
            let count = profiles.len();
            let written = tokio::task::spawn_blocking(move || {
                store::export(&path, &profiles, include_secrets).map(|()| path)
            })
            .await;
            let notice = match written {
                Ok(Ok(path)) => Notice::info(format!(
                    "Exported {count} profile(s) to {}{}",
                    path.display(),
                    if include_secrets {
                        " with their secrets"
                    } else {
                        " without secrets"
                    }
                )),
                Ok(Err(e)) => Notice::error("Export failed", e.to_string()),
                Err(e) => Notice::error("Export failed", e.to_string()),
            };
            send_event(&events, &waker, Event::Notice(notice));
        });
    }

    fn spawn_import(&self) {
        let events = self.events.clone();
        let waker = self.waker.clone();
        tokio::spawn(async move {
            let Some(file) = rfd::AsyncFileDialog::new()
                .add_filter("JSON", &["json"])
                .pick_file()
                .await
            else {
                return;
            };
            let path = file.path().to_path_buf();
            let event = match tokio::task::spawn_blocking(move || store::import(&path)).await {
                Ok(Ok(profiles)) => Event::Imported(profiles),
                Ok(Err(e)) => Event::Notice(Notice::error("Import failed", e.to_string())),
                Err(e) => Event::Notice(Notice::error("Import failed", e.to_string())),
            };
            send_event(&events, &waker, event);
        });
    }

    /// Opens a producer for this one send and closes it after; the pooled producer (the load
    /// generator's) will take this over.
    fn spawn_send(
        &self,
        request_id: u64,
        source: SendSource,
        packing: Packing,
        partition_ids: Vec<String>,
    ) {
        let events = self.events.clone();
        let waker = self.waker.clone();
        let target = self.connected.clone();
        tokio::spawn(async move {
            let mut receipts = Vec::new();
            let error = match target {
                None => Some("not connected: connect to a profile first".to_string()),
                Some(target) => send_from(&target, source, packing, &partition_ids, &mut receipts)
                    .await
                    .err(),
            };
            send_event(
                &events,
                &waker,
                Event::SendFinished {
                    request_id,
                    receipts,
                    error,
                },
            );
        });
    }

    fn start_live(&mut self, config: &LiveConfig) {
        self.live = None;
        let Some(target) = &self.connected else {
            self.notify(Notice::error("No live view", "connect to a profile first"));
            return;
        };
        let mut target = target.clone();
        if let Some(group) = config.consumer_group.as_ref().filter(|g| !g.is_empty()) {
            target.consumer_group.clone_from(group);
        }
        let waker = self.waker.clone();
        let session = LiveSession::start(
            &target,
            &config.partitions,
            config,
            Arc::new(move || waker()),
        );
        let handle = LiveHandle {
            store: session.store.clone(),
            snapshot: session.snapshot.clone(),
        };
        self.live = Some(session);
        send_event(&self.events, &self.waker, Event::LiveStarted(handle));
    }

    /// Compiles the filter and refilters what is kept off the runtime's async threads; the
    /// store's lock is held only to swap filters and results, never while filtering.
    fn spawn_live_filter(&self, jq: &str, text: &str) {
        let Some(live) = &self.live else { return };
        let filter = match EventFilter::new(jq, text) {
            Ok(filter) => filter,
            Err(e) => {
                send_event(&self.events, &self.waker, Event::LiveFilterRejected(e));
                return;
            }
        };
        let store = live.store.clone();
        let waker = self.waker.clone();
        tokio::task::spawn_blocking(move || {
            let (kept, filter) = live::lock(&store).begin_refilter(filter);
            let matched = kept.into_iter().filter(|r| filter.matches(r)).collect();
            live::lock(&store).finish_refilter(matched);
            waker();
        });
    }

    fn spawn_live_export(&self, only_shown: bool) {
        let Some(live) = &self.live else { return };
        let store = live.store.clone();
        let events = self.events.clone();
        let waker = self.waker.clone();
        tokio::spawn(async move {
            let Some(file) = rfd::AsyncFileDialog::new()
                .set_file_name("hubscope-events.jsonl")
                .save_file()
                .await
            else {
                return;
            };
            let path = file.path().to_path_buf();
            let rows = live::lock(&store).export_rows(only_shown);
            let written =
                tokio::task::spawn_blocking(move || write_jsonl(&path, &rows).map(|n| (path, n)))
                    .await;
            let notice = match written {
                Ok(Ok((path, n))) => {
                    Notice::info(format!("Exported {n} events to {}", path.display()))
                }
                Ok(Err(e)) => Notice::error("Export failed", e.to_string()),
                Err(e) => Notice::error("Export failed", e.to_string()),
            };
            send_event(&events, &waker, Event::Notice(notice));
        });
    }

    fn start_load(&mut self, plan: Plan, partition_ids: Vec<String>) {
        if let Some(previous) = self.load.take() {
            previous.cancel();
        }
        let Some(target) = self.connected.clone() else {
            send_event(
                &self.events,
                &self.waker,
                Event::LoadFinished(Err("connect to a profile first".into())),
            );
            return;
        };
        let stop = CancellationToken::new();
        self.load = Some(stop.clone());
        let (progress, watch_progress) = watch::channel(Progress::default());
        send_event(
            &self.events,
            &self.waker,
            Event::LoadStarted(watch_progress),
        );
        let (events, waker) = (self.events.clone(), self.waker.clone());
        let last_load = self.last_load.clone();
        let ticker = self.waker.clone();
        let mut seen = progress.subscribe();
        tokio::spawn(async move {
            // Each second's progress wakes the UI.
            while seen.changed().await.is_ok() {
                ticker();
            }
        });
        tokio::spawn(async move {
            let pool = ProducerPool::new(
                target,
                PoolConfig {
                    connections: plan.pool_size,
                    in_flight_per_connection: plan.in_flight_per_connection,
                    ..PoolConfig::default()
                },
            );
            let outcome = match Box::pin(pool.warm_up(&partition_ids)).await {
                Err(e) => Err(format!("could not open the producer pool: {e}")),
                Ok(()) => {
                    loadgen::run::run(plan, pool.clone(), partition_ids, stop, progress).await
                }
            };
            pool.close().await;
            let result = outcome.map(|o| {
                Box::new(LoadResult {
                    csv: o.metrics.seconds_csv(),
                    histogram: o.metrics.hdr_base64(),
                    report: o.report,
                    notes: o.notes,
                })
            });
            if let (Ok(result), Ok(mut last)) = (&result, last_load.lock()) {
                *last = Some(result.clone());
            }
            send_event(&events, &waker, Event::LoadFinished(result));
        });
    }

    fn spawn_load_export(&self, format: LoadExport) {
        let last = self.last_load.lock().ok().and_then(|l| l.clone());
        let Some(result) = last else {
            self.notify(Notice::error(
                "Nothing to export",
                "no load run has finished yet",
            ));
            return;
        };
        let (events, waker) = (self.events.clone(), self.waker.clone());
        tokio::spawn(async move {
            let (name, text) = match format {
                LoadExport::Json => (
                    "hubscope-load.json",
                    serde_json::to_string_pretty(&result.report).map_err(|e| e.to_string()),
                ),
                LoadExport::Csv => ("hubscope-load-seconds.csv", Ok(result.csv.clone())),
                LoadExport::Histogram => {
                    ("hubscope-load-latency.hgrm.b64", result.histogram.clone())
                }
            };
            let notice = match text {
                Err(e) => Notice::error("Export failed", e),
                Ok(text) => match rfd::AsyncFileDialog::new()
                    .set_file_name(name)
                    .save_file()
                    .await
                {
                    None => return,
                    Some(file) => match tokio::fs::write(file.path(), text).await {
                        Ok(()) => Notice::info(format!("Wrote {}", file.path().display())),
                        Err(e) => Notice::error("Export failed", e.to_string()),
                    },
                },
            };
            send_event(&events, &waker, Event::Notice(notice));
        });
    }

    fn spawn_pick_send_file(&self) {
        let events = self.events.clone();
        let waker = self.waker.clone();
        tokio::spawn(async move {
            if let Some(file) = rfd::AsyncFileDialog::new().pick_file().await {
                send_event(
                    &events,
                    &waker,
                    Event::SendFilePicked(file.path().to_path_buf()),
                );
            }
        });
    }

    fn spawn_pick_config(&self) {
        let events = self.events.clone();
        let waker = self.waker.clone();
        tokio::spawn(async move {
            if let Some(file) = rfd::AsyncFileDialog::new()
                .add_filter("Config.json", &["json"])
                .pick_file()
                .await
            {
                send_event(
                    &events,
                    &waker,
                    Event::ConfigPicked(file.path().to_path_buf()),
                );
            }
        });
    }
}

/// Writes events in the export format, one per line.
fn write_jsonl(path: &std::path::Path, rows: &[Arc<ReceivedRecord>]) -> std::io::Result<usize> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for row in rows {
        serde_json::to_writer(&mut out, &row.to_export())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(rows.len())
}

/// Loads the events, then sends them over a producer opened for the purpose.
async fn send_from(
    target: &Target,
    source: SendSource,
    packing: Packing,
    partition_ids: &[String],
    receipts: &mut Vec<SendReceipt>,
) -> Result<(), String> {
    let loaded = tokio::task::spawn_blocking(move || source.load())
        .await
        .map_err(|e| e.to_string())?;
    let batch = loaded.map_err(|e| e.to_string())?;
    producer::check(&batch, partition_ids).map_err(|e| e.to_string())?;
    let client = hub::within("connect", hub::DEFAULT_TIMEOUT, target.open_producer())
        .await
        .map_err(|e| e.to_string())?;
    let outcome = producer::send_events(
        &client,
        &batch,
        partition_ids,
        packing,
        hub::DEFAULT_TIMEOUT,
        |r| receipts.push(r.clone()),
    )
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
    outcome.map(|_| ()).map_err(|e| e.to_string())
}

/// Hands an event to the UI; if the UI has fallen 256 events behind, this one is dropped
/// (and logged) rather than stalling the runtime.
fn send_event(events: &mpsc::Sender<Event>, waker: &Waker, event: Event) {
    if let Err(e) = events.try_send(event) {
        tracing::warn!("event for the UI dropped: {e}");
    }
    waker();
}

/// A connected hub: opens a client, then refreshes the properties on the user's interval.
struct Session {
    name: String,
    target: Target,
    snapshot: watch::Sender<Snapshot>,
    events: mpsc::Sender<Event>,
    waker: Waker,
    interval: watch::Receiver<Duration>,
    refresh_now: Arc<Notify>,
}

impl Session {
    /// Runs until `cancel`, then closes the client (the SDK's clients must be closed explicitly).
    async fn run(mut self, cancel: CancellationToken) {
        let endpoint = self.target.endpoint_label.clone();
        let opened = tokio::select! {
            () = cancel.cancelled() => return,
            opened = hub::within("connect", hub::DEFAULT_TIMEOUT, self.target.open_consumer()) => opened,
        };
        let client = match opened {
            Ok(client) => client,
            Err(e) => return self.fail(&endpoint, &e),
        };
        self.refresh_until_cancelled(&client, &endpoint, &cancel)
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), client.close()).await;
    }

    async fn refresh_until_cancelled(
        &mut self,
        client: &azure_messaging_eventhubs::ConsumerClient,
        endpoint: &str,
        cancel: &CancellationToken,
    ) {
        // The first read is the real test of the connection: `open` does not authorize.
        let first = tokio::select! {
            () = cancel.cancelled() => return,
            first = hub::read_properties(client, hub::DEFAULT_TIMEOUT) => first,
        };
        match first {
            Ok(hub) => self.publish(|s| {
                s.connection = ConnectionState::Connected {
                    profile: self.name.clone(),
                    endpoint: endpoint.to_string(),
                };
                s.hub = Some(hub);
                s.refreshed_at = Some(SystemTime::now());
                s.refresh_error = None;
            }),
            Err(e) => return self.fail(endpoint, &e),
        }
        loop {
            let interval = *self.interval.borrow_and_update();
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
                () = self.refresh_now.notified() => {}
                changed = self.interval.changed() => {
                    if changed.is_err() { break; }
                    continue;
                }
            }
            let read = tokio::select! {
                () = cancel.cancelled() => break,
                read = hub::read_properties(client, hub::DEFAULT_TIMEOUT) => read,
            };
            match read {
                Ok(hub) => self.publish(|s| {
                    s.hub = Some(hub);
                    s.refreshed_at = Some(SystemTime::now());
                    s.refresh_error = None;
                }),
                Err(e) => self.publish(|s| s.refresh_error = Some(e.to_string())),
            }
        }
    }

    fn publish(&self, change: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(change);
        (self.waker)();
    }

    fn fail(&self, endpoint: &str, error: &HubError) {
        let message = error.to_string();
        self.publish(|s| {
            s.connection = ConnectionState::Failed {
                profile: self.name.clone(),
                endpoint: endpoint.to_string(),
                error: message.clone(),
            };
        });
        send_event(
            &self.events,
            &self.waker,
            Event::Notice(Notice::error(
                format!("Could not connect to {}", self.name),
                message,
            )),
        );
    }
}
