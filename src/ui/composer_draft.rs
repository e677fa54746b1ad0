//! The composer's draft: what the form holds (body, metadata, properties, routing, how many),
//! checked field by field, and the send request it becomes. No egui here: the form
//! (`composer_fields`) edits a draft, the composer (`composer`) sends it.

use crate::partition_key;
use crate::producer::{
    OutgoingEvent, Packing, PropertyValue, Routing, SendSource, Template, MAX_EVENT_BYTES,
};

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
