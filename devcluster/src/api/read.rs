//! Read verbs: get, list (selectors, pagination, Table, metadata-only), watch and pods/log.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{Target, object_response};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::http::{Query, bytes_response};
use crate::kinds;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::table;

pub(super) fn get(c: &Cluster, t: &Target, name: &str, accept: &str) -> ApiResult<Response> {
    let obj = c.get(&t.info, t.ns, name)?;
    Ok(object_response(&t.info, StatusCode::OK, &obj, accept))
}

fn selectors(t: &Target, q: &Query) -> ApiResult<(LabelSelector, FieldSelector)> {
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or(""))
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or(""), &t.info)
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

pub(super) fn selected(c: &Cluster, t: &Target, q: &Query) -> ApiResult<(Vec<Arc<Value>>, u64)> {
    let (labels, fields) = selectors(t, q)?;
    let ns = t.ns.filter(|_| t.info.namespaced);
    // One object by name: a lookup instead of a scan, when the name and the namespace (or a
    // cluster-scoped kind) make one key. A cluster-wide list of a namespaced kind by name
    // scans: the name may exist in every namespace.
    if let (Some(name), true) = (fields.only_name(), labels.is_empty())
        && (ns.is_some() || !t.info.namespaced)
    {
        let (obj, rv) = c.store.get_with_rv(&Cluster::key(&t.info, ns, name));
        return Ok((obj.into_iter().collect(), rv));
    }
    let (all, rv) = c.store.list(&t.info.storage_key, ns);
    let plain = t.info.view == crate::registry::View::Plain;
    let items = all
        .into_iter()
        .filter(|o| labels.matches(o.pointer("/metadata/labels").and_then(Value::as_object)))
        .filter(|o| {
            fields.is_empty()
                || if plain {
                    fields.matches(o)
                } else {
                    fields.matches(&kinds::present(&t.info, o))
                }
        })
        .collect();
    Ok((items, rv))
}

pub(super) fn list(c: &Cluster, t: &Target, q: &Query, accept: &str) -> ApiResult<Response> {
    let (mut items, rv) = selected(c, t, q)?;
    if let Some(tok) = q.get("continue").filter(|s| !s.is_empty()) {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(tok)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
        let (ns, name) = raw.split_once('\u{0}').unwrap_or(("", &raw));
        items.retain(|o| (crate::util::ns_of(o), crate::util::name_of(o)) > (ns, name));
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let mut cont = None;
    let mut remaining = 0;
    if items.len() > limit {
        remaining = items.len() - limit;
        items.truncate(limit);
        if let Some(last) = items.last() {
            let key = format!(
                "{}\u{0}{}",
                crate::util::ns_of(last),
                crate::util::name_of(last)
            );
            cont = Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key));
        }
    }
    let rv = rv.to_string();
    if table::wants_table(accept) {
        let views: Vec<Value> = items.iter().map(|o| kinds::present(&t.info, o)).collect();
        let tb = table::table(&t.info, &views, &rv, cont.as_deref(), true);
        return Ok(bytes_response(
            StatusCode::OK,
            table::TABLE_CT,
            serde_json::to_vec(&tb).unwrap_or_default(),
        ));
    }
    let meta_only = accept.contains("as=PartialObjectMetadataList");
    let mut meta = json!({"resourceVersion": rv});
    if let Some(cn) = &cont {
        meta["continue"] = json!(cn);
        meta["remainingItemCount"] = json!(remaining);
    }
    let (kind, api_version) = if meta_only {
        (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        )
    } else {
        (format!("{}List", t.info.kind), t.info.group_version())
    };
    // Written by hand so that stored objects are serialised without being cloned.
    let mut out = Vec::with_capacity(256 + items.len() * 1024);
    out.extend_from_slice(
        format!(
            "{{\"kind\":\"{kind}\",\"apiVersion\":\"{api_version}\",\"metadata\":{meta},\"items\":["
        )
        .as_bytes(),
    );
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let r = if meta_only {
            serde_json::to_writer(
                &mut out,
                &json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o.get("metadata")}),
            )
        } else if kinds::presents_as_stored(&t.info, o) {
            serde_json::to_writer(&mut out, o.as_ref())
        } else {
            serde_json::to_writer(&mut out, &kinds::present(&t.info, o))
        };
        r.map_err(|e| ApiError::internal(e.to_string()))?;
    }
    out.extend_from_slice(b"]}");
    let ct = if meta_only {
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
    } else {
        "application/json"
    };
    Ok(bytes_response(StatusCode::OK, ct, out))
}

/// `faults`: whether this client's watch may be cut short by fault injection.
pub(super) fn watch(
    c: &Arc<Cluster>,
    t: &Target,
    q: &Query,
    accept: &str,
    faults: bool,
) -> ApiResult<Response> {
    let (labels, fields) = selectors(t, q)?;
    let send_initial = q.flag("sendInitialEvents") && q.get("sendInitialEvents").is_some();
    let bookmarks = q.flag("allowWatchBookmarks") && q.get("allowWatchBookmarks").is_some();
    if send_initial && (q.get("resourceVersionMatch") != Some("NotOlderThan") || !bookmarks) {
        return Err(ApiError::new(
            422,
            "Invalid",
            "sendInitialEvents requires resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true",
        ));
    }
    let since = match q.get("resourceVersion") {
        None | Some("") | Some("0") => None,
        Some(s) => Some(
            s.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s}")))?,
        ),
    };
    let timeout = match q.get("timeoutSeconds") {
        None | Some("") => c.config.default_watch_timeout,
        // Any u64 is accepted and capped, so `Instant + timeout` cannot overflow (issue 16).
        Some(s) => s
            .parse::<u64>()
            .map(|secs| Duration::from_secs(secs).min(MAX_WATCH_TIMEOUT))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid timeoutSeconds {s:?}: must be a non-negative whole number of seconds"
                ))
            })?,
    };
    let p = crate::watch::WatchParams {
        ns: t.ns.map(str::to_string),
        since,
        bookmarks,
        send_initial,
        timeout,
        labels,
        fields,
        table: table::wants_table(accept),
        faults,
    };
    Ok(crate::watch::start(c.clone(), t.info.clone(), p))
}

/// Longest watch a client can ask for; longer requests are cut here and the client re-watches.
const MAX_WATCH_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

pub(super) fn log(c: &Cluster, t: &Target, name: &str, q: &Query) -> ApiResult<Response> {
    let pod = c.get(&t.info, t.ns, name)?;
    let tail = q.get("tailLines").and_then(|s| s.parse().ok());
    Ok(bytes_response(
        StatusCode::OK,
        "text/plain",
        kinds::pod_log(&pod, tail).into_bytes(),
    ))
}
