//! Where events live: the namespace and its hubs, each partition's log in memory and, with a data
//! directory, its journal on disk; and which receivers hold which partitions. No protocol here.

pub(crate) mod backoff;
pub(crate) mod changes;
pub(crate) mod event;
pub(crate) mod journal;
pub mod namespace;
pub(crate) mod ownership;
pub mod partition_key;
pub mod store;
