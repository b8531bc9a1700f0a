//! The table of served resources: built-in kinds (with schemas from k8s-openapi's schemars
//! derive) and kinds registered at run time from CustomResourceDefinitions. Owns lookup by
//! group/version/plural and the schema components; it does not store objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings};
use serde_json::{Map, Value};

use k8s_openapi::api as k8s;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

/// How stored objects are presented for this resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Plain,
    /// events.k8s.io/v1 Events, stored as core/v1 Events and converted on the way in and out.
    EventsV1,
}

#[derive(Debug, Clone)]
pub struct PrinterColumn {
    pub name: String,
    pub kind: String,
    pub json_path: String,
    pub priority: i64,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub group: String,
    pub version: String,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Subresources besides the object itself, e.g. `status`, `binding`.
    pub subresources: Vec<String>,
    /// Key of the shared object store (`group/plural`); two views may share one.
    pub storage_key: String,
    pub view: View,
    /// Name of the component schema in the OpenAPI documents.
    pub schema_name: String,
    /// For custom resources: the CRD version's openAPIV3Schema.
    pub crd_schema: Option<Value>,
    pub printer_columns: Vec<PrinterColumn>,
    pub builtin: bool,
    /// Field selectors accepted besides metadata.name and metadata.namespace.
    pub selectable_fields: Vec<String>,
    /// The CRD object that defines the kind (empty for built-ins).
    pub crd_name: String,
}

impl ResourceInfo {
    pub fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// `pods` or `jobs.batch.volcano.sh`, as error messages name a resource.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }
    /// `Pod` or `Job.batch.volcano.sh`, as validation errors name a kind.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }
    pub fn has_status(&self) -> bool {
        self.subresources.iter().any(|s| s == "status")
    }
}

pub type Gvr = (String, String, String);

/// Served resources plus the schema components of the built-ins.
pub struct Registry {
    pub resources: BTreeMap<Gvr, Arc<ResourceInfo>>,
    /// OpenAPI component schemas (`io.k8s.api.core.v1.Pod`, …) of built-in kinds.
    pub builtin_schemas: Arc<Map<String, Value>>,
    /// Bumped on every change, so OpenAPI hashes and discovery caches change.
    pub generation: u64,
    pub extra: Vec<crate::ExtraResource>,
}

struct Builder {
    generator: SchemaGenerator,
    out: Vec<ResourceInfo>,
}

impl Builder {
    #[allow(clippy::too_many_arguments)]
    fn add<T: JsonSchema>(
        &mut self,
        gv: &str,
        plural: &str,
        kind: &str,
        namespaced: bool,
        short: &[&str],
        subs: &[&str],
        fields: &[&str],
    ) {
        self.generator.subschema_for::<T>();
        let (group, version) = gv.split_once('/').unwrap_or(("", gv));
        let categories = if matches!(
            plural,
            "pods" | "services" | "deployments" | "replicasets" | "statefulsets" | "daemonsets"
        ) {
            vec!["all".to_string()]
        } else {
            vec![]
        };
        self.out.push(ResourceInfo {
            group: group.into(),
            version: version.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            kind: kind.into(),
            namespaced,
            short_names: short.iter().map(|s| s.to_string()).collect(),
            categories,
            subresources: subs.iter().map(|s| s.to_string()).collect(),
            storage_key: format!("{group}/{plural}"),
            view: View::Plain,
            schema_name: T::schema_name().into_owned(),
            crd_schema: None,
            printer_columns: vec![],
            builtin: true,
            selectable_fields: fields.iter().map(|s| s.to_string()).collect(),
            crd_name: String::new(),
        });
    }
}

const POD_FIELDS: &[&str] = &[
    "spec.nodeName",
    "spec.schedulerName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];
const CORE_EVENT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];
const NEW_EVENT_FIELDS: &[&str] = &[
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "regarding.resourceVersion",
    "regarding.fieldPath",
    "reason",
    "reportingController",
    "type",
];

