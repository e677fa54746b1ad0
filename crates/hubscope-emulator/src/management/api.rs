//! The management API's answers: which request does what to the namespace, and what the
//! service says back (docs/management-api.md). No HTTP library here; `server` carries the
//! requests in and the answers out, as `exchange`'s types.

use std::sync::Arc;
use std::time::Duration;

use super::arm_api;
use super::atom::{
    self, Author, Content, Description, Entry, ErrorBody, Feed, GroupDescription, HubDescription,
    Link, PartitionIds, Text, ATOM_NS,
};
use super::exchange::{number_param, Answer, Request};
use crate::config::{AuthMode, DEFAULT_CONSUMER_GROUP, MAX_CONSUMER_GROUPS, MAX_HUBS};
use crate::service::auth::Authorizer;
use crate::storage::namespace::{ConsumerGroup, Hub, HubSpec, ManageError, Namespace};
use crate::storage::store::now_ms;

/// What a hub created without a partition count gets, as on the service.
const DEFAULT_PARTITIONS: u32 = 16;
/// What a hub created without a retention gets.
const DEFAULT_RETENTION_DAYS: u32 = 1;
/// The longest retention the service offers (Premium and Dedicated).
const MAX_RETENTION_DAYS: u32 = 90;
/// Entries per page of a list, unless `$top` says otherwise.
const PAGE: usize = 100;
const DAY: u64 = 86_400;
const MORE: &str = "To know more visit https://aka.ms/sbResourceMgrExceptions.";

impl Answer {
    fn xml(status: u16, content_type: &'static str, document: &impl serde::Serialize) -> Self {
        match atom::to_xml(document) {
            Ok(body) => Self {
                status,
                content_type,
                body,
            },
            Err(e) => error(500, &format!("The answer could not be written: {e}")),
        }
    }

    fn empty() -> Self {
        Self {
            status: 200,
            content_type: atom::ERROR_TYPE,
            body: String::new(),
        }
    }
}

fn error(status: u16, detail: &str) -> Answer {
    let body = ErrorBody {
        code: status,
        detail: detail.to_owned(),
    };
    // An error body has two text fields; writing it cannot fail.
    let body = atom::to_xml(&body).unwrap_or_default();
    Answer {
        status,
        content_type: atom::ERROR_TYPE,
        body,
    }
}

/// The management API of one namespace.
#[derive(Debug, Clone)]
pub struct Api {
    namespace: Arc<Namespace>,
    authorizer: Authorizer,
}

impl Api {
    #[must_use]
    pub fn new(namespace: Arc<Namespace>, authorizer: Authorizer) -> Self {
        Self {
            namespace,
            authorizer,
        }
    }

    /// Answers one request.
    #[must_use]
    pub fn answer(&self, request: &Request<'_>) -> Answer {
        let path = request.path.trim_matches('/');
        if path.eq_ignore_ascii_case("health") && request.method == "GET" {
            return health();
        }
        let arm = arm_api::is_arm_path(path);
        if let Some(refusal) = self.refusal(request, path) {
            return if arm {
                arm_api::unauthorized(&refusal)
            } else {
                error(401, &format!("{refusal} {MORE}"))
            };
        }
        let base = format!(
            "{}://{}",
            if request.https { "https" } else { "http" },
            request.host
        );
        if arm {
            return arm_api::answer(&self.namespace, request, path, &base);
        }
        let at = Place {
            base: &base,
            query: request.query,
        };
        if path.eq_ignore_ascii_case("$Resources/EventHubs") {
            return match request.method {
                "GET" => self.list_hubs(&at),
                _ => not_allowed(),
            };
        }
        // Hub names may hold slashes; a group's path is the hub's and `/consumergroups/`.
        let lower = path.to_ascii_lowercase();
        let (hub, group) = match lower.find("/consumergroups") {
            Some(i) => (
                &path[..i],
                Some(path[i + "/consumergroups".len()..].trim_start_matches('/')),
            ),
            None => (path, None),
        };
        if hub.is_empty() {
            return error(404, &format!("There is no resource at '/{path}'. {MORE}"));
        }
        match (request.method, group) {
            ("GET", None) => self.get_hub(&at, hub),
            ("PUT", None) => self.put_hub(&at, hub, request),
            ("DELETE", None) => self.delete_hub(hub),
            ("GET", Some("")) => self.list_groups(&at, hub),
            ("GET", Some(group)) => self.get_group(&at, hub, group),
            ("PUT", Some(group)) if !group.is_empty() => self.put_group(&at, hub, group, request),
            ("DELETE", Some(group)) if !group.is_empty() => self.delete_group(hub, group),
            _ => not_allowed(),
        }
    }

