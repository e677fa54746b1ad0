//! The live consumer view: readers' controls, the partition table with rates and lag, the lag
//! and rate charts, the filter, a virtualised event list (only visible rows are laid out) and
//! the selected event's detail. Rows are copied out of the runtime's store under a brief lock.

use std::sync::Arc;

use crate::bridge::{Command, LiveHandle};
use crate::consumer::filter::EventFilter;
use crate::consumer::live::{self, LiveConfig, DEFAULT_CAPACITY};
use crate::consumer::{ReaderState, ReceivedRecord, StartFrom};
use crate::hub::properties::rfc3339_opt;

use super::live_charts::{charts_ui, partition_table_ui, PartitionRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    Json,
    Text,
    Hex,
}

pub struct LiveViewState {
    pub handle: Option<LiveHandle>,
    pub consumer_group: String,
    /// The hub's groups as the app knows them, offered beside the typed field.
    pub known_groups: Vec<String>,
    /// Comma-separated partition ids; empty for all.
    pub partitions: String,
    /// earliest, latest, seq:N, offset:O, time:RFC3339.
    pub start: String,
    pub owner_level: String,
    pub prefetch: String,
    pub config_error: Option<String>,
    pub jq: String,
    pub text: String,
    pub filter_error: Option<String>,
    /// Ctrl+F asked for the jq field's focus.
    pub focus_filter: bool,
    /// The event list's share of the width; the detail pane has the rest.
    pub list_fraction: f32,
    /// The jq program and search text the view filters by now (the last that compiled).
    pub applied_filter: (String, String),
    pub capacity: usize,
    pub follow: bool,
    pub selected: Option<Arc<ReceivedRecord>>,
    pub body_mode: BodyMode,
    pub window_secs: f64,
    pub export_only_shown: bool,
}

impl Default for LiveViewState {
    fn default() -> Self {
        Self {
            handle: None,
            consumer_group: String::new(),
            known_groups: Vec::new(),
            partitions: String::new(),
            start: "latest".into(),
            owner_level: String::new(),
            prefetch: String::new(),
            config_error: None,
            jq: String::new(),
            text: String::new(),
            filter_error: None,
            focus_filter: false,
            list_fraction: 0.62,
            applied_filter: (String::new(), String::new()),
            capacity: DEFAULT_CAPACITY,
            follow: true,
            selected: None,
            body_mode: BodyMode::Json,
            window_secs: 60.0,
            export_only_shown: true,
        }
    }
}

impl LiveViewState {
    fn config(&self, hub_partitions: &[String]) -> Result<LiveConfig, String> {
        let start: StartFrom = self.start.parse()?;
        let partitions: Vec<String> = if self.partitions.trim().is_empty() {
            hub_partitions.to_vec()
        } else {
            self.partitions
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        };
        if let Some(unknown) = partitions.iter().find(|p| !hub_partitions.contains(p)) {
            return Err(format!(
                "partition `{unknown}` does not exist; the hub has {}",
                hub_partitions.join(", ")
            ));
        }
        let number = |text: &str, what: &str| -> Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("{what} must be a number"))
        };
        Ok(LiveConfig {
            partitions,
            start,
            owner_level: number(&self.owner_level, "the owner level")?,
            prefetch: number(&self.prefetch, "prefetch")?
                .map(|p| {
                    u32::try_from(p)
                        .map_err(|_| "prefetch must be between 0 and 4294967295".to_string())
                })
                .transpose()?,
            capacity: self.capacity,
            consumer_group: Some(self.consumer_group.trim().to_string()).filter(|g| !g.is_empty()),
        })
    }
}

