//! Where a namespace's management API is and how to sign in to it, from what a profile or a
//! connection string says: `https://<namespace host>` for a real namespace, `http://<host>:5300`
//! under `UseDevelopmentEmulator=true`, or the endpoint given; a SAS key (which must hold the
//! Manage right) or an Entra ID credential. A profile may also name the namespace's place in
//! Resource Manager, the fallback when that credential is refused.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;

use super::ManagementError;
use crate::emulator::management::arm::PROVIDER;
use crate::profiles::{
    ConnectionString, Credential, Profile, ProfileKind, ResourceManagerSettings,
};

/// Where Microsoft's emulator answers its health check, and hubscope's endpoint its management
/// API.
pub const EMULATOR_MANAGEMENT_PORT: u16 = 5300;

/// How requests are signed.
#[derive(Clone)]
pub(super) enum Auth {
    Key { key_name: String, key: String },
    Credential(Arc<dyn TokenCredential>),
}

/// A namespace's management API and the credential to use on it.
#[derive(Clone)]
pub struct Access {
    /// `scheme://host[:port]`, no trailing slash.
    pub base_url: String,
    /// The namespace's host, for messages.
    pub namespace: String,
    pub(super) auth: Auth,
    /// Where to turn when the namespace refuses the credential.
    pub arm: Option<ArmAccess>,
}

/// The namespace as a Resource Manager resource, and the Entra ID credential for it.
#[derive(Clone)]
pub struct ArmAccess {
    /// `https://management.azure.com` or the endpoint given, no trailing slash.
    pub base_url: String,
    /// `subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.EventHub/namespaces/{name}`.
    pub namespace_path: String,
    pub(super) credential: Arc<dyn TokenCredential>,
}

impl std::fmt::Debug for ArmAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmAccess")
            .field("base_url", &self.base_url)
            .field("namespace_path", &self.namespace_path)
            .finish_non_exhaustive()
    }
}

impl ArmAccess {
    /// The namespace whose host is `namespace_host` (its name is the host's first label) in
    /// `settings`' subscription and resource group.
    ///
    /// # Errors
    /// [`ManagementError::Profile`] when the settings are incomplete.
    pub fn new(
        settings: &ResourceManagerSettings,
        namespace_host: &str,
        credential: Arc<dyn TokenCredential>,
    ) -> Result<Self, ManagementError> {
        if let Some(problem) = settings.validate().first() {
            return Err(ManagementError::Profile(format!(
                "Resource Manager: {}",
                problem.message
            )));
        }
        let name = namespace_host
            .split(['.', ':'])
            .next()
            .unwrap_or(namespace_host);
        Ok(Self {
            base_url: checked_url(settings.endpoint())?,
            namespace_path: format!(
                "subscriptions/{}/resourceGroups/{}/{PROVIDER}/{name}",
                settings.subscription_id.trim(),
                settings.resource_group.trim()
            ),
            credential,
        })
    }