    /// With `--sas-key`, every request but the health check carries a SAS token for the
    /// namespace (or the entity) signed with that key; without it, anything goes, as on AMQP.
    /// The reason a request is refused, when it is.
    fn refusal(&self, request: &Request<'_>, path: &str) -> Option<String> {
        if matches!(self.authorizer.mode(), AuthMode::AcceptAnyToken) {
            return None;
        }
        let Some(header) = request.authorization.map(str::trim) else {
            return Some(
                "MissingToken: The request has no Authorization header; send a SharedAccessSignature with the Manage right.".to_owned(),
            );
        };
        let (token_type, token) = match header.strip_prefix("Bearer ") {
            Some(jwt) => ("jwt", jwt),
            None => ("servicebus.windows.net:sastoken", header),
        };
        let audience = format!("http://{}/{path}", request.host);
        let now_s = now_ms() / 1000;
        self.authorizer
            .check(token_type, &audience, token, now_s, None)
            .err()
            .map(|e| e.to_string())
    }

    fn list_hubs(&self, at: &Place<'_>) -> Answer {
        let hubs = self.namespace.hubs();
        let entries = at
            .page(&hubs)
            .iter()
            .map(|hub| self.hub_entry(at, hub, false))
            .collect();
        at.feed("EventHubs", "$Resources/EventHubs", entries, hubs.len())
    }

    fn get_hub(&self, at: &Place<'_>, name: &str) -> Answer {
        match self.namespace.hub(name) {
            Some(hub) => Answer::xml(200, atom::ENTRY_TYPE, &self.hub_entry(at, &hub, true)),
            None => nothing_there(at),
        }
    }

    fn put_hub(&self, at: &Place<'_>, name: &str, request: &Request<'_>) -> Answer {
        let description = match read_entry(request.body) {
            Ok(entry) => entry
                .as_ref()
                .and_then(Entry::hub)
                .cloned()
                .unwrap_or_default(),
            Err(answer) => return answer,
        };
        if let Some(hub) = self.namespace.hub(name) {
            return if request.if_match {
                error(400, &format!("SubCode=40000. The event hub '{}' cannot be changed on this endpoint: delete it and create it again. {MORE}", hub.name))
            } else {
                error(
                    409,
                    &format!(
                        "SubCode=40900. Conflict. The messaging entity '{}' already exists. {MORE}",
                        at.entity(&hub.name)
                    ),
                )
            };
        }
        if request.if_match {
            return self.not_found(name);
        }
        let days = description
            .message_retention_in_days
            .unwrap_or(DEFAULT_RETENTION_DAYS);
        if !(1..=MAX_RETENTION_DAYS).contains(&days) {
            return error(400, &format!("SubCode=40000. MessageRetentionInDays must be between 1 and {MAX_RETENTION_DAYS}, not {days}. {MORE}"));
        }
        let spec = HubSpec {
            name: name.to_owned(),
            partition_count: description.partition_count.unwrap_or(DEFAULT_PARTITIONS),
            retention: Duration::from_secs(u64::from(days) * DAY),
        };
        match self.namespace.create_hub(&spec) {
            Ok(hub) => Answer::xml(201, atom::ENTRY_TYPE, &self.hub_entry(at, &hub, true)),
            Err(e) => self.refused(at, &e),
        }
    }

    fn delete_hub(&self, name: &str) -> Answer {
        match self.namespace.delete_hub(name) {
            Ok(()) => Answer::empty(),
            Err(ManageError::HubNotFound(_)) => self.not_found(name),
            Err(e) => error(500, &format!("The event hub could not be deleted: {e}")),
        }
    }

    fn list_groups(&self, at: &Place<'_>, hub_name: &str) -> Answer {
        let Some(hub) = self.namespace.hub(hub_name) else {
            return self.not_found(hub_name);
        };
        let groups = hub.consumer_groups();
        let entries = at
            .page(&groups)
            .iter()
            .map(|group| group_entry(at, &hub, group, false))
            .collect();
        let path = format!("{}/consumergroups", hub.name);
        at.feed("ConsumerGroups", &path, entries, groups.len())
    }

    fn get_group(&self, at: &Place<'_>, hub_name: &str, name: &str) -> Answer {
        let found = self.namespace.hub(hub_name).and_then(|hub| {
            let group = hub
                .consumer_groups()
                .into_iter()
                .find(|g| g.name.eq_ignore_ascii_case(name))?;
            Some(group_entry(at, &hub, &group, true))
        });
        match found {
            Some(entry) => Answer::xml(200, atom::ENTRY_TYPE, &entry),
            None => nothing_there(at),
        }
    }

