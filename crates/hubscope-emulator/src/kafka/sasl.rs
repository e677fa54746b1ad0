//! SASL on the Kafka ports, as the service takes it: PLAIN with the user name `$ConnectionString`
//! and a connection string as the password, or OAUTHBEARER with an Entra ID token.
//!
//! With `--sas-key` the connection string's key (or its `SharedAccessSignature`) is verified as
//! the AMQP side verifies tokens, and a bearer token is refused (the endpoint cannot verify one);
//! without it any credentials are taken, as Microsoft's emulator does (docs/kafka.md §3).

use kafka_protocol::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;

use crate::kafka::wire::Request;
use crate::kafka::Context;

const PLAIN: &str = "PLAIN";
const OAUTHBEARER: &str = "OAUTHBEARER";
/// The user name the service wants with a connection string as the password.
const CONNECTION_STRING_USER: &str = "$ConnectionString";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mechanism {
    Plain,
    OAuthBearer,
}

/// One connection's SASL state.
#[derive(Debug)]
pub(crate) struct Sasl {
    /// Whether credentials are verified (and so required before other requests).
    verifying: bool,
    mechanism: Option<Mechanism>,
    /// A v0 handshake: the next frame is a bare SASL token, not a Kafka request.
    raw: bool,
    authenticated: bool,
}

impl Sasl {
    pub(crate) fn new(verifying: bool) -> Self {
        Self {
            verifying,
            mechanism: None,
            raw: false,
            authenticated: false,
        }
    }

    /// Whether the next frame is a bare token (after a v0 handshake).
    pub(crate) fn expects_raw_token(&self) -> bool {
        self.raw && !self.authenticated
    }

    /// Whether only authentication may happen now (the endpoint verifies, and the client has
    /// not yet authenticated).
    pub(crate) fn must_authenticate(&self) -> bool {
        self.verifying && !self.authenticated
    }

    /// Whether `request` may be served now.
    pub(crate) fn admits(&self, request: &Request) -> bool {
        !self.verifying
            || self.authenticated
            || matches!(
                request,
                Request::ApiVersions(_) | Request::SaslHandshake(_) | Request::SaslAuthenticate(_)
            )
    }

    pub(crate) fn handshake(
        &mut self,
        request: &SaslHandshakeRequest,
        version: i16,
    ) -> SaslHandshakeResponse {
        let mechanisms = vec![
            StrBytes::from_static_str(PLAIN),
            StrBytes::from_static_str(OAUTHBEARER),
        ];
        let mechanism = match request.mechanism.as_str() {
            PLAIN => Some(Mechanism::Plain),
            OAUTHBEARER => Some(Mechanism::OAuthBearer),
            _ => None,
        };
        let response = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
        match mechanism {
            Some(mechanism) if !self.authenticated => {
                self.mechanism = Some(mechanism);
                self.raw = version == 0;
                response
            }
            Some(_) => response.with_error_code(ResponseError::IllegalSaslState.code()),
            None => response.with_error_code(ResponseError::UnsupportedSaslMechanism.code()),
        }
    }

    /// Judges a `SaslAuthenticate` request; `false` means the connection closes after the answer.
    pub(crate) fn authenticate(
        &mut self,
        request: &SaslAuthenticateRequest,
        context: &Context,
    ) -> (SaslAuthenticateResponse, bool) {
        let response = SaslAuthenticateResponse::default();
        let verdict = match self.mechanism {
            None => Err((
                ResponseError::IllegalSaslState,
                "SaslAuthenticate before a SaslHandshake".to_owned(),
            )),
            Some(_) if self.authenticated => Err((
                ResponseError::IllegalSaslState,
                "the connection is already authenticated".to_owned(),
            )),
            Some(mechanism) => self
                .judge(mechanism, &request.auth_bytes, context)
                .map_err(|why| (ResponseError::SaslAuthenticationFailed, why)),
        };
        match verdict {
            Ok(()) => (response, true),
            Err((error, why)) => (
                response
                    .with_error_code(error.code())
                    .with_error_message(Some(StrBytes::from_string(why))),
                false,
            ),
        }
    }

