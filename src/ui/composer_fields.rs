//! The composer's form: body, metadata, properties, routing and how many. Each problem is shown
//! under its field.

use std::path::PathBuf;

use super::composer_draft::{
    key_destination, BodyKind, Draft, Problems, PropertyRow, RouteKind, SendMode,
};
use crate::bridge::{Command, FileUse};

const PROPERTY_KINDS: [&str; 4] = ["string", "int", "float", "bool"];

pub fn fields_ui(
    ui: &mut egui::Ui,
    draft: &mut Draft,
    partition_ids: &[String],
    problems: &Problems,
    outbox: &mut Vec<Command>,
) {
    let show = |ui: &mut egui::Ui, field: &str| {
        for (_, message) in problems.iter().filter(|(f, _)| *f == field) {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
    };
    ui.heading("Send events");
    ui.horizontal(|ui| {
        ui.label("Body is");
        ui.radio_value(&mut draft.body_kind, BodyKind::Text, "Text");
        ui.radio_value(&mut draft.body_kind, BodyKind::Json, "JSON");
        ui.radio_value(&mut draft.body_kind, BodyKind::File, "Bytes from a file");
    });
    if draft.body_kind == BodyKind::File {
        path_row(ui, "Body file", &mut draft.body_file, outbox);
    } else {
        let label = ui.label("Body");
        ui.add(
            egui::TextEdit::multiline(&mut draft.body)
                .code_editor()
                .desired_rows(6)
                .desired_width(f32::INFINITY)
                .hint_text("text or JSON; {{seq}} {{uuid}} {{now}} {{rand_int(1,100)}} {{rand_choice(a|b)}}"),
        )
        .labelled_by(label.id);
        if draft.body_kind == BodyKind::Json && ui.button("Pretty-print").clicked() {
            if let Ok(value) = serde_json::from_str::<serde_json::Value>(&draft.body) {
                draft.body = serde_json::to_string_pretty(&value).unwrap_or_default();
            }
        }
    }
    show(ui, "body");
    egui::Grid::new("composer_metadata")
        .num_columns(2)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            for (name, value, hint) in [
                (
                    "Content type",
                    &mut draft.content_type,
                    "application/json for JSON bodies",
                ),
                ("Correlation id", &mut draft.correlation_id, ""),
                ("Message id", &mut draft.message_id, ""),
            ] {
                let label = ui.label(name);
                ui.add(
                    egui::TextEdit::singleline(value)
                        .hint_text(hint)
                        .desired_width(360.0),
                )
                .labelled_by(label.id);
                ui.end_row();
            }
        });
    properties_ui(ui, draft);
    show(ui, "properties");
    routing_ui(ui, draft, partition_ids);
    show(ui, "routing");
    mode_ui(ui, draft, outbox);
    show(ui, "file");
}

fn path_row(ui: &mut egui::Ui, name: &str, path: &mut String, outbox: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let label = ui.label(name);
        ui.add(
            egui::TextEdit::singleline(path)
                .hint_text("path")
                .desired_width(360.0),
        )
        .labelled_by(label.id);
        if ui.button("Browse…").clicked() {
            outbox.push(Command::Browse {
                purpose: FileUse::SendFile,
                suggested: PathBuf::from(path.trim()),
            });
        }
    });
}

fn properties_ui(ui: &mut egui::Ui, draft: &mut Draft) {
    ui.add_space(4.0);
    ui.strong("Application properties");
    let mut remove = None;
    egui::Grid::new("composer_properties")
        .num_columns(4)
        .spacing([8.0, 4.0])
        .show(ui, |ui| {
            for (i, row) in draft.properties.iter_mut().enumerate() {
                ui.add(
                    egui::TextEdit::singleline(&mut row.key)
                        .hint_text(format!("key {}", i + 1))
                        .desired_width(140.0),
                );
                egui::ComboBox::from_id_salt(("property_kind", i))
                    .selected_text(row.kind)
                    .width(70.0)
                    .show_ui(ui, |ui| {
                        for kind in PROPERTY_KINDS {
                            ui.selectable_value(&mut row.kind, kind, kind);
                        }
                    });
                ui.add(
                    egui::TextEdit::singleline(&mut row.value)
                        .hint_text(format!("value {}", i + 1))
                        .desired_width(200.0),
                );
                if ui.small_button(format!("Remove {}", i + 1)).clicked() {
                    remove = Some(i);
                }
                ui.end_row();
            }
        });
    if let Some(i) = remove {
        draft.properties.remove(i);
    }
    if ui.small_button("Add property").clicked() {
        draft.properties.push(PropertyRow {
            key: String::new(),
            kind: "string",
            value: String::new(),
        });
    }
}

fn routing_ui(ui: &mut egui::Ui, draft: &mut Draft, partition_ids: &[String]) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.strong("Routing");
        ui.radio_value(&mut draft.route, RouteKind::Spread, "Service's choice");
        ui.radio_value(
            &mut draft.route,
            RouteKind::RoundRobin,
            "Each partition in turn",
        );
        ui.radio_value(&mut draft.route, RouteKind::Key, "Partition key");
        ui.radio_value(&mut draft.route, RouteKind::Partition, "Partition id");
    });
    match draft.route {
        RouteKind::Spread => {
            ui.weak(
                "The service picks a partition for each publish: a batch goes whole to one \
                 partition, single sends are spread.",
            );
        }
        RouteKind::RoundRobin => {
            ui.weak(format!(
                "Events are dealt over the {} partitions in turn, one publish per partition.",
                partition_ids.len()
            ));
        }
        RouteKind::Key => {
            ui.horizontal(|ui| {
                let label = ui.label("Key");
                ui.add(egui::TextEdit::singleline(&mut draft.key).desired_width(240.0))
                    .labelled_by(label.id);
                if let Some(id) = key_destination(&draft.key, partition_ids) {
                    ui.label(format!("goes to partition {id}"));
                }
            });
        }
        RouteKind::Partition => {
            if draft.partition.is_empty() {
                draft.partition = partition_ids.first().cloned().unwrap_or_default();
            }
            egui::ComboBox::from_label("Partition")
                .selected_text(draft.partition.clone())
                .show_ui(ui, |ui| {
                    for id in partition_ids {
                        ui.selectable_value(&mut draft.partition, id.clone(), id);
                    }
                });
        }
    }
}

fn mode_ui(ui: &mut egui::Ui, draft: &mut Draft, outbox: &mut Vec<Command>) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.strong("How many");
        ui.radio_value(&mut draft.mode, SendMode::Once, "Once");
        ui.radio_value(&mut draft.mode, SendMode::Times, "N times");
        ui.radio_value(&mut draft.mode, SendMode::LinesFile, "A file of bodies");
        ui.radio_value(&mut draft.mode, SendMode::Replay, "Replay an export");
    });
    match draft.mode {
        SendMode::Once => {}
        SendMode::Times => {
            ui.horizontal(|ui| {
                let label = ui.label("Count");
                ui.add(egui::DragValue::new(&mut draft.count).range(1..=1_000_000))
                    .labelled_by(label.id);
                ui.weak("bodies render the template once per event");
            });
        }
        SendMode::LinesFile | SendMode::Replay => {
            path_row(ui, "File", &mut draft.file, outbox);
            if draft.mode == SendMode::LinesFile {
                ui.checkbox(
                    &mut draft.batch,
                    "Pack into batches (one publish per event otherwise)",
                );
            }
        }
    }
}
