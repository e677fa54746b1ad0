//! Events as storage keeps them: what the partition log and its journal both hold.

use bytes::Bytes;

/// One stored event: its encoded AMQP message plus what the service stamps on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub sequence_number: i64,
    pub offset: u64,
    pub enqueued_ms: i64,
    pub partition_key: Option<String>,
    /// The event exactly as the publisher encoded it (one AMQP message).
    pub message: Bytes,
}

/// An event on its way in.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub message: Bytes,
    pub partition_key: Option<String>,
}
