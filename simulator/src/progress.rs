//! A hand-rolled progress bar on stderr for long runs: simulated time done out of the horizon.
//! Drawn only when stderr is a terminal and the caller asked for it; never affects results.

use std::io::{IsTerminal, Write};

/// Progress of one run.
pub struct Progress {
    label: String,
    total: u64,
    shown: u64,
    enabled: bool,
}

impl Progress {
    /// A bar for `label` over `total` ms of virtual time.
    pub fn new(label: &str, total: u64, wanted: bool) -> Self {
        Self {
            label: label.to_owned(),
            total: total.max(1),
            shown: u64::MAX,
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    /// Redraws when the percentage changes.
    pub fn update(&mut self, now: u64) {
        if !self.enabled {
            return;
        }
        let pct = (now.min(self.total) * 100 / self.total).min(100);
        if pct == self.shown {
            return;
        }
        self.shown = pct;
        let filled = (pct / 4) as usize;
        let bar: String = "#".repeat(filled) + &"-".repeat(25 - filled);
        let days = now as f64 / 86_400_000.0;
        let _ = write!(
            std::io::stderr(),
            "\r{:>16} [{bar}] {pct:>3}%  day {days:.1}",
            self.label
        );
    }

    /// Ends the line.
    pub fn finish(&mut self) {
        if self.enabled {
            let _ = writeln!(std::io::stderr());
        }
    }
}