fn builtins() -> (Vec<ResourceInfo>, Map<String, Value>) {
    let mut b = Builder {
        generator: SchemaSettings::openapi3().into_generator(),
        out: vec![],
    };
    use k8s::{
        admissionregistration::v1 as adm, apps::v1 as apps, coordination::v1 as coord,
        core::v1 as core, policy::v1 as policy, scheduling::v1 as sched,
    };
    b.add::<core::Namespace>(
        "v1",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        &["status", "finalize"],
        &["status.phase"],
    );
    b.add::<core::Node>(
        "v1",
        "nodes",
        "Node",
        false,
        &["no"],
        &["status"],
        &["spec.unschedulable"],
    );
    b.add::<core::Pod>(
        "v1",
        "pods",
        "Pod",
        true,
        &["po"],
        &["status", "binding", "eviction", "log"],
        POD_FIELDS,
    );
    b.add::<core::Service>(
        "v1",
        "services",
        "Service",
        true,
        &["svc"],
        &["status"],
        &[],
    );
    b.add::<core::ConfigMap>("v1", "configmaps", "ConfigMap", true, &["cm"], &[], &[]);
    b.add::<core::Secret>("v1", "secrets", "Secret", true, &[], &[], &["type"]);
    b.add::<core::Event>(
        "v1",
        "events",
        "Event",
        true,
        &["ev"],
        &[],
        CORE_EVENT_FIELDS,
    );
    b.add::<core::ServiceAccount>(
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        &[],
    );
    b.add::<core::PersistentVolumeClaim>(
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        &["status"],
        &[],
    );
    b.add::<core::Endpoints>("v1", "endpoints", "Endpoints", true, &["ep"], &[], &[]);
    b.add::<apps::Deployment>(
        "apps/v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        &["status"],
        &[],
    );
    b.add::<apps::ReplicaSet>(
        "apps/v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        &["status"],
        &[],
    );
    b.add::<apps::StatefulSet>(
        "apps/v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        &["status"],
        &[],
    );
    b.add::<apps::DaemonSet>(
        "apps/v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        &["status"],
        &[],
    );
    b.add::<coord::Lease>(
        "coordination.k8s.io/v1",
        "leases",
        "Lease",
        true,
        &[],
        &[],
        &[],
    );
    b.add::<k8s::events::v1::Event>(
        "events.k8s.io/v1",
        "events",
        "Event",
        true,
        &["ev"],
        &[],
        NEW_EVENT_FIELDS,
    );
    b.add::<CustomResourceDefinition>(
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        &["status"],
        &[],
    );
    b.add::<adm::ValidatingWebhookConfiguration>(
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        &[],
        &[],
    );
    b.add::<adm::MutatingWebhookConfiguration>(
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        &[],
        &[],
    );
    b.add::<sched::PriorityClass>(
        "scheduling.k8s.io/v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        &[],
        &[],
    );
    b.add::<policy::PodDisruptionBudget>(
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &["status"],
        &[],
    );
    let defs = b.generator.take_definitions(true);
    let mut out = b.out;
    for r in &mut out {
        if r.group == "events.k8s.io" {
            r.storage_key = "/events".into();
            r.view = View::EventsV1;
        }
    }
    (out, defs)
}

