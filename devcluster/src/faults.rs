//! Deterministic fault rules: "fail the first N writes that match", for tests that must hit one
//! exact failure (the first bind of a pod, the simulated kubelet's delete of a terminating pod)
//! instead of waiting for `fault_rate` to roll it. Parsing and matching only; the API router
//! asks [`FaultRules::take`] before a write and answers the returned error instead.
//!
//! A rule is text, as `basalt up --fault-rule` takes it:
//! `verb=delete,resource=pods,name=policy-job-,agent=basalt-nodes/,status=409,count=1`.

use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;

use crate::error::ApiError;

/// The write verbs a rule can name (reads are never failed by a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// POST (create, and subresources such as `pods/binding` and `pods/eviction`).
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Verb {
    /// The verb of an HTTP method; `None` for reads.
    pub fn of_method(method: &axum::http::Method) -> Option<Self> {
        match *method {
            axum::http::Method::POST => Some(Self::Create),
            axum::http::Method::PUT => Some(Self::Update),
            axum::http::Method::PATCH => Some(Self::Patch),
            axum::http::Method::DELETE => Some(Self::Delete),
            _ => None,
        }
    }
}

/// One rule: which writes it matches and how it fails them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    /// Any write verb when `None`.
    pub verb: Option<Verb>,
    /// `pods`, or a subresource `pods/binding`; required.
    pub resource: String,
    /// Prefix of the object's name (any name when empty).
    pub name: String,
    /// Prefix of the client's `User-Agent` (any client when empty).
    pub agent: String,
    /// HTTP status of the injected error: 500 (default), 409, 429 or 503.
    pub status: u16,
    /// How many matching writes fail (default 1); later ones pass.
    pub count: u32,
}

/// A rule's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fault rule {rule:?}: {problem}; write it as verb=create|update|patch|delete,resource=PLURAL[/SUBRESOURCE],name=PREFIX,agent=PREFIX,status=500|409|429|503,count=N (only resource is required)"
)]
pub struct RuleError {
    rule: String,
    problem: String,
}

impl FromStr for FaultRule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Self, RuleError> {
        let err = |problem: String| RuleError {
            rule: text.to_string(),
            problem,
        };
        let mut rule = FaultRule {
            verb: None,
            resource: String::new(),
            name: String::new(),
            agent: String::new(),
            status: 500,
            count: 1,
        };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(err(format!("{part:?} is not key=value")));
            };
            let value = value.trim();
            match key.trim() {
                "verb" => {
                    rule.verb = Some(match value {
                        "create" => Verb::Create,
                        "update" => Verb::Update,
                        "patch" => Verb::Patch,
                        "delete" => Verb::Delete,
                        other => return Err(err(format!("unknown verb {other:?}"))),
                    })
                }
                "resource" => rule.resource = value.to_string(),
                "name" => rule.name = value.to_string(),
                "agent" => rule.agent = value.to_string(),
                "status" => {
                    rule.status = match value.parse() {
                        Ok(s @ (500 | 409 | 429 | 503)) => s,
                        _ => {
                            return Err(err(format!(
                                "status {value:?} is not 500, 409, 429 or 503"
                            )));
                        }
                    }
                }
                "count" => {
                    rule.count =
                        value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            err(format!("count {value:?} is not a whole number ≥ 1"))
                        })?
                }
                other => return Err(err(format!("unknown key {other:?}"))),
            }
        }
        if rule.resource.is_empty() {
            return Err(err("resource is missing".into()));
        }
        Ok(rule)
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.verb {
            None => "any write",
            Some(Verb::Create) => "create",
            Some(Verb::Update) => "update",
            Some(Verb::Patch) => "patch",
            Some(Verb::Delete) => "delete",
        };
        write!(f, "{verb} of {}", self.resource)?;
        if !self.name.is_empty() {
            write!(f, " named {}*", self.name)?;
        }
        if !self.agent.is_empty() {
            write!(f, " by {}*", self.agent)?;
        }
        Ok(())
    }
}

/// One write, as a rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub verb: Verb,
    /// `pods` or `pods/binding`.
    pub resource: &'a str,
    /// The object's name (from the path, or a create's body).
    pub name: &'a str,
    pub agent: &'a str,
}

impl FaultRule {
    fn matches(&self, w: &Write<'_>) -> bool {
        self.verb.is_none_or(|v| v == w.verb)
            && self.resource == w.resource
            && w.name.starts_with(&self.name)
            && w.agent.starts_with(&self.agent)
    }