    fn put_group(
        &self,
        at: &Place<'_>,
        hub_name: &str,
        name: &str,
        request: &Request<'_>,
    ) -> Answer {
        if let Err(answer) = read_entry(request.body) {
            return answer;
        }
        let Some(hub) = self.namespace.hub(hub_name) else {
            return self.not_found(hub_name);
        };
        if let Some(existing) = hub.consumer_group(name) {
            return if request.if_match {
                Answer::xml(
                    200,
                    atom::ENTRY_TYPE,
                    &group_entry_named(at, &hub, &existing),
                )
            } else {
                let entity = at.entity(&format!("{}/consumergroups/{existing}", hub.name));
                error(409, &format!("SubCode=40900. Conflict. The messaging entity '{entity}' already exists. {MORE}"))
            };
        }
        match self.namespace.create_group(&hub.name, name) {
            Ok(group) => Answer::xml(201, atom::ENTRY_TYPE, &group_entry(at, &hub, &group, true)),
            Err(e) => self.refused(at, &e),
        }
    }

    fn delete_group(&self, hub_name: &str, name: &str) -> Answer {
        match self.namespace.delete_group(hub_name, name) {
            Ok(()) => Answer::empty(),
            Err(ManageError::HubNotFound(_)) => self.not_found(hub_name),
            Err(ManageError::GroupNotFound { hub, group }) => {
                self.not_found(&format!("{hub}/consumergroups/{group}"))
            }
            Err(ManageError::DefaultGroup) => error(
                400,
                &format!("SubCode=40000. The {DEFAULT_CONSUMER_GROUP} consumer group cannot be deleted. {MORE}"),
            ),
            Err(e) => error(500, &format!("The consumer group could not be deleted: {e}")),
        }
    }

    /// A create refused: the service's status and words for each reason.
    fn refused(&self, at: &Place<'_>, e: &ManageError) -> Answer {
        match e {
            ManageError::HubExists(name) => error(409, &format!("SubCode=40900. Conflict. The messaging entity '{}' already exists. {MORE}", at.entity(name))),
            ManageError::GroupExists { hub, group } => {
                let entity = at.entity(&format!("{hub}/consumergroups/{group}"));
                error(409, &format!("SubCode=40900. Conflict. The messaging entity '{entity}' already exists. {MORE}"))
            }
            ManageError::HubNotFound(name) => self.not_found(name),
            ManageError::TooManyHubs => error(403, &format!("SubCode=40300. The maximum number of event hubs ({MAX_HUBS}) in the namespace has been reached. {MORE}")),
            ManageError::TooManyGroups(hub) => error(403, &format!("SubCode=40300. The maximum number of consumer groups ({MAX_CONSUMER_GROUPS}) of event hub '{hub}' has been reached. {MORE}")),
            ManageError::InvalidName { .. } | ManageError::PartitionCount(_) | ManageError::Retention => {
                error(400, &format!("SubCode=40000. Bad Request: {e}. {MORE}"))
            }
            _ => error(500, &format!("The change could not be made: {e}")),
        }
    }

    fn not_found(&self, entity: &str) -> Answer {
        let namespace = &self.namespace.name;
        error(
            404,
            &format!(
                "The messaging entity '{namespace}:eventhub:{entity}' could not be found. {MORE}"
            ),
        )
    }

    fn hub_entry(&self, at: &Place<'_>, hub: &Hub, alone: bool) -> Entry {
        let retention_days = hub.retention.as_secs().div_ceil(DAY).max(1);
        let created = atom::description_time(hub.created_ms);
        let mut description = HubDescription::new();
        description.message_retention_in_days =
            Some(u32::try_from(retention_days).unwrap_or(u32::MAX));
        description.status = Some("Active".to_owned());
        description.created_at = Some(created.clone());
        description.updated_at = Some(created);
        description.partition_count = Some(u32::try_from(hub.partitions.len()).unwrap_or(u32::MAX));
        description.partition_ids = Some(PartitionIds::new(
            hub.partitions.iter().map(|p| p.id.clone()).collect(),
        ));
        Entry {
            author: Some(Author {
                name: self.namespace.name.clone(),
            }),
            ..at.entry(
                &hub.name,
                &hub.name,
                hub.created_ms,
                alone,
                Description::EventHubDescription(description),
            )
        }
    }
}

