//! The start of a connection: protocol headers and SASL (AMQP 1.0 §2.2, §5.3).

use fe2o3_amqp_types::primitives::{Array, Symbol};
use fe2o3_amqp_types::sasl::{SaslCode, SaslMechanisms, SaslOutcome};

use super::connection::{Connection, Phase};
use crate::protocol::codec::{self, SaslBody};

/// Mechanisms offered, as the service offers them; authorization comes later over `$cbs`.
const MECHANISMS: [&str; 4] = ["MSSBCBS", "PLAIN", "ANONYMOUS", "EXTERNAL"];

impl Connection<'_> {
    pub(super) fn on_header(&mut self, header: [u8; 8]) {
        match (self.phase, header) {
            (Phase::Header, codec::SASL_HEADER) => {
                self.out.bytes.extend_from_slice(&codec::SASL_HEADER);
                let mechanisms = SaslMechanisms {
                    sasl_server_mechanisms: Array::from(
                        MECHANISMS.into_iter().map(Symbol::from).collect::<Vec<_>>(),
                    ),
                };
                self.write_sasl(&mechanisms);
                self.phase = Phase::SaslInit;
            }
            (Phase::Header | Phase::SaslAmqpHeader, codec::AMQP_HEADER) => {
                self.out.bytes.extend_from_slice(&codec::AMQP_HEADER);
                self.phase = Phase::Open;
            }
            _ => {
                // AMQP 1.0 §2.2: answer with the header we support, then close the socket.
                tracing::debug!(?header, "unsupported protocol header");
                self.out.bytes.extend_from_slice(&codec::SASL_HEADER);
                self.phase = Phase::Done;
            }
        }
    }

    pub(super) fn on_sasl(&mut self, body: &[u8]) {
        if self.phase != Phase::SaslInit {
            tracing::debug!(phase = ?self.phase, "SASL frame out of place");
            self.phase = Phase::Done;
            return;
        }
        match codec::decode_sasl(body) {
            Ok(SaslBody::Init | SaslBody::Response) => {
                let outcome = SaslOutcome {
                    code: SaslCode::Ok,
                    additional_data: None,
                };
                self.write_sasl(&outcome);
                self.phase = Phase::SaslAmqpHeader;
            }
            Ok(SaslBody::Unexpected) | Err(_) => {
                tracing::debug!("SASL negotiation failed");
                let outcome = SaslOutcome {
                    code: SaslCode::Sys,
                    additional_data: None,
                };
                self.write_sasl(&outcome);
                self.phase = Phase::Done;
            }
        }
    }

    pub(super) fn write_sasl(&mut self, value: &impl serde::Serialize) {
        if let Err(e) = codec::write_sasl(&mut self.out.bytes, value) {
            tracing::error!(error = %e, "a SASL frame could not be encoded");
        }
    }
}