pub fn live_view_ui(
    ui: &mut egui::Ui,
    state: &mut LiveViewState,
    hub_partitions: &[String],
    outbox: &mut Vec<Command>,
) {
    controls_ui(ui, state, hub_partitions, outbox);
    let Some(handle) = state.handle.clone() else {
        ui.weak("Choose where to start and press Start: one reader per partition.");
        return;
    };
    let snapshot = handle.snapshot.borrow().clone();
    // Everything drawn below is copied out under one short lock.
    let (partition_rows, counts, shown, now_secs) = {
        let store = live::lock(&handle.store);
        let rows: Vec<PartitionRow> = store
            .partitions
            .iter()
            .map(|p| PartitionRow::from_stats(p, &snapshot.states))
            .collect();
        (
            rows,
            store.counts_text(),
            store.shown.len(),
            store.elapsed_secs(),
        )
    };
    partition_table_ui(ui, &partition_rows);
    {
        let store = live::lock(&handle.store);
        charts_ui(
            ui,
            &store,
            &partition_rows,
            now_secs,
            &mut state.window_secs,
        );
    }
    filter_ui(ui, state, outbox);
    ui.horizontal(|ui| {
        ui.label(format!("{counts} (keep the newest"));
        let changed = ui
            .add(
                egui::DragValue::new(&mut state.capacity)
                    .range(100..=5_000_000)
                    .speed(1000),
            )
            .changed();
        ui.label(")");
        if changed {
            outbox.push(Command::SetLiveCapacity(state.capacity));
        }
        ui.checkbox(&mut state.follow, "Follow");
        // Selecting a row stops following, as a terminal's scroll lock does.
        if !state.follow && ui.button("Jump to newest").clicked() {
            state.follow = true;
        }
        if ui.button("Export…").clicked() {
            outbox.push(Command::ExportLive {
                only_shown: state.export_only_shown,
            });
        }
        ui.checkbox(&mut state.export_only_shown, "Only what the filter shows");
    });
    let height = ui.available_height().max(200.0);
    let width = ui.available_width();
    let list_width = (width * state.list_fraction).clamp(240.0, (width - 160.0).max(240.0));
    ui.horizontal_top(|ui| {
        let top_down = egui::Layout::top_down(egui::Align::Min);
        ui.allocate_ui_with_layout(egui::vec2(list_width, height), top_down, |ui| {
            ui.set_min_size(egui::vec2(list_width, height));
            ui.set_max_width(list_width);
            event_list_ui(ui, state, &handle, shown);
        });
        // The split between the list and the detail is dragged like any pane's edge.
        let (rect, drag) = ui.allocate_exact_size(egui::vec2(6.0, height), egui::Sense::drag());
        let stroke = ui.visuals().widgets.noninteractive.bg_stroke;
        ui.painter().vline(rect.center().x, rect.y_range(), stroke);
        if drag.hovered() || drag.dragged() {
            ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeHorizontal);
        }
        if drag.dragged() && width > 0.0 {
            state.list_fraction = ((list_width + drag.drag_delta().x) / width).clamp(0.2, 0.9);
        }
        ui.vertical(|ui| detail_ui(ui, state));
    });
}

