//! What the emulator serves: hubs, partitions, consumer groups, auth, retention, storage.
//!
//! The topology can be read from the official emulator's `Config.json` unchanged (docs/amqp-wire.md §7), so
//! existing setups move over. We keep its per-entity limits (1–32 partitions, up to 20 consumer
//! groups) but not its cap of 10 hubs, which its users complain about.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Largest partition count per hub (the Standard tier's).
pub const MAX_PARTITIONS: u32 = 32;
/// Largest number of declared consumer groups per hub, besides `$Default`.
pub const MAX_CONSUMER_GROUPS: usize = 20;
/// Largest number of hubs one emulator serves.
pub const MAX_HUBS: usize = 1000;
/// The consumer group every hub has.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";

/// One event hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    pub name: String,
    pub partition_count: u32,
    /// Declared consumer groups; `$Default` is implicit and never listed here.
    pub consumer_groups: Vec<String>,
}

/// How put-token requests are judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMode {
    /// Any well-formed token is accepted, like the official emulator with its `SAS_KEY_VALUE`.
    AcceptAnyToken,
    /// SAS tokens are verified against this key; anything else is refused.
    SharedAccessKey { key_name: String, key: String },
}

/// Everything [`crate::run`] needs besides a listener.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub namespace: String,
    pub hubs: Vec<HubConfig>,
    pub auth: AuthMode,
    /// Events older than this are expired.
    pub retention: Duration,
    /// Upper bound on the bytes of event data held in memory across all partitions.
    pub max_retained_bytes: u64,
    /// With a directory, an append-only log per partition; without, memory only.
    pub data_dir: Option<PathBuf>,
}

impl Default for EmulatorConfig {
    /// The official emulator's default topology: hub `eh1`, 2 partitions, consumer group `cg1`.
    fn default() -> Self {
        Self {
            namespace: "emulatorNs1".to_owned(),
            hubs: vec![HubConfig {
                name: "eh1".to_owned(),
                partition_count: 2,
                consumer_groups: vec!["cg1".to_owned()],
            }],
            auth: AuthMode::AcceptAnyToken,
            retention: Duration::from_secs(3600),
            max_retained_bytes: 1024 * 1024 * 1024,
            data_dir: None,
        }
    }
}

/// A configuration problem, naming the offending field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: String },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// Checks an entity (hub or consumer group) name against the service's pattern
/// `^[A-Za-z0-9]$|^[A-Za-z0-9][\w-\.\/]*[A-Za-z0-9]$`.
#[must_use]
pub fn is_valid_entity_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/'))
}

/// Reads an official-format `Config.json`.
///
/// # Errors
/// [`ConfigError`] naming the file or the field that is wrong.
pub fn load_official_config(path: &Path) -> Result<(String, Vec<HubConfig>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let json: Value = serde_json::from_str(&text).map_err(|source| ConfigError::Json {
        path: path.to_owned(),
        source,
    })?;
    parse_official_config(&json)
}

#[derive(Deserialize)]
struct NamedOnly {
    #[serde(rename = "Name")]
    name: Option<String>,
}

