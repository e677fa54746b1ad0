//! hubscope's engine: everything that talks to Event Hubs, with no UI in it. The desktop app
//! (`ui`, over `bridge`) and the command line are thin faces over these modules.
//!
//! - [`profiles`]: connection profiles, connection strings, the profiles file.
//! - [`hub`]: profile → SDK clients, hub and partition properties, the local endpoint.
//! - [`checkpoints`]: checkpoint stores (Blob), read-only: checkpoints and owners per group.
//! - [`groups`]: consumer groups' real lag, owners and expiry warnings, from the store and the hub.
//! - [`management`]: a namespace's hubs and consumer groups, listed, created and deleted.
//! - [`kafka`]: a namespace's Kafka endpoint: Kafka consumer groups, their owners and offsets.
//! - [`emulator`]: the embedded Event Hubs-compatible endpoint, its own crate
//!   (`crates/hubscope-emulator`).
//! - [`partition_key`]: the service's partition-key hash (the endpoint's).
//! - [`bridge`] and [`ui`]: the desktop app's runtime side and its egui panels.

pub mod bridge;
pub mod checkpoints;
pub mod consumer;
pub mod error_text;
pub use hubscope_emulator as emulator;
pub mod groups;
pub mod hub;
pub mod kafka;
pub mod loadgen;
pub mod management;
pub use hubscope_emulator::storage::partition_key;
pub mod producer;
pub mod profiles;
pub mod ui;
