//! `basalt webhook`: the admission server (TLS) for a real cluster. Parses flags, connects the
//! reflector-backed cluster view and runs `webhooks::serve` until SIGTERM/SIGINT. Also
//! [`start_embedded`], which `basalt up` uses to run the same server on loopback and register it
//! with the devcluster. The rules, the server and the certificate reload live in `webhooks`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use webhooks::{KubeState, ServerConfig, TlsSource};

/// Flags of `basalt webhook` (the Helm chart passes the same names).
#[derive(clap::Args, Debug)]
pub struct WebhookArgs {
    /// HTTPS address of the admission routes.
    #[arg(long, default_value = "0.0.0.0:8443")]
    bind_address: SocketAddr,
    /// PEM certificate chain; reloaded when the file changes. Without it a self-signed
    /// certificate is generated (development only: the API server cannot verify it).
    #[arg(long, requires = "tls_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, requires = "tls_cert_file")]
    tls_key_file: Option<PathBuf>,
    /// Scheduler names; the first is set on Jobs that name none (repeatable).
    #[arg(long = "scheduler-name", default_value = "volcano")]
    scheduler_names: Vec<String>,
    /// Plain-HTTP address of /metrics.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_bind_address: SocketAddr,
    /// Plain-HTTP address of /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8081")]
    health_bind_address: SocketAddr,
    /// Seconds between checks of the certificate files for changes.
    #[arg(long, default_value_t = 2)]
    cert_reload_seconds: u64,
    /// Register the webhook configurations with the API server, pointing at this base URL
    /// (e.g. https://127.0.0.1:8443), when the server runs outside the cluster (development,
    /// tests). The Helm chart registers them itself, with the Service.
    #[arg(long, value_name = "URL", requires = "register_ca_file")]
    register_url: Option<String>,
    /// PEM CA certificate that signed --tls-cert-file: the caBundle of --register-url.
    #[arg(long, value_name = "FILE", requires = "register_url")]
    register_ca_file: Option<PathBuf>,
}

/// Runs the admission server until a signal arrives.
pub fn run(args: WebhookArgs) -> anyhow::Result<()> {
    crate::logging::init()?;
    webhooks::certs::install_default_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: WebhookArgs) -> anyhow::Result<()> {
    let tls = match (args.tls_cert_file, args.tls_key_file) {
        (Some(cert), Some(key)) => TlsSource::Files { cert, key },
        _ => {
            tracing::warn!("no --tls-cert-file/--tls-key-file: serving a self-signed certificate");
            TlsSource::SelfSigned(vec!["localhost".into(), "127.0.0.1".into()])
        }
    };
    let config = ServerConfig {
        bind_address: args.bind_address,
        tls,
        health_bind_address: args.health_bind_address,
        metrics_bind_address: (args.metrics_bind_address != args.health_bind_address)
            .then_some(args.metrics_bind_address),
        scheduler_name: args
            .scheduler_names
            .first()
            .cloned()
            .unwrap_or_else(|| "volcano".into()),
        reload_interval: Duration::from_secs(args.cert_reload_seconds.max(1)),
        queue_grace: Duration::from_secs(1),
        limits: webhooks::REVIEW_LIMITS,
        ops_limits: webhooks::OPS_LIMITS,
    };
    let cluster = KubeState::connect().await?;
    if let (Some(url), Some(ca_file)) = (&args.register_url, &args.register_ca_file) {
        let ca_pem = std::fs::read_to_string(ca_file)
            .with_context(|| format!("reading --register-ca-file {}", ca_file.display()))?;
        let client = kube::Client::try_default()
            .await
            .context("connecting to the API server to register the webhooks")?;
        let target = webhooks::ClientConfig::Url(url.trim_end_matches('/').to_owned());
        webhooks::registration::register(client, &ca_pem, &target)
            .await
            .context("registering the admission webhooks with the API server")?;
        tracing::info!(%url, "admission webhooks registered");
    }
    webhooks::serve(config, Arc::new(cluster), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
    .context("running the admission server")
}

/// Runs the admission server for `basalt up`: a loopback HTTPS port with a certificate issued
/// by the devcluster's CA, the configurations registered with a URL, and a wait until the cluster
/// view has listed everything (and, when the controllers run, seen the `default` queue) so the
/// first `kubectl apply` is judged on a complete view.
pub async fn start_embedded(
    client: kube::Client,
    ca: &devcluster::tls::CertificateAuthority,
    ca_pem: &str,
    expect_default_queue: bool,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), webhooks::Error>>> {
    use webhooks::ClusterState as _;

    webhooks::certs::install_default_provider();
    let cert = ca
        .issue(&["127.0.0.1".to_owned(), "localhost".to_owned()])
        .context("issuing the webhook certificate")?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let config = ServerConfig {
        bind_address: loopback,
        tls: TlsSource::Pem {
            cert: cert.cert_pem,
            key: cert.key_pem,
        },
        health_bind_address: loopback,
        metrics_bind_address: None,
        scheduler_name: "volcano".to_owned(),
        reload_interval: Duration::from_secs(60),
        queue_grace: Duration::from_secs(2),
        limits: webhooks::REVIEW_LIMITS,
        ops_limits: webhooks::OPS_LIMITS,
    };
    let state = KubeState::start(client.clone());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !(state.ready() && (!expect_default_queue || state.queue("default").is_some())) {
        if std::time::Instant::now() > deadline {
            tracing::warn!("the webhooks' view of queues and nodes is not complete after 30s");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let server = webhooks::Server::bind(config, Arc::new(state)).await?;
    let url = format!("https://{}", server.https_addr());
    // The API server may answer a transient error (e.g. under `basalt up --fault-rate`):
    // registration is an idempotent apply, so retry it a bounded number of times.
    let target = webhooks::ClientConfig::Url(url.clone());
    let mut attempt = 1;
    loop {
        match webhooks::registration::register(client.clone(), ca_pem, &target).await {
            Ok(()) => break,
            Err(e) if attempt < 10 => {
                tracing::warn!(error = %e, attempt, "registering the admission webhooks; retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e)
                    .context("registering the admission webhooks with the API server"));
            }
        }
    }
    tracing::info!(%url, "admission webhooks registered");
    Ok(tokio::spawn(server.run(shutdown)))
}
