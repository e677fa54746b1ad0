//! One connection to a Kafka endpoint: TCP, TLS where the endpoint wants it (trusting the
//! system's roots and `SSL_CERT_FILE`, as the SDK's clients do), SASL, then requests answered in
//! order. Messages are `kafka-protocol`'s; versions are fixed at ones both the service and
//! hubscope's endpoint serve.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ResponseHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::access::{KafkaAccess, Sasl};
use super::KafkaError;

/// The largest answer read; group listings of a big namespace stay far below it.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;
const CLIENT_ID: &str = "hubscope";

pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + Sync> Stream for S {}

pub struct KafkaClient {
    stream: Box<dyn Stream>,
    endpoint: String,
    correlation_id: i32,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl KafkaClient {
    /// Connects to `access` and signs in.
    ///
    /// # Errors
    /// [`KafkaError::Connect`], `Timeout`, or `Denied` for refused credentials.
    pub async fn connect(access: &KafkaAccess, timeout: Duration) -> Result<Self, KafkaError> {
        Self::connect_to(access, &access.host, access.port, timeout).await
    }

    /// Connects to another broker of the same endpoint (a group's coordinator).
    pub(crate) async fn connect_to(
        access: &KafkaAccess,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Self, KafkaError> {
        let endpoint = format!("{host}:{port}");
        let connect_error = |reason: String| KafkaError::Connect {
            endpoint: endpoint.clone(),
            reason,
        };
        let tcp = within(&endpoint, timeout, TcpStream::connect((host, port)))
            .await?
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if access.tls {
            let connector = tokio_rustls::TlsConnector::from(tls_config());
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| connect_error(e.to_string()))?;
            let tls = within(&endpoint, timeout, connector.connect(name, tcp))
                .await?
                .map_err(|e| connect_error(format!("TLS: {e}")))?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let mut client = Self {
            stream,
            endpoint,
            correlation_id: 0,
            timeout,
        };
        client.authenticate(&access.sasl).await?;
        Ok(client)
    }

    async fn authenticate(&mut self, sasl: &Sasl) -> Result<(), KafkaError> {
        let (mechanism, token) = match sasl {
            Sasl::ConnectionString(cs) => {
                ("PLAIN", format!("\0$ConnectionString\0{cs}").into_bytes())
            }
            Sasl::Credential {
                namespace,
                credential,
            } => {
                let scope = format!("https://{namespace}/.default");
                let token = credential.get_token(&[&scope], None).await.map_err(|e| {
                    KafkaError::Denied {
                        endpoint: self.endpoint.clone(),
                        reason: crate::error_text::one_line(&e, |_| None),
                    }
                })?;
                let bearer = format!("n,,\u{1}auth=Bearer {}\u{1}\u{1}", token.token.secret());
                ("OAUTHBEARER", bearer.into_bytes())
            }
        };
        let handshake: SaslHandshakeResponse = self
            .call(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(mechanism)),
            )
            .await?;
        if handshake.error_code != 0 {
            return Err(self.refused("SaslHandshake", handshake.error_code, None));
        }
        let answer: SaslAuthenticateResponse = self
            .call(
                ApiKey::SaslAuthenticate,
                1,
                &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(token)),
            )
            .await?;
        if answer.error_code != 0 {
            return Err(KafkaError::Denied {
                endpoint: self.endpoint.clone(),
                reason: answer
                    .error_message
                    .map_or_else(|| format!("error {}", answer.error_code), |m| m.to_string()),
            });
        }
        Ok(())
    }

    /// Sends one request at `version` and reads its answer.
    ///
    /// # Errors
    /// [`KafkaError::Timeout`], `Connect` when the connection breaks, `Protocol` for an answer
    /// that does not decode.
    pub(crate) async fn call<Req, Resp>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, KafkaError>
    where
        Req: Encodable + HeaderVersion,
        Resp: Decodable + HeaderVersion,
    {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let frame = request_frame(&self.endpoint, api, version, correlation_id, request)?;
        let endpoint = self.endpoint.clone();
        let answer = within(&endpoint, self.timeout, async {
            self.stream.write_all(&frame).await?;
            self.stream.flush().await?;
            read_answer(&mut self.stream).await
        })
        .await?
        .map_err(|e| KafkaError::Connect {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
        })?;
        decode_answer(&self.endpoint, answer, api, version, correlation_id)
    }

    /// The signed-in connection, for requests in flight side by side (the load producer).
    pub(crate) fn into_stream(self) -> Box<dyn Stream> {
        self.stream
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn refused(
        &self,
        request: &'static str,
        code: i16,
        message: Option<&StrBytes>,
    ) -> KafkaError {
        refusal(&self.endpoint, request, code, message)
    }
}

/// Kafka's error `code` for `request`, in words.
pub(crate) fn refusal(
    endpoint: &str,
    request: &'static str,
    code: i16,
    message: Option<&StrBytes>,
) -> KafkaError {
    let name = kafka_protocol::ResponseError::try_from_code(code)
        .map_or_else(|| format!("error {code}"), |e| e.to_string());
    KafkaError::Refused {
        endpoint: endpoint.to_owned(),
        request,
        error: match message {
            Some(m) if !m.is_empty() => format!("{name}: {m}"),
            _ => name,
        },
    }
}

/// `request` as one frame: its length, a request header, and the body at `version`.
pub(crate) fn request_frame<Req: Encodable + HeaderVersion>(
    endpoint: &str,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &Req,
) -> Result<BytesMut, KafkaError> {
    let fault = |reason: String| KafkaError::Protocol {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let mut frame = BytesMut::new();
    frame.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
        .encode(&mut frame, Req::header_version(version))
        .and_then(|()| request.encode(&mut frame, version))
        .map_err(|e| fault(format!("{api:?} request: {e}")))?;
    let length = i32::try_from(frame.len() - 4).map_err(|e| fault(e.to_string()))?;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    Ok(frame)
}

/// Reads one answer frame (its length, then as many bytes).
pub(crate) async fn read_answer(stream: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Bytes> {
    let length = stream.read_i32().await?;
    let length = usize::try_from(length)
        .ok()
        .filter(|l| *l <= MAX_RESPONSE)
        .ok_or_else(|| std::io::Error::other(format!("an answer of {length} bytes")))?;
    let mut body = BytesMut::zeroed(length);
    stream.read_exact(&mut body).await?;
    Ok(body.freeze())
}

/// Decodes the answer to request `correlation_id`.
pub(crate) fn decode_answer<Resp: Decodable + HeaderVersion>(
    endpoint: &str,
    mut answer: Bytes,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<Resp, KafkaError> {
    let fault = |reason: String| KafkaError::Protocol {
        endpoint: endpoint.to_owned(),
        reason,
    };
    let header = ResponseHeader::decode(&mut answer, Resp::header_version(version))
        .map_err(|e| fault(format!("{api:?} answer header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(fault(format!(
            "answer {} to request {correlation_id}",
            header.correlation_id
        )));
    }
    Resp::decode(&mut answer, version).map_err(|e| fault(format!("{api:?} answer: {e}")))
}

async fn within<T>(
    endpoint: &str,
    timeout: Duration,
    work: impl std::future::Future<Output = T>,
) -> Result<T, KafkaError> {
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| KafkaError::Timeout {
            endpoint: endpoint.to_owned(),
            secs: timeout.as_secs(),
        })
}

/// The system's roots (and `SSL_CERT_FILE`, which rustls-native-certs reads), once.
fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_or_else(
                    |_| rustls::ClientConfig::builder().with_root_certificates(roots.clone()),
                    |b| b.with_root_certificates(roots.clone()),
                )
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}
