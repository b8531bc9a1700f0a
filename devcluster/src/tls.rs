//! TLS: a generated certificate authority (rcgen), serving certificates it signs, a rustls
//! (ring) server configuration (the accept loop is in `serve`). Public so that webhook servers
//! in tests can use the same CA.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::Error;

/// A certificate authority that signs serving certificates.
pub struct CertificateAuthority {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate clients trust (kept as first issued when reloaded from disk).
    pem: String,
    key_pem: String,
}

/// A serving certificate and its key, PEM and DER.
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

impl CertificateAuthority {
    pub fn generate(common_name: &str) -> Result<Self, Error> {
        let key = KeyPair::generate().map_err(tls_err)?;
        Self::with_key(common_name, key, None)
    }

    /// Rebuilds a CA from its certificate and key PEM (as written by `pem`/`key_pem`). The
    /// same subject and key sign new certificates, so the stored certificate still verifies them.
    pub fn from_pem(common_name: &str, cert_pem: &str, key_pem: &str) -> Result<Self, Error> {
        let key = KeyPair::from_pem(key_pem).map_err(tls_err)?;
        Self::with_key(common_name, key, Some(cert_pem.to_string()))
    }

    fn with_key(common_name: &str, key: KeyPair, pem: Option<String>) -> Result<Self, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key_pem = key.serialize_pem();
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(tls_err)?;
        let pem = pem.unwrap_or_else(|| issuer.pem());
        Ok(Self {
            issuer,
            pem,
            key_pem,
        })
    }

    pub fn ca_pem(&self) -> String {
        self.pem.clone()
    }

    /// The CA's private key (PEM), for persisting it in a data dir.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a serving certificate for DNS names and IP addresses.
    pub fn issue(&self, names: &[String]) -> Result<ServingCert, Error> {
        let mut params = CertificateParams::new(names.to_vec()).map_err(tls_err)?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().map(String::as_str).unwrap_or("devcluster"),
        );
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok(ServingCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }
}

impl ServingCert {
    /// A rustls server configuration (ring provider, HTTP/1.1 only).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .map_err(tls_err)?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}
