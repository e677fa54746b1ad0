//! The send composer: a body (text, JSON, or a file's bytes), metadata, typed application
//! properties, routing, and how many to send. Problems are shown next to their field and stop
//! the send; results and a per-profile history of what was sent stay below.

use std::collections::{HashMap, VecDeque};

use super::composer_draft::Draft;
use crate::bridge::Command;
use crate::producer::SendReceipt;

const RESULTS_KEPT: usize = 100;
const HISTORY_KEPT: usize = 20;

pub struct ResultRow {
    pub request_id: u64,
    pub receipts: Vec<SendReceipt>,
    pub error: Option<String>,
    /// What was sent, to retry it.
    pub draft: Draft,
}

#[derive(Default)]
pub struct ComposerState {
    pub draft: Draft,
    pub results: VecDeque<ResultRow>,
    pub history: HashMap<String, VecDeque<Draft>>,
    pub sending: Option<(u64, Draft)>,
    next_request: u64,
}

impl ComposerState {
    /// Asks the runtime to send the current draft.
    pub fn send(&mut self, partition_ids: &[String], outbox: &mut Vec<Command>) {
        let Ok((source, packing)) = self.draft.request(partition_ids) else {
            return;
        };
        self.next_request += 1;
        let request_id = self.next_request;
        self.sending = Some((request_id, self.draft.clone()));
        outbox.push(Command::Send {
            request_id,
            source,
            packing,
            partition_ids: partition_ids.to_vec(),
        });
    }

    pub fn finished(
        &mut self,
        request_id: u64,
        receipts: Vec<SendReceipt>,
        error: Option<String>,
        profile: Option<&str>,
    ) {
        let Some((id, draft)) = self.sending.take() else {
            return;
        };
        if id != request_id {
            self.sending = Some((id, draft));
            return;
        }
        if error.is_none() {
            if let Some(profile) = profile {
                let history = self.history.entry(profile.to_string()).or_default();
                history.retain(|d| *d != draft);
                history.push_front(draft.clone());
                history.truncate(HISTORY_KEPT);
            }
        }
        self.results.push_front(ResultRow {
            request_id,
            receipts,
            error,
            draft,
        });
        self.results.truncate(RESULTS_KEPT);
    }
}

/// The composer panel. `partition_ids` are the connected hub's; `profile` keys the history.
pub fn composer_ui(
    ui: &mut egui::Ui,
    state: &mut ComposerState,
    partition_ids: &[String],
    profile: Option<&str>,
    outbox: &mut Vec<Command>,
) {
    let problems = state.draft.request(partition_ids).err().unwrap_or_default();
    egui::ScrollArea::vertical().show(ui, |ui| {
        super::composer_fields::fields_ui(ui, &mut state.draft, partition_ids, &problems, outbox);
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            let ready = problems.is_empty() && state.sending.is_none() && !partition_ids.is_empty();
            if ui.add_enabled(ready, egui::Button::new("Send")).clicked() {
                state.send(partition_ids, outbox);
            }
            if state.sending.is_some() {
                ui.spinner();
                ui.label("Sending...");
            } else if partition_ids.is_empty() {
                ui.weak("Connect to a hub to send.");
            } else if !problems.is_empty() {
                ui.weak("Fix the fields marked in red to send.");
            }
        });
        ui.separator();
        results_ui(ui, state, partition_ids, outbox);
        history_ui(ui, state, profile);
    });
}

fn results_ui(
    ui: &mut egui::Ui,
    state: &mut ComposerState,
    partition_ids: &[String],
    outbox: &mut Vec<Command>,
) {
    ui.strong("Results");
    if state.results.is_empty() {
        ui.weak("Nothing sent yet.");
    }
    let mut retry = None;
    for row in &state.results {
        for r in &row.receipts {
            ui.label(format!(
                "#{}  sent {} event{} to {}: {} bytes in {} ms",
                row.request_id,
                r.events,
                if r.events == 1 { "" } else { "s" },
                r.destination,
                r.bytes,
                r.latency.as_millis()
            ));
        }
        if let Some(error) = &row.error {
            ui.horizontal(|ui| {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("#{}  failed: {error}", row.request_id),
                );
                if ui.small_button("Retry").clicked() {
                    retry = Some(row.draft.clone());
                }
            });
        }
    }
    if let Some(draft) = retry.filter(|_| state.sending.is_none()) {
        state.draft = draft;
        state.send(partition_ids, outbox);
    }
}

fn history_ui(ui: &mut egui::Ui, state: &mut ComposerState, profile: Option<&str>) {
    let Some(history) = profile.and_then(|p| state.history.get(p)) else {
        return;
    };
    ui.add_space(8.0);
    ui.strong("Recently sent from this profile");
    let mut load = None;
    for (i, draft) in history.iter().enumerate() {
        ui.horizontal(|ui| {
            if ui
                .small_button("Load")
                .on_hover_text("Put this event back in the composer")
                .clicked()
            {
                load = Some(i);
            }
            let preview: String = draft.body.chars().take(60).collect();
            ui.label(if preview.is_empty() {
                "(empty body)".to_string()
            } else {
                preview
            });
        });
    }
    if let Some(draft) = load.and_then(|i| history.get(i).cloned()) {
        state.draft = draft;
    }
}
