//! The only place the UI and the runtime meet. The UI sends typed [`Command`]s over a bounded
//! channel (a full channel is reported, never waited on); the runtime answers with low-rate
//! [`Event`]s and keeps the latest [`Snapshot`] in a `watch`, waking the UI after each change.
//! Nothing here blocks the caller: it is safe to use from egui's frame.

mod engine;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::consumer::filter::FilterError;
use crate::consumer::lag::Series;
use crate::consumer::live::{LiveConfig, LiveSnapshot, LiveStore};
use crate::groups::HubLag;
use crate::hub::{HubError, HubSnapshot};
use crate::loadgen::metrics::{HistogramError, Report};
use crate::loadgen::run::Progress;
use crate::loadgen::{LoadError, Plan};
use crate::management::NamespaceInfo;
use crate::producer::{Packing, SendReceipt, SendSource};
use crate::profiles::{CheckpointStoreSettings, Profile, ProfileStore, ProfilesFile};

/// Asks the UI for a repaint; called from runtime threads.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// Room for commands the runtime has not picked up yet; a user cannot click this fast.
const COMMAND_CAPACITY: usize = 64;
const EVENT_CAPACITY: usize = 256;
/// How often the inspector refreshes unless the user says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(2);

/// What the UI asks of the runtime.
#[derive(Debug)]
pub enum Command {
    /// Start the embedded endpoint as this local-emulator profile describes it, unless one runs
    /// already. The app sends it first: the endpoint runs for as long as the app does, so a
    /// connection-string profile that points at it always finds it.
    StartEmbedded(Profile),
    /// Disconnect whatever is connected, then connect to this profile and start refreshing.
    Connect(Profile),
    Disconnect,
    /// Connect, read the hub's properties, disconnect; answered by [`Event::TestFinished`].
    Test {
        request_id: u64,
        profile: Profile,
    },
    SetRefreshInterval(Duration),
    RefreshNow,
    /// Write the profiles file (atomically, off the UI thread).
    SaveProfiles(ProfilesFile),
    /// Open the desktop's file dialog, if it has one: answered by [`Event::Browsed`].
    Browse {
        purpose: FileUse,
        suggested: PathBuf,
    },
    /// Write these profiles to `path`.
    ExportProfiles {
        profiles: Vec<Profile>,
        include_secrets: bool,
        path: PathBuf,
    },
    /// Read profiles from `path`: answered by [`Event::Imported`].
    ImportProfiles(PathBuf),
    /// Send events to the connected hub: answered by [`Event::SendFinished`].
    Send {
        request_id: u64,
        source: SendSource,
        packing: Packing,
        /// The hub's partitions as the UI knows them, to refuse an unknown one before sending.
        partition_ids: Vec<String>,
    },
    /// Start a live view on the connected hub (replacing any): answered by [`Event::LiveStarted`].
    StartLive(LiveConfig),
    PauseLive(bool),
    StopLive,
    /// Filter the live view: a jq program and a substring (either may be empty).
    SetLiveFilter {
        jq: String,
        text: String,
    },
    SetLiveCapacity(usize),
    /// Write the live view (or its filtered subset) to `path` as JSON Lines.
    ExportLive {
        only_shown: bool,
        path: PathBuf,
    },
    /// Run a load plan on the connected hub: answered by [`Event::LoadStarted`], then
    /// [`Event::LoadFinished`].
    StartLoad {
        plan: Plan,
        partition_ids: Vec<String>,
        /// Read every event back and report produce → consume latency per partition.
        end_to_end: bool,
    },
    StopLoad,
    /// Write the last load report to `path` in this format.
    ExportLoad {
        format: LoadExport,
        path: PathBuf,
    },
    /// Watch the connected hub's consumer groups through this checkpoint store (replacing any
    /// watch; `None` stops): answered by [`Event::GroupsStarted`].
    WatchGroups(Option<CheckpointStoreSettings>),
    /// Work on another hub of the connected profile's namespace.
    SwitchHub(String),
    /// Create or delete a hub or consumer group of the connected namespace; the outcome is a
    /// notice, and the tree is read again.
    Manage(NamespaceChange),
    /// Read the namespace's tree again now.
    RefreshNamespace,
}

/// A change to the connected namespace, through its management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceChange {
    CreateHub {
        name: String,
        partitions: u32,
        retention_days: u32,
    },
    DeleteHub(String),
    CreateGroup {
        hub: String,
        name: String,
    },
    DeleteGroup {
        hub: String,
        name: String,
    },
}

