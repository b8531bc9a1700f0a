//! Durations for the `sim.basalt.dev/duration` annotation and `--pod-duration`: a Go duration
//! (`30s`, `1m30s`, `500ms`, `2h`, read by the one parser in `crds::duration`) or, as a
//! convenience, a bare number of seconds.

use std::time::Duration;

/// Parses `30s`, `1m30s`, `1.5h`, `250ms`; a bare number means seconds.
///
/// Returns a message describing what is wrong on failure (the caller names the field).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!("duration {text:?} must be zero or positive"));
        }
        // Go's limit (int64 nanoseconds), so both spellings accept the same range.
        return Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| *d <= crds::duration::MAX)
            .ok_or_else(|| {
                format!("duration {text:?} is too large; the largest is 2562047h (about 292 years)")
            });
    }
    crds::duration::parse(text).map_err(|e| e.to_string())
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
