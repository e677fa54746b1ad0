//! A profile's checkpoint store: where its hub's processors record their progress, for the
//! Consumer groups tab. The store string may hold an account key or a SAS: it is a [`Secret`].

use serde::{Deserialize, Serialize};

use super::fields::{FieldError, Secret};
use crate::checkpoints::{Layout, StorageAccount, StoreError};
use crate::emulator::config::DurationError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckpointStoreSettings {
    /// A storage connection string (`UseDevelopmentStorage=true` for Azurite), or an account URL
    /// that signs in with the profile's Entra ID credential.
    pub store: Secret,
    pub container: String,
    #[serde(default)]
    pub layout: Layout,
    /// The namespace as the store names it, when it is not the profile's `host[:port]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The hub's retention as typed (`7d`), for the expiry warnings; the embedded endpoint's is
    /// known without it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub retention: String,
    /// Groups to show even without checkpoints (the store only knows those that checkpoint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl CheckpointStoreSettings {
    /// Problems with these settings; an account URL is fine when the profile has a credential.
    #[must_use]
    pub fn validate(&self, has_credential: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        match StorageAccount::parse(self.store.expose(), None) {
            Ok(_) => {}
            Err(StoreError::NeedsCredential) if has_credential => {}
            Err(e) => errors.push(FieldError {
                field: "checkpoint_store",
                message: e.to_string(),
            }),
        }
        if let Err(e) = self.retention_duration() {
            errors.push(FieldError {
                field: "checkpoint_retention",
                message: e.to_string(),
            });
        }
        if self.container.trim().is_empty() {
            errors.push(FieldError {
                field: "checkpoint_container",
                message: "name the container (Azure Functions: azure-webjobs-eventhub)".into(),
            });
        }
        errors
    }

    /// The typed retention, if any.
    ///
    /// # Errors
    /// A [`DurationError`] when the retention is not a duration.
    pub fn retention_duration(&self) -> Result<Option<std::time::Duration>, DurationError> {
        let text = self.retention.trim();
        if text.is_empty() {
            return Ok(None);
        }
        crate::emulator::config::parse_duration(text).map(Some)
    }

    /// The same settings with the key or SAS left out, for exports without secrets.
    #[must_use]
    pub fn without_secret(&self) -> Self {
        let kept: Vec<&str> = self
            .store
            .expose()
            .split(';')
            .filter(|part| {
                let name = part.split('=').next().unwrap_or_default().trim();
                !name.eq_ignore_ascii_case("AccountKey")
                    && !name.eq_ignore_ascii_case("SharedAccessSignature")
            })
            .collect();
        // An account URL's SAS is its query.
        let store = kept.join(";");
        let store = store.split('?').next().unwrap_or_default().to_string();
        Self {
            store: Secret::new(store),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(store: &str, container: &str) -> CheckpointStoreSettings {
        CheckpointStoreSettings {
            store: Secret::new(store),
            container: container.into(),
            ..CheckpointStoreSettings::default()
        }
    }

    #[test]
    fn each_problem_is_tied_to_its_field() {
        assert!(settings("UseDevelopmentStorage=true", "checkpoints")
            .validate(false)
            .is_empty());
        let errors = settings("AccountName=a", "").validate(false);
        let fields: Vec<_> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["checkpoint_store", "checkpoint_container"]);
        let url = settings("https://acme.blob.core.windows.net", "c");
        assert!(url.validate(true).is_empty());
        assert_eq!(url.validate(false)[0].field, "checkpoint_store");
        let mut typed = settings("UseDevelopmentStorage=true", "c");
        typed.retention = "7w".into();
        assert_eq!(typed.validate(false)[0].field, "checkpoint_retention");
        typed.retention = "7d".into();
        assert_eq!(
            typed.retention_duration(),
            Ok(Some(std::time::Duration::from_secs(604_800)))
        );
    }

    #[test]
    fn exports_leave_the_key_and_sas_out() {
        let key = settings(
            "AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net",
            "c",
        );
        assert_eq!(
            key.without_secret().store.expose(),
            "AccountName=a;EndpointSuffix=core.windows.net"
        );
        let sas = settings("https://a.blob.core.windows.net/?sv=1&sig=s3cret", "c");
        assert_eq!(
            sas.without_secret().store.expose(),
            "https://a.blob.core.windows.net/"
        );
    }
}
