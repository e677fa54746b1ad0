//! The profiles panel: the list of saved profiles and what can be done with one (create, edit,
//! duplicate, delete, test, connect), plus export and import.

use crate::bridge::{Command, ConnectionState, FileUse, TestReport};
use crate::hub::HubError;
use crate::profiles::{Profile, ProfilesFile};

use super::file_prompt::{prompt_ui, FilePrompt, PromptAnswer};
use super::profile_editor::EditorState;

pub struct ProfilesState {
    pub file: ProfilesFile,
    pub selected: Option<usize>,
    pub editor: Option<EditorState>,
    pub test: Option<TestStatus>,
    pub confirm_delete: bool,
    pub include_secrets: bool,
    pub file_prompt: Option<FilePrompt>,
    next_request: u64,
}

pub struct TestStatus {
    pub request_id: u64,
    pub profile: String,
    pub result: Option<Result<TestReport, HubError>>,
}

impl ProfilesState {
    #[must_use]
    pub fn new(file: ProfilesFile) -> Self {
        let selected = file
            .selected
            .as_deref()
            .and_then(|name| file.profiles.iter().position(|p| p.name == name))
            .or(if file.profiles.is_empty() {
                None
            } else {
                Some(0)
            });
        Self {
            file,
            selected,
            editor: None,
            test: None,
            confirm_delete: false,
            include_secrets: false,
            file_prompt: None,
            next_request: 1,
        }
    }

    #[must_use]
    pub fn selected_profile(&self) -> Option<&Profile> {
        self.selected.and_then(|i| self.file.profiles.get(i))
    }

    /// Persists the profiles (the runtime writes the file).
    pub fn save(&self, outbox: &mut Vec<Command>) {
        outbox.push(Command::SaveProfiles(self.file.clone()));
    }

    /// Asks for a connection to the profile at `index` and remembers it for the next start.
    pub fn connect(&mut self, index: usize, outbox: &mut Vec<Command>) {
        let Some(profile) = self.file.profiles.get(index) else {
            return;
        };
        self.selected = Some(index);
        self.file.selected = Some(profile.name.clone());
        outbox.push(Command::Connect(profile.clone()));
        self.save(outbox);
    }

    /// Tests `profile` (saved or a draft): connects, reads the hub's properties, disconnects.
    pub fn test_profile(&mut self, profile: Profile, outbox: &mut Vec<Command>) {
        let request_id = self.next_request;
        self.next_request += 1;
        self.test = Some(TestStatus {
            request_id,
            profile: profile.name.clone(),
            result: None,
        });
        outbox.push(Command::Test {
            request_id,
            profile,
        });
    }

    /// Tests the profile being edited, before it is saved.
    pub fn test_editor(&mut self, outbox: &mut Vec<Command>) {
        if let Some(draft) = self.editor.as_ref().map(|e| e.draft.clone()) {
            self.test_profile(draft, outbox);
        }
    }

    pub fn finish_test(&mut self, request_id: u64, outcome: Result<TestReport, HubError>) {
        if let Some(test) = self.test.as_mut().filter(|t| t.request_id == request_id) {
            test.result = Some(outcome);
        }
    }

    /// Adds imported profiles, renaming any whose name is taken.
    pub fn import(&mut self, profiles: Vec<Profile>, outbox: &mut Vec<Command>) -> usize {
        let count = profiles.len();
        for mut profile in profiles {
            profile.name = self.file.unique_name(&profile.name);
            self.file.profiles.push(profile);
        }
        self.save(outbox);
        count
    }

    pub fn save_editor(&mut self, outbox: &mut Vec<Command>) {
        let Some(editor) = self.editor.take() else {
            return;
        };
        let mut draft = editor.draft;
        draft.name = draft.name.trim().to_string();
        let index = match editor.index {
            Some(i) if i < self.file.profiles.len() => {
                let old_name = std::mem::replace(&mut self.file.profiles[i], draft).name;
                if self.file.selected.as_deref() == Some(old_name.as_str()) {
                    self.file.selected = Some(self.file.profiles[i].name.clone());
                }
                i
            }
            _ => {
                self.file.profiles.push(draft);
                self.file.profiles.len() - 1
            }
        };
        self.selected = Some(index);
        self.save(outbox);
    }
}

/// The left panel; each profile's label says the connection state the status bar says.
pub fn profiles_ui(
    ui: &mut egui::Ui,
    state: &mut ProfilesState,
    connection: &ConnectionState,
    outbox: &mut Vec<Command>,
) {
    let connected = connection.profile();
    ui.heading("Profiles");
    ui.add_space(4.0);
    let mut connect = None;
    let mut selected = None;
    egui::ScrollArea::vertical()
        .max_height(ui.available_height() * 0.5)
        .show(ui, |ui| {
            for (i, profile) in state.file.profiles.iter().enumerate() {
                // The same state the status bar shows, never a rosier one.
                let text = match connection {
                    ConnectionState::Connected { profile: p, .. } if *p == profile.name => {
                        format!("{} (connected)", profile.name)
                    }
                    ConnectionState::Connecting { profile: p, .. } if *p == profile.name => {
                        format!("{} (connecting…)", profile.name)
                    }
                    ConnectionState::Failed { profile: p, .. } if *p == profile.name => {
                        format!("{} (not connected)", profile.name)
                    }
                    _ => profile.name.clone(),
                };
                let response = ui
                    .selectable_label(state.selected == Some(i), text)
                    .on_hover_text(profile.endpoint_label());
                if response.clicked() {
                    selected = Some(i);
                }
                if response.double_clicked() {
                    connect = Some(i);
                }
            }
            if state.file.profiles.is_empty() {
                ui.weak("No profiles yet.");
            }
        });
    if let Some(index) = selected {
        state.selected = Some(index);
        state.confirm_delete = false;
    }
    if let Some(index) = connect {
        state.connect(index, outbox);
    }
    ui.separator();
    actions_ui(ui, state, connected, outbox);
    test_result_ui(ui, state);
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        if ui.button("Import…").clicked() {
            let prompt = FilePrompt::new(FileUse::ImportProfiles, "hubscope-profiles.json");
            state.file_prompt = Some(prompt);
        }
        if ui.button("Export…").clicked() {
            let prompt = FilePrompt::new(FileUse::ExportProfiles, "hubscope-profiles.json");
            state.file_prompt = Some(prompt);
        }
        ui.checkbox(&mut state.include_secrets, "Include secrets");
    });
    file_prompt_ui(ui.ctx(), state, outbox);
}

