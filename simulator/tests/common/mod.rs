//! Helpers shared by the simulator's integration tests.

/// The shipped default configuration with reclaim's one-hour `minRunTime` taken out: for tests
/// that need reclaim at once (eviction cycles, a derivation with a reclaim at t = 1 s), which
/// the minimum run time would hide.
pub fn default_with_immediate_reclaim() -> String {
    let block = "configurations:\n- name: reclaim\n  arguments:\n    minRunTime: 1h\n";
    let config = include_str!("../../../config/scheduler/basalt-default.yaml");
    assert!(
        config.contains(block),
        "the default's reclaim block changed"
    );
    config.replace(block, "")
}
