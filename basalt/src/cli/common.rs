//! Shared pieces of the operator CLI: connection flags (`--kubeconfig`, `-n`, `-A`, `-o`), the
//! API client, kubectl-style aligned tables, ages, and resource/GPU arithmetic on live objects.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use scheduler_core::Resources;

/// The GPU resource name.
pub const GPU: &str = "nvidia.com/gpu";
/// vGPU share of one card's cores, in percent (the deviceshare resource).
pub const VGPU_CORES: &str = "nvidia.com/vgpu-cores";
/// Node annotation with the GPU utilization, a fraction (`0.88`) or a percentage (`88%`).
pub const GPU_UTILIZATION: &str = "basalt.dev/gpu-utilization";
/// Pod annotation with the simulated run time (`basalt up`).
pub const SIM_DURATION: &str = "sim.basalt.dev/duration";

/// Flags every `basalt job|queue|report|why` command accepts.
#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace (default: the kubeconfig context's namespace, else `default`).
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// Every namespace (list views).
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short, long, global = true, value_enum)]
    pub output: Option<Output>,
}

/// `-o` values.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// More columns.
    Wide,
    /// The objects (or the report) as JSON.
    Json,
    /// The objects (or the report) as YAML.
    Yaml,
}

/// The `User-Agent` of the CLI's requests.
pub const USER_AGENT: &str = concat!("basalt-cli/", env!("CARGO_PKG_VERSION"));

impl Conn {
    /// The API client and the namespace to use.
    pub async fn connect(&self) -> anyhow::Result<(Client, String)> {
        let config = match &self.kubeconfig {
            Some(p) => {
                let kc = Kubeconfig::read_from(p).with_context(|| {
                    format!("reading kubeconfig {}; check the --kubeconfig path", p.display())
                })?;
                kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
            }
            None => kube::Config::infer().await.context(
                "no cluster configured; pass --kubeconfig FILE, set KUBECONFIG, or start one with `basalt up`",
            )?,
        };
        let mut config = config;
        // Names the CLI in audit logs, and lets `basalt up --fault-exempt-agent basalt-cli/`
        // spare it from injected faults.
        config.headers.push((
            http::header::USER_AGENT,
            http::HeaderValue::from_static(USER_AGENT),
        ));
        let client = Client::try_from(config).context("building the API client")?;
        let ns = self
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        Ok((client, ns))
    }

    /// True with `-o wide`.
    pub fn wide(&self) -> bool {
        self.output == Some(Output::Wide)
    }
}

/// Prints `value` as JSON or YAML when `-o json|yaml` asked for it; false otherwise.
pub fn print_structured<T: serde::Serialize>(
    output: Option<Output>,
    value: &T,
) -> anyhow::Result<bool> {
    let text = match output {
        Some(Output::Json) => serde_json::to_string_pretty(value).context("rendering JSON")? + "\n",
        Some(Output::Yaml) => serde_saphyr::to_string(value).context("rendering YAML")?,
        _ => return Ok(false),
    };
    crate::write_stdout(&text)?;
    Ok(true)
}

/// A kubectl-style table: left-aligned columns separated by three spaces.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }
    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    /// The aligned text.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                if c + 1 == r.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

/// kubectl-style age (`45s`, `12m`, `3h`, `2d`) of `t`, or `<unknown>`.
pub fn age(t: Option<&Time>) -> String {
    let Some(t) = t else {
        return "<unknown>".to_owned();
    };
    human_secs((now_secs() - t.0.as_second()).max(0))
}

