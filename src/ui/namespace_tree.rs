//! The namespace tree under the profiles: every hub of the connected profile's namespace with
//! its partitions and consumer groups, the hub being worked on marked, and New / Delete dialogs
//! that go through the namespace's management API. Reading and changing happen on the runtime;
//! this only draws the latest snapshot and queues commands.

use crate::bridge::{Command, NamespaceChange, NamespaceState, Snapshot};
use crate::management::HubInfo;

/// A dialog open over the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    NewHub {
        name: String,
        partitions: String,
        retention_days: String,
        error: Option<String>,
    },
    NewGroup {
        hub: String,
        name: String,
    },
    /// Deletes go through only once the name is typed again.
    Delete {
        what: Deleting,
        typed: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleting {
    Hub(String),
    Group { hub: String, name: String },
}

impl Deleting {
    fn name(&self) -> &str {
        match self {
            Self::Hub(name) | Self::Group { name, .. } => name,
        }
    }
}

#[derive(Debug, Default)]
pub struct NamespaceTreeState {
    pub dialog: Option<Dialog>,
    /// The pass the dialog opened in: the click that opened it must not also count as a click
    /// on the backdrop (which closes it), as it would where an earlier dialog's backdrop was.
    opened_at: u64,
}

impl NamespaceTreeState {
    fn open(&mut self, ctx: &egui::Context, dialog: Dialog) {
        self.dialog = Some(dialog);
        self.opened_at = ctx.cumulative_pass_nr();
    }
}

/// The tree, below the profiles in the left panel.
pub fn namespace_ui(
    ui: &mut egui::Ui,
    state: &mut NamespaceTreeState,
    snapshot: &Snapshot,
    outbox: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("Namespace");
        if ui
            .small_button("Refresh")
            .on_hover_text("Read the namespace again")
            .clicked()
        {
            outbox.push(Command::RefreshNamespace);
        }
    });
    match &snapshot.namespace {
        NamespaceState::Unknown => {
            ui.weak("Connect to a profile to see its namespace.");
        }
        NamespaceState::Denied(why) => {
            ui.label(format!(
                "The namespace cannot be managed with this profile: {why}."
            ))
            .on_hover_text(
                "Its hub still works: Inspector, Composer, Live, Load and Consumer groups. \
                 To manage hubs with Azure roles instead, name the namespace's subscription and \
                 resource group in the profile: the app then goes through Resource Manager.",
            );
        }
        NamespaceState::Failed(why) => {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("The namespace could not be read: {why}"),
            );
        }
        NamespaceState::Ready(info) => {
            ui.horizontal(|ui| {
                ui.weak(format!("{}: {} hub(s)", info.namespace, info.hubs.len()));
                if let Some(url) = &info.resource_manager {
                    ui.weak("via Resource Manager").on_hover_text(format!(
                        "The namespace refused the profile's credential, so its hubs and \
                         consumer groups are read and changed through Azure Resource Manager \
                         ({url}), with the profile's Entra ID credential or, for a key, your az login."
                    ));
                }
                if ui.button("New hub…").clicked() {
                    state.open(
                        ui.ctx(),
                        Dialog::NewHub {
                            name: String::new(),
                            partitions: "4".into(),
                            retention_days: "1".into(),
                            error: None,
                        },
                    );
                }
            });
            egui::ScrollArea::vertical()
                .id_salt("namespace_tree")
                .show(ui, |ui| {
                    for hub in &info.hubs {
                        hub_ui(ui, state, hub, snapshot.working_hub.as_deref(), outbox);
                    }
                });
        }
    }
    dialog_ui(ui.ctx(), state, outbox);
}

fn hub_ui(
    ui: &mut egui::Ui,
    state: &mut NamespaceTreeState,
    hub: &HubInfo,
    working: Option<&str>,
    outbox: &mut Vec<Command>,
) {
    let is_working = working.is_some_and(|w| w.eq_ignore_ascii_case(&hub.name));
    let days = hub.retention_secs / 86_400;
    let summary = format!(
        "{} · {} partitions · {days} d · {}",
        hub.name, hub.partition_count, hub.status
    );
    egui::CollapsingHeader::new(if is_working {
        format!("{summary} (working on it)")
    } else {
        summary
    })
    .id_salt(("hub", &hub.name))
    .show(ui, |ui| {
        ui.horizontal(|ui| {
            if is_working {
                ui.weak("Working on this hub");
            } else if ui
                .button(format!("Work on {}", hub.name))
                .on_hover_text("Inspector, Composer, Live, Load and Consumer groups use it")
                .clicked()
            {
                outbox.push(Command::SwitchHub(hub.name.clone()));
            }
            if ui.button(format!("Delete {}…", hub.name)).clicked() {
                state.open(
                    ui.ctx(),
                    Dialog::Delete {
                        what: Deleting::Hub(hub.name.clone()),
                        typed: String::new(),
                    },
                );
            }
        });
        ui.weak(format!("Partitions: {}", hub.partition_ids.join(", ")));
        ui.label("Consumer groups");
        for group in &hub.consumer_groups {
            ui.horizontal(|ui| {
                ui.label(format!("  {group}"));
                if group != "$Default" && ui.small_button(format!("Delete {group}…")).clicked() {
                    state.open(
                        ui.ctx(),
                        Dialog::Delete {
                            what: Deleting::Group {
                                hub: hub.name.clone(),
                                name: group.clone(),
                            },
                            typed: String::new(),
                        },
                    );
                }
            });
        }
        if ui
            .button(format!("New consumer group on {}…", hub.name))
            .clicked()
        {
            state.open(
                ui.ctx(),
                Dialog::NewGroup {
                    hub: hub.name.clone(),
                    name: String::new(),
                },
            );
        }
    });
}

