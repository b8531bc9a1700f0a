//! Pod template checks a Job's tasks must pass before pods can ever be created from them:
//! containers present, named, unique and with an image; quantities that parse; requests not
//! above limits. A subset of Kubernetes' PodTemplate validation, the part users actually trip on.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, PodTemplateSpec};
use scheduler_core::quantity::parse_resource_amount;

use crate::report::{Report, is_dns_label};

/// Checks `template` found at `path` (e.g. `spec.tasks[0].template`).
pub fn check_template(template: &PodTemplateSpec, path: &str, r: &mut Report) {
    let Some(spec) = template.spec.as_ref() else {
        r.refuse(
            &format!("{path}.spec"),
            "is missing",
            "add a pod spec with at least one container (name and image)",
        );
        return;
    };
    if spec.containers.is_empty() {
        r.refuse(
            &format!("{path}.spec.containers"),
            "is empty",
            "add at least one container with a name and an image",
        );
    }
    let mut names = BTreeSet::new();
    let groups = [
        (
            "initContainers",
            spec.init_containers.as_deref().unwrap_or(&[]),
        ),
        ("containers", &spec.containers),
    ];
    for (field, containers) in groups {
        for (i, c) in containers.iter().enumerate() {
            let cpath = format!("{path}.spec.{field}[{i}]");
            check_container(c, &cpath, &mut names, r);
        }
    }
}

fn check_container(c: &Container, path: &str, names: &mut BTreeSet<String>, r: &mut Report) {
    if c.name.is_empty() {
        r.refuse(
            &format!("{path}.name"),
            "is empty",
            "name the container (a DNS-1123 label such as \"worker\")",
        );
    } else if !is_dns_label(&c.name) {
        r.refuse(
            &format!("{path}.name"),
            format!("{:?} is not a DNS-1123 label", c.name),
            "use lowercase letters, digits and '-', at most 63 characters",
        );
    } else if !names.insert(c.name.clone()) {
        r.refuse(
            &format!("{path}.name"),
            format!("{:?} is used by another container of the same pod", c.name),
            "give every container a unique name",
        );
    }
    if c.image.as_deref().is_none_or(|i| i.trim().is_empty()) {
        let who = if c.name.is_empty() {
            String::new()
        } else {
            format!(" (container {:?})", c.name)
        };
        r.refuse(
            &format!("{path}.image"),
            format!("is missing{who}"),
            "set the container image (for example image: nvcr.io/nvidia/pytorch:24.05-py3)",
        );
    }
    let Some(res) = c.resources.as_ref() else {
        return;
    };
    let mut parsed = |kind: &str, list: Option<&crds::ResourceList>| {
        let mut out = std::collections::BTreeMap::new();
        for (name, q) in list.into_iter().flatten() {
            match parse_resource_amount(name, &q.0) {
                Ok(v) if v < 0 => r.refuse(
                    &format!("{path}.resources.{kind}[{name:?}]"),
                    format!("is negative ({})", q.0),
                    "use a quantity of 0 or more",
                ),
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(e) => r.refuse(
                    &format!("{path}.resources.{kind}[{name:?}]"),
                    format!("is invalid: {e}"),
                    "fix the quantity",
                ),
            }
        }
        out
    };
    let requests = parsed("requests", res.requests.as_ref());
    let limits = parsed("limits", res.limits.as_ref());
    for (name, req) in &requests {
        if let Some(lim) = limits.get(name)
            && req > lim
        {
            r.refuse(
                &format!("{path}.resources.requests[{name:?}]"),
                format!(
                    "is above its limit ({} > {})",
                    show(res.requests.as_ref(), name),
                    show(res.limits.as_ref(), name)
                ),
                "lower the request or raise the limit",
            );
        }
    }
}

fn show(list: Option<&crds::ResourceList>, name: &str) -> String {
    list.and_then(|l| l.get(name))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}
