//! The desktop app: owns the bridge and the panels' state, draws one frame at a time, and turns
//! what the panels ask for into commands for the runtime. It never waits on the runtime.

use std::path::PathBuf;

use crate::bridge::{Bridge, BridgeError, Command, Event, FileUse, Notice, Snapshot, Waker};
use crate::profiles::store::Loaded;
use crate::profiles::{Profile, ProfileKind, ProfileStore};

use super::composer::{composer_ui, ComposerState};
use super::composer_draft::SendMode;
use super::file_prompt::NOTHING_CHOSEN;
use super::groups_view::{groups_view_ui, GroupsViewState};
use super::inspector::{inspector_ui, InspectorState, SAMPLE_TEMPLATE};
use super::live_view::{live_view_ui, LiveViewState};
use super::load_panel::{load_panel_ui, LoadPanelState};
use super::namespace_tree::{namespace_ui, NamespaceTreeState};
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
    pub namespace: NamespaceTreeState,
    pub view: View,
    notifications: Notifications,
    pub status_bar: StatusBarState,
    snapshot: Snapshot,
    /// Whether the window has been fitted to its screen.
    fitted: bool,
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
            namespace: NamespaceTreeState::default(),
            view: View::Inspector,
            notifications,
            status_bar: StatusBarState::default(),
            snapshot: Snapshot::default(),
            fitted: false,
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
        self.groups
            .follow(connected, self.snapshot.working_hub.as_deref(), &mut outbox);
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
                ui.separator();
                namespace_ui(ui, &mut self.namespace, &self.snapshot, &mut outbox);
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
                        if std::mem::take(&mut self.inspector.start_demo) {
                            self.load.fill_demo(SAMPLE_TEMPLATE);
                            self.load.start(&partition_ids, &mut outbox);
                            self.view = View::Load;
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
                self.live.focus_filter = super::live_view::FOCUS_TRIES;
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
        // A file prompt is modal: it closes first (egui's modal also closes on Esc itself).
        if self.live.file_prompt.take().is_some()
            || self.load.file_prompt.take().is_some()
            || self.profiles.file_prompt.take().is_some()
        {
            return;
        }
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
                Event::Browsed { purpose, path } => self.browsed(purpose, path),
                Event::Progress(progress) => self.status_bar.progress = Some(progress),
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
                Event::LiveFilterRejected(error) => {
                    self.live.filter_error = Some(error.to_string());
                }
                Event::Notice(notice) => self.notifications.push(notice),
            }
        }
    }

    /// The desktop's dialog answered: the path goes where it was asked for.
    fn browsed(&mut self, purpose: FileUse, path: Option<PathBuf>) {
        let prompt = match purpose {
            FileUse::ExportLive => self.live.file_prompt.as_mut(),
            FileUse::ExportLoad(_) => self.load.file_prompt.as_mut(),
            FileUse::ExportProfiles | FileUse::ImportProfiles => self.profiles.file_prompt.as_mut(),
            FileUse::SendFile | FileUse::EmulatorConfig => None,
        };
        if let Some(prompt) = prompt.filter(|p| p.purpose == purpose) {
            prompt.browsed(path);
            return;
        }
        // The composer's and the editor's path fields are their prompts.
        let Some(path) = path else {
            self.notifications.push(Notice::info(NOTHING_CHOSEN));
            return;
        };
        match purpose {
            FileUse::EmulatorConfig => {
                if let Some(ProfileKind::LocalEmulator { config_path, .. }) =
                    self.profiles.editor.as_mut().map(|e| &mut e.draft.kind)
                {
                    *config_path = Some(path);
                }
            }
            FileUse::SendFile => {
                let draft = &mut self.composer.draft;
                let text = path.display().to_string();
                if matches!(draft.mode, SendMode::LinesFile | SendMode::Replay) {
                    draft.file = text;
                } else {
                    draft.body_file = text;
                }
            }
            _ => {} // its prompt was closed meanwhile
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
        if !self.fitted {
            self.fitted = fit_to_monitor(ui.ctx());
        }
        HubscopeApp::ui(self, ui);
    }
}

/// Shrinks a window that opened larger than its screen (the default size is for a laptop and
/// up) to nine tenths of it, once the monitor's size is known; whether that is known yet.
fn fit_to_monitor(ctx: &egui::Context) -> bool {
    let (monitor, inner) = ctx.input(|i| (i.viewport().monitor_size, i.viewport().inner_rect));
    let (Some(monitor), Some(inner)) = (monitor, inner) else {
        return false;
    };
    let fits = monitor * 0.9;
    if inner.width() > fits.x || inner.height() > fits.y {
        let size = inner.size().min(fits);
        ctx.send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
        ctx.send_viewport_cmd(egui::ViewportCommand::OuterPosition(
            ((monitor - size) / 2.0).to_pos2(),
        ));
    }
    true
}
