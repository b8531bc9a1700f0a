//! Errors of the server side of the crate (configuration, certificates, listening). Admission
//! decisions never produce these: a refused object is a normal answer, not an error.

use std::path::PathBuf;

/// Errors of the admission server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}; check --tls-cert-file/--tls-key-file")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The PEM contents are not a usable certificate chain and private key.
    #[error(
        "tls material in {path} is unusable: {reason}; provide a PEM certificate chain and its PKCS#8/RSA/EC private key"
    )]
    BadPem {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Generating a self-signed certificate failed.
    #[error("cannot generate a self-signed certificate: {0}")]
    SelfSigned(String),
    /// Binding a port failed.
    #[error("cannot listen on {addr}: {source}; is the port in use?")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A Kubernetes API call failed (client configuration or registration).
    #[error("kubernetes API: {0}; check KUBECONFIG (or the in-cluster service account) and RBAC")]
    Kube(String),
}
