//! The desktop app: owns the bridge and the panels' state, draws one frame at a time, and turns
//! what the panels ask for into commands for the runtime. It never waits on the runtime.

use crate::bridge::{Bridge, BridgeError, Command, Event, Notice, Snapshot, Waker};
use crate::profiles::store::Loaded;
use crate::profiles::{Profile, ProfileKind, ProfileStore};

use super::composer::{composer_ui, ComposerState, SendMode};
use super::groups_view::{groups_view_ui, GroupsViewState};
use super::inspector::{inspector_ui, InspectorState};
use super::live_view::{live_view_ui, LiveViewState};
use super::load_panel::{load_panel_ui, LoadPanelState};
use super::notifications::Notifications;
use super::profile_editor::{editor_ui, EditorOutcome};
use super::profiles_panel::{profiles_ui, ProfilesState};
use super::shortcuts::{self, Shortcut};
use super::status_bar::{status_bar_ui, StatusBarState};

/// Events handled per frame at most, so a burst cannot stall a frame.
const EVENTS_PER_FRAME: usize = 64;

/// The views of the central area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Inspector,
    Send,
    Live,
    Load,
    Groups,
}

pub struct HubscopeApp {
    bridge: Bridge,
    pub profiles: ProfilesState,
    inspector: InspectorState,
    pub composer: ComposerState,
    pub live: LiveViewState,
    pub load: LoadPanelState,
    pub groups: GroupsViewState,
    pub view: View,
    notifications: Notifications,
    pub status_bar: StatusBarState,
    snapshot: Snapshot,
}

impl HubscopeApp {
    /// Starts the runtime and, on first run, the built-in local emulator profile; reconnects the
    /// profile that was connected last otherwise.
    pub fn new(store: ProfileStore, loaded: Loaded, waker: Waker) -> Result<Self, BridgeError> {
        let bridge = Bridge::start(store, waker)?;
        let mut file = loaded.file;
        let mut notifications = Notifications::default();
        if let Some(message) = loaded.set_aside {
            notifications.push(Notice::error(
                "Your profiles file could not be used",
                message,
            ));
        }
        let first_run = file.profiles.is_empty();
        if first_run {
            file.profiles.push(Profile::local_emulator());
            file.selected = Some(file.profiles[0].name.clone());
        }
        let mut app = Self {
            bridge,
            profiles: ProfilesState::new(file),
            inspector: InspectorState::default(),
            composer: ComposerState::default(),
            live: LiveViewState::default(),
            load: LoadPanelState::default(),
            groups: GroupsViewState::default(),
            view: View::Inspector,
            notifications,
            status_bar: StatusBarState::default(),
            snapshot: Snapshot::default(),
        };
        let last = app.profiles.file.selected.as_deref().and_then(|name| {
            app.profiles
                .file
                .profiles
                .iter()
                .position(|p| p.name == name)
        });
        // The embedded endpoint runs for as long as the app, as the first local-emulator
        // profile describes it (the default topology on 5672 without one).
        let embedded = (app.profiles.file.profiles.iter())
            .find(|p| matches!(p.kind, ProfileKind::LocalEmulator { .. }))
            .cloned()
            .unwrap_or_else(Profile::local_emulator);
        app.dispatch(vec![Command::StartEmbedded(embedded)]);
        if let Some(index) = last {
            let mut outbox = Vec::new();
            app.profiles.selected = Some(index);
            // First run: connect without writing a file the user never asked for.
            if let Some(profile) = app.profiles.file.profiles.get(index) {
                outbox.push(Command::Connect(profile.clone()));
            }
            app.dispatch(outbox);
        }
        Ok(app)
    }

