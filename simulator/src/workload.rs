//! What is submitted to the simulated cluster: jobs (a number of identical pods, gang or not,
//! with a duration) belonging to tenants (one queue each). Built by `generator` from a spec or
//! read by `trace` from a file; consumed by `engine`. This module only holds the data and the
//! size buckets the report groups by.

use serde::{Deserialize, Serialize};

/// Training (batch, usually gang) or inference (service replicas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Batch training.
    Training,
    /// Inference replicas.
    Inference,
}

/// One submitted job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    /// Unique name (the PodGroup name in the snapshot).
    pub name: String,
    /// Index into [`Workload::tenants`].
    pub tenant: usize,
    /// Submit time, ms since the start of the simulation.
    pub submit_ms: u64,
    /// Run time once every pod runs, ms.
    pub duration_ms: u64,
    /// Number of pods.
    pub pods: u32,
    /// Whole GPU cards per pod (1 for a fractional pod, 0 for CPU-only).
    pub gpus_per_pod: u32,
    /// Share of each card in milli-GPU: 1000 for whole cards, less for a fractional pod.
    pub gpu_milli: u32,
    /// CPU per pod, millicores.
    pub cpu_milli: i64,
    /// Memory per pod, bytes.
    pub memory_bytes: i64,
    /// All pods must start together (PodGroup minMember = pods); otherwise minMember = 1.
    pub gang: bool,
    /// Training or inference.
    pub kind: JobKind,
    /// Pod and PodGroup priority.
    pub priority: i32,
    /// Accepted GPU models; empty accepts any.
    pub gpu_models: Vec<String>,
    /// Run time the submitter declares (PodGroup annotation `basalt.dev/expected-runtime`), ms.
    pub declared_runtime_ms: Option<u64>,
}

impl JobSpec {
    /// Total GPU request in milli-GPU.
    pub fn gpu_milli_total(&self) -> u64 {
        u64::from(self.pods) * u64::from(self.gpus_per_pod) * u64::from(self.gpu_milli)
    }

    /// Whole GPUs the job asks for (a fractional pod counts as one card for bucketing).
    pub fn gpus(&self) -> u32 {
        self.pods * self.gpus_per_pod
    }

    /// The report's size bucket.
    pub fn bucket(&self) -> SizeBucket {
        SizeBucket::of(self.gpus())
    }
}

/// The article's job-size buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum SizeBucket {
    /// 1–2 GPUs (and CPU-only jobs).
    #[serde(rename = "1-2")]
    Small,
    /// 3–15 GPUs (the article's "4–8").
    #[serde(rename = "4-8")]
    Medium,
    /// 16 or more GPUs.
    #[serde(rename = "16+")]
    Large,
}

impl SizeBucket {
    /// All buckets in order.
    pub const ALL: [SizeBucket; 3] = [Self::Small, Self::Medium, Self::Large];

    /// The bucket of a job asking for `gpus` GPUs.
    pub fn of(gpus: u32) -> Self {
        match gpus {
            0..=2 => Self::Small,
            3..=15 => Self::Medium,
            _ => Self::Large,
        }
    }

    /// Label used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Small => "1-2 GPUs",
            Self::Medium => "4-8 GPUs",
            Self::Large => "16+ GPUs",
        }
    }
}

/// A tenant: one queue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tenant {
    /// Queue name.
    pub name: String,
    /// Queue weight (entitlement ∝ weight).
    pub weight: u32,
    /// Queue capability in GPUs, if capped.
    pub capability_gpus: Option<u32>,
}

/// Tenants and their jobs, jobs sorted by submit time then name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Workload {
    /// Tenants (queues).
    pub tenants: Vec<Tenant>,
    /// Jobs by submit time.
    pub jobs: Vec<JobSpec>,
}

impl Workload {
    /// Sorts jobs by (submit, name): the order arrivals are processed in.
    pub fn sort(&mut self) {
        self.jobs
            .sort_by(|a, b| (a.submit_ms, &a.name).cmp(&(b.submit_ms, &b.name)));
    }

    /// The index of tenant `name`, adding it (weight 1) if new.
    pub fn tenant_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.tenants.iter().position(|t| t.name == name) {
            return i;
        }
        self.tenants.push(Tenant {
            name: name.to_owned(),
            weight: 1,
            capability_gpus: None,
        });
        self.tenants.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_the_article() {
        assert_eq!(SizeBucket::of(1), SizeBucket::Small);
        assert_eq!(SizeBucket::of(2), SizeBucket::Small);
        assert_eq!(SizeBucket::of(4), SizeBucket::Medium);
        assert_eq!(SizeBucket::of(8), SizeBucket::Medium);
        assert_eq!(SizeBucket::of(16), SizeBucket::Large);
        assert_eq!(SizeBucket::of(64), SizeBucket::Large);
    }
}
