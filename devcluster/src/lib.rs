//! An embedded Kubernetes-compatible API server for Basalt: what `basalt up` and every e2e
//! test run against. Real `kubectl` (1.32) and kube-rs clients talk to it over HTTPS with a
//! bearer token. This module owns the public API: [`DevCluster::builder`], [`DevClusterHandle`]
//! and the readiness gate; the serving machinery lives in the private modules below.

mod admission;
mod api;
mod cluster;
mod discovery;
mod error;
mod faults;
pub mod fuzz;
mod gc;
mod http;
mod kinds;
mod limits;
mod names;
mod openapi;
mod patch;
mod persist;
mod protobuf;
mod qos;
pub mod quantity;
mod registry;
mod selectors;
mod serve;
mod ssa;
mod store;
mod table;
pub mod tls;
mod util;
mod validation;
mod watch;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

pub use error::{ApiError, Error};
pub use faults::{FaultRule, RuleError};
pub use persist::DiskFaults;
pub use qos::qos_class;
pub use serve::{ConnLimits, serve_tls};

/// The Kubernetes version reported by `/version`: the kubectl dispatcher on our machines picks
/// its own minor version from it, and 1.32 is the one every scenario was verified with.
pub const SERVER_GIT_VERSION: &str = "v1.32.4";

pub(crate) fn version_info() -> Value {
    json!({"major": "1", "minor": "32", "gitVersion": SERVER_GIT_VERSION, "gitCommit": "basalt-devcluster",
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
        "compiler": "gc", "platform": "linux/amd64"})
}

/// A resource served by an extension router (e.g. metrics.k8s.io from the node simulator);
/// listed in discovery, served by the router given to [`DevClusterBuilder::extension`].
#[derive(Debug, Clone)]
pub struct ExtraResource {
    /// `metrics.k8s.io/v1beta1`
    pub group_version: String,
    pub plural: String,
    pub kind: String,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

/// Default of [`DevClusterBuilder::history_bytes`].
pub const DEFAULT_HISTORY_BYTES: usize = 64 * 1024 * 1024;

/// Server settings; built by [`DevClusterBuilder`].
#[derive(Debug, Clone)]
pub struct Config {
    pub fault_rate: f64,
    /// User-Agent prefixes whose requests never get an injected fault (see
    /// [`DevClusterBuilder::spare_from_faults`]).
    pub fault_spared_agents: Vec<String>,
    /// Deterministic faults (see [`DevClusterBuilder::fault_rule`]).
    pub fault_rules: Vec<FaultRule>,
    pub bookmark_interval: Duration,
    pub default_watch_timeout: Duration,
    pub history: usize,
    /// Serialized bytes of the objects kept in the watch history.
    pub history_bytes: usize,
    pub graceful_pod_deletion: bool,
    /// host:port advertised in `/api`.
    pub advertise: String,
}

/// Named readiness conditions; `/readyz` is 200 only when all are set.
#[derive(Clone, Default)]
pub struct ReadyGate(Arc<Mutex<BTreeMap<String, bool>>>);

impl ReadyGate {
    /// Registers a component as not ready (until `set(name, true)`).
    pub fn register(&self, name: &str) {
        self.lock().insert(name.to_string(), false);
    }
    pub fn set(&self, name: &str, ready: bool) {
        self.lock().insert(name.to_string(), ready);
    }
    /// Names of components that are not ready.
    pub fn failing(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, r)| !**r)
            .map(|(n, _)| n.clone())
            .collect()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Entry point: `DevCluster::builder().start().await`.
pub struct DevCluster;

impl DevCluster {
    pub fn builder() -> DevClusterBuilder {
        DevClusterBuilder::default()
    }
}

pub struct DevClusterBuilder {
    addr: SocketAddr,
    data_dir: Option<PathBuf>,
    data_dir_options: persist::Options,
    conn_limits: ConnLimits,
    fault_rate: f64,
    fault_spared_agents: Vec<String>,
    fault_rules: Vec<FaultRule>,
    bookmark_interval: Duration,
    default_watch_timeout: Duration,
    history: usize,
    history_bytes: usize,
    graceful_pod_deletion: bool,
    crds: Vec<Value>,
    extensions: Vec<(axum::Router, Vec<ExtraResource>)>,
    webhook_services: BTreeMap<String, SocketAddr>,
    ready_components: Vec<String>,
    namespaces: Vec<String>,
    extra_sans: Vec<String>,
}

impl Default for DevClusterBuilder {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: None,
            data_dir_options: persist::Options::default(),
            conn_limits: ConnLimits::default(),
            fault_rate: 0.0,
            fault_spared_agents: vec![],
            fault_rules: vec![],
            bookmark_interval: Duration::from_secs(60),
            default_watch_timeout: Duration::from_secs(1800),
            history: 10_000,
            history_bytes: DEFAULT_HISTORY_BYTES,
            graceful_pod_deletion: false,
            crds: vec![],
            extensions: vec![],
            webhook_services: BTreeMap::new(),
            ready_components: vec![],
            // Basalt's own namespace, and Volcano's so that Volcano manifests apply unchanged.
            namespaces: [
                "default",
                "kube-system",
                "kube-public",
                "kube-node-lease",
                "basalt-system",
                "volcano-system",
            ]
            .map(String::from)
            .to_vec(),
            extra_sans: vec![],
        }
    }
}

