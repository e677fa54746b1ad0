//! The live consumer view: readers' controls, the partition table with rates and lag, the lag
//! and rate charts, the filter, a virtualised event list (only visible rows are laid out) and
//! the selected event's detail. What is drawn is copied out of the runtime's store
//! (`live_copy`), without waiting for it while the runtime holds it.

use std::sync::Arc;

use crate::bridge::{Command, FileUse, LiveHandle};
use crate::consumer::filter::EventFilter;
use crate::consumer::live::RangeState;
use crate::consumer::live::{LiveConfig, DEFAULT_CAPACITY};
use crate::consumer::range::Until;
use crate::consumer::{PositionError, ReaderState, ReceivedRecord, StartFrom};

use super::event_detail::{copy_menu_ui, detail_ui, BodyMode};
use super::file_prompt::{prompt_ui, FilePrompt, PromptAnswer};
use super::format::{count, Zone};
use super::live_charts::{chart_width, charts_ui, partition_table_ui};
use super::live_copy::{ChartSpan, LiveCopy, SearchProgress, VisibleRows};

/// Frames the jq field asks for the focus before giving up.
pub const FOCUS_TRIES: u8 = 3;

pub struct LiveViewState {
    pub handle: Option<LiveHandle>,
    pub consumer_group: String,
    /// The hub's groups as the app knows them, offered beside the typed field.
    pub known_groups: Vec<String>,
    /// Comma-separated partition ids; empty for all.
    pub partitions: String,
    /// earliest, latest, seq:N, offset:O, time:RFC3339.
    pub start: String,
    /// Where a search of the hub ends: now, seq:N, time:RFC3339; empty to keep reading.
    pub until: String,
    pub owner_level: String,
    pub prefetch: String,
    pub config_error: Option<String>,
    pub jq: String,
    pub text: String,
    pub filter_error: Option<String>,
    /// Frames left to give the jq field the focus it was asked for (Ctrl+F, the search preset):
    /// the click that asked may itself take the focus in the frame it happens.
    pub focus_filter: u8,
    /// The event list's share of the width; the detail pane has the rest.
    pub list_fraction: f32,
    /// The jq program and search text the view filters by now (the last that compiled).
    pub applied_filter: (String, String),
    pub capacity: usize,
    pub follow: bool,
    /// Where each row was drawn last frame: a press selects the row the user saw there, even
    /// though a following list has moved on since.
    pub drawn_rows: Vec<(egui::Rect, Arc<ReceivedRecord>)>,
    pub selected: Option<Arc<ReceivedRecord>>,
    pub body_mode: BodyMode,
    pub window_secs: f64,
    pub export_only_shown: bool,
    pub file_prompt: Option<FilePrompt>,
    /// The store's numbers and the rows in view as the last frame copied them: drawn again when
    /// the runtime holds the store.
    copy: Option<LiveCopy>,
    visible: Option<VisibleRows>,
}

impl Default for LiveViewState {
    fn default() -> Self {
        Self {
            handle: None,
            consumer_group: String::new(),
            known_groups: Vec::new(),
            partitions: String::new(),
            start: "latest".into(),
            until: String::new(),
            owner_level: String::new(),
            prefetch: String::new(),
            config_error: None,
            jq: String::new(),
            text: String::new(),
            filter_error: None,
            focus_filter: 0,
            list_fraction: 0.62,
            applied_filter: (String::new(), String::new()),
            capacity: DEFAULT_CAPACITY,
            follow: true,
            drawn_rows: Vec::new(),
            selected: None,
            body_mode: BodyMode::Json,
            window_secs: 60.0,
            export_only_shown: true,
            file_prompt: None,
            copy: None,
            visible: None,
        }
    }
}

impl LiveViewState {
    fn config(&self, hub_partitions: &[String]) -> Result<LiveConfig, String> {
        // The form's own messages: each shown under the controls, as typed.
        let said = |e: PositionError| e.to_string();
        let start: StartFrom = self.start.parse().map_err(said)?;
        let until: Option<Until> = Some(self.until.trim())
            .filter(|u| !u.is_empty())
            .map(str::parse)
            .transpose()
            .map_err(said)?;
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
            until,
            jq: self.jq.clone(),
            text: self.text.clone(),
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
    export_prompt_ui(ui.ctx(), state, outbox);
    // Before any view runs too: a search starts with the filter typed here.
    filter_ui(ui, state, outbox);
    let Some(handle) = state.handle.clone() else {
        ui.weak(
            "Choose where to start and press Start: one reader per partition. To search the \
             hub, pick \"search everything there now\" in the start presets, type a jq filter \
             and press Start.",
        );
        return;
    };
    // Never more points than pixels.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let span = ChartSpan {
        window_secs: state.window_secs,
        max_points: chart_width(ui) as usize,
    };
    let copy = LiveCopy::refreshed(state.copy.take(), &handle, span);
    if copy.stale {
        // Drawn from the last copy while the runtime held the store: the next frame copies.
        ui.ctx().request_repaint();
    }
    if let Some(search) = &copy.search {
        search_progress_ui(ui, search, outbox);
    }
    partition_table_ui(ui, &copy.rows);
    charts_ui(
        ui,
        &copy.charts,
        &copy.rows,
        copy.now_secs,
        &mut state.window_secs,
    );
    if (state.window_secs - span.window_secs).abs() > f64::EPSILON {
        // The lines were copied for the old window: the next frame copies the new one's.
        ui.ctx().request_repaint();
    }
    let (counts, shown) = (copy.counts.clone(), copy.shown);
    state.copy = Some(copy);
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
        if ui.button("Export events…").clicked() {
            state.file_prompt = Some(FilePrompt::new(
                FileUse::ExportLive,
                "hubscope-events.jsonl",
            ));
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
        ui.vertical(|ui| detail_ui(ui, state.selected.as_deref(), &mut state.body_mode));
    });
}

