//! The management API's documents: Atom feeds and entries around `EventHubDescription` and
//! `ConsumerGroupDescription`, and the `<Error>` body, as the service writes them
//! (docs/management-api.md). Shared by the endpoint, which writes them, and the app's client,
//! which reads a real namespace's too: reading is lenient (unknown elements are skipped, names
//! match without their namespace prefix), writing follows the service's element order.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
pub const CONNECT_NS: &str = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect";
pub const INSTANCE_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
pub const ARRAYS_NS: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
/// An entry's content type, and a feed's.
pub const ENTRY_TYPE: &str = "application/atom+xml;type=entry;charset=utf-8";
pub const FEED_TYPE: &str = "application/atom+xml;type=feed;charset=utf-8";
pub const ERROR_TYPE: &str = "application/xml; charset=utf-8";
/// The title of the feed the service answers a GET of a missing entity with.
pub const NOTHING_THERE: &str = "Publicly Listed Services";

/// `<title type="text">…</title>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    #[serde(rename = "@type", default)]
    pub kind: String,
    #[serde(rename = "$text", default)]
    pub value: String,
}

impl Text {
    #[must_use]
    pub fn plain(value: impl Into<String>) -> Self {
        Self {
            kind: "text".to_owned(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "@rel", default)]
    pub rel: String,
    #[serde(rename = "@href", default)]
    pub href: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    #[serde(default)]
    pub name: String,
}

/// A list: hubs, or one hub's consumer groups.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "feed")]
pub struct Feed {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    #[serde(default)]
    pub title: Text,
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub updated: String,
    #[serde(rename = "link", default)]
    pub links: Vec<Link>,
    #[serde(rename = "entry", default)]
    pub entries: Vec<Entry>,
}

/// One hub or consumer group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "entry")]
pub struct Entry {
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Author>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    #[serde(rename = "@type", default)]
    pub kind: String,
    #[serde(rename = "$value")]
    pub description: Description,
}

/// What an entry describes; the element's name says which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Description {
    EventHubDescription(HubDescription),
    ConsumerGroupDescription(GroupDescription),
}

/// `EventHubDescription`, its elements in the service's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HubDescription {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    #[serde(rename = "@xmlns:i", default, skip_deserializing)]
    pub xmlns_i: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_in_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_ids: Option<PartitionIds>,
}

/// `<PartitionIds>` holds `<d2p1:string>` elements of the serialization arrays namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionIds {
    #[serde(rename = "@xmlns:d2p1", default, skip_deserializing)]
    pub xmlns: String,
    #[serde(rename(serialize = "d2p1:string", deserialize = "string"), default)]
    pub ids: Vec<String>,
}

/// `ConsumerGroupDescription`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupDescription {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    #[serde(rename = "@xmlns:i", default, skip_deserializing)]
    pub xmlns_i: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<String>,
}

impl HubDescription {
    /// A description to write, with its namespaces declared.
    #[must_use]
    pub fn new() -> Self {
        Self {
            xmlns: CONNECT_NS.to_owned(),
            xmlns_i: INSTANCE_NS.to_owned(),
            ..Self::default()
        }
    }
}

impl GroupDescription {
    #[must_use]
    pub fn new() -> Self {
        Self {
            xmlns: CONNECT_NS.to_owned(),
            xmlns_i: INSTANCE_NS.to_owned(),
            ..Self::default()
        }
    }
}

impl PartitionIds {
    #[must_use]
    pub fn new(ids: Vec<String>) -> Self {
        Self {
            xmlns: ARRAYS_NS.to_owned(),
            ids,
        }
    }
}

impl Entry {
    /// An entry to send: only the content, as a create request carries.
    #[must_use]
    pub fn request(description: Description) -> Self {
        Self {
            xmlns: Some(ATOM_NS.to_owned()),
            content: Some(Content {
                kind: "application/xml".to_owned(),
                description,
            }),
            ..Self::default()
        }
    }

    #[must_use]
    pub fn hub(&self) -> Option<&HubDescription> {
        match &self.content.as_ref()?.description {
            Description::EventHubDescription(hub) => Some(hub),
            Description::ConsumerGroupDescription(_) => None,
        }
    }

    #[must_use]
    pub fn group(&self) -> Option<&GroupDescription> {
        match &self.content.as_ref()?.description {
            Description::ConsumerGroupDescription(group) => Some(group),
            Description::EventHubDescription(_) => None,
        }
    }

    /// The entity's name, as its title says it.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.title.as_ref().map(|t| t.value.as_str())
    }
}

/// The service's error body: `<Error><Code>404</Code><Detail>…</Detail></Error>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "Error")]
pub struct ErrorBody {
    #[serde(rename = "Code", default)]
    pub code: u16,
    #[serde(rename = "Detail", default)]
    pub detail: String,
}

/// A document could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AtomError {
    #[error("cannot write the document: {0}")]
    Write(#[from] quick_xml::SeError),
    #[error("not a document of the management API: {0}")]
    Read(#[from] quick_xml::DeError),
}

/// `value` as XML, with the declaration the service starts its documents with.
///
/// # Errors
/// [`AtomError::Write`] when it cannot be serialized (not expected of these types).
pub fn to_xml<T: Serialize>(value: &T) -> Result<String, AtomError> {
    let body = quick_xml::se::to_string(value)?;
    Ok(format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{body}"))
}

/// Reads a document.
///
/// # Errors
/// [`AtomError::Read`] naming what does not fit.
pub fn from_xml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, AtomError> {
    Ok(quick_xml::de::from_str(text)?)
}

/// Atom's `published` and `updated`: whole seconds, UTC.
#[must_use]
pub fn atom_time(ms: i64) -> String {
    let at = utc(ms).replace_nanosecond(0).unwrap_or_else(|_| utc(ms));
    at.format(&Rfc3339).unwrap_or_default()
}

/// The descriptions' `CreatedAt`: .NET's form, seven fractional digits.
#[must_use]
pub fn description_time(ms: i64) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:7]Z");
    utc(ms).format(&format).unwrap_or_default()
}

/// Reads either form; the service sometimes leaves out the `Z`, and it is UTC then too.
#[must_use]
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at);
    }
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    PrimitiveDateTime::parse(text.trim_end_matches('Z'), &format)
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

fn utc(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
#[path = "atom_tests.rs"]
mod tests;
