//! Admission's quota check (`webhooks::resources::pod_requests`) and the scheduler
//! (`bridge::resources::pod_requests`) must count a pod's requests alike — containers
//! summed, limits standing in for missing requests, the largest init container as a floor,
//! `spec.overhead` added — or a Job admitted against a queue's capability is judged differently
//! when it is scheduled (issue 22: the webhooks once left out the overhead). The arithmetic now
//! lives only in the bridge crate and the webhooks read through it; this test guards against a
//! second copy coming back (and against the conversion to admission's amounts losing any).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

fn list(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, Quantity>> {
    (!pairs.is_empty()).then(|| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
            .collect()
    })
}

fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
    Container {
        name: "c".into(),
        resources: Some(ResourceRequirements {
            requests: list(requests),
            limits: list(limits),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn specs() -> Vec<PodSpec> {
    vec![
        PodSpec {
            containers: vec![container(&[], &[("nvidia.com/gpu", "2")])],
            ..Default::default()
        },
        PodSpec {
            containers: vec![
                container(
                    &[("cpu", "500m"), ("memory", "1Gi")],
                    &[("cpu", "2"), ("nvidia.com/gpu", "1")],
                ),
                container(&[("cpu", "1")], &[]),
            ],
            init_containers: Some(vec![container(&[("cpu", "4"), ("memory", "512Mi")], &[])]),
            overhead: list(&[("cpu", "250m"), ("memory", "128Mi")]),
            ..Default::default()
        },
        PodSpec {
            containers: vec![container(
                &[
                    ("nvidia.com/vgpu-memory", "4Gi"),
                    ("nvidia.com/vgpu-cores", "25"),
                ],
                &[],
            )],
            overhead: list(&[("cpu", "100m")]),
            ..Default::default()
        },
    ]
}

#[test]
fn admission_and_the_scheduler_count_a_pods_requests_alike() {
    for spec in specs() {
        let admission: BTreeMap<String, i64> = webhooks::resources::pod_requests(Some(&spec))
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .collect();
        let scheduler: BTreeMap<String, i64> = bridge::resources::pod_requests(&spec)
            .iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(admission, scheduler, "{spec:?}");
    }
}
