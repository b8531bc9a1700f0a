//! Write verbs: create, replace, patch (merge, JSON, strategic, apply), delete,
//! deletecollection, pods/binding and pods/eviction.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Target, object_response, write_opts};
use crate::cluster::{Cluster, DeleteOpts, FieldValidation, Propagation, WriteOpts};
use crate::error::{ApiError, ApiResult, success_status};
use crate::http::{Query, json_response, parse_body, with_warnings};
use crate::kinds;

pub(super) async fn create(
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

pub(super) async fn replace(
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

pub(super) async fn patch(
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
    // A patch is a precondition on the resourceVersion only when it names one itself; the
    // object it produces otherwise carries the version it was read at, which must not turn a
    // concurrent write into a 409: kube-apiserver re-applies the patch to the newer object.
    let pins_version = match &patch {
        Value::Array(ops) => ops
            .iter()
            .any(|op| op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion")),
        p => p
            .pointer("/metadata/resourceVersion")
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())),
    };
    let unpin = |mut o: Value| -> Value {
        if !pins_version && let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        o
    };
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
            return crate::ssa::apply(cur, &applied, &manager, force, sub, &now)
                .map(unpin)
                .map_err(|conflicts| {
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
                });
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
        Ok(unpin(o))
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

pub(super) async fn delete(
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

pub(super) async fn delete_collection(
    c: &Cluster,
    t: &Target<'_>,
    q: &Query,
    ct: &str,
    body: &Bytes,
) -> ApiResult<Response> {
    let opts = delete_opts(q, ct, body)?;
    let (items, rv) = super::read::selected(c, t, q)?;
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

pub(super) async fn binding(
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

pub(super) async fn eviction(
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
