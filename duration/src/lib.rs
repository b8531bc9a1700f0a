//! Go durations (`30s`, `1m30s`, `1.5h`, `500ms`): the one parser of every duration a user
//! writes — `policies[].timeout`, `--schedule-period`, scheduler-configuration arguments
//! (`minRunTime`, `reservation.waiting-time`, ...), the `basalt.dev/*` and `volcano.sh/*`
//! duration annotations, `sim.basalt.dev/duration` and `--pod-duration`.
//!
//! [`parse_nanos`] follows the semantics of Go's `time.ParseDuration` (its grammar, its limits
//! and how it rounds fractions: the fraction is scaled in `f64` as Go does, so fractions of hours
//! round to the same nanosecond) and is checked against Go's documented valid and invalid
//! inputs; it uses checked integer arithmetic, so no input can panic it: a value beyond Go's
//! limit (2562047h47m16.854775807s, the largest `time.Duration`) is an error, as in Go. The
//! sites keep their own policy on top of it: [`parse`] refuses negative values,
//! [`parse_or_seconds`] also reads a bare number as seconds. `kube::core::Duration` parses the
//! same grammar but multiplies with `Duration::mul_f64`, which panics on such values, and the
//! scheduler core may not use kube anyway.
//!
//! A crate of its own with no dependencies, so that every crate can use it without breaking
//! the dependency rules of docs/ARCHITECTURE.md (devcluster may not depend on scheduler-core,
//! scheduler-core not on crds); `scheduler_core::duration` re-exports it.

use std::fmt;
use std::time::Duration;

/// The largest duration Go can hold (`2562047h47m16.854775807s`, about 292 years).
pub const MAX: Duration = Duration::new(9_223_372_036, 854_775_807);

/// What is wrong with a duration text (each variant carries the text as written); the caller
/// names the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    Empty,
    Invalid(String),
    MissingUnit(String),
    UnknownUnit { unit: String, text: String },
    TooLarge(String),
    Negative(String),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HINT: &str = "write e.g. 30s, 5m or 1h30m";
        match self {
            Self::Empty => write!(f, "empty duration; {HINT}"),
            Self::Invalid(t) => write!(f, "invalid duration {t:?}; {HINT}"),
            Self::MissingUnit(t) => write!(f, "missing unit in duration {t:?}; {HINT}"),
            Self::UnknownUnit { unit, text } => write!(
                f,
                "unknown unit {unit:?} in duration {text:?}; use ns, us, ms, s, m or h"
            ),
            Self::TooLarge(t) => write!(
                f,
                "duration {t:?} is too large; the largest is 2562047h (about 292 years)"
            ),
            Self::Negative(t) => write!(f, "duration {t:?} must be zero or positive"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Go's `time.ParseDuration`: the signed number of nanoseconds `text` denotes.
///
/// Grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0` (with an optional sign); units `ns`,
/// `us` (or `µs`, `μs`), `ms`, `s`, `m`, `h`. An empty text, a number without a unit and a
/// value outside Go's `int64` nanoseconds are errors. No whitespace is allowed.
pub fn parse_nanos(text: &str) -> Result<i64, DurationError> {
    go(text, text)
}

/// A non-negative Go duration (`-0s` is zero; other negative values are refused).
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    non_negative(go(text, text)?, text)
}

/// A non-negative Go duration, or, as a convenience for YAML numbers and annotations, a bare
/// decimal number of seconds (`90`, `1.5`). Surrounding whitespace is ignored.
pub fn parse_or_seconds(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    let bare_number = !digits.is_empty()
        && digits.bytes().any(|b| b.is_ascii_digit())
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|b| *b == b'.').count() <= 1;
    let nanos = if bare_number {
        go(&format!("{trimmed}s"), text)?
    } else {
        go(trimmed, text)?
    };
    non_negative(nanos, text)
}

/// `d` in whole milliseconds, rounded to the nearest (the core's clock is in ms).
pub fn millis(d: Duration) -> u64 {
    // Invariant: d <= MAX (every parser here stops there), so the result is below 10^13.
    u64::try_from(d.as_nanos().saturating_add(500_000) / 1_000_000).unwrap_or(u64::MAX)
}

