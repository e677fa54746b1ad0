//! A [`Target`] is everything needed to open SDK clients for one hub: the hub's name, how to
//! authenticate, and where to dial. Profiles, command-line flags and the embedded endpoint all
//! resolve to one, so the rest of the engine never looks at a profile again.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
};
use azure_messaging_eventhubs::models::AmqpTransport;
use azure_messaging_eventhubs::{ConsumerClient, ProducerClient};

use super::HubError;
use crate::profiles::{ConnectionString, Credential, Profile, ProfileKind, Transport};

#[derive(Clone)]
pub struct Target {
    pub hub: String,
    /// Where the hub is, for status bars and messages; never contains a secret.
    pub endpoint_label: String,
    pub consumer_group: String,
    auth: Auth,
    custom_endpoint: Option<String>,
    transport: Transport,
}

#[derive(Clone)]
enum Auth {
    ConnectionString(String),
    Credential {
        namespace: String,
        credential: Arc<dyn TokenCredential>,
    },
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("hub", &self.hub)
            .field("endpoint", &self.endpoint_label)
            .field("custom_endpoint", &self.custom_endpoint)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// A SAS connection string, with the hub from `EntityPath` or `hub`.
    pub fn from_connection_string(text: &str, hub: Option<&str>) -> Result<Self, HubError> {
        let cs = ConnectionString::parse(text)
            .map_err(|e| HubError::Profile(format!("connection string: {e}")))?;
        let hub = match (cs.entity_path.as_deref(), hub.filter(|h| !h.is_empty())) {
            (Some(path), Some(hub)) if path != hub => {
                return Err(HubError::Profile(format!(
                    "the connection string's EntityPath is `{path}` but the hub given is `{hub}`"
                )))
            }
            (_, Some(hub)) | (Some(hub), None) => hub.to_string(),
            (None, None) => {
                return Err(HubError::Profile(
                    "the connection string has no EntityPath: name the hub (--hub)".into(),
                ))
            }
        };
        Ok(Self {
            endpoint_label: format!("{}{hub}", cs.display_endpoint()),
            hub,
            consumer_group: crate::profiles::model::DEFAULT_CONSUMER_GROUP.to_string(),
            auth: Auth::ConnectionString(text.trim().to_string()),
            custom_endpoint: cs.emulator_endpoint(),
            transport: Transport::Amqp,
        })
    }

    /// The hub a profile names. A local-emulator profile is taken to mean an endpoint already
    /// listening on this machine at the profile's port (the app's, or `hubscope emulator`'s);
    /// the app itself starts one first through [`super::local::LocalEndpoint`].
    pub fn from_profile(profile: &Profile) -> Result<Self, HubError> {
        let mut target = match &profile.kind {
            ProfileKind::LocalEmulator { port, hub, .. } => {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
                let cs = crate::emulator::connection_string(
                    addr,
                    crate::emulator::DEFAULT_KEY_NAME,
                    crate::emulator::DEFAULT_KEY,
                );
                Self::from_connection_string(&cs, Some(hub))?
            }
            ProfileKind::ConnectionString {
                connection_string,
                hub,
            } => Self::from_connection_string(connection_string.expose(), hub.as_deref())?,
            ProfileKind::EntraId {
                namespace,
                hub,
                credential,
            } => Self {
                hub: hub.clone(),
                endpoint_label: format!("sb://{namespace}/{hub}"),
                consumer_group: String::new(),
                auth: Auth::Credential {
                    namespace: namespace.clone(),
                    credential: build_credential(credential)?,
                },
                custom_endpoint: None,
                transport: Transport::Amqp,
            },
        };
        target.apply_common(profile);
        Ok(target)
    }

    /// The namespace as checkpoint stores name it: `host[:port]` of the endpoint the
    /// connection string or profile names.
    #[must_use]
    pub fn namespace(&self) -> String {
        match &self.auth {
            Auth::ConnectionString(cs) => ConnectionString::parse(cs)
                .map(|cs| match cs.port {
                    Some(port) => format!("{}:{port}", cs.host),
                    None => cs.host,
                })
                .unwrap_or_default(),
            Auth::Credential { namespace, .. } => namespace.clone(),
        }
    }

    /// The profile's Entra ID credential, for stores reached by account URL.
    #[must_use]
    pub fn credential(&self) -> Option<Arc<dyn TokenCredential>> {
        match &self.auth {
            Auth::ConnectionString(_) => None,
            Auth::Credential { credential, .. } => Some(credential.clone()),
        }
    }

