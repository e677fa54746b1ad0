//! Azure Resource Manager's view of the namespace (`Microsoft.EventHub`, api-version
//! 2024-01-01): the fallback when the namespace's own API refuses the credential, for people
//! whose rights are Azure roles on the resource rather than a Manage claim. JSON over HTTPS on
//! `management.azure.com`, an Entra ID bearer token for it.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::{Method, StatusCode};

use super::access::ArmAccess;
use super::http::{bearer, unreachable};
use super::{HubInfo, ManagementError};
use crate::emulator::management::arm::{
    ErrorResponse, GroupResource, HubProperties, HubResource, List, API_VERSION,
};

/// Pages followed at most, so that a `nextLink` that loops cannot keep a list going for ever.
const MAX_PAGES: usize = 1000;

#[derive(Debug, Clone)]
pub(super) struct ArmApi {
    access: ArmAccess,
    http: reqwest::Client,
}

impl ArmApi {
    pub(super) fn new(access: ArmAccess, http: reqwest::Client) -> Self {
        Self { access, http }
    }

    pub(super) fn base_url(&self) -> &str {
        &self.access.base_url
    }

    pub(super) async fn list_hubs(&self) -> Result<Vec<HubInfo>, ManagementError> {
        let hubs: Vec<HubResource> = self.list("eventhubs").await?;
        Ok(hubs.iter().filter_map(hub_info).collect())
    }

    pub(super) async fn list_groups(&self, hub: &str) -> Result<Vec<String>, ManagementError> {
        let groups: Vec<GroupResource> = self
            .list(&format!("eventhubs/{}/consumergroups", segment(hub)))
            .await?;
        Ok(groups.into_iter().filter_map(|g| g.name).collect())
    }

    /// ARM's PUT would change an existing hub, so a create first makes sure there is none.
    pub(super) async fn create_hub(
        &self,
        name: &str,
        partition_count: u32,
        retention_days: u32,
    ) -> Result<HubInfo, ManagementError> {
        let path = format!("eventhubs/{}", segment(name));
        if self.exists(&path).await? {
            return Err(exists(&format!("the event hub '{name}'")));
        }
        let wanted = HubResource {
            properties: HubProperties {
                partition_count: Some(partition_count),
                message_retention_in_days: Some(u64::from(retention_days)),
                ..HubProperties::default()
            },
            ..HubResource::default()
        };
        let body = serde_json::to_string(&wanted).map_err(|e| self.not_the_api(&e))?;
        let (_, text) = self.call(Method::PUT, &self.url(&path), Some(body)).await?;
        let hub: HubResource = serde_json::from_str(&text).map_err(|e| self.not_the_api(&e))?;
        hub_info(&hub).ok_or_else(|| self.not_the_api(&"the answer describes no hub"))
    }

    pub(super) async fn delete_hub(&self, name: &str) -> Result<(), ManagementError> {
        self.delete(
            &format!("eventhubs/{}", segment(name)),
            &format!("the event hub '{name}'"),
        )
        .await
    }

    pub(super) async fn create_group(&self, hub: &str, name: &str) -> Result<(), ManagementError> {
        let path = format!(
            "eventhubs/{}/consumergroups/{}",
            segment(hub),
            segment(name)
        );
        if self.exists(&path).await? {
            return Err(exists(&format!("the consumer group '{name}' of '{hub}'")));
        }
        let body = r#"{"properties":{}}"#.to_owned();
        self.call(Method::PUT, &self.url(&path), Some(body))
            .await
            .map(drop)
    }

    pub(super) async fn delete_group(&self, hub: &str, name: &str) -> Result<(), ManagementError> {
        let path = format!(
            "eventhubs/{}/consumergroups/{}",
            segment(hub),
            segment(name)
        );
        self.delete(&path, &format!("the consumer group '{name}' of '{hub}'"))
            .await
    }

