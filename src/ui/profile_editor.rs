//! The profile editor: every field of a profile, checked as the user types, with each problem
//! shown next to its field. Save stays disabled until there are none.

mod optional_rows;

use std::path::PathBuf;

use optional_rows::optional_rows;

use crate::bridge::{Command, FileUse};
use crate::profiles::model::DEFAULT_EMULATOR_PORT;
use crate::profiles::{
    Credential, FieldError, Profile, ProfileKind, ProfilesFile, Secret, Transport,
};

pub struct EditorState {
    /// The profile being edited, or `None` for a new one.
    pub index: Option<usize>,
    pub draft: Profile,
    pub reveal_secrets: bool,
}

pub enum EditorOutcome {
    Editing,
    Save,
    /// Test the draft as it is, before saving.
    Test,
    Cancel,
}

impl EditorState {
    /// The draft's problems, including a name another profile already has.
    #[must_use]
    pub fn errors(&self, file: &ProfilesFile) -> Vec<FieldError> {
        let mut errors = self.draft.validate();
        let clash = file.profiles.iter().enumerate().any(|(i, p)| {
            Some(i) != self.index && p.name.trim().eq_ignore_ascii_case(self.draft.name.trim())
        });
        if clash {
            errors.push(FieldError {
                field: "name",
                message: "another profile already has this name".into(),
            });
        }
        errors
    }
}

/// An Entra ID profile may name no hub: it is then a namespace, whose hubs the tree offers.
const OPTIONAL_HUB: Option<&str> = Some("optional: pick one in the namespace tree");

pub fn editor_ui(
    ui: &mut egui::Ui,
    editor: &mut EditorState,
    file: &ProfilesFile,
    outbox: &mut Vec<Command>,
) -> EditorOutcome {
    let errors = editor.errors(file);
    ui.heading(if editor.index.is_some() {
        "Edit profile"
    } else {
        "New profile"
    });
    ui.add_space(6.0);
    egui::Grid::new("profile_editor")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .show(ui, |ui| {
            text_row(ui, "Name", &mut editor.draft.name, &errors, "name", None);
            kind_row(ui, &mut editor.draft.kind);
            let reveal = &mut editor.reveal_secrets;
            match &mut editor.draft.kind {
                ProfileKind::LocalEmulator {
                    port,
                    config_path,
                    hub,
                } => local_rows(ui, port, config_path, hub, &errors, outbox),
                ProfileKind::ConnectionString {
                    connection_string,
                    hub,
                } => {
                    secret_row(
                        ui,
                        "Connection string",
                        connection_string,
                        reveal,
                        &errors,
                        "connection_string",
                    );
                    let mut text = hub.clone().unwrap_or_default();
                    text_row(
                        ui,
                        "Hub",
                        &mut text,
                        &errors,
                        "hub",
                        Some("from EntityPath, or pick one in the namespace tree"),
                    );
                    *hub = Some(text).filter(|h| !h.trim().is_empty());
                }
                ProfileKind::EntraId {
                    namespace,
                    hub,
                    credential,
                } => {
                    text_row(
                        ui,
                        "Namespace",
                        namespace,
                        &errors,
                        "namespace",
                        Some("myns.servicebus.windows.net"),
                    );
                    text_row(ui, "Hub", hub, &errors, "hub", OPTIONAL_HUB);
                    credential_rows(ui, credential, reveal, &errors);
                }
            }
            text_row(
                ui,
                "Consumer group",
                &mut editor.draft.consumer_group,
                &errors,
                "consumer_group",
                None,
            );
            transport_row(ui, &mut editor.draft.transport);
            optional_rows(ui, &mut editor.draft, &mut editor.reveal_secrets, &errors);
        });
    ui.add_space(8.0);
    let mut outcome = EditorOutcome::Editing;
    ui.horizontal(|ui| {
        if ui
            .add_enabled(errors.is_empty(), egui::Button::new("Save"))
            .clicked()
        {
            outcome = EditorOutcome::Save;
        }
        if ui
            .add_enabled(errors.is_empty(), egui::Button::new("Test this profile"))
            .on_hover_text("connect, read the hub's properties and disconnect, before saving")
            .clicked()
        {
            outcome = EditorOutcome::Test;
        }
        if ui.button("Cancel").clicked() {
            outcome = EditorOutcome::Cancel;
        }
        if !errors.is_empty() {
            ui.weak("Fix the fields marked in red to save.");
        }
    });
    outcome
}

fn field_errors(ui: &mut egui::Ui, errors: &[FieldError], field: &str) {
    for e in errors.iter().filter(|e| e.field == field) {
        ui.colored_label(ui.visuals().error_fg_color, &e.message);
    }
}

fn text_row(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut String,
    errors: &[FieldError],
    field: &str,
    hint: Option<&str>,
) {
    let label = ui.label(label);
    ui.vertical(|ui| {
        let mut edit = egui::TextEdit::singleline(value).desired_width(420.0);
        if let Some(hint) = hint {
            edit = edit.hint_text(hint.to_string());
        }
        ui.add(edit).labelled_by(label.id);
        field_errors(ui, errors, field);
    });
    ui.end_row();
}

fn secret_row(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut Secret,
    reveal: &mut bool,
    errors: &[FieldError],
    field: &str,
) {
    let label = ui.label(label);
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            ui.add(
                egui::TextEdit::singleline(value.expose_mut())
                    .password(!*reveal)
                    .desired_width(420.0),
            )
            .labelled_by(label.id);
            ui.toggle_value(reveal, "Reveal");
        });
        field_errors(ui, errors, field);
    });
    ui.end_row();
}