    /// Judges a bare token (after a v0 handshake): whether it is accepted.
    pub(crate) fn raw_token(&mut self, token: &[u8], context: &Context) -> bool {
        let Some(mechanism) = self.mechanism else {
            return false;
        };
        match self.judge(mechanism, token, context) {
            Ok(()) => true,
            Err(why) => {
                tracing::debug!(why, "Kafka SASL refused");
                false
            }
        }
    }

    fn judge(
        &mut self,
        mechanism: Mechanism,
        token: &[u8],
        context: &Context,
    ) -> Result<(), String> {
        match mechanism {
            Mechanism::Plain => self.judge_plain(token, context)?,
            Mechanism::OAuthBearer => self.judge_bearer(token)?,
        }
        self.authenticated = true;
        Ok(())
    }

    fn judge_plain(&self, token: &[u8], context: &Context) -> Result<(), String> {
        // [authzid] NUL authcid NUL passwd (RFC 4616).
        let text = std::str::from_utf8(token).map_err(|_| "the PLAIN token is not UTF-8")?;
        let mut parts = text.split('\0');
        let (Some(_), Some(user), Some(password), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the PLAIN token is not authzid NUL user NUL password".to_owned());
        };
        if !self.verifying {
            return Ok(());
        }
        if user != CONNECTION_STRING_USER {
            return Err(format!(
                "Authentication failed: the user name must be {CONNECTION_STRING_USER} and the password a connection string, not user '{user}'."
            ));
        }
        context
            .authorizer
            .check_connection_string(password)
            .map_err(|e| format!("Authentication failed: {e}"))
    }

    fn judge_bearer(&self, token: &[u8]) -> Result<(), String> {
        // gs2-header "n,," then kvpairs separated by 0x01, one of them auth=Bearer <token>
        // (RFC 7628 §3.1).
        let text = std::str::from_utf8(token).map_err(|_| "the OAUTHBEARER token is not UTF-8")?;
        let bearer = text
            .split('\u{1}')
            .find_map(|kv| kv.strip_prefix("auth="))
            .and_then(|auth| {
                auth.strip_prefix("Bearer ")
                    .or_else(|| auth.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or("the OAUTHBEARER message carries no auth=Bearer token")?;
        if self.verifying {
            return Err(
                "Authentication failed: this endpoint verifies SAS keys (--sas-key) and cannot verify an OAUTHBEARER token; use PLAIN with $ConnectionString."
                    .to_owned(),
            );
        }
        let _ = bearer;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_mechanisms_are_taken() {
        let mut sasl = Sasl::new(true);
        let refused = sasl.handshake(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("GSSAPI")),
            1,
        );
        assert_eq!(
            refused.error_code,
            ResponseError::UnsupportedSaslMechanism.code()
        );
        let taken = sasl.handshake(
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(PLAIN)),
            0,
        );
        assert_eq!(taken.error_code, 0);
        assert!(
            sasl.expects_raw_token(),
            "a v0 handshake is followed by a bare token"
        );
    }

    #[test]
    fn a_verifying_endpoint_admits_only_sasl_before_authentication() {
        let sasl = Sasl::new(true);
        assert!(sasl.admits(&Request::ApiVersions(
            kafka_protocol::messages::ApiVersionsRequest::default()
        )));
        assert!(!sasl.admits(&Request::Metadata(
            kafka_protocol::messages::MetadataRequest::default()
        )));
        assert!(Sasl::new(false).admits(&Request::Metadata(
            kafka_protocol::messages::MetadataRequest::default()
        )));
    }

    #[test]
    fn bearer_messages_are_read_as_rfc_7628_writes_them() {
        let sasl = Sasl::new(false);
        assert!(sasl.judge_bearer(b"n,,\x01auth=Bearer abc\x01\x01").is_ok());
        assert!(sasl.judge_bearer(b"n,,\x01auth=Bearer \x01\x01").is_err());
        assert!(Sasl::new(true)
            .judge_bearer(b"n,,\x01auth=Bearer abc\x01\x01")
            .is_err());
    }
}
