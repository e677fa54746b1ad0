//! hubscope's event file: JSON Lines, one received event per line, as `hubscope tail --output
//! jsonl` and the consumer view's export write it, and as `hubscope send --replay` reads it.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{OutgoingEvent, PropertyValue, Routing};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedEvent {
    #[serde(default)]
    pub partition_id: Option<String>,
    #[serde(default)]
    pub sequence_number: Option<i64>,
    #[serde(default)]
    pub offset: Option<String>,
    /// RFC 3339.
    #[serde(default)]
    pub enqueued_time: Option<String>,
    #[serde(default)]
    pub partition_key: Option<String>,
    #[serde(default)]
    pub properties: serde_json::Map<String, Value>,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub message_id: Option<String>,
    /// UTF-8 text, or base64 when `body_encoding` says so.
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ReplayError {
    pub line: usize,
    pub message: String,
}

impl ExportedEvent {
    /// The event to send again: same body, metadata and properties, routed by its partition key
    /// when it had one (the service then places it as before), spread otherwise.
    fn to_outgoing(&self) -> Result<OutgoingEvent, String> {
        let body = match self.body_encoding.as_deref() {
            None | Some("utf8" | "utf-8") => self.body.clone().into_bytes(),
            Some("base64") => base64::engine::general_purpose::STANDARD
                .decode(&self.body)
                .map_err(|e| format!("body is not valid base64: {e}"))?,
            Some(other) => return Err(format!("unknown body_encoding `{other}`")),
        };
        let mut properties = Vec::with_capacity(self.properties.len());
        for (key, value) in &self.properties {
            let value = match value {
                Value::Bool(b) => PropertyValue::Bool(*b),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => PropertyValue::Int(i),
                    None => PropertyValue::Float(n.as_f64().unwrap_or_default()),
                },
                Value::String(s) => PropertyValue::String(s.clone()),
                other => {
                    return Err(format!(
                        "property `{key}`: {other} is not a string, number or boolean"
                    ))
                }
            };
            properties.push((key.clone(), value));
        }
        Ok(OutgoingEvent {
            body,
            content_type: self.content_type.clone(),
            correlation_id: self.correlation_id.clone(),
            message_id: self.message_id.clone(),
            properties,
            routing: self
                .partition_key
                .clone()
                .map_or(Routing::Spread, Routing::Key),
        })
    }
}

/// Reads an export (blank lines skipped); the first bad line stops it, named by number.
pub fn read_export(text: &str) -> Result<Vec<OutgoingEvent>, ReplayError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fail = |message: String| ReplayError {
            line: i + 1,
            message,
        };
        let exported: ExportedEvent =
            serde_json::from_str(line).map_err(|e| fail(e.to_string()))?;
        events.push(exported.to_outgoing().map_err(fail)?);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_properties_keys_and_binary_bodies() {
        let text = concat!(
            r#"{"partition_id":"1","sequence_number":4,"offset":"10","enqueued_time":"2026-11-21T09:00:00Z","partition_key":"k1","properties":{"n":1,"f":1.5,"b":true,"s":"x"},"content_type":"application/json","correlation_id":null,"message_id":"m","body":"{\"a\":1}"}"#,
            "\n\n",
            r#"{"partition_key":null,"properties":{},"body":"AAEC","body_encoding":"base64"}"#,
            "\n"
        );
        let events = read_export(text).expect("reads");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].routing, Routing::Key("k1".into()));
        assert_eq!(events[0].message_id.as_deref(), Some("m"));
        assert_eq!(events[0].properties.len(), 4);
        assert!(events[0]
            .properties
            .contains(&("f".into(), PropertyValue::Float(1.5))));
        assert_eq!(events[1].body, vec![0, 1, 2]);
        assert_eq!(events[1].routing, Routing::Spread);
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = read_export("{\"body\":\"a\"}\nnot json\n").expect_err("bad");
        assert_eq!(err.line, 2);
        let err = read_export("{\"body\":\"a\",\"properties\":{\"x\":[1]}}").expect_err("bad");
        assert!(err.message.contains("property `x`"), "{}", err.message);
    }
}
