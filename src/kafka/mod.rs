//! A namespace's Kafka endpoint, as the app uses it: Kafka consumer groups, their members,
//! assignments and committed offsets, for the same lag report as checkpoint-store groups; and
//! a producer for load.
//!
//! - [`access`]: where the endpoint is (`<namespace>:9093` over TLS; `<host>:9092` under
//!   `UseDevelopmentEmulator=true`) and how to sign in (SASL PLAIN with the connection string,
//!   or OAUTHBEARER with the profile's Entra ID credential);
//! - [`client`]: one connection, requests and answers through `kafka-protocol`;
//! - [`groups`]: a group's committed offsets and owners as the lag rules take them;
//! - [`producer`]: the load generator's Kafka producer, requests pipelined on a few connections.

pub mod access;
pub mod client;
pub mod groups;
pub mod producer;

pub use access::KafkaAccess;
pub use client::KafkaClient;
pub use groups::KafkaGroups;
pub use producer::KafkaProducer;

/// Why the Kafka endpoint could not be read. Each says in one line what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KafkaError {
    #[error("{0}")]
    Profile(String),
    #[error("cannot reach the Kafka endpoint {endpoint}: {reason}")]
    Connect { endpoint: String, reason: String },
    #[error("the Kafka endpoint {endpoint} refused the credentials: {reason}")]
    Denied { endpoint: String, reason: String },
    #[error("the Kafka endpoint {endpoint} did not answer within {secs} s")]
    Timeout { endpoint: String, secs: u64 },
    #[error("the Kafka endpoint {endpoint} answered {request} with {error}")]
    Refused {
        endpoint: String,
        request: &'static str,
        error: String,
    },
    #[error("the Kafka endpoint {endpoint} broke the protocol: {reason}")]
    Protocol { endpoint: String, reason: String },
}
