//! Resource verbs over HTTP: get, list (selectors, pagination, Table, metadata-only), watch,
//! create, replace, patch (merge, JSON, strategic, apply), delete, deletecollection, and the
//! pod subresources binding, eviction and log. Semantics of writes live in `cluster`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::cluster::{Cluster, DeleteOpts, FieldValidation, Propagation, WriteOpts};
use crate::error::{ApiError, ApiResult, success_status};
use crate::http::{Query, bytes_response, json_response, parse_body, with_warnings};
use crate::kinds;
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::table;

struct Target<'a> {
    info: Arc<ResourceInfo>,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
    watch: bool,
}

fn parse_target<'a>(
    c: &Cluster,
    group: &str,
    version: &str,
    rest: &'a [&'a str],
) -> Option<Target<'a>> {
    let (watch, rest) = match rest.first() {
        Some(&"watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    let (ns, plural, name, sub) = if rest.first() == Some(&"namespaces")
        && rest.len() >= 3
        && !(rest.len() == 3 && matches!(rest[2], "status" | "finalize"))
    {
        (
            Some(rest[1]),
            rest[2],
            rest.get(3).copied(),
            rest.get(4).copied(),
        )
    } else {
        (
            None,
            *rest.first()?,
            rest.get(1).copied(),
            rest.get(2).copied(),
        )
    };
    if rest.len() > 5 {
        return None;
    }
    let info = c.registry().get(group, version, plural)?;
    if ns.is_some() && !info.namespaced {
        return None;
    }
    if let Some(s) = sub
        && !info.subresources.iter().any(|x| x == s)
    {
        return None;
    }
    Some(Target {
        info,
        ns,
        name,
        sub,
        watch,
    })
}

fn write_opts(q: &Query, default_validation: FieldValidation) -> WriteOpts {
    let validation = match q.get("fieldValidation") {
        Some("Strict") => FieldValidation::Strict,
        Some("Ignore") => FieldValidation::Ignore,
        Some("Warn") => FieldValidation::Warn,
        _ => default_validation,
    };
    WriteOpts {
        dry_run: q.get("dryRun").is_some_and(|d| d == "All"),
        validation,
        admission: true,
    }
}

fn header_str(h: &HeaderMap, k: header::HeaderName) -> &str {
    h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[allow(clippy::too_many_arguments)]
pub async fn resource(
    c: Arc<Cluster>,
    method: Method,
    group: &str,
    version: &str,
    rest: &[&str],
    q: Query,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let Some(t) = parse_target(&c, group, version, rest) else {
        return crate::http::not_found();
    };
    let accept = header_str(headers, header::ACCEPT).to_string();
    let ct = header_str(headers, header::CONTENT_TYPE).to_string();
    if method != Method::GET
        && let Some(e) = c.injected_fault()
    {
        return e.into_response();
    }
    let res = match (&method, t.name, t.sub) {
        (&Method::GET, None, _) if t.watch || q.flag("watch") && q.get("watch").is_some() => {
            watch(&c, &t, &q, &accept)
        }
        (&Method::GET, None, _) => list(&c, &t, &q, &accept),
        (&Method::GET, Some(name), Some("log")) => log(&c, &t, name, &q),
        (&Method::GET, Some(name), None | Some("status")) => get(&c, &t, name, &accept),
        (&Method::POST, None, None) => create(&c, &t, &q, &ct, &body).await,
        (&Method::POST, Some(name), Some("binding")) => binding(&c, &t, name, &ct, &body).await,
        (&Method::POST, Some(name), Some("eviction")) => eviction(&c, &t, name, &ct, &body).await,
        (&Method::PUT, Some(name), sub) => replace(&c, &t, name, sub, &q, &ct, &body).await,
        (&Method::PATCH, Some(name), sub) => patch(&c, &t, name, sub, &q, &ct, &body).await,
        (&Method::DELETE, Some(name), None) => delete(&c, &t, name, &q, &ct, &body).await,
        (&Method::DELETE, None, None) => delete_collection(&c, &t, &q, &ct, &body).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    };
    res.unwrap_or_else(IntoResponse::into_response)
}

fn object_response(info: &ResourceInfo, code: StatusCode, obj: &Value, accept: &str) -> Response {
    if table::wants_table(accept) {
        let view = kinds::present(info, obj);
        let rv = view
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let t = table::table(info, &[view], &rv, None, true);
        return bytes_response(
            code,
            table::TABLE_CT,
            serde_json::to_vec(&t).unwrap_or_default(),
        );
    }
    if accept.contains("as=PartialObjectMetadata")
        && !accept.contains("as=PartialObjectMetadataList")
    {
        let p = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj.get("metadata")});
        return bytes_response(
            code,
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1",
            serde_json::to_vec(&p).unwrap_or_default(),
        );
    }
    if kinds::presents_as_stored(info, obj) {
        return json_response(code, obj);
    }
    json_response(code, &kinds::present(info, obj))
}

