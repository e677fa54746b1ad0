//! Where a namespace sits in Azure Resource Manager: the subscription and resource group a
//! profile may name, so that hubs can be managed through Azure roles when the namespace's own
//! API refuses the profile's credential.

use serde::{Deserialize, Serialize};

use super::fields::FieldError;

/// Resource Manager's public endpoint.
pub const RESOURCE_MANAGER: &str = "https://management.azure.com";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceManagerSettings {
    pub subscription_id: String,
    pub resource_group: String,
    /// Another Resource Manager endpoint than [`RESOURCE_MANAGER`]: a sovereign cloud's, or an
    /// endpoint that serves its API on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl ResourceManagerSettings {
    /// Settings only when something was typed: an empty section means no fallback.
    #[must_use]
    pub fn given(self) -> Option<Self> {
        let blank = self.subscription_id.trim().is_empty()
            && self.resource_group.trim().is_empty()
            && self.endpoint.as_deref().is_none_or(|e| e.trim().is_empty());
        (!blank).then_some(self)
    }

    #[must_use]
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .unwrap_or(RESOURCE_MANAGER)
    }

    /// Both names are needed, and neither may hold a `/`.
    #[must_use]
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut check = |field, value: &str, what: &str| {
            if value.trim().is_empty() || value.contains('/') {
                errors.push(FieldError {
                    field,
                    message: format!("the namespace's {what}, as the Azure portal shows it"),
                });
            }
        };
        check("arm_subscription", &self.subscription_id, "subscription id");
        check("arm_resource_group", &self.resource_group, "resource group");
        let endpoint = self.endpoint();
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            errors.push(FieldError {
                field: "arm_endpoint",
                message: "must start with https:// or http://".into(),
            });
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_names_are_needed_and_blank_means_none() {
        assert_eq!(ResourceManagerSettings::default().given(), None);
        let half = ResourceManagerSettings {
            subscription_id: "0000-1111".into(),
            ..ResourceManagerSettings::default()
        };
        let fields: Vec<_> = half.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["arm_resource_group"]);
        let whole = ResourceManagerSettings {
            resource_group: "rg".into(),
            endpoint: Some("ftp://x".into()),
            ..half
        };
        let fields: Vec<_> = whole.validate().iter().map(|e| e.field).collect();
        assert_eq!(fields, ["arm_endpoint"]);
        assert_eq!(
            ResourceManagerSettings::default().endpoint(),
            RESOURCE_MANAGER
        );
    }
}
