//! A thin, read-only Blob client: List Blobs with metadata, by prefix, and Get Blob. It is all a
//! checkpoint store needs, over `reqwest` (already in the build through `azure_core`), with the
//! XML read by `quick-xml`'s serde support. `azure_storage_blob` cannot share a build with the
//! Event Hubs SDK's pinned `azure_core`; the README says more.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Deserialize;

use super::account::{Auth, StorageAccount};
use super::{signing, StoreError};

/// The REST version we speak: old enough for every Azurite release still in use.
const API_VERSION: &str = "2021-08-06";
const TOKEN_SCOPE: &str = "https://storage.azure.com/.default";
/// A blob name's path segments keep `/`, and the characters Azure SDKs leave as they are.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'$');

/// One blob in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobItem {
    pub name: String,
    pub last_modified: Option<SystemTime>,
    pub etag: String,
    /// Metadata names as the service returns them (it keeps their case; compare without).
    pub metadata: HashMap<String, String>,
}

/// What one listing found: blobs, and the next level's prefixes when a delimiter was given.
#[derive(Debug, Default)]
pub struct Listing {
    pub blobs: Vec<BlobItem>,
    pub prefixes: Vec<String>,
}

pub struct BlobClient {
    http: reqwest::Client,
    account: StorageAccount,
}

impl BlobClient {
    /// A client whose every request gives up after `timeout`.
    pub fn new(account: StorageAccount, timeout: Duration) -> Result<Self, StoreError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| {
                StoreError::Config(format!(
                    "HTTP client: {}",
                    crate::error_text::one_line(&e, |_| None)
                ))
            })?;
        Ok(Self { http, account })
    }

    #[must_use]
    pub fn account(&self) -> &StorageAccount {
        &self.account
    }

    /// Every blob under `prefix`, page after page; with `delimiter`, one level only.
    pub async fn list(
        &self,
        container: &str,
        prefix: &str,
        delimiter: Option<&str>,
    ) -> Result<Listing, StoreError> {
        let mut listing = Listing::default();
        let mut marker = String::new();
        loop {
            let mut query = vec![
                ("restype", "container".to_string()),
                ("comp", "list".to_string()),
                ("include", "metadata".to_string()),
            ];
            if !prefix.is_empty() {
                query.push(("prefix", prefix.to_string()));
            }
            if let Some(delimiter) = delimiter {
                query.push(("delimiter", delimiter.to_string()));
            }
            if !marker.is_empty() {
                query.push(("marker", std::mem::take(&mut marker)));
            }
            let body = self
                .get(container, &format!("/{container}"), &query)
                .await?;
            let page: EnumerationResults = quick_xml::de::from_str(&body).map_err(|e| {
                StoreError::Malformed(format!("a List Blobs answer is not the expected XML: {e}"))
            })?;
            for blob in page.blobs.blob {
                listing.blobs.push(BlobItem {
                    last_modified: parse_http_date(&blob.properties.last_modified),
                    etag: blob.properties.etag,
                    metadata: blob.metadata,
                    name: blob.name,
                });
            }
            listing
                .prefixes
                .extend(page.blobs.blob_prefix.into_iter().map(|p| p.name));
            match page.next_marker {
                Some(next) if !next.is_empty() => marker = next,
                _ => return Ok(listing),
            }
        }
    }

    /// A blob's content, as text (checkpoint blobs hold JSON).
    pub async fn read_text(&self, container: &str, name: &str) -> Result<String, StoreError> {
        let path = format!("/{container}/{}", utf8_percent_encode(name, PATH_SEGMENT));
        self.get(container, &path, &[]).await
    }

    async fn get(
        &self,
        container: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<String, StoreError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.account.endpoint))
            .map_err(|e| StoreError::Config(format!("`{}`: {e}", self.account.endpoint)))?;
        url.query_pairs_mut()
            .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        // A SAS is a query of its own, appended as given (it is already encoded).
        if let Auth::Sas(sas) = &self.account.auth {
            let joined = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{sas}"),
                _ => sas.clone(),
            };
            url.set_query(Some(&joined));
        }
        let date = http_date(SystemTime::now());
        let mut request = self
            .http
            .get(url.clone())
            .header("x-ms-version", API_VERSION)
            .header("x-ms-date", &date);
        match &self.account.auth {
            Auth::SharedKey { key } => {
                let ms_headers = [
                    ("x-ms-date", date.clone()),
                    ("x-ms-version", API_VERSION.to_string()),
                ];
                // The path as sent, with the endpoint's own (Azurite's `/devstoreaccount1`).
                let signed = signing::Request {
                    method: "GET",
                    ms_headers: &ms_headers,
                    account: &self.account.name,
                    path: url.path(),
                    query,
                };
                request = request.header("authorization", signing::authorization(&signed, key));
            }
            Auth::Sas(_) => {}
            Auth::Token(credential) => {
                let token = credential
                    .get_token(&[TOKEN_SCOPE], None)
                    .await
                    .map_err(|e| {
                        StoreError::Credential(crate::error_text::one_line(&e, |_| None))
                    })?;
                request = request.bearer_auth(token.token.secret());
            }
        }
        let response = request.send().await.map_err(|e| StoreError::Unreachable {
            endpoint: self.account.endpoint.clone(),
            detail: if e.is_timeout() {
                "no answer in time".into()
            } else {
                crate::error_text::one_line(&e, |_| None)
            },
        })?;
        let status = response.status();
        let code = response
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = response.text().await.map_err(|e| StoreError::Unreachable {
            endpoint: self.account.endpoint.clone(),
            detail: crate::error_text::one_line(&e, |_| None),
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let message = quick_xml::de::from_str::<ServiceError>(&body)
            .ok()
            .and_then(|e| e.message)
            .map(|m| m.lines().next().unwrap_or_default().to_string())
            .unwrap_or_default();
        Err(match code.as_str() {
            "ContainerNotFound" => StoreError::NoContainer {
                container: container.to_string(),
                account: self.account.name.clone(),
            },
            "AuthenticationFailed"
            | "AuthorizationFailure"
            | "AuthorizationPermissionMismatch"
            | "InvalidAuthenticationInfo"
            | "NoAuthenticationInformation" => StoreError::Denied { code, message },
            _ => StoreError::Service {
                status: status.as_u16(),
                code,
                message,
            },
        })
    }
}

