//! Connection profiles: what they are ([`model`]), how connection strings are checked
//! ([`connection_string`]) and where they are kept ([`store`]).

pub mod checkpoint_store;
pub mod connection_string;
pub mod fields;
pub mod model;
pub mod resource_manager;
pub mod store;

pub use checkpoint_store::CheckpointStoreSettings;
pub use connection_string::{ConnectionString, ConnectionStringError};
pub use model::{Credential, FieldError, Profile, ProfileKind, Secret, Transport};
pub use resource_manager::ResourceManagerSettings;
pub use store::{ProfileStore, ProfilesFile, StoreError};