/// Validates the official `Config.json` structure (docs/amqp-wire.md §7).
///
/// # Errors
/// [`ConfigError::Invalid`] naming the JSON path of the first problem.
pub fn parse_official_config(json: &Value) -> Result<(String, Vec<HubConfig>), ConfigError> {
    let user = json
        .get("UserConfig")
        .ok_or_else(|| invalid("UserConfig", "missing"))?;
    let namespaces = user
        .get("NamespaceConfig")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("UserConfig.NamespaceConfig", "missing or not an array"))?;
    if namespaces.len() != 1 {
        return Err(invalid(
            "UserConfig.NamespaceConfig",
            format!(
                "exactly one namespace is supported, found {}",
                namespaces.len()
            ),
        ));
    }
    let ns = &namespaces[0];
    let ns_field = "UserConfig.NamespaceConfig[0]";
    match ns.get("Type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("EventHub") => {}
        other => {
            return Err(invalid(
                format!("{ns_field}.Type"),
                format!("must be \"EventHub\", found {other:?}"),
            ))
        }
    }
    let namespace = ns
        .get("Name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{ns_field}.Name"), "missing or not a string"))?
        .to_owned();
    let entities = ns
        .get("Entities")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("{ns_field}.Entities"), "missing or not an array"))?;
    if entities.is_empty() || entities.len() > MAX_HUBS {
        return Err(invalid(
            format!("{ns_field}.Entities"),
            format!(
                "must list 1 to {MAX_HUBS} event hubs, found {}",
                entities.len()
            ),
        ));
    }
    if let Some(logging) = user.get("LoggingConfig") {
        match logging.get("Type").and_then(Value::as_str) {
            Some("File" | "Console" | "File,Console" | "Console,File") | None => {}
            Some(other) => {
                return Err(invalid(
                    "UserConfig.LoggingConfig.Type",
                    format!("must be File, Console or both, found {other:?}"),
                ))
            }
        }
    }
    let mut hubs: Vec<HubConfig> = Vec::with_capacity(entities.len());
    for (i, entity) in entities.iter().enumerate() {
        let field = format!("{ns_field}.Entities[{i}]");
        let hub = parse_entity(entity, &field)?;
        if hubs.iter().any(|h| h.name.eq_ignore_ascii_case(&hub.name)) {
            return Err(invalid(
                format!("{field}.Name"),
                format!("duplicate event hub {:?}", hub.name),
            ));
        }
        hubs.push(hub);
    }
    Ok((namespace, hubs))
}

fn parse_entity(entity: &Value, field: &str) -> Result<HubConfig, ConfigError> {
    let name = entity
        .get("Name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{field}.Name"), "missing or not a string"))?;
    if !is_valid_entity_name(name) {
        return Err(invalid(
            format!("{field}.Name"),
            format!("{name:?} is not a valid event hub name (letters, digits, '-', '_', '.', '/'; starting and ending with a letter or digit)"),
        ));
    }
    // The official documentation writes PartitionCount as a string, so accept both.
    let count_field = format!("{field}.PartitionCount");
    let partition_count = match entity.get("PartitionCount") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        None => return Err(invalid(count_field, "missing")),
        Some(_) => None,
    }
    .ok_or_else(|| invalid(&count_field, "must be a whole number"))?;
    let partition_count = u32::try_from(partition_count)
        .ok()
        .filter(|n| (1..=MAX_PARTITIONS).contains(n))
        .ok_or_else(|| {
            invalid(
                &count_field,
                format!("must be between 1 and {MAX_PARTITIONS}, found {partition_count}"),
            )
        })?;
    let groups_field = format!("{field}.ConsumerGroups");
    let declared: Vec<NamedOnly> = match entity.get("ConsumerGroups") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            invalid(
                &groups_field,
                format!("must be a list of {{\"Name\": ...}}: {e}"),
            )
        })?,
    };
    if declared.len() > MAX_CONSUMER_GROUPS {
        return Err(invalid(
            &groups_field,
            format!(
                "at most {MAX_CONSUMER_GROUPS} consumer groups, found {}",
                declared.len()
            ),
        ));
    }
    let mut consumer_groups: Vec<String> = Vec::with_capacity(declared.len());
    for (j, declared_group) in declared.into_iter().enumerate() {
        let name_field = format!("{groups_field}[{j}].Name");
        let group = declared_group
            .name
            .ok_or_else(|| invalid(&name_field, "missing"))?;
        if group.eq_ignore_ascii_case(DEFAULT_CONSUMER_GROUP) {
            return Err(invalid(
                name_field,
                "$Default always exists and cannot be declared",
            ));
        }
        if !is_valid_entity_name(&group) {
            return Err(invalid(
                name_field,
                format!("{group:?} is not a valid consumer group name"),
            ));
        }
        if consumer_groups
            .iter()
            .any(|g| g.eq_ignore_ascii_case(&group))
        {
            return Err(invalid(
                name_field,
                format!("duplicate consumer group {group:?}"),
            ));
        }
        consumer_groups.push(group);
    }
    Ok(HubConfig {
        name: name.to_owned(),
        partition_count,
        consumer_groups,
    })
}

