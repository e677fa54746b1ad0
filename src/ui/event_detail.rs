//! The selected event, whole: its body as pretty JSON, text or hex, its properties, and copies
//! of what people paste elsewhere (the body, the event as JSON, its sequence number and key).

use crate::consumer::ReceivedRecord;

use super::format::Zone;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    Json,
    Text,
    Hex,
}

/// What an event can be copied as: the body, the whole event (the export's JSON), its sequence
/// number, its partition key.
fn copies(record: &ReceivedRecord) -> Vec<(&'static str, String)> {
    let mut copies = vec![
        (
            "Copy body",
            String::from_utf8_lossy(&record.body).into_owned(),
        ),
        (
            "Copy event as JSON",
            serde_json::to_string_pretty(&record.to_export()).unwrap_or_default(),
        ),
        ("Copy sequence number", record.sequence_number.to_string()),
    ];
    if let Some(key) = &record.partition_key {
        copies.push(("Copy partition key", key.clone()));
    }
    copies
}

pub fn copy_menu_ui(ui: &mut egui::Ui, record: &ReceivedRecord) {
    for (label, text) in copies(record) {
        if ui.button(label).clicked() {
            ui.ctx().copy_text(text);
            ui.close();
        }
    }
}

pub fn detail_ui(ui: &mut egui::Ui, selected: Option<&ReceivedRecord>, body_mode: &mut BodyMode) {
    let Some(record) = selected else {
        ui.weak("Select an event to see it whole.");
        return;
    };
    let zone = Zone::of(ui.ctx());
    ui.strong(format!(
        "Partition {}, sequence number {}",
        record.partition_id, record.sequence_number
    ));
    ui.label(format!(
        "offset {}, enqueued {}",
        record.offset,
        record
            .enqueued_time
            .map_or_else(|| "-".into(), |t| zone.timestamp(t))
    ));
    ui.horizontal_wrapped(|ui| {
        for (label, text) in copies(record) {
            if ui.small_button(label).clicked() {
                ui.ctx().copy_text(text);
            }
        }
    });
    ui.horizontal(|ui| {
        ui.radio_value(body_mode, BodyMode::Json, "Pretty JSON");
        ui.radio_value(body_mode, BodyMode::Text, "Text");
        ui.radio_value(body_mode, BodyMode::Hex, "Hex");
    });
    let body = match *body_mode {
        BodyMode::Json => record
            .body_text()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| String::from_utf8_lossy(&record.body).into_owned()),
        BodyMode::Text => String::from_utf8_lossy(&record.body).into_owned(),
        BodyMode::Hex => record
            .body
            .chunks(16)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n"),
    };
    egui::ScrollArea::vertical()
        .id_salt("live_detail")
        .max_height(260.0)
        .show(ui, |ui| {
            ui.add(egui::Label::new(egui::RichText::new(body).monospace()).selectable(true));
        });
    ui.separator();
    ui.strong("Application properties");
    if record.properties.is_empty() {
        ui.weak("none");
    }
    for (key, value) in &record.properties {
        ui.monospace(format!("{key} = {value}"));
    }
    ui.strong("System properties");
    ui.monospace(format!("offset = {}", record.offset));
    if let Some(t) = record.enqueued_time {
        ui.monospace(format!("enqueued = {}", zone.timestamp(t)));
    }
    for (label, value) in [
        ("partition key", &record.partition_key),
        ("content type", &record.content_type),
        ("correlation id", &record.correlation_id),
        ("message id", &record.message_id),
    ] {
        if let Some(value) = value {
            ui.monospace(format!("{label} = {value}"));
        }
    }
    for (key, value) in &record.system_properties {
        ui.monospace(format!("{key} = {value}"));
    }
}
