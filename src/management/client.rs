//! The one client the app and the command line use: the namespace's own API, and Resource
//! Manager when the profile names it and the namespace refuses the credential. Once refused, a
//! client stays on Resource Manager; each call has a timeout.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt as _, TryStreamExt as _};

use super::access::Access;
use super::arm_api::ArmApi;
use super::atom_api::AtomApi;
use super::{HubInfo, ManagementError, NamespaceInfo};

/// Consumer-group lists asked for at once when the whole namespace is read.
const GROUP_LISTS_AT_ONCE: usize = 8;

#[derive(Debug, Clone)]
pub struct ManagementClient {
    namespace: String,
    atom: AtomApi,
    arm: Option<ArmApi>,
    /// Set when the namespace refused the credential and Resource Manager answered instead.
    on_arm: Arc<AtomicBool>,
}

impl ManagementClient {
    /// A client whose every request gives up after `timeout`.
    ///
    /// # Errors
    /// [`ManagementError::Profile`] when no HTTP client can be built.
    pub fn new(access: Access, timeout: Duration) -> Result<Self, ManagementError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ManagementError::Profile(crate::error_text::one_line(&e, |_| None)))?;
        Ok(Self {
            namespace: access.namespace.clone(),
            arm: access.arm.clone().map(|arm| ArmApi::new(arm, http.clone())),
            atom: AtomApi::new(access, http),
            on_arm: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The API that answers now.
    #[must_use]
    pub fn base_url(&self) -> &str {
        match self.arm.as_ref().filter(|_| self.on_resource_manager()) {
            Some(arm) => arm.base_url(),
            None => self.atom.base_url(),
        }
    }

    /// Whether calls go through Resource Manager, the namespace having refused the credential.
    #[must_use]
    pub fn on_resource_manager(&self) -> bool {
        self.on_arm.load(Ordering::Relaxed)
    }

    /// Every hub.
    ///
    /// # Errors
    /// A [`ManagementError`] saying why the namespace could not be listed.
    pub async fn list_hubs(&self) -> Result<Vec<HubInfo>, ManagementError> {
        self.run(AtomApi::list_hubs, ArmApi::list_hubs).await
    }

    /// A hub's consumer groups, `$Default` first as the namespace lists them.
    ///
    /// # Errors
    /// [`ManagementError::NotFound`] for a hub that does not exist, and the rest.
    pub async fn list_groups(&self, hub: &str) -> Result<Vec<String>, ManagementError> {
        self.run(|a| a.list_groups(hub), |r| r.list_groups(hub))
            .await
    }

    /// Every hub with its consumer groups, the group lists asked for a few at a time.
    ///
    /// # Errors
    /// The first call that failed.
    pub async fn namespace(&self) -> Result<NamespaceInfo, ManagementError> {
        let hubs = self.list_hubs().await?;
        let hubs = futures::stream::iter(hubs)
            .map(|mut hub| async move {
                hub.consumer_groups = self.list_groups(&hub.name).await?;
                Ok::<_, ManagementError>(hub)
            })
            .buffered(GROUP_LISTS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(NamespaceInfo {
            namespace: self.namespace.clone(),
            hubs,
            resource_manager: (self.on_resource_manager()).then(|| self.base_url().to_owned()),
        })
    }

    /// Creates a hub; the namespace says what it made of it.
    ///
    /// # Errors
    /// [`ManagementError::Refused`] with the namespace's reason (it exists, a quota, a bad name
    /// or count), and the rest.
    pub async fn create_hub(
        &self,
        name: &str,
        partition_count: u32,
        retention_days: u32,
    ) -> Result<HubInfo, ManagementError> {
        self.run(
            |a| a.create_hub(name, partition_count, retention_days),
            |r| r.create_hub(name, partition_count, retention_days),
        )
        .await
    }

    /// Deletes a hub with its events.
    ///
    /// # Errors
    /// [`ManagementError::NotFound`] when there is no such hub, and the rest.
    pub async fn delete_hub(&self, name: &str) -> Result<(), ManagementError> {
        self.run(|a| a.delete_hub(name), |r| r.delete_hub(name))
            .await
    }

    /// Creates a consumer group on a hub.
    ///
    /// # Errors
    /// [`ManagementError::Refused`] with the namespace's reason, and the rest.
    pub async fn create_group(&self, hub: &str, name: &str) -> Result<(), ManagementError> {
        self.run(|a| a.create_group(hub, name), |r| r.create_group(hub, name))
            .await
    }

    /// Deletes a consumer group.
    ///
    /// # Errors
    /// [`ManagementError::NotFound`] when the hub or group does not exist, and the rest.
    pub async fn delete_group(&self, hub: &str, name: &str) -> Result<(), ManagementError> {
        self.run(|a| a.delete_group(hub, name), |r| r.delete_group(hub, name))
            .await
    }

    /// One call on the namespace's API, or on Resource Manager once the namespace has refused
    /// the credential and the profile names it.
    async fn run<'s, T, A, R>(
        &'s self,
        atom: impl FnOnce(&'s AtomApi) -> A,
        arm: impl FnOnce(&'s ArmApi) -> R,
    ) -> Result<T, ManagementError>
    where
        A: Future<Output = Result<T, ManagementError>>,
        R: Future<Output = Result<T, ManagementError>>,
    {
        let Some(resource_manager) = &self.arm else {
            return atom(&self.atom).await;
        };
        if !self.on_resource_manager() {
            match atom(&self.atom).await {
                Err(refused) if refused.is_denied() => {
                    tracing::debug!(namespace = %self.namespace, "{refused}; using Resource Manager");
                    self.on_arm.store(true, Ordering::Relaxed);
                }
                answer => return answer,
            }
        }
        arm(resource_manager).await
    }
}
