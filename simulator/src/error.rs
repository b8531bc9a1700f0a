//! The crate's error type. Every message names the file, field or object and, where there is one,
//! the fix.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Result with the simulator's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A bad row or cell in a trace file: where and why.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{file}:{line}: column {column:?}: {reason}")]
pub struct TraceError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// Column name.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

impl TraceError {
    /// Builds one.
    pub fn new(file: &Path, line: usize, column: &str, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            column: column.into(),
            reason: reason.into(),
        }
    }
}

/// Everything that can go wrong setting up or running a simulation.
#[derive(Debug, Error)]
pub enum Error {
    /// A trace row failed to parse.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// "read" or "write".
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A YAML file did not match its format.
    #[error("{file}: {reason}")]
    Yaml {
        /// The file.
        file: String,
        /// The parser's message.
        reason: String,
    },
    /// A field parsed but has a bad value.
    #[error("{file}: field {field}: {reason}")]
    Field {
        /// The file.
        file: String,
        /// Field path.
        field: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Not a built-in cluster preset.
    #[error("unknown cluster preset {name:?}; known presets: {known}; or pass a cluster spec file")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// Known names.
        known: String,
    },
    /// A policy needs plugins or actions scheduler-core does not provide yet.
    #[error(
        "policy {policy:?} needs {missing}, which scheduler-core does not provide yet (known plugins: {known}); drop them from the configuration or wait for them to land"
    )]
    MissingPlugins {
        /// Policy name.
        policy: String,
        /// Missing plugin/action names, e.g. `plugin "drf", plugin "proportion"`.
        missing: String,
        /// Known plugin names.
        known: String,
    },
    /// The scheduler configuration is invalid.
    #[error("policy {policy:?}: {source}")]
    Config {
        /// Policy name.
        policy: String,
        /// The core's error.
        source: scheduler_core::ConfigError,
    },
    /// The core rejected a snapshot the simulator built (a simulator bug).
    #[error("scheduler-core rejected the simulated snapshot at t={at_ms} ms: {source}")]
    Session {
        /// Virtual time.
        at_ms: u64,
        /// The core's error.
        source: scheduler_core::SessionError,
    },
    /// The engine was asked to do something impossible (bind an unknown task, over-commit a
    /// node): a bug in the simulator or the core, never a user error.
    #[error("simulator invariant violated: {0}; please report this with the experiment file")]
    Invariant(String),
    /// An experiment file asks for something inconsistent.
    #[error("experiment {name:?}: {reason}")]
    Experiment {
        /// Experiment name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// Reads a file, naming it on failure.
pub fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file, naming it on failure.
pub fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).map_err(|source| Error::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}
