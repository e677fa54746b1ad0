//! Reaching a hub: resolve a profile or flags to a [`Target`], open SDK clients, read hub and
//! partition properties. Every network call here has a timeout: the SDK has none of its own.

pub mod local;
pub mod properties;
pub mod sdk_error;
pub mod target;

use std::time::Duration;

pub use local::LocalEndpoint;
pub use properties::{probe, read_properties, HubSnapshot, PartitionSnapshot, Probe};
pub use target::Target;

/// How long a connection test or a properties call may take before it is reported as a failure.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, thiserror::Error)]
pub enum HubError {
    /// The profile or flags cannot describe a hub.
    #[error("{0}")]
    Profile(String),
    /// The credential could not be built (missing environment, bad tenant id...).
    #[error("credential: {0}")]
    Credential(String),
    #[error("could not {what} within {} s: is the endpoint reachable?", after.as_secs())]
    Timeout { what: &'static str, after: Duration },
    /// The hub or consumer group does not exist: final, retrying will not help.
    #[error("{0}")]
    NotFound(String),
    /// The SDK or the service refused.
    #[error("could not {what}: {detail}")]
    Service { what: &'static str, detail: String },
    #[error("could not start the embedded endpoint: {0}")]
    Emulator(String),
}

impl HubError {
    pub(crate) fn from_sdk(what: &'static str, error: &(dyn std::error::Error + 'static)) -> Self {
        match chain(error).find_map(sdk_error::refusal) {
            Some(refusal) if refusal.not_found => Self::NotFound(refusal.text),
            _ => Self::Service {
                what,
                detail: error_chain(error),
            },
        }
    }

    /// Whether trying again can help.
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::NotFound(_) | Self::Profile(_) | Self::Credential(_)
        )
    }
}

/// An error and its causes on one line, each cause once; the service's own words (an AMQP
/// refusal) end the chain.
#[must_use]
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    crate::error_text::one_line(error, |e| sdk_error::refusal(e).map(|r| r.text))
}

/// `error` and its sources, outermost first.
fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// Runs `future` with a timeout, turning the elapsed case into [`HubError::Timeout`].
pub async fn within<T>(
    what: &'static str,
    after: Duration,
    future: impl std::future::Future<Output = Result<T, HubError>>,
) -> Result<T, HubError> {
    tokio::time::timeout(after, future)
        .await
        .unwrap_or(Err(HubError::Timeout { what, after }))
}