impl DevClusterBuilder {
    /// Listen address (default `127.0.0.1:0`, a random loopback port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
    pub fn port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }
    /// Persist every object under this directory (append-only log); in-memory without it.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self
    }
    /// Skip fsync on the data dir (benchmarks only: an acknowledged write may then be lost when
    /// the host, not only the process, crashes).
    pub fn unsafe_no_fsync(mut self, on: bool) -> Self {
        self.data_dir_options.unsafe_no_fsync = on;
        self
    }
    /// Fail appends or syncs of the data dir log as `faults` decides (tests of durability).
    pub fn disk_faults(mut self, faults: Arc<dyn DiskFaults>) -> Self {
        self.data_dir_options.faults = Some(faults);
        self
    }
    /// Timeouts and the connection and watch caps of the HTTPS listener (defaults: handshake
    /// 10 s, headers 30 s, request 60 s, 1024 connections, 8192 watches).
    pub fn conn_limits(mut self, limits: ConnLimits) -> Self {
        self.conn_limits = limits;
        self
    }
    /// Inject 500s and 409s into writes and drop watches, each at this rate (0..1).
    pub fn fault_rate(mut self, rate: f64) -> Self {
        self.fault_rate = rate.clamp(0.0, 1.0);
        self
    }
    /// Requests whose `User-Agent` starts with `prefix` (say `kubectl/`) get no injected fault:
    /// a test can aim the faults at the components it tests and keep its own driver reliable.
    pub fn spare_from_faults(mut self, prefix: impl Into<String>) -> Self {
        self.fault_spared_agents.push(prefix.into());
        self
    }
    /// Fail the first `rule.count` writes that match `rule` (independent of
    /// [`fault_rate`](Self::fault_rate); clients spared by
    /// [`spare_from_faults`](Self::spare_from_faults) are spared from rules too): a test can
    /// make exactly the write it is about fail, e.g. the first bind of one pod.
    pub fn fault_rule(mut self, rule: FaultRule) -> Self {
        self.fault_rules.push(rule);
        self
    }
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }
    /// Watch length when the client sends no timeoutSeconds (default 30 min).
    pub fn default_watch_timeout(mut self, d: Duration) -> Self {
        self.default_watch_timeout = d;
        self
    }
    /// Number of changes kept for watch resumption (default 10,000); older RVs get 410.
    pub fn history(mut self, n: usize) -> Self {
        self.history = n.max(1);
        self
    }
    /// Serialized bytes of the objects kept for watch resumption (default 64 MiB, about 40
    /// changes of 1.5 MiB objects or 30,000 of 2 KiB pods); the oldest changes go first and
    /// their RVs get 410, as with [`history`](Self::history). The newest change is always kept.
    pub fn history_bytes(mut self, bytes: usize) -> Self {
        self.history_bytes = bytes;
        self
    }
    /// Deleting a bound pod only marks it (deletionTimestamp) for the node simulator to finish.
    pub fn graceful_pod_deletion(mut self, on: bool) -> Self {
        self.graceful_pod_deletion = on;
        self
    }
    /// A namespace to create at start (besides default, kube-system, kube-public,
    /// kube-node-lease, basalt-system and volcano-system).
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespaces.push(ns.to_string());
        self
    }
    /// A CRD (JSON value) installed at start.
    pub fn crd(mut self, crd: Value) -> Self {
        self.crds.push(crd);
        self
    }
    /// Routes served in-process next to the API (behind the same TLS and token) plus their
    /// discovery entries: the hook for metrics.k8s.io and other extra API groups.
    pub fn extension(mut self, router: axum::Router, resources: Vec<ExtraResource>) -> Self {
        self.extensions.push((router, resources));
        self
    }
    /// Where webhook Service `name.namespace.svc` is reachable (no cluster DNS here).
    pub fn webhook_service(mut self, name: &str, namespace: &str, addr: SocketAddr) -> Self {
        self.webhook_services
            .insert(format!("{name}.{namespace}.svc"), addr);
        self
    }
    /// A component that must report ready before `/readyz` answers 200.
    pub fn ready_component(mut self, name: &str) -> Self {
        self.ready_components.push(name.to_string());
        self
    }
    /// Extra DNS names or IPs for the serving certificate.
    pub fn subject_alt_name(mut self, name: &str) -> Self {
        self.extra_sans.push(name.to_string());
        self
    }

    pub async fn start(self) -> Result<DevClusterHandle, Error> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: self.addr.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.addr.to_string(),
            source,
        })?;
        let (ca, token) = credentials(self.data_dir.as_deref())?;
        let mut sans = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
            addr.ip().to_string(),
        ];
        sans.extend(self.extra_sans.iter().cloned());
        sans.dedup();
        let serving = ca.issue(&sans)?;
        let server_config = serving.server_config()?;
        let loaded = match &self.data_dir {
            Some(d) => Some(persist::Persist::open(d, self.data_dir_options.clone())?),
            None => None,
        };
        let ready = ReadyGate::default();
        for c in &self.ready_components {
            ready.register(c);
        }
        let extra: Vec<ExtraResource> = self
            .extensions
            .iter()
            .flat_map(|(_, r)| r.clone())
            .collect();
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let advertise = if host.contains(':') {
            format!("[{host}]:{}", addr.port())
        } else {
            format!("{host}:{}", addr.port())
        };
        let cluster = Arc::new(cluster::Cluster {
            store: store::Store::new(
                store::HistoryCap {
                    changes: self.history,
                    bytes: self.history_bytes,
                },
                loaded,
            ),
            registry: RwLock::new(registry::Registry::new(extra)),
            token,
            gc_wake: tokio::sync::Notify::new(),
            config: Config {
                fault_rate: self.fault_rate,
                fault_spared_agents: self.fault_spared_agents,
                fault_rules: self.fault_rules.clone(),
                bookmark_interval: self.bookmark_interval,
                default_watch_timeout: self.default_watch_timeout,
                history: self.history,
                history_bytes: self.history_bytes,
                graceful_pod_deletion: self.graceful_pod_deletion,
                advertise: advertise.clone(),
            },
            ready: ready.clone(),
            faults: Mutex::new(util::XorShift::seeded()),
            fault_rules: faults::FaultRules::new(self.fault_rules),
            shutdown: shutdown_rx,
            webhooks: admission::Client {
                services: self.webhook_services.clone(),
            },
            requests: AtomicU64::new(0),
        });
        // Kinds of CRDs that survived a restart must be served again.
        let (crds, _) = cluster
            .store
            .list("apiextensions.k8s.io/customresourcedefinitions", None);
        for crd in crds {
            if let Err(e) = cluster
                .registry
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .register_crd(&crd)
            {
                tracing::warn!(crd = util::name_of(&crd), error = %e, "stored crd not registered");
            }
        }
        let ns_info = cluster
            .registry()
            .get("", "v1", "namespaces")
            .ok_or_else(|| Error::Crd("namespaces missing".into()))?;
        for ns in &self.namespaces {
            if cluster
                .store
                .get(&("/namespaces".into(), String::new(), ns.clone()))
                .is_none()
            {
                let mut w = vec![];
                let body =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                cluster
                    .create(
                        &ns_info,
                        None,
                        body,
                        &cluster::WriteOpts::internal(),
                        &mut w,
                    )
                    .await
                    .map_err(|e| Error::Crd(format!("cannot create namespace {ns}: {e}")))?;
            }
        }
        for crd in self.crds {
            cluster
                .install_crd(crd)
                .await
                .map_err(|e| Error::Crd(e.to_string()))?;
        }
        let mut app = axum::Router::new()
            .fallback(http::handle)
            .with_state(cluster.clone());
        for (r, _) in self.extensions {
            app = app.merge(r);
        }
        let app = app.layer(axum::middleware::from_fn_with_state(
            cluster.clone(),
            http::auth,
        ));
        let mut stop = cluster.shutdown.clone();
        let limits = self.conn_limits;
        let server = tokio::spawn(serve::serve_tls(
            listener,
            server_config,
            app.clone(),
            limits,
            async move {
                let _ = stop.changed().await;
            },
        ));
        let gc = tokio::spawn(gc::run(cluster.clone()));
        Ok(DevClusterHandle {
            addr,
            server_url: format!("https://{advertise}"),
            ca_pem: ca.ca_pem(),
            ca,
            cluster,
            shutdown: shutdown_tx,
            tasks: Mutex::new(vec![server, gc]),
            app,
            request_timeout: limits.request_timeout,
        })
    }
}

