//! Claims-based security: judging put-token requests and remembering what a connection may do.
//!
//! SAS verification follows the service (docs/amqp-wire.md §2): HMAC-SHA256 keyed with the key's UTF-8
//! bytes over the raw `sr` text as sent, `"\n"`, and `se`; the signature compared in constant time;
//! expiry, key name and scope checked. The raw `sr` must be used because the Python and Rust clients
//! percent-encode it differently.

use std::sync::Mutex;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::AuthMode;
use crate::service::address::path_of;

/// Why a token was refused; the text is what the client is told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("InvalidSignature: The token has an invalid signature.")]
    BadSignature,
    #[error("ExpiredToken: The token is expired. Expiration time: '{0}'.")]
    Expired(i64),
    #[error("InvalidSignature: The token has an invalid key name '{0}'.")]
    WrongKeyName(String),
    #[error(
        "InvalidAudience: The token's resource '{resource}' does not grant access to '{audience}'."
    )]
    WrongScope { resource: String, audience: String },
    #[error("Malformed token: {0}")]
    Malformed(&'static str),
    #[error("Token type '{0}' is not accepted by an emulator that verifies SAS keys.")]
    UnsupportedType(String),
}

/// Access granted by one accepted token: everything at or below `scope` until `expires_s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Lower-cased entity path without scheme or host; empty means the whole namespace.
    pub scope: String,
    pub expires_s: i64,
}

impl Grant {
    /// `true` while unexpired and the entity at `address` lies at or below the scope.
    #[must_use]
    pub fn covers(&self, address: &str, now_s: i64) -> bool {
        let path = path_of(address).trim_end_matches('/').to_ascii_lowercase();
        self.expires_s > now_s && covers(&self.scope, &path)
    }
}

/// The fields of a SAS token, `sr` kept exactly as sent.
struct SasToken<'a> {
    raw_resource: &'a str,
    signature: String,
    expiry: &'a str,
    key_name: String,
}

fn parse_sas(token: &str) -> Result<SasToken<'_>, AuthError> {
    let body = token
        .strip_prefix("SharedAccessSignature ")
        .ok_or(AuthError::Malformed(
            "a SAS token starts with 'SharedAccessSignature '",
        ))?;
    let (mut sr, mut sig, mut se, mut skn) = (None, None, None, None);
    for pair in body.split('&') {
        let (name, value) = pair
            .split_once('=')
            .ok_or(AuthError::Malformed("SAS token fields are name=value"))?;
        match name {
            "sr" => sr = Some(value),
            "sig" => sig = Some(value),
            "se" => se = Some(value),
            "skn" => skn = Some(value),
            _ => {}
        }
    }
    let decode = |v: &str| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(SasToken {
        raw_resource: sr.ok_or(AuthError::Malformed("SAS token has no sr"))?,
        signature: decode(sig.ok_or(AuthError::Malformed("SAS token has no sig"))?),
        expiry: se.ok_or(AuthError::Malformed("SAS token has no se"))?,
        key_name: decode(skn.ok_or(AuthError::Malformed("SAS token has no skn"))?),
    })
}

/// Lower-cased `host/path` of an audience or resource, without scheme.
fn without_scheme(text: &str) -> String {
    let text = text.split_once("://").map_or(text, |(_, rest)| rest);
    text.trim_end_matches('/').to_ascii_lowercase()
}

/// `true` when `scope` is `path` or a whole-segment prefix of it.
fn covers(scope: &str, path: &str) -> bool {
    scope.is_empty()
        || path == scope
        || (path.starts_with(scope) && path.as_bytes().get(scope.len()) == Some(&b'/'))
}

/// Judges put-token requests under one [`AuthMode`].
#[derive(Debug, Clone)]
pub struct Authorizer {
    mode: AuthMode,
}

impl Authorizer {
    #[must_use]
    pub fn new(mode: AuthMode) -> Self {
        Self { mode }
    }

    #[must_use]
    pub fn mode(&self) -> &AuthMode {
        &self.mode
    }

    /// Whether tokens and keys are verified (`--sas-key`), rather than any well-formed one taken.
    #[must_use]
    pub fn verifies(&self) -> bool {
        matches!(self.mode, AuthMode::SharedAccessKey { .. })
    }

