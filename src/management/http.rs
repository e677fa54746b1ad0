//! What the namespace's API and Resource Manager's share over HTTP: the bearer header from an
//! Entra ID credential, and a request that got no answer, in one line.

use azure_core::credentials::TokenCredential;

use super::ManagementError;

/// `Bearer <token>` for `scope` from an Entra ID credential.
pub(super) async fn bearer(
    credential: &dyn TokenCredential,
    scope: &str,
) -> Result<String, ManagementError> {
    let token = credential
        .get_token(&[scope], None)
        .await
        .map_err(|e| ManagementError::Credential(crate::error_text::one_line(&e, |_| None)))?;
    Ok(format!("Bearer {}", token.token.secret()))
}

/// A request that got no answer from `url`, in one line.
pub(super) fn unreachable(url: &str, e: &reqwest::Error) -> ManagementError {
    ManagementError::Unreachable {
        url: url.to_owned(),
        detail: if e.is_timeout() {
            "no answer in time".into()
        } else {
            crate::error_text::one_line(e, |_| None)
        },
    }
}
