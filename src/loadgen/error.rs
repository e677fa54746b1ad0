//! Why a load run did not start, in one line for a user.

use crate::producer::TemplateError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("connect to a profile first")]
    NotConnected,
    #[error("{0}")]
    Template(#[from] TemplateError),
    #[error("partition `{id}` does not exist; the hub has {}", .known.join(", "))]
    UnknownPartition { id: String, known: Vec<String> },
    /// The producer's connections could not be opened (the send error's text).
    #[error("could not open the producer pool: {0}")]
    Pool(String),
    /// The end-to-end readers' client could not connect.
    #[error("end-to-end readers: {0}")]
    ReadersConnect(String),
    /// One partition's end-to-end reader could not be placed or did not attach.
    #[error("end-to-end readers: partition {partition}: {why}")]
    Reader { partition: String, why: String },
}
