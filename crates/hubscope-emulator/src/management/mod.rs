//! The namespace management API over HTTP, as the service serves it on the namespace host
//! (api-version 2014-01, Atom documents): list, create and delete hubs and consumer groups, and
//! the official emulator's `GET /health`. A face beside AMQP's, over the same storage; the wire
//! behaviour is in docs/management-api.md.
//!
//! - [`atom`]: the documents, shared with the app's client;
//! - `api`: what each request does and what the service answers;
//! - [`arm`] and `arm_api`: the same operations in Azure Resource Manager's shape (JSON under
//!   `/subscriptions/…/providers/Microsoft.EventHub/namespaces/…`), the app's fallback;
//! - `exchange`: a request and its answer, as both shapes see them;
//! - `server`: the HTTP listener.

mod api;
pub mod arm;
mod arm_api;
pub mod atom;
mod exchange;
mod server;

pub use api::Api;
pub use server::{serve, Listener};