/// Why a typed duration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{0:?} is not a duration like 90s, 15m, 1h or 7d")]
    NotADuration(String),
    #[error("{text:?}: unknown unit {unit:?}; use s, m, h or d")]
    UnknownUnit { text: String, unit: String },
    #[error("a duration must be longer than zero")]
    Zero,
}

/// Parses a duration such as `90s`, `15m`, `1h`, `7d` (a bare number is seconds).
///
/// # Errors
/// A [`DurationError`] saying what form is expected.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| DurationError::NotADuration(text.to_owned()))?;
    let seconds = match unit {
        "" | "s" => number,
        "m" => number.saturating_mul(60),
        "h" => number.saturating_mul(3600),
        "d" => number.saturating_mul(86_400),
        _ => {
            return Err(DurationError::UnknownUnit {
                text: text.to_owned(),
                unit: unit.to_owned(),
            })
        }
    };
    if seconds == 0 {
        return Err(DurationError::Zero);
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn official(entities: &Value) -> Value {
        json!({ "UserConfig": {
            "NamespaceConfig": [{ "Type": "EventHub", "Name": "emulatorNs1", "Entities": entities }],
            "LoggingConfig": { "Type": "File" } } })
    }

    #[test]
    fn reads_official_example() {
        let cfg = official(&json!([
            { "Name": "eh1", "PartitionCount": "2", "ConsumerGroups": [{ "Name": "cg1" }] },
            { "Name": "orders.v2", "PartitionCount": 32, "ConsumerGroups": [] }
        ]));
        let (ns, hubs) = parse_official_config(&cfg).expect("valid");
        assert_eq!(ns, "emulatorNs1");
        assert_eq!(hubs[0].partition_count, 2);
        assert_eq!(hubs[0].consumer_groups, vec!["cg1"]);
        assert_eq!(hubs[1].partition_count, 32);
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                json!([{ "Name": "eh1", "PartitionCount": 33 }]),
                "Entities[0].PartitionCount",
            ),
            (
                json!([{ "Name": "-bad", "PartitionCount": 1 }]),
                "Entities[0].Name",
            ),
            (
                json!([{ "Name": "a", "PartitionCount": 1, "ConsumerGroups": [{ "Name": "$Default" }] }]),
                "Entities[0].ConsumerGroups[0].Name",
            ),
            (
                json!([{ "Name": "a", "PartitionCount": "x" }]),
                "Entities[0].PartitionCount",
            ),
            (
                json!([{ "Name": "a", "PartitionCount": 1 }, { "Name": "A", "PartitionCount": 1 }]),
                "Entities[1].Name",
            ),
        ];
        for (entities, field) in cases {
            let err = parse_official_config(&official(&entities)).expect_err("invalid");
            assert!(err.to_string().contains(field), "{err} should name {field}");
        }
        let groups: Vec<Value> = (0..21)
            .map(|i| json!({ "Name": format!("g{i}") }))
            .collect();
        let err = parse_official_config(&official(
            &json!([{ "Name": "a", "PartitionCount": 1, "ConsumerGroups": groups }]),
        ))
        .expect_err("too many groups");
        assert!(err.to_string().contains("ConsumerGroups"));
    }

    #[test]
    fn allows_more_than_ten_hubs() {
        let entities: Vec<Value> = (0..150)
            .map(|i| json!({ "Name": format!("hub{i}"), "PartitionCount": 1 }))
            .collect();
        let (_, hubs) = parse_official_config(&official(&json!(entities))).expect("valid");
        assert_eq!(hubs.len(), 150);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert!(matches!(
            parse_duration("1w"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert_eq!(parse_duration("0s"), Err(DurationError::Zero));
        assert_eq!(
            parse_duration("soon").map_err(|e| e.to_string()),
            Err("\"soon\" is not a duration like 90s, 15m, 1h or 7d".to_owned())
        );
    }
}
