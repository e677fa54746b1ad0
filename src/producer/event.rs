//! An event as composed by the user, before it becomes the SDK's `EventData`: body, metadata,
//! typed application properties and where it should go. Checked here, before anything is sent.

use azure_messaging_eventhubs::models::EventData;
use serde::{Deserialize, Serialize};

/// The service's limit for one publish (an event, or a batch of them).
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// An application property's value, typed as the user chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropertyValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
}

impl PropertyValue {
    /// Parses `value` as `kind` (`string`, `int`, `float`, `bool`).
    pub fn parse(kind: &str, value: &str) -> Result<Self, EventError> {
        let bad = || EventError::BadProperty(format!("`{value}` is not a valid {kind}"));
        Ok(match kind {
            "string" | "str" => Self::String(value.to_string()),
            "int" | "integer" => Self::Int(value.trim().parse().map_err(|_| bad())?),
            "float" | "double" => Self::Float(value.trim().parse().map_err(|_| bad())?),
            "bool" | "boolean" => Self::Bool(value.trim().parse().map_err(|_| bad())?),
            other => {
                return Err(EventError::BadProperty(format!(
                    "unknown type `{other}` (string, int, float, bool)"
                )))
            }
        })
    }
}

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Routing {
    /// The service chooses, per publish: a batch without a key or partition goes whole to one
    /// partition.
    #[default]
    Spread,
    /// hubscope spreads the events over the hub's partitions in turn, one publish per partition.
    RoundRobin,
    Key(String),
    Partition(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutgoingEvent {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub correlation_id: Option<String>,
    pub message_id: Option<String>,
    pub properties: Vec<(String, PropertyValue)>,
    pub routing: Routing,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not valid JSON, but the content type says JSON: {0}")]
    InvalidJson(String),
    #[error("the event is {size} bytes; one publish may carry at most {MAX_EVENT_BYTES} bytes")]
    TooLarge { size: usize },
    #[error("a property needs a key")]
    PropertyWithoutKey,
    #[error("property: {0}")]
    BadProperty(String),
    #[error("the property `{0}` is given twice")]
    DuplicateProperty(String),
}

impl OutgoingEvent {
    #[must_use]
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            body: body.into().into_bytes(),
            ..Self::default()
        }
    }

    /// Whether the content type says the body is JSON (`application/json`, `...+json`).
    #[must_use]
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            let ct = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            ct == "application/json" || ct.ends_with("+json") || ct == "text/json"
        })
    }

    /// Everything that would make the service refuse this event, or the user regret it.
    pub fn validate(&self) -> Result<(), EventError> {
        if self.is_json() {
            serde_json::from_slice::<serde::de::IgnoredAny>(&self.body)
                .map_err(|e| EventError::InvalidJson(e.to_string()))?;
        }
        let mut seen = std::collections::HashSet::new();
        for (key, _) in &self.properties {
            if key.trim().is_empty() {
                return Err(EventError::PropertyWithoutKey);
            }
            if !seen.insert(key.as_str()) {
                return Err(EventError::DuplicateProperty(key.clone()));
            }
        }
        let size = self.approximate_size();
        if size > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge { size });
        }
        Ok(())
    }

    /// Body plus metadata, as a lower bound of the encoded size (the batch has the last word).
    #[must_use]
    pub fn approximate_size(&self) -> usize {
        self.body.len()
            + self
                .properties
                .iter()
                .map(|(k, _)| k.len() + 9)
                .sum::<usize>()
            + self.content_type.as_ref().map_or(0, String::len)
    }

    /// The SDK's event.
    #[must_use]
    pub fn to_event_data(&self) -> EventData {
        let mut builder = EventData::builder().with_body(self.body.clone());
        if let Some(ct) = &self.content_type {
            builder = builder.with_content_type(ct.clone());
        }
        if let Some(id) = &self.correlation_id {
            builder = builder.with_correlation_id(id.clone());
        }
        if let Some(id) = &self.message_id {
            builder = builder.with_message_id(id.clone());
        }
        for (key, value) in &self.properties {
            builder = match value {
                PropertyValue::Bool(v) => builder.add_property(key.clone(), *v),
                PropertyValue::Int(v) => builder.add_property(key.clone(), *v),
                PropertyValue::Float(v) => builder.add_property(key.clone(), *v),
                PropertyValue::String(v) => builder.add_property(key.clone(), v.as_str()),
            };
        }
        builder.build()
    }
}

/// Parses `KEY=VALUE` (a string) or `KEY:TYPE=VALUE` (`int`, `float`, `bool`, `string`).
pub fn parse_property(text: &str) -> Result<(String, PropertyValue), EventError> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| EventError::BadProperty(format!("`{text}` is not KEY=VALUE")))?;
    let (key, kind) = match name.rsplit_once(':') {
        Some((key, kind)) => (key, kind),
        None => (name, "string"),
    };
    if key.trim().is_empty() {
        return Err(EventError::PropertyWithoutKey);
    }
    Ok((
        key.trim().to_string(),
        PropertyValue::parse(kind.trim(), value)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_are_checked_only_under_a_json_content_type() {
        let mut event = OutgoingEvent::text("{not json");
        assert!(event.validate().is_ok());
        event.content_type = Some("application/json; charset=utf-8".into());
        assert!(matches!(event.validate(), Err(EventError::InvalidJson(_))));
        event.body = br#"{"ok": true}"#.to_vec();
        assert!(event.validate().is_ok());
    }

    #[test]
    fn oversized_and_keyless_events_are_refused() {
        let event = OutgoingEvent {
            body: vec![b'x'; MAX_EVENT_BYTES + 1],
            ..OutgoingEvent::default()
        };
        assert!(matches!(event.validate(), Err(EventError::TooLarge { .. })));
        let event = OutgoingEvent {
            properties: vec![(" ".into(), PropertyValue::Int(1))],
            ..OutgoingEvent::default()
        };
        assert_eq!(event.validate(), Err(EventError::PropertyWithoutKey));
    }

    #[test]
    fn properties_parse_with_types() {
        assert_eq!(
            parse_property("a=1").expect("ok"),
            ("a".into(), PropertyValue::String("1".into()))
        );
        assert_eq!(
            parse_property("a:int=1").expect("ok"),
            ("a".into(), PropertyValue::Int(1))
        );
        assert_eq!(
            parse_property("a:float=1.5").expect("ok"),
            ("a".into(), PropertyValue::Float(1.5))
        );
        assert_eq!(
            parse_property("a:bool=true").expect("ok"),
            ("a".into(), PropertyValue::Bool(true))
        );
        assert_eq!(
            parse_property("url=x=y").expect("ok").1,
            PropertyValue::String("x=y".into())
        );
        assert!(parse_property("a:int=x").is_err());
        assert!(parse_property("novalue").is_err());
        assert_eq!(parse_property("=v"), Err(EventError::PropertyWithoutKey));
    }
}
