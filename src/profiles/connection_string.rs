//! Event Hubs connection strings: parsed and checked here, before the SDK sees them, so that a
//! mistake is reported as what is wrong (a missing `Endpoint`, a missing key, a bad key name)
//! instead of the SDK's generic parse error.

use std::fmt;

/// What a SAS connection string names, with the secret parts kept out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// `host[:port]` from `Endpoint=sb://host[:port]/`.
    pub host: String,
    /// The port given in the endpoint, if any.
    pub port: Option<u16>,
    pub key_name: Option<String>,
    key: Option<String>,
    signature: Option<String>,
    pub entity_path: Option<String>,
    /// `UseDevelopmentEmulator=true`: plain AMQP to `host:port` (5672 when no port is given).
    pub use_development_emulator: bool,
}

/// Why a connection string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionStringError {
    #[error("the connection string is empty")]
    Empty,
    #[error("`{0}` is not a Key=Value pair (pairs are separated by `;`)")]
    NotAPair(String),
    #[error("`Endpoint` is missing (expected Endpoint=sb://<namespace>.servicebus.windows.net/)")]
    MissingEndpoint,
    #[error("`Endpoint` must look like sb://<host>[:port]/, found `{0}`")]
    BadEndpoint(String),
    #[error("`SharedAccessKeyName` is missing")]
    MissingKeyName,
    #[error("`SharedAccessKey` is missing (or give a `SharedAccessSignature`)")]
    MissingKey,
    #[error("`SharedAccessKeyName` `{0}` is not a valid policy name (letters, digits, `.`, `-`, `_`; at most 256)")]
    BadKeyName(String),
    #[error("`UseDevelopmentEmulator` must be true or false, found `{0}`")]
    BadEmulatorFlag(String),
    #[error("`{0}` appears twice")]
    Duplicate(String),
}

