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
    let dir = repo_root().join("config/helm/basalt/files/crds");
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
        "config/helm/basalt/files/crds must hold exactly one file per CRD; run tools/chart-check.sh --sync"
    );
    for crd in &crds {
        let name = crds::crd::file_name(crd);
        let on_disk = std::fs::read_to_string(dir.join(&name)).expect("read chart CRD");
        let generated = crds::crd::render(crd).expect("render CRD");
        assert!(
            on_disk == generated,
            "config/helm/basalt/files/crds/{name} differs from what the types generate; \
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

/// One admission route as the chart's `basalt.admissions` helper declares it.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ChartRoute {
    path: String,
    mutating: bool,
    group: String,
    version: String,
    resource: String,
    operations: Vec<String>,
}

/// Parses the `basalt.admissions` block of `_helpers.tpl`: one
/// `/path: {type: .., group: .., version: .., resource: .., operations: [..]}` per line.
fn chart_routes() -> Vec<ChartRoute> {
    let path = repo_root().join("config/helm/basalt/templates/_helpers.tpl");
    let text = std::fs::read_to_string(&path).expect("read _helpers.tpl");
    let block = text
        .split("{{- define \"basalt.admissions\" -}}")
        .nth(1)
        .and_then(|rest| rest.split("{{- end -}}").next())
        .expect("_helpers.tpl defines basalt.admissions");
    let mut routes = Vec::new();
    for line in block.lines().filter(|l| l.starts_with('/')) {
        let (route_path, body) = line.split_once(": {").expect("`/path: {...}`");
        let field = |name: &str| -> String {
            let start = body.find(&format!("{name}: ")).expect(name) + name.len() + 2;
            let rest = &body[start..];
            let end = if rest.starts_with('[') {
                rest.find(']').expect("closing ]") + 1
            } else {
                rest.find([',', '}']).expect("end of value")
            };
            rest[..end].trim().trim_matches('"').to_string()
        };
        routes.push(ChartRoute {
            path: route_path.to_string(),
            mutating: field("type") == "mutating",
            group: field("group"),
            version: field("version"),
            resource: field("resource"),
            operations: field("operations")
                .trim_matches(['[', ']'])
                .split(',')
                .map(|s| s.trim().to_string())
                .collect(),
        });
    }
    routes.sort();
    routes
}

#[test]
fn chart_registers_exactly_the_routes_the_webhook_serves() {
    let mut served: Vec<ChartRoute> = webhooks::Route::ALL
        .iter()
        .map(|route| {
            let (group, version, resource) = route.resource();
            ChartRoute {
                path: route.path().to_string(),
                mutating: route.is_mutating(),
                group: group.to_string(),
                version: version.to_string(),
                resource: resource.to_string(),
                operations: route.operations().iter().map(|s| s.to_string()).collect(),
            }
        })
        .collect();
    served.sort();
    assert_eq!(
        chart_routes(),
        served,
        "config/helm/basalt/templates/_helpers.tpl (basalt.admissions) must list exactly \
         webhooks::Route::ALL with the same kind, resource and operations"
    );
    // The default values enable every route the webhook serves.
    let values = std::fs::read_to_string(repo_root().join("config/helm/basalt/values.yaml"))
        .expect("read values.yaml");
    for route in webhooks::Route::ALL {
        assert!(
            values.contains(&format!("    - {}\n", route.path())),
            "values.yaml webhook.enabledAdmissions does not enable {}",
            route.path()
        );
    }
}

/// The chart's `logFormat` reaches the binary as BASALT_LOG_FORMAT: `json` gives one JSON object
/// per line, `text` plain lines without ANSI colours (stderr is not a terminal here), and an
/// unknown format is refused with the variable's name.
#[test]
fn log_format_value_is_honoured_by_the_binary() {
    let run = |format: &str| {
        Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args([
                "webhook",
                "--bind-address",
                "127.0.0.1:0",
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-bind-address",
                "127.0.0.1:0",
            ])
            // No cluster: it logs its start-up warning, then fails to reach the API.
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("RUST_LOG", "info")
            .env("BASALT_LOG_FORMAT", format)
            .output()
            .expect("run basalt webhook")
    };
    let json = run("json");
    let stderr = String::from_utf8_lossy(&json.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    let line: serde_json::Value = serde_json::from_str(first)
        .unwrap_or_else(|e| panic!("first stderr line is not JSON ({e}):\n{stderr}"));
    assert_eq!(line["level"], "WARN", "{line}");
    assert!(line["fields"]["message"].is_string(), "{line}");

    let text = run("text");
    let stderr = String::from_utf8_lossy(&text.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(" WARN ") && !first.starts_with('{'),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "ANSI escapes without a terminal:\n{stderr}"
    );

    let bad = run("yaml");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("BASALT_LOG_FORMAT=\"yaml\""), "{stderr}");
}
