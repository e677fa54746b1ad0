//! The connected profile's namespace: its tree read in the background through the management
//! API, and the changes the tree asks for.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Engine;
use crate::bridge::{NamespaceChange, NamespaceState, Notice};
use crate::management::{Access, ManagementClient, ManagementError};
use crate::profiles::{Profile, ProfileKind};

/// How often the tree is read again; a change made from the app reads it at once.
const NAMESPACE_EVERY: Duration = Duration::from_secs(15);
const MANAGEMENT_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// The management client for `profile`: the app's own endpoint for a local-emulator one.
    fn management_for(&self, profile: &Profile) -> Result<ManagementClient, ManagementError> {
        let access = match (&profile.kind, &self.local) {
            (ProfileKind::LocalEmulator { .. }, Some(local)) => {
                let url = local.management_url().ok_or_else(|| {
                    ManagementError::Profile(
                        "the embedded endpoint serves no management API".into(),
                    )
                })?;
                Access::local(&url)
            }
            _ => Access::from_profile(profile, None)?,
        };
        ManagementClient::new(access, MANAGEMENT_TIMEOUT)
    }

    /// The namespace's first hub, when its management API lists one.
    pub(super) async fn first_hub(&self, profile: &Profile) -> Option<String> {
        let client = self.management_for(profile).ok()?;
        let hubs = client.list_hubs().await.ok()?;
        hubs.into_iter().next().map(|h| h.name)
    }

    /// Starts reading `profile`'s namespace every so often, replacing any earlier watch.
    pub(super) fn watch_namespace(&mut self, profile: &Profile) {
        self.stop_namespace();
        let client = match self.management_for(profile) {
            Ok(client) => client,
            Err(e) => {
                self.update(|s| s.namespace = NamespaceState::Failed(e.to_string()));
                return;
            }
        };
        let stop = CancellationToken::new();
        self.namespace = Some((client.clone(), stop.clone()));
        let snapshot = self.snapshot.clone();
        let waker = self.waker.clone();
        let now = self.namespace_now.clone();
        tokio::spawn(async move {
            loop {
                let state = match client.namespace().await {
                    Ok(info) => NamespaceState::Ready(std::sync::Arc::new(info)),
                    Err(e) if e.is_denied() => NamespaceState::Denied(e.to_string()),
                    Err(e) => NamespaceState::Failed(e.to_string()),
                };
                if stop.is_cancelled() {
                    return;
                }
                snapshot.send_if_modified(|s| {
                    let changed = s.namespace != state;
                    s.namespace = state;
                    changed
                });
                waker();
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = now.notified() => {}
                    () = tokio::time::sleep(NAMESPACE_EVERY) => {}
                }
            }
        });
    }

    pub(super) fn stop_namespace(&mut self) {
        if let Some((_, stop)) = self.namespace.take() {
            stop.cancel();
        }
    }

    /// Makes a change; its outcome is a notice, then the tree is read again.
    pub(super) fn manage(&self, change: NamespaceChange) {
        let Some((client, _)) = &self.namespace else {
            self.notify(Notice::error(
                "Nothing was changed",
                "connect to a profile first",
            ));
            return;
        };
        let client = client.clone();
        let (events, waker, now) = (
            self.events.clone(),
            self.waker.clone(),
            self.namespace_now.clone(),
        );
        tokio::spawn(async move {
            let notice = match apply(&client, &change).await {
                Ok(done) => Notice::info(done),
                // The reason is the news here: in the line itself, not behind Details.
                Err((failed, e)) => Notice::error(format!("{failed}: {e}"), String::new()),
            };
            super::send_event(&events, &waker, crate::bridge::Event::Notice(notice));
            now.notify_one();
        });
    }

    /// Works on another hub of the connected profile's namespace: a new connection to it, the
    /// embedded endpoint and the tree untouched.
    pub(super) async fn switch_hub(&mut self, hub: &str) {
        let Some(profile) = self.profile.clone() else {
            return;
        };
        let watch = self.namespace.take();
        let profile = profile.with_hub(hub);
        self.connect_keeping_namespace(profile.clone(), super::Reconnect::HubOnly)
            .await;
        self.profile = Some(profile);
        self.namespace = watch;
    }
}

/// Sends `change`; the text of a notice either way.
async fn apply(
    client: &ManagementClient,
    change: &NamespaceChange,
) -> Result<String, (String, ManagementError)> {
    match change {
        NamespaceChange::CreateHub {
            name,
            partitions,
            retention_days,
        } => client
            .create_hub(name, *partitions, *retention_days)
            .await
            .map(|hub| {
                format!(
                    "Created hub {} ({} partitions)",
                    hub.name, hub.partition_count
                )
            })
            .map_err(|e| (format!("Hub {name} was not created"), e)),
        NamespaceChange::DeleteHub(name) => client
            .delete_hub(name)
            .await
            .map(|()| format!("Deleted hub {name}"))
            .map_err(|e| (format!("Hub {name} was not deleted"), e)),
        NamespaceChange::CreateGroup { hub, name } => client
            .create_group(hub, name)
            .await
            .map(|()| format!("Created consumer group {name} on {hub}"))
            .map_err(|e| (format!("Consumer group {name} was not created"), e)),
        NamespaceChange::DeleteGroup { hub, name } => client
            .delete_group(hub, name)
            .await
            .map(|()| format!("Deleted consumer group {name} from {hub}"))
            .map_err(|e| (format!("Consumer group {name} was not deleted"), e)),
    }
}