#[derive(Deserialize)]
struct EnumerationResults {
    #[serde(rename = "Blobs", default)]
    blobs: Blobs,
    #[serde(rename = "NextMarker", default)]
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct Blobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<Blob>,
    #[serde(rename = "BlobPrefix", default)]
    blob_prefix: Vec<BlobPrefix>,
}

#[derive(Deserialize)]
struct Blob {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Properties")]
    properties: Properties,
    #[serde(rename = "Metadata", default)]
    metadata: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Properties {
    #[serde(rename = "Last-Modified", default)]
    last_modified: String,
    #[serde(rename = "Etag", default)]
    etag: String,
}

#[derive(Deserialize)]
struct BlobPrefix {
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Deserialize)]
struct ServiceError {
    #[serde(rename = "Message", default)]
    message: Option<String>,
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

fn http_date(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(HTTP_DATE)
        .unwrap_or_default()
}

fn parse_http_date(text: &str) -> Option<SystemTime> {
    time::PrimitiveDateTime::parse(text.trim(), HTTP_DATE)
        .ok()
        .map(|t| t.assume_utc().into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_with_metadata_and_prefixes() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="c">
  <Prefix>ns/</Prefix>
  <Blobs>
    <Blob>
      <Name>ns/hub/$default/checkpoint/0</Name>
      <Properties><Last-Modified>Wed, 02 Dec 2026 01:02:03 GMT</Last-Modified><Etag>0x8D</Etag><Content-Length>0</Content-Length></Properties>
      <Metadata><sequencenumber>41</sequencenumber><offset>4100</offset></Metadata>
    </Blob>
    <Blob>
      <Name>ns/hub/$default/ownership/0</Name>
      <Properties><Last-Modified>Wed, 02 Dec 2026 01:02:04 GMT</Last-Modified><Etag>0x8E</Etag></Properties>
    </Blob>
    <BlobPrefix><Name>ns/other/</Name></BlobPrefix>
  </Blobs>
  <NextMarker />
</EnumerationResults>"#;
        let page: EnumerationResults = quick_xml::de::from_str(xml).unwrap();
        assert_eq!(page.blobs.blob.len(), 2);
        assert_eq!(page.blobs.blob[0].metadata["sequencenumber"], "41");
        assert!(page.blobs.blob[1].metadata.is_empty());
        assert_eq!(page.blobs.blob_prefix[0].name, "ns/other/");
        assert!(page.next_marker.unwrap_or_default().is_empty());
        let modified = parse_http_date(&page.blobs.blob[0].properties.last_modified).unwrap();
        assert_eq!(http_date(modified), "Wed, 02 Dec 2026 01:02:03 GMT");
    }

    #[test]
    fn an_empty_container_lists_nothing() {
        let xml = "<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>";
        let page: EnumerationResults = quick_xml::de::from_str(xml).unwrap();
        assert!(page.blobs.blob.is_empty() && page.blobs.blob_prefix.is_empty());
    }
}
