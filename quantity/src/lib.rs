//! Kubernetes resource quantities (`500m`, `4Gi`, `1.5`, `2e3`, `-1Ki`): the one parser of every
//! quantity Basalt reads — pod requests and limits (scheduler-core, the bridge, the webhooks),
//! the API server's validation and QoS class, the simulated kubelet's capacities and usage, and
//! the cluster spec file.
//!
//! The grammar is Kubernetes' (`<sign><digits>[.<digits>]<suffix>`, the suffix binary `Ki`…`Ei`,
//! decimal SI `n`…`E`, or `e<int>`). [`syntax`] checks the grammar alone (the magnitude is not
//! bounded there: kube-apiserver accepts any size); [`parse_quantity`] also evaluates it exactly,
//! in checked integer arithmetic, to nanounits rounded up — the precision Kubernetes keeps
//! (`1e-12` is `1n`) — so no input can panic it. Callers read the value in the unit they need:
//! [`Quantity::millis`] (millicores), [`Quantity::units`] (bytes, devices), both rounded up as
//! Kubernetes rounds requests, or [`Quantity::to_f64`] for base units as a float.
//!
//! A crate of its own with one dependency, so that every crate can use it without breaking the
//! dependency rules of docs/ARCHITECTURE.md (devcluster may not depend on scheduler-core);
//! `scheduler_core::quantity` re-exports it.

use thiserror::Error;

/// Why a quantity string could not be parsed.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuantityError {
    /// The string was empty.
    #[error("quantity is empty; write a number such as \"500m\", \"4Gi\" or \"2\"")]
    Empty,
    /// The numeric part was malformed.
    #[error("quantity {0:?} has no valid number; expected digits with an optional '.' fraction")]
    BadNumber(String),
    /// The suffix is not a Kubernetes suffix.
    #[error(
        "quantity {quantity:?} has unknown suffix {suffix:?}; use one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or e<exp>"
    )]
    BadSuffix {
        /// The whole input.
        quantity: String,
        /// The part that was not understood.
        suffix: String,
    },
    /// The value does not fit in 64-bit canonical units.
    #[error("quantity {0:?} is too large for 64-bit canonical units")]
    Overflow(String),
}

/// A parsed quantity, held exactly in billionths of the base unit (rounded up, away from zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;
const NANOS_PER_MILLI: i128 = 1_000_000;

impl Quantity {
    /// The value in thousandths of the base unit (millicores for cpu), rounded up (a negative
    /// value away from zero).
    pub fn millis(self) -> Result<i64, QuantityError> {
        let millis = self.millis_exact();
        i64::try_from(millis).map_err(|_| QuantityError::Overflow(format!("{millis}m")))
    }

    /// The value in whole base units (bytes, devices), rounded up.
    pub fn units(self) -> Result<i64, QuantityError> {
        let units = div_ceil(self.millis_exact(), 1000);
        i64::try_from(units).map_err(|_| QuantityError::Overflow(format!("{units}")))
    }

    /// The value in base units (cores, bytes) as a float: exact for whole values up to 2^53,
    /// the fraction correctly rounded.
    pub fn to_f64(self) -> f64 {
        let whole = self.nanos / NANOS_PER_UNIT;
        let fraction = self.nanos % NANOS_PER_UNIT;
        whole as f64 + fraction as f64 / NANOS_PER_UNIT as f64
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    fn millis_exact(self) -> i128 {
        let magnitude = div_ceil(self.nanos.abs(), NANOS_PER_MILLI);
        if self.nanos < 0 {
            -magnitude
        } else {
            magnitude
        }
    }
}

fn div_ceil(num: i128, den: i128) -> i128 {
    let q = num / den;
    if num % den != 0 && (num > 0) == (den > 0) {
        q + 1
    } else {
        q
    }
}

/// The multiplier a suffix stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Suffix {
    /// 10^exp (`""`, `m`, `k`, `e3`, …); an exponent too long for `i32` saturates.
    Decimal(i32),
    /// 2^exp (`Ki`, `Mi`, …).
    Binary(u32),
}

/// A quantity split into its parts, the grammar checked.
#[derive(Clone, Copy, Debug)]
struct Parts<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    suffix: Suffix,
}

