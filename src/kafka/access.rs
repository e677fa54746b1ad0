//! Where a namespace's Kafka endpoint is and how to sign in to it, from a connection string or a
//! profile: the service serves Kafka on `<namespace>:9093` over TLS, Microsoft's emulator (and
//! `hubscope emulator`) on `<host>:9092` without TLS; `--kafka-endpoint HOST:PORT` overrides
//! either.

use std::sync::Arc;

use azure_core::credentials::TokenCredential;

use super::KafkaError;
use crate::profiles::{ConnectionString, Profile, ProfileKind};

/// The service's Kafka port (SASL over TLS).
pub const SERVICE_PORT: u16 = 9093;
/// Microsoft's emulator's Kafka port (SASL without TLS), and hubscope's endpoint's default.
pub const EMULATOR_PORT: u16 = 9092;

#[derive(Clone)]
pub(crate) enum Sasl {
    /// PLAIN, user `$ConnectionString`, the connection string as the password.
    ConnectionString(String),
    /// OAUTHBEARER with a token for the namespace.
    Credential {
        namespace: String,
        credential: Arc<dyn TokenCredential>,
    },
}

/// A Kafka endpoint and the credentials for it.
#[derive(Clone)]
pub struct KafkaAccess {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub(crate) sasl: Sasl,
}

impl std::fmt::Debug for KafkaAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAccess")
            .field("endpoint", &self.endpoint())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl KafkaAccess {
    /// `host:port`, for messages.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// From a SAS connection string; `endpoint` (`HOST:PORT`) overrides where Kafka is.
    ///
    /// # Errors
    /// [`KafkaError::Profile`] when the string cannot be read or the endpoint is not `HOST:PORT`.
    pub fn from_connection_string(text: &str, endpoint: Option<&str>) -> Result<Self, KafkaError> {
        let cs = ConnectionString::parse(text)
            .map_err(|e| KafkaError::Profile(format!("connection string: {e}")))?;
        let emulator = cs.use_development_emulator;
        let host = cs.host.split(':').next().unwrap_or(&cs.host).to_owned();
        let (host, port) = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
            Some(endpoint) => parse_endpoint(endpoint)?,
            None if emulator => (host, EMULATOR_PORT),
            None => (host, SERVICE_PORT),
        };
        Ok(Self {
            host,
            port,
            // The service takes only SASL_SSL; the emulators only plain.
            tls: !emulator,
            sasl: Sasl::ConnectionString(text.trim().to_owned()),
        })
    }

    /// From a saved profile; a local-emulator profile means an endpoint on this machine.
    ///
    /// # Errors
    /// [`KafkaError::Profile`] when the profile cannot describe one.
    pub fn from_profile(profile: &Profile, endpoint: Option<&str>) -> Result<Self, KafkaError> {
        match &profile.kind {
            ProfileKind::LocalEmulator { port, .. } => {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], *port));
                let cs = crate::emulator::connection_string(
                    addr,
                    crate::emulator::DEFAULT_KEY_NAME,
                    crate::emulator::DEFAULT_KEY,
                );
                Self::from_connection_string(&cs, endpoint)
            }
            ProfileKind::ConnectionString {
                connection_string, ..
            } => Self::from_connection_string(connection_string.expose(), endpoint),
            ProfileKind::EntraId {
                namespace,
                credential,
                ..
            } => {
                let (host, port) = match endpoint.map(str::trim).filter(|e| !e.is_empty()) {
                    Some(endpoint) => parse_endpoint(endpoint)?,
                    None => (namespace.clone(), SERVICE_PORT),
                };
                let credential = crate::hub::target::build_credential(credential)
                    .map_err(|e| KafkaError::Profile(e.to_string()))?;
                Ok(Self {
                    host,
                    port,
                    tls: true,
                    sasl: Sasl::Credential {
                        namespace: namespace.clone(),
                        credential,
                    },
                })
            }
        }
    }
}

/// `HOST:PORT` as typed.
fn parse_endpoint(text: &str) -> Result<(String, u16), KafkaError> {
    let refuse = || {
        KafkaError::Profile(format!(
            "the Kafka endpoint must be HOST:PORT (e.g. mynamespace.servicebus.windows.net:9093), not `{text}`"
        ))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(refuse)?;
    let port = port.parse().map_err(|_| refuse())?;
    if host.is_empty() || host.contains('/') {
        return Err(refuse());
    }
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_is_tls_on_9093_and_the_emulator_plain_on_9092() {
        let service = KafkaAccess::from_connection_string(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s",
            None,
        )
        .expect("read");
        assert_eq!(
            (service.endpoint(), service.tls),
            ("ns.servicebus.windows.net:9093".into(), true)
        );
        let emulator = KafkaAccess::from_connection_string(
            "Endpoint=sb://localhost:5672;SharedAccessKeyName=k;SharedAccessKey=s;UseDevelopmentEmulator=true",
            None,
        )
        .expect("read");
        assert_eq!(
            (emulator.endpoint(), emulator.tls),
            ("localhost:9092".into(), false)
        );
        let given = KafkaAccess::from_connection_string(
            "Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=s;UseDevelopmentEmulator=true",
            Some("127.0.0.1:19092"),
        )
        .expect("read");
        assert_eq!(given.endpoint(), "127.0.0.1:19092");
    }

    #[test]
    fn an_endpoint_that_is_not_host_and_port_is_refused_in_words() {
        let error = KafkaAccess::from_connection_string(
            "Endpoint=sb://localhost;SharedAccessKeyName=k;SharedAccessKey=s",
            Some("kafka://nohost"),
        )
        .expect_err("refused");
        assert!(error.to_string().contains("HOST:PORT"), "{error}");
    }
}
