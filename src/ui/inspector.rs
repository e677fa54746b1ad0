//! The hub and partition inspector: the connected hub's partitions, refreshed on the user's
//! interval by the runtime, and a partition-key → partition preview.

use std::time::{Duration, SystemTime};

use super::format::Zone;
use crate::bridge::{Command, ConnectionState, Snapshot};
use crate::hub::HubSnapshot;
use crate::partition_key;
use crate::producer::{OutgoingEvent, Packing, Routing, SendSource};

pub struct InspectorState {
    pub key: String,
    pub refresh_secs: f64,
    /// The user asked to go to the Live tab from the empty hub's next steps.
    pub open_live: bool,
    /// Sample events asked for and not yet seen arrive.
    pub samples_sent: bool,
    /// The user asked for the 30-second demo load from the empty hub's next steps.
    pub start_demo: bool,
}

impl Default for InspectorState {
    fn default() -> Self {
        Self {
            key: String::new(),
            refresh_secs: crate::bridge::DEFAULT_REFRESH.as_secs_f64(),
            open_live: false,
            samples_sent: false,
            start_demo: false,
        }
    }
}

pub fn inspector_ui(
    ui: &mut egui::Ui,
    state: &mut InspectorState,
    snapshot: &Snapshot,
    outbox: &mut Vec<Command>,
) {
    match &snapshot.connection {
        ConnectionState::Disconnected => {
            ui.heading("Not connected");
            ui.label("Choose a profile on the left and press Connect.");
            return;
        }
        ConnectionState::Connecting { profile, endpoint } => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.heading(format!("Connecting to {profile}…"));
            });
            ui.label(endpoint);
            return;
        }
        ConnectionState::Failed {
            profile,
            endpoint,
            error,
        } => {
            ui.heading(format!("Could not connect to {profile}"));
            ui.label(endpoint);
            ui.colored_label(ui.visuals().error_fg_color, error);
            return;
        }
        ConnectionState::Connected { .. } => {}
    }
    let Some(hub) = &snapshot.hub else {
        ui.horizontal(|ui| {
            ui.spinner();
            if let Some(hub) = &snapshot.working_hub {
                ui.heading(format!("Opening hub {hub}…"));
            }
        });
        return;
    };
    ui.horizontal(|ui| {
        ui.heading(format!("Hub {}", hub.name));
        if let Some(created) = hub.created_on {
            let zone = Zone::of(ui.ctx());
            ui.label(format!("created {}", zone.timestamp(created)));
        }
    });
    refresh_controls_ui(ui, state, snapshot, outbox);
    ui.add_space(6.0);
    partition_table_ui(ui, hub);
    if hub.partitions.iter().all(|p| p.is_empty) {
        next_steps_ui(ui, state, hub, outbox);
    }
    ui.add_space(12.0);
    key_preview_ui(ui, state, hub);
}

fn refresh_controls_ui(
    ui: &mut egui::Ui,
    state: &mut InspectorState,
    snapshot: &Snapshot,
    outbox: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        let label = ui.label("Refresh every");
        let changed = ui
            .add(
                egui::DragValue::new(&mut state.refresh_secs)
                    .range(0.25..=3600.0)
                    .speed(0.25)
                    .suffix(" s"),
            )
            .labelled_by(label.id)
            .changed();
        if changed {
            outbox.push(Command::SetRefreshInterval(Duration::from_secs_f64(
                state.refresh_secs,
            )));
        }
        if ui.button("Refresh now").clicked() {
            outbox.push(Command::RefreshNow);
        }
        if let Some(at) = snapshot.refreshed_at {
            ui.label(format!("refreshed {} ago", age(at)));
            // Keep the ages moving between refreshes.
            ui.ctx().request_repaint_after(Duration::from_secs(1));
        }
    });
    if let Some(error) = &snapshot.refresh_error {
        ui.colored_label(
            ui.visuals().error_fg_color,
            format!("Last refresh failed (showing the previous data): {error}"),
        );
    }
}

