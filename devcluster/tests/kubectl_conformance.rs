//! Runs the reference kubectl conformance harness (`kubectl_conformance.py`, real kubectl against
//! this server) and requires every scenario to pass, protobuf ones included. The harness is not
//! part of the repository: our own copies of its scenarios run in the e2e suite
//! (`e2e/conformance.rs`, against `basalt up`). This test compares against the reference when
//! `BASALT_CONFORMANCE` names the script, and says it was skipped otherwise.

mod common;

use devcluster::DevCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_conformance_harness_passes() -> anyhow::Result<()> {
    let Some(harness) = std::env::var_os("BASALT_CONFORMANCE") else {
        println!(
            "SKIP: BASALT_CONFORMANCE is not set (path of the reference kubectl_conformance.py); \
             the repository's own scenarios run in e2e/conformance.rs"
        );
        return Ok(());
    };
    let harness = std::path::PathBuf::from(harness);
    assert!(
        std::path::Path::new(&harness).exists(),
        "conformance harness {} not found; BASALT_CONFORMANCE must name kubectl_conformance.py",
        harness.display()
    );
    let h = DevCluster::builder().start().await?;
    let crds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/crd");
    h.register_crd_dir(&crds).await?;
    let dir = common::temp_dir("conformance");
    let kubeconfig = dir.join("kubeconfig");
    h.write_kubeconfig(&kubeconfig)?;
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(&harness)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--jobs", "4", "--timeout", "30", "-v"])
            .output()
    })
    .await??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "conformance failures:\n{stdout}");
    assert!(!stdout.contains("FAIL "), "{stdout}");
    h.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