    /// Verifies a connection string given as a credential (the Kafka face's PLAIN password): its
    /// `SharedAccessKeyName` and `SharedAccessKey` must be the endpoint's. A
    /// `SharedAccessSignature` is refused, as the service's Kafka endpoint refuses one.
    ///
    /// # Errors
    /// [`AuthError`] saying why the connection string was refused.
    pub fn check_connection_string(&self, text: &str) -> Result<(), AuthError> {
        let field = |name: &str| {
            text.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
            })
        };
        if field("Endpoint").is_none() {
            return Err(AuthError::Malformed(
                "the password is not a connection string (no Endpoint=)",
            ));
        }
        if field("SharedAccessSignature").is_some() {
            // As the service: its Kafka endpoint takes keys, not generated tokens (whose scope
            // could be one hub, which Kafka's requests are not checked against).
            return Err(AuthError::Malformed(
                "a SharedAccessSignature is not accepted as a Kafka password, as on the service: use a connection string with SharedAccessKeyName and SharedAccessKey",
            ));
        }
        let (Some(name), Some(key)) = (field("SharedAccessKeyName"), field("SharedAccessKey"))
        else {
            return Err(AuthError::Malformed(
                "the connection string has neither SharedAccessKeyName and SharedAccessKey nor SharedAccessSignature",
            ));
        };
        let AuthMode::SharedAccessKey {
            key_name,
            key: expected,
        } = &self.mode
        else {
            return Ok(());
        };
        if name != key_name {
            return Err(AuthError::WrongKeyName(name.to_owned()));
        }
        if !bool::from(key.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(AuthError::BadSignature);
        }
        Ok(())
    }

    /// Verifies a token for the resource it names itself (a management request's
    /// `security_token`, which comes without a separate audience).
    ///
    /// # Errors
    /// [`AuthError`] saying why the token was refused.
    pub fn check_own_scope(
        &self,
        token_type: &str,
        token: &str,
        now_s: i64,
    ) -> Result<Grant, AuthError> {
        let resource = parse_sas(token)?.raw_resource;
        let audience = percent_encoding::percent_decode_str(resource)
            .decode_utf8_lossy()
            .into_owned();
        self.check(token_type, &audience, token, now_s, None)
    }

    /// Accepts or refuses a token for `audience`.
    ///
    /// # Errors
    /// [`AuthError`] saying why the token was refused.
    pub fn check(
        &self,
        token_type: &str,
        audience: &str,
        token: &str,
        now_s: i64,
        requested_expiry_s: Option<i64>,
    ) -> Result<Grant, AuthError> {
        let scope = path_of(audience).trim_end_matches('/').to_ascii_lowercase();
        if token_type.eq_ignore_ascii_case("jwt") {
            return match self.mode {
                AuthMode::AcceptAnyToken if !token.trim().is_empty() => Ok(Grant {
                    scope,
                    expires_s: requested_expiry_s.unwrap_or(i64::MAX),
                }),
                AuthMode::AcceptAnyToken => Err(AuthError::Malformed("the token is empty")),
                AuthMode::SharedAccessKey { .. } => {
                    Err(AuthError::UnsupportedType(token_type.to_owned()))
                }
            };
        }
        let sas = parse_sas(token)?;
        let expires_s: i64 = sas
            .expiry
            .parse()
            .map_err(|_| AuthError::Malformed("se is not a number"))?;
        let AuthMode::SharedAccessKey { key_name, key } = &self.mode else {
            return Ok(Grant { scope, expires_s });
        };
        if sas.key_name != *key_name {
            return Err(AuthError::WrongKeyName(sas.key_name));
        }
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
            return Err(AuthError::BadSignature);
        };
        mac.update(sas.raw_resource.as_bytes());
        mac.update(b"\n");
        mac.update(sas.expiry.as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if !bool::from(expected.as_bytes().ct_eq(sas.signature.as_bytes())) {
            return Err(AuthError::BadSignature);
        }
        if expires_s <= now_s {
            return Err(AuthError::Expired(expires_s));
        }
        let resource = percent_encoding::percent_decode_str(sas.raw_resource)
            .decode_utf8_lossy()
            .into_owned();
        let (resource_scope, audience_path) = (without_scheme(&resource), without_scheme(audience));
        // Python's sr carries a port and Rust's paths never do, so compare hosts without ports.
        let strip_port = |s: &str| -> String {
            match s.split_once('/') {
                Some((host, rest)) => format!("{}/{rest}", host.split(':').next().unwrap_or(host)),
                None => s.split(':').next().unwrap_or(s).to_owned(),
            }
        };
        if !covers(&strip_port(&resource_scope), &strip_port(&audience_path)) {
            return Err(AuthError::WrongScope {
                resource,
                audience: audience.to_owned(),
            });
        }
        Ok(Grant { scope, expires_s })
    }
}

/// The grants one connection has collected through `$cbs`.
#[derive(Debug, Default)]
pub struct ConnectionGrants {
    grants: Mutex<Vec<Grant>>,
}

impl ConnectionGrants {
    pub fn add(&self, grant: Grant) {
        let mut grants = self
            .grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        grants.retain(|g| g.scope != grant.scope);
        grants.push(grant);
    }

    /// `true` when an unexpired grant covers the entity at `address`.
    #[must_use]
    pub fn allows(&self, address: &str, now_s: i64) -> bool {
        self.grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|g| g.covers(address, now_s))
    }
}

