//! The Resource Manager face of the same namespace: what ARM's `Microsoft.EventHub` provider
//! answers for hubs and consumer groups (docs/management-api.md §5). The endpoint serves one
//! namespace, so any subscription, resource group and namespace name in the path lead to it.
//! ARM's habits where they differ from the Atom API's: PUT is create-or-update (the same
//! description again is a 200), DELETE of something absent is a 204, errors are JSON.

use std::time::Duration;

use super::arm::{
    ErrorDetail, ErrorResponse, GroupProperties, GroupResource, HubProperties, HubResource, List,
    RetentionDescription, API_VERSION,
};
use super::atom;
use super::exchange::{number_param, Answer, Request};
use crate::config::DEFAULT_CONSUMER_GROUP;
use crate::storage::namespace::{ConsumerGroup, Hub, HubSpec, ManageError, Namespace};

const JSON: &str = "application/json; charset=utf-8";
const PAGE: usize = 100;
const HOUR: u64 = 3600;
/// What a hub created without a partition count or retention gets, as on the service.
const DEFAULT_PARTITIONS: u32 = 16;
const DEFAULT_RETENTION_HOURS: u64 = 24;
/// 90 days, the longest the service keeps events.
const MAX_RETENTION_HOURS: u64 = 90 * 24;

/// Whether the path is a Resource Manager one, so that [`answer`] takes it.
#[must_use]
pub fn is_arm_path(path: &str) -> bool {
    path.get(..14)
        .is_some_and(|p| p.eq_ignore_ascii_case("subscriptions/"))
}

/// Answers an authorized request whose path [`is_arm_path`].
#[must_use]
pub fn answer(namespace: &Namespace, request: &Request<'_>, path: &str, base: &str) -> Answer {
    if !request
        .query
        .split('&')
        .any(|pair| pair.to_ascii_lowercase().starts_with("api-version="))
    {
        return error(400, "MissingApiVersionParameter", &format!("The api-version query parameter (?api-version=) is required; this endpoint speaks {API_VERSION}."));
    }
    let segments: Vec<&str> = path.split('/').collect();
    let literal = |i: usize, word: &str| {
        segments
            .get(i)
            .is_some_and(|s| s.eq_ignore_ascii_case(word))
    };
    let shaped = literal(2, "resourceGroups")
        && literal(4, "providers")
        && literal(5, "Microsoft.EventHub")
        && literal(6, "namespaces")
        && literal(8, "eventhubs")
        && (segments.len() <= 10 || literal(10, "consumergroups"))
        && segments.len() <= 12;
    if !shaped {
        return error(404, "NotFound", &format!("There is no Microsoft.EventHub resource at '/{path}'; this endpoint serves namespaces/{{namespace}}/eventhubs[/{{hub}}[/consumergroups[/{{group}}]]]."));
    }
    let at = Place {
        url: format!("{base}/{}", segments[..8].join("/")),
        id_start: base.len(),
        query: request.query,
        namespace: segments[7],
    };
    let hub = segments.get(9).copied().filter(|s| !s.is_empty());
    let group = segments.get(11).copied().filter(|s| !s.is_empty());
    let groups = segments.len() >= 11;
    match (request.method, hub, groups, group) {
        ("GET", None, false, None) => list_hubs(namespace, &at),
        ("GET", Some(hub), false, None) => match namespace.hub(hub) {
            Some(hub) => json(200, &hub_resource(&at, &hub)),
            None => hub_not_found(&at, hub),
        },
        ("PUT", Some(hub), false, None) => put_hub(namespace, &at, hub, request.body),
        ("DELETE", Some(hub), false, None) => match namespace.delete_hub(hub) {
            Ok(()) => empty(200),
            Err(ManageError::HubNotFound(_)) => empty(204),
            Err(e) => refused(&at, &e),
        },
        ("GET", Some(hub), true, None) => list_groups(namespace, &at, hub),
        ("GET", Some(hub), true, Some(group)) => {
            let found = namespace.hub(hub).and_then(|hub| {
                let group = hub
                    .consumer_groups()
                    .into_iter()
                    .find(|g| g.name.eq_ignore_ascii_case(group))?;
                Some(group_resource(&at, &hub, &group))
            });
            match found {
                Some(resource) => json(200, &resource),
                None => group_not_found(&at, hub, group),
            }
        }
        ("PUT", Some(hub), true, Some(group)) => put_group(namespace, &at, hub, group),
        ("DELETE", Some(hub), true, Some(group)) => match namespace.delete_group(hub, group) {
            Ok(()) => empty(200),
            Err(ManageError::GroupNotFound { .. }) => empty(204),
            Err(e) => refused(&at, &e),
        },
        _ => error(
            405,
            "MethodNotAllowed",
            &format!("{} is not allowed on '/{path}'.", request.method),
        ),
    }
}