fn lex(text: &str) -> Result<Parts<'_>, QuantityError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(split);
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') {
        return Err(QuantityError::BadNumber(text.to_owned()));
    }
    let bad_suffix = || QuantityError::BadSuffix {
        quantity: text.to_owned(),
        suffix: suffix.to_owned(),
    };
    let suffix = match suffix {
        "" => Suffix::Decimal(0),
        "n" => Suffix::Decimal(-9),
        "u" => Suffix::Decimal(-6),
        "m" => Suffix::Decimal(-3),
        "k" => Suffix::Decimal(3),
        "M" => Suffix::Decimal(6),
        "G" => Suffix::Decimal(9),
        "T" => Suffix::Decimal(12),
        "P" => Suffix::Decimal(15),
        "E" => Suffix::Decimal(18),
        "Ki" => Suffix::Binary(10),
        "Mi" => Suffix::Binary(20),
        "Gi" => Suffix::Binary(30),
        "Ti" => Suffix::Binary(40),
        "Pi" => Suffix::Binary(50),
        "Ei" => Suffix::Binary(60),
        s => {
            let exp = s.strip_prefix(['e', 'E']).ok_or_else(bad_suffix)?;
            let (minus, digits) = match exp.as_bytes().first() {
                Some(b'-') => (true, &exp[1..]),
                Some(b'+') => (false, &exp[1..]),
                _ => (false, exp),
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad_suffix());
            }
            let magnitude = digits.parse::<i32>().unwrap_or(i32::MAX);
            Suffix::Decimal(if minus { -magnitude } else { magnitude })
        }
    };
    Ok(Parts {
        negative,
        int,
        frac,
        suffix,
    })
}

/// Checks the grammar only, without bounding the magnitude (what kube-apiserver's validation
/// accepts); returns whether the value is below zero (`-0` is not).
pub fn syntax(text: &str) -> Result<bool, QuantityError> {
    let p = lex(text)?;
    let zero = p.int.bytes().chain(p.frac.bytes()).all(|b| b == b'0');
    Ok(p.negative && !zero)
}

