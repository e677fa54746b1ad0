//! What the nodes of every connection share: kept apart from `connection` so that the nodes it
//! routes to need not import it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::service::auth::Authorizer;
use crate::storage::namespace::Namespace;

/// What every connection shares.
#[derive(Debug)]
pub struct Shared {
    pub namespace: Arc<Namespace>,
    pub authorizer: Authorizer,
    /// `sb://host:port`, used in the service's error texts.
    pub endpoint: String,
    pub shutdown: CancellationToken,
}
