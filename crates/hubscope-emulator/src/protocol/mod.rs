//! AMQP 1.0 itself: what carries the bytes, the codec that frames them, and the engine that runs
//! each connection. Nothing here knows Event Hubs' nodes or storage.

pub(crate) mod amqp;
pub(crate) mod batches;
pub(crate) mod bundles;
pub(crate) mod codec;
pub(crate) mod engine;
pub(crate) mod sections;
pub(crate) mod stamps;
pub mod transport;
pub mod wire;