fn partition_table_ui(ui: &mut egui::Ui, hub: &HubSnapshot) {
    egui::ScrollArea::both()
        .max_height(ui.available_height() * 0.7)
        .show(ui, |ui| {
            egui::Grid::new("partitions")
                .striped(true)
                .spacing([18.0, 4.0])
                .show(ui, |ui| {
                    for title in [
                        "Partition",
                        "Beginning seq",
                        "Last enqueued seq",
                        "Last offset",
                        "Last enqueued time",
                        "Age",
                        "Empty",
                        "Retained events",
                    ] {
                        ui.strong(title);
                    }
                    ui.end_row();
                    for p in &hub.partitions {
                        ui.label(&p.id);
                        ui.label(p.beginning_sequence_number.to_string());
                        // An empty partition has no last event: the service's -1 says nothing.
                        if p.is_empty {
                            ui.label("–");
                            ui.label("–");
                        } else {
                            ui.label(p.last_enqueued_sequence_number.to_string());
                            ui.label(&p.last_enqueued_offset);
                        }
                        // An empty partition has no last event; the SDK reports the epoch for it.
                        if let Some(t) = p.last_enqueued_time.filter(|_| !p.is_empty) {
                            ui.label(Zone::of(ui.ctx()).timestamp(t));
                            ui.label(age(t));
                        } else {
                            ui.label("—");
                            ui.label("—");
                        }
                        ui.label(if p.is_empty { "yes" } else { "no" });
                        ui.label(super::format::count(p.retained_events()));
                        ui.end_row();
                    }
                });
        });
}

/// An empty hub's next steps: something to look at in one click.
fn next_steps_ui(
    ui: &mut egui::Ui,
    state: &mut InspectorState,
    hub: &HubSnapshot,
    outbox: &mut Vec<Command>,
) {
    ui.add_space(8.0);
    ui.strong("This hub is empty.");
    ui.horizontal_wrapped(|ui| {
        if ui.button("Send 20 sample events").clicked() {
            let prototype = OutgoingEvent {
                content_type: Some("application/json".into()),
                routing: Routing::RoundRobin,
                ..OutgoingEvent::default()
            };
            outbox.push(Command::Send {
                request_id: 0,
                source: SendSource::Template {
                    template: SAMPLE_TEMPLATE.into(),
                    count: 20,
                    prototype,
                },
                packing: Packing::Batches,
                partition_ids: hub.partitions.iter().map(|p| p.id.clone()).collect(),
            });
            state.samples_sent = true;
            outbox.push(Command::RefreshNow);
        }
        if ui.button("Start a 30-second demo load").clicked() {
            state.start_demo = true;
        }
        if ui.button("Open the Live tab").clicked() {
            state.open_live = true;
        }
        ui.weak("or write your own in the Composer tab.");
    });
    if state.samples_sent {
        ui.weak("Sample events sent; they show here at the next refresh.");
    }
}

/// JSON a first look can filter on: `.body.temp > 25`, `.body.device == "d-3"`.
pub const SAMPLE_TEMPLATE: &str =
    r#"{"device": "d-{{rand_int(1,5)}}", "temp": {{rand_int(15,35)}}, "n": {{seq}}}"#;

fn key_preview_ui(ui: &mut egui::Ui, state: &mut InspectorState, hub: &HubSnapshot) {
    ui.strong("Where does a key go?");
    ui.horizontal(|ui| {
        let label = ui.label("Partition key");
        ui.add(egui::TextEdit::singleline(&mut state.key).hint_text("type a key"))
            .labelled_by(label.id);
        if !state.key.is_empty() && !hub.partitions.is_empty() {
            let index = partition_key::partition_index(&state.key, hub.partitions.len());
            let id = hub.partitions.get(index).map_or("?", |p| p.id.as_str());
            ui.label(format!("goes to partition {id}"));
        }
    });
    ui.weak("The service's hash of the key, as it routes keyed events.");
}

/// "3 s", "5 min", "2 h", "4 d": how long ago `time` was.
#[must_use]
pub fn age(time: SystemTime) -> String {
    let secs = SystemTime::now()
        .duration_since(time)
        .unwrap_or_default()
        .as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86_400),
    }
}
