//! Native TLS (rustls, with the `ring` provider): the certificate chain and
//! private key come from PEM files (`--tls-cert`, `--tls-key`) and can be
//! read again while serving ([`Tls::reload`], on SIGHUP), so that a renewed
//! certificate takes effect without a restart. Connections open at the time
//! keep the certificate they were made with; the next handshake gets the
//! new one. A reload that fails (a missing file, a key that does not fit
//! the certificate) changes nothing: the current pair stays in use.
//!
//! It offers TLS 1.3 and 1.2 with rustls's safe defaults and negotiates
//! `http/1.1` only (ALPN), like the plain listener (see [`crate::app`]).

use std::{
    fmt,
    path::PathBuf,
    sync::{Arc, PoisonError, RwLock},
};

use rustls::{
    ServerConfig,
    crypto::CryptoProvider,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::TlsAcceptor;

/// Where the certificate chain and its private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server's certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A certificate or key file larger than this is refused unread (a chain
/// of a few certificates is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Certificates in a chain, at most: clients refuse longer chains anyway.
pub const MAX_CHAIN: usize = 10;

/// Why a certificate and key could not be used. Never holds key material:
/// a PEM parser's error may quote the line it stumbled on (a whole key
/// when its newlines were lost), so only its kind is kept.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("could not read the TLS certificate chain {}: {reason}", path.display())]
    Certificate { path: PathBuf, reason: String },
    #[error("the TLS certificate file {} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the TLS certificate file {} holds more than {MAX_CHAIN} certificates", path.display())]
    ChainTooLong { path: PathBuf },
    #[error("could not read the TLS private key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("the TLS private key {} does not fit the certificate {}: {source}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf, source: rustls::Error },
    #[error("could not set up TLS: {0}")]
    Config(rustls::Error),
}

/// What went wrong reading PEM, without the bytes it read.
fn pem_reason(error: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error;
    match error {
        Error::Io(e) => e.to_string(),
        Error::MissingSectionEnd { .. } => "a PEM section has no END line (were its newlines lost?)".into(),
        Error::IllegalSectionStart { .. } => "a line starting a PEM section is not valid".into(),
        Error::Base64Decode(_) => "a PEM section is not valid base64".into(),
        Error::NoItemsFound => "it holds no PEM item of the kind needed".into(),
        _ => "it is not valid PEM".into(),
    }
}

/// The file's bytes, if it is a regular file (not a FIFO, a device or a
/// directory, which could block or never end) of at most [`MAX_FILE_BYTES`].
fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let regular = |meta: &std::fs::Metadata| {
        if !meta.is_file() {
            return Err("it is not a regular file".to_owned());
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(format!("it is larger than {MAX_FILE_BYTES} bytes"));
        }
        Ok(())
    };
    regular(&std::fs::metadata(path).map_err(|e| e.to_string())?)?;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    regular(&file.metadata().map_err(|e| e.to_string())?)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("it is larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// The certificate every handshake is answered with, replaceable.
struct Current(RwLock<Arc<CertifiedKey>>);

impl fmt::Debug for Current {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Current(..)")
    }
}

impl Current {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = key;
    }
}

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// A TLS acceptor over a certificate that [`Tls::reload`] replaces.
#[derive(Clone)]
pub struct Tls {
    files: Arc<TlsFiles>,
    provider: Arc<CryptoProvider>,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the pair and builds the acceptor; any problem is an error
    /// naming the file at fault.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = Arc::new(Current(RwLock::new(read(&files, &provider)?)));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        Ok(Self { files: Arc::new(files), provider, current, acceptor })
    }

    /// Reads the files again; on success the next handshake uses the new
    /// pair, on failure the current one stays. It reads files: call it
    /// where blocking is allowed (`spawn_blocking`).
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = read(&self.files, &self.provider)?;
        self.current.set(fresh);
        Ok(())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

fn read(files: &TlsFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_error = |reason| TlsError::Certificate { path: files.cert.clone(), reason };
    let key_error = |reason| TlsError::Key { path: files.key.clone(), reason };
    let chain_pem = read_file(&files.cert).map_err(cert_error)?;
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(&chain_pem) {
        chain.push(cert.map_err(|e| cert_error(pem_reason(&e)))?);
        if chain.len() > MAX_CHAIN {
            return Err(TlsError::ChainTooLong { path: files.cert.clone() });
        }
    }
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: files.cert.clone() });
    }
    let key_pem = zeroize::Zeroizing::new(read_file(&files.key).map_err(key_error)?);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| key_error(pem_reason(&e)))?;
    let certified = CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    })?;
    Ok(Arc::new(certified))
}
