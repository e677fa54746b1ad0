//! The endpoint's TLS identity: a certificate and key the user gives, or one generated on first
//! start and kept for the next.
//!
//! Libraries that take only a namespace and a credential always dial TLS on 5671; a certificate
//! that names `localhost` and `127.0.0.1` (and whatever `--tls-name` adds) lets them reach the
//! endpoint once they trust it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// File names of a generated identity, in the directory it is kept in.
const GENERATED_CERT: &str = "tls-cert.pem";
const GENERATED_KEY: &str = "tls-key.pem";
/// The names a generated certificate holds, one a line: a start that asks for others makes a
/// new certificate.
const GENERATED_NAMES: &str = "tls-names.txt";

/// Names every generated certificate holds, besides those the user adds.
const DEFAULT_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the generated certificate to {path}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no PEM private key")]
    NoKey { path: PathBuf },
    #[error("--tls-cert and --tls-key go together; give both or neither")]
    HalfGiven,
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate and key do not make a TLS identity: {0}")]
    Identity(#[from] rustls::Error),
}

/// Where the identity comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files the user gave.
    Files { cert: PathBuf, key: PathBuf },
    /// Generated into `dir` on first start (kept there for the next), naming `names` besides
    /// `localhost` and `127.0.0.1`.
    Generated { dir: PathBuf, names: Vec<String> },
}

/// A loaded identity: what rustls serves, and the certificate's file for clients to trust.
#[derive(Debug, Clone)]
pub struct TlsIdentity {
    pub config: Arc<ServerConfig>,
    pub cert_path: PathBuf,
    /// Whether this start generated the certificate (rather than reading it).
    pub generated: bool,
}

impl TlsSource {
    /// From the command line's `--tls-cert` and `--tls-key`, else generated into `dir`.
    ///
    /// # Errors
    /// [`TlsError::HalfGiven`] when only one of the files is given.
    pub fn from_args(
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
        dir: PathBuf,
        names: Vec<String>,
    ) -> Result<Self, TlsError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Self::Files { cert, key }),
            (None, None) => Ok(Self::Generated { dir, names }),
            _ => Err(TlsError::HalfGiven),
        }
    }

    /// Reads (or generates, then reads) the identity.
    ///
    /// # Errors
    /// [`TlsError`] when a file cannot be read or written, or holds no usable certificate or key.
    pub fn load(&self) -> Result<TlsIdentity, TlsError> {
        let (cert, key, generated) = match self {
            Self::Files { cert, key } => (cert.clone(), key.clone(), false),
            Self::Generated { dir, names } => {
                let cert = dir.join(GENERATED_CERT);
                let key = dir.join(GENERATED_KEY);
                let wanted = all_names(names).join("\n");
                let held = fs::read_to_string(dir.join(GENERATED_NAMES)).ok();
                let generated =
                    !(cert.exists() && key.exists() && held.as_deref() == Some(wanted.as_str()));
                if generated {
                    generate(dir, &all_names(names))?;
                }
                (cert, key, generated)
            }
        };
        let config = server_config(&cert, &key)?;
        Ok(TlsIdentity {
            config: Arc::new(config),
            cert_path: cert,
            generated,
        })
    }
}

/// `localhost`, `127.0.0.1` and the user's names, each once.
fn all_names(names: &[String]) -> Vec<String> {
    let mut all: Vec<String> = DEFAULT_NAMES.iter().map(|&n| n.to_owned()).collect();
    for name in names {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    all
}

fn generate(dir: &Path, names: &[String]) -> Result<(), TlsError> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())?;
    fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let write = |name: &str, text: &str, private: bool| {
        let path = dir.join(name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        // The key is for this user's eyes only.
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        options
            .open(&path)
            .and_then(|mut file| io::Write::write_all(&mut file, text.as_bytes()))
            .map_err(|source| TlsError::Write { path, source })
    };
    write(GENERATED_KEY, &certified.signing_key.serialize_pem(), true)?;
    write(GENERATED_CERT, &certified.cert.pem(), false)?;
    write(GENERATED_NAMES, &names.join("\n"), false)?;
    Ok(())
}

fn server_config(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, TlsError> {
    let read = |path: &Path| {
        fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read(cert_path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&read(key_path)?).map_err(|_| TlsError::NoKey {
        path: key_path.to_owned(),
    })?;
    // rustls may be built with more than one crypto provider; name the one we use.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_identity_is_kept_for_the_next_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = TlsSource::Generated {
            dir: dir.path().to_owned(),
            names: vec!["eh.local".into()],
        };
        let first = source.load().expect("generated");
        assert!(first.generated);
        let pem = fs::read(&first.cert_path).expect("cert");
        let second = source.load().expect("read back");
        assert!(!second.generated);
        assert_eq!(fs::read(&second.cert_path).expect("cert"), pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let key = fs::metadata(dir.path().join(GENERATED_KEY)).expect("key");
            assert_eq!(key.permissions().mode() & 0o077, 0, "the key is private");
        }
        // Other names make another certificate.
        let renamed = TlsSource::Generated {
            dir: dir.path().to_owned(),
            names: vec!["other.local".into()],
        };
        let third = renamed.load().expect("regenerated");
        assert!(third.generated);
        assert_ne!(fs::read(&third.cert_path).expect("cert"), pem);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        fs::write(&cert, "not a certificate").expect("write");
        fs::write(&key, "not a key").expect("write");
        let source = TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        let error = source.load().expect_err("refused");
        assert!(matches!(error, TlsError::NoCertificate { .. }), "{error}");
        let missing = TlsSource::Files {
            cert: dir.path().join("missing.pem"),
            key,
        };
        assert!(missing
            .load()
            .expect_err("refused")
            .to_string()
            .contains("missing.pem"));
        assert!(matches!(
            TlsSource::from_args(Some(cert), None, dir.path().to_owned(), vec![]),
            Err(TlsError::HalfGiven)
        ));
    }
}
