//! CI regression guard for placement throughput (issue #23): a short saturated run of the
//! `allocate` bench's matrix that fails (exit status 1) when placements per second fall below a
//! floor. Each floor is half of the value measured on the project's 2-core development machine
//! (see `benches/README.md` for the date and commit), so a regression of 2× or more fails while
//! the machine's usual noise does not. Times are session CPU time, best of 3.
//!
//! Run: `cargo bench -p basalt-scheduler-core --bench throughput_guard` (`.ci/run` does, after
//! the tests). When a change makes a case slower on purpose, re-measure and move its floor here
//! in the same commit, saying why.

mod support;

use scheduler_core::Scheduler;
use support::{CONFIG, Shape, load_average, measure, saturated};

/// (nodes, pending, shape, floor in placements/s = half of the measured value).
const CASES: [(usize, usize, Shape, f64); 3] = [
    (500, 10_000, Shape::Plain, FLOOR_PLAIN),
    (500, 10_000, Shape::Gang8, FLOOR_GANG8),
    (500, 5_000, Shape::Whole8, FLOOR_WHOLE8),
];
// Measured 2026-12-06 07:35 UTC on the shared 2-core machine at load average 19.3–19.6, commit
// 4b58870, three runs alternating with 1efd928 (main before it): plain 60,004–63,256/s, gang8
// 120,785–130,788/s, whole8 15,890–17,741/s (1efd928: 47,528–49,708, 106,869–109,935 and
// 11,820–12,729/s). Floors are half of the lowest run. Earlier: f72397f at load 15.8 gave
// 46,042, 108,654 and 12,516/s; the code before issue #23 4,348/s on the plain case.
// 2026-12-06 19:29 UTC, load 3.3, ce849ab alternating with 58b8052: 82,782–90,868,
// 168,000–173,447 and 25,143–25,926/s (58b8052: 64,591–68,289, 136,299–137,642 and
// 18,839–20,127/s). Floors kept: those runs were wall-timed (sessions under 50 ms) at a lighter
// load than the one the floors were set at.
const FLOOR_PLAIN: f64 = 30_000.0;
const FLOOR_GANG8: f64 = 60_000.0;
const FLOOR_WHOLE8: f64 = 7_900.0;

/// The product's allocator (docs/ARCHITECTURE.md, "Memory allocator"): benches measure what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let scheduler = Scheduler::from_yaml(CONFIG).expect("default config loads");
    println!(
        "# throughput guard: placements/s vs floor (half of the measured value); load average {}",
        load_average()
    );
    let mut failed = Vec::new();
    for (nodes, pending, shape, floor) in CASES {
        let snap = saturated(nodes, pending, shape);
        let m = measure(&scheduler, &snap, 3);
        let rate = m.rate();
        let verdict = if rate >= floor { "ok" } else { "BELOW FLOOR" };
        println!(
            "{nodes:>5} nodes {pending:>6} pending {:>6}: {} binds in {:.1} ms -> {rate:>9.0}/s (floor {floor:.0}) {verdict}",
            shape.name(),
            m.binds,
            m.time().as_secs_f64() * 1e3
        );
        if rate < floor {
            failed.push(format!(
                "{nodes} nodes x {pending} pending {}: {rate:.0} placements/s < floor {floor:.0}",
                shape.name()
            ));
        }
    }
    if !failed.is_empty() {
        eprintln!(
            "placement throughput regressed: {}; profile with `cargo bench -p basalt-scheduler-core --bench allocate -- saturated`, or if the slowdown is intended re-measure and move the floor in scheduler-core/benches/throughput_guard.rs",
            failed.join("; ")
        );
        std::process::exit(1);
    }
}
