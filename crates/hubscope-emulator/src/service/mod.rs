//! Event Hubs over AMQP: each connection's links routed by address to a node (`$cbs`,
//! `$management`, publish, consume), tokens and grants, and the service's error texts.

pub(crate) mod address;
pub mod auth;
pub(crate) mod connection;
pub(crate) mod consume;
pub(crate) mod interop;
pub(crate) mod publish;
pub(crate) mod requests;
pub(crate) mod shared;
