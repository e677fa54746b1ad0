//! AMQP 1.0 itself: what carries the bytes, the frames and their typed performatives, and the
//! stream shim that shapes fe2o3-amqp's frames as the service's. Nothing here knows Event Hubs'
//! nodes or storage.

pub(crate) mod amqp;
pub(crate) mod batches;
pub(crate) mod bundles;
pub(crate) mod channels;
pub(crate) mod codec;
pub(crate) mod flows;
pub(crate) mod sections;
pub(crate) mod shim;
pub(crate) mod stamps;
pub mod transport;
pub mod wire;
