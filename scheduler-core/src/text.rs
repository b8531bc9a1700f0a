//! [`Text`]: an immutable string that is cheap to clone, for the condition and explanation texts
//! a session emits.
//!
//! A saturated session fails thousands of jobs the same way, and every one of them gets the same
//! PodGroup condition and explanation summary. As `String`s each job's copy was allocated, copied
//! and later dropped; as `Text` the jobs share one allocation (or a `&'static str` for fixed
//! words such as `Unschedulable`), and a clone is a reference-count increment.
//!
//! `Text` reads as a `str` (`Deref`, `as_str`, `Display`, `Debug` as the quoted string) and
//! compares by content with `str`, `&str`, `String` and other `Text`s.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An immutable, cheaply cloned string: a `&'static str` or a shared `Arc<str>`.
#[derive(Clone)]
pub struct Text(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl Text {
    /// A fixed text: no allocation, clones are copies of the reference.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Repr::Static(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }

    /// Whether `self` and `other` are the same allocation (or the same static string), so
    /// sharing can be checked, not only equality.
    pub fn shares_with(&self, other: &Text) -> bool {
        match (&self.0, &other.0) {
            (Repr::Static(a), Repr::Static(b)) => std::ptr::eq(*a, *b),
            (Repr::Shared(a), Repr::Shared(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Self::from_static("")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Self::from_static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(Repr::Shared(Arc::from(s)))
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Self {
        Self(Repr::Shared(s))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.as_str().to_owned()
    }
}

impl From<&Text> for String {
    fn from(t: &Text) -> Self {
        t.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_compares_as_its_string() {
        let a = Text::from("Unschedulable");
        let b = Text::from(String::from("Unschedulable"));
        assert_eq!(a, b);
        assert_eq!(a, "Unschedulable");
        assert_eq!("Unschedulable", b);
        assert_eq!(b, String::from("Unschedulable"));
        assert_eq!(format!("{a}|{b:?}"), "Unschedulable|\"Unschedulable\"");
        assert_eq!(b.len(), 13);
        let (x, y) = (Text::from("a"), Text::from(String::from("b")));
        assert!(x < y);
        assert_eq!(String::from(&b), "Unschedulable");
        assert_eq!(Text::default(), "");
    }

    #[test]
    fn clones_share_one_allocation() {
        let a = Text::from(String::from("3/4 tasks in gang unschedulable"));
        let b = a.clone();
        assert!(a.shares_with(&b));
        let c = Text::from(String::from("3/4 tasks in gang unschedulable"));
        assert_eq!(a, c);
        assert!(!a.shares_with(&c), "equal text, separate allocation");
    }
}
