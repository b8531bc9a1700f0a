//! Admission: calls the registered Mutating/ValidatingWebhookConfigurations over HTTPS
//! (verifying their caBundle) with admission.k8s.io/v1 AdmissionReview, honouring rules,
//! namespaceSelector, objectSelector, failurePolicy, timeoutSeconds and JSONPatch responses.
//! Not done: matchConditions (CEL), reinvocationPolicy, matchPolicy conversions (one version
//! per kind is served, so Exact and Equivalent agree).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::selectors::LabelSelector;
use crate::util::{get_path, get_str};

/// Where webhook Services (`name.namespace.svc`) are reachable, as there is no cluster DNS.
#[derive(Default, Clone)]
pub struct Client {
    pub services: BTreeMap<String, SocketAddr>,
}

const MUTATING: &str = "admissionregistration.k8s.io/mutatingwebhookconfigurations";
const VALIDATING: &str = "admissionregistration.k8s.io/validatingwebhookconfigurations";

fn configs(c: &Cluster, key: &str) -> Vec<Arc<Value>> {
    let (mut list, _) = c.store.list(key, None);
    list.sort_by(|a, b| crate::util::name_of(a).cmp(crate::util::name_of(b)));
    list
}

/// Runs the mutating webhooks on `obj`.
#[allow(clippy::too_many_arguments)]
pub async fn admit(
    c: &Cluster,
    info: &ResourceInfo,
    op: &str,
    sub: Option<&str>,
    obj: Option<&mut Value>,
    old: Option<&Value>,
    dry_run: bool,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if info.group == "admissionregistration.k8s.io" {
        return Ok(());
    }
    let cfgs = configs(c, MUTATING);
    if cfgs.is_empty() {
        return Ok(());
    }
    let Some(obj) = obj else { return Ok(()) };
    for cfg in cfgs {
        for hook in cfg
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !matches(c, hook, info, op, sub, Some(obj), old, dry_run) {
                continue;
            }
            if let Some(resp) = call(c, hook, info, op, sub, Some(obj), old, dry_run).await? {
                collect_warnings(&resp, warnings);
                denied(hook, &resp)?;
                if let Some(p) = resp.get("patch").and_then(Value::as_str) {
                    let raw = base64::engine::general_purpose::STANDARD
                        .decode(p)
                        .map_err(|e| call_failed(hook, &format!("patch is not base64: {e}")))?;
                    let ops: Value = serde_json::from_slice(&raw)
                        .map_err(|e| call_failed(hook, &format!("patch is not JSON: {e}")))?;
                    crate::patch::json_patch(obj, &ops)
                        .map_err(|e| call_failed(hook, &format!("cannot apply its patch: {e}")))?;
                }
            }
        }
    }
    Ok(())
}

/// Runs the validating webhooks on `obj`.
#[allow(clippy::too_many_arguments)]
pub async fn validate(
    c: &Cluster,
    info: &ResourceInfo,
    op: &str,
    sub: Option<&str>,
    obj: &Value,
    old: Option<&Value>,
    dry_run: bool,
    warnings: &mut Vec<String>,
) -> ApiResult<()> {
    if info.group == "admissionregistration.k8s.io" {
        return Ok(());
    }
    let cfgs = configs(c, VALIDATING);
    if cfgs.is_empty() {
        return Ok(());
    }
    let obj = if op == "DELETE" { None } else { Some(obj) };
    for cfg in cfgs {
        for hook in cfg
            .get("webhooks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !matches(c, hook, info, op, sub, obj, old, dry_run) {
                continue;
            }
            if let Some(resp) = call(c, hook, info, op, sub, obj, old, dry_run).await? {
                collect_warnings(&resp, warnings);
                denied(hook, &resp)?;
            }
        }
    }
    Ok(())
}

fn hook_name(hook: &Value) -> &str {
    get_str(hook, &["name"]).unwrap_or("")
}

fn collect_warnings(resp: &Value, warnings: &mut Vec<String>) {
    if let Some(ws) = resp.get("warnings").and_then(Value::as_array) {
        warnings.extend(ws.iter().filter_map(|w| w.as_str().map(String::from)));
    }
}

