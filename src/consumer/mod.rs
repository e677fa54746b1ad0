//! Consuming: one reader per partition ([`reader`]) with start positions ([`position`]),
//! reconnects from the last sequence number seen, and owned records ([`record`]) that the live
//! view and `hubscope tail` share.

pub mod filter;
pub mod lag;
pub mod live;
mod live_store;
pub mod position;
pub mod range;
pub mod reader;
pub mod record;

pub use position::{PositionError, StartFrom};
pub use reader::{spawn_reader, spawn_readers, ReaderHandle, ReaderSpec, ReaderState};
pub use record::ReceivedRecord;
