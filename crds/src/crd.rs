//! The six CustomResourceDefinitions, as generated from the types, and their YAML form.
//!
//! `config/crd/` holds the committed output of [`render_all`]; a test fails when they differ.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kube::CustomResourceExt;

use crate::{Command, Job, JobFlow, JobTemplate, PodGroup, Queue};

/// Every CRD Basalt serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        Job::crd(),
        Command::crd(),
        podgroup(),
        Queue::crd(),
        JobFlow::crd(),
        JobTemplate::crd(),
    ];
    for crd in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                strip_embedded_descriptions(schema, false);
                drop_defaults_below_min_items(schema);
            }
        }
    }
    crds
}

/// Properties whose subtrees are Kubernetes' own types (pod templates, claims, object metadata).
/// Their upstream descriptions would make the Job CRD several megabytes (over the API server's
/// request limit, and JobFlow embeds two JobSpecs), so, as Volcano does, only our own fields
/// keep their descriptions; the embedded types keep their full structure and validation.
const EMBEDDED_KUBERNETES_TYPES: &[&str] = &["template", "volumeClaim", "metadata"];

fn strip_embedded_descriptions(schema: &mut JSONSchemaProps, inside: bool) {
    if inside {
        schema.description = None;
    }
    if let Some(props) = schema.properties.as_mut() {
        for (name, child) in props.iter_mut() {
            let embedded = inside || EMBEDDED_KUBERNETES_TYPES.contains(&name.as_str());
            strip_embedded_descriptions(child, embedded);
            if embedded && !inside {
                // Keep the one-line description of the field itself, drop the rest.
                child.description = Some(format!(
                    "Kubernetes {} (see `kubectl explain pod` for its fields).",
                    if name == "volumeClaim" {
                        "PersistentVolumeClaimSpec"
                    } else if name == "metadata" {
                        "ObjectMeta"
                    } else {
                        "PodTemplateSpec"
                    }
                ));
            }
        }
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        strip_embedded_descriptions(items, inside);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        strip_embedded_descriptions(extra, inside);
    }
    for list in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of]
        .into_iter()
        .flatten()
    {
        for s in list.iter_mut() {
            strip_embedded_descriptions(s, inside);
        }
    }
}

/// `#[serde(default)]` on a list with `length(min = 1)` (Job and JobFlow `tasks`) makes schemars
/// write `default: []` next to `minItems: 1`; a real kube-apiserver refuses such a CRD ("default:
/// Invalid value: 0: in body should have at least 1 items"). The default is dropped there: a
/// missing list stays missing (and is refused by the webhooks), as in Volcano's CRDs.
fn drop_defaults_below_min_items(schema: &mut JSONSchemaProps) {
    if let (
        Some(min),
        Some(k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::JSON(
            serde_json::Value::Array(items),
        )),
    ) = (schema.min_items, schema.default.as_ref())
        && (items.len() as i64) < min
    {
        schema.default = None;
    }
    for child in schema.properties.iter_mut().flat_map(|p| p.values_mut()) {
        drop_defaults_below_min_items(child);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        drop_defaults_below_min_items(items);
    }
    if let Some(JSONSchemaPropsOrBool::Schema(extra)) = schema.additional_properties.as_mut() {
        drop_defaults_below_min_items(extra);
    }
    for list in [&mut schema.all_of, &mut schema.any_of, &mut schema.one_of]
        .into_iter()
        .flatten()
    {
        for s in list.iter_mut() {
            drop_defaults_below_min_items(s);
        }
    }
}

/// PodGroup without a status subresource: Volcano writes PodGroup status with a plain update,
/// and clients that follow Volcano (and our scheduler) rely on that.
fn podgroup() -> CustomResourceDefinition {
    let mut crd = PodGroup::crd();
    for version in &mut crd.spec.versions {
        version.subresources = None;
    }
    crd
}

/// The file name under `config/crd/` for a CRD: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as YAML.
pub fn render(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

/// Every CRD as one multi-document YAML stream (what `basalt crds` prints).
pub fn render_all() -> Result<String, serde_saphyr::ser::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&render(&crd)?);
    }
    Ok(out)
}
