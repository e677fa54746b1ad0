//! What the nodes of every connection share, and how a node refuses a link: kept apart from
//! `connection` so that the nodes it routes to need not import it.

use std::sync::Arc;

use fe2o3_amqp::acceptor::LinkEndpoint;
use fe2o3_amqp::types::definitions;
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

/// Detaches a just-accepted link with `error` (closed), the service's way of refusing a link.
pub async fn refuse(link: LinkEndpoint, error: definitions::Error) {
    let result = match link {
        LinkEndpoint::Sender(sender) => sender.close_with_error(error).await,
        LinkEndpoint::Receiver(receiver) => receiver.close_with_error(error).await,
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "refused link did not close cleanly");
    }
}
