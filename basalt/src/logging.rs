//! Logging for every subcommand: an `EnvFilter` from `RUST_LOG` (default `info`) and the format
//! from `BASALT_LOG_FORMAT` (`text`, the default, or `json`, one JSON object per line, which the
//! Helm chart sets through `logFormat`). Logs go to stderr; text has ANSI colours only when
//! stderr is a terminal.

use std::io::IsTerminal;

/// The environment variable naming the log format.
pub const FORMAT_ENV: &str = "BASALT_LOG_FORMAT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Parses a `BASALT_LOG_FORMAT` value; an unknown one is an error naming the variable and the
/// accepted values.
pub fn parse_format(value: Option<&str>) -> anyhow::Result<Format> {
    match value.map(str::trim) {
        None | Some("") | Some("text") => Ok(Format::Text),
        Some("json") => Ok(Format::Json),
        Some(other) => anyhow::bail!(
            "{FORMAT_ENV}={other:?} is not a log format: use \"text\" or \"json\" \
             (the Helm chart's logFormat value)"
        ),
    }
}

/// Installs the global subscriber (a second call is a no-op, as in tests).
pub fn init() -> anyhow::Result<()> {
    let format = parse_format(std::env::var(FORMAT_ENV).ok().as_deref())?;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        Format::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        Format::Json => builder
            .json()
            .with_ansi(false)
            .with_current_span(false)
            .try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_unknown_ones_are_refused_with_the_fix() {
        assert_eq!(parse_format(None).ok(), Some(Format::Text));
        assert_eq!(parse_format(Some("text")).ok(), Some(Format::Text));
        assert_eq!(parse_format(Some("json")).ok(), Some(Format::Json));
        let err = parse_format(Some("yaml")).map_or_else(|e| e.to_string(), |f| format!("{f:?}"));
        assert!(
            err.contains("BASALT_LOG_FORMAT") && err.contains("\"json\""),
            "{err}"
        );
    }
}