fn file_prompt_ui(ctx: &egui::Context, state: &mut ProfilesState, outbox: &mut Vec<Command>) {
    let Some(prompt) = &mut state.file_prompt else {
        return;
    };
    let (title, action) = match prompt.purpose {
        FileUse::ImportProfiles => ("Import profiles", "Import"),
        _ if state.include_secrets => ("Export profiles with their secrets", "Export"),
        _ => ("Export profiles without secrets", "Export"),
    };
    match prompt_ui(ctx, prompt, title, action, outbox) {
        PromptAnswer::Waiting => {}
        PromptAnswer::Cancelled => state.file_prompt = None,
        PromptAnswer::Chosen(path) => {
            outbox.push(if prompt.purpose == FileUse::ImportProfiles {
                Command::ImportProfiles(path)
            } else {
                Command::ExportProfiles {
                    profiles: state.file.profiles.clone(),
                    include_secrets: state.include_secrets,
                    path,
                }
            });
            state.file_prompt = None;
        }
    }
}

fn actions_ui(
    ui: &mut egui::Ui,
    state: &mut ProfilesState,
    connected: Option<&str>,
    outbox: &mut Vec<Command>,
) {
    ui.horizontal_wrapped(|ui| {
        if ui.button("New profile").clicked() {
            let mut draft = Profile::new_connection_string();
            draft.name = state.file.unique_name("New connection");
            state.editor = Some(EditorState {
                index: None,
                draft,
                reveal_secrets: false,
            });
        }
        let Some(index) = state.selected.filter(|&i| i < state.file.profiles.len()) else {
            return;
        };
        let profile = state.file.profiles[index].clone();
        if ui.button("Edit").clicked() {
            state.editor = Some(EditorState {
                index: Some(index),
                draft: profile.clone(),
                reveal_secrets: false,
            });
        }
        if ui.button("Duplicate").clicked() {
            let mut copy = profile.clone();
            copy.name = state.file.unique_name(&format!("{} copy", profile.name));
            state.file.profiles.insert(index + 1, copy);
            state.selected = Some(index + 1);
            state.save(outbox);
        }
        if ui.button("Delete").clicked() {
            state.confirm_delete = true;
        }
        if ui.button("Test").clicked() {
            state.test_profile(profile.clone(), outbox);
        }
        if connected == Some(profile.name.as_str()) {
            if ui.button("Disconnect").clicked() {
                outbox.push(Command::Disconnect);
            }
        } else if ui.button("Connect").clicked() {
            state.connect(index, outbox);
        }
    });
    if state.confirm_delete {
        confirm_delete_ui(ui, state, connected, outbox);
    }
}

fn confirm_delete_ui(
    ui: &mut egui::Ui,
    state: &mut ProfilesState,
    connected: Option<&str>,
    outbox: &mut Vec<Command>,
) {
    let Some(index) = state.selected.filter(|&i| i < state.file.profiles.len()) else {
        state.confirm_delete = false;
        return;
    };
    let name = state.file.profiles[index].name.clone();
    ui.label(format!("Delete the profile {name}?"));
    ui.horizontal(|ui| {
        if ui.button("Yes, delete").clicked() {
            if connected == Some(name.as_str()) {
                outbox.push(Command::Disconnect);
            }
            state.file.profiles.remove(index);
            if state.file.selected.as_deref() == Some(name.as_str()) {
                state.file.selected = None;
            }
            state.selected = if state.file.profiles.is_empty() {
                None
            } else {
                Some(index.min(state.file.profiles.len() - 1))
            };
            state.confirm_delete = false;
            state.save(outbox);
        }
        if ui.button("Keep it").clicked() {
            state.confirm_delete = false;
        }
    });
}

fn test_result_ui(ui: &mut egui::Ui, state: &ProfilesState) {
    let Some(test) = &state.test else {
        return;
    };
    ui.add_space(4.0);
    match &test.result {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("Testing {}…", test.profile));
            });
        }
        Some(Ok(report)) => {
            ui.label(format!(
                "Test of {} passed in {} ms: hub {}, partitions {}",
                test.profile,
                report.round_trip.as_millis(),
                report.hub,
                report.partition_ids.join(", ")
            ));
            ui.weak(&report.endpoint);
        }
        Some(Err(error)) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("Test of {} failed: {error}", test.profile),
            );
        }
    }
}
