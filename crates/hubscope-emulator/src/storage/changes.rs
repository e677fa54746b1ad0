//! What the management API changed at run time, laid over the configured topology.
//!
//! The user's `Config.json` is read unchanged at every start and never written; hubs and consumer
//! groups created or deleted at run time are kept beside the journals, in
//! `<data dir>/topology.json`, and applied on top. Without a data directory they last for the run.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::HubConfig;

const FILE_NAME: &str = "topology.json";

/// A consumer group and when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroup {
    pub name: String,
    pub created_ms: i64,
}

/// A hub created at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CreatedHub {
    pub name: String,
    pub partition_count: u32,
    pub retention_secs: u64,
    pub created_ms: i64,
    /// Besides `$Default`.
    pub consumer_groups: Vec<ConsumerGroup>,
}

/// The run-time changes; names are compared case-insensitively, as the service does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Changes {
    /// Created at run time; one may replace a configured hub of the same name that was deleted.
    #[serde(default)]
    pub created: Vec<CreatedHub>,
    /// Configured hubs deleted at run time.
    #[serde(default)]
    pub deleted: Vec<String>,
    /// Consumer groups created on configured hubs, by hub.
    #[serde(default)]
    pub groups_created: BTreeMap<String, Vec<ConsumerGroup>>,
    /// Configured consumer groups deleted, by hub.
    #[serde(default)]
    pub groups_deleted: BTreeMap<String, Vec<String>>,
}

/// Why the changes could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum ChangesError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a topology this endpoint wrote")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write {path}")]
    Write { path: PathBuf, source: io::Error },
}

fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl Changes {
    /// Reads the changes kept in `data_dir`; none yet is no change.
    pub fn load(data_dir: &Path) -> Result<Self, ChangesError> {
        let path = data_dir.join(FILE_NAME);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| ChangesError::Corrupt { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(ChangesError::Read { path, source }),
        }
    }

    /// Keeps the changes in `data_dir`: written beside and renamed over, so a crash leaves the
    /// old file or the new one, never half of one.
    pub fn save(&self, data_dir: &Path) -> Result<(), ChangesError> {
        let path = data_dir.join(FILE_NAME);
        let partial = data_dir.join(format!("{FILE_NAME}.partial"));
        let write = |source| ChangesError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(data_dir).map_err(write)?;
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| write(io::Error::other(e)))?;
        std::fs::write(&partial, bytes).map_err(write)?;
        std::fs::rename(&partial, &path).map_err(write)
    }

    /// The configured hubs as the changes leave them, each with its groups (created ones
    /// added, deleted ones taken out); the created hubs follow, as [`Self::created`].
    pub fn apply_to(&self, configured: &[HubConfig]) -> Vec<HubConfig> {
        configured
            .iter()
            .filter(|hub| !self.is_deleted(&hub.name))
            .map(|hub| {
                let gone = self.groups_deleted.get(&key(&hub.name));
                let mut groups: Vec<String> = (hub.consumer_groups.iter())
                    .filter(|g| {
                        !gone.is_some_and(|gone| gone.iter().any(|d| d.eq_ignore_ascii_case(g)))
                    })
                    .cloned()
                    .collect();
                if let Some(added) = self.groups_created.get(&key(&hub.name)) {
                    groups.extend(added.iter().map(|g| g.name.clone()));
                }
                HubConfig {
                    consumer_groups: groups,
                    ..hub.clone()
                }
            })
            .collect()
    }

    fn is_deleted(&self, hub: &str) -> bool {
        self.deleted.iter().any(|d| d.eq_ignore_ascii_case(hub))
    }

    /// When a group of a configured hub was created at run time.
    pub fn group_created_ms(&self, hub: &str, group: &str) -> Option<i64> {
        self.groups_created
            .get(&key(hub))?
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(group))
            .map(|g| g.created_ms)
    }

    pub fn hub_created(&mut self, hub: CreatedHub) {
        self.created.push(hub);
    }

    /// `configured`: whether the configuration has a hub of that name.
    pub fn hub_deleted(&mut self, name: &str, configured: bool) {
        self.created.retain(|h| !h.name.eq_ignore_ascii_case(name));
        self.groups_created.remove(&key(name));
        self.groups_deleted.remove(&key(name));
        if configured && !self.is_deleted(name) {
            self.deleted.push(name.to_owned());
        }
    }

    /// `configured`: whether the configuration declares that group on that hub (then creating
    /// it again undoes its deletion).
    pub fn group_created(&mut self, hub: &str, group: ConsumerGroup, configured: bool) {
        if let Some(created) = self.created_hub(hub) {
            created.consumer_groups.push(group);
        } else if configured {
            if let Some(gone) = self.groups_deleted.get_mut(&key(hub)) {
                gone.retain(|g| !g.eq_ignore_ascii_case(&group.name));
            }
        } else {
            self.groups_created.entry(key(hub)).or_default().push(group);
        }
    }

    /// `configured`: whether the configuration declares that group on that hub.
    pub fn group_deleted(&mut self, hub: &str, group: &str, configured: bool) {
        if let Some(created) = self.created_hub(hub) {
            created
                .consumer_groups
                .retain(|g| !g.name.eq_ignore_ascii_case(group));
            return;
        }
        if let Some(added) = self.groups_created.get_mut(&key(hub)) {
            added.retain(|g| !g.name.eq_ignore_ascii_case(group));
        }
        if configured {
            self.groups_deleted
                .entry(key(hub))
                .or_default()
                .push(group.to_owned());
        }
    }

    fn created_hub(&mut self, name: &str) -> Option<&mut CreatedHub> {
        self.created
            .iter_mut()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configured() -> Vec<HubConfig> {
        vec![HubConfig {
            name: "eh1".into(),
            partition_count: 2,
            consumer_groups: vec!["cg1".into()],
        }]
    }

    fn group(name: &str) -> ConsumerGroup {
        ConsumerGroup {
            name: name.into(),
            created_ms: 1,
        }
    }

    #[test]
    fn group_changes_on_a_configured_hub_apply_on_top_of_it() {
        let mut changes = Changes::default();
        changes.group_created("EH1", group("new"), false);
        changes.group_deleted("eh1", "CG1", true);
        assert_eq!(
            changes.apply_to(&configured())[0].consumer_groups,
            vec!["new"]
        );
        // Created again after its deletion: back, once.
        changes.group_created("eh1", group("cg1"), true);
        assert_eq!(
            changes.apply_to(&configured())[0].consumer_groups,
            vec!["cg1", "new"]
        );
        changes.group_deleted("eh1", "new", false);
        assert_eq!(
            changes.apply_to(&configured())[0].consumer_groups,
            vec!["cg1"]
        );
    }

    #[test]
    fn a_deleted_configured_hub_stays_deleted_and_may_be_created_anew() {
        let mut changes = Changes::default();
        changes.group_created("eh1", group("new"), false);
        changes.hub_deleted("eh1", true);
        assert!(changes.apply_to(&configured()).is_empty());
        assert!(changes.groups_created.is_empty(), "its groups went with it");
        changes.hub_created(CreatedHub {
            name: "EH1".into(),
            partition_count: 4,
            retention_secs: 86_400,
            created_ms: 1,
            consumer_groups: vec![],
        });
        assert!(
            changes.apply_to(&configured()).is_empty(),
            "the created one replaces it"
        );
        changes.hub_deleted("eh1", true);
        assert!(changes.created.is_empty());
        assert_eq!(changes.deleted, vec!["eh1"]);
    }

    #[test]
    fn changes_survive_a_save_and_a_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            Changes::load(dir.path()).expect("none yet"),
            Changes::default()
        );
        let mut changes = Changes::default();
        changes.group_created("eh1", group("new"), false);
        changes.save(dir.path()).expect("save");
        assert_eq!(Changes::load(dir.path()).expect("load"), changes);
        std::fs::write(dir.path().join(FILE_NAME), b"{ not json").expect("write");
        let error = Changes::load(dir.path()).expect_err("corrupt");
        assert!(error.to_string().contains("topology.json"), "{error}");
    }
}