impl Registry {
    pub fn new(extra: Vec<crate::ExtraResource>) -> Self {
        let (list, defs) = builtins();
        let resources = list
            .into_iter()
            .map(|r| {
                (
                    (r.group.clone(), r.version.clone(), r.plural.clone()),
                    Arc::new(r),
                )
            })
            .collect();
        Self {
            resources,
            builtin_schemas: Arc::new(defs),
            generation: 1,
            extra,
        }
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.resources
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Group → versions (preferred first), sorted by group name with the core group excluded.
    pub fn groups(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.resources.values() {
            if r.group.is_empty() {
                continue;
            }
            let vs = out.entry(r.group.clone()).or_default();
            if !vs.contains(&r.version) {
                vs.push(r.version.clone());
            }
        }
        for e in &self.extra {
            let (g, v) = e
                .group_version
                .split_once('/')
                .unwrap_or(("", &e.group_version));
            let vs = out.entry(g.to_string()).or_default();
            if !vs.contains(&v.to_string()) {
                vs.push(v.to_string());
            }
        }
        for vs in out.values_mut() {
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        }
        out
    }

    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<Arc<ResourceInfo>> {
        self.resources
            .values()
            .filter(|r| r.group == group && r.version == version)
            .cloned()
            .collect()
    }

    /// Registers (or re-registers) every served version of a CRD; returns the previous ones removed.
    pub fn register_crd(&mut self, crd: &Value) -> Result<Vec<Arc<ResourceInfo>>, String> {
        let infos = crd_infos(crd)?;
        let name = crate::util::name_of(crd).to_string();
        self.unregister_crd(&name);
        for i in &infos {
            let key = (i.group.clone(), i.version.clone(), i.plural.clone());
            if self.resources.get(&key).is_some_and(|r| r.builtin) {
                return Err(format!(
                    "{} conflicts with a built-in resource",
                    i.qualified()
                ));
            }
        }
        for i in &infos {
            self.resources.insert(
                (i.group.clone(), i.version.clone(), i.plural.clone()),
                Arc::new(i.clone()),
            );
        }
        self.generation += 1;
        Ok(infos.into_iter().map(Arc::new).collect())
    }

    pub fn unregister_crd(&mut self, crd_name: &str) -> Vec<Arc<ResourceInfo>> {
        let keys: Vec<Gvr> = self
            .resources
            .iter()
            .filter(|(_, r)| !r.builtin && r.crd_name == crd_name)
            .map(|(k, _)| k.clone())
            .collect();
        let removed: Vec<_> = keys
            .iter()
            .filter_map(|k| self.resources.remove(k))
            .collect();
        if !removed.is_empty() {
            self.generation += 1;
        }
        removed
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.trim_start_matches('v');
    let (major, tail) = rest.split_at(
        rest.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let major: u32 = major.parse().unwrap_or(0);
    if tail.is_empty() {
        return (3, major, 0);
    }
    let (stage, n) = if let Some(n) = tail.strip_prefix("beta") {
        (2, n)
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n)
    } else {
        (0, "0")
    };
    (stage, major, n.parse().unwrap_or(0))
}

fn crd_infos(crd: &Value) -> Result<Vec<ResourceInfo>, String> {
    let spec = crd.get("spec").ok_or("spec is required")?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let group = s(spec, "group");
    let names = spec.get("names").ok_or("spec.names is required")?;
    let plural = s(names, "plural");
    let kind = s(names, "kind");
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err("spec.group, spec.names.plural and spec.names.kind are required".into());
    }
    let expected = format!("{plural}.{group}");
    let name = crate::util::name_of(crd);
    if name != expected {
        return Err(format!(
            "metadata.name: Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
        ));
    }
    let singular = match s(names, "singular") {
        x if x.is_empty() => kind.to_lowercase(),
        x => x,
    };
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = s(spec, "scope") != "Cluster";
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or("spec.versions is required")?;
    let mut out = vec![];
    for v in versions {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let version = s(v, "name");
        let mut subresources = vec![];
        if v.pointer("/subresources/status").is_some() {
            subresources.push("status".to_string());
        }
        let printer_columns = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| PrinterColumn {
                        name: s(c, "name"),
                        kind: s(c, "type"),
                        json_path: s(c, "jsonPath"),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                        description: s(c, "description"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let gname: Vec<&str> = group.split('.').rev().collect();
        out.push(ResourceInfo {
            group: group.clone(),
            version: version.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            kind: kind.clone(),
            namespaced,
            short_names: strs(names.get("shortNames")),
            categories: strs(names.get("categories")),
            subresources,
            storage_key: format!("{group}/{plural}"),
            view: View::Plain,
            schema_name: format!("{}.{version}.{kind}", gname.join(".")),
            crd_schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            printer_columns,
            builtin: false,
            selectable_fields: v
                .get("selectableFields")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|f| {
                            f.get("jsonPath")?
                                .as_str()
                                .map(|p| p.trim_start_matches('.').to_string())
                        })
                        .collect()
                })
                .unwrap_or_default(),
            crd_name: name.to_string(),
        });
    }
    if out.is_empty() {
        return Err("spec.versions: at least one version must be served".into());
    }
    out.sort_by_key(|r| std::cmp::Reverse(version_priority(&r.version)));
    Ok(out)
}
