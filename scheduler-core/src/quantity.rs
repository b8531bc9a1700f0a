//! Kubernetes resource quantities (`500m`, `4Gi`, `1.5`, `2e3`) and their canonical integer units.
//!
//! Canonical units used everywhere in the core: `cpu` in millicores, every other resource (memory,
//! ephemeral storage, `nvidia.com/gpu`, …) in its base unit (bytes, devices). Fractions round up,
//! as Kubernetes does. This module also formats amounts back for humans (explanations); it knows
//! nothing about nodes or pods.

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

/// A parsed quantity, held exactly in thousandths of the base unit (rounded up).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    millis: i128,
}

impl Quantity {
    /// The value in thousandths of the base unit (millicores for cpu), rounded up.
    pub fn millis(self) -> Result<i64, QuantityError> {
        i64::try_from(self.millis).map_err(|_| QuantityError::Overflow(format!("{}m", self.millis)))
    }

    /// The value in whole base units (bytes, devices), rounded up.
    pub fn units(self) -> Result<i64, QuantityError> {
        let units = div_ceil(self.millis, 1000);
        i64::try_from(units).map_err(|_| QuantityError::Overflow(format!("{units}")))
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

/// Parses a Kubernetes quantity such as `500m`, `1.5`, `4Gi`, `100M` or `2e3`.
pub fn parse_quantity(text: &str) -> Result<Quantity, QuantityError> {
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
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(QuantityError::BadNumber(text.to_owned()));
    }
    let overflow = || QuantityError::Overflow(text.to_owned());
    let mut digits: i128 = 0;
    for c in int_part.chars().chain(frac_part.chars()) {
        let d = i128::from(
            c.to_digit(10)
                .ok_or_else(|| QuantityError::BadNumber(text.to_owned()))?,
        );
        digits = digits
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or_else(overflow)?;
    }
    let frac_digits = u32::try_from(frac_part.len()).map_err(|_| overflow())?;
    // value = digits / 10^frac × multiplier; we compute value × 1000 = num / den, rounded up.
    let (mult_num, mult_den) = multiplier(text, suffix)?;
    let num = digits
        .checked_mul(mult_num)
        .and_then(|v| v.checked_mul(1000))
        .ok_or_else(overflow)?;
    let den = 10i128
        .checked_pow(frac_digits)
        .and_then(|v| v.checked_mul(mult_den))
        .ok_or_else(overflow)?;
    let millis = div_ceil(num, den);
    Ok(Quantity {
        millis: if negative { -millis } else { millis },
    })
}

fn multiplier(text: &str, suffix: &str) -> Result<(i128, i128), QuantityError> {
    let pow10 = |e: i32| -> (i128, i128) {
        if e >= 0 {
            (10i128.pow(e.unsigned_abs()), 1)
        } else {
            (1, 10i128.pow(e.unsigned_abs()))
        }
    };
    let pow2 = |e: u32| -> (i128, i128) { (1i128 << e, 1) };
    Ok(match suffix {
        "" => (1, 1),
        "n" => pow10(-9),
        "u" => pow10(-6),
        "m" => pow10(-3),
        "k" => pow10(3),
        "M" => pow10(6),
        "G" => pow10(9),
        "T" => pow10(12),
        "P" => pow10(15),
        "E" => pow10(18),
        "Ki" => pow2(10),
        "Mi" => pow2(20),
        "Gi" => pow2(30),
        "Ti" => pow2(40),
        "Pi" => pow2(50),
        "Ei" => pow2(60),
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..].parse().map_err(|_| QuantityError::BadSuffix {
                quantity: text.to_owned(),
                suffix: s.to_owned(),
            })?;
            if !(-18..=18).contains(&exp) {
                return Err(QuantityError::Overflow(text.to_owned()));
            }
            pow10(exp)
        }
        s => {
            return Err(QuantityError::BadSuffix {
                quantity: text.to_owned(),
                suffix: s.to_owned(),
            });
        }
    })
}