/// A request without a token the endpoint accepts.
#[must_use]
pub fn unauthorized(reason: &str) -> Answer {
    error(401, "AuthenticationFailed", reason)
}

fn list_hubs(namespace: &Namespace, at: &Place<'_>) -> Answer {
    let hubs = namespace.hubs();
    let (page, next_link) = at.page(&hubs, "eventhubs");
    let value = page.iter().map(|hub| hub_resource(at, hub)).collect();
    json(200, &List { value, next_link })
}

fn list_groups(namespace: &Namespace, at: &Place<'_>, hub_name: &str) -> Answer {
    let Some(hub) = namespace.hub(hub_name) else {
        return hub_not_found(at, hub_name);
    };
    let groups = hub.consumer_groups();
    let (page, next_link) = at.page(&groups, &format!("eventhubs/{}/consumergroups", hub.name));
    let value = page.iter().map(|g| group_resource(at, &hub, g)).collect();
    json(200, &List { value, next_link })
}

fn put_hub(namespace: &Namespace, at: &Place<'_>, name: &str, body: &[u8]) -> Answer {
    let wanted: HubResource = match read_body(body) {
        Ok(resource) => resource,
        Err(answer) => return answer,
    };
    let retention_secs = wanted
        .properties
        .retention_secs()
        .unwrap_or(DEFAULT_RETENTION_HOURS * HOUR);
    if !(HOUR..=MAX_RETENTION_HOURS * HOUR).contains(&retention_secs) {
        return error(400, "BadRequest", &format!("The retention must be between 1 hour and {MAX_RETENTION_HOURS} hours, not {retention_secs} seconds."));
    }
    let spec = HubSpec {
        name: name.to_owned(),
        partition_count: wanted
            .properties
            .partition_count
            .unwrap_or(DEFAULT_PARTITIONS),
        retention: Duration::from_secs(retention_secs),
    };
    if let Some(hub) = namespace.hub(name) {
        let same = usize::try_from(spec.partition_count).ok() == Some(hub.partitions.len())
            && spec.retention == hub.retention;
        return if same {
            json(200, &hub_resource(at, &hub))
        } else {
            error(400, "BadRequest", &format!("The event hub '{}' exists with {} partitions and {} hours of retention, and this endpoint cannot change a hub: delete it and create it again.", hub.name, hub.partitions.len(), hub.retention.as_secs() / HOUR))
        };
    }
    match namespace.create_hub(&spec) {
        Ok(hub) => json(200, &hub_resource(at, &hub)),
        Err(e) => refused(at, &e),
    }
}

fn put_group(namespace: &Namespace, at: &Place<'_>, hub_name: &str, name: &str) -> Answer {
    let Some(hub) = namespace.hub(hub_name) else {
        return hub_not_found(at, hub_name);
    };
    if let Some(existing) = hub
        .consumer_groups()
        .into_iter()
        .find(|g| g.name.eq_ignore_ascii_case(name))
    {
        return json(200, &group_resource(at, &hub, &existing));
    }
    match namespace.create_group(&hub.name, name) {
        Ok(group) => json(200, &group_resource(at, &hub, &group)),
        Err(e) => refused(at, &e),
    }
}

/// A change refused: ARM's status and code for each reason, the storage's words.
fn refused(at: &Place<'_>, e: &ManageError) -> Answer {
    match e {
        ManageError::HubNotFound(hub) => hub_not_found(at, hub),
        ManageError::GroupNotFound { hub, group } => group_not_found(at, hub, group),
        ManageError::HubExists(_) | ManageError::GroupExists { .. } => {
            error(409, "Conflict", &sentence(e))
        }
        ManageError::TooManyHubs | ManageError::TooManyGroups(_) => {
            error(400, "QuotaExceeded", &sentence(e))
        }
        ManageError::InvalidName { .. }
        | ManageError::PartitionCount(_)
        | ManageError::Retention => error(400, "BadRequest", &sentence(e)),
        ManageError::DefaultGroup => error(
            400,
            "BadRequest",
            &format!("The {DEFAULT_CONSUMER_GROUP} consumer group cannot be deleted."),
        ),
        _ => error(500, "InternalServerError", &sentence(e)),
    }
}

