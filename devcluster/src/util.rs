//! Small helpers shared by every module: timestamps, random names and uids, JSON path access.
//! Owns no state; must not depend on any other module of the crate.

use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::jiff::Timestamp;
use serde_json::{Map, Value};

/// Seconds since the Unix epoch (0 if the clock is before 1970, which cannot happen on a sane host).
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Current time as RFC 3339 with second precision and `Z`, like metav1.Time.
pub fn now_rfc3339() -> String {
    format_rfc3339(now_secs())
}

/// `secs` since the Unix epoch as RFC 3339 with second precision and `Z` (jiff, through
/// k8s-openapi); a value outside jiff's range (years −9999 to 9999) is clamped to it.
pub fn format_rfc3339(secs: i64) -> String {
    let t = Timestamp::from_second(secs).unwrap_or(if secs < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    // Whole seconds: `Timestamp::MIN`/`MAX` carry nanoseconds, which metav1.Time never has.
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// Parses an RFC 3339 timestamp (`2025-11-28T12:00:00Z`, with or without a fraction, with `Z`
/// or an offset) to whole seconds since the Unix epoch, the fraction dropped.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(|t| t.as_second())
}

/// Human age like kubectl's (`5s`, `3m10s`, `2d4h`).
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10_800 => format!("{}m", s / 60),
        10_800..172_800 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Cryptographically random bytes from ring (already linked by rustls).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut buf = [0u8; N];
    // SystemRandom only fails if the OS RNG is unavailable; fall back to a time-seeded mix then.
    if ring::rand::SystemRandom::new().fill(&mut buf).is_err() {
        let mut x = now_secs() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        for b in &mut buf {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    buf
}

pub fn new_uid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Random suffix in the alphabet Kubernetes uses for generateName.
pub fn random_suffix(n: usize) -> String {
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    random_bytes::<16>()
        .iter()
        .take(n)
        .map(|b| ALPHA[*b as usize % ALPHA.len()] as char)
        .collect()
}

pub fn random_token() -> String {
    random_bytes::<24>()
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// A fast non-cryptographic generator for fault injection.
pub struct XorShift(u64);

impl XorShift {
    pub fn seeded() -> Self {
        Self(u64::from_le_bytes(random_bytes::<8>()) | 1)
    }
    pub fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get_path(v, path)?.as_str()
}

pub fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| cur.get(*k))
}

/// Mutable access to an object at `path`, creating empty objects on the way.
pub fn ensure_obj<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut cur = v;
    for k in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else {
            unreachable!("made an object just above")
        };
        cur = m
            .entry((*k).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    match cur {
        Value::Object(m) => m,
        _ => unreachable!("made an object just above"),
    }
}

pub fn name_of(v: &Value) -> &str {
    get_str(v, &["metadata", "name"]).unwrap_or("")
}

pub fn ns_of(v: &Value) -> &str {
    get_str(v, &["metadata", "namespace"]).unwrap_or("")
}

pub fn finalizers(v: &Value) -> Vec<String> {
    get_path(v, &["metadata", "finalizers"])
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn set_finalizers(v: &mut Value, f: &[String]) {
    let m = ensure_obj(v, &["metadata"]);
    if f.is_empty() {
        m.remove("finalizers");
    } else {
        m.insert("finalizers".into(), Value::from(f.to_vec()));
    }
}

pub fn is_terminating(v: &Value) -> bool {
    get_path(v, &["metadata", "deletionTimestamp"]).is_some_and(|t| !t.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        let t = 1_764_331_200; // 2025-11-28T12:00:00Z
        assert_eq!(format_rfc3339(t), "2025-11-28T12:00:00Z");
        assert_eq!(parse_rfc3339("2025-11-28T12:00:00Z"), Some(t));
        assert_eq!(parse_rfc3339("2025-11-28T12:00:00.123456Z"), Some(t));
        // An offset is honoured (the hand-written parser read it as `Z`), garbage is refused.
        assert_eq!(parse_rfc3339("2025-11-28T14:00:00+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2025-11-28T12:00:00Zjunk"), None);
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        let far = format_rfc3339(i64::MAX);
        assert!(far.starts_with("9999-12-"), "{far}");
    }

    #[test]
    fn uid_shape() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
