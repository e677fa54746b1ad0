//! Committed offsets of Kafka groups, and where they are kept with `--data-dir`:
//! `<data dir>/kafka-groups.json`, written beside and renamed over, so that a crash leaves the
//! old file or the new one. A file that cannot be read is kept aside as
//! `kafka-groups.json.corrupt-<time>`, never discarded, and the endpoint starts without it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

const FILE: &str = "kafka-groups.json";

/// A partition's committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Committed {
    pub offset: i64,
    #[serde(default)]
    pub metadata: String,
    pub commit_ms: i64,
}

/// What is kept of a group across restarts: its protocol type and its offsets by topic and
/// partition (members and generations are not: consumers join afresh after a restart).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptGroup {
    #[serde(default)]
    pub protocol_type: String,
    #[serde(default)]
    pub offsets: BTreeMap<String, BTreeMap<i32, Committed>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    groups: BTreeMap<String, KeptGroup>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum OffsetsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a groups file (kept aside as {kept_as}): {reason}")]
    Corrupt {
        path: PathBuf,
        kept_as: PathBuf,
        reason: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the groups are kept, if anywhere.
#[derive(Debug, Clone)]
pub(crate) struct OffsetStore {
    path: Option<PathBuf>,
}

impl OffsetStore {
    pub(crate) fn new(data_dir: Option<&Path>) -> Self {
        Self {
            path: data_dir.map(|d| d.join(FILE)),
        }
    }

    /// The groups kept, or none when there is no file yet.
    ///
    /// # Errors
    /// [`OffsetsError::Read`] for an I/O error; `Corrupt` for a file that does not parse (then
    /// moved aside).
    pub(crate) fn load(&self) -> Result<BTreeMap<String, KeptGroup>, OffsetsError> {
        let Some(path) = &self.path else {
            return Ok(BTreeMap::new());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(OffsetsError::Read {
                    path: path.clone(),
                    source,
                })
            }
        };
        match serde_json::from_str::<File>(&text) {
            Ok(file) => Ok(file.groups),
            Err(e) => {
                let kept_as = path
                    .with_extension(format!("json.corrupt-{}", crate::storage::store::now_ms()));
                let _ = std::fs::rename(path, &kept_as);
                Err(OffsetsError::Corrupt {
                    path: path.clone(),
                    kept_as,
                    reason: e.to_string(),
                })
            }
        }
    }

    /// Writes the groups (beside the file, then renamed over it).
    ///
    /// # Errors
    /// [`OffsetsError::Write`].
    pub(crate) fn save(&self, groups: BTreeMap<String, KeptGroup>) -> Result<(), OffsetsError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let write_error = |source| OffsetsError::Write {
            path: path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(&File { groups })
            .map_err(|e| write_error(std::io::Error::other(e)))?;
        let beside = path.with_extension("json.new");
        let mut file = std::fs::File::create(&beside).map_err(write_error)?;
        std::io::Write::write_all(&mut file, &text).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        std::fs::rename(&beside, path).map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> BTreeMap<String, KeptGroup> {
        let mut offsets = BTreeMap::new();
        offsets.insert(
            "eh1".to_owned(),
            BTreeMap::from([(
                0,
                Committed {
                    offset: 42,
                    metadata: "m".into(),
                    commit_ms: 7,
                },
            )]),
        );
        BTreeMap::from([(
            "g".to_owned(),
            KeptGroup {
                protocol_type: "consumer".into(),
                offsets,
            },
        )])
    }

    #[test]
    fn groups_survive_a_save_and_a_load() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = OffsetStore::new(Some(dir.path()));
        assert!(store.load().expect("nothing yet").is_empty());
        store.save(kept()).expect("saved");
        assert_eq!(store.load().expect("loaded"), kept());
    }

    #[test]
    fn a_corrupt_file_is_kept_aside_and_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(FILE), b"{ not json").expect("written");
        let store = OffsetStore::new(Some(dir.path()));
        let Err(OffsetsError::Corrupt { kept_as, .. }) = store.load() else {
            panic!("a corrupt file must be refused");
        };
        assert_eq!(std::fs::read(&kept_as).expect("kept"), b"{ not json");
        assert!(!dir.path().join(FILE).exists());
    }
}
