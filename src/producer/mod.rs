//! Producing events: what the user composes ([`event`]), body templates ([`template`]), and
//! sending with batching and receipts ([`send`]). The composer, `hubscope send` and (later) the
//! load generator share it.

pub mod event;
pub mod export_format;
pub mod pool;
pub mod send;
pub mod source;
pub mod template;

pub use event::{
    parse_property, EventError, OutgoingEvent, PropertyValue, Routing, MAX_EVENT_BYTES,
};
pub use send::{check, send_events, Packing, SendError, SendReceipt};
pub use source::{SendSource, SourceError};
pub use template::{Template, TemplateError};