const CA_NAME: &str = "basalt-devcluster-ca";

/// The CA and bearer token: kept in `data_dir/tls/` and `data_dir/token` when there is a data
/// dir (so a restarted cluster keeps its kubeconfig valid), fresh otherwise.
fn credentials(data_dir: Option<&Path>) -> Result<(tls::CertificateAuthority, String), Error> {
    let Some(dir) = data_dir else {
        return Ok((
            tls::CertificateAuthority::generate(CA_NAME)?,
            util::random_token(),
        ));
    };
    let io = |source| Error::DataDir {
        path: dir.display().to_string(),
        source,
    };
    let (cert_path, key_path, token_path) = (
        dir.join("tls/ca.pem"),
        dir.join("tls/ca-key.pem"),
        dir.join("token"),
    );
    if cert_path.exists() && key_path.exists() && token_path.exists() {
        let cert = std::fs::read_to_string(&cert_path).map_err(io)?;
        let key = std::fs::read_to_string(&key_path).map_err(io)?;
        let token = std::fs::read_to_string(&token_path)
            .map_err(io)?
            .trim()
            .to_string();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::DataDir {
                path: token_path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "the bearer token must be printable ASCII without spaces; delete the file to get a new one",
                ),
            });
        }
        return Ok((
            tls::CertificateAuthority::from_pem(CA_NAME, &cert, &key)?,
            token,
        ));
    }
    let ca = tls::CertificateAuthority::generate(CA_NAME)?;
    let token = util::random_token();
    persist::private_dir(dir).map_err(io)?;
    persist::private_dir(&dir.join("tls")).map_err(io)?;
    write_private(&cert_path, &ca.ca_pem()).map_err(io)?;
    write_private(&key_path, ca.key_pem()).map_err(io)?;
    write_private(&token_path, &token).map_err(io)?;
    Ok((ca, token))
}

