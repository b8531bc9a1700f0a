//! Kubernetes resource quantities ("96", "500m", "80Gi", "1e3") as plain numbers, and back.
//!
//! What the API server's QoS class and the simulated kubelet (crate `basalt-kubelet`) need:
//! a quantity as an `f64` of base units (parsed by the shared `basalt-quantity` crate) and CPU
//! formatted as millicores, memory as bytes. It does not round-trip arbitrary quantities.

/// Parses a Kubernetes quantity into base units (cores for CPU, bytes for memory), through the
/// one quantity parser (the `basalt-quantity` crate), to nanounit precision.
///
/// Returns `None` for anything that is not a well-formed quantity.
pub fn parse(text: &str) -> Option<f64> {
    ::quantity::parse_quantity(text)
        .ok()
        .map(::quantity::Quantity::to_f64)
}

/// A quantity given in YAML either as a number (`96`) or a string (`"96"`, `"80Gi"`).
pub fn from_json(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => parse(s),
        _ => None,
    }
}

/// Formats cores as a millicore quantity (`1500m`), or whole cores when exact (`96`).
pub fn cpu(cores: f64) -> String {
    let millis = (cores * 1000.0).round().max(0.0) as u64;
    if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

/// Formats bytes as the largest exact binary suffix (`80Gi`), or plain bytes.
pub fn bytes(value: f64) -> String {
    let mut n = value.round().max(0.0) as u64;
    if n == 0 {
        return "0".into();
    }
    for suffix in ["", "Ki", "Mi", "Gi", "Ti", "Pi"] {
        if !n.is_multiple_of(1024) || suffix == "Pi" {
            return format!("{n}{suffix}");
        }
        n /= 1024;
    }
    format!("{n}Ei")
}

/// Formats bytes as a whole number of MiB (the unit HAMi and Volcano use for GPU memory).
pub fn mib(bytes: f64) -> u64 {
    (bytes / (1024.0 * 1024.0)).round().max(0.0) as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse("96"), Some(96.0));
        assert_eq!(parse("500m"), Some(0.5));
        assert_eq!(parse("80Gi"), Some(80.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse("1Ti"), Some(1024.0f64.powi(4)));
        assert_eq!(parse("2k"), Some(2000.0));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("0.5"), Some(0.5));
        assert_eq!(parse("12Q"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("Gi"), None);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(cpu(96.0), "96");
        assert_eq!(cpu(1.5), "1500m");
        assert_eq!(bytes(80.0 * 1024.0 * 1024.0 * 1024.0), "80Gi");
        assert_eq!(bytes(1024.0f64.powi(4)), "1Ti");
        assert_eq!(bytes(1000.0), "1000");
        assert_eq!(parse(&bytes(123_456_789.0)), Some(123_456_789.0));
        assert_eq!(mib(80.0 * 1024.0 * 1024.0 * 1024.0), 81920);
    }
}
