//! Where a checkpoint store is and how to sign in to it: an Azure Storage connection string
//! (`UseDevelopmentStorage=true` for Azurite, an account key, or a SAS) or an account URL that
//! signs in with the profile's Entra ID credential. Secrets stay out of `Debug`.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use base64::Engine as _;

use super::StoreError;

/// Azurite's and the old storage emulator's well-known account (published, not a secret).
const DEVELOPMENT_ACCOUNT: &str = "devstoreaccount1";
const DEVELOPMENT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEVELOPMENT_BLOB_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// How requests to the account are signed.
#[derive(Clone)]
pub(crate) enum Auth {
    /// Shared Key: every request signed with the account key.
    SharedKey { key: Vec<u8> },
    /// A SAS query string (without the `?`), appended to every request.
    Sas(String),
    /// A bearer token for `https://storage.azure.com/.default`.
    Token(Arc<dyn TokenCredential>),
}

/// A storage account's Blob endpoint and its credentials.
#[derive(Clone)]
pub struct StorageAccount {
    /// The account name, as Shared Key signs it.
    pub(crate) name: String,
    /// The Blob endpoint, without a trailing `/` (path-style for Azurite: `.../devstoreaccount1`).
    pub(crate) endpoint: String,
    pub(crate) auth: Auth,
}

impl fmt::Debug for StorageAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageAccount")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl StorageAccount {
    /// A connection string, or an account URL (`https://<account>.blob.core.windows.net`) that
    /// signs in with `credential`.
    pub fn parse(
        store: &str,
        credential: Option<Arc<dyn TokenCredential>>,
    ) -> Result<Self, StoreError> {
        let store = store.trim();
        if store.is_empty() {
            return Err(StoreError::Config(
                "the checkpoint store is empty: give a storage connection string or an account URL"
                    .into(),
            ));
        }
        if store.starts_with("https://") || store.starts_with("http://") {
            return Self::from_url(store, credential);
        }
        Self::from_connection_string(store)
    }

    /// Where the account is, for messages; never contains a secret.
    #[must_use]
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn from_url(
        url: &str,
        credential: Option<Arc<dyn TokenCredential>>,
    ) -> Result<Self, StoreError> {
        let (base, sas) = match url.split_once('?') {
            Some((base, query)) if !query.is_empty() => (base, Some(query.to_string())),
            _ => (url.split('?').next().unwrap_or(url), None),
        };
        let endpoint = base.trim_end_matches('/').to_string();
        let host = endpoint
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            .unwrap_or_default();
        let name = host.split('.').next().unwrap_or_default().to_string();
        if name.is_empty() {
            return Err(StoreError::Config(format!(
                "`{endpoint}` is not an account URL (expected https://<account>.blob.core.windows.net)"
            )));
        }
        let auth = match (sas, credential) {
            (Some(sas), _) => Auth::Sas(sas),
            (None, Some(credential)) => Auth::Token(credential),
            (None, None) => return Err(StoreError::NeedsCredential),
        };
        Ok(Self {
            name,
            endpoint,
            auth,
        })
    }

    fn from_connection_string(text: &str) -> Result<Self, StoreError> {
        let mut fields = std::collections::HashMap::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                StoreError::Config(format!(
                    "storage connection string: `{}` is not a Key=Value pair",
                    redact(part)
                ))
            })?;
            fields.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        let field = |name: &str| fields.get(name).filter(|v| !v.is_empty()).cloned();
        if field("usedevelopmentstorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            let endpoint = field("developmentstorageproxyuri").map_or_else(
                || DEVELOPMENT_BLOB_ENDPOINT.to_string(),
                |proxy| format!("{}/{DEVELOPMENT_ACCOUNT}", proxy.trim_end_matches('/')),
            );
            return Ok(Self {
                name: DEVELOPMENT_ACCOUNT.into(),
                endpoint,
                auth: shared_key(DEVELOPMENT_KEY)?,
            });
        }
        let name = field("accountname");
        let endpoint = match (field("blobendpoint"), &name) {
            (Some(endpoint), _) => endpoint.trim_end_matches('/').to_string(),
            (None, Some(account)) => {
                let protocol = field("defaultendpointsprotocol").unwrap_or_else(|| "https".into());
                let suffix = field("endpointsuffix").unwrap_or_else(|| "core.windows.net".into());
                format!("{protocol}://{account}.blob.{suffix}")
            }
            (None, None) => {
                return Err(StoreError::Config(
                    "storage connection string: `AccountName` (or `BlobEndpoint`) is missing"
                        .into(),
                ))
            }
        };
        let auth = match (field("accountkey"), field("sharedaccesssignature")) {
            (Some(key), _) => shared_key(&key)?,
            (None, Some(sas)) => Auth::Sas(sas.trim_start_matches('?').to_string()),
            (None, None) => {
                return Err(StoreError::Config(
                    "storage connection string: `AccountKey` is missing (or give a \
                     `SharedAccessSignature`)"
                        .into(),
                ))
            }
        };
        let name = match name {
            Some(name) => name,
            None if matches!(auth, Auth::SharedKey { .. }) => {
                return Err(StoreError::Config(
                    "storage connection string: an `AccountKey` needs its `AccountName`".into(),
                ))
            }
            None => String::new(),
        };
        Ok(Self {
            name,
            endpoint,
            auth,
        })
    }
}

fn shared_key(key: &str) -> Result<Auth, StoreError> {
    base64::engine::general_purpose::STANDARD
        .decode(key)
        .map(|key| Auth::SharedKey { key })
        .map_err(|_| {
            StoreError::Config("storage connection string: `AccountKey` is not base64".into())
        })
}

/// A pair as the user may see it again in an error: the name, never the value.
fn redact(part: &str) -> String {
    if part.len() > 24 {
        format!("{}…", part.chars().take(12).collect::<String>())
    } else {
        part.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn development_storage_is_azurite() {
        let account = StorageAccount::parse("UseDevelopmentStorage=true", None).unwrap();
        assert_eq!(account.name, "devstoreaccount1");
        assert_eq!(account.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert!(matches!(account.auth, Auth::SharedKey { .. }));
    }

    #[test]
    fn an_account_key_string_names_its_endpoint() {
        let account = StorageAccount::parse(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=a2V5;EndpointSuffix=core.windows.net",
            None,
        )
        .unwrap();
        assert_eq!(account.endpoint, "https://acme.blob.core.windows.net");
        let azurite = StorageAccount::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;\
             BlobEndpoint=http://127.0.0.1:10099/devstoreaccount1/;",
            None,
        )
        .unwrap();
        assert_eq!(azurite.endpoint, "http://127.0.0.1:10099/devstoreaccount1");
    }

    #[test]
    fn says_what_is_wrong_without_the_secret() {
        for (text, expected) in [
            ("", "empty"),
            ("AccountName=acme", "`AccountKey` is missing"),
            ("AccountName=acme;AccountKey=not base64!", "not base64"),
            ("AccountKey=a2V5", "`AccountName`"),
            ("https://acme.blob.core.windows.net", "Entra ID credential"),
        ] {
            let error = StorageAccount::parse(text, None).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(!error.contains("a2V5"), "{error}");
        }
    }

    #[test]
    fn an_account_url_may_carry_a_sas() {
        let account =
            StorageAccount::parse("https://acme.blob.core.windows.net/?sv=2022&sig=x", None)
                .unwrap();
        assert_eq!(account.name, "acme");
        assert!(matches!(&account.auth, Auth::Sas(sas) if sas == "sv=2022&sig=x"));
        assert!(!format!("{account:?}").contains("sig"));
    }
}