fn kind_row(ui: &mut egui::Ui, kind: &mut ProfileKind) {
    let label = ui.label("Kind");
    let current = kind_name(kind);
    egui::ComboBox::from_id_salt("profile_kind")
        .selected_text(current)
        .show_ui(ui, |ui| {
            for choice in ["Local emulator", "Connection string", "Entra ID"] {
                if ui.selectable_label(current == choice, choice).clicked() && current != choice {
                    *kind = default_kind(choice);
                }
            }
        })
        .response
        .labelled_by(label.id);
    ui.end_row();
}

fn kind_name(kind: &ProfileKind) -> &'static str {
    match kind {
        ProfileKind::LocalEmulator { .. } => "Local emulator",
        ProfileKind::ConnectionString { .. } => "Connection string",
        ProfileKind::EntraId { .. } => "Entra ID",
    }
}

fn default_kind(name: &str) -> ProfileKind {
    match name {
        "Local emulator" => ProfileKind::LocalEmulator {
            port: DEFAULT_EMULATOR_PORT,
            config_path: None,
            hub: "eh1".into(),
        },
        "Entra ID" => ProfileKind::EntraId {
            namespace: String::new(),
            hub: String::new(),
            credential: Credential::DeveloperTools,
        },
        _ => ProfileKind::ConnectionString {
            connection_string: Secret::default(),
            hub: None,
        },
    }
}

fn local_rows(
    ui: &mut egui::Ui,
    port: &mut u16,
    config_path: &mut Option<PathBuf>,
    hub: &mut String,
    errors: &[FieldError],
    outbox: &mut Vec<Command>,
) {
    let label = ui.label("Port");
    ui.vertical(|ui| {
        ui.add(egui::DragValue::new(port).range(1..=65535))
            .labelled_by(label.id);
        ui.weak("The next free port is used when this one is taken.");
        field_errors(ui, errors, "port");
    });
    ui.end_row();
    // A text field as well as the dialog: desktops without a file-dialog portal can still type it.
    let label = ui.label("Config.json");
    ui.vertical(|ui| {
        ui.horizontal(|ui| {
            let mut text = config_path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let edit = egui::TextEdit::singleline(&mut text)
                .hint_text("default topology (hub eh1, 2 partitions)")
                .desired_width(330.0);
            if ui.add(edit).labelled_by(label.id).changed() {
                *config_path =
                    Some(PathBuf::from(text.trim())).filter(|p| !p.as_os_str().is_empty());
            }
            if ui.button("Choose…").clicked() {
                outbox.push(Command::Browse {
                    purpose: FileUse::EmulatorConfig,
                    suggested: config_path.clone().unwrap_or_default(),
                });
            }
        });
        field_errors(ui, errors, "config_path");
    });
    ui.end_row();
    text_row(ui, "Hub", hub, errors, "hub", None);
}

fn credential_rows(
    ui: &mut egui::Ui,
    credential: &mut Credential,
    reveal: &mut bool,
    errors: &[FieldError],
) {
    let label = ui.label("Credential");
    let current = match credential {
        Credential::DeveloperTools => "Developer tools (Azure CLI, azd)",
        Credential::ClientSecret { .. } => "Client secret",
        Credential::ManagedIdentity { .. } => "Managed identity",
        Credential::WorkloadIdentity => "Workload identity",
    };
    egui::ComboBox::from_id_salt("credential_kind")
        .selected_text(current)
        .width(260.0)
        .show_ui(ui, |ui| {
            let choices = [
                (
                    "Developer tools (Azure CLI, azd)",
                    Credential::DeveloperTools,
                ),
                (
                    "Client secret",
                    Credential::ClientSecret {
                        tenant_id: String::new(),
                        client_id: String::new(),
                        client_secret: Secret::default(),
                    },
                ),
                (
                    "Managed identity",
                    Credential::ManagedIdentity { client_id: None },
                ),
                ("Workload identity", Credential::WorkloadIdentity),
            ];
            for (name, value) in choices {
                if ui.selectable_label(current == name, name).clicked() && current != name {
                    *credential = value;
                }
            }
        })
        .response
        .labelled_by(label.id);
    ui.end_row();
    match credential {
        Credential::ClientSecret {
            tenant_id,
            client_id,
            client_secret,
        } => {
            text_row(ui, "Tenant id", tenant_id, errors, "tenant_id", None);
            text_row(ui, "Client id", client_id, errors, "client_id", None);
            secret_row(
                ui,
                "Client secret",
                client_secret,
                reveal,
                errors,
                "client_secret",
            );
        }
        Credential::ManagedIdentity { client_id } => {
            let mut text = client_id.clone().unwrap_or_default();
            text_row(
                ui,
                "Client id",
                &mut text,
                errors,
                "client_id",
                Some("optional: a user-assigned identity"),
            );
            *client_id = Some(text).filter(|t| !t.trim().is_empty());
        }
        Credential::DeveloperTools | Credential::WorkloadIdentity => {}
    }
}

fn transport_row(ui: &mut egui::Ui, transport: &mut Transport) {
    let label = ui.label("Transport");
    egui::ComboBox::from_id_salt("transport")
        .selected_text(match transport {
            Transport::Amqp => "AMQP",
            Transport::AmqpWebSockets => "AMQP over WebSockets",
        })
        .show_ui(ui, |ui| {
            ui.selectable_value(transport, Transport::Amqp, "AMQP");
            ui.selectable_value(transport, Transport::AmqpWebSockets, "AMQP over WebSockets");
        })
        .response
        .labelled_by(label.id);
    ui.end_row();
}
