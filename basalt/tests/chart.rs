//! The Helm chart's checks as part of the test suite: `tools/chart-check.sh` (Helm v4 lint and
//! render, kubernetes-validate, custom resources against our CRD schemas, the chart's policy, RBAC
//! against docs/rbac.md and the code) must pass, and the chart's CRDs must be the generated ones.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the basalt crate sits in the repository root")
        .to_path_buf()
}

#[test]
fn chart_crds_are_the_generated_crds() {
    let dir = repo_root().join("config/helm/basalt/crds");
    let crds = crds::crd::all();
    let mut expected: Vec<String> = crds.iter().map(crds::crd::file_name).collect();
    expected.sort();
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    present.sort();
    assert_eq!(
        present, expected,
        "config/helm/basalt/crds must hold exactly one file per CRD; run tools/chart-check.sh --sync"
    );
    for crd in &crds {
        let name = crds::crd::file_name(crd);
        let on_disk = std::fs::read_to_string(dir.join(&name)).expect("read chart CRD");
        let generated = crds::crd::render(crd).expect("render CRD");
        assert!(
            on_disk == generated,
            "config/helm/basalt/crds/{name} differs from what the types generate; \
             run `cargo run -p basalt -- crds --write config/crd` then tools/chart-check.sh --sync"
        );
    }
}

#[test]
fn chart_check_script_passes() {
    let root = repo_root();
    let output = Command::new("bash")
        .arg(root.join("tools/chart-check.sh"))
        .current_dir(&root)
        .env("BASALT_BIN", env!("CARGO_BIN_EXE_basalt"))
        .output()
        .expect("run bash tools/chart-check.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "tools/chart-check.sh failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    // The script ends with its verdict; a silent early exit must not count as a pass.
    assert!(
        stdout.contains("chart-check: all chart checks passed"),
        "no verdict in:\n{stdout}"
    );
}
