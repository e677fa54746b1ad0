//! A namespace's hubs and consumer groups, listed, created and deleted through its management
//! API: the service's (`https://<namespace>`, Atom over HTTPS) and the embedded endpoint's,
//! which serves the same documents, with Azure Resource Manager as the fallback a profile may
//! name. `access` says where and with which credential; `client` makes the calls, through
//! `atom_api` or `arm_api`.

pub mod access;
mod arm_api;
mod atom_api;
pub mod client;
mod http;

use serde::Serialize;

pub use access::{Access, ArmAccess, EMULATOR_MANAGEMENT_PORT};
pub use client::ManagementClient;

/// One hub, as the namespace describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubInfo {
    pub name: String,
    pub partition_count: u32,
    pub partition_ids: Vec<String>,
    pub retention_secs: u64,
    pub status: String,
    /// RFC 3339, UTC.
    pub created_at: Option<String>,
    /// Filled by [`ManagementClient::namespace`]; empty from a plain hub list.
    pub consumer_groups: Vec<String>,
}

/// Every hub of a namespace with its consumer groups: `hubscope hubs --output json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespaceInfo {
    pub namespace: String,
    pub hubs: Vec<HubInfo>,
    /// Resource Manager's endpoint when the namespace refused the credential and Resource
    /// Manager answered instead; `None` when the namespace's own API did.
    pub resource_manager: Option<String>,
}

/// Why a management call failed, in one line for a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagementError {
    /// The profile or flags cannot say where or how.
    #[error("{0}")]
    Profile(String),
    #[error("credential: {0}")]
    Credential(String),
    #[error("the management API at {url} cannot be reached: {detail}")]
    Unreachable { url: String, detail: String },
    /// 401 and 403 for a credential: no Manage right, a wrong key, a policy.
    #[error("the namespace refused the credential: {0}")]
    Denied(String),
    /// The same from Resource Manager, the fallback: no role on the namespace's resource.
    #[error("Resource Manager refused the credential: {0}")]
    ResourceManagerDenied(String),
    #[error("{0}")]
    NotFound(String),
    /// Exists already (409), a quota (403), a bad name or count (400), anything else.
    #[error("{detail}")]
    Refused { status: u16, detail: String },
    #[error("the answer from {url} is not the management API's: {detail}")]
    NotTheApi { url: String, detail: String },
}

impl ManagementError {
    /// Whether it says the namespace will not let this credential manage it, so that the
    /// single-hub view is all there is.
    #[must_use]
    pub fn is_denied(&self) -> bool {
        matches!(self, Self::Denied(_) | Self::ResourceManagerDenied(_))
    }
}

/// A hub's partition count and ids from what a description gives: either may be missing, and
/// the service numbers partitions from 0.
fn partitions(count: Option<u32>, ids: Option<Vec<String>>) -> (u32, Vec<String>) {
    let ids = ids.unwrap_or_default();
    let count = count.unwrap_or_else(|| u32::try_from(ids.len()).unwrap_or(u32::MAX));
    if ids.is_empty() {
        (count, (0..count).map(|i| i.to_string()).collect())
    } else {
        (count, ids)
    }
}
