//! HTTP front: authentication, path parsing, query parsing, content negotiation and the
//! non-resource endpoints (version, health, discovery, OpenAPI). Resource verbs are in `api`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::error::ApiError;
use crate::{discovery, openapi};

pub fn json_response(code: StatusCode, v: &Value) -> Response {
    bytes_response(
        code,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

pub fn bytes_response(code: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = code;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

pub fn with_warnings(mut r: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "'"));
        if let Ok(v) = HeaderValue::from_str(&text) {
            r.headers_mut().append("warning", v);
        }
    }
    r
}

/// Percent-decoding for query values (`+` is a space).
pub fn decode(s: &str) -> String {
    percent_decode(s, true)
}

/// Percent-decoding of one path segment (`+` stays), so that `my%2Dpod` names `my-pod` as in
/// kube-apiserver; a segment decoding to a `/` then names nothing that exists.
pub fn decode_segment(s: &str) -> String {
    percent_decode(s, false)
}

fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        let pairs = q
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Self(pairs)
    }
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    /// Replaces (or adds) a parameter.
    pub fn set(&mut self, k: &str, v: &str) {
        self.0.retain(|(a, _)| a != k);
        self.0.push((k.to_string(), v.to_string()));
    }
    pub fn flag(&self, k: &str) -> bool {
        matches!(self.get(k), Some("true" | "1" | ""))
    }
}

const ANONYMOUS: &[&str] = &["/version", "/healthz", "/livez", "/readyz"];

/// Bearer-token authentication on every request except the public health/version paths.
pub async fn auth(State(c): State<Arc<Cluster>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let public = ANONYMOUS
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if !public {
        let ok = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), c.token.as_bytes()));
        if !ok {
            return ApiError::unauthorized().into_response();
        }
    }
    c.bump_requests();
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn handle(
    State(c): State<Arc<Cluster>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match axum::body::to_bytes(body, crate::limits::MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let too_large = e
                .into_inner()
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return if too_large {
                crate::limits::body_too_large().into_response()
            } else {
                ApiError::bad_request("cannot read the request body").into_response()
            };
        }
    };
    let path = uri.path().trim_matches('/').to_string();
    let decoded: Vec<String> = if path.is_empty() {
        vec![]
    } else {
        path.split('/').map(decode_segment).collect()
    };
    let segs: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let query = Query::parse(uri.query());
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    match (method.clone(), segs.as_slice()) {
        (Method::GET, ["version"]) => json_response(StatusCode::OK, &crate::version_info()),
        (Method::GET, ["healthz" | "livez"]) => {
            bytes_response(StatusCode::OK, "text/plain", b"ok".to_vec())
        }
        (Method::GET, ["readyz"]) => match c.ready.failing() {
            none if none.is_empty() => bytes_response(StatusCode::OK, "text/plain", b"ok".to_vec()),
            failing => bytes_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {}\n", failing.join(", ")).into_bytes(),
            ),
        },
        (Method::GET, ["api"]) => {
            if discovery::wants_aggregated(&accept) {
                let d = discovery::aggregated(&c.registry(), true);
                bytes_response(
                    StatusCode::OK,
                    discovery::AGGREGATED_CT,
                    serde_json::to_vec(&d).unwrap_or_default(),
                )
            } else {
                json_response(
                    StatusCode::OK,
                    &discovery::api_versions(&c.config.advertise),
                )
            }
        }
        (Method::GET, ["apis"]) => {
            if discovery::wants_aggregated(&accept) {
                let d = discovery::aggregated(&c.registry(), false);
                bytes_response(
                    StatusCode::OK,
                    discovery::AGGREGATED_CT,
                    serde_json::to_vec(&d).unwrap_or_default(),
                )
            } else {
                json_response(StatusCode::OK, &discovery::api_group_list(&c.registry()))
            }
        }
        (Method::GET, ["api", v]) => found(discovery::resource_list(&c.registry(), "", v)),
        (Method::GET, ["apis", g]) => found(discovery::api_group(&c.registry(), g)),
        (Method::GET, ["apis", g, v]) => found(discovery::resource_list(&c.registry(), g, v)),
        (Method::GET, ["openapi", "v3"]) => {
            json_response(StatusCode::OK, &openapi::index(&c.registry()))
        }
        (Method::GET, ["openapi", "v3", "api", v]) => {
            found(openapi::document(&c.registry(), "", v))
        }
        (Method::GET, ["openapi", "v3", "apis", g, v]) => {
            found(openapi::document(&c.registry(), g, v))
        }
        (_, ["api", v, rest @ ..]) if !rest.is_empty() => {
            crate::api::resource(c.clone(), method, "", v, rest, query, &headers, body).await
        }
        (_, ["apis", g, v, rest @ ..]) if !rest.is_empty() => {
            crate::api::resource(c.clone(), method, g, v, rest, query, &headers, body).await
        }
        _ => not_found(),
    }
}

fn found(v: Option<Value>) -> Response {
    match v {
        Some(v) => json_response(StatusCode::OK, &v),
        None => not_found(),
    }
}

pub fn not_found() -> Response {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
    .with_details("", "", "")
    .into_response()
}

/// Parses a request body: JSON, or YAML for apply patches.
pub fn parse_body(body: &Bytes, content_type: &str) -> Result<Value, ApiError> {
    if content_type.contains("protobuf") {
        return crate::protobuf::decode(body).map_err(|why| {
            ApiError::unsupported_media(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf ({why})"
            ))
        });
    }
    if body.is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_slice(body) {
        Ok(v) => Ok(v),
        Err(json_err) => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
            serde_saphyr::from_str::<Value>(text).map_err(|e| {
                ApiError::bad_request(format!(
                    "the request body is neither JSON ({json_err}) nor YAML ({e})"
                ))
            })
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;

    proptest::proptest! {
        // A bounded fuzz of body decoding: JSON, YAML and protobuf paths, arbitrary bytes.
        #[test]
        fn body_decoding_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
            text in "[\\[\\]{}:,\"a-z0-9 \n\\-&*!|>#]{0,200}",
            ct in "(application/json|application/yaml|application/vnd.kubernetes.protobuf)",
        ) {
            let _ = parse_body(&Bytes::from(bytes.clone()), &ct);
            let _ = parse_body(&Bytes::from(text.into_bytes()), &ct);
            let mut envelope = b"k8s\0".to_vec();
            envelope.extend(bytes);
            let _ = parse_body(&Bytes::from(envelope), "application/vnd.kubernetes.protobuf");
        }
    }

    #[test]
    fn deep_bodies_are_errors_not_stack_overflows() {
        for (open, close) in [("[", "]"), ("{\"a\":", "}"), ("- ", "")] {
            let body = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
            let _ = parse_body(&Bytes::from(body), "application/json");
        }
    }
}
