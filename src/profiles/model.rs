//! What a connection profile is: where a hub lives and how to authenticate to it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::checkpoint_store::CheckpointStoreSettings;
use super::connection_string::ConnectionString;
pub use super::fields::{FieldError, Secret};
use super::resource_manager::ResourceManagerSettings;

/// The consumer group every hub has.
pub const DEFAULT_CONSUMER_GROUP: &str = "$Default";
/// The port the embedded endpoint tries first (the AMQP port, like the official emulator).
pub const DEFAULT_EMULATOR_PORT: u16 = 5672;
/// The name of the profile created on first run.
pub const LOCAL_EMULATOR_NAME: &str = "Local emulator";

/// A saved way of reaching one hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub kind: ProfileKind,
    #[serde(default = "default_consumer_group")]
    pub consumer_group: String,
    #[serde(default)]
    pub transport: Transport,
    /// Dial this AMQP endpoint instead of the namespace's (private endpoints, proxies, emulators).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_endpoint: Option<String>,
    /// Where this hub's processors keep checkpoints, for the Consumer groups tab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_store: Option<CheckpointStoreSettings>,
    /// The namespace's management API, when it is not where the namespace is
    /// (`https://<namespace>`, or `http://<host>:5300` for an emulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_endpoint: Option<String>,
    /// The namespace in Resource Manager, for managing hubs through Azure roles when its own API
    /// refuses the credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_manager: Option<ResourceManagerSettings>,
}

