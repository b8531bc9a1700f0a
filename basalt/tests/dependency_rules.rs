//! The dependency rules of docs/ARCHITECTURE.md, enforced: a crate that gains a forbidden
//! dependency (directly or through another crate) fails this test, so the layering cannot erode
//! one convenient import at a time.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Every package `package` builds against (normal dependencies, transitively), by name.
fn dependencies(package: &str) -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "-f", "{p}", "-p",
        ])
        .arg(package)
        .current_dir(&root)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|name| name != package)
        .collect()
}

/// (package, forbidden dependencies, why) — docs/ARCHITECTURE.md "Build and dependency rules".
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "basalt-scheduler-core",
        &[
            "kube",
            "kube-client",
            "kube-runtime",
            "k8s-openapi",
            "tokio",
            "basalt-crds",
        ],
        "the core is pure: snapshot in, decisions out; the simulator builds it without the kube stack",
    ),
    (
        "basalt-devcluster",
        &[
            "basalt-controllers",
            "basalt-scheduler-core",
            "basalt-kubelet",
        ],
        "the API server knows nothing of scheduling or of the nodes: it must behave like kube-apiserver",
    ),
    (
        "basalt-kubelet",
        &[
            "basalt-controllers",
            "basalt-scheduler-core",
            "basalt-webhooks",
        ],
        "the simulated kubelet is a client of the API like a real kubelet: it makes no scheduling decision",
    ),
    (
        "basalt-bridge",
        &[
            "kube-client",
            "kube-runtime",
            "tokio",
            "basalt-controllers",
            "basalt-webhooks",
        ],
        "the bridge is a pure translation between the two models: the webhooks and the CLI use it without the reconcilers",
    ),
    (
        "basalt-simulator",
        &["basalt-controllers", "kube", "kube-client", "tokio"],
        "the simulator replays through the core alone",
    ),
    (
        "basalt-webhooks",
        &["basalt-controllers"],
        "admission runs in its own deployment and must not pull in the reconcilers",
    ),
    (
        "basalt-quantity",
        &["kube", "k8s-openapi", "tokio", "serde"],
        "the one quantity parser: every crate, the pure ones included, can use it",
    ),
    (
        "basalt-cluster-spec",
        &[
            "kube",
            "kube-client",
            "k8s-openapi",
            "tokio",
            "basalt-devcluster",
        ],
        "the cluster spec file is read by the simulator too, which builds without the kube stack",
    ),
    (
        "basalt-listener",
        &["kube", "k8s-openapi", "basalt-crds", "basalt-devcluster"],
        "the accept loop owns sockets and deadlines, never routes or API objects",
    ),
    (
        "basalt-crds",
        &["kube-client", "kube-runtime", "tokio"],
        "the API types need kube's derive only",
    ),
];

#[test]
fn crates_depend_only_on_what_the_architecture_allows() {
    let mut broken = Vec::new();
    for (package, forbidden, why) in RULES {
        let deps = dependencies(package);
        for f in *forbidden {
            if deps.contains(*f) {
                broken.push(format!("{package} depends on {f} ({why})"));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_rule_check_sees_real_dependencies() {
    // Guards the test itself: a broken `cargo tree` parse would make every rule pass vacuously.
    let deps = dependencies("basalt-controllers");
    for expected in ["kube", "tokio", "basalt-crds", "basalt-scheduler-core"] {
        assert!(deps.contains(expected), "{expected} missing from {deps:?}");
    }
}