/// The connected profile's namespace as its management API lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NamespaceState {
    /// Not connected, or not read yet.
    #[default]
    Unknown,
    /// Shared: the UI takes the snapshot every frame, and a namespace may hold 1000 hubs.
    Ready(Arc<NamespaceInfo>),
    /// The namespace does not let this credential manage it: the one hub still works.
    Denied(String),
    /// It could not be read (unreachable, not the API); the last tree is gone with it.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadExport {
    Json,
    Csv,
    Histogram,
}

impl LoadExport {
    /// The file name an export of this kind is offered under.
    #[must_use]
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Json => "hubscope-load.json",
            Self::Csv => "hubscope-load-seconds.csv",
            Self::Histogram => "hubscope-load-latency.hgrm.b64",
        }
    }
}

/// What a file is chosen for. The app always asks in its own window, with a path field; the
/// desktop's dialog is offered beside it, because many desktops and every remote session lack
/// the portal that dialog needs, and then nothing at all would open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileUse {
    ExportLive,
    ExportLoad(LoadExport),
    ExportProfiles,
    ImportProfiles,
    /// A file to send from, in the composer.
    SendFile,
    /// An official-format `Config.json` for the embedded endpoint.
    EmulatorConfig,
}

impl FileUse {
    /// Whether the file is written (a save dialog) rather than read.
    #[must_use]
    pub fn writes(self) -> bool {
        matches!(
            self,
            Self::ExportLive | Self::ExportLoad(_) | Self::ExportProfiles
        )
    }
}

/// The finished run's report and its exports, ready to write.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub report: Report,
    /// Events each partition enqueued during the run, as the hub counted them (by anyone);
    /// empty when the hub's properties could not be read.
    pub per_partition: Vec<(String, u64)>,
    pub notes: Vec<String>,
    pub csv: String,
    pub histogram: Result<String, HistogramError>,
}

/// The UI's view of a running live session: rows under a briefly held lock, states by watch.
#[derive(Clone)]
pub struct LiveHandle {
    pub store: Arc<std::sync::Mutex<LiveStore>>,
    pub snapshot: watch::Receiver<LiveSnapshot>,
}

impl std::fmt::Debug for LiveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveHandle")
    }
}

/// What the runtime tells the UI, rarely.
#[derive(Debug, Clone)]
pub enum Event {
    TestFinished {
        request_id: u64,
        outcome: Result<TestReport, HubError>,
    },
    Imported(Vec<Profile>),
    /// The desktop's dialog closed: `None` when it chose nothing, or when no dialog could open.
    Browsed {
        purpose: FileUse,
        path: Option<PathBuf>,
    },
    /// A long task's progress (an export, a send): replaced by the next, gone when done.
    Progress(TaskProgress),
    SendFinished {
        request_id: u64,
        /// The publishes acknowledged, and the error that stopped the rest, if any.
        receipts: Vec<SendReceipt>,
        error: Option<String>,
    },
    LiveStarted(LiveHandle),
    LoadStarted(watch::Receiver<Progress>),
    LoadFinished(Result<Box<LoadResult>, LoadError>),
    /// The Consumer groups tab's data, replaced after every check.
    GroupsStarted(watch::Receiver<GroupsSnapshot>),
    /// The filter did not compile; the previous one stays.
    LiveFilterRejected(FilterError),
    Notice(Notice),
}

/// How far a long task has come, for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    /// What is being done, e.g. "Exporting events".
    pub task: &'static str,
    pub done: u64,
    pub total: u64,
}

/// What the Consumer groups tab shows: the latest check, and each group's lag over time.
#[derive(Debug, Clone, Default)]
pub struct GroupsSnapshot {
    /// Where the checkpoints are read from, with no secret in it.
    pub source: String,
    pub report: Option<HubLag>,
    /// The last check failed: the tab keeps showing the last good report beside this.
    pub error: Option<String>,
    pub checked_at: Option<SystemTime>,
    /// Seconds since the watch began, the chart's time axis.
    pub elapsed_secs: f64,
    pub history: BTreeMap<String, GroupHistory>,
}

/// One group's lag over time: its total, and each partition's.
#[derive(Debug, Clone)]
pub struct GroupHistory {
    pub total: Series,
    pub partitions: BTreeMap<String, Series>,
}

#[derive(Debug, Clone)]
pub struct TestReport {
    pub round_trip: Duration,
    pub hub: String,
    pub partition_ids: Vec<String>,
    pub endpoint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Error,
}

