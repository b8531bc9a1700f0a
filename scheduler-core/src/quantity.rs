//! Kubernetes resource quantities (`500m`, `4Gi`, `1.5`, `2e3`) and their canonical integer units.
//!
//! The parser is the `basalt-quantity` crate's (re-exported here), the one every crate uses.
//! Canonical units used everywhere in the core: `cpu` in millicores, every other resource (memory,
//! ephemeral storage, `nvidia.com/gpu`, …) in its base unit (bytes, devices). Fractions round up,
//! as Kubernetes does. This module also formats amounts back for humans (explanations); it knows
//! nothing about nodes or pods.

pub use ::quantity::{Quantity, QuantityError, parse_quantity, syntax};

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
        // The grammar's errors are the quantity crate's (tested there); the unit conversion adds
        // the 64-bit bound.
        let err = parse_resource_amount("memory", "4GB").expect_err("must fail");
        assert!(err.to_string().contains("unknown suffix \"GB\""), "{err}");
        assert!(matches!(
            parse_resource_amount("memory", "99999999Ei"),
            Err(QuantityError::Overflow(_))
        ));
        assert!(matches!(
            parse_resource_amount("cpu", "99999999999999999"),
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