fn controls_ui(
    ui: &mut egui::Ui,
    state: &mut LiveViewState,
    hub_partitions: &[String],
    outbox: &mut Vec<Command>,
) {
    let running = state
        .handle
        .as_ref()
        .is_some_and(|h| h.snapshot.borrow().running);
    let paused = state
        .handle
        .as_ref()
        .is_some_and(|h| h.snapshot.borrow().paused);
    ui.horizontal_wrapped(|ui| {
        for (name, value, hint, width) in [
            (
                "Consumer group",
                &mut state.consumer_group,
                "the profile's",
                110.0,
            ),
            ("Partitions", &mut state.partitions, "all", 80.0),
            (
                "Start from",
                &mut state.start,
                "earliest, latest, seq:N, offset:O, time:...",
                150.0,
            ),
            ("Owner level", &mut state.owner_level, "none", 60.0),
            ("Prefetch", &mut state.prefetch, "default", 60.0),
        ] {
            let label = ui.label(name);
            ui.add(
                egui::TextEdit::singleline(value)
                    .hint_text(hint)
                    .desired_width(width),
            )
            .labelled_by(label.id);
        }
    });
    ui.horizontal(|ui| {
        // The typed forms stay; these fill them in.
        egui::ComboBox::from_label("Start presets")
            .selected_text("start from…")
            .show_ui(ui, |ui| {
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                for (label, text) in [
                    ("earliest", "earliest".to_string()),
                    ("latest", "latest".to_string()),
                    ("a sequence number", "seq:0".to_string()),
                    ("an offset", "offset:0".to_string()),
                    ("an enqueued time", format!("time:{now}")),
                ] {
                    if ui.selectable_label(state.start == text, label).clicked() {
                        state.start = text;
                    }
                }
            });
        if !state.known_groups.is_empty() {
            egui::ComboBox::from_label("Known groups")
                .selected_text("pick a consumer group")
                .show_ui(ui, |ui| {
                    for group in &state.known_groups {
                        let picked = state.consumer_group == *group;
                        if ui.selectable_label(picked, group).clicked() {
                            state.consumer_group.clone_from(group);
                        }
                    }
                });
        }
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!hub_partitions.is_empty(), egui::Button::new("Start"))
            .clicked()
        {
            match state.config(hub_partitions) {
                Ok(config) => {
                    state.config_error = None;
                    state.selected = None;
                    outbox.push(Command::StartLive(config));
                }
                Err(e) => state.config_error = Some(e),
            }
        }
        if running && !paused && ui.button("Pause").clicked() {
            outbox.push(Command::PauseLive(true));
        }
        if running && paused && ui.button("Resume").clicked() {
            outbox.push(Command::PauseLive(false));
        }
        if running && ui.button("Stop").clicked() {
            outbox.push(Command::StopLive);
        }
        if hub_partitions.is_empty() {
            ui.weak("Connect to a hub first.");
        }
    });
    if let Some(error) = &state.config_error {
        ui.colored_label(ui.visuals().error_fg_color, error);
    }
}

fn filter_ui(ui: &mut egui::Ui, state: &mut LiveViewState, outbox: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let label = ui.label("jq filter");
        let jq = ui
            .add(
                egui::TextEdit::singleline(&mut state.jq)
                    .hint_text(".body.temp > 20")
                    .desired_width(260.0),
            )
            .labelled_by(label.id);
        if std::mem::take(&mut state.focus_filter) {
            jq.request_focus();
        }
        let label = ui.label("Search");
        let text = ui
            .add(
                egui::TextEdit::singleline(&mut state.text)
                    .hint_text("text in body, key or properties")
                    .desired_width(200.0),
            )
            .labelled_by(label.id);
        let submitted =
            (jq.lost_focus() || text.lost_focus()) && ui.input(|i| i.key_pressed(egui::Key::Enter));
        if ui.button("Apply filter").clicked() || submitted {
            // Checked here first (it takes a millisecond), so that a mistake is said at once
            // and the filter in use is known.
            match EventFilter::new(&state.jq, &state.text) {
                Ok(_) => {
                    state.filter_error = None;
                    state.applied_filter = (state.jq.clone(), state.text.clone());
                    outbox.push(Command::SetLiveFilter {
                        jq: state.jq.clone(),
                        text: state.text.clone(),
                    });
                }
                Err(e) => state.filter_error = Some(e),
            }
        }
    });
    if let Some(error) = &state.filter_error {
        ui.colored_label(ui.visuals().error_fg_color, format!("Not applied: {error}"));
        let still = match &state.applied_filter {
            (jq, text) if jq.trim().is_empty() && text.is_empty() => {
                "The view is not filtered.".to_string()
            }
            (jq, text) => format!("The view still filters by jq `{jq}`, search `{text}`."),
        };
        ui.weak(still);
    }
}