/// Parses a Kubernetes quantity such as `500m`, `1.5`, `4Gi`, `100M` or `2e3`. Exponents beyond
/// ±18 and values beyond the exact range are [`QuantityError::Overflow`].
pub fn parse_quantity(text: &str) -> Result<Quantity, QuantityError> {
    let p = lex(text)?;
    let overflow = || QuantityError::Overflow(text.to_owned());
    // Trailing zeros of the fraction do not change the value; dropping them keeps long
    // spellings such as `1.000000000000` inside the exact range.
    let frac = p.frac.trim_end_matches('0');
    let mut digits: i128 = 0;
    for b in p.int.bytes().chain(frac.bytes()) {
        digits = digits
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    // value = digits × 10^(exp − frac) × 2^bits; nanos = value × 10^9 = digits × 2^bits ×
    // 10^pow10, rounded up. The powers of ten are combined first, so that neither the 10^9 nor
    // a long fraction costs range.
    let frac_digits = i64::try_from(frac.len()).map_err(|_| overflow())?;
    let (exp, bits) = match p.suffix {
        Suffix::Decimal(exp) if !(-18..=18).contains(&exp) => return Err(overflow()),
        Suffix::Decimal(exp) => (i64::from(exp), 0),
        Suffix::Binary(bits) => (0, bits),
    };
    let pow10 = 9 + exp - frac_digits;
    let num = digits.checked_mul(1i128 << bits).ok_or_else(overflow)?;
    let nanos = if pow10 >= 0 {
        u32::try_from(pow10)
            .ok()
            .and_then(|p| 10i128.checked_pow(p))
            .and_then(|m| num.checked_mul(m))
            .ok_or_else(overflow)?
    } else {
        match u32::try_from(-pow10)
            .ok()
            .and_then(|p| 10i128.checked_pow(p))
        {
            Some(den) => div_ceil(num, den),
            // A divisor beyond i128 exceeds any numerator: under one nanounit, rounded up.
            None => i128::from(num != 0),
        }
    };
    Ok(Quantity {
        nanos: if p.negative { -nanos } else { nanos },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn millis(text: &str) -> i64 {
        parse_quantity(text).unwrap().millis().unwrap()
    }

    fn units(text: &str) -> i64 {
        parse_quantity(text).unwrap().units().unwrap()
    }

    #[test]
    fn parses_the_common_forms() {
        assert_eq!(millis("500m"), 500);
        assert_eq!(millis("1.5"), 1500);
        assert_eq!(millis("2"), 2000);
        assert_eq!(millis("0.0001"), 1);
        assert_eq!(millis("100u"), 1);
        assert_eq!(millis("-1.5"), -1500);
        assert_eq!(millis("-0.0001"), -1);
        assert_eq!(units("4Gi"), 4 << 30);
        assert_eq!(units("1.5Gi"), 3 << 29);
        assert_eq!(units("100M"), 100_000_000);
        assert_eq!(units("128974848"), 128_974_848);
        assert_eq!(units("129e6"), 129_000_000);
        assert_eq!(units("129E+6"), 129_000_000);
        assert_eq!(units("1k"), 1000);
        assert_eq!(units("+1Ki"), 1024);
        assert_eq!(units("-1Ki"), -1024);
        assert_eq!(units(".5Ki"), 512);
        assert_eq!(units("0.5m"), 1);
        assert_eq!(units("-1.5"), -1);
        assert_eq!(units(" 8 "), 8);
        assert_eq!(units("1.000000000000000000000000000000000"), 1);
        // Long fractions keep the exact range: 31 significant digits, then one beyond any i128
        // divisor (rounds up to one nanounit).
        assert_eq!(units("1.234567890123456789012345678901"), 2);
        assert_eq!(millis("1.234567890123456789012345678901"), 1235);
        assert_eq!(
            parse_quantity(&format!("0.{}1", "0".repeat(60)))
                .unwrap()
                .to_f64(),
            1e-9
        );
        assert_eq!(millis("1234567890123456789012n"), 1_234_567_890_123_457);
    }

    #[test]
    fn floats_keep_nano_precision() {
        let f = |t: &str| parse_quantity(t).unwrap().to_f64();
        assert_eq!(f("96"), 96.0);
        assert_eq!(f("500m"), 0.5);
        assert_eq!(f("80Gi"), 80.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(f("1Ti"), 1024f64.powi(4));
        assert_eq!(f("2k"), 2000.0);
        assert_eq!(f("1e3"), 1000.0);
        assert_eq!(f("1e-3"), 0.001);
        assert_eq!(f("123456789n"), 0.123456789);
        assert_eq!(f("1000000000001"), 1_000_000_000_001.0);
        assert_eq!(f("-2.5"), -2.5);
        // Below a nanounit rounds up to one, as Kubernetes does.
        assert_eq!(f("1e-12"), 1e-9);
        assert_eq!(f("-1e-12"), -1e-9);
    }

    #[test]
    fn rejects_garbage_with_clear_errors() {
        assert_eq!(parse_quantity(""), Err(QuantityError::Empty));
        assert_eq!(parse_quantity("  "), Err(QuantityError::Empty));
        for bad in ["abc", ".", "1.2.3", "-", "+.", "Gi"] {
            assert!(
                matches!(parse_quantity(bad), Err(QuantityError::BadNumber(_))),
                "{bad}"
            );
        }
        let err = parse_quantity("4GB").expect_err("must fail");
        assert!(err.to_string().contains("unknown suffix \"GB\""), "{err}");
        for bad in ["1e", "1e+", "1ex", "12Q", "1 Gi"] {
            assert!(
                matches!(parse_quantity(bad), Err(QuantityError::BadSuffix { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_quantity("1e99"),
            Err(QuantityError::Overflow(_))
        ));
        assert!(matches!(
            parse_quantity("1e99999999999"),
            Err(QuantityError::Overflow(_))
        ));
        assert!(matches!(
            parse_quantity("99999999Ei").unwrap().units(),
            Err(QuantityError::Overflow(_))
        ));
    }

    #[test]
    fn syntax_accepts_any_magnitude_and_reports_the_sign() {
        assert_eq!(syntax("1e99"), Ok(false));
        assert_eq!(syntax("1e99999999999"), Ok(false));
        assert_eq!(syntax("-1"), Ok(true));
        assert_eq!(syntax("-0.0"), Ok(false));
        assert_eq!(syntax("+5Gi"), Ok(false));
        assert!(syntax("5GB").is_err());
        assert!(syntax("").is_err());
    }

    proptest! {
        /// Never panics, and whatever parses is well-formed.
        #[test]
        fn any_text_parses_or_errors(text in "\\PC{0,24}") {
            if let Ok(q) = parse_quantity(&text) {
                prop_assert!(syntax(&text).is_ok());
                let _ = (q.millis(), q.units(), q.to_f64());
            }
        }

        /// Integers and millis round-trip exactly; units round millis up.
        #[test]
        fn integers_round_trip(n in -1_000_000_000_000i64..1_000_000_000_000) {
            let q = parse_quantity(&n.to_string()).unwrap();
            prop_assert_eq!(q.units().unwrap(), n);
            prop_assert_eq!(q.to_f64(), n as f64);
            let m = parse_quantity(&format!("{n}m")).unwrap();
            prop_assert_eq!(m.millis().unwrap(), n);
            prop_assert_eq!(m.units().unwrap(), n.div_euclid(1000) + i64::from(n.rem_euclid(1000) != 0));
        }
    }
}
