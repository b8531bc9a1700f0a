//! The CRDs match Volcano's names, scope, subresources and printer columns, the committed YAML
//! under `config/crd/` matches what the types generate, and every schema is structural.

use std::path::PathBuf;

use crds::crd;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

fn by_kind(kind: &str) -> CustomResourceDefinition {
    crd::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD of kind {kind}"))
}

fn config_crd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config/crd")
}

struct Expected {
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    scope: &'static str,
    short_names: &'static [&'static str],
    status_subresource: bool,
    /// (name, jsonPath, type, priority)
    columns: &'static [(&'static str, &'static str, &'static str, i32)],
}

const EXPECTED: &[Expected] = &[
    Expected {
        kind: "Job",
        group: "batch.volcano.sh",
        version: "v1alpha1",
        plural: "jobs",
        scope: "Namespaced",
        short_names: &["vcjob", "vj"],
        status_subresource: true,
        columns: &[
            ("STATUS", ".status.state.phase", "string", 0),
            ("minAvailable", ".status.minAvailable", "integer", 0),
            ("RUNNINGS", ".status.running", "integer", 0),
            ("AGE", ".metadata.creationTimestamp", "date", 0),
            ("QUEUE", ".spec.queue", "string", 1),
        ],
    },
    Expected {
        kind: "Command",
        group: "bus.volcano.sh",
        version: "v1alpha1",
        plural: "commands",
        scope: "Namespaced",
        short_names: &[],
        status_subresource: false,
        columns: &[],
    },
    Expected {
        kind: "PodGroup",
        group: "scheduling.volcano.sh",
        version: "v1beta1",
        plural: "podgroups",
        scope: "Namespaced",
        short_names: &["pg", "podgroup-v1beta1"],
        status_subresource: false,
        columns: &[
            ("STATUS", ".status.phase", "string", 0),
            ("minMember", ".spec.minMember", "integer", 0),
            ("RUNNINGS", ".status.running", "integer", 0),
            ("AGE", ".metadata.creationTimestamp", "date", 0),
            ("QUEUE", ".spec.queue", "string", 1),
        ],
    },
    Expected {
        kind: "Queue",
        group: "scheduling.volcano.sh",
        version: "v1beta1",
        plural: "queues",
        scope: "Cluster",
        short_names: &["q", "queue-v1beta1"],
        status_subresource: true,
        columns: &[
            ("STATE", ".status.state", "string", 0),
            ("WEIGHT", ".spec.weight", "integer", 0),
            ("PARENT", ".spec.parent", "string", 0),
            ("PENDING", ".status.pending", "integer", 0),
            ("RUNNING", ".status.running", "integer", 0),
            ("GPUS", r".status.allocated.nvidia\.com/gpu", "string", 0),
            ("AGE", ".metadata.creationTimestamp", "date", 0),
        ],
    },
    Expected {
        kind: "JobFlow",
        group: "flow.volcano.sh",
        version: "v1alpha1",
        plural: "jobflows",
        scope: "Namespaced",
        short_names: &["jf"],
        status_subresource: true,
        columns: &[
            ("Status", ".status.state.phase", "string", 0),
            ("Age", ".metadata.creationTimestamp", "date", 0),
        ],
    },
    Expected {
        kind: "JobTemplate",
        group: "flow.volcano.sh",
        version: "v1alpha1",
        plural: "jobtemplates",
        scope: "Namespaced",
        short_names: &["jt"],
        status_subresource: true,
        columns: &[],
    },
];

#[test]
fn names_scope_subresources_and_columns_match_volcano() {
    assert_eq!(crd::all().len(), EXPECTED.len());
    for e in EXPECTED {
        let c = by_kind(e.kind);
        assert_eq!(c.spec.group, e.group, "{}", e.kind);
        assert_eq!(c.spec.names.plural, e.plural, "{}", e.kind);
        assert_eq!(
            c.metadata.name.as_deref(),
            Some(format!("{}.{}", e.plural, e.group).as_str())
        );
        assert_eq!(c.spec.scope, e.scope, "{}", e.kind);
        let shorts = c.spec.names.short_names.clone().unwrap_or_default();
        assert_eq!(shorts, e.short_names, "{} short names", e.kind);
        assert_eq!(c.spec.versions.len(), 1);
        let v = &c.spec.versions[0];
        assert_eq!(v.name, e.version, "{}", e.kind);
        assert!(v.served && v.storage, "{}", e.kind);
        let has_status = v
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some();
        assert_eq!(
            has_status, e.status_subresource,
            "{} status subresource",
            e.kind
        );
        let cols: Vec<_> = v
            .additional_printer_columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, c.json_path, c.type_, c.priority.unwrap_or(0)))
            .collect();
        let want: Vec<_> = e
            .columns
            .iter()
            .map(|(n, p, t, pr)| (n.to_string(), p.to_string(), t.to_string(), *pr))
            .collect();
        assert_eq!(cols, want, "{} printer columns", e.kind);
        let keep = c
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("helm.sh/resource-policy"));
        assert_eq!(keep.map(String::as_str), Some("keep"), "{}", e.kind);
    }
}

#[test]
fn committed_yaml_matches_generated() {
    let dir = config_crd_dir();
    let mut expected_files = Vec::new();
    for c in crd::all() {
        let name = crd::file_name(&c);
        let path = dir.join(&name);
        let generated = crd::render(&c).expect("render");
        if std::env::var_os("BASALT_UPDATE_CRDS").is_some() {
            std::fs::create_dir_all(&dir).expect("create config/crd");
            std::fs::write(&path, &generated).expect("write CRD");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} is stale or missing; regenerate with `BASALT_UPDATE_CRDS=1 cargo test -p basalt-crds --test crd_contract`",
            path.display()
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("config/crd exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "config/crd holds exactly the generated CRDs"
    );
}