fn default_consumer_group() -> String {
    DEFAULT_CONSUMER_GROUP.to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProfileKind {
    /// The embedded endpoint, started in-process on `port` (or the next free one).
    LocalEmulator {
        port: u16,
        /// An official-format `Config.json`; the default topology without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config_path: Option<PathBuf>,
        hub: String,
    },
    /// A SAS connection string; the hub comes from `EntityPath` or `hub`.
    ConnectionString {
        connection_string: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hub: Option<String>,
    },
    /// Microsoft Entra ID through `azure_identity`.
    EntraId {
        namespace: String,
        hub: String,
        credential: Credential,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credential {
    /// Azure CLI, then Azure Developer CLI: whoever is signed in on this machine.
    DeveloperTools,
    ClientSecret {
        tenant_id: String,
        client_id: String,
        client_secret: Secret,
    },
    ManagedIdentity {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<String>,
    },
    /// Kubernetes workload identity, configured by the `AZURE_*` environment the pod gets.
    WorkloadIdentity,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    #[default]
    Amqp,
    /// AMQP over secure `WebSockets` (port 443), for networks that block 5671.
    AmqpWebSockets,
}

impl Profile {
    /// The profile created on first run: the embedded endpoint with the official default topology.
    #[must_use]
    pub fn local_emulator() -> Self {
        Self {
            name: LOCAL_EMULATOR_NAME.to_string(),
            kind: ProfileKind::LocalEmulator {
                port: DEFAULT_EMULATOR_PORT,
                config_path: None,
                hub: "eh1".to_string(),
            },
            consumer_group: default_consumer_group(),
            transport: Transport::Amqp,
            custom_endpoint: None,
            checkpoint_store: None,
            management_endpoint: None,
            resource_manager: None,
        }
    }

    #[must_use]
    pub fn new_connection_string() -> Self {
        Self {
            name: "New connection".to_string(),
            kind: ProfileKind::ConnectionString {
                connection_string: Secret::default(),
                hub: None,
            },
            consumer_group: default_consumer_group(),
            transport: Transport::Amqp,
            custom_endpoint: None,
            checkpoint_store: None,
            management_endpoint: None,
            resource_manager: None,
        }
    }

    /// The same profile working on `hub` of its namespace. A connection string whose
    /// `EntityPath` names another hub is scoped to that hub, and stays as it is.
    #[must_use]
    pub fn with_hub(&self, hub: &str) -> Self {
        let mut profile = self.clone();
        match &mut profile.kind {
            ProfileKind::LocalEmulator { hub: h, .. } | ProfileKind::EntraId { hub: h, .. } => {
                *h = hub.to_string();
            }
            ProfileKind::ConnectionString { hub: h, .. } => *h = Some(hub.to_string()),
        }
        profile
    }

    /// The hub this profile opens, when it can be told without connecting.
    #[must_use]
    pub fn hub(&self) -> Option<String> {
        match &self.kind {
            ProfileKind::LocalEmulator { hub, .. } => Some(hub.clone()),
            // Empty: a namespace-level profile; the connection opens the namespace's first hub.
            ProfileKind::EntraId { hub, .. } => Some(hub.clone()).filter(|h| !h.trim().is_empty()),
            ProfileKind::ConnectionString {
                connection_string,
                hub,
            } => hub.clone().filter(|h| !h.is_empty()).or_else(|| {
                ConnectionString::parse(connection_string.expose())
                    .ok()
                    .and_then(|cs| cs.entity_path)
            }),
        }
    }

    /// The optional endpoints' problems: each must be a URL of its kind.
    fn endpoint_errors(&self) -> Vec<FieldError> {
        let given = |e: &Option<String>| e.clone().filter(|e| !e.is_empty());
        let mut errors = Vec::new();
        if let Some(endpoint) = given(&self.custom_endpoint) {
            if !["amqp://", "amqps://", "wss://"]
                .iter()
                .any(|s| endpoint.starts_with(s))
            {
                errors.push(FieldError {
                    field: "custom_endpoint",
                    message: "must start with amqp://, amqps:// or wss://".into(),
                });
            }
        }
        if let Some(endpoint) = given(&self.management_endpoint) {
            if !["http://", "https://"]
                .iter()
                .any(|s| endpoint.starts_with(s))
            {
                errors.push(FieldError {
                    field: "management_endpoint",
                    message: "must start with http:// or https://".into(),
                });
            }
        }
        errors
    }

    /// Every problem that keeps this profile from being saved, each tied to its field.
    #[must_use]
    pub fn validate(&self) -> Vec<FieldError> {
        let has_credential = matches!(self.kind, ProfileKind::EntraId { .. });
        let mut errors =
            (self.checkpoint_store.as_ref()).map_or_else(Vec::new, |s| s.validate(has_credential));
        errors.extend(self.endpoint_errors());
        errors.extend((self.resource_manager.iter()).flat_map(ResourceManagerSettings::validate));
        let mut fail = |field, message: String| errors.push(FieldError { field, message });
        if self.name.trim().is_empty() {
            fail("name", "a profile needs a name".into());
        }
        if self.consumer_group.trim().is_empty() {
            fail(
                "consumer_group",
                "a consumer group is needed ($Default always exists)".into(),
            );
        }
        match &self.kind {
            ProfileKind::LocalEmulator {
                port,
                hub,
                config_path,
            } => {
                if let Some(path) = config_path.as_ref().filter(|p| !p.is_file()) {
                    fail("config_path", format!("no file at {}", path.display()));
                }
                if *port == 0 {
                    fail("port", "choose a port between 1 and 65535".into());
                }
                if hub.trim().is_empty() {
                    fail(
                        "hub",
                        "name the hub to open (eh1 in the default topology)".into(),
                    );
                }
            }
            ProfileKind::ConnectionString {
                connection_string,
                hub,
            } => match ConnectionString::parse(connection_string.expose()) {
                Err(e) => fail("connection_string", e.to_string()),
                Ok(cs) => {
                    let hub = hub.as_deref().filter(|h| !h.is_empty());
                    // Neither an EntityPath nor a hub: a namespace-level profile, whose hubs the
                    // namespace tree offers.
                    match (&cs.entity_path, hub) {
                        (Some(path), Some(hub)) if path != hub => fail(
                            "hub",
                            format!("the connection string's EntityPath is `{path}`, not `{hub}`"),
                        ),
                        _ => {}
                    }
                }
            },
            ProfileKind::EntraId {
                namespace,
                hub: _,
                credential,
            } => {
                if namespace.trim().is_empty()
                    || namespace.contains("://")
                    || namespace.contains('/')
                {
                    fail(
                        "namespace",
                        "the namespace's host name, like myns.servicebus.windows.net".into(),
                    );
                }
                if let Credential::ClientSecret {
                    tenant_id,
                    client_id,
                    client_secret,
                } = credential
                {
                    if tenant_id.trim().is_empty() {
                        fail("tenant_id", "the directory (tenant) id is needed".into());
                    }
                    if client_id.trim().is_empty() {
                        fail("client_id", "the application (client) id is needed".into());
                    }
                    if client_secret.expose().is_empty() {
                        fail("client_secret", "the client secret is needed".into());
                    }
                }
            }
        }
        errors
    }

    /// The same profile with its secrets blanked, for exports that leave them out.
    #[must_use]
    pub fn without_secrets(&self) -> Self {
        let mut profile = self.clone();
        profile.checkpoint_store = self
            .checkpoint_store
            .as_ref()
            .map(CheckpointStoreSettings::without_secret);
        match &mut profile.kind {
            ProfileKind::ConnectionString {
                connection_string, ..
            } => {
                *connection_string =
                    Secret::new(ConnectionString::without_secret(connection_string.expose()));
            }
            ProfileKind::EntraId {
                credential: Credential::ClientSecret { client_secret, .. },
                ..
            } => *client_secret = Secret::default(),
            _ => {}
        }
        profile
    }

    /// A short description of where this profile points, with no secret in it.
    #[must_use]
    pub fn endpoint_label(&self) -> String {
        match &self.kind {
            ProfileKind::LocalEmulator { port, .. } => format!("embedded endpoint (port {port})"),
            ProfileKind::ConnectionString {
                connection_string, ..
            } => ConnectionString::parse(connection_string.expose()).map_or_else(
                |_| "invalid connection string".into(),
                |cs| cs.display_endpoint(),
            ),
            ProfileKind::EntraId { namespace, .. } => format!("sb://{namespace}/"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_run_profile_is_valid() {
        assert!(Profile::local_emulator().validate().is_empty());
    }

    #[test]
    fn endpoints_must_be_urls_of_their_kind() {
        let mut profile = Profile::local_emulator();
        profile.management_endpoint = Some("amqp://x:5300".into());
        profile.custom_endpoint = Some("http://x".into());
        let fields: Vec<_> = profile.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["custom_endpoint", "management_endpoint"]);
        profile.management_endpoint = Some("http://10.0.0.5:5300".into());
        profile.custom_endpoint = None;
        assert!(profile.validate().is_empty());
        assert_eq!(profile.with_hub("orders").hub().as_deref(), Some("orders"));
    }

    #[test]
    fn a_bad_connection_string_is_tied_to_its_field() {
        let mut profile = Profile::new_connection_string();
        let errors = profile.validate();
        assert_eq!(errors[0].field, "connection_string");
        profile.kind = ProfileKind::ConnectionString {
            connection_string: Secret::new(
                "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=k",
            ),
            hub: None,
        };
        assert!(
            profile.validate().is_empty(),
            "no EntityPath and no hub: a namespace-level profile"
        );
        assert_eq!(profile.hub(), None);
        profile.kind = ProfileKind::ConnectionString {
            connection_string: Secret::new(
                "Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=k",
            ),
            hub: Some("h".into()),
        };
        assert!(profile.validate().is_empty());
        assert_eq!(profile.hub().as_deref(), Some("h"));
    }

    #[test]
    fn an_entra_id_profile_may_be_a_whole_namespace() {
        let mut profile = Profile::new_connection_string();
        profile.kind = ProfileKind::EntraId {
            namespace: "ns.servicebus.windows.net".into(),
            hub: String::new(),
            credential: Credential::DeveloperTools,
        };
        assert!(profile.validate().is_empty(), "{:?}", profile.validate());
        assert_eq!(
            profile.hub(),
            None,
            "the namespace's first hub, then the tree"
        );
        assert_eq!(profile.with_hub("orders").hub().as_deref(), Some("orders"));
    }

    #[test]
    fn secrets_stay_out_of_debug_and_exports() {
        let profile = Profile {
            kind: ProfileKind::EntraId {
                namespace: "ns.servicebus.windows.net".into(),
                hub: "h".into(),
                credential: Credential::ClientSecret {
                    tenant_id: "t".into(),
                    client_id: "c".into(),
                    client_secret: Secret::new("hunter2"),
                },
            },
            ..Profile::local_emulator()
        };
        assert!(!format!("{profile:?}").contains("hunter2"));
        let json = serde_json::to_string(&profile.without_secrets()).expect("serializes");
        assert!(!json.contains("hunter2"));
    }
}
