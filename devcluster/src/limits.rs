//! Size and shape limits, as kube-apiserver and etcd have them, so one client cannot exhaust the
//! server's memory or stack (issue 16): request bodies up to 3 MiB (kube-apiserver's
//! `maxRequestBodyBytes`), stored objects up to 1.5 MiB (etcd's `--max-request-bytes` default,
//! which kube-apiserver answers with 413), and JSON nesting up to [`MAX_DEPTH`] levels — below
//! serde_json's recursion limit of 128, so every stored object can be read back and serialized
//! without deep recursion. Each refusal names the limit and the fix.

use std::io::Write;

use serde_json::Value;

use crate::error::ApiError;

/// Largest request body read (kube-apiserver: 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Largest stored object, serialized (etcd's default request limit: 1.5 MiB).
pub const MAX_OBJECT_BYTES: usize = 3 * 1024 * 1024 / 2;
/// Deepest JSON nesting an object may have (objects and arrays count one level each).
pub const MAX_DEPTH: usize = 100;

/// The nesting depth of `v`, computed without recursion (a deep value must not overflow the
/// stack of the very check that refuses it). Stops counting past `MAX_DEPTH + 1`.
pub fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        let d = d + 1;
        deepest = deepest.max(d);
        if d > MAX_DEPTH {
            return d;
        }
        stack.extend(children.map(|c| (c, d)));
    }
    deepest
}

/// Counts bytes without keeping them.
struct Counter(usize);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        if self.0 > MAX_OBJECT_BYTES {
            // Stop serializing early: the answer is already "too large".
            return Err(std::io::Error::other("too large"));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Refuses an object that is too deep (422) or too large to store (413).
pub fn check_object(kind: &str, name: &str, obj: &Value) -> Result<(), ApiError> {
    let d = depth(obj);
    if d > MAX_DEPTH {
        return Err(ApiError::invalid(
            kind,
            name,
            vec![(
                "<object>".into(),
                format!(
                    "nesting depth exceeds the limit of {MAX_DEPTH} levels; flatten the data or keep it outside the object"
                ),
            )],
        ));
    }
    let mut counter = Counter(0);
    if serde_json::to_writer(&mut counter, obj).is_err() {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!(
                "{kind} \"{name}\" is too large to store: more than {MAX_OBJECT_BYTES} bytes (1.5 MiB) serialized; keep large data outside the object (a volume or an image)"
            ),
        ));
    }
    Ok(())
}

/// The refusal of a request body over [`MAX_BODY_BYTES`].
pub fn body_too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!(
            "the request body is larger than the limit of {MAX_BODY_BYTES} bytes (3 MiB); objects are limited to 1.5 MiB"
        ),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(levels: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..levels {
            // not json!: it serializes its arguments, recursively
            let mut m = serde_json::Map::new();
            m.insert("a".into(), v);
            v = Value::Object(m);
        }
        v
    }

    #[test]
    fn depth_counts_levels_without_recursion() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": 2}]})), 3);
        assert_eq!(depth(&nested(MAX_DEPTH)), MAX_DEPTH);
        // deep enough to overflow a recursive walk; dropped by hand below for the same reason
        let deep = nested(200_000);
        assert_eq!(depth(&deep), MAX_DEPTH + 1);
        let mut v = deep;
        while let Value::Object(mut o) = v {
            v = o.remove("a").unwrap_or(Value::Null);
        }
    }

    #[test]
    fn objects_over_the_limits_are_refused_with_the_limit() {
        check_object("configmaps", "ok", &nested(MAX_DEPTH)).unwrap();
        let e = check_object("configmaps", "deep", &nested(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(e.code, 422);
        assert!(
            e.message.contains("nesting depth exceeds the limit of 100"),
            "{}",
            e.message
        );
        let big = json!({"data": {"x": "y".repeat(MAX_OBJECT_BYTES)}});
        let e = check_object("configmaps", "big", &big).unwrap_err();
        assert_eq!(e.code, 413);
        assert!(e.message.contains("1.5 MiB"), "{}", e.message);
    }
}