fn get(c: &Cluster, t: &Target, name: &str, accept: &str) -> ApiResult<Response> {
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

fn selected(c: &Cluster, t: &Target, q: &Query) -> ApiResult<(Vec<Arc<Value>>, u64)> {
    let (labels, fields) = selectors(t, q)?;
    let ns = t.ns.filter(|_| t.info.namespaced);
    if let (Some(name), true) = (fields.only_name(), labels.is_empty()) {
        let rv = c.store.current_rv();
        return Ok((c.get(&t.info, ns, name).ok().into_iter().collect(), rv));
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

fn list(c: &Cluster, t: &Target, q: &Query, accept: &str) -> ApiResult<Response> {
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

fn watch(c: &Arc<Cluster>, t: &Target, q: &Query, accept: &str) -> ApiResult<Response> {
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
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(c.config.default_watch_timeout);
    let p = crate::watch::WatchParams {
        ns: t.ns.map(str::to_string),
        since,
        bookmarks,
        send_initial,
        timeout,
        labels,
        fields,
        table: table::wants_table(accept),
    };
    Ok(crate::watch::start(c.clone(), t.info.clone(), p))
}

fn log(c: &Cluster, t: &Target, name: &str, q: &Query) -> ApiResult<Response> {
    let pod = c.get(&t.info, t.ns, name)?;
    let tail = q.get("tailLines").and_then(|s| s.parse().ok());
    Ok(bytes_response(
        StatusCode::OK,
        "text/plain",
        kinds::pod_log(&pod, tail).into_bytes(),
    ))
}

async fn create(
    c: &Cluster,
    t: &Target<'_>,
    q: &Query,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let obj = parse_body(body, ct)?;
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != t.info.kind
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version or kind ({k} is not {})",
            obj.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            t.info.kind
        )));
    }
    let mut warnings = vec![];
    let opts = write_opts(q, FieldValidation::Warn);
    let created = c.create(&t.info, t.ns, obj, &opts, &mut warnings).await?;
    Ok(with_warnings(
        object_response(&t.info, StatusCode::CREATED, &created, "application/json"),
        &warnings,
    ))
}

async fn replace(
    c: &Cluster,
    t: &Target<'_>,
    name: &str,
    sub: Option<&str>,
    q: &Query,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let obj = parse_body(body, ct)?;
    if crate::util::name_of(&obj) != name && !crate::util::name_of(&obj).is_empty() {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            crate::util::name_of(&obj)
        )));
    }
    let mut warnings = vec![];
    let opts = write_opts(q, FieldValidation::Warn);
    let sub = sub.filter(|s| *s != "finalize");
    let mut m = |cur: Option<&Value>| -> ApiResult<Value> {
        Ok(if cur.is_some() {
            obj.clone()
        } else {
            Value::Null
        })
    };
    let (o, _) = c
        .update(&t.info, t.ns, name, sub, &mut m, &opts, true, &mut warnings)
        .await?;
    Ok(with_warnings(
        object_response(&t.info, StatusCode::OK, &o, "application/json"),
        &warnings,
    ))
}

async fn patch(
    c: &Cluster,
    t: &Target<'_>,
    name: &str,
    sub: Option<&str>,
    q: &Query,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let kind = ct.split(';').next().unwrap_or("").trim().to_string();
    let accepted =
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
    let strategic_ok = t.info.builtin;
    match kind.as_str() {
        "application/merge-patch+json"
        | "application/json-patch+json"
        | "application/apply-patch+yaml" => {}
        "application/strategic-merge-patch+json" if strategic_ok => {}
        _ => {
            return Err(ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}{}",
                if strategic_ok {
                    ", application/strategic-merge-patch+json"
                } else {
                    ""
                }
            )));
        }
    }
    let patch = parse_body(body, "application/json")?;
    let mut warnings = vec![];
    let opts = write_opts(q, FieldValidation::Warn);
    let apply = kind == "application/apply-patch+yaml";
    let manager = q.get("fieldManager").unwrap_or("").to_string();
    if apply && manager.is_empty() {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io",
            "",
            vec![(
                "fieldManager".into(),
                "Required value: is required for apply patch".into(),
            )],
        ));
    }
    let force = q.flag("force") && q.get("force").is_some();
    let now = crate::util::now_rfc3339();
    let info = t.info.clone();
    let mut m = |cur: Option<&Value>| -> ApiResult<Value> {
        if apply {
            if cur.is_none() && sub.is_some() {
                return Ok(Value::Null);
            }
            let mut applied = patch.clone();
            if let Value::Object(o) = &mut applied {
                o.entry("apiVersion")
                    .or_insert_with(|| json!(info.group_version()));
                o.entry("kind").or_insert_with(|| json!(info.kind));
            }
            return crate::ssa::apply(cur, &applied, &manager, force, sub, &now).map_err(
                |conflicts| {
                    let list: Vec<String> = conflicts
                        .iter()
                        .map(|(m, p)| format!("conflict with \"{m}\": {p}"))
                        .collect();
                    let n = list.len();
                    ApiError::new(
                        409,
                        "Conflict",
                        format!(
                            "Apply failed with {n} conflict{}: {}",
                            if n == 1 { "" } else { "s" },
                            list.join("\n")
                        ),
                    )
                },
            );
        }
        let Some(cur) = cur else {
            return Ok(Value::Null);
        };
        let mut o = cur.clone();
        match kind.as_str() {
            "application/merge-patch+json" => crate::patch::merge_patch(&mut o, &patch),
            "application/json-patch+json" => {
                crate::patch::json_patch(&mut o, &patch).map_err(|e| {
                    ApiError::new(
                        422,
                        "Invalid",
                        format!(
                            "the server rejected our request due to an error in our request: {e}"
                        ),
                    )
                })?
            }
            _ => crate::patch::strategic_merge(&mut o, &patch),
        }
        Ok(o)
    };
    let (o, created) = c
        .update(
            &t.info,
            t.ns,
            name,
            sub,
            &mut m,
            &opts,
            false,
            &mut warnings,
        )
        .await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_warnings(
        object_response(&t.info, code, &o, "application/json"),
        &warnings,
    ))
}