/// Parses `text` into the canonical integer unit of resource `name`
/// (millicores for `cpu`, base units otherwise).
pub fn parse_resource_amount(name: &str, text: &str) -> Result<i64, QuantityError> {
    let q = parse_quantity(text)?;
    if name == crate::resources::CPU {
        q.millis()
    } else {
        q.units()
    }
}

/// Formats a canonical amount of resource `name` for humans: `8`, `500m`, `4Gi`, `1536Mi`.
pub fn format_resource_amount(name: &str, amount: i64) -> String {
    if name == crate::resources::CPU {
        return if amount % 1000 == 0 {
            format!("{}", amount / 1000)
        } else {
            format!("{amount}m")
        };
    }
    if name == crate::resources::MEMORY || name.ends_with("storage") {
        // The largest binary and the largest decimal unit that divide the amount; the shorter
        // text wins (`4Gi`, `100M`, `20G` rather than `19531250Ki`), binary on a tie.
        let pick = |units: &[(&str, i64)]| {
            units
                .iter()
                .find(|(_, unit)| amount != 0 && amount % unit == 0)
                .map(|(suffix, unit)| format!("{}{suffix}", amount / unit))
        };
        let binary = pick(&[
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ]);
        let decimal = pick(&[
            ("T", 1_000_000_000_000),
            ("G", 1_000_000_000),
            ("M", 1_000_000),
            ("k", 1_000),
        ]);
        match (binary, decimal) {
            (Some(b), Some(d)) => return if d.len() < b.len() { d } else { b },
            (Some(x), None) | (None, Some(x)) => return x,
            (None, None) => {}
        }
    }
    amount.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_forms() {
        let cases: &[(&str, &str, i64)] = &[
            ("cpu", "500m", 500),
            ("cpu", "1.5", 1500),
            ("cpu", "2", 2000),
            ("cpu", "0.0001", 1),
            ("cpu", "100u", 1),
            ("memory", "4Gi", 4 << 30),
            ("memory", "1.5Gi", 3 << 29),
            ("memory", "100M", 100_000_000),
            ("memory", "128974848", 128_974_848),
            ("memory", "129e6", 129_000_000),
            ("memory", "1k", 1000),
            ("nvidia.com/gpu", "8", 8),
            ("memory", "+1Ki", 1024),
            ("memory", "-1Ki", -1024),
            ("memory", ".5Ki", 512),
            ("memory", "0.5m", 1),
        ];
        for (name, text, want) in cases {
            assert_eq!(
                parse_resource_amount(name, text),
                Ok(*want),
                "{name}={text}"
            );
        }
    }

    #[test]
    fn rejects_garbage_with_clear_errors() {
        assert_eq!(parse_quantity(""), Err(QuantityError::Empty));
        assert!(matches!(
            parse_quantity("abc"),
            Err(QuantityError::BadNumber(_))
        ));
        assert!(matches!(
            parse_quantity("."),
            Err(QuantityError::BadNumber(_))
        ));
        let err = parse_quantity("4GB").expect_err("must fail");
        assert!(err.to_string().contains("unknown suffix \"GB\""), "{err}");
        assert!(matches!(
            parse_quantity("1e99"),
            Err(QuantityError::Overflow(_))
        ));
        assert!(matches!(
            parse_resource_amount("memory", "99999999Ei"),
            Err(QuantityError::Overflow(_))
        ));
    }

    #[test]
    fn formats_amounts_for_humans() {
        assert_eq!(format_resource_amount("cpu", 8000), "8");
        assert_eq!(format_resource_amount("cpu", 500), "500m");
        assert_eq!(format_resource_amount("memory", 4 << 30), "4Gi");
        assert_eq!(format_resource_amount("memory", 1536 << 20), "1536Mi");
        assert_eq!(format_resource_amount("memory", 100_000_000), "100M");
        assert_eq!(format_resource_amount("memory", 16 << 30), "16Gi");
        assert_eq!(format_resource_amount("memory", 1_500_000_000), "1500M");
        assert_eq!(format_resource_amount("memory", 1_000_001), "1000001");
        assert_eq!(
            format_resource_amount("ephemeral-storage", 20_000_000_000),
            "20G"
        );
        assert_eq!(format_resource_amount("nvidia.com/gpu", 7), "7");
    }
}