    /// The latest snapshot the UI drew from.
    #[must_use]
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Draws the whole window.
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.drain_events();
        self.snapshot = self.bridge.snapshot();
        let mut outbox = Vec::new();
        let connected = match &self.snapshot.connection {
            crate::bridge::ConnectionState::Connected { profile, .. } => self
                .profiles
                .file
                .profiles
                .iter()
                .find(|p| &p.name == profile),
            _ => None,
        };
        self.groups.follow(connected, &mut outbox);
        self.apply_shortcuts(shortcuts::read(ui.ctx()), &mut outbox);
        self.live
            .known_groups
            .clone_from(&self.snapshot.consumer_groups);
        egui::Panel::bottom("status_bar").show(ui, |ui| {
            status_bar_ui(
                ui,
                &self.snapshot,
                &mut self.notifications,
                &mut self.status_bar,
            );
        });
        egui::Panel::left("profiles")
            .default_size(320.0)
            .min_size(240.0)
            .show(ui, |ui| {
                profiles_ui(
                    ui,
                    &mut self.profiles,
                    &self.snapshot.connection,
                    &mut outbox,
                );
            });
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(editor) = &mut self.profiles.editor {
                match editor_ui(ui, editor, &self.profiles.file, &mut outbox) {
                    EditorOutcome::Editing => {}
                    EditorOutcome::Save => self.profiles.save_editor(&mut outbox),
                    EditorOutcome::Test => self.profiles.test_editor(&mut outbox),
                    EditorOutcome::Cancel => self.profiles.editor = None,
                }
            } else {
                ui.horizontal(|ui| {
                    ui.selectable_value(&mut self.view, View::Inspector, "Inspector");
                    ui.selectable_value(&mut self.view, View::Send, "Composer");
                    ui.selectable_value(&mut self.view, View::Live, "Live");
                    ui.selectable_value(&mut self.view, View::Load, "Load");
                    ui.selectable_value(&mut self.view, View::Groups, "Consumer groups");
                });
                ui.separator();
                let partition_ids: Vec<String> = match &self.snapshot.connection {
                    crate::bridge::ConnectionState::Connected { .. } => self
                        .snapshot
                        .hub
                        .iter()
                        .flat_map(|h| h.partitions.iter().map(|p| p.id.clone()))
                        .collect(),
                    _ => Vec::new(),
                };
                match self.view {
                    View::Live => live_view_ui(ui, &mut self.live, &partition_ids, &mut outbox),
                    View::Load => load_panel_ui(ui, &mut self.load, &partition_ids, &mut outbox),
                    View::Groups => groups_view_ui(ui, &mut self.groups),
                    View::Inspector => {
                        inspector_ui(ui, &mut self.inspector, &self.snapshot, &mut outbox);
                        if std::mem::take(&mut self.inspector.open_live) {
                            self.view = View::Live;
                        }
                    }
                    View::Send => {
                        let profile = self.snapshot.connection.profile().map(str::to_string);
                        composer_ui(
                            ui,
                            &mut self.composer,
                            &partition_ids,
                            profile.as_deref(),
                            &mut outbox,
                        );
                    }
                }
            }
        });
        shortcuts::help_ui(ui.ctx(), &mut self.status_bar.shortcuts_open);
        self.notifications.toasts_ui(ui);
        self.notifications.history_ui(ui.ctx());
        self.dispatch(outbox);
    }

    fn apply_shortcuts(&mut self, pressed: Vec<Shortcut>, outbox: &mut Vec<Command>) {
        for shortcut in pressed {
            self.apply_shortcut(shortcut, outbox);
        }
    }

    fn apply_shortcut(&mut self, shortcut: Shortcut, outbox: &mut Vec<Command>) {
        const TABS: [View; 5] = [
            View::Inspector,
            View::Send,
            View::Live,
            View::Load,
            View::Groups,
        ];
        match shortcut {
            Shortcut::Tab(i) => {
                if let Some(view) = TABS.get(i) {
                    self.view = *view;
                }
            }
            Shortcut::Help => self.status_bar.shortcuts_open = !self.status_bar.shortcuts_open,
            Shortcut::Close => self.close_topmost(),
            Shortcut::Send => {
                let partition_ids: Vec<String> = (self.snapshot.hub.iter())
                    .flat_map(|h| h.partitions.iter().map(|p| p.id.clone()))
                    .collect();
                if self.view == View::Send && self.composer.sending.is_none() {
                    self.composer.send(&partition_ids, outbox);
                }
            }
            Shortcut::Find => {
                self.view = View::Live;
                self.profiles.editor = None;
                // The field exists once the Live tab draws: it takes the focus then.
                self.live.focus_filter = true;
            }
            Shortcut::Pause => {
                let Some(handle) = self
                    .live
                    .handle
                    .as_ref()
                    .filter(|_| self.view == View::Live)
                else {
                    return;
                };
                let snapshot = handle.snapshot.borrow();
                if snapshot.running {
                    outbox.push(Command::PauseLive(!snapshot.paused));
                }
            }
        }
    }

    /// Esc: the topmost thing closes first.
    fn close_topmost(&mut self) {
        if self.status_bar.shortcuts_open {
            self.status_bar.shortcuts_open = false;
        } else if self.notifications.show_history {
            self.notifications.show_history = false;
        } else {
            self.profiles.editor = None;
        }
    }

    fn drain_events(&mut self) {
        for _ in 0..EVENTS_PER_FRAME {
            let Some(event) = self.bridge.try_recv() else {
                break;
            };
            match event {
                Event::TestFinished {
                    request_id,
                    outcome,
                } => self.profiles.finish_test(request_id, outcome),
                Event::Imported(profiles) => {
                    let mut outbox = Vec::new();
                    let count = self.profiles.import(profiles, &mut outbox);
                    self.notifications
                        .push(Notice::info(format!("Imported {count} profile(s)")));
                    self.dispatch(outbox);
                }
                Event::ConfigPicked(path) => {
                    if let Some(ProfileKind::LocalEmulator { config_path, .. }) =
                        self.profiles.editor.as_mut().map(|e| &mut e.draft.kind)
                    {
                        *config_path = Some(path);
                    }
                }
                Event::SendFilePicked(path) => {
                    let draft = &mut self.composer.draft;
                    let text = path.display().to_string();
                    if matches!(draft.mode, SendMode::LinesFile | SendMode::Replay) {
                        draft.file = text;
                    } else {
                        draft.body_file = text;
                    }
                }
                Event::SendFinished {
                    request_id,
                    receipts,
                    error,
                } => {
                    let profile = self.snapshot.connection.profile().map(str::to_string);
                    self.composer
                        .finished(request_id, receipts, error, profile.as_deref());
                }
                Event::LiveStarted(handle) => self.live.handle = Some(handle),
                Event::LoadStarted(progress) => self.load.progress = Some(progress),
                Event::LoadFinished(result) => self.load.result = Some(result),
                Event::GroupsStarted(handle) => self.groups.handle = Some(handle),
                Event::LiveFilterRejected(error) => self.live.filter_error = Some(error),
                Event::Notice(notice) => self.notifications.push(notice),
            }
        }
    }

    fn dispatch(&mut self, outbox: Vec<Command>) {
        for command in outbox {
            if let Err(e) = self.bridge.send(command) {
                self.notifications
                    .push(Notice::error("A request was not sent", e.to_string()));
            }
        }
    }
}

impl eframe::App for HubscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        HubscopeApp::ui(self, ui);
    }
}
