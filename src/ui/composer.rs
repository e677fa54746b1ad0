//! The send composer: a body (text, JSON, or a file's bytes), metadata, typed application
//! properties, routing, and how many to send. Problems are shown next to their field and stop
//! the send; results and a per-profile history of what was sent stay below.

use std::collections::{HashMap, VecDeque};

use crate::bridge::Command;
use crate::partition_key;
use crate::producer::{
    OutgoingEvent, Packing, PropertyValue, Routing, SendReceipt, SendSource, Template,
    MAX_EVENT_BYTES,
};

const RESULTS_KEPT: usize = 100;
const HISTORY_KEPT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Text,
    Json,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    Spread,
    RoundRobin,
    Key,
    Partition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    Once,
    Times,
    /// JSON Lines of bodies, one event per line.
    LinesFile,
    /// A hubscope export, replayed with its properties and keys.
    Replay,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PropertyRow {
    pub key: String,
    /// `string`, `int`, `float` or `bool`.
    pub kind: &'static str,
    pub value: String,
}

/// Everything the user composed: what the history keeps and loads back.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub body: String,
    pub body_kind: BodyKind,
    pub body_file: String,
    pub content_type: String,
    pub correlation_id: String,
    pub message_id: String,
    pub properties: Vec<PropertyRow>,
    pub route: RouteKind,
    pub key: String,
    pub partition: String,
    pub mode: SendMode,
    pub count: u64,
    pub file: String,
    pub batch: bool,
}

impl Default for Draft {
    fn default() -> Self {
        Self {
            body: String::new(),
            body_kind: BodyKind::Text,
            body_file: String::new(),
            content_type: String::new(),
            correlation_id: String::new(),
            message_id: String::new(),
            properties: Vec::new(),
            route: RouteKind::Spread,
            key: String::new(),
            partition: String::new(),
            mode: SendMode::Once,
            count: 10,
            file: String::new(),
            batch: true,
        }
    }
}

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

