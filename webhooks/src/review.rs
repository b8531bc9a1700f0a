//! `admission.k8s.io/v1` AdmissionReview: the request the API server sends and the response we
//! return. Owns parsing (a body that is not a review is a [`BadReview`], answered with 400) and
//! the response builder (allow, deny with a message, allow with a base64 JSONPatch, warnings).
//! It knows nothing about Volcano kinds or rules.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a body could not be read as an AdmissionReview; the handler answers 400 with this text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadReview {
    /// The body is not JSON, or not an object of the AdmissionReview shape.
    #[error("body is not an admission.k8s.io/v1 AdmissionReview: {0}")]
    Malformed(String),
    /// `apiVersion`/`kind` name something else.
    #[error(
        "body has apiVersion {api_version:?} kind {kind:?}; send apiVersion admission.k8s.io/v1 kind AdmissionReview"
    )]
    WrongType {
        /// The apiVersion received.
        api_version: String,
        /// The kind received.
        kind: String,
    },
    /// `request` is absent.
    #[error("AdmissionReview has no request; the API server sends one in every review")]
    NoRequest,
    /// `request.uid` is absent or empty.
    #[error("AdmissionReview request.uid is empty; it must be echoed in the response")]
    NoUid,
}

/// The operation being admitted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// A new object.
    Create,
    /// A changed object (`oldObject` holds the previous one).
    Update,
    /// A deleted object (`oldObject` holds it, `object` is null).
    Delete,
    /// `exec`/`attach`/`portforward`-like operations; never registered by Basalt.
    Connect,
}

/// Group/version/kind of the object, as the API server sends it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Gvk {
    /// API group, empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// The fields of `request` that the rules read.
#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// Kind of the object.
    #[serde(default)]
    pub kind: Gvk,
    /// Object name (may be empty on CREATE with generateName).
    #[serde(default)]
    pub name: String,
    /// Namespace, empty for cluster-scoped objects.
    #[serde(default)]
    pub namespace: String,
    /// The operation.
    pub operation: Operation,
    /// The new object (null on DELETE).
    #[serde(default)]
    pub object: Option<Value>,
    /// The old object (UPDATE and DELETE).
    #[serde(default)]
    pub old_object: Option<Value>,
    /// Whether the request is a dry run.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReviewEnvelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    request: Option<Value>,
}

/// Parses a request body into an [`AdmissionRequest`]. Never panics, whatever the bytes.
pub fn parse(body: &[u8]) -> Result<AdmissionRequest, BadReview> {
    let envelope: ReviewEnvelope =
        serde_json::from_slice(body).map_err(|e| BadReview::Malformed(e.to_string()))?;
    if envelope.api_version != "admission.k8s.io/v1" || envelope.kind != "AdmissionReview" {
        return Err(BadReview::WrongType {
            api_version: envelope.api_version,
            kind: envelope.kind,
        });
    }
    let request = envelope.request.ok_or(BadReview::NoRequest)?;
    if request
        .get("uid")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(BadReview::NoUid);
    }
    serde_json::from_value(request).map_err(|e| BadReview::Malformed(format!("request: {e}")))
}

/// One JSONPatch operation (RFC 6902); Basalt only adds or replaces.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PatchOp {
    /// `add` or `replace`.
    pub op: &'static str,
    /// JSON pointer.
    pub path: String,
    /// New value.
    pub value: Value,
}

impl PatchOp {
    /// An `add` operation (which also replaces an existing member).
    pub fn add(path: impl Into<String>, value: Value) -> Self {
        Self {
            op: "add",
            path: path.into(),
            value,
        }
    }
}

/// Escapes one JSON-pointer segment (`~` → `~0`, `/` → `~1`).
pub fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The outcome of a review, turned into the response body by [`Verdict::into_review`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// `None` allows; `Some(message)` denies with that message.
    pub denied: Option<String>,
    /// Patch operations applied when allowed.
    pub patch: Vec<PatchOp>,
    /// Warnings kubectl prints (`Warning: ...`).
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Allow without changes.
    pub fn allow() -> Self {
        Self::default()
    }

    /// Deny with a message for the user.
    pub fn deny(message: impl Into<String>) -> Self {
        Self {
            denied: Some(message.into()),
            ..Self::default()
        }
    }

    /// Builds the AdmissionReview response for request `uid`.
    pub fn into_review(self, uid: &str) -> Value {
        let mut response = json!({ "uid": uid, "allowed": self.denied.is_none() });
        if let Some(message) = self.denied {
            response["status"] = json!({
                "status": "Failure",
                "code": 403,
                "reason": "Forbidden",
                "message": message,
            });
        } else if !self.patch.is_empty() {
            // Serialising a Vec of plain structs with String/Value fields cannot fail.
            let bytes = serde_json::to_vec(&self.patch).unwrap_or_default();
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        if !self.warnings.is_empty() {
            response["warnings"] = json!(self.warnings);
        }
        json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": response,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_non_reviews_with_reasons() {
        assert!(matches!(parse(b"not json"), Err(BadReview::Malformed(_))));
        assert!(matches!(
            parse(br#"{"apiVersion":"v1","kind":"Pod"}"#),
            Err(BadReview::WrongType { .. })
        ));
        assert_eq!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#).unwrap_err(),
            BadReview::NoRequest
        );
        assert_eq!(
            parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#)
                .unwrap_err(),
            BadReview::NoUid
        );
    }

    #[test]
    fn patch_is_base64_json() {
        let mut v = Verdict::allow();
        v.patch.push(PatchOp::add("/spec/queue", json!("default")));
        let review = v.into_review("u1");
        let b64 = review["response"]["patch"].as_str().unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let ops: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(
            ops,
            json!([{"op":"add","path":"/spec/queue","value":"default"}])
        );
        assert_eq!(review["response"]["uid"], "u1");
    }

    #[test]
    fn pointer_segments_are_escaped() {
        assert_eq!(
            pointer_segment("volcano.sh/hierarchy"),
            "volcano.sh~1hierarchy"
        );
        assert_eq!(pointer_segment("a~b"), "a~0b");
    }
}
