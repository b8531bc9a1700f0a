//! Newtype identifiers for the objects in a snapshot.
//!
//! Ids are the caller's names (`namespace/name` for namespaced objects, the plain name for nodes
//! and queues). They order lexicographically, which is what makes iteration — and therefore every
//! decision — deterministic. This module owns only the types; it does not validate name syntax.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a name.
            pub fn new(name: impl Into<String>) -> Self {
                Self(name.into())
            }

            /// The wrapped name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(name: &str) -> Self {
                Self(name.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(name: String) -> Self {
                Self(name)
            }
        }
    };
}

id_type!(
    /// A node's name.
    NodeId
);
id_type!(
    /// A pod, as `namespace/name`.
    TaskId
);
id_type!(
    /// A PodGroup, as `namespace/name`.
    JobId
);
id_type!(
    /// A queue's name (queues are cluster-scoped).
    QueueId
);