fn denied(hook: &Value, resp: &Value) -> ApiResult<()> {
    if resp.get("allowed").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let code = get_path(resp, &["status", "code"])
        .and_then(Value::as_u64)
        .filter(|c| *c >= 400)
        .unwrap_or(403) as u16;
    let msg = get_str(resp, &["status", "message"]).unwrap_or("");
    let reason = match code {
        403 => "Forbidden",
        422 => "Invalid",
        400 => "BadRequest",
        409 => "Conflict",
        _ => "Forbidden",
    };
    Err(ApiError::new(
        code,
        reason,
        format!(
            "admission webhook \"{}\" denied the request: {msg}",
            hook_name(hook)
        ),
    ))
}

fn call_failed(hook: &Value, why: &str) -> ApiError {
    ApiError::internal(format!(
        "Internal error occurred: failed calling webhook \"{}\": {why}",
        hook_name(hook)
    ))
}

fn list_has(v: Option<&Value>, want: &str) -> bool {
    v.and_then(Value::as_array).is_some_and(|a| {
        a.iter()
            .any(|x| x.as_str().is_some_and(|s| s == "*" || s == want))
    })
}

fn resource_matches(pattern: &str, plural: &str, sub: Option<&str>) -> bool {
    let (pr, ps) = pattern
        .split_once('/')
        .map_or((pattern, None), |(a, b)| (a, Some(b)));
    let res_ok = pr == "*" || pr == plural;
    match (ps, sub) {
        (None, None) => res_ok,
        (Some(p), Some(s)) => res_ok && (p == "*" || p == s),
        _ => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn matches(
    c: &Cluster,
    hook: &Value,
    info: &ResourceInfo,
    op: &str,
    sub: Option<&str>,
    obj: Option<&Value>,
    old: Option<&Value>,
    dry_run: bool,
) -> bool {
    if dry_run
        && !matches!(
            get_str(hook, &["sideEffects"]),
            Some("None" | "NoneOnDryRun")
        )
    {
        return false;
    }
    let rules = hook
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let rule_ok = rules.iter().any(|r| {
        list_has(r.get("operations"), op)
            && list_has(r.get("apiGroups"), &info.group)
            && list_has(r.get("apiVersions"), &info.version)
            && r.get("resources")
                .and_then(Value::as_array)
                .is_some_and(|rs| {
                    rs.iter()
                        .filter_map(Value::as_str)
                        .any(|p| resource_matches(p, &info.plural, sub))
                })
            && match get_str(r, &["scope"]).unwrap_or("*") {
                "Cluster" => !info.namespaced,
                "Namespaced" => info.namespaced,
                _ => true,
            }
    });
    if !rule_ok {
        return false;
    }
    let labels_of = |o: Option<&Value>| {
        o.and_then(|o| get_path(o, &["metadata", "labels"]))
            .and_then(Value::as_object)
            .cloned()
    };
    if let Some(sel) = hook
        .get("objectSelector")
        .and_then(LabelSelector::from_object)
        && !sel.is_empty()
        && !sel.matches(labels_of(obj).as_ref())
        && !sel.matches(labels_of(old).as_ref())
    {
        return false;
    }
    if let Some(sel) = hook
        .get("namespaceSelector")
        .and_then(LabelSelector::from_object)
        && !sel.is_empty()
    {
        let ns_labels = if info.namespaced {
            let ns = obj
                .or(old)
                .map(crate::util::ns_of)
                .unwrap_or("")
                .to_string();
            c.store
                .get(&("/namespaces".into(), String::new(), ns))
                .as_deref()
                .and_then(|n| labels_of(Some(n)))
        } else if info.plural == "namespaces" && info.builtin {
            labels_of(obj.or(old))
        } else {
            return true;
        };
        if !sel.matches(ns_labels.as_ref()) {
            return false;
        }
    }
    true
}

#[allow(clippy::too_many_arguments)]
async fn call(
    c: &Cluster,
    hook: &Value,
    info: &ResourceInfo,
    op: &str,
    sub: Option<&str>,
    obj: Option<&Value>,
    old: Option<&Value>,
    dry_run: bool,
) -> ApiResult<Option<Value>> {
    let uid = crate::util::new_uid();
    let src = obj.or(old);
    let gvk = json!({"group": info.group, "version": info.version, "kind": info.kind});
    let gvr = json!({"group": info.group, "version": info.version, "resource": info.plural});
    let options_kind = match op {
        "CREATE" => "CreateOptions",
        "UPDATE" => "UpdateOptions",
        _ => "DeleteOptions",
    };
    let mut req = json!({"uid": uid, "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": src.map(crate::util::name_of).unwrap_or(""), "operation": op,
        "userInfo": {"username": "devcluster-admin", "groups": ["system:masters", "system:authenticated"]},
        "object": obj.map(|o| crate::kinds::present(info, o)), "oldObject": old.map(|o| crate::kinds::present(info, o)),
        "dryRun": dry_run, "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind}});
    if info.namespaced {
        req["namespace"] = json!(src.map(crate::util::ns_of).unwrap_or(""));
    }
    if let Some(s) = sub {
        req["subResource"] = json!(s);
        req["requestSubResource"] = json!(s);
    }
    let review =
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req});
    let timeout = hook
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(10)
        .clamp(1, 30);
    let result = tokio::time::timeout(
        Duration::from_secs(timeout),
        post(&c.webhooks, hook, &review),
    )
    .await;
    let outcome = match result {
        Ok(Ok(v)) => match v.get("response") {
            Some(r) if r.get("uid").and_then(Value::as_str) == Some(uid.as_str()) => Ok(r.clone()),
            Some(_) => Err("the response uid does not match the request uid".to_string()),
            None => Err("the AdmissionReview has no response".to_string()),
        },
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("context deadline exceeded (timeout {timeout}s)")),
    };
    match outcome {
        Ok(r) => Ok(Some(r)),
        Err(e) if get_str(hook, &["failurePolicy"]) == Some("Ignore") => {
            tracing::warn!(webhook = hook_name(hook), error = %e, "webhook failed; ignored by failurePolicy");
            Ok(None)
        }
        Err(e) => Err(call_failed(hook, &e)),
    }
}

/// POSTs the review to the webhook over HTTPS and parses the answer.
async fn post(client: &Client, hook: &Value, review: &Value) -> Result<Value, String> {
    let cc = hook
        .get("clientConfig")
        .ok_or("the webhook has no clientConfig")?;
    let (host, addr, path) = if let Some(url) = get_str(cc, &["url"]) {
        let rest = url
            .strip_prefix("https://")
            .ok_or("clientConfig.url must use https")?;
        let (hostport, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h.to_string(), p.parse::<u16>().map_err(|e| e.to_string())?)
            }
            _ => (hostport.to_string(), 443),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("cannot resolve {host}"))?;
        (host, addr, path)
    } else if let Some(svc) = cc.get("service") {
        let name = get_str(svc, &["name"]).unwrap_or("");
        let ns = get_str(svc, &["namespace"]).unwrap_or("");
        let host = format!("{name}.{ns}.svc");
        let addr = *client.services.get(&host).ok_or_else(|| {
            format!(
                "service {host} is not mapped to an address; use DevClusterBuilder::webhook_service"
            )
        })?;
        let path = get_str(svc, &["path"]).unwrap_or("/").to_string();
        (host, addr, path)
    } else {
        return Err("clientConfig needs url or service".into());
    };
    let mut roots = rustls::RootCertStore::empty();
    if let Some(b) = get_str(cc, &["caBundle"]) {
        let pem = base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| format!("caBundle is not base64: {e}"))?;
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("caBundle is not PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("caBundle certificate rejected: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server_name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| format!("bad host {host}: {e}"))?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: {e}"))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let body = serde_json::to_vec(review).map_err(|e| e.to_string())?;
    let req = hyper::Request::post(path)
        .header("host", host)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "the server answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the response is not an AdmissionReview: {e}"))
}