/// A message for the notification area: a one-line summary, the detail one click away.
#[derive(Debug, Clone)]
pub struct Notice {
    pub level: Level,
    pub summary: String,
    pub detail: String,
}

impl Notice {
    #[must_use]
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            level: Level::Error,
            summary: summary.into(),
            detail: detail.into(),
        }
    }
    #[must_use]
    pub fn info(summary: impl Into<String>) -> Self {
        Self {
            level: Level::Info,
            summary: summary.into(),
            detail: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum ConnectionState {
    #[default]
    Disconnected,
    Connecting {
        profile: String,
        endpoint: String,
    },
    Connected {
        profile: String,
        endpoint: String,
    },
    Failed {
        profile: String,
        endpoint: String,
        error: String,
    },
}

impl ConnectionState {
    /// The profile this state is about, if any.
    #[must_use]
    pub fn profile(&self) -> Option<&str> {
        match self {
            Self::Disconnected => None,
            Self::Connecting { profile, .. }
            | Self::Connected { profile, .. }
            | Self::Failed { profile, .. } => Some(profile),
        }
    }
}

/// The latest state of the connection and the hub, replaced as a whole on every change.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub connection: ConnectionState,
    pub hub: Option<HubSnapshot>,
    pub refreshed_at: Option<SystemTime>,
    /// The last refresh failed; the table shows the last good data.
    pub refresh_error: Option<String>,
    pub refresh_interval: Duration,
    /// The connected hub's consumer groups as far as they are known: the embedded endpoint's
    /// topology, or the profile's group and the groups its checkpoint store settings name.
    pub consumer_groups: Vec<String>,
    /// The hub the connection works on, as the profile (or the tree) chose it.
    pub working_hub: Option<String>,
    /// Every hub of the namespace, for the tree; refreshed in the background.
    pub namespace: NamespaceState,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            connection: ConnectionState::Disconnected,
            hub: None,
            refreshed_at: None,
            refresh_error: None,
            refresh_interval: DEFAULT_REFRESH,
            consumer_groups: Vec::new(),
            working_hub: None,
            namespace: NamespaceState::Unknown,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("hubscope is busy: the request was not taken, try again")]
    Busy,
    #[error("the background runtime has stopped")]
    Stopped,
    #[error("could not start the background runtime: {0}")]
    Start(#[from] std::io::Error),
}

/// How much lower than the UI thread the runtime's threads run: on a busy machine (a load run,
/// the embedded endpoint and 32 readers on two cores) the frame then waits for its work, not for
/// a core. Measured with `bench_live_view`: see the README's performance section.
#[cfg(target_os = "linux")]
const RUNTIME_NICE: i32 = 5;

/// Lowers the calling thread's priority below the UI's, to the app runtime's: every runtime
/// thread calls it as it starts (and the benchmarks, for work that stands in for the app's own).
/// Failing leaves the default, which only costs smoothness under load.
pub fn yield_to_the_ui() {
    #[cfg(target_os = "linux")]
    if let Err(e) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), RUNTIME_NICE)
    {
        tracing::debug!("runtime thread priority unchanged: {e}");
    }
}

/// The UI's handle on the runtime. Dropping it stops the runtime (and the embedded endpoint).
pub struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    snapshot: watch::Receiver<Snapshot>,
}

impl Bridge {
    /// Starts the runtime beside the caller's thread; `waker` is called after each change.
    pub fn start(store: ProfileStore, waker: Waker) -> Result<Self, BridgeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hubscope-runtime")
            .on_thread_start(yield_to_the_ui)
            .enable_all()
            .build()?;
        let (commands, command_rx) = mpsc::channel(COMMAND_CAPACITY);
        let (event_tx, events) = mpsc::channel(EVENT_CAPACITY);
        let (snapshot_tx, snapshot) = watch::channel(Snapshot::default());
        runtime.spawn(engine::run(command_rx, event_tx, snapshot_tx, store, waker));
        Ok(Self {
            runtime: Some(runtime),
            commands,
            events,
            snapshot,
        })
    }

    /// Hands a command to the runtime without waiting.
    pub fn send(&self, command: Command) -> Result<(), BridgeError> {
        self.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => BridgeError::Busy,
            mpsc::error::TrySendError::Closed(_) => BridgeError::Stopped,
        })
    }

    /// The next event, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// The latest snapshot (a clone: the UI never holds the watch's lock across a frame).
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}