    fn error(&self) -> ApiError {
        let what = format!("injected fault: rule \"{self}\" (devcluster fault rule)");
        match self.status {
            409 => ApiError::new(
                409,
                "Conflict",
                format!(
                    "{what}: the object has been modified; please apply your changes to the latest version and try again"
                ),
            ),
            429 => ApiError::new(429, "TooManyRequests", what),
            503 => ApiError::new(503, "ServiceUnavailable", what),
            _ => ApiError::internal(what),
        }
    }
}

/// The rules of a server with what is left of each rule's count.
#[derive(Debug, Default)]
pub struct FaultRules(Mutex<Vec<(FaultRule, u32)>>);

impl FaultRules {
    pub fn new(rules: Vec<FaultRule>) -> Self {
        Self(Mutex::new(
            rules.into_iter().map(|r| (r.clone(), r.count)).collect(),
        ))
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The error of the first rule that matches `w` and has failures left (using one up).
    pub fn take(&self, w: &Write<'_>) -> Option<ApiError> {
        let mut rules = self.lock();
        let (rule, left) = rules
            .iter_mut()
            .find(|(rule, left)| *left > 0 && rule.matches(w))?;
        *left -= 1;
        tracing::info!(rule = %rule, name = w.name, left = *left, "injecting a fault by rule");
        Some(rule.error())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(FaultRule, u32)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test fails by panicking
mod tests {
    use super::*;

    fn write<'a>(verb: Verb, resource: &'a str, name: &'a str, agent: &'a str) -> Write<'a> {
        Write {
            verb,
            resource,
            name,
            agent,
        }
    }

    #[test]
    fn parses_every_key_and_defaults_the_rest() {
        let r: FaultRule =
            "verb=delete, resource=pods, name=job-, agent=basalt-nodes/, status=409, count=2"
                .parse()
                .unwrap();
        assert_eq!(r.verb, Some(Verb::Delete));
        assert_eq!((r.resource.as_str(), r.name.as_str()), ("pods", "job-"));
        assert_eq!(
            (r.agent.as_str(), r.status, r.count),
            ("basalt-nodes/", 409, 2)
        );
        let r: FaultRule = "resource=pods/binding".parse().unwrap();
        assert_eq!((r.verb, r.status, r.count), (None, 500, 1));
    }

    #[test]
    fn refuses_bad_rules_naming_the_problem() {
        for (text, problem) in [
            ("verb=create", "resource is missing"),
            ("resource=pods,verb=get", "unknown verb \"get\""),
            ("resource=pods,status=404", "status \"404\""),
            ("resource=pods,count=0", "count \"0\""),
            ("resource=pods,colour=red", "unknown key \"colour\""),
            ("resource", "is not key=value"),
        ] {
            let e = text.parse::<FaultRule>().unwrap_err().to_string();
            assert!(e.contains(problem), "{text}: {e}");
            assert!(e.contains("resource=PLURAL"), "{e}");
        }
    }

    #[test]
    fn fails_exactly_count_matching_writes() {
        let rules = FaultRules::new(vec![
            "verb=create,resource=pods/binding,name=job-a-,count=2"
                .parse()
                .unwrap(),
        ]);
        let bind = |name| write(Verb::Create, "pods/binding", name, "kube-rs");
        assert!(rules.take(&bind("job-b-0")).is_none(), "other name");
        assert!(
            rules
                .take(&write(Verb::Create, "pods", "job-a-0", "kube-rs"))
                .is_none(),
            "other resource"
        );
        assert!(
            rules
                .take(&write(Verb::Patch, "pods/binding", "job-a-0", "kube-rs"))
                .is_none(),
            "other verb"
        );
        let e = rules.take(&bind("job-a-0")).expect("first match fails");
        assert_eq!(e.code, 500);
        assert!(rules.take(&bind("job-a-1")).is_some(), "second match fails");
        assert!(rules.take(&bind("job-a-0")).is_none(), "count used up");
    }

    #[test]
    fn agent_prefix_and_status_are_honoured() {
        let rules = FaultRules::new(vec![
            "verb=delete,resource=pods,agent=basalt-nodes/,status=409"
                .parse()
                .unwrap(),
        ]);
        assert!(
            rules
                .take(&write(Verb::Delete, "pods", "p", "basalt-controller/0.1"))
                .is_none()
        );
        let e = rules
            .take(&write(Verb::Delete, "pods", "p", "basalt-nodes/0.1"))
            .unwrap();
        assert_eq!((e.code, e.reason), (409, "Conflict"));
    }
}