/// Writes a file readable by its owner only (it holds a key or the token).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = persist::private_file(
        path,
        std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true),
    )?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A running dev cluster.
pub struct DevClusterHandle {
    addr: SocketAddr,
    server_url: String,
    ca_pem: String,
    ca: tls::CertificateAuthority,
    cluster: Arc<cluster::Cluster>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The router the TLS port serves (auth included), for in-process requests.
    app: axum::Router,
    /// The TLS port's request deadline, applied to in-process clients too.
    request_timeout: Duration,
}

impl DevClusterHandle {
    /// Serves one request in process through the same router as the HTTPS port (bearer token,
    /// body limit, validation, storage), without TLS or connection deadlines: for fuzzers and
    /// benches that want the whole request path without sockets.
    pub async fn request(
        &self,
        req: axum::http::Request<axum::body::Body>,
    ) -> axum::response::Response {
        use tower::ServiceExt;
        match self.app.clone().oneshot(req).await {
            Ok(r) => r,
            Err(never) => match never {},
        }
    }

    /// A kube client that reaches this server inside the process: every request goes through
    /// the router the HTTPS port serves — bearer token, request deadline, validation, admission,
    /// storage, watches, fault injection (`user_agent` is the User-Agent fault rules match) —
    /// but without TLS, TCP and HTTP/1 framing on either side. `basalt up` gives it to the
    /// components it runs itself (docs/basalt-up.md, "In-process clients"); kubectl and
    /// everything outside the process use the HTTPS port. Unlike the port, it has no connection
    /// or watch cap: its callers are the server's own components.
    pub fn in_process_client(&self, user_agent: &'static str) -> kube::Client {
        use tower::ServiceExt;
        let app = serve::with_request_timeout(self.app.clone(), self.request_timeout);
        // `credentials` accepts only printable ASCII tokens; were it otherwise, every request
        // would get the server's 401 naming the problem instead of a panic here.
        let bearer = axum::http::HeaderValue::from_str(&format!("Bearer {}", self.token()))
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("Bearer -"));
        let agent = axum::http::HeaderValue::from_static(user_agent);
        // Once the server is shut down (or its handle dropped), requests fail as on a closed
        // port instead of reaching a store nobody serves any more.
        let shutdown = self.cluster.shutdown.clone();
        let service = tower::service_fn(move |req: axum::http::Request<kube::client::Body>| {
            let down = shutdown.has_changed().is_err() || *shutdown.borrow();
            let mut req = req.map(axum::body::Body::new);
            let headers = req.headers_mut();
            headers.insert(axum::http::header::AUTHORIZATION, bearer.clone());
            headers.insert(axum::http::header::USER_AGENT, agent.clone());
            let response = app.clone().oneshot(req);
            async move {
                if down {
                    return Err(tower::BoxError::from(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "the API server has shut down",
                    )));
                }
                response.await.map_err(|never| match never {})
            }
        });
        // The retry a kubeconfig's client has by default (`Config::default_retry`: 429, 503 and
        // 504, three times with backoff), so components meet the same answers either way.
        let service = tower::ServiceBuilder::new()
            .layer(tower::retry::RetryLayer::new(
                kube::client::retry::RetryPolicy::server_retry(),
            ))
            .service(service);
        kube::Client::new(service, "default")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `https://127.0.0.1:PORT`
    pub fn server_url(&self) -> &str {
        &self.server_url
    }
    pub fn token(&self) -> &str {
        &self.cluster.token
    }
    /// PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
    /// The cluster's CA, to issue certificates for webhook servers that the cluster calls.
    pub fn certificate_authority(&self) -> &tls::CertificateAuthority {
        &self.ca
    }
    /// A kubeconfig (YAML) with the server URL, the CA and the bearer token.
    pub fn kubeconfig(&self) -> String {
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: basalt\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\ncontexts:\n- name: basalt\n  context:\n    cluster: basalt\n    user: basalt-admin\n    namespace: default\ncurrent-context: basalt\npreferences: {{}}\nusers:\n- name: basalt-admin\n  user:\n    token: {}\n",
            self.server_url, self.cluster.token
        )
    }
    /// Writes the kubeconfig with mode 0600 (it holds the token).
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let p = path.as_ref();
        let err = |source| Error::Kubeconfig {
            path: p.display().to_string(),
            source,
        };
        let tmp = p.with_extension("tmp");
        std::fs::write(&tmp, self.kubeconfig()).map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(err)?;
        }
        std::fs::rename(&tmp, p).map_err(err)
    }
    /// Installs or updates a CRD from YAML (one or more documents) or JSON text.
    pub async fn register_crd_yaml(&self, text: &str) -> Result<(), Error> {
        let docs: Vec<Value> = match serde_json::from_str::<Value>(text) {
            Ok(v) => vec![v],
            Err(_) => serde_saphyr::from_multiple::<Value>(text)
                .map_err(|e| Error::Crd(format!("invalid yaml: {e}")))?,
        };
        for d in docs.into_iter().filter(|d| !d.is_null()) {
            self.register_crd(d).await?;
        }
        Ok(())
    }
    /// Installs or updates a CRD given as a JSON value.
    pub async fn register_crd(&self, crd: Value) -> Result<(), Error> {
        self.cluster
            .install_crd(crd)
            .await
            .map_err(|e| Error::Crd(e.message))
    }
    /// Installs every `*.yaml`/`*.yml`/`*.json` CRD file of a directory (e.g. `config/crd`).
    pub async fn register_crd_dir(&self, dir: impl AsRef<Path>) -> Result<usize, Error> {
        let d = dir.as_ref();
        let io = |source| Error::DataDir {
            path: d.display().to_string(),
            source,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        files.sort();
        for f in &files {
            let text = std::fs::read_to_string(f).map_err(io)?;
            self.register_crd_yaml(&text).await?;
        }
        Ok(files.len())
    }
    /// The readiness gate behind `/readyz`.
    pub fn ready_gate(&self) -> ReadyGate {
        self.cluster.ready.clone()
    }
    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.cluster.store.current_rv()
    }
    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.cluster.store.lock().objects.len()
    }
    /// Stops serving (open watches end), stops the garbage collector, flushes the data dir.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}