fn sentence(e: &ManageError) -> String {
    let text = e.to_string();
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        format!("{}{}.", first.to_uppercase(), chars.as_str())
    })
}

fn hub_not_found(at: &Place<'_>, hub: &str) -> Answer {
    error(
        404,
        "NotFound",
        &format!(
            "The event hub '{hub}' does not exist in namespace '{}'.",
            at.namespace
        ),
    )
}

fn group_not_found(at: &Place<'_>, hub: &str, group: &str) -> Answer {
    error(
        404,
        "NotFound",
        &format!(
            "The consumer group '{group}' does not exist on event hub '{hub}' in namespace '{}'.",
            at.namespace
        ),
    )
}

fn hub_resource(at: &Place<'_>, hub: &Hub) -> HubResource {
    let created = atom::atom_time(hub.created_ms);
    let hours = hub.retention.as_secs().div_ceil(HOUR).max(1);
    HubResource {
        id: Some(format!("{}/eventhubs/{}", at.id_prefix(), hub.name)),
        name: Some(hub.name.clone()),
        kind: Some("Microsoft.EventHub/namespaces/eventhubs".to_owned()),
        properties: HubProperties {
            message_retention_in_days: Some(hours.div_ceil(24)),
            partition_count: u32::try_from(hub.partitions.len()).ok(),
            partition_ids: Some(hub.partitions.iter().map(|p| p.id.clone()).collect()),
            status: Some("Active".to_owned()),
            created_at: Some(created.clone()),
            updated_at: Some(created),
            retention_description: Some(RetentionDescription {
                cleanup_policy: Some("Delete".to_owned()),
                retention_time_in_hours: Some(hours),
            }),
        },
    }
}

fn group_resource(at: &Place<'_>, hub: &Hub, group: &ConsumerGroup) -> GroupResource {
    let created = atom::atom_time(group.created_ms);
    GroupResource {
        id: Some(format!(
            "{}/eventhubs/{}/consumergroups/{}",
            at.id_prefix(),
            hub.name,
            group.name
        )),
        name: Some(group.name.clone()),
        kind: Some("Microsoft.EventHub/namespaces/eventhubs/consumergroups".to_owned()),
        properties: GroupProperties {
            created_at: Some(created.clone()),
            updated_at: Some(created),
            user_metadata: None,
        },
    }
}

/// A request body: none means every property its default.
fn read_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, Answer> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        error(
            400,
            "InvalidRequestContent",
            &format!("The request body is not a resource this endpoint can read: {e}."),
        )
    })
}

fn json(status: u16, document: &impl serde::Serialize) -> Answer {
    match serde_json::to_string(document) {
        Ok(body) => Answer {
            status,
            content_type: JSON,
            body,
        },
        Err(e) => error(
            500,
            "InternalServerError",
            &format!("The answer could not be written: {e}"),
        ),
    }
}

fn empty(status: u16) -> Answer {
    Answer {
        status,
        content_type: JSON,
        body: String::new(),
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    let body = ErrorResponse {
        error: ErrorDetail {
            code: code.to_owned(),
            message: message.to_owned(),
        },
    };
    // Two strings; writing them cannot fail.
    let body = serde_json::to_string(&body).unwrap_or_default();
    Answer {
        status,
        content_type: JSON,
        body,
    }
}

/// Where the answer is written from: the namespace's URL (ids and next links are made of it)
/// and the request's query, for paging.
struct Place<'a> {
    /// `scheme://host/subscriptions/…/namespaces/{ns}`.
    url: String,
    /// Where the path starts in `url`: a resource id is the path.
    id_start: usize,
    query: &'a str,
    namespace: &'a str,
}

impl Place<'_> {
    /// `/subscriptions/…/namespaces/{ns}`.
    fn id_prefix(&self) -> &str {
        &self.url[self.id_start..]
    }

    fn param(&self, name: &str) -> Option<usize> {
        number_param(self.query, name)
    }

    /// The part of `all` that `$skip` and `$top` ask for, and the link to the rest.
    fn page<'t, T>(&self, all: &'t [T], list: &str) -> (&'t [T], Option<String>) {
        let skip = self.param("$skip").unwrap_or(0).min(all.len());
        let top = self.param("$top").unwrap_or(PAGE).max(1);
        let end = skip.saturating_add(top).min(all.len());
        let next = (end < all.len()).then(|| {
            format!(
                "{}/{list}?api-version={API_VERSION}&$skip={end}&$top={top}",
                self.url
            )
        });
        (&all[skip..end], next)
    }
}

#[cfg(test)]
#[path = "arm_api_tests.rs"]
mod tests;