    /// The embedded endpoint at `custom_endpoint`, reached with its connection string.
    pub(crate) fn local(
        connection_string: String,
        custom_endpoint: String,
        profile: &Profile,
        hub: &str,
    ) -> Self {
        let mut target = Self {
            hub: hub.to_string(),
            endpoint_label: format!("{custom_endpoint}/{hub}"),
            consumer_group: String::new(),
            auth: Auth::ConnectionString(connection_string),
            custom_endpoint: Some(custom_endpoint),
            transport: Transport::Amqp,
        };
        target.apply_common(profile);
        target
    }

    fn apply_common(&mut self, profile: &Profile) {
        self.consumer_group.clone_from(&profile.consumer_group);
        self.transport = profile.transport;
        if let Some(endpoint) = profile.custom_endpoint.as_ref().filter(|e| !e.is_empty()) {
            self.custom_endpoint = Some(endpoint.clone());
            self.endpoint_label = format!("{endpoint}/{}", self.hub);
        }
    }

    fn transport(&self) -> AmqpTransport {
        match self.transport {
            Transport::Amqp => AmqpTransport::Tcp,
            Transport::AmqpWebSockets => AmqpTransport::WebSocket,
        }
    }

    /// Opens a consumer client (management calls, receivers) on this target's consumer group.
    pub async fn open_consumer(&self) -> Result<ConsumerClient, HubError> {
        self.open_consumer_with(None).await
    }

    /// A consumer client whose receivers do not recover by themselves: the SDK's recovery
    /// replays from the original start position, so readers reconnect on their own instead.
    pub async fn open_consumer_for_reader(&self) -> Result<ConsumerClient, HubError> {
        self.open_consumer_with(Some(azure_messaging_eventhubs::RetryOptions {
            max_retries: 0,
            ..Default::default()
        }))
        .await
    }

    async fn open_consumer_with(
        &self,
        retry: Option<azure_messaging_eventhubs::RetryOptions>,
    ) -> Result<ConsumerClient, HubError> {
        let mut builder = ConsumerClient::builder()
            .with_application_id("hubscope".to_string())
            .with_consumer_group(self.consumer_group.clone())
            .with_transport(self.transport());
        if let Some(retry) = retry {
            builder = builder.with_retry_options(retry);
        }
        if let Some(endpoint) = &self.custom_endpoint {
            builder = builder.with_custom_endpoint(endpoint.clone());
        }
        let opened = match &self.auth {
            Auth::ConnectionString(cs) => {
                builder
                    .open_with_connection_string(cs, Some(&self.hub))
                    .await
            }
            Auth::Credential {
                namespace,
                credential,
            } => {
                builder
                    .open(namespace, self.hub.clone(), credential.clone())
                    .await
            }
        };
        opened.map_err(|e| HubError::from_sdk("open a connection", &e))
    }

    /// Opens a producer client.
    pub async fn open_producer(&self) -> Result<ProducerClient, HubError> {
        let mut builder = ProducerClient::builder()
            .with_application_id("hubscope".to_string())
            .with_transport(self.transport());
        if let Some(endpoint) = &self.custom_endpoint {
            builder = builder.with_custom_endpoint(endpoint.clone());
        }
        let opened = match &self.auth {
            Auth::ConnectionString(cs) => {
                builder
                    .open_with_connection_string(cs, Some(&self.hub))
                    .await
            }
            Auth::Credential {
                namespace,
                credential,
            } => builder.open(namespace, &self.hub, credential.clone()).await,
        };
        opened.map_err(|e| HubError::from_sdk("open a connection", &e))
    }
}

pub(crate) fn build_credential(choice: &Credential) -> Result<Arc<dyn TokenCredential>, HubError> {
    let failed = |e: azure_core::Error| HubError::Credential(e.to_string());
    Ok(match choice {
        Credential::DeveloperTools => DeveloperToolsCredential::new(None).map_err(failed)?,
        Credential::ClientSecret {
            tenant_id,
            client_id,
            client_secret,
        } => ClientSecretCredential::new(
            tenant_id,
            client_id.clone(),
            client_secret.expose().to_string().into(),
            None,
        )
        .map_err(failed)?,
        Credential::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id
                    .as_ref()
                    .filter(|id| !id.is_empty())
                    .map(|id| UserAssignedId::ClientId(id.clone())),
                ..Default::default()
            }))
            .map_err(failed)?
        }
        Credential::WorkloadIdentity => WorkloadIdentityCredential::new(None).map_err(failed)?,
    })
}
