//! Resource verbs over HTTP: get, list (selectors, pagination, Table, metadata-only), watch,
//! create, replace, patch (merge, JSON, strategic, apply), delete, deletecollection, and the
//! pod subresources binding, eviction and log. This module routes; `read` and `write` hold
//! the verbs; the semantics of writes live in `cluster`.

mod read;
mod write;

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cluster::{Cluster, FieldValidation, WriteOpts};
use crate::error::ApiError;
use crate::http::{Query, bytes_response, json_response};
use crate::kinds;
use crate::registry::ResourceInfo;
use crate::table;

pub(crate) struct Target<'a> {
    pub(crate) info: Arc<ResourceInfo>,
    pub(crate) ns: Option<&'a str>,
    pub(crate) name: Option<&'a str>,
    pub(crate) sub: Option<&'a str>,
    pub(crate) watch: bool,
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

pub(crate) fn write_opts(q: &Query, default_validation: FieldValidation) -> WriteOpts {
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
    let agent = header_str(headers, header::USER_AGENT);
    let faults = c.faults_apply_to(agent);
    if faults && let Some(e) = rule_fault(&c, &method, &t, agent, &body) {
        return e.into_response();
    }
    if method != Method::GET
        && faults
        && let Some(e) = c.injected_fault()
    {
        return e.into_response();
    }
    let res = match (&method, t.name, t.sub) {
        (&Method::GET, None, _) if t.watch || q.flag("watch") && q.get("watch").is_some() => {
            read::watch(&c, &t, &q, &accept, faults)
        }
        (&Method::GET, None, _) => read::list(&c, &t, &q, &accept),
        (&Method::GET, Some(name), Some("log")) => read::log(&c, &t, name, &q),
        (&Method::GET, Some(name), None) if t.watch => {
            // Legacy `/watch/.../{name}`: a watch of that one object.
            let mut q = q.clone();
            q.set("fieldSelector", &format!("metadata.name={name}"));
            read::watch(&c, &t, &q, &accept, faults)
        }
        (&Method::GET, Some(name), None | Some("status")) => read::get(&c, &t, name, &accept),
        (&Method::POST, None, None) => write::create(&c, &t, &q, &ct, &body).await,
        (&Method::POST, Some(name), Some("binding")) => {
            write::binding(&c, &t, name, &ct, &body).await
        }
        (&Method::POST, Some(name), Some("eviction")) => {
            write::eviction(&c, &t, name, &ct, &body).await
        }
        (&Method::PUT, Some(name), sub) => write::replace(&c, &t, name, sub, &q, &ct, &body).await,
        (&Method::PATCH, Some(name), sub) => write::patch(&c, &t, name, sub, &q, &ct, &body).await,
        (&Method::DELETE, Some(name), None) => write::delete(&c, &t, name, &q, &ct, &body).await,
        (&Method::DELETE, None, None) => write::delete_collection(&c, &t, &q, &ct, &body).await,
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method})"
        ))),
    };
    res.unwrap_or_else(IntoResponse::into_response)
}

/// The error of a `fault_rule` that matches this write, if any.
fn rule_fault(
    c: &Cluster,
    method: &Method,
    t: &Target<'_>,
    agent: &str,
    body: &Bytes,
) -> Option<ApiError> {
    let verb = crate::faults::Verb::of_method(method)?;
    if c.fault_rules.is_empty() {
        return None;
    }
    let resource = match t.sub {
        Some(sub) => format!("{}/{sub}", t.info.plural),
        None => t.info.plural.clone(),
    };
    // A create names its object in the body; only JSON bodies are read for it.
    let from_body;
    let name = match t.name {
        Some(n) => n,
        None => {
            from_body = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| {
                    let m = v.get("metadata")?;
                    m.get("name")
                        .or_else(|| m.get("generateName"))?
                        .as_str()
                        .map(str::to_string)
                })
                .unwrap_or_default();
            &from_body
        }
    };
    c.fault_rules.take(&crate::faults::Write {
        verb,
        resource: &resource,
        name,
        agent,
    })
}

pub(crate) fn object_response(
    info: &ResourceInfo,
    code: StatusCode,
    obj: &Value,
    accept: &str,
) -> Response {
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