/// [`parse_or_seconds`] in milliseconds ([`millis`]).
pub fn parse_or_seconds_ms(text: &str) -> Result<u64, DurationError> {
    parse_or_seconds(text).map(millis)
}

fn non_negative(nanos: i64, text: &str) -> Result<Duration, DurationError> {
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| DurationError::Negative(text.to_owned()))
}

/// Go's `ParseDuration` over `s`, naming `orig` (what the user wrote) in errors.
fn go(s: &str, orig: &str) -> Result<i64, DurationError> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || DurationError::Invalid(orig.to_owned());
    let too_large = || DurationError::TooLarge(orig.to_owned());
    let mut s = s;
    let mut negative = false;
    if let Some(rest) = s.strip_prefix(['-', '+']) {
        negative = s.starts_with('-');
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(if orig.is_empty() {
            DurationError::Empty
        } else {
            invalid()
        });
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        // [0-9]*: Go's leadingInt refuses (as invalid) a number beyond 2^63.
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let mut v: u64 = 0;
        for d in s[..int_len].bytes() {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .filter(|v| *v <= LIMIT)
                .ok_or_else(too_large)?;
        }
        let pre = int_len > 0;
        s = &s[int_len..];
        // (\.[0-9]*)?: Go's leadingFraction keeps digits while they fit, then skips the rest.
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let mut overflow = false;
            for d in rest[..frac_len].bytes() {
                if overflow {
                    continue;
                }
                if f > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(d - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = frac_len > 0;
            s = &rest[frac_len..];
        }
        if !pre && !post {
            return Err(invalid()); // no digits, e.g. ".s" or "-.s"
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit: u64 = match &s[..unit_len] {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(DurationError::MissingUnit(orig.to_owned())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_owned(),
                    text: orig.to_owned(),
                });
            }
        };
        s = &s[unit_len..];
        if v > LIMIT / unit {
            return Err(too_large());
        }
        v *= unit;
        if f > 0 {
            // As Go: f64 keeps fractions of hours nanosecond-accurate, and the product is at
            // most 3.6e12 (one hour), so the cast is exact in range.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(too_large());
            }
        }
        total = total
            .checked_add(v)
            .filter(|t| *t <= LIMIT)
            .ok_or_else(too_large)?;
    }
    if negative {
        // total <= 2^63, so the negation fits (i64::MIN at most).
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| too_large())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NS: i64 = 1;
    const US: i64 = 1_000;
    const MS: i64 = 1_000_000;
    const S: i64 = 1_000_000_000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;

    /// Go's own table (`parseDurationTests`, src/time/time_test.go): every valid case.
    #[test]
    fn parses_what_go_parses() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("5s", 5 * S),
            ("30s", 30 * S),
            ("1478s", 1478 * S),
            ("-5s", -5 * S),
            ("+5s", 5 * S),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5 * S),
            ("5.6s", 5 * S + 600 * MS),
            ("5.s", 5 * S),
            (".5s", 500 * MS),
            ("1.0s", S),
            ("1.00s", S),
            ("1.004s", S + 4 * MS),
            ("1.0040s", S + 4 * MS),
            ("100.00100s", 100 * S + MS),
            ("10ns", 10 * NS),
            ("11us", 11 * US),
            ("12µs", 12 * US),
            ("12μs", 12 * US),
            ("13ms", 13 * MS),
            ("14s", 14 * S),
            ("15m", 15 * M),
            ("16h", 16 * H),
            ("3h30m", 3 * H + 30 * M),
            ("10.5s4m", 4 * M + 10 * S + 500 * MS),
            ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
            (
                "1h2m3s4ms5us6ns",
                H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS,
            ),
            ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
            ("52763797000ns", 52_763_797_000 * NS),
            ("0.3333333333333333333h", 20 * M),
            ("9007199254740993ns", (1 << 53) + 1),
            ("9223372036854775807ns", i64::MAX),
            ("9223372036854775.807us", i64::MAX),
            ("9223372036s854ms775us807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("-9223372036854775.808us", i64::MIN),
            ("-9223372036s854ms775us808ns", i64::MIN),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 6 * M),
            (
                "0.830103483285477580700h",
                49 * M + 48 * S + 372_539_827 * NS,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_nanos(text), Ok(*want), "{text}");
        }
    }

    /// Go's invalid cases, plus the shapes users write that Go refuses.
    #[test]
    fn refuses_what_go_refuses_with_a_reason() {
        for text in [
            // Go's table
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            // and
            "x",
            "3 days",
            "1h 30m",
            " 5s",
            "5m3",
            "1.2.3s",
            "1e30s",
            "+",
            "5S",
        ] {
            let err = parse_nanos(text).expect_err(text);
            assert!(err.to_string().contains(&format!("{text:?}")) || text.is_empty());
        }
        assert_eq!(parse_nanos("").unwrap_err(), DurationError::Empty);
        assert!(matches!(
            parse_nanos("3"),
            Err(DurationError::MissingUnit(_))
        ));
        assert!(matches!(
            parse_nanos("5m3"),
            Err(DurationError::MissingUnit(_))
        ));
        assert_eq!(
            parse_nanos("1d").unwrap_err().to_string(),
            "unknown unit \"d\" in duration \"1d\"; use ns, us, ms, s, m or h"
        );
        for huge in [
            "99999999999999999999h",
            "2562048h",
            "2562047h47m16.854775808s",
            "9223372036854775808ns",
            "1000000000000000000000000000000000000000000s",
        ] {
            let err = parse(huge).unwrap_err();
            assert!(matches!(err, DurationError::TooLarge(_)), "{huge}: {err}");
            assert!(err.to_string().contains("too large"));
        }
    }

    #[test]
    fn parse_refuses_negative_values_only() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("-0s"), Ok(Duration::ZERO));
        assert_eq!(parse("2562047h47m16.854775807s"), Ok(MAX));
        assert_eq!(
            parse("-5s").unwrap_err().to_string(),
            "duration \"-5s\" must be zero or positive"
        );
        assert!(matches!(parse("90"), Err(DurationError::MissingUnit(_))));
    }

    #[test]
    fn parse_or_seconds_reads_a_bare_number_as_seconds() {
        let ok: &[(&str, Duration)] = &[
            ("90", Duration::from_secs(90)),
            ("1.5", Duration::from_millis(1500)),
            (".5", Duration::from_millis(500)),
            ("0", Duration::ZERO),
            (" 90s ", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            ("500us", Duration::from_micros(500)),
            ("+2h", Duration::from_secs(7200)),
        ];
        for (text, want) in ok {
            assert_eq!(parse_or_seconds(text), Ok(*want), "{text:?}");
        }
        for (text, why) in [
            ("", "empty"),
            ("-5", "must be zero or positive"),
            ("-5m", "must be zero or positive"),
            ("1e3", "unknown unit \"e\""),
            ("inf", "invalid"),
            ("1.2.3", "missing unit"),
            ("10d", "unknown unit"),
            ("3000000h", "too large"),
        ] {
            let err = parse_or_seconds(text).expect_err(text).to_string();
            assert!(err.contains(why), "{text:?}: {err}");
            // The error names the text as written, not as rewritten with an `s`.
            assert!(
                text.is_empty() || err.contains(&format!("{text:?}")),
                "{err}"
            );
        }
        assert_eq!(parse_or_seconds_ms("1.5h"), Ok(5_400_000));
        assert_eq!(parse_or_seconds_ms("1499us"), Ok(1));
        assert_eq!(parse_or_seconds_ms("1500us"), Ok(2));
        assert_eq!(millis(MAX), 9_223_372_036_855);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = parse_nanos(&text);
            let _ = parse_or_seconds(&text);
        }

        #[test]
        fn never_panics_on_duration_shaped_text(text in "[-+]?([0-9]{0,25}(\\.[0-9]{0,25})?(ns|us|µs|ms|s|m|h|d|)){1,4}") {
            let _ = parse_nanos(&text);
            let _ = parse_or_seconds(&text);
        }

        #[test]
        fn written_durations_read_back(nanos in 0u64..=i64::MAX as u64) {
            let d = Duration::from_nanos(nanos);
            proptest::prop_assert_eq!(parse(&format!("{nanos}ns")), Ok(d));
            let text = format!("{}.{:09}s", d.as_secs(), d.subsec_nanos());
            proptest::prop_assert_eq!(parse(&text), Ok(d));
        }
    }
}
