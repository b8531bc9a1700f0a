//! Runs a dev cluster until Ctrl-C: `cargo run -p basalt-devcluster --example serve --
//! [--kubeconfig FILE] [--port N] [--data-dir DIR] [--fault-rate F] [--crd-dir DIR]`.

use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let mut b = devcluster::DevCluster::builder().bookmark_interval(Duration::from_secs(20));
    if let Some(p) = arg("--port") {
        b = b.port(p.parse()?);
    }
    if let Some(d) = arg("--data-dir") {
        b = b.data_dir(d);
    }
    if let Some(f) = arg("--fault-rate") {
        b = b.fault_rate(f.parse()?);
    }
    let h = b.start().await?;
    if let Some(dir) = arg("--crd-dir") {
        let n = h.register_crd_dir(&dir).await?;
        eprintln!("registered {n} CRD files from {dir}");
    }
    let path = arg("--kubeconfig").unwrap_or_else(|| "devcluster.kubeconfig".into());
    h.write_kubeconfig(&path)?;
    eprintln!(
        "serving on {} ; kubeconfig written to {path}",
        h.server_url()
    );
    tokio::signal::ctrl_c().await?;
    h.shutdown().await;
    Ok(())
}
