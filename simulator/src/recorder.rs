//! Time integration of the cluster's state while a run advances: GPU-time held and productive,
//! stranded GPUs, FGD fragmentation, and per-tenant held/pending GPU-time in 1-hour windows.
//!
//! The engine tells the recorder the state after every change ([`Recorder::set`]) and the time
//! before every change ([`Recorder::advance`]); the state is constant in between, so the
//! integrals are exact. Only `[measure_start, measure_end)` is integrated (a warm-up before it
//! is ignored); windows start at `measure_start`. Summaries live in `metrics`.

/// The cluster state between two changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// GPUs held by bound pods, per tenant.
    pub held: Vec<i64>,
    /// GPUs requested by pods not yet running, per tenant.
    pub pending: Vec<i64>,
    /// GPUs held by jobs whose pods all run.
    pub productive: i64,
    /// Free GPUs on nodes that no pending pod fits (0 when nothing is pending).
    pub stranded: i64,
    /// FGD fragmentation F(M) in GPUs.
    pub frag: f64,
    /// Free GPUs.
    pub idle: i64,
    /// Free GPUs on nodes held by reservations.
    pub reserved_idle: i64,
}

/// Accumulators of one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// GPU·ms held per tenant.
    pub held: Vec<f64>,
    /// GPU·ms pending per tenant.
    pub pending: Vec<f64>,
}

/// Integrates [`State`] over virtual time.
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Window length in ms.
    pub window_ms: u64,
    /// Start of the measurement interval (after warm-up).
    pub measure_start: u64,
    /// End of the measurement interval.
    pub measure_end: u64,
    last: u64,
    cur: State,
    /// GPU·ms held.
    pub held: f64,
    /// GPU·ms productive.
    pub productive: f64,
    /// GPU·ms stranded.
    pub stranded: f64,
    /// Σ frag·dt (GPU·ms) and Σ idle·dt over time with idle GPUs.
    pub frag: f64,
    /// Σ idle·dt.
    pub idle: f64,
    /// GPU·ms free on nodes held by reservations.
    pub reserved_idle: f64,
    /// Per-window accumulators.
    pub windows: Vec<Window>,
}

impl Recorder {
    /// A recorder for `tenants` tenants measuring `[measure_start, measure_end)`.
    pub fn new(tenants: usize, measure_start: u64, measure_end: u64, window_ms: u64) -> Self {
        let measure_start = measure_start.min(measure_end);
        let n = (measure_end - measure_start).div_ceil(window_ms.max(1)) as usize;
        Self {
            window_ms: window_ms.max(1),
            measure_start,
            measure_end,
            last: measure_start,
            cur: State {
                held: vec![0; tenants],
                pending: vec![0; tenants],
                ..State::default()
            },
            held: 0.0,
            productive: 0.0,
            stranded: 0.0,
            frag: 0.0,
            idle: 0.0,
            reserved_idle: 0.0,
            windows: vec![
                Window {
                    held: vec![0.0; tenants],
                    pending: vec![0.0; tenants],
                };
                n
            ],
        }
    }

    /// Integrates the current state up to `now`.
    pub fn advance(&mut self, now: u64) {
        let end = now.min(self.measure_end);
        while self.last < end {
            let w = ((self.last - self.measure_start) / self.window_ms) as usize;
            let seg_end = end.min(self.measure_start + (w as u64 + 1) * self.window_ms);
            let dt = (seg_end - self.last) as f64;
            let c = &self.cur;
            let held: i64 = c.held.iter().sum();
            self.held += held as f64 * dt;
            self.productive += c.productive as f64 * dt;
            self.stranded += c.stranded as f64 * dt;
            self.frag += c.frag * dt;
            self.idle += c.idle as f64 * dt;
            self.reserved_idle += c.reserved_idle as f64 * dt;
            let win = &mut self.windows[w];
            for (i, h) in c.held.iter().enumerate() {
                win.held[i] += *h as f64 * dt;
                win.pending[i] += c.pending[i] as f64 * dt;
            }
            self.last = seg_end;
        }
        self.last = self.last.max(end);
    }

    /// The state from now on.
    pub fn set(&mut self, state: State) {
        self.cur = state;
    }

    /// The state last set.
    pub fn current(&self) -> &State {
        &self.cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integrates_piecewise_constant_state_across_windows() {
        let mut r = Recorder::new(2, 0, 10, 4);
        r.set(State {
            held: vec![2, 0],
            pending: vec![0, 1],
            productive: 2,
            idle: 2,
            ..State::default()
        });
        r.advance(6);
        r.set(State {
            held: vec![2, 1],
            pending: vec![0, 0],
            productive: 3,
            idle: 1,
            ..State::default()
        });
        r.advance(100);
        assert_eq!(r.held, 2.0 * 6.0 + 3.0 * 4.0);
        assert_eq!(r.productive, 24.0);
        assert_eq!(r.windows.len(), 3);
        assert_eq!(r.windows[0].pending, vec![0.0, 4.0]);
        assert_eq!(r.windows[1].pending, vec![0.0, 2.0]);
        assert_eq!(r.windows[1].held, vec![8.0, 2.0]);
        assert_eq!(r.windows[2].held, vec![4.0, 2.0]);
        // With a warm-up, time before measure_start is not integrated.
        let mut w = Recorder::new(1, 5, 10, 10);
        w.set(State {
            held: vec![1],
            pending: vec![0],
            ..State::default()
        });
        w.advance(100);
        assert_eq!((w.held, w.windows.len()), (5.0, 1));
    }
}
