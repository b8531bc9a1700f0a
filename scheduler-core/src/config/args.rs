//! Typed access to free-form `arguments` maps. Volcano writes numbers both as YAML numbers and as
//! strings (`"100"`), so both are accepted; anything else is a [`ConfigError::BadArgument`].

use serde_json::{Map, Value};

use super::ConfigError;

/// The `arguments` of one plugin or action, with its owner's name for error messages.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Arguments {
    owner: String,
    map: Map<String, Value>,
}

impl Arguments {
    /// Wraps `map`; `owner` names the plugin or action in errors (e.g. `plugin "binpack"`).
    pub fn new(owner: impl Into<String>, map: Map<String, Value>) -> Self {
        Self {
            owner: owner.into(),
            map,
        }
    }

    /// Empty arguments.
    pub fn empty(owner: impl Into<String>) -> Self {
        Self::new(owner, Map::new())
    }

    fn bad(&self, key: &str, value: &Value, expected: &'static str) -> ConfigError {
        ConfigError::BadArgument {
            owner: self.owner.clone(),
            key: key.to_owned(),
            value: value.to_string(),
            expected,
        }
    }

    /// The raw value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// A number (YAML number or numeric string), or `default` when absent.
    pub fn f64(&self, key: &str, default: f64) -> Result<f64, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| self.bad(key, &Value::Null, "a number")),
            Some(v @ Value::String(s)) => {
                s.trim().parse().map_err(|_| self.bad(key, v, "a number"))
            }
            Some(v) => Err(self.bad(key, v, "a number")),
        }
    }

    /// A whole number, or `default` when absent.
    pub fn i64(&self, key: &str, default: i64) -> Result<i64, ConfigError> {
        let v = self.f64(key, default as f64)?;
        if v.fract() != 0.0 || !v.is_finite() {
            let raw = self.map.get(key).cloned().unwrap_or(Value::Null);
            return Err(self.bad(key, &raw, "a whole number"));
        }
        Ok(v as i64)
    }

    /// A boolean (YAML bool or `"true"`/`"false"`), or `default` when absent.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v @ Value::String(s)) => match s.trim() {
                "true" | "True" => Ok(true),
                "false" | "False" => Ok(false),
                _ => Err(self.bad(key, v, "true or false")),
            },
            Some(v) => Err(self.bad(key, v, "true or false")),
        }
    }

    /// A duration in ms: a Go duration string (`90s`, `15m`, `1h30m`, `500ms`) or a number of
    /// seconds, read by [`crate::duration::parse_or_seconds`]; `default` when absent.
    pub fn duration_ms(&self, key: &str, default: Option<u64>) -> Result<Option<u64>, ConfigError> {
        let text = match self.map.get(key) {
            None | Some(Value::Null) => return Ok(default),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(v) => return Err(self.bad(key, v, "a duration such as 90s, 15m or 1h30m")),
        };
        crate::duration::parse_or_seconds_ms(&text)
            .map(Some)
            .map_err(|e| ConfigError::BadDuration {
                owner: self.owner.clone(),
                key: key.to_owned(),
                reason: e.to_string(),
            })
    }

    /// A string, if present and a string.
    pub fn str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.bad(key, v, "a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Arguments {
        let Value::Object(map) = v else {
            panic!("object")
        };
        Arguments::new("plugin \"t\"", map)
    }

    #[test]
    fn numbers_bools_and_strings() {
        let a =
            args(json!({"w": 2, "s": "3.5", "b": "true", "bb": false, "name": "x", "bad": [1]}));
        assert_eq!(a.f64("w", 1.0).ok(), Some(2.0));
        assert_eq!(a.f64("s", 1.0).ok(), Some(3.5));
        assert_eq!(a.f64("missing", 1.0).ok(), Some(1.0));
        assert_eq!(a.bool("b", false).ok(), Some(true));
        assert_eq!(a.bool("bb", true).ok(), Some(false));
        assert_eq!(a.str("name").ok().flatten(), Some("x"));
        let err = a.f64("bad", 0.0).expect_err("must fail").to_string();
        assert!(
            err.contains("\"bad\"") && err.contains("plugin \"t\""),
            "{err}"
        );
        assert!(a.i64("s", 0).is_err());
        assert!(a.bool("name", false).is_err());
    }

    #[test]
    fn durations_are_go_durations_or_seconds() {
        let a = args(json!({
            "mixed": "1m30s", "n": 90, "f": 1.5, "s": "600", "us": "1500us", "plus": "+2h",
            "exp": "1e3", "neg": "-5m", "days": "2d", "list": ["1h"],
        }));
        let ms = |k: &str| a.duration_ms(k, None).ok().flatten();
        assert_eq!(ms("mixed"), Some(90_000));
        assert_eq!(ms("n"), Some(90_000));
        assert_eq!(ms("f"), Some(1_500));
        assert_eq!(ms("s"), Some(600_000));
        // Accepted since the core's parser is Go's (issue 22): µs/ns units, a leading `+`.
        assert_eq!(ms("us"), Some(2));
        assert_eq!(ms("plus"), Some(7_200_000));
        assert_eq!(a.duration_ms("missing", Some(7)).ok(), Some(Some(7)));
        for (key, why) in [
            ("exp", "unknown unit \"e\""),
            ("neg", "must be zero or positive"),
            ("days", "unknown unit \"d\""),
            ("list", "expected a duration"),
        ] {
            let err = a.duration_ms(key, None).expect_err(key).to_string();
            assert!(
                err.contains(why) && err.contains(&format!("{key:?}")),
                "{key}: {err}"
            );
        }
    }
}