/// A search's progress: events scanned of those in the range, matches, pace; Cancel stops it.
fn search_progress_ui(ui: &mut egui::Ui, search: &SearchProgress, outbox: &mut Vec<Command>) {
    let SearchProgress {
        range,
        scanned,
        matched,
        events_per_sec: rate,
    } = search;
    let (scanned, matched, rate) = (*scanned, *matched, *rate);
    let of = range
        .in_range
        .map_or_else(String::new, |n| format!(" of {}", count(n)));
    let fraction = range.fraction(scanned).unwrap_or(0.0);
    let (scanned, matched_text) = (count(scanned), count(matched));
    ui.horizontal(|ui| match &range.state {
        RangeState::Preparing => {
            ui.spinner();
            ui.label("Reading where each partition ends…");
        }
        RangeState::Reading => {
            let text = format!(
                "Searching: {scanned}{of} events scanned, {matched_text} match, {} events/s",
                count(rate)
            );
            let bar = egui::ProgressBar::new(fraction);
            ui.add(bar.desired_width(420.0).text(text));
            if ui.button("Cancel search").clicked() {
                outbox.push(Command::StopLive);
            }
        }
        RangeState::Finished(took) => {
            ui.label(format!(
                "Search finished: {scanned} events scanned in {:.1} s, {matched_text} match.",
                took.as_secs_f64()
            ));
        }
        RangeState::Failed(why) => {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("The search did not start: {why}"),
            );
        }
    });
}

fn export_prompt_ui(ctx: &egui::Context, state: &mut LiveViewState, outbox: &mut Vec<Command>) {
    let Some(prompt) = &mut state.file_prompt else {
        return;
    };
    let what = if state.export_only_shown {
        "Export the events the filter shows (JSON Lines)"
    } else {
        "Export every event kept (JSON Lines)"
    };
    match prompt_ui(ctx, prompt, what, "Export", outbox) {
        PromptAnswer::Waiting => {}
        PromptAnswer::Cancelled => state.file_prompt = None,
        PromptAnswer::Chosen(path) => {
            outbox.push(Command::ExportLive {
                only_shown: state.export_only_shown,
                path,
            });
            state.file_prompt = None;
        }
    }
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
            ("Until", &mut state.until, "keep reading", 110.0),
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
    presets_ui(ui, state);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!hub_partitions.is_empty(), egui::Button::new("Start"))
            .clicked()
        {
            // The view starts with the filter in the fields, so a search reads through it.
            match (
                state.config(hub_partitions),
                EventFilter::new(&state.jq, &state.text),
            ) {
                (Ok(config), Ok(_)) => {
                    state.config_error = None;
                    state.filter_error = None;
                    state.selected = None;
                    state.applied_filter = (config.jq.clone(), config.text.clone());
                    outbox.push(Command::StartLive(config));
                }
                (Err(e), _) => state.config_error = Some(e),
                (Ok(_), Err(e)) => state.filter_error = Some(e.to_string()),
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
    // The line is there with or without an error, so that one appearing does not move the
    // controls under the mouse.
    match &state.config_error {
        Some(error) => ui.add(
            egui::Label::new(egui::RichText::new(error).color(ui.visuals().error_fg_color))
                .truncate(),
        ),
        None => ui.label(""),
    };
}

/// Drop-downs that fill in the typed fields: start positions, a search, the hub's groups.
fn presets_ui(ui: &mut egui::Ui, state: &mut LiveViewState) {
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
                        state.until.clear();
                    }
                }
                // A search of the hub: everything there now, through the filter.
                let search = state.start == "earliest" && state.until == "now";
                if ui
                    .selectable_label(search, "search everything there now")
                    .clicked()
                {
                    state.start = "earliest".into();
                    state.until = "now".into();
                    state.focus_filter = FOCUS_TRIES;
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
        if jq.has_focus() {
            state.focus_filter = 0;
        } else if state.focus_filter > 0 {
            state.focus_filter -= 1;
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
                Err(e) => state.filter_error = Some(e.to_string()),
            }
        }
    });
    // One line whatever happens, cut to the width (the whole text on hover): a parse error
    // appearing must not push the list down under the mouse.
    let in_use = match &state.applied_filter {
        (jq, text) if jq.trim().is_empty() && text.is_empty() => {
            "The view is not filtered.".to_string()
        }
        (jq, text) => format!("The view filters by jq `{jq}`, search `{text}`."),
    };
    let line = match &state.filter_error {
        Some(error) => egui::RichText::new(format!(
            "Not applied: {error}. {}",
            in_use.replace("The view filters", "The view still filters")
        ))
        .color(ui.visuals().error_fg_color),
        None => egui::RichText::new(in_use).weak(),
    };
    ui.add(egui::Label::new(line).truncate());
}

