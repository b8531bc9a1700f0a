//! Decoding of Kubernetes protobuf request bodies for the few kinds kubectl's typed generators
//! create (`kubectl create namespace|configmap|secret|serviceaccount`): the `k8s\0` envelope,
//! `runtime.Unknown`, and the fields of those kinds. Anything else is answered 415 by the
//! caller. Responses are always JSON (kubectl accepts them).

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// One decoded protobuf field: number and raw payload.
enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        out |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(out);
        }
    }
    None
}

fn fields(b: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = vec![];
    let mut pos = 0;
    while pos < b.len() {
        let key = varint(b, &mut pos)?;
        let (num, wire) = ((key >> 3) as u32, key & 7);
        match wire {
            0 => out.push(Field::Varint(num, varint(b, &mut pos)?)),
            2 => {
                let len = varint(b, &mut pos)? as usize;
                let end = pos.checked_add(len).filter(|e| *e <= b.len())?;
                out.push(Field::Bytes(num, &b[pos..end]));
                pos = end;
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => return None,
        }
    }
    Some(out)
}

fn text(b: &[u8]) -> Value {
    Value::String(String::from_utf8_lossy(b).into_owned())
}

/// A map entry (key = 1, value = 2); `bytes_value` base64-encodes the value.
fn map_entry(b: &[u8], bytes_value: bool) -> Option<(String, Value)> {
    let (mut k, mut v) = (String::new(), Value::String(String::new()));
    for f in fields(b)? {
        match f {
            Field::Bytes(1, x) => k = String::from_utf8_lossy(x).into_owned(),
            Field::Bytes(2, x) if bytes_value => {
                v = json!(base64::engine::general_purpose::STANDARD.encode(x))
            }
            Field::Bytes(2, x) => v = text(x),
            _ => {}
        }
    }
    Some((k, v))
}

fn insert_entry(m: &mut Map<String, Value>, key: &str, b: &[u8], bytes_value: bool) -> Option<()> {
    let (k, v) = map_entry(b, bytes_value)?;
    if let Value::Object(inner) = m.entry(key.to_string()).or_insert_with(|| json!({})) {
        inner.insert(k, v);
    }
    Some(())
}

fn object_meta(b: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    for f in fields(b)? {
        match f {
            Field::Bytes(1, x) => drop(m.insert("name".into(), text(x))),
            Field::Bytes(2, x) => drop(m.insert("generateName".into(), text(x))),
            Field::Bytes(3, x) => drop(m.insert("namespace".into(), text(x))),
            Field::Bytes(11, x) => insert_entry(&mut m, "labels", x, false)?,
            Field::Bytes(12, x) => insert_entry(&mut m, "annotations", x, false)?,
            Field::Bytes(14, x) => {
                if let Value::Array(a) = m.entry("finalizers").or_insert_with(|| json!([])) {
                    a.push(text(x));
                }
            }
            _ => {}
        }
    }
    Some(Value::Object(m))
}

fn kind_body(api_version: &str, kind: &str, raw: &[u8]) -> Option<Value> {
    let mut m = Map::new();
    m.insert("apiVersion".into(), json!(api_version));
    m.insert("kind".into(), json!(kind));
    for f in fields(raw)? {
        match (kind, f) {
            (_, Field::Bytes(1, x)) => drop(m.insert("metadata".into(), object_meta(x)?)),
            ("ConfigMap", Field::Bytes(2, x)) => insert_entry(&mut m, "data", x, false)?,
            ("ConfigMap", Field::Bytes(3, x)) => insert_entry(&mut m, "binaryData", x, true)?,
            ("ConfigMap", Field::Varint(4, v)) | ("Secret", Field::Varint(5, v)) => {
                drop(m.insert("immutable".into(), json!(v != 0)))
            }
            ("Secret", Field::Bytes(2, x)) => insert_entry(&mut m, "data", x, true)?,
            ("Secret", Field::Bytes(3, x)) => drop(m.insert("type".into(), text(x))),
            ("Secret", Field::Bytes(4, x)) => insert_entry(&mut m, "stringData", x, false)?,
            ("ServiceAccount", Field::Varint(4, v)) => {
                drop(m.insert("automountServiceAccountToken".into(), json!(v != 0)))
            }
            _ => {}
        }
    }
    Some(Value::Object(m))
}

/// Decodes a protobuf request body; Err names what is unsupported.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let inner = body
        .strip_prefix(b"k8s\0")
        .ok_or("the protobuf body lacks the k8s envelope")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for f in fields(inner).ok_or("the protobuf envelope is malformed")? {
        match f {
            Field::Bytes(1, tm) => {
                for t in fields(tm).ok_or("the protobuf type meta is malformed")? {
                    match t {
                        Field::Bytes(1, x) => api_version = String::from_utf8_lossy(x).into_owned(),
                        Field::Bytes(2, x) => kind = String::from_utf8_lossy(x).into_owned(),
                        _ => {}
                    }
                }
            }
            Field::Bytes(2, x) => raw = x,
            _ => {}
        }
    }
    match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap" | "Secret" | "Namespace" | "ServiceAccount") => {
            kind_body(&api_version, &kind, raw)
                .ok_or_else(|| format!("the protobuf {kind} is malformed"))
        }
        _ => Err(format!(
            "protobuf bodies are supported for v1 ConfigMap, Secret, Namespace and ServiceAccount only, not {api_version} {kind}; use `kubectl apply -f` or `kubectl create -f`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(num: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | 2) as u8, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn decodes_a_configmap_like_kubectl_sends_it() {
        let meta = [tag(1, b"proto"), tag(3, b"ns1")].concat();
        let entry = [tag(1, b"a"), tag(2, b"b")].concat();
        let cm = [tag(1, &meta), tag(2, &entry)].concat();
        let tm = [tag(1, b"v1"), tag(2, b"ConfigMap")].concat();
        let body = [b"k8s\0".to_vec(), tag(1, &tm), tag(2, &cm)].concat();
        let v = decode(&body).expect("decodes");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "proto", "namespace": "ns1"}, "data": {"a": "b"}})
        );
    }
}
