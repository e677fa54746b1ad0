//! The event filter: jq syntax (through jaq) over an event's body (when it is JSON) and its
//! properties, plus plain substring search. Runs in the runtime, never on the UI thread.
//!
//! The jq program sees `{"body": <JSON or text>, "properties": {...}, "partition_id": "0",
//! "sequence_number": 7, "partition_key": "k"}`; an event matches when the program yields a
//! value other than `false` or `null` (`.body.temp > 20`, `.properties.site == "berlin"`).

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, unwrap_valr, Compiler, Ctx, Vars};
use jaq_json::Val;
use serde_json::{json, Value};

use super::record::ReceivedRecord;

type Program = jaq_core::Filter<data::JustLut<Val>>;

/// A compiled filter; the empty filter matches everything.
pub struct EventFilter {
    jq: Option<Program>,
    text: String,
    description: String,
}

impl std::fmt::Debug for EventFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// Why a jq program cannot filter: where and why it does not parse, or the names it uses that
/// jq does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// One reason per problem, e.g. "expected term at column 10, found the end".
    #[error("the jq program does not parse: {}", .0.join("; "))]
    DoesNotParse(Vec<String>),
    #[error("the jq program does not compile: unknown {}", .0.join(", "))]
    Unknown(Vec<String>),
}

impl EventFilter {
    /// The filter that lets everything through.
    #[must_use]
    pub fn none() -> Self {
        Self {
            jq: None,
            text: String::new(),
            description: "no filter".into(),
        }
    }

    /// `jq` is a jq program (empty: none); `text` a substring to look for (empty: none).
    ///
    /// # Errors
    /// A [`FilterError`] when the program does not parse or names what jq does not know.
    pub fn new(jq: &str, text: &str) -> Result<Self, FilterError> {
        let jq = jq.trim();
        let program = if jq.is_empty() {
            None
        } else {
            Some(compile(jq)?)
        };
        Ok(Self {
            jq: program,
            text: text.to_string(),
            description: format!("jq `{jq}`, text `{text}`"),
        })
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.jq.is_none() && self.text.is_empty()
    }

    #[must_use]
    pub fn matches(&self, record: &ReceivedRecord) -> bool {
        if !self.text.is_empty() && !contains_text(record, &self.text) {
            return false;
        }
        match &self.jq {
            None => true,
            Some(program) => run(program, record),
        }
    }
}

fn compile(code: &str) -> Result<Program, FilterError> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(&arena, File { code, path: () })
        .map_err(|errors| parse_errors(code, errors))?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|errors| {
            FilterError::Unknown(
                errors
                    .into_iter()
                    .flat_map(|(_, errs)| errs.into_iter().map(|(name, _)| name.to_string()))
                    .collect(),
            )
        })
}

/// Where and why the program does not parse, e.g. "expected term at column 10, found the end".
fn parse_errors(code: &str, errors: jaq_core::load::Errors<&str, ()>) -> FilterError {
    let at = |expected: &str, rest: &str| {
        let column = jaq_core::load::span(code, rest).start + 1;
        let found = match rest.trim_start() {
            "" => "the end".to_string(),
            more => format!("`{}`", more.chars().take(12).collect::<String>()),
        };
        format!("expected {expected} at column {column}, found {found}")
    };
    let mut reasons = Vec::new();
    for (_, error) in errors {
        match error {
            jaq_core::load::Error::Lex(errors) => {
                reasons.extend(
                    errors
                        .iter()
                        .map(|(expect, rest)| at(expect.as_str(), rest)),
                );
            }
            jaq_core::load::Error::Parse(errors) => {
                reasons.extend(
                    errors
                        .iter()
                        .map(|(expect, rest)| at(expect.as_str(), rest)),
                );
            }
            jaq_core::load::Error::Io(errors) => {
                reasons.extend(errors.into_iter().map(|(_, message)| message));
            }
        }
    }
    FilterError::DoesNotParse(reasons)
}

fn document(record: &ReceivedRecord) -> Value {
    let body = record.body_text().map_or(Value::Null, |text| {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
    });
    json!({
        "body": body,
        "properties": record.properties,
        "partition_id": record.partition_id,
        "sequence_number": record.sequence_number,
        "partition_key": record.partition_key,
        "content_type": record.content_type,
    })
}

fn run(program: &Program, record: &ReceivedRecord) -> bool {
    let text = document(record).to_string();
    let Ok(input) = jaq_json::read::parse_single(text.as_bytes()) else {
        return false;
    };
    let ctx = Ctx::<data::JustLut<Val>>::new(&program.lut, Vars::new([]));
    let mut outputs = program.id.run((ctx, input)).map(unwrap_valr);
    outputs.any(|out| out.is_ok_and(|v| jaq_core::ValT::as_bool(&v)))
}

fn contains_text(record: &ReceivedRecord, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    let hay = |s: &str| s.to_lowercase().contains(&needle);
    record.body_text().is_some_and(hay)
        || record.partition_key.as_deref().is_some_and(hay)
        || record
            .properties
            .iter()
            .any(|(k, v)| hay(k) || hay(&v.to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(body: &str, site: &str) -> ReceivedRecord {
        let mut record = crate::consumer::record::test_record("0", 1, body);
        record.offset = "0".into();
        record.partition_key = Some("device-1".into());
        record
            .properties
            .insert("site".into(), Value::String(site.into()));
        record
    }

    #[test]
    fn jq_over_body_and_properties() {
        let hot = record(r#"{"temp": 25}"#, "berlin");
        let cold = record(r#"{"temp": 5}"#, "oslo");
        let f = EventFilter::new(".body.temp > 20", "").expect("compiles");
        assert!(f.matches(&hot));
        assert!(!f.matches(&cold));
        let f = EventFilter::new(r#".properties.site == "oslo""#, "").expect("compiles");
        assert!(f.matches(&cold) && !f.matches(&hot));
        let f = EventFilter::new(".body | has(\"temp\")", "").expect("std filters work");
        assert!(f.matches(&hot));
        // A text body is a string to jq; `.temp` of it is an error, which does not match.
        assert!(!EventFilter::new(".body.temp > 1", "")
            .expect("compiles")
            .matches(&record("plain", "x")));
    }

    #[test]
    fn substring_search_and_the_empty_filter() {
        let r = record(r#"{"temp": 25}"#, "Berlin");
        assert!(EventFilter::new("", "").expect("empty").is_empty());
        assert!(
            EventFilter::new("", "berlin").expect("ok").matches(&r),
            "case-insensitive, properties"
        );
        assert!(
            EventFilter::new("", "DEVICE-1").expect("ok").matches(&r),
            "partition key"
        );
        assert!(!EventFilter::new("", "paris").expect("ok").matches(&r));
    }

    #[test]
    fn mistakes_say_where_and_why() {
        let error = EventFilter::new(".body.temp >", "").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the jq program does not parse: expected term at column 13, found the end"
        );
        let error = EventFilter::new(".body | if . then 1", "").unwrap_err();
        assert!(matches!(error, FilterError::DoesNotParse(_)), "{error}");
        assert!(
            error.to_string().contains("expected else or end"),
            "{error}"
        );
        let error = EventFilter::new("nosuchfunction(1)", "").unwrap_err();
        assert_eq!(error, FilterError::Unknown(vec!["nosuchfunction".into()]));
        assert!(
            error.to_string().contains("unknown nosuchfunction"),
            "{error}"
        );
    }
}
