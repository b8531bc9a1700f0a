//! Durations for the `sim.basalt.dev/duration` annotation and `--pod-duration`: a Go duration
//! (`30s`, `1m30s`, `500ms`, `2h`) or, as a convenience, a bare number of seconds.
//!
//! Read by the one Go-duration parser, the `basalt-duration` crate (which scheduler-core
//! re-exports as `scheduler_core::duration`): the simulated kubelet reads a run time exactly as
//! the scheduler and `basalt why` read it.

use std::time::Duration;

pub use duration as go;

/// Parses `30s`, `1m30s`, `1.5h`, `250ms`; a bare number means seconds
/// (`scheduler_core::duration::parse_or_seconds`).
///
/// Returns a message describing what is wrong on failure (the caller names the field).
pub fn parse(text: &str) -> Result<Duration, String> {
    go::parse_or_seconds(text).map_err(|e| e.to_string())
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
        // A number is decimal seconds, not any float Rust reads: `1e3` was 1000 s before the
        // kubelet shared the scheduler's parser.
        assert!(parse("1e3").unwrap_err().contains("unknown unit"));
        assert!(parse("inf").is_err());
    }
}
