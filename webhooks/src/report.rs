//! Collects what a rule found wrong with one object. Every refusal names the object (`job "train"`),
//! the field path (`spec.tasks[0].replicas`) and the fix, so the user can act on the message alone.
//! Owns message shape only; rules decide what is wrong.

use std::fmt::Display;

use crate::review::Verdict;

/// Violations and warnings for one object.
#[derive(Debug, Clone)]
pub struct Report {
    subject: String,
    violations: Vec<String>,
    warnings: Vec<String>,
}

impl Report {
    /// A report about `kind "name"` (`kind` in lowercase, e.g. `job`).
    pub fn new(kind: &str, name: &str) -> Self {
        let name = if name.is_empty() { "<generated>" } else { name };
        Self {
            subject: format!("{kind} {name:?}"),
            violations: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// `job "train"`: how messages name the object.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Records a violation: `<subject>: <path> <problem>; <fix>`.
    pub fn refuse(&mut self, path: &str, problem: impl Display, fix: impl Display) {
        self.violations
            .push(format!("{}: {path} {problem}; {fix}", self.subject));
    }

    /// Records a violation whose sentence is already complete (quota messages lead with the subject).
    pub fn refuse_sentence(&mut self, sentence: String) {
        self.violations.push(sentence);
    }

    /// Records a warning; the object is still admitted.
    pub fn warn(&mut self, path: &str, problem: impl Display, fix: impl Display) {
        self.warnings
            .push(format!("{}: {path} {problem}; {fix}", self.subject));
    }

    /// Whether nothing was refused.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations found so far.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Turns the report into a verdict: denied with every violation (one per line) or allowed.
    pub fn into_verdict(self) -> Verdict {
        let mut verdict = if self.violations.is_empty() {
            Verdict::allow()
        } else {
            Verdict::deny(self.violations.join("\n"))
        };
        verdict.warnings = self.warnings;
        verdict
    }
}

/// Whether `s` is a DNS-1123 label (lowercase alphanumerics and `-`, ≤ 63, alphanumeric ends).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Whether `s` is a DNS-1123 subdomain (dot-separated labels, ≤ 253).
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_subject_path_and_fix() {
        let mut r = Report::new("job", "train");
        r.refuse("spec.tasks[0].replicas", "is -1", "set it to 0 or more");
        assert_eq!(
            r.violations(),
            ["job \"train\": spec.tasks[0].replicas is -1; set it to 0 or more"]
        );
        assert!(r.into_verdict().denied.is_some());
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_label("worker-0"));
        assert!(!is_dns_label("Worker"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_subdomain("team-a.gpu"));
        assert!(!is_dns_subdomain("team_a"));
    }
}
