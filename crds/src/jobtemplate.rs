//! `flow.volcano.sh/v1alpha1` JobTemplate: a reusable JobSpec that JobFlow steps instantiate.
//!
//! Its `spec` is exactly a batch JobSpec (same schema and defaults as a Job's spec).

use std::ops::{Deref, DerefMut};

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::JobSpec;

/// The spec of a JobTemplate: a Job specification, field for field.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "flow.volcano.sh",
    version = "v1alpha1",
    kind = "JobTemplate",
    plural = "jobtemplates",
    namespaced,
    status = "JobTemplateStatus",
    shortname = "jt",
    doc = "JobTemplate is a reusable Job specification for JobFlow steps.",
    annotation("helm.sh/resource-policy", "keep")
)]
pub struct JobTemplateSpec {
    /// The Job specification (its fields sit directly under `spec`).
    #[serde(flatten)]
    pub job: JobSpec,
}

impl Deref for JobTemplateSpec {
    type Target = JobSpec;
    fn deref(&self) -> &JobSpec {
        &self.job
    }
}

impl DerefMut for JobTemplateSpec {
    fn deref_mut(&mut self) -> &mut JobSpec {
        &mut self.job
    }
}

/// Observed state of a JobTemplate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobTemplateStatus {
    /// Jobs created from this template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_depends_on_list: Option<Vec<String>>,
}
