//! The two checkpoint layouts found in practice, read from the blobs under one consumer group's
//! prefix (`<namespace>/<hub>/<group>/`, as the writer spelled it):
//!
//! - **processor**: what the official SDKs' Blob checkpoint stores write (.NET, Java, Python, JS,
//!   Rust): `checkpoint/<partition>` with metadata `sequencenumber` and `offset`, and
//!   `ownership/<partition>` with metadata `ownerid`, whose last-modified time is the owner's
//!   heartbeat;
//! - **functions**: the Azure Functions trigger's older layout (container
//!   `azure-webjobs-eventhub`), one blob per partition, `<partition>`, whose JSON body holds
//!   `Offset`, `SequenceNumber` and `Owner`; KEDA's `azureFunction` strategy reads the same.

use std::time::SystemTime;

use serde::Deserialize;

use super::blob_client::BlobItem;

/// Which layout to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Processor,
    Functions,
    /// Whichever the blobs under the group's prefix are in.
    #[default]
    Auto,
}

/// A consumer group's progress on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub sequence_number: i64,
    pub offset: Option<String>,
}

/// Who holds a partition, and when it last said so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// Empty when the owner gave the partition up.
    pub owner_id: String,
    pub last_modified: Option<SystemTime>,
}

/// What one blob under a group's prefix says.
#[derive(Debug, PartialEq)]
pub(crate) enum Entry {
    Checkpoint(String, Checkpoint),
    Ownership(String, Ownership),
    /// A Functions blob: its body must be read first.
    FunctionsBlob(String),
    /// Something else (another tool's blobs), or metadata that cannot be read.
    Unknown,
}

/// Sorts one blob, named relative to the group's prefix.
pub(crate) fn classify(relative_name: &str, blob: &BlobItem, layout: Layout) -> Entry {
    let processor = layout != Layout::Functions;
    let functions = layout != Layout::Processor;
    let (kind, partition) = match relative_name.split_once('/') {
        Some((kind, partition)) => (Some(kind.to_ascii_lowercase()), partition),
        None => (None, relative_name),
    };
    if partition.is_empty() || partition.contains('/') {
        return Entry::Unknown;
    }
    let partition = partition.to_string();
    match kind.as_deref() {
        Some("checkpoint") if processor => {
            let sequence_number = metadata(blob, "sequencenumber").and_then(|s| s.parse().ok());
            match sequence_number {
                Some(sequence_number) => Entry::Checkpoint(
                    partition,
                    Checkpoint {
                        sequence_number,
                        offset: metadata(blob, "offset").map(str::to_string),
                    },
                ),
                None => Entry::Unknown,
            }
        }
        Some("ownership") if processor => Entry::Ownership(
            partition,
            Ownership {
                owner_id: metadata(blob, "ownerid").unwrap_or_default().to_string(),
                last_modified: blob.last_modified,
            },
        ),
        None if functions => Entry::FunctionsBlob(partition),
        _ => Entry::Unknown,
    }
}

/// A Functions checkpoint blob's body: a checkpoint and the lease's owner. A blob that has never
/// been checkpointed holds an empty `Offset` and `SequenceNumber` 0, which is no checkpoint.
pub(crate) fn parse_functions_body(
    body: &str,
    last_modified: Option<SystemTime>,
) -> Option<(Option<Checkpoint>, Option<Ownership>)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Body {
        #[serde(default)]
        offset: Option<String>,
        #[serde(default)]
        sequence_number: Option<i64>,
        #[serde(default)]
        owner: Option<String>,
    }
    let body: Body = serde_json::from_str(body).ok()?;
    let offset = body.offset.filter(|o| !o.is_empty());
    let checkpoint = match (body.sequence_number, offset) {
        (Some(sequence_number), Some(offset)) => Some(Checkpoint {
            sequence_number,
            offset: Some(offset),
        }),
        _ => None,
    };
    let ownership = body
        .owner
        .filter(|o| !o.is_empty())
        .map(|owner_id| Ownership {
            owner_id,
            last_modified,
        });
    Some((checkpoint, ownership))
}

fn metadata<'a>(blob: &'a BlobItem, name: &str) -> Option<&'a str> {
    blob.metadata
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn blob(metadata: &[(&str, &str)]) -> BlobItem {
        BlobItem {
            name: String::new(),
            last_modified: Some(SystemTime::UNIX_EPOCH),
            etag: "e".into(),
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        }
    }

    #[test]
    fn reads_the_processor_layout_in_any_case() {
        let entry = classify(
            "Checkpoint/3",
            &blob(&[("SequenceNumber", "17"), ("Offset", "1700")]),
            Layout::Auto,
        );
        assert_eq!(
            entry,
            Entry::Checkpoint(
                "3".into(),
                Checkpoint {
                    sequence_number: 17,
                    offset: Some("1700".into())
                }
            )
        );
        let Entry::Ownership(partition, owner) =
            classify("ownership/0", &blob(&[("ownerid", "a")]), Layout::Processor)
        else {
            panic!("not an ownership")
        };
        assert_eq!((partition.as_str(), owner.owner_id.as_str()), ("0", "a"));
    }

    #[test]
    fn a_layout_reads_only_its_own_blobs() {
        assert_eq!(classify("0", &blob(&[]), Layout::Processor), Entry::Unknown);
        assert_eq!(
            classify("0", &blob(&[]), Layout::Functions),
            Entry::FunctionsBlob("0".into())
        );
        assert_eq!(
            classify(
                "checkpoint/0",
                &blob(&[("sequencenumber", "1")]),
                Layout::Functions
            ),
            Entry::Unknown
        );
        assert_eq!(
            classify(
                "checkpoint/0",
                &blob(&[("sequencenumber", "x")]),
                Layout::Auto
            ),
            Entry::Unknown
        );
    }

    #[test]
    fn reads_a_functions_body() {
        let body = r#"{"Offset":"4096","SequenceNumber":12,"PartitionId":"1","Owner":"host-a","Token":"t","Epoch":3}"#;
        let (checkpoint, owner) = parse_functions_body(body, None).unwrap();
        assert_eq!(checkpoint.unwrap().sequence_number, 12);
        assert_eq!(owner.unwrap().owner_id, "host-a");
        let fresh =
            r#"{"Offset":"","SequenceNumber":0,"PartitionId":"1","Owner":"","Token":"","Epoch":0}"#;
        assert_eq!(parse_functions_body(fresh, None), Some((None, None)));
        assert_eq!(parse_functions_body("not json", None), None);
    }
}