    /// The audience of tokens for this Resource Manager: each cloud's is its own endpoint's
    /// origin (`https://management.usgovcloudapi.net/.default` in Azure Government), without a
    /// path or the scheme's own port.
    #[must_use]
    pub fn token_scope(&self) -> String {
        let origin = reqwest::Url::parse(&self.base_url).map_or_else(
            |_| self.base_url.clone(),
            |url| url.origin().ascii_serialization(),
        );
        format!("{origin}/.default")
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Access {
    /// From a SAS connection string; `endpoint` (a URL) overrides where its API is.
    ///
    /// # Errors
    /// [`ManagementError::Profile`] when the string cannot be read or holds no key.
    pub fn from_connection_string(
        text: &str,
        endpoint: Option<&str>,
    ) -> Result<Self, ManagementError> {
        let cs = ConnectionString::parse(text)
            .map_err(|e| ManagementError::Profile(format!("connection string: {e}")))?;
        let (Some(key_name), Some(key)) = (cs.key_name.clone(), cs.key().map(str::to_owned)) else {
            return Err(ManagementError::Profile(
                "the connection string has no SharedAccessKeyName and SharedAccessKey: managing a namespace needs a key with the Manage right".into(),
            ));
        };
        let base_url = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
            Some(endpoint) => checked_url(endpoint)?,
            None if cs.use_development_emulator => {
                format!("http://{}:{EMULATOR_MANAGEMENT_PORT}", cs.host_name())
            }
            None => format!("https://{}", cs.host),
        };
        Ok(Self {
            base_url,
            namespace: cs.host,
            auth: Auth::Key { key_name, key },
            arm: None,
        })
    }

    /// The same, with Resource Manager as the fallback; a SAS credential cannot sign in there,
    /// so the developer tools' (Azure CLI's) Entra ID credential does.
    ///
    /// # Errors
    /// As [`Self::from_connection_string`], and when the settings are incomplete.
    pub fn with_resource_manager(
        mut self,
        settings: &ResourceManagerSettings,
    ) -> Result<Self, ManagementError> {
        let credential = match &self.auth {
            Auth::Credential(credential) => credential.clone(),
            Auth::Key { .. } => crate::hub::target::build_credential(&Credential::DeveloperTools)
                .map_err(|e| ManagementError::Credential(e.to_string()))?,
        };
        self.arm = Some(ArmAccess::new(settings, &self.namespace, credential)?);
        Ok(self)
    }

    /// From a saved profile. A local-emulator profile means an endpoint on this machine with the
    /// default management port unless `endpoint` says otherwise; the app passes the one it runs.
    ///
    /// # Errors
    /// [`ManagementError::Profile`] or [`ManagementError::Credential`] when the profile cannot
    /// describe one.
    pub fn from_profile(
        profile: &Profile,
        endpoint: Option<&str>,
    ) -> Result<Self, ManagementError> {
        let endpoint = endpoint.or(profile.management_endpoint.as_deref());
        let access = Self::namespace_api(profile, endpoint)?;
        match &profile.resource_manager {
            Some(settings) => access.with_resource_manager(settings),
            None => Ok(access),
        }
    }

    fn namespace_api(profile: &Profile, endpoint: Option<&str>) -> Result<Self, ManagementError> {
        match &profile.kind {
            ProfileKind::LocalEmulator { .. } => {
                let base_url = match endpoint.filter(|e| !e.trim().is_empty()) {
                    Some(endpoint) => checked_url(endpoint)?,
                    None => format!("http://127.0.0.1:{EMULATOR_MANAGEMENT_PORT}"),
                };
                Ok(Self {
                    base_url,
                    namespace: "localhost".into(),
                    auth: Auth::Key {
                        key_name: crate::emulator::DEFAULT_KEY_NAME.into(),
                        key: crate::emulator::DEFAULT_KEY.into(),
                    },
                    arm: None,
                })
            }
            ProfileKind::ConnectionString {
                connection_string, ..
            } => Self::from_connection_string(connection_string.expose(), endpoint),
            ProfileKind::EntraId {
                namespace,
                credential,
                ..
            } => {
                let base_url = match endpoint.filter(|e| !e.trim().is_empty()) {
                    Some(endpoint) => checked_url(endpoint)?,
                    None => format!("https://{namespace}"),
                };
                let credential = crate::hub::target::build_credential(credential)
                    .map_err(|e| ManagementError::Credential(e.to_string()))?;
                Ok(Self {
                    base_url,
                    namespace: namespace.clone(),
                    auth: Auth::Credential(credential),
                    arm: None,
                })
            }
        }
    }

    /// The embedded endpoint's API at `base_url`, signed with its well-known key.
    #[must_use]
    pub fn local(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            namespace: "localhost".into(),
            auth: Auth::Key {
                key_name: crate::emulator::DEFAULT_KEY_NAME.into(),
                key: crate::emulator::DEFAULT_KEY.into(),
            },
            arm: None,
        }
    }
}

/// An endpoint as typed: `http(s)://host[:port]`, a trailing slash dropped.
fn checked_url(text: &str) -> Result<String, ManagementError> {
    let text = text.trim().trim_end_matches('/');
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(text.to_owned())
        }
        _ => Err(ManagementError::Profile(format!(
            "the management endpoint `{text}` is not an http:// or https:// URL"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_on_the_namespace_host_or_the_emulators_port() {
        let real = Access::from_connection_string(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=admin;SharedAccessKey=k",
            None,
        )
        .expect("reads");
        assert_eq!(real.base_url, "https://ns.servicebus.windows.net");
        let emulator = Access::from_connection_string(
            "Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true",
            None,
        )
        .expect("reads");
        assert_eq!(emulator.base_url, "http://localhost:5300");
        let given = Access::from_connection_string(
            "Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=v;UseDevelopmentEmulator=true",
            Some("http://127.0.0.1:6000/"),
        )
        .expect("reads");
        assert_eq!(given.base_url, "http://127.0.0.1:6000");
        let bad = Access::from_connection_string(
            "Endpoint=sb://x;SharedAccessKeyName=k;SharedAccessKey=v",
            Some("ftp://x"),
        );
        assert!(bad.is_err_and(|e| e.to_string().contains("not an http")));
        let keyless = Access::from_connection_string(
            "Endpoint=sb://x;SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1&skn=k",
            None,
        );
        assert!(keyless.is_err_and(|e| e.to_string().contains("Manage")));
    }

    #[test]
    fn resource_managers_tokens_are_for_its_own_cloud() {
        let arm = |endpoint: Option<&str>| {
            let settings = ResourceManagerSettings {
                subscription_id: "s".into(),
                resource_group: "g".into(),
                endpoint: endpoint.map(Into::into),
            };
            let credential = azure_identity::DeveloperToolsCredential::new(None).expect("made");
            ArmAccess::new(&settings, "ns.servicebus.windows.net", credential).expect("settings")
        };
        let public = arm(None);
        assert_eq!(
            public.token_scope(),
            "https://management.azure.com/.default"
        );
        let government = arm(Some("https://management.usgovcloudapi.net/"));
        assert_eq!(
            government.token_scope(),
            "https://management.usgovcloudapi.net/.default"
        );
        // A path (a gateway in front of it) or the scheme's own port is not part of the audience.
        let spelled_out = arm(Some("https://management.chinacloudapi.cn:443/arm/"));
        assert_eq!(
            spelled_out.token_scope(),
            "https://management.chinacloudapi.cn/.default"
        );
        let local = arm(Some("http://127.0.0.1:5391"));
        assert_eq!(local.token_scope(), "http://127.0.0.1:5391/.default");
    }
}
