//! The namespace's own management API (Atom over HTTPS on the namespace host): one HTTP request
//! per call, signed for the namespace, and the service's error body turned into one line.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use reqwest::{Method, StatusCode};

use super::access::{Access, Auth};
use super::http::{bearer, unreachable};
use super::{HubInfo, ManagementError};
use crate::emulator::management::atom::{
    self, Description, Entry, ErrorBody, Feed, GroupDescription, HubDescription,
};

const API_VERSION: &str = "api-version=2014-01";
/// Entries asked for per page of a list.
const PAGE: usize = 100;
/// The audience of Entra ID tokens for Event Hubs, management included.
const TOKEN_SCOPE: &str = "https://eventhubs.azure.net/.default";
/// How long a SAS token made for one request stays valid.
const TOKEN_LIFETIME_S: i64 = 3600;
/// Path characters sent escaped; hub names may hold `/`, and `$Default` goes as it is.
const PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'?')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A namespace's management API.
#[derive(Debug, Clone)]
pub(super) struct AtomApi {
    access: Access,
    http: reqwest::Client,
}

impl AtomApi {
    pub(super) fn new(access: Access, http: reqwest::Client) -> Self {
        Self { access, http }
    }

    pub(super) fn base_url(&self) -> &str {
        &self.access.base_url
    }

    /// Every hub, page by page.
    ///
    /// # Errors
    /// A [`ManagementError`] saying why the namespace could not be listed.
    pub(super) async fn list_hubs(&self) -> Result<Vec<HubInfo>, ManagementError> {
        let feeds = self.list("$Resources/EventHubs").await?;
        Ok(feeds.iter().filter_map(hub_info).collect())
    }

    /// A hub's consumer groups, `$Default` first as the namespace lists them.
    ///
    /// # Errors
    /// [`ManagementError::NotFound`] for a hub that does not exist, and the rest.
    pub(super) async fn list_groups(&self, hub: &str) -> Result<Vec<String>, ManagementError> {
        let entries = self.list(&format!("{hub}/consumergroups")).await?;
        Ok(entries
            .iter()
            .filter(|e| e.group().is_some())
            .filter_map(|e| e.name().map(str::to_owned))
            .collect())
    }

    /// Creates a hub; the namespace says what it made of it.
    ///
    /// # Errors
    /// [`ManagementError::Refused`] with the namespace's reason (it exists, a quota, a bad name
    /// or count), and the rest.
    pub(super) async fn create_hub(
        &self,
        name: &str,
        partition_count: u32,
        retention_days: u32,
    ) -> Result<HubInfo, ManagementError> {
        let mut description = HubDescription::new();
        description.message_retention_in_days = Some(retention_days);
        description.partition_count = Some(partition_count);
        let body = atom::to_xml(&Entry::request(Description::EventHubDescription(
            description,
        )))
        .map_err(|e| self.not_the_api(&e.to_string()))?;
        let answer = self.call(Method::PUT, name, "", Some(body)).await?;
        let entry: Entry = self.read(&answer)?;
        hub_info(&entry).ok_or_else(|| self.not_the_api("the answer describes no hub"))
    }

    /// Deletes a hub with its events.
    ///
    /// # Errors
    /// [`ManagementError::NotFound`] when there is no such hub, and the rest.
    pub(super) async fn delete_hub(&self, name: &str) -> Result<(), ManagementError> {
        self.call(Method::DELETE, name, "", None).await.map(drop)
    }

    /// Creates a consumer group on a hub.
    ///
    /// # Errors
    /// [`ManagementError::Refused`] with the namespace's reason, and the rest.
    pub(super) async fn create_group(&self, hub: &str, name: &str) -> Result<(), ManagementError> {
        let body = atom::to_xml(&Entry::request(Description::ConsumerGroupDescription(
            GroupDescription::new(),
        )))
        .map_err(|e| self.not_the_api(&e.to_string()))?;
        let path = format!("{hub}/consumergroups/{name}");
        self.call(Method::PUT, &path, "", Some(body))
            .await
            .map(drop)
    }

    /// Deletes a consumer group.
    ///
    /// # Errors
    /// [`ManagementError::NotFound`] when the hub or group does not exist, and the rest.
    pub(super) async fn delete_group(&self, hub: &str, name: &str) -> Result<(), ManagementError> {
        let path = format!("{hub}/consumergroups/{name}");
        self.call(Method::DELETE, &path, "", None).await.map(drop)
    }