/// Builds a SAS token the way the clients do; used by tests and the command line.
#[must_use]
pub fn sas_token(resource: &str, key_name: &str, key: &str, expires_s: i64) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let sr = utf8_percent_encode(resource, NON_ALPHANUMERIC).to_string();
    let se = expires_s.to_string();
    let signature = Hmac::<Sha256>::new_from_slice(key.as_bytes()).map_or_else(
        |_| String::new(),
        |mut mac| {
            mac.update(format!("{sr}\n{se}").as_bytes());
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        },
    );
    let sig = utf8_percent_encode(&signature, NON_ALPHANUMERIC);
    format!("SharedAccessSignature sr={sr}&sig={sig}&se={se}&skn={key_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifying() -> Authorizer {
        Authorizer::new(AuthMode::SharedAccessKey {
            key_name: "RootManageSharedAccessKey".into(),
            key: "secret".into(),
        })
    }

    const SAS: &str = "servicebus.windows.net:sastoken";

    #[test]
    fn connection_strings_are_verified_by_key_or_signature() {
        let a = verifying();
        let cs = |name: &str, key: &str| {
            format!("Endpoint=sb://localhost;SharedAccessKeyName={name};SharedAccessKey={key};UseDevelopmentEmulator=true;")
        };
        assert_eq!(
            a.check_connection_string(&cs("RootManageSharedAccessKey", "secret")),
            Ok(())
        );
        assert_eq!(
            a.check_connection_string(&cs("RootManageSharedAccessKey", "wrong")),
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            a.check_connection_string(&cs("other", "secret")),
            Err(AuthError::WrongKeyName("other".into()))
        );
        let token = sas_token(
            "sb://localhost/eh1",
            "RootManageSharedAccessKey",
            "secret",
            2_000,
        );
        let signed = format!("Endpoint=sb://localhost;SharedAccessSignature={token}");
        assert!(
            a.check_connection_string(&signed).is_err(),
            "the service's Kafka endpoint takes no generated tokens"
        );
        assert!(a.check_connection_string("secret").is_err());
        let open = Authorizer::new(AuthMode::AcceptAnyToken);
        assert_eq!(open.check_connection_string(&cs("x", "y")), Ok(()));
        assert!(open
            .check_connection_string("not a connection string")
            .is_err());
    }

    #[test]
    fn verifies_signature_expiry_name_scope() {
        let a = verifying();
        let now = 1_000;
        let good = sas_token(
            "sb://localhost:5672/eh1",
            "RootManageSharedAccessKey",
            "secret",
            now + 60,
        );
        let grant = a
            .check(SAS, "sb://localhost:5672/eh1", &good, now, None)
            .expect("valid token");
        assert_eq!(grant.scope, "eh1");
        // Rust-style audience: exact path, no port, covered by a hub-level sr.
        assert!(a
            .check(SAS, "amqps://localhost/eh1/Partitions/0", &good, now, None)
            .is_ok());
        assert_eq!(
            a.check(SAS, "sb://localhost/eh2", &good, now, None)
                .map(|_| ()),
            Err(AuthError::WrongScope {
                resource: "sb://localhost:5672/eh1".into(),
                audience: "sb://localhost/eh2".into()
            })
        );
        let wrong_key = sas_token(
            "sb://localhost/eh1",
            "RootManageSharedAccessKey",
            "nope",
            now + 60,
        );
        assert_eq!(
            a.check(SAS, "sb://localhost/eh1", &wrong_key, now, None),
            Err(AuthError::BadSignature)
        );
        let expired = sas_token(
            "sb://localhost/eh1",
            "RootManageSharedAccessKey",
            "secret",
            now - 1,
        );
        assert_eq!(
            a.check(SAS, "sb://localhost/eh1", &expired, now, None),
            Err(AuthError::Expired(now - 1))
        );
        let other_name = sas_token("sb://localhost/eh1", "Listen", "secret", now + 60);
        assert!(matches!(
            a.check(SAS, "sb://localhost/eh1", &other_name, now, None),
            Err(AuthError::WrongKeyName(_))
        ));
        assert!(matches!(
            a.check("jwt", "sb://localhost/eh1", "x.y.z", now, None),
            Err(AuthError::UnsupportedType(_))
        ));
    }

    #[test]
    fn accept_any_still_wants_well_formed() {
        let a = Authorizer::new(AuthMode::AcceptAnyToken);
        assert!(a.check(SAS, "sb://h/eh1", "garbage", 0, None).is_err());
        assert!(a
            .check(
                SAS,
                "sb://h/eh1",
                &sas_token("sb://h/eh1", "k", "whatever", 10),
                0,
                None
            )
            .is_ok());
        assert!(a.check("jwt", "sb://h/eh1", "eyJ.x.y", 0, Some(5)).is_ok());
    }

    #[test]
    fn grants_cover_paths_by_segment() {
        let g = ConnectionGrants::default();
        g.add(Grant {
            scope: "eh1".into(),
            expires_s: 100,
        });
        assert!(g.allows("amqps://host/eh1/ConsumerGroups/$Default/Partitions/0", 50));
        assert!(!g.allows("amqps://host/eh10", 50));
        assert!(!g.allows("amqps://host/eh1", 100));
    }
}