/// What the open dialog decided this frame.
enum Decision {
    Open,
    Close,
    Do(NamespaceChange),
}

fn dialog_ui(ctx: &egui::Context, state: &mut NamespaceTreeState, outbox: &mut Vec<Command>) {
    let Some(dialog) = &mut state.dialog else {
        return;
    };
    let mut decision = Decision::Open;
    let just_opened = ctx.cumulative_pass_nr() <= state.opened_at + 1;
    let modal = egui::Modal::new(egui::Id::unique("namespace_dialog")).show(ctx, |ui| {
        ui.set_width(420.0);
        match dialog {
            Dialog::NewHub {
                name,
                partitions,
                retention_days,
                error,
            } => {
                ui.heading("New hub");
                field(ui, "Hub name", name, just_opened);
                field(ui, "Partitions (1–32)", partitions, false);
                field(ui, "Retention in days (1–90)", retention_days, false);
                // Reserved whether or not there is an error: the buttons stay where they are.
                let line = error.as_deref().unwrap_or("");
                ui.colored_label(ui.visuals().error_fg_color, line);
                if let Some(answer) = buttons(ui, "Create") {
                    decision = if answer {
                        match new_hub(name, partitions, retention_days) {
                            Ok(change) => Decision::Do(change),
                            Err(why) => {
                                *error = Some(why);
                                Decision::Open
                            }
                        }
                    } else {
                        Decision::Close
                    };
                }
            }
            Dialog::NewGroup { hub, name } => {
                ui.heading(format!("New consumer group on {hub}"));
                field(ui, "Consumer group name", name, just_opened);
                if let Some(answer) = buttons(ui, "Create") {
                    decision = if answer && !name.trim().is_empty() {
                        Decision::Do(NamespaceChange::CreateGroup {
                            hub: hub.clone(),
                            name: name.trim().to_string(),
                        })
                    } else if answer {
                        Decision::Open
                    } else {
                        Decision::Close
                    };
                }
            }
            Dialog::Delete { what, typed } => {
                let (heading, warning) = match what {
                    Deleting::Hub(name) => (
                        format!("Delete hub {name}"),
                        "Its events, its consumer groups and their checkpoints' meaning go with it.",
                    ),
                    Deleting::Group { hub, name } => (
                        format!("Delete consumer group {name} from {hub}"),
                        "Readers of this group stop being able to attach.",
                    ),
                };
                ui.heading(heading);
                ui.label(warning);
                field(ui, &format!("Type {} to confirm", what.name()), typed, just_opened);
                let matches = typed.trim() == what.name();
                ui.horizontal(|ui| {
                    if ui.add_enabled(matches, egui::Button::new("Delete for good")).clicked() {
                        decision = Decision::Do(match what {
                            Deleting::Hub(name) => NamespaceChange::DeleteHub(name.clone()),
                            Deleting::Group { hub, name } => NamespaceChange::DeleteGroup {
                                hub: hub.clone(),
                                name: name.clone(),
                            },
                        });
                    }
                    if ui.button("Cancel").clicked() {
                        decision = Decision::Close;
                    }
                });
            }
        }
    });
    if modal.should_close() && ctx.cumulative_pass_nr() > state.opened_at {
        decision = Decision::Close;
    }
    match decision {
        Decision::Open => {}
        Decision::Close => state.dialog = None,
        Decision::Do(change) => {
            outbox.push(Command::Manage(change));
            state.dialog = None;
        }
    }
}

/// A labelled field, with an id of its own (a field of an earlier dialog at the same place
/// must not lend it its state); `first` takes the focus as the dialog opens, so typing can
/// start at once.
fn field(ui: &mut egui::Ui, label: &str, text: &mut String, first: bool) {
    ui.horizontal(|ui| {
        let caption = ui.label(label);
        let edit = ui
            .add(
                egui::TextEdit::singleline(text)
                    .id_salt(("namespace_field", label))
                    .desired_width(200.0),
            )
            .labelled_by(caption.id);
        if first {
            edit.request_focus();
        }
    });
}

/// The confirming button and Cancel: `Some(true)`, `Some(false)`, or nothing clicked.
fn buttons(ui: &mut egui::Ui, confirm: &str) -> Option<bool> {
    let mut answer = None;
    ui.horizontal(|ui| {
        if ui.button(confirm).clicked() {
            answer = Some(true);
        }
        if ui.button("Cancel").clicked() {
            answer = Some(false);
        }
    });
    answer
}

/// The New hub dialog's fields, checked before anything is sent.
fn new_hub(name: &str, partitions: &str, days: &str) -> Result<NamespaceChange, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Name the hub.".into());
    }
    let partitions: u32 = partitions
        .trim()
        .parse()
        .ok()
        .filter(|p| (1..=32).contains(p))
        .ok_or("Partitions must be a number from 1 to 32.")?;
    let retention_days: u32 = days
        .trim()
        .parse()
        .ok()
        .filter(|d| (1..=90).contains(d))
        .ok_or("Retention must be a whole number of days from 1 to 90.")?;
    Ok(NamespaceChange::CreateHub {
        name: name.to_string(),
        partitions,
        retention_days,
    })
}