    /// ARM answers a DELETE of something that is not there with 204.
    async fn delete(&self, path: &str, what: &str) -> Result<(), ManagementError> {
        let (status, _) = self.call(Method::DELETE, &self.url(path), None).await?;
        if status == StatusCode::NO_CONTENT {
            return Err(ManagementError::NotFound(format!("{what} does not exist")));
        }
        Ok(())
    }

    async fn exists(&self, path: &str) -> Result<bool, ManagementError> {
        match self.call(Method::GET, &self.url(path), None).await {
            Ok(_) => Ok(true),
            Err(ManagementError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list, following `nextLink`.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, ManagementError> {
        let mut items = Vec::new();
        let mut url = self.url(path);
        for _ in 0..MAX_PAGES {
            let (_, text) = self.call(Method::GET, &url, None).await?;
            let page: List<T> = serde_json::from_str(&text).map_err(|e| self.not_the_api(&e))?;
            items.extend(page.value);
            match page.next_link.filter(|l| !l.is_empty()) {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
        Err(self.not_the_api(&format!(
            "the list at {path} did not end after {MAX_PAGES} pages"
        )))
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{path}?api-version={API_VERSION}",
            self.access.base_url, self.access.namespace_path
        )
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<(StatusCode, String), ManagementError> {
        let token = bearer(self.access.credential.as_ref(), &self.access.token_scope())
            .await
            .map_err(|e| match e {
                ManagementError::Credential(why) => ManagementError::Credential(format!(
                    "Resource Manager needs an Entra ID sign-in (az login, or an Entra ID profile): {why}"
                )),
                other => other,
            })?;
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let unreachable = |e: &reqwest::Error| unreachable(&self.access.base_url, e);
        let response = request.send().await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| unreachable(&e))?;
        if status.is_success() {
            return Ok((status, text));
        }
        let detail = serde_json::from_str::<ErrorResponse>(&text).map_or_else(
            |_| format!("HTTP {status}"),
            |body| body.error.message.trim().trim_end_matches('.').to_owned(),
        );
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(ManagementError::ResourceManagerDenied(detail));
        }
        let detail = format!("Resource Manager: {detail}");
        Err(match status {
            StatusCode::NOT_FOUND => ManagementError::NotFound(detail),
            _ => ManagementError::Refused {
                status: status.as_u16(),
                detail,
            },
        })
    }

    fn not_the_api(&self, detail: &dyn std::fmt::Display) -> ManagementError {
        ManagementError::NotTheApi {
            url: self.access.base_url.clone(),
            detail: detail.to_string(),
        }
    }
}

fn exists(what: &str) -> ManagementError {
    ManagementError::Refused {
        status: 409,
        detail: format!("Conflict. {what} already exists"),
    }
}

/// What a name keeps unescaped as one path segment: Resource Manager names hold no `/`, and
/// `$Default` goes as it is.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'$')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

fn segment(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

fn hub_info(hub: &HubResource) -> Option<HubInfo> {
    let properties = &hub.properties;
    let (partition_count, partition_ids) =
        super::partitions(properties.partition_count, properties.partition_ids.clone());
    Some(HubInfo {
        name: hub.name.clone()?,
        partition_count,
        partition_ids,
        retention_secs: properties.retention_secs().unwrap_or(0),
        status: properties.status.clone().unwrap_or_default(),
        created_at: properties.created_at.clone(),
        consumer_groups: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_escaped_segment() {
        assert_eq!(segment("$Default"), "$Default");
        assert_eq!(segment("orders-eu_1.v2"), "orders-eu_1.v2");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn a_hub_without_ids_gets_them_from_its_count() {
        let hub: HubResource =
            serde_json::from_str(r#"{"name": "h", "properties": {"partitionCount": 2}}"#)
                .expect("reads");
        let info = hub_info(&hub).expect("a hub");
        assert_eq!(info.partition_ids, ["0", "1"]);
        assert_eq!(info.retention_secs, 0);
    }
}
