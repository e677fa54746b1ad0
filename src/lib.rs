//! hubscope: an explorer and load tester for Azure Event Hubs.
//!
//! The library is the engine; the binary's faces (GUI and command line) stay thin over it.
//!
//! - [`emulator`]: an embedded Event Hubs-compatible AMQP 1.0 endpoint and its storage.
//! - [`partition_key`]: the service's partition-key → partition mapping.

pub mod emulator;
pub mod partition_key;