/// Problems keyed by field, shown next to it.
pub type Problems = Vec<(&'static str, String)>;

impl Draft {
    fn content_type(&self) -> Option<String> {
        match (self.content_type.trim(), self.body_kind) {
            ("", BodyKind::Json) => Some("application/json".into()),
            ("", _) => None,
            (ct, _) => Some(ct.to_string()),
        }
    }

    fn prototype(&self, problems: &mut Problems) -> OutgoingEvent {
        let mut properties = Vec::new();
        for row in &self.properties {
            if row.key.trim().is_empty() {
                if !row.value.is_empty() {
                    problems.push(("properties", "a property needs a key".into()));
                }
                continue;
            }
            match PropertyValue::parse(row.kind, &row.value) {
                Ok(value) => properties.push((row.key.trim().to_string(), value)),
                Err(e) => problems.push(("properties", format!("{}: {e}", row.key))),
            }
        }
        OutgoingEvent {
            body: Vec::new(),
            content_type: self.content_type(),
            correlation_id: Some(self.correlation_id.clone()).filter(|s| !s.is_empty()),
            message_id: Some(self.message_id.clone()).filter(|s| !s.is_empty()),
            properties,
            routing: match self.route {
                RouteKind::Spread => Routing::Spread,
                RouteKind::RoundRobin => Routing::RoundRobin,
                RouteKind::Key => Routing::Key(self.key.clone()),
                RouteKind::Partition => Routing::Partition(self.partition.clone()),
            },
        }
    }

    /// The send this draft describes, or every reason it cannot be sent.
    pub fn request(&self, partition_ids: &[String]) -> Result<(SendSource, Packing), Problems> {
        let mut problems = Problems::new();
        let prototype = self.prototype(&mut problems);
        match self.route {
            RouteKind::Key if self.key.is_empty() => {
                problems.push(("routing", "type a partition key".into()));
            }
            RouteKind::Partition if !partition_ids.contains(&self.partition) => {
                problems.push((
                    "routing",
                    format!(
                        "choose one of the hub's partitions ({})",
                        partition_ids.join(", ")
                    ),
                ));
            }
            _ => {}
        }
        let source = match self.mode {
            SendMode::Replay | SendMode::LinesFile if self.file.trim().is_empty() => {
                problems.push(("file", "choose a file to send".into()));
                None
            }
            SendMode::Replay => Some(SendSource::Replay {
                path: self.file.trim().into(),
            }),
            SendMode::LinesFile => Some(SendSource::Lines {
                path: self.file.trim().into(),
                prototype,
            }),
            _ if self.body_kind == BodyKind::File => {
                if self.body_file.trim().is_empty() {
                    problems.push(("body", "choose the file whose bytes are the body".into()));
                }
                Some(SendSource::BodyFile {
                    path: self.body_file.trim().into(),
                    prototype,
                })
            }
            SendMode::Once | SendMode::Times => {
                let count = if self.mode == SendMode::Once {
                    1
                } else {
                    self.count.max(1)
                };
                self.check_body(&prototype, &mut problems);
                Some(SendSource::Template {
                    template: self.body.clone(),
                    count,
                    prototype,
                })
            }
        };
        let packing = if self.batch || self.mode == SendMode::Times {
            Packing::Batches
        } else {
            Packing::OnePerSend
        };
        match source {
            Some(source) if problems.is_empty() => Ok((source, packing)),
            _ => Err(problems),
        }
    }

    /// The body as the first event would carry it: the template must parse, and the result be
    /// JSON under a JSON content type and within the size limit.
    fn check_body(&self, prototype: &OutgoingEvent, problems: &mut Problems) {
        let body = match Template::parse(&self.body) {
            Ok(t) => t.render(0, &mut fastrand::Rng::with_seed(0)),
            Err(e) => return problems.push(("body", e.to_string())),
        };
        let event = OutgoingEvent {
            body: body.into_bytes(),
            ..prototype.clone()
        };
        if let Err(e) = event.validate() {
            problems.push(("body", e.to_string()));
        } else if event.body.len() > MAX_EVENT_BYTES {
            problems.push((
                "body",
                format!("{} bytes is over the 1 MB limit", event.body.len()),
            ));
        }
    }
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

/// Where a key goes, for the routing row.
#[must_use]
pub fn key_destination(key: &str, partition_ids: &[String]) -> Option<String> {
    (!key.is_empty() && !partition_ids.is_empty())
        .then(|| partition_ids[partition_key::partition_index(key, partition_ids.len())].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["0".into(), "1".into()]
    }

    fn fields(draft: &Draft) -> Vec<&'static str> {
        draft
            .request(&ids())
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    #[test]
    fn bad_input_is_tied_to_its_field() {
        let mut draft = Draft {
            body: "{\"a\":".into(),
            body_kind: BodyKind::Json,
            ..Draft::default()
        };
        assert_eq!(fields(&draft), ["body"]);
        draft.body = "{\"a\": {{seq}}}".into();
        assert!(
            fields(&draft).is_empty(),
            "templates are checked as rendered"
        );
        draft.properties.push(PropertyRow {
            key: String::new(),
            kind: "int",
            value: "5".into(),
        });
        assert_eq!(fields(&draft), ["properties"]);
        draft.properties[0].key = "n".into();
        draft.properties[0].value = "five".into();
        assert_eq!(fields(&draft), ["properties"]);
        draft.properties[0].value = "5".into();
        draft.route = RouteKind::Partition;
        draft.partition = "9".into();
        assert_eq!(fields(&draft), ["routing"]);
        draft.partition = "1".into();
        draft.mode = SendMode::Replay;
        assert_eq!(fields(&draft), ["file"]);
        draft.mode = SendMode::Once;
        draft.body_kind = BodyKind::Text;
        draft.body = "x".repeat(MAX_EVENT_BYTES + 1);
        assert_eq!(fields(&draft), ["body"]);
    }

    #[test]
    fn a_good_draft_becomes_a_request() {
        let draft = Draft {
            body: "n={{seq}}".into(),
            mode: SendMode::Times,
            count: 3,
            route: RouteKind::Key,
            key: "k".into(),
            ..Draft::default()
        };
        let (source, packing) = draft.request(&ids()).expect("valid");
        assert_eq!(packing, Packing::Batches);
        let events = source.load().expect("loads");
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].body, b"n=2");
        assert_eq!(events[0].routing, Routing::Key("k".into()));
    }
}
