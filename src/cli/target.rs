//! The flags every command that talks to a hub accepts: a connection string (with `EntityPath`
//! or `--hub`) or a saved profile by name.

use anyhow::Context as _;
use clap::Args;
use hubscope::hub::Target;
use hubscope::profiles::{Profile, ProfileStore};

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// An Event Hubs connection string (SAS); `UseDevelopmentEmulator=true` dials plain AMQP.
    #[arg(
        long,
        env = "HUBSCOPE_CONNECTION_STRING",
        hide_env_values = true,
        conflicts_with = "profile",
        required_unless_present = "profile"
    )]
    connection_string: Option<String>,
    /// The hub, when the connection string has no `EntityPath`.
    #[arg(long)]
    hub: Option<String>,
    /// A profile saved in the app, by name.
    #[arg(long)]
    profile: Option<String>,
}

impl TargetArgs {
    pub fn resolve(&self) -> anyhow::Result<Target> {
        Ok(self.resolve_with_profile()?.0)
    }

    /// The namespace's Kafka endpoint and credentials: `endpoint` (`HOST:PORT`), else where the
    /// connection string or profile says.
    pub fn kafka_access(
        &self,
        endpoint: Option<&str>,
    ) -> anyhow::Result<hubscope::kafka::KafkaAccess> {
        if let Some(cs) = &self.connection_string {
            return Ok(hubscope::kafka::KafkaAccess::from_connection_string(
                cs, endpoint,
            )?);
        }
        let profile = load_profile(self.profile.as_deref().unwrap_or_default())?;
        Ok(hubscope::kafka::KafkaAccess::from_profile(
            &profile, endpoint,
        )?)
    }

    /// The target, and the profile it came from when one was named.
    pub fn resolve_with_profile(&self) -> anyhow::Result<(Target, Option<Profile>)> {
        if let Some(cs) = &self.connection_string {
            return Ok((
                Target::from_connection_string(cs, self.hub.as_deref())?,
                None,
            ));
        }
        let profile = load_profile(self.profile.as_deref().unwrap_or_default())?;
        let mut target = Target::from_profile(&profile)?;
        if let Some(hub) = &self.hub {
            target.hub.clone_from(hub);
        }
        Ok((target, Some(profile)))
    }
}

/// A profile saved in the app, by name; the error lists the saved ones.
pub fn load_profile(name: &str) -> anyhow::Result<Profile> {
    let store = ProfileStore::open_default()?;
    let loaded = store.load()?;
    if let Some(message) = loaded.set_aside {
        eprintln!("warning: {message}");
    }
    let profile = loaded.file.find(name).with_context(|| {
        let names: Vec<_> = loaded
            .file
            .profiles
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        format!(
            "no profile named `{name}` in {} (saved profiles: {})",
            store.path().display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )
    })?;
    Ok(profile.clone())
}