/// `90` → `90s`, `600` → `10m`, …
pub fn human_secs(s: i64) -> String {
    match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Parses a `sim.basalt.dev/duration` value into seconds (rounded up) with the simulated
/// kubelet's own parser (`kubelet::duration`: a Go duration such as `1m30s` or `1.5h`,
/// or a bare number of seconds), so `why` reads a run time exactly as the node runs it;
/// `None` if it does not parse.
pub fn parse_duration_secs(text: &str) -> Option<i64> {
    let d = kubelet::duration::parse(text).ok()?;
    i64::try_from(d.as_millis().div_ceil(1000)).ok()
}

/// `k=v,k=v` of a resource list; `-` when empty.
pub fn fmt_list(list: Option<&crds::ResourceList>) -> String {
    let text = list
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{}={}", short_name(k), v.0))
        .collect::<Vec<_>>()
        .join(",");
    if text.is_empty() {
        "-".to_owned()
    } else {
        text
    }
}

/// `nvidia.com/gpu` → `gpu`; other names unchanged.
pub fn short_name(resource: &str) -> &str {
    if resource == GPU { "gpu" } else { resource }
}

/// Parses `k=v,k=v` (as `basalt queue create --capability` takes it) into a resource list.
pub fn parse_kv_list(text: &str) -> anyhow::Result<crds::ResourceList> {
    let mut out = crds::ResourceList::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = part.split_once('=').with_context(|| {
            format!("resource {part:?} has no value; write e.g. nvidia.com/gpu=8,cpu=64")
        })?;
        let k = if k.trim() == "gpu" { GPU } else { k.trim() };
        scheduler_core::parse_resource_amount(k, v.trim())
            .map_err(|e| anyhow::anyhow!("quantity {v:?} of {k}: {e}"))?;
        out.insert(
            k.to_owned(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity(v.trim().to_owned()),
        );
    }
    Ok(out)
}

/// True while a pod holds its node's resources (bound and not finished).
pub fn holds_node(pod: &Pod) -> bool {
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_ref())
        .is_some();
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    bound && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// A pod's effective requests.
pub fn requests(pod: &Pod) -> Resources {
    pod.spec
        .as_ref()
        .map(bridge::resources::pod_requests)
        .unwrap_or_default()
}

/// Bind annotation the deviceshare plugin writes: `UUID,TYPE,memMiB,cores:` per card, `;` per container.
pub const VGPU_IDS: &str = "volcano.sh/vgpu-ids-new";

/// Cards a bound vGPU pod shares, as (card UUID, cores percent), from its [`VGPU_IDS`]
/// annotation.
pub fn vgpu_cards_of(
    annotations: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, i64)> {
    let Some(text) = annotations.get(VGPU_IDS) else {
        return Vec::new();
    };
    text.split([';', ':'])
        .filter_map(|entry| {
            let f: Vec<&str> = entry.split(',').map(str::trim).collect();
            (f.len() >= 4 && !f[0].is_empty()).then(|| (f[0].to_owned(), f[3].parse().unwrap_or(0)))
        })
        .collect()
}

/// Fractional GPUs a pod (a snapshot task: its requests and annotations) takes through vGPU
/// sharing: Σ cores / 100 of its assigned cards (the bind annotation), else its
/// `nvidia.com/vgpu-cores` request / 100. Zero for pods that request whole GPUs (the plugin
/// annotates their cards too, at 100 %).
pub fn fractional_of(
    requests: &Resources,
    annotations: &std::collections::BTreeMap<String, String>,
) -> f64 {
    if requests.get(GPU) > 0 {
        return 0.0;
    }
    let cards = vgpu_cards_of(annotations);
    if cards.is_empty() {
        requests.get(VGPU_CORES) as f64 / 100.0
    } else {
        cards.iter().map(|(_, c)| *c as f64 / 100.0).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_like_kubectl() {
        let mut t = Table::new(&["NAME", "STATE"]);
        t.row(vec!["a-long-name".into(), "Open".into()]);
        assert_eq!(t.render(), "NAME          STATE\na-long-name   Open\n");
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(parse_duration_secs("1h30m"), Some(5400));
        assert_eq!(parse_duration_secs("250ms"), Some(1));
        assert_eq!(parse_duration_secs("5x"), None);
        // What the simulated kubelet accepts, `why` reads the same way.
        assert_eq!(parse_duration_secs("1.5h"), Some(5400));
        assert_eq!(parse_duration_secs("90"), Some(90));
        // The one Go-duration parser (issue 22): µs units read, an exponent is no number.
        assert_eq!(parse_duration_secs("1500us"), Some(1));
        assert_eq!(parse_duration_secs("1e3"), None);
        assert_eq!(human_secs(59), "59s");
        assert_eq!(human_secs(600), "10m");
        assert_eq!(human_secs(3 * 86_400), "3d");
    }

    #[test]
    fn kv_lists_parse_and_refuse_bad_quantities() {
        let l = parse_kv_list("gpu=8,cpu=64").expect("parses");
        assert_eq!(l[GPU].0, "8");
        assert!(parse_kv_list("gpu").is_err());
        assert!(parse_kv_list("cpu=lots").is_err());
    }
}
