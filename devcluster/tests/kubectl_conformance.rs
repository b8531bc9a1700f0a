//! Runs the shared kubectl conformance harness (real kubectl against this server) and
//! requires every scenario to pass, protobuf ones included. Harness path:
//! `$BASALT_CONFORMANCE` or the shared checkout.

mod common;

use devcluster::DevCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_conformance_harness_passes() -> anyhow::Result<()> {
    let harness = std::env::var("BASALT_CONFORMANCE")
        .unwrap_or_else(|_| "/work/shared/conformance/kubectl_conformance.py".to_string());
    assert!(
        std::path::Path::new(&harness).exists(),
        "conformance harness {harness} not found; set BASALT_CONFORMANCE to kubectl_conformance.py"
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