fn delete_opts(q: &Query, ct: &str, body: &Bytes) -> ApiResult<DeleteOpts> {
    let b = parse_body(body, ct).unwrap_or(json!({}));
    let pol = b
        .get("propagationPolicy")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| q.get("propagationPolicy").map(str::to_string));
    let orphan = b.get("orphanDependents").and_then(Value::as_bool);
    let propagation = match (pol.as_deref(), orphan) {
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Background") | None, _) => Propagation::Background,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "unsupported propagationPolicy {other:?}; use Background, Foreground or Orphan"
            )));
        }
    };
    let dry_body = b
        .get("dryRun")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "All"));
    let mut write = write_opts(q, FieldValidation::Ignore);
    write.dry_run |= dry_body;
    Ok(DeleteOpts {
        propagation,
        uid: b
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        rv: b
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
        grace: b
            .get("gracePeriodSeconds")
            .and_then(Value::as_i64)
            .or_else(|| q.get("gracePeriodSeconds").and_then(|s| s.parse().ok())),
        write,
    })
}

async fn delete(
    c: &Cluster,
    t: &Target<'_>,
    name: &str,
    q: &Query,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let opts = delete_opts(q, ct, body)?;
    let o = c.delete(&t.info, t.ns, name, &opts).await?;
    Ok(object_response(
        &t.info,
        StatusCode::OK,
        &o,
        "application/json",
    ))
}

async fn delete_collection(
    c: &Cluster,
    t: &Target<'_>,
    q: &Query,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let opts = delete_opts(q, ct, body)?;
    let (items, rv) = selected(c, t, q)?;
    let mut out = vec![];
    for o in items {
        match c
            .delete(
                &t.info,
                Some(crate::util::ns_of(&o)),
                crate::util::name_of(&o),
                &opts,
            )
            .await
        {
            Ok(d) => out.push(kinds::present(&t.info, &d)),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({"kind": format!("{}List", t.info.kind), "apiVersion": t.info.group_version(),
        "metadata": {"resourceVersion": rv.to_string()}, "items": out});
    Ok(json_response(StatusCode::OK, &list))
}

async fn binding(
    c: &Cluster,
    t: &Target<'_>,
    name: &str,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let b = parse_body(body, ct)?;
    let mut w = vec![];
    let mut m = |cur: Option<&Value>| -> ApiResult<Value> {
        match cur {
            Some(p) => kinds::bind(p, &b),
            None => Ok(Value::Null),
        }
    };
    let opts = WriteOpts {
        dry_run: false,
        validation: FieldValidation::Ignore,
        admission: false,
    };
    c.update(
        &t.info,
        t.ns,
        name,
        Some("binding"),
        &mut m,
        &opts,
        false,
        &mut w,
    )
    .await?;
    Ok(json_response(StatusCode::CREATED, &success_status(201)))
}

async fn eviction(
    c: &Cluster,
    t: &Target<'_>,
    name: &str,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let b = parse_body(body, ct).unwrap_or(json!({}));
    let pod = c.get(&t.info, t.ns, name)?;
    let ns = t.ns.unwrap_or("");
    let (pdbs, _) = c.store.list("policy/poddisruptionbudgets", Some(ns));
    let (pods, _) = c.store.list("/pods", Some(ns));
    if let Some(pdb) = kinds::eviction_blocked(&pod, &pdbs, &pods) {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "Cannot evict pod as it would violate the pod's disruption budget.",
        );
        e.details = json!({"causes": [{"reason": "DisruptionBudget",
            "message": format!("The disruption budget {pdb} does not allow any more disruptions.")}]});
        return Err(e);
    }
    let d = b
        .get("deleteOptions")
        .or_else(|| b.get("delete_options"))
        .cloned()
        .filter(|v| !v.is_null())
        .unwrap_or(json!({}));
    let bytes = Bytes::from(serde_json::to_vec(&d).unwrap_or_default());
    let opts = delete_opts(&Query::default(), "application/json", &bytes)?;
    c.delete(&t.info, t.ns, name, &opts).await?;
    Ok(json_response(StatusCode::CREATED, &success_status(201)))
}