/// Characters before the body in a row: the narrow columns.
const ROW_PREFIX_CHARS: usize = 50;

/// One row, its body cut at `body_chars`: only what the list can show is laid out (profiled:
/// laying out 400 characters a row, most of them past the edge, was the frame's biggest cost).
fn row_text(r: &ReceivedRecord, body_chars: usize, zone: Zone) -> String {
    let preview: String = r.body_text().map_or_else(
        || format!("<{} bytes>", r.body.len()),
        |t| {
            t.chars()
                .take(body_chars)
                .map(|c| if c == '\n' { ' ' } else { c })
                .collect()
        },
    );
    let enqueued = r
        .enqueued_time
        .map_or_else(|| "-".into(), |t| zone.time_of_day(t));
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
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
    let font = egui::TextStyle::Monospace.resolve(ui.style());
    let char_width = ui.fonts_mut(|f| f.glyph_width(&font, 'x')).max(1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a few hundred columns
    let columns = (ui.available_width() / char_width) as usize + 1;
    let body_chars = columns.saturating_sub(ROW_PREFIX_CHARS).max(8);
    let zone = Zone::of(ui.ctx());
    // Selected on press, by what was on screen: under load a following list moves between
    // the frame the user saw and the frame that hears the press, so neither a click (press and
    // release on one widget) nor this frame's rows reliably name the row that was pointed at.
    let pressed_at = ui.input(|i| {
        i.events.iter().find_map(|e| match e {
            egui::Event::PointerButton {
                pos,
                button: egui::PointerButton::Primary,
                pressed: true,
                ..
            } => Some(*pos),
            _ => None,
        })
    });
    if let Some(at) = pressed_at {
        // Not through a popup (a row's copy menu) or a dialog drawn over the list.
        let on_the_list = ui.ctx().layer_id_at(at).is_none_or(|l| l == ui.layer_id());
        let pointed = state.drawn_rows.iter().find(|(rect, _)| rect.contains(at));
        if let Some((_, row)) = pointed.filter(|_| on_the_list) {
            state.selected = Some(row.clone());
            state.follow = false;
        }
    }
    let mut drawn_rows = Vec::new();
    let gap = ui.spacing().item_spacing.y;
    let area = egui::ScrollArea::vertical().id_salt("live_events");
    area
        // While a button is held over the list, the rows stand still: a click lands on the row
        // that was under the pointer when it began.
        .stick_to_bottom(state.follow && !ui.input(|i| i.pointer.primary_down()))
        .auto_shrink([false, false])
        .max_height(ui.available_height().max(200.0))
        .show_rows(ui, row_height, total, |ui, range| {
            // Only the visible rows are copied out of the store.
            let visible = VisibleRows::refreshed(state.visible.take(), &handle.store, range);
            if visible.stale {
                ui.ctx().request_repaint();
            }
            for row in &visible.rows {
                let selected = state.selected.as_ref().is_some_and(|s| {
                    s.partition_id == row.partition_id && s.sequence_number == row.sequence_number
                });
                let mut text = egui::RichText::new(row_text(row, body_chars, zone)).monospace();
                if selected {
                    let selection = &ui.visuals().selection;
                    text = text
                        .background_color(selection.bg_fill)
                        .color(selection.stroke.color);
                }
                // A label, not a button: a row a frame is laid out while the list follows, and a
                // button's atoms cost a sixth of the frame again (profiled). Selecting is done
                // above, by press; the label senses clicks for its copy menu.
                let label = egui::Label::new(text)
                    .sense(egui::Sense::click())
                    .selectable(false);
                let response = ui
                    .add(label)
                    .on_hover_cursor(egui::CursorIcon::PointingHand);
                // Rows touch: the gap between two belongs to both halves.
                let band = response.rect.expand2(egui::vec2(0.0, gap / 2.0));
                drawn_rows.push((band.intersect(ui.clip_rect()), row.clone()));
                response.context_menu(|ui| copy_menu_ui(ui, row));
            }
            state.visible = Some(visible);
        });
    state.drawn_rows = drawn_rows;
}

/// A reader state as the partition table shows it.
#[must_use]
pub fn state_text(state: &ReaderState) -> String {
    state.to_string()
}
