//! The Azure Resource Manager documents for a namespace's hubs and consumer groups
//! (`Microsoft.EventHub`, api-version 2024-01-01): JSON, the same facts as the Atom entries.
//! Shared with the app's ARM client, as `atom` is with its namespace client. Only the fields
//! either side reads are named; the rest of what ARM sends (capture, identity, ...) is skipped.

use serde::{Deserialize, Serialize};

/// The API version both sides speak.
pub const API_VERSION: &str = "2024-01-01";
/// The resource provider's path segment under a resource group.
pub const PROVIDER: &str = "providers/Microsoft.EventHub/namespaces";

/// One page of a list: `value`, and `nextLink` (an absolute URL) while more remain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// `Microsoft.EventHub/namespaces/eventhubs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub properties: HubProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HubProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_retention_in_days: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Newer than `messageRetentionInDays`, and finer: hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_description: Option<RetentionDescription>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionDescription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_time_in_hours: Option<u64>,
}

impl HubProperties {
    /// How long events are kept: the hours when given, else the days.
    #[must_use]
    pub fn retention_secs(&self) -> Option<u64> {
        let hours = self
            .retention_description
            .as_ref()
            .and_then(|r| r.retention_time_in_hours);
        hours.map(|h| h.saturating_mul(3600)).or_else(|| {
            self.message_retention_in_days
                .map(|d| d.saturating_mul(86_400))
        })
    }
}

/// `Microsoft.EventHub/namespaces/eventhubs/consumergroups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub properties: GroupProperties,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_metadata: Option<String>,
}

/// ARM's error body: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes of the resource provider's own examples (azure-rest-api-specs,
    /// `EHEventHubCreate` and `EHConsumerGroupListByEventHub`), with unread fields left in.
    #[test]
    fn the_providers_documents_read() {
        let hub: HubResource = serde_json::from_str(
            r#"{"id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.EventHub/namespaces/n/eventhubs/orders",
                "name": "orders", "type": "Microsoft.EventHub/Namespaces/EventHubs",
                "properties": {"messageRetentionInDays": 4, "partitionCount": 4, "status": "Active",
                  "createdAt": "2017-06-28T02:45:55.877Z", "updatedAt": "2017-06-28T02:46:05.877Z",
                  "partitionIds": ["0", "1", "2", "3"],
                  "captureDescription": {"enabled": true, "encoding": "Avro"},
                  "retentionDescription": {"cleanupPolicy": "Delete", "retentionTimeInHours": 24}}}"#,
        )
        .expect("a hub");
        assert_eq!(hub.name.as_deref(), Some("orders"));
        assert_eq!(hub.properties.partition_count, Some(4));
        assert_eq!(hub.properties.retention_secs(), Some(86_400));
        let groups: List<GroupResource> = serde_json::from_str(
            r#"{"value": [{"name": "$Default", "type": "Microsoft.EventHub/Namespaces/EventHubs/ConsumerGroups",
                "properties": {"createdAt": "2017-05-25T03:42:52.287Z", "updatedAt": "2017-05-25T03:42:52.287Z"}},
                {"name": "audit", "properties": {}}]}"#,
        )
        .expect("a list");
        let names: Vec<_> = groups
            .value
            .iter()
            .filter_map(|g| g.name.as_deref())
            .collect();
        assert_eq!(names, ["$Default", "audit"]);
        assert_eq!(groups.next_link, None);
    }
}