impl ConnectionString {
    /// Parses and validates a connection string.
    pub fn parse(text: &str) -> Result<Self, ConnectionStringError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ConnectionStringError::Empty);
        }
        let mut endpoint = None;
        let mut key_name = None;
        let mut key = None;
        let mut signature = None;
        let mut entity_path = None;
        let mut emulator = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| ConnectionStringError::NotAPair(part.to_string()))?;
            let slot = match name.trim().to_ascii_lowercase().as_str() {
                "endpoint" => &mut endpoint,
                "sharedaccesskeyname" => &mut key_name,
                "sharedaccesskey" => &mut key,
                "sharedaccesssignature" => &mut signature,
                "entitypath" => &mut entity_path,
                "usedevelopmentemulator" => &mut emulator,
                // The service's own strings carry other settings (TransportType, ...): not ours to refuse.
                _ => continue,
            };
            if slot.is_some() {
                return Err(ConnectionStringError::Duplicate(name.trim().to_string()));
            }
            *slot = Some(value.trim().to_string());
        }
        let endpoint = endpoint
            .filter(|e| !e.is_empty())
            .ok_or(ConnectionStringError::MissingEndpoint)?;
        let (host, port) = parse_endpoint(&endpoint)?;
        let use_development_emulator = match emulator.as_deref().map(str::to_ascii_lowercase) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(_) => {
                return Err(ConnectionStringError::BadEmulatorFlag(
                    emulator.unwrap_or_default(),
                ))
            }
        };
        let signature = signature.filter(|s| !s.is_empty());
        if signature.is_none() {
            match (&key_name, &key) {
                (None, _) => return Err(ConnectionStringError::MissingKeyName),
                (_, None) => return Err(ConnectionStringError::MissingKey),
                (Some(_), Some(k)) if k.is_empty() => {
                    return Err(ConnectionStringError::MissingKey)
                }
                _ => {}
            }
        }
        if let Some(name) = &key_name {
            if !valid_key_name(name) {
                return Err(ConnectionStringError::BadKeyName(name.clone()));
            }
        }
        Ok(Self {
            host,
            port,
            key_name,
            key,
            signature,
            entity_path: entity_path.filter(|e| !e.is_empty()),
            use_development_emulator,
        })
    }

    /// The `SharedAccessKey`, when the string has one (rather than a signature).
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The host without the port.
    #[must_use]
    pub fn host_name(&self) -> &str {
        match self.port {
            Some(port) => self
                .host
                .strip_suffix(&format!(":{port}"))
                .unwrap_or(&self.host),
            None => &self.host,
        }
    }

    /// The AMQP endpoint to dial instead of the service's `amqps://host:5671`, when the string
    /// points at an emulator (the Rust SDK itself ignores `UseDevelopmentEmulator`).
    #[must_use]
    pub fn emulator_endpoint(&self) -> Option<String> {
        self.use_development_emulator
            .then(|| format!("amqp://{}:{}", self.host, self.port.unwrap_or(5672)))
    }

    /// The endpoint as shown to users: never contains a secret.
    #[must_use]
    pub fn display_endpoint(&self) -> String {
        match self.port {
            Some(port) => format!("sb://{}:{port}/", self.host),
            None => format!("sb://{}/", self.host),
        }
    }

    /// The connection string with its key or signature removed, for exports without secrets.
    #[must_use]
    pub fn without_secret(text: &str) -> String {
        text.split(';')
            .map(|part| {
                let name = part.split_once('=').map_or(part, |(n, _)| n).trim();
                if name.eq_ignore_ascii_case("SharedAccessKey")
                    || name.eq_ignore_ascii_case("SharedAccessSignature")
                {
                    format!("{name}=")
                } else {
                    part.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Whether a key or signature is present (exports may leave them out).
    #[must_use]
    pub fn has_secret(&self) -> bool {
        self.key.as_deref().is_some_and(|k| !k.is_empty()) || self.signature.is_some()
    }
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("key_name", &self.key_name)
            .field("entity_path", &self.entity_path)
            .field("use_development_emulator", &self.use_development_emulator)
            .finish_non_exhaustive()
    }
}

fn parse_endpoint(endpoint: &str) -> Result<(String, Option<u16>), ConnectionStringError> {
    let bad = || ConnectionStringError::BadEndpoint(endpoint.to_string());
    let rest = endpoint
        .strip_prefix("sb://")
        .or_else(|| endpoint.strip_prefix("amqps://"))
        .or_else(|| endpoint.strip_prefix("amqp://"))
        .ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().map_err(|_| bad())?)),
        None => (authority, None),
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !host_ok {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=abc=;EntityPath=hub1";

    #[test]
    fn parses_a_service_connection_string() {
        let cs = ConnectionString::parse(GOOD).expect("valid");
        assert_eq!(cs.host, "ns.servicebus.windows.net");
        assert_eq!(cs.port, None);
        assert_eq!(cs.key_name.as_deref(), Some("Root"));
        assert_eq!(cs.entity_path.as_deref(), Some("hub1"));
        assert!(cs.has_secret());
        assert_eq!(cs.emulator_endpoint(), None);
        assert!(
            !format!("{cs:?}").contains("abc="),
            "the key stays out of Debug"
        );
    }

    #[test]
    fn emulator_strings_dial_plain_amqp() {
        let cs = ConnectionString::parse(
            "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;",
        )
        .expect("valid");
        assert_eq!(
            cs.emulator_endpoint().as_deref(),
            Some("amqp://localhost:5672")
        );
        let cs = ConnectionString::parse(
            "Endpoint=sb://127.0.0.1:6000/;SharedAccessKeyName=K;SharedAccessKey=V;UseDevelopmentEmulator=TRUE",
        )
        .expect("valid");
        assert_eq!(
            cs.emulator_endpoint().as_deref(),
            Some("amqp://127.0.0.1:6000")
        );
    }

    #[test]
    fn a_signature_stands_in_for_the_key() {
        let cs = ConnectionString::parse(
            "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig=y&se=1&skn=k",
        )
        .expect("valid");
        assert!(cs.has_secret());
    }

    #[test]
    fn says_what_is_wrong() {
        use ConnectionStringError as E;
        let cases: &[(&str, E)] = &[
            ("", E::Empty),
            ("   ", E::Empty),
            ("SharedAccessKeyName=a;SharedAccessKey=b", E::MissingEndpoint),
            ("Endpoint=;SharedAccessKeyName=a;SharedAccessKey=b", E::MissingEndpoint),
            ("Endpoint=http://x/;SharedAccessKeyName=a;SharedAccessKey=b", E::BadEndpoint("http://x/".into())),
            ("Endpoint=sb://x:notaport/;SharedAccessKeyName=a;SharedAccessKey=b", E::BadEndpoint("sb://x:notaport/".into())),
            ("Endpoint=sb:///;SharedAccessKeyName=a;SharedAccessKey=b", E::BadEndpoint("sb:///".into())),
            ("Endpoint=sb://x/;SharedAccessKey=b", E::MissingKeyName),
            ("Endpoint=sb://x/;SharedAccessKeyName=a", E::MissingKey),
            ("Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=", E::MissingKey),
            ("Endpoint=sb://x/;SharedAccessKeyName=bad name;SharedAccessKey=b", E::BadKeyName("bad name".into())),
            ("Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b;garbage", E::NotAPair("garbage".into())),
            ("Endpoint=sb://x/;Endpoint=sb://y/;SharedAccessKeyName=a;SharedAccessKey=b", E::Duplicate("Endpoint".into())),
            ("Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b;UseDevelopmentEmulator=yes", E::BadEmulatorFlag("yes".into())),
        ];
        for (text, expected) in cases {
            assert_eq!(
                &ConnectionString::parse(text).expect_err(text),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn exports_can_leave_the_secret_out() {
        let stripped = ConnectionString::without_secret(GOOD);
        assert!(!stripped.contains("abc="));
        assert!(stripped.contains("SharedAccessKeyName=Root"));
        assert_eq!(
            ConnectionString::parse(&stripped).expect_err("no key"),
            ConnectionStringError::MissingKey
        );
    }
}
