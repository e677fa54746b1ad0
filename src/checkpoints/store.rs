//! One container of a checkpoint store, read for one hub.
//!
//! Writers disagree on case (.NET, Python and JS lowercase the names, Rust does not), and against
//! an emulator the namespace carries its port, so a hub's prefix is looked up level by level and
//! matched without regard to case before it is read. Reading costs one List Blobs call per hub
//! prefix and poll, whatever the number of groups and partitions; Functions bodies are fetched
//! only when their `ETag` changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use super::blob_client::{BlobClient, BlobItem};
use super::layout::{classify, parse_functions_body, Checkpoint, Entry, Layout, Ownership};
use super::{StorageAccount, StoreError};

/// Where a hub's checkpoints are in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubLocation {
    /// The namespace as the writers spelled it.
    pub namespace: String,
    /// Every `<namespace>/<hub>/` prefix that matches, as spelled (usually one).
    pub prefixes: Vec<String>,
    /// False when the namespace was not the profile's and was picked as the only one holding
    /// the hub: say so to the user.
    pub exact_namespace: bool,
}

/// A group's checkpoints and owners by partition id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupCheckpoints {
    pub checkpoints: BTreeMap<String, Checkpoint>,
    pub ownerships: BTreeMap<String, Ownership>,
}

pub struct CheckpointStore {
    client: BlobClient,
    container: String,
    layout: Layout,
    /// Functions bodies by blob name: the `ETag` they were read at, and what they said.
    bodies: Mutex<HashMap<String, (String, FunctionsBody)>>,
}

type FunctionsBody = (Option<Checkpoint>, Option<Ownership>);

impl CheckpointStore {
    pub fn new(
        account: StorageAccount,
        container: &str,
        layout: Layout,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let container = container.trim();
        if container.is_empty() {
            return Err(StoreError::Config(
                "name the container that holds the checkpoints".into(),
            ));
        }
        Ok(Self {
            client: BlobClient::new(account, timeout)?,
            container: container.to_string(),
            layout,
            bodies: Mutex::new(HashMap::new()),
        })
    }

    #[must_use]
    pub fn container(&self) -> &str {
        &self.container
    }

    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.client.account().endpoint()
    }

    /// Finds `hub`'s prefixes under `namespace` (`host[:port]`), or under `chosen` when the user
    /// picked one. With no exact match, the one namespace that holds the hub is taken; with
    /// several, the error lists them. A hub with no checkpoints at all is not an error: every
    /// group then reads as never checkpointed.
    pub async fn locate(
        &self,
        namespace: &str,
        hub: &str,
        chosen: Option<&str>,
    ) -> Result<HubLocation, StoreError> {
        let wanted = chosen.unwrap_or(namespace);
        let namespaces = self.children("").await?;
        let exact: Vec<&String> = namespaces
            .iter()
            .filter(|n| n.eq_ignore_ascii_case(wanted))
            .collect();
        let mut holding_hub = Vec::new();
        for candidate in if exact.is_empty() && chosen.is_none() {
            namespaces.iter().collect()
        } else {
            exact.clone()
        } {
            let hubs = self.children(&format!("{candidate}/")).await?;
            let prefixes: Vec<String> = hubs
                .iter()
                .filter(|h| h.eq_ignore_ascii_case(hub))
                .map(|h| format!("{candidate}/{h}/"))
                .collect();
            if !prefixes.is_empty() {
                holding_hub.push((candidate.clone(), prefixes));
            }
        }
        match holding_hub.len() {
            0 if chosen.is_some() && exact.is_empty() => Err(StoreError::NotFound(format!(
                "container `{}` has no checkpoints for namespace `{wanted}` (it has: {})",
                self.container,
                list_or_none(&namespaces)
            ))),
            0 => Ok(HubLocation {
                namespace: wanted.to_string(),
                prefixes: Vec::new(),
                exact_namespace: true,
            }),
            1 => {
                let (found, prefixes) = holding_hub.remove(0);
                Ok(HubLocation {
                    exact_namespace: !exact.is_empty(),
                    namespace: found,
                    prefixes,
                })
            }
            _ => {
                let names: Vec<String> = holding_hub.into_iter().map(|(n, _)| n).collect();
                Err(StoreError::NotFound(format!(
                    "container `{}` has checkpoints for hub `{hub}` under several namespaces, \
                     none of them `{wanted}`: {}; pick one",
                    self.container,
                    names.join(", ")
                )))
            }
        }
    }

    /// The consumer groups with blobs under the hub, as spelled (deduplicated without case).
    pub async fn groups(&self, location: &HubLocation) -> Result<Vec<String>, StoreError> {
        let mut groups: Vec<String> = Vec::new();
        for prefix in &location.prefixes {
            for group in self.children(prefix).await? {
                if !groups.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
                    groups.push(group);
                }
            }
        }
        Ok(groups)
    }

    /// Every group's checkpoints and owners under the hub, keyed by lowercased group name.
    pub async fn read_hub(
        &self,
        location: &HubLocation,
    ) -> Result<BTreeMap<String, GroupCheckpoints>, StoreError> {
        let mut groups: BTreeMap<String, GroupCheckpoints> = BTreeMap::new();
        for prefix in &location.prefixes {
            let listing = self.client.list(&self.container, prefix, None).await?;
            for blob in &listing.blobs {
                let Some((group, relative)) = blob
                    .name
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.split_once('/'))
                else {
                    continue;
                };
                let entry = groups.entry(group.to_ascii_lowercase()).or_default();
                match classify(relative, blob, self.layout) {
                    Entry::Checkpoint(partition, checkpoint) => {
                        merge_checkpoint(&mut entry.checkpoints, partition, checkpoint);
                    }
                    Entry::Ownership(partition, ownership) => {
                        entry.ownerships.insert(partition, ownership);
                    }
                    Entry::FunctionsBlob(partition) => {
                        let (checkpoint, ownership) = self.functions_body(blob).await?;
                        if let Some(checkpoint) = checkpoint {
                            merge_checkpoint(&mut entry.checkpoints, partition.clone(), checkpoint);
                        }
                        if let Some(ownership) = ownership {
                            entry.ownerships.insert(partition, ownership);
                        }
                    }
                    Entry::Unknown => {}
                }
            }
        }
        Ok(groups)
    }

    async fn functions_body(&self, blob: &BlobItem) -> Result<FunctionsBody, StoreError> {
        if let Some((etag, body)) = lock(&self.bodies).get(&blob.name) {
            if *etag == blob.etag {
                return Ok(body.clone());
            }
        }
        let text = self.client.read_text(&self.container, &blob.name).await?;
        // A body that is not a checkpoint (another tool's blob) counts as none.
        let body = parse_functions_body(&text, blob.last_modified).unwrap_or((None, None));
        lock(&self.bodies).insert(blob.name.clone(), (blob.etag.clone(), body.clone()));
        Ok(body)
    }

    /// The names one level below `prefix`.
    async fn children(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let listing = self.client.list(&self.container, prefix, Some("/")).await?;
        Ok(listing
            .prefixes
            .iter()
            .filter_map(|p| p.strip_prefix(prefix)?.strip_suffix('/'))
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect())
    }
}

/// Two writers of different case for one group: the furthest checkpoint is the group's.
fn merge_checkpoint(into: &mut BTreeMap<String, Checkpoint>, partition: String, new: Checkpoint) {
    match into.get(&partition) {
        Some(old) if old.sequence_number >= new.sequence_number => {}
        _ => {
            into.insert(partition, new);
        }
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
