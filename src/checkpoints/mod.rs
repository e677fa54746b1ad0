//! Checkpoint stores: where event processors record how far each consumer group has read and who
//! owns each partition. Read-only: hubscope looks, it never writes a checkpoint.
//!
//! - [`account`]: a storage connection string or account URL, and how to sign in;
//! - [`blob_client`]: List Blobs and Get Blob over HTTP, nothing more;
//! - [`layout`]: the processor and Functions layouts, blob by blob;
//! - [`store`]: finding a hub's prefix (names differ in case between SDKs) and reading a group.

pub mod account;
pub mod blob_client;
pub mod layout;
/// Public so that tests can write checkpoints the way processors do; hubscope itself only reads.
pub mod signing;
pub mod store;

pub use account::StorageAccount;
pub use layout::{Checkpoint, Layout, Ownership};
pub use store::{CheckpointStore, GroupCheckpoints, HubLocation};

/// Why a checkpoint store could not be read, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The store's connection string or URL is wrong.
    #[error("checkpoint store: {0}")]
    Config(String),
    /// An account URL without a SAS, for a profile that has no Entra ID credential.
    #[error(
        "an account URL signs in with the profile's Entra ID credential, and this profile has \
         none: use a storage connection string (with AccountKey or SharedAccessSignature) instead"
    )]
    NeedsCredential,
    #[error("checkpoint store: the credential could not sign in: {0}")]
    Credential(String),
    #[error("cannot reach the checkpoint store at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "the storage account refused the credentials ({code}): check the account key or SAS{}",
        suffix(message)
    )]
    Denied { code: String, message: String },
    #[error("container `{container}` does not exist in storage account `{account}`")]
    NoContainer { container: String, account: String },
    #[error("the checkpoint store answered {status} {code}{}", suffix(message))]
    Service {
        status: u16,
        code: String,
        message: String,
    },
    #[error("checkpoint store: {0}")]
    Malformed(String),
    /// Nothing in the container matches the namespace and hub.
    #[error("{0}")]
    NotFound(String),
}

fn suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}
