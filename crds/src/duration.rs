//! Go durations (`30s`, `1m30s`, `1.5h`, `500ms`) as Volcano and Kubernetes write them in
//! `policies[].timeout`, `--schedule-period` and `sim.basalt.dev/duration`.
//!
//! The one parser every crate uses. It follows Go's `time.ParseDuration` grammar exactly and does
//! all arithmetic on integers with overflow checks, so no input can panic it: a value beyond Go's
//! limit (2562047h47m16.854775807s, the largest `time.Duration`) is an error, as in Go.
//! `kube::core::Duration` parses the same grammar but multiplies with `Duration::mul_f64`, which
//! panics on such values, so it is not used for user input.

use std::fmt;
use std::time::Duration;

/// Go's `time.Duration` is an `int64` of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// The largest duration Go can hold (`2562047h47m16.854775807s`, about 292 years).
pub const MAX: Duration = Duration::new(9_223_372_036, 854_775_807);

/// What is wrong with a duration text; the caller names the field.
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

/// Parses a non-negative Go duration. `-0s` is zero; other negative values are refused.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let (negative, nanos) = parse_signed_nanos(text)?;
    if negative && nanos != 0 {
        return Err(DurationError::Negative(text.to_string()));
    }
    // Invariant: nanos <= i64::MAX, so the seconds fit in u64 and the remainder in u32.
    let secs = (nanos / 1_000_000_000) as u64;
    let sub = (nanos % 1_000_000_000) as u32;
    Ok(Duration::new(secs, sub))
}

/// Go's grammar: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`. Returns the sign and the magnitude in
/// nanoseconds (at most `i64::MAX`, or `i64::MAX + 1` when negative).
fn parse_signed_nanos(original: &str) -> Result<(bool, u128), DurationError> {
    let invalid = || DurationError::Invalid(original.to_string());
    let mut s = original;
    let mut negative = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        negative = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok((negative, 0));
    }
    if s.is_empty() {
        return Err(if original.is_empty() {
            DurationError::Empty
        } else {
            invalid()
        });
    }
    let limit = if negative { MAX_NANOS + 1 } else { MAX_NANOS };
    let too_large = || DurationError::TooLarge(original.to_string());
    let mut total: u128 = 0;
    while !s.is_empty() {
        if !s.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let int_digits = &s[..int_len];
        s = &s[int_len..];
        let mut frac_digits = "";
        if let Some(rest) = s.strip_prefix('.') {
            let frac_len = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            frac_digits = &rest[..frac_len];
            s = &rest[frac_len..];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(DurationError::MissingUnit(original.to_string())),
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_string(),
                    text: original.to_string(),
                });
            }
        };
        let mut whole: u128 = 0;
        for d in int_digits.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d - b'0')))
                .filter(|w| *w <= limit)
                .ok_or_else(too_large)?;
        }
        let mut value = whole.checked_mul(unit_nanos).ok_or_else(too_large)?;
        // Fraction: Go drops digits once they can no longer change the result; 19 digits keep
        // sub-nanosecond precision for every unit and fit the u128 arithmetic below.
        let mut numerator: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_digits.bytes().take(19) {
            numerator = numerator * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        value = value
            .checked_add(numerator * unit_nanos / scale)
            .ok_or_else(too_large)?;
        total = total
            .checked_add(value)
            .filter(|t| *t <= limit)
            .ok_or_else(too_large)?;
    }
    Ok((negative, total))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        let cases = [
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("30s", Duration::from_secs(30)),
            ("+5s", Duration::from_secs(5)),
            ("1m30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("1.5h", Duration::from_secs(5400)),
            (".5s", Duration::from_millis(500)),
            ("5.s", Duration::from_secs(5)),
            ("500ms", Duration::from_millis(500)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("1h2m3s4ms5us6ns", Duration::new(3723, 4_005_006)),
            (
                "2562047h47m16.854775807s",
                Duration::new(9_223_372_036, 854_775_807),
            ),
            ("0.000000000000000000001h", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_what_go_refuses_with_a_reason() {
        for text in [
            "", "x", "3 days", "1d", "s", ".s", "5m3", "1.2.3s", "1e30s", "-", "+",
        ] {
            assert!(parse(text).is_err(), "{text} must be refused");
        }
        assert_eq!(parse("").unwrap_err(), DurationError::Empty);
        assert!(matches!(parse("5m3"), Err(DurationError::MissingUnit(_))));
        assert!(matches!(
            parse("1d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(parse("-5s"), Err(DurationError::Negative(_))));
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

    proptest::proptest! {
        #[test]
        fn never_panics(text in "\\PC{0,40}") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_duration_shaped_text(text in "[-+]?([0-9]{0,25}(\\.[0-9]{0,25})?(ns|us|µs|ms|s|m|h|d|)){1,4}") {
            let _ = parse(&text);
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
