//! Serving certificates: PEM loading, a self-signed fallback (rcgen), and hot reload. The TLS
//! config resolves the certificate per handshake from [`ReloadingCert`], which a background task
//! refreshes when the certificate or key file changes (polled by modification time and size, so
//! it also sees Kubernetes' symlink swaps of mounted Secrets). A bad new file keeps the old
//! certificate and logs why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::Error;

/// Installs ring as the process-wide rustls provider (needed since rustls 0.22 when a library
/// builds a config without naming one, e.g. the kube client). Harmless if already installed.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds a certified key from a PEM chain and a PEM private key.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8], path: &Path) -> Result<CertifiedKey, Error> {
    let bad = |reason: String| Error::BadPem {
        path: path.to_path_buf(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(format!("certificate: {e:?}")))?;
    if chain.is_empty() {
        return Err(bad("no CERTIFICATE block".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| bad(format!("private key: {e:?}")))?;
    let signer = any_supported_type(&key).map_err(|e| bad(format!("private key: {e}")))?;
    Ok(CertifiedKey::new(chain, signer))
}

/// A self-signed certificate for `names` (DNS names or IPs): `(cert_pem, key_pem)`.
pub fn self_signed(names: &[String]) -> Result<(String, String), Error> {
    let certified = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| Error::SelfSigned(e.to_string()))?;
    Ok((certified.cert.pem(), certified.signing_key.serialize_pem()))
}

/// The certificate served right now, replaceable while the server runs.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<(PathBuf, PathBuf)>,
    seen: RwLock<Option<Stamp>>,
}

type Stamp = [(Option<SystemTime>, u64); 2];

impl ReloadingCert {
    /// Serves a fixed certificate (no files to watch).
    pub fn fixed(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self, Error> {
        let key = certified_key(cert_pem, key_pem, Path::new("<memory>"))?;
        Ok(Self {
            current: RwLock::new(Arc::new(key)),
            files: None,
            seen: RwLock::new(None),
        })
    }

    /// Loads `cert` and `key`; [`ReloadingCert::reload_if_changed`] re-reads them.
    pub fn from_files(cert: &Path, key: &Path) -> Result<Self, Error> {
        let stamp = stamp(cert, key);
        let loaded = load(cert, key)?;
        Ok(Self {
            current: RwLock::new(Arc::new(loaded)),
            files: Some((cert.to_path_buf(), key.to_path_buf())),
            seen: RwLock::new(Some(stamp)),
        })
    }

    /// Re-reads the files if their modification time or size changed. Returns whether a new
    /// certificate is now served; a file that does not load leaves the old one in place.
    pub fn reload_if_changed(&self) -> Result<bool, Error> {
        let Some((cert, key)) = &self.files else {
            return Ok(false);
        };
        let now = stamp(cert, key);
        if self.seen.read().map(|s| *s == Some(now)).unwrap_or(false) {
            return Ok(false);
        }
        let loaded = load(cert, key)?;
        // Locks hold plain values; a poisoned lock still holds a valid certificate.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        *self.seen.write().unwrap_or_else(|e| e.into_inner()) = Some(now);
        Ok(true)
    }

    /// Polls the files every `every` until the process ends (run it as a task).
    pub async fn watch(self: Arc<Self>, every: Duration) {
        if self.files.is_none() {
            return;
        }
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match self.reload_if_changed() {
                Ok(true) => tracing::info!("reloaded the serving certificate"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "keeping the previous serving certificate"),
            }
        }
    }

    /// A rustls server config resolving through this certificate (HTTP/1.1 ALPN).
    pub fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // ring supports every protocol version rustls offers by default, so this cannot fail;
        // fall back to the builder defaults rather than panic if that ever changes.
        let builder = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| rustls::ServerConfig::builder());
        let mut config = builder
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert), one(key)]
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, Error> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| Error::ReadFile {
            path: p.to_path_buf(),
            source,
        })
    };
    certified_key(&read(cert)?, &read(key)?, cert)
}
