//! Load-aware placement on `basalt up`: the controllers poll metrics.k8s.io NodeMetrics and read
//! `basalt.dev/gpu-utilization` (both driven by the `sim.basalt.dev/usage` override), and the
//! default scheduler configuration's `loadaware` plugin places a new pod on the idle node.

use std::time::Duration;

use crate::harness::Cluster;

const T: Duration = Duration::from_secs(60);
/// Two periods of the controllers' usage poller (`controllers::scheduler::usage::POLL_PERIOD`,
/// 3 s): after `kubectl top` shows the overrides, at least one full poll has read them.
const TWO_POLLS: Duration = Duration::from_secs(7);

const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: light, namespace: default}\nspec:\n  schedulerName: volcano\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    resources: {requests: {cpu: 500m, memory: 512Mi}}\n";

#[test]
fn new_pod_lands_on_the_least_loaded_node() {
    let c = Cluster::start(&["--nodes", "3"]);
    let usage = [
        ("gpu-node-0", "cpu=0.9,memory=0.85,gpu=0.6", "90%"),
        ("gpu-node-1", "cpu=0.2,memory=0.3,gpu=0.1", "20%"),
        ("gpu-node-2", "cpu=0.95,memory=0.9,gpu=0.8", "95%"),
    ];
    for (node, value, _) in usage {
        c.kubectl(&[
            "annotate",
            "node",
            node,
            &format!("sim.basalt.dev/usage={value}"),
            "--overwrite",
        ]);
    }
    for (node, _, cpu) in usage {
        c.wait_for(&format!("{node} at {cpu} CPU"), T, || {
            let top = c.kubectl(&["top", "node", node, "--no-headers"]);
            top.split_whitespace()
                .nth(2)
                .filter(|p| *p == cpu)
                .map(|_| ())
        });
    }
    std::thread::sleep(TWO_POLLS);
    c.apply(POD);
    let node = c.wait_for("pod/light bound", T, || {
        let p = c.get_json(&["pod/light"]);
        p.pointer("/spec/nodeName")
            .and_then(|n| n.as_str())
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    });
    assert_eq!(node, "gpu-node-1", "{}", c.log());

    // CPU comes from the polled NodeMetrics (the GPU annotation alone would still favour
    // gpu-node-1): above the 65 % CPU threshold everywhere, a new pod stays unschedulable.
    c.kubectl(&[
        "annotate",
        "node",
        "gpu-node-1",
        "sim.basalt.dev/usage=cpu=0.9,memory=0.3,gpu=0.1",
        "--overwrite",
    ]);
    c.wait_for("gpu-node-1 at 90% CPU", T, || {
        let top = c.kubectl(&["top", "node", "gpu-node-1", "--no-headers"]);
        top.split_whitespace()
            .nth(2)
            .filter(|p| *p == "90%")
            .map(|_| ())
    });
    std::thread::sleep(TWO_POLLS);
    c.apply(&POD.replace("name: light", "name: second"));
    let message = c.wait_for("pod/second unschedulable", T, || {
        let p = c.get_json(&["pod/second"]);
        let cond = p
            .pointer("/status/conditions")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")?;
        Some(cond["message"].as_str().unwrap_or_default().to_owned())
    });
    let p = c.get_json(&["pod/second"]);
    assert!(
        p.pointer("/spec/nodeName")
            .is_none_or(|n| n.as_str() == Some("")),
        "{p}\n{message}"
    );
}
