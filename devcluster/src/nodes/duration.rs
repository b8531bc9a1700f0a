//! Durations written the way Go and kubectl write them (`30s`, `1m30s`, `500ms`, `2h`), used by
//! the `sim.basalt.dev/duration` annotation and `--pod-duration`.

use std::time::Duration;

/// Parses `30s`, `1m30s`, `1.5h`, `250ms`; a bare number means seconds.
///
/// Returns a message describing what is wrong on failure (the caller names the field).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write e.g. 30s, 5m or 1h30m".into());
    }
    if let Ok(secs) = text.parse::<f64>() {
        return seconds(secs, text);
    }
    let mut total = 0.0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(format!(
                "invalid duration {text:?}; write e.g. 30s, 5m or 1h30m"
            ));
        }
        let number: f64 = rest[..end]
            .parse()
            .map_err(|_| format!("invalid number in duration {text:?}"))?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => {
                return Err(format!(
                    "missing unit in duration {text:?}; write e.g. 30s, 5m or 1h30m"
                ));
            }
            unit => {
                return Err(format!(
                    "unknown unit {unit:?} in duration {text:?}; use ms, s, m, h or d"
                ));
            }
        };
        total += number * scale;
        rest = &rest[unit_end..];
    }
    seconds(total, text)
}

fn seconds(secs: f64, text: &str) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("duration {text:?} must be zero or positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_style_durations() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        assert!(parse("").unwrap_err().contains("30s"));
        assert!(parse("10x").unwrap_err().contains("unknown unit"));
        assert!(parse("s").is_err());
        assert!(parse("-5").unwrap_err().contains("positive"));
        assert!(parse("5m3").unwrap_err().contains("missing unit"));
    }
}
