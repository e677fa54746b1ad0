//! The embedded endpoint behind a local-emulator profile, started in-process on the profile's
//! port or, when that is taken, the next free one.

use std::path::{Path, PathBuf};

use super::{HubError, Target};
use crate::emulator::{config, EmulatorConfig, RunningEmulator};
use crate::profiles::{Profile, ProfileKind};

/// How many ports above the preferred one are tried before letting the OS choose.
const PORTS_TO_TRY: u16 = 20;
/// The in-app endpoint keeps at most this many bytes of events (the oldest go first, as they
/// would expire), so that a desktop app's memory stays bounded however many load runs it serves:
/// with the standalone endpoint's 1 GiB, three 20 s runs at 5,000 events/s took the app from 161
/// to 552 MB. `hubscope emulator --max-memory-mib` still serves bigger stores.
pub const APP_STORE_BYTES: u64 = 256 * 1024 * 1024;

pub struct LocalEndpoint {
    emulator: RunningEmulator,
    /// What it serves: the Consumer groups tab lists its groups and knows its retention.
    config: EmulatorConfig,
    port_wanted: u16,
    config_path: Option<PathBuf>,
}

impl LocalEndpoint {
    /// Starts the endpoint with the official default topology, or the one in `config_path`.
    pub async fn start(port: u16, config_path: Option<&Path>) -> Result<Self, HubError> {
        let mut cfg = EmulatorConfig {
            max_retained_bytes: APP_STORE_BYTES,
            ..EmulatorConfig::default()
        };
        if let Some(path) = config_path {
            let (namespace, hubs) = config::load_official_config(path)
                .map_err(|e| HubError::Emulator(format!("{}: {e}", path.display())))?;
            cfg.namespace = namespace;
            cfg.hubs = hubs;
        }
        let candidates = (0..PORTS_TO_TRY)
            .filter_map(|i| port.checked_add(i))
            .chain(std::iter::once(0));
        let mut last_error = String::new();
        for candidate in candidates {
            match RunningEmulator::start(cfg.clone(), &format!("127.0.0.1:{candidate}")).await {
                Ok(emulator) => {
                    return Ok(Self {
                        emulator,
                        config: cfg,
                        port_wanted: port,
                        config_path: config_path.map(Path::to_path_buf),
                    })
                }
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(HubError::Emulator(last_error))
    }

    /// Whether this endpoint is the one `profile` asks for (same port wish, same topology).
    #[must_use]
    pub fn serves(&self, profile: &Profile) -> bool {
        matches!(&profile.kind, ProfileKind::LocalEmulator { port, config_path, .. }
            if *port == self.port_wanted && *config_path == self.config_path)
    }

    #[must_use]
    pub fn port(&self) -> u16 {
        self.emulator.local_addr.port()
    }

    /// How long the endpoint keeps events.
    #[must_use]
    pub fn retention(&self) -> std::time::Duration {
        self.config.retention
    }

    /// `hub`'s consumer groups now, `$Default` first (none for a hub it does not serve).
    #[must_use]
    pub fn consumer_groups(&self, hub: &str) -> Vec<String> {
        self.emulator
            .namespace()
            .hub(hub)
            .map_or_else(Vec::new, |hub| {
                hub.consumer_groups().into_iter().map(|g| g.name).collect()
            })
    }

    /// Where its Kafka face listens, `127.0.0.1:PORT`.
    #[must_use]
    pub fn kafka_endpoint(&self) -> Option<String> {
        self.emulator.kafka_bootstrap()
    }

    /// Where its management API listens: `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn management_url(&self) -> Option<String> {
        self.emulator.management_url()
    }

    /// The target for `profile`'s hub on this endpoint.
    pub fn target(&self, profile: &Profile) -> Result<Target, HubError> {
        let ProfileKind::LocalEmulator { hub, .. } = &profile.kind else {
            return Err(HubError::Profile("not a local-emulator profile".into()));
        };
        Ok(Target::local(
            self.emulator.connection_string(),
            self.emulator.custom_endpoint(),
            profile,
            hub,
        ))
    }

    pub async fn shutdown(self) {
        self.emulator.shutdown().await;
    }
}