fn row_text(r: &ReceivedRecord) -> String {
    let preview: String = r.body_text().map_or_else(
        || format!("<{} bytes>", r.body.len()),
        |t| t.chars().take(400).collect::<String>().replace('\n', " "),
    );
    // The time of day (UTC) tells rows apart; the date is in the detail pane.
    let enqueued = r.enqueued_time.map_or_else(
        || "-".into(),
        |t| {
            time::OffsetDateTime::from(t)
                .format(time::macros::format_description!(
                    "[hour]:[minute]:[second].[subsecond digits:3]"
                ))
                .unwrap_or_default()
        },
    );
    format!(
        "{:>4} {:>9} {:<12} {:<12} {:>7}  {}",
        r.partition_id,
        r.sequence_number,
        enqueued,
        r.partition_key
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(12)
            .collect::<String>(),
        r.body.len(),
        preview
    )
}

fn event_list_ui(ui: &mut egui::Ui, state: &mut LiveViewState, handle: &LiveHandle, total: usize) {
    // One line per row (`show_rows` relies on every row having the same height), cut at the
    // list's edge: the whole event is in the detail pane.
    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
    // Narrow columns first, the body last with the rest of the width; the offset and the full
    // enqueued time are in the detail pane. Vertical scrolling only: the header stays over its
    // columns.
    ui.monospace(format!(
        "{:>4} {:>9} {:<12} {:<12} {:>7}  {}",
        "part", "seq", "enqueued", "key", "size", "body"
    ));
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace) + 2.0;
    egui::ScrollArea::vertical()
        .id_salt("live_events")
        // While a button is held over the list, the rows stand still: a click lands on the row
        // that was under the pointer when it began.
        .stick_to_bottom(state.follow && !ui.input(|i| i.pointer.primary_down()))
        .auto_shrink([false, false])
        .max_height(ui.available_height().max(200.0))
        .show_rows(ui, row_height, total, |ui, range| {
            // Only the visible rows are copied out of the store.
            let rows: Vec<Arc<ReceivedRecord>> = {
                let store = live::lock(&handle.store);
                let end = range.end.min(store.shown.len());
                store
                    .shown
                    .range(range.start.min(end)..end)
                    .cloned()
                    .collect()
            };
            for row in &rows {
                let selected = state.selected.as_ref().is_some_and(|s| {
                    s.partition_id == row.partition_id && s.sequence_number == row.sequence_number
                });
                let text = egui::RichText::new(row_text(row)).monospace();
                let response = ui.selectable_label(selected, text);
                if response.clicked() {
                    state.selected = Some(row.clone());
                    state.follow = false;
                }
                response.context_menu(|ui| copy_menu_ui(ui, row));
            }
        });
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

fn copy_menu_ui(ui: &mut egui::Ui, record: &ReceivedRecord) {
    for (label, text) in copies(record) {
        if ui.button(label).clicked() {
            ui.ctx().copy_text(text);
            ui.close();
        }
    }
}

fn detail_ui(ui: &mut egui::Ui, state: &mut LiveViewState) {
    let Some(record) = state.selected.clone() else {
        ui.weak("Select an event to see it whole.");
        return;
    };
    ui.strong(format!(
        "Partition {}, sequence number {}",
        record.partition_id, record.sequence_number
    ));
    ui.label(format!(
        "offset {}, enqueued {}",
        record.offset,
        record
            .enqueued_time
            .map_or_else(|| "-".into(), rfc3339_opt::format)
    ));
    ui.horizontal_wrapped(|ui| {
        for (label, text) in copies(&record) {
            if ui.small_button(label).clicked() {
                ui.ctx().copy_text(text);
            }
        }
    });
    ui.horizontal(|ui| {
        ui.radio_value(&mut state.body_mode, BodyMode::Json, "Pretty JSON");
        ui.radio_value(&mut state.body_mode, BodyMode::Text, "Text");
        ui.radio_value(&mut state.body_mode, BodyMode::Hex, "Hex");
    });
    let body = match state.body_mode {
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
        ui.monospace(format!("enqueued = {}", rfc3339_opt::format(t)));
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

/// A reader state as the partition table shows it.
#[must_use]
pub fn state_text(state: &ReaderState) -> String {
    state.to_string()
}