fn group_entry_named(at: &Place<'_>, hub: &Hub, name: &str) -> Entry {
    let group = (hub.consumer_groups().into_iter())
        .find(|g| g.name == name)
        .unwrap_or_else(|| ConsumerGroup {
            name: name.to_owned(),
            created_ms: hub.created_ms,
        });
    group_entry(at, hub, &group, true)
}

fn group_entry(at: &Place<'_>, hub: &Hub, group: &ConsumerGroup, alone: bool) -> Entry {
    let created = atom::description_time(group.created_ms);
    let mut description = GroupDescription::new();
    description.created_at = Some(created.clone());
    description.updated_at = Some(created);
    let path = format!("{}/consumergroups/{}", hub.name, group.name);
    at.entry(
        &group.name,
        &path,
        group.created_ms,
        alone,
        Description::ConsumerGroupDescription(description),
    )
}

/// Where the answer is written from: the base URL ids are made of, and the request's query
/// (for paging).
struct Place<'a> {
    base: &'a str,
    query: &'a str,
}

impl Place<'_> {
    fn entity(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn param(&self, name: &str) -> Option<usize> {
        number_param(self.query, name)
    }

    /// The part of `all` that `$skip` and `$top` ask for.
    fn page<'t, T>(&self, all: &'t [T]) -> &'t [T] {
        let skip = self.param("$skip").unwrap_or(0).min(all.len());
        let top = self.param("$top").unwrap_or(PAGE);
        &all[skip..(skip.saturating_add(top)).min(all.len())]
    }

    fn feed(&self, title: &str, path: &str, entries: Vec<Entry>, total: usize) -> Answer {
        let url = format!("{}/{path}?api-version=2014-01", self.base);
        let mut links = vec![Link {
            rel: "self".to_owned(),
            href: url.clone(),
        }];
        let skip = self.param("$skip").unwrap_or(0);
        let top = self.param("$top").unwrap_or(PAGE);
        if skip.saturating_add(top) < total {
            links.push(Link {
                rel: "next".to_owned(),
                href: format!("{url}&$skip={}&$top={top}", skip + top),
            });
        }
        let feed = Feed {
            xmlns: ATOM_NS.to_owned(),
            title: Text::plain(title),
            id: url,
            updated: atom::atom_time(now_ms()),
            links,
            entries,
        };
        Answer::xml(200, atom::FEED_TYPE, &feed)
    }

    fn entry(
        &self,
        title: &str,
        path: &str,
        created_ms: i64,
        alone: bool,
        description: Description,
    ) -> Entry {
        let url = format!("{}/{path}?api-version=2014-01", self.base);
        Entry {
            xmlns: alone.then(|| ATOM_NS.to_owned()),
            id: Some(url.clone()),
            title: Some(Text::plain(title)),
            published: Some(atom::atom_time(created_ms)),
            updated: Some(atom::atom_time(created_ms)),
            author: None,
            link: Some(Link {
                rel: "self".to_owned(),
                href: url,
            }),
            content: Some(Content {
                kind: "application/xml".to_owned(),
                description,
            }),
        }
    }
}

/// A request's entry: none for an empty body (every property its default).
fn read_entry(body: &[u8]) -> Result<Option<Entry>, Answer> {
    let text = std::str::from_utf8(body).map_err(|_| {
        error(
            400,
            &format!("SubCode=40000. The request body is not UTF-8. {MORE}"),
        )
    })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    atom::from_xml(text)
        .map(Some)
        .map_err(|e| error(400, &format!("SubCode=40000. The request body is not an Atom entry the service can read: {e}. {MORE}")))
}

/// What the service answers a GET of something that is not there with: an empty feed, 200.
fn nothing_there(at: &Place<'_>) -> Answer {
    let feed = Feed {
        xmlns: ATOM_NS.to_owned(),
        title: Text::plain(atom::NOTHING_THERE),
        id: format!("{}/", at.base),
        updated: atom::atom_time(now_ms()),
        ..Feed::default()
    };
    Answer::xml(200, atom::FEED_TYPE, &feed)
}

fn not_allowed() -> Answer {
    error(
        405,
        &format!("The method is not allowed on this resource. {MORE}"),
    )
}

/// Microsoft's emulator's health check, on the same port.
fn health() -> Answer {
    Answer {
        status: 200,
        content_type: "application/json",
        body: r#"{"status":"healthy","message":"Service is healthy."}"#.to_owned(),
    }
}

#[cfg(test)]
#[path = "api_tests.rs"]
pub(super) mod tests;