    /// Every entry of a list, following `$skip` until a page comes back short.
    async fn list(&self, path: &str) -> Result<Vec<Entry>, ManagementError> {
        let mut entries = Vec::new();
        loop {
            let query = format!("&$skip={}&$top={PAGE}", entries.len());
            let answer = self.call(Method::GET, path, &query, None).await?;
            let feed: Feed = self.read(&answer)?;
            if feed.title.value == atom::NOTHING_THERE {
                return Err(ManagementError::NotFound(format!(
                    "'{path}' does not exist in namespace {}",
                    self.access.namespace
                )));
            }
            let short = feed.entries.len() < PAGE;
            entries.extend(feed.entries);
            if short {
                return Ok(entries);
            }
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<String>,
    ) -> Result<String, ManagementError> {
        let path = utf8_percent_encode(path.trim_start_matches('/'), PATH);
        let url = format!("{}/{path}?{API_VERSION}{query}", self.access.base_url);
        let mut request = self.http.request(method, &url);
        request = request.header("authorization", self.authorization().await?);
        if let Some(body) = body {
            request = request.header("content-type", atom::ENTRY_TYPE).body(body);
        }
        let unreachable = |e: &reqwest::Error| unreachable(&self.access.base_url, e);
        let response = request.send().await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| unreachable(&e))?;
        if status.is_success() {
            return Ok(text);
        }
        let detail = atom::from_xml::<ErrorBody>(&text).map_or_else(
            |_| format!("HTTP {status}"),
            |body| service_words(&body.detail),
        );
        Err(match status {
            StatusCode::UNAUTHORIZED => ManagementError::Denied(detail),
            StatusCode::NOT_FOUND => ManagementError::NotFound(detail),
            _ => ManagementError::Refused {
                status: status.as_u16(),
                detail,
            },
        })
    }

    async fn authorization(&self) -> Result<String, ManagementError> {
        match &self.access.auth {
            Auth::Key { key_name, key } => {
                let expires = time::OffsetDateTime::now_utc().unix_timestamp() + TOKEN_LIFETIME_S;
                let resource = format!("{}/", self.access.base_url);
                Ok(crate::emulator::service::auth::sas_token(
                    &resource, key_name, key, expires,
                ))
            }
            Auth::Credential(credential) => bearer(credential.as_ref(), TOKEN_SCOPE).await,
        }
    }

    fn read<T: for<'de> serde::Deserialize<'de>>(&self, text: &str) -> Result<T, ManagementError> {
        atom::from_xml(text).map_err(|e| self.not_the_api(&e.to_string()))
    }

    fn not_the_api(&self, detail: &str) -> ManagementError {
        ManagementError::NotTheApi {
            url: self.access.base_url.clone(),
            detail: detail.to_owned(),
        }
    }
}

/// The service's detail without what is for its support staff: the sub-code, the tracking id,
/// and the link.
fn service_words(detail: &str) -> String {
    let detail = match detail.strip_prefix("SubCode=") {
        Some(rest) => rest.split_once(". ").map_or(rest, |(_, words)| words),
        None => detail,
    };
    let cut = ["TrackingId:", "To know more visit"]
        .iter()
        .filter_map(|marker| detail.find(marker))
        .min()
        .unwrap_or(detail.len());
    detail[..cut]
        .trim()
        .trim_end_matches(['.', ' ', ','])
        .to_owned()
}

fn hub_info(entry: &Entry) -> Option<HubInfo> {
    let hub = entry.hub()?;
    let (partition_count, partition_ids) = super::partitions(
        hub.partition_count,
        hub.partition_ids.as_ref().map(|p| p.ids.clone()),
    );
    Some(HubInfo {
        name: entry.name()?.to_owned(),
        partition_count,
        partition_ids,
        retention_secs: u64::from(hub.message_retention_in_days.unwrap_or(0)) * 86_400,
        status: hub.status.clone().unwrap_or_default(),
        created_at: hub
            .created_at
            .as_deref()
            .and_then(atom::parse_time)
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
        consumer_groups: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_services_detail_loses_its_tracking_id() {
        assert_eq!(
            service_words("SubCode=40900. Conflict. The messaging entity 'x' already exists. To know more visit https://aka.ms/sbResourceMgrExceptions. TrackingId:abc, SystemTracker:x"),
            "Conflict. The messaging entity 'x' already exists"
        );
        assert_eq!(service_words("plain"), "plain");
    }
}
