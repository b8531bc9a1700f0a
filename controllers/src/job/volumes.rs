//! `spec.volumes`: an entry naming a claim (`volumeClaimName`) mounts the user's claim; an entry
//! with only a `volumeClaim` template gets a claim of its own, as Volcano's job controller does
//! (`createJobIOIfNotExist`): the controller writes the generated name into the Job's spec
//! (the update webhook allows exactly that change), then creates the claim from the template,
//! owned by the Job so that it goes when the Job goes. The functions here are pure; the writes
//! are in `reconcile`.

use crds::job::Job;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::build::owner;

/// The claim name generated for volume `index` of `job`: `<job>-pvc-<index>-<uid prefix>`, so a
/// Job recreated under the same name never adopts the claim of its predecessor.
pub fn claim_name(job: &Job, index: usize) -> String {
    let uid = job.uid().unwrap_or_default();
    let short: String = uid.chars().filter(|c| *c != '-').take(8).collect();
    format!("{}-pvc-{index}-{short}", job.name_any())
}

/// `job` with a generated claim name in every volume that has a template and no name, or
/// `None` when every volume is named already.
pub fn with_claim_names(job: &Job) -> Option<Job> {
    let unnamed = |v: &crds::job::VolumeSpec| {
        v.volume_claim.is_some() && v.volume_claim_name.as_deref().is_none_or(str::is_empty)
    };
    if !job.spec.volumes.iter().flatten().any(unnamed) {
        return None;
    }
    let mut named = job.clone();
    for (i, v) in named.spec.volumes.iter_mut().flatten().enumerate() {
        if unnamed(v) {
            v.volume_claim_name = Some(claim_name(job, i));
        }
    }
    Some(named)
}

/// The claims `job` creates: one per volume with a template and a (generated) name.
pub fn claims(job: &Job) -> Vec<PersistentVolumeClaim> {
    job.spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| {
            let spec = v.volume_claim.clone()?;
            let name = v.volume_claim_name.clone().filter(|n| !n.is_empty())?;
            Some(PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: job.namespace(),
                    labels: Some(
                        [
                            (
                                "app.kubernetes.io/managed-by".to_owned(),
                                "basalt".to_owned(),
                            ),
                            (crds::labels::JOB_NAME.to_owned(), job.name_any()),
                        ]
                        .into(),
                    ),
                    owner_references: Some(vec![owner(job)]),
                    ..Default::default()
                },
                spec: Some(spec),
                status: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::job::{JobSpec, VolumeSpec};
    use k8s_openapi::api::core::v1::PersistentVolumeClaimSpec;

    fn job(volumes: Vec<VolumeSpec>) -> Job {
        let mut j = Job::new(
            "train",
            JobSpec {
                volumes: Some(volumes),
                ..Default::default()
            },
        );
        j.metadata.namespace = Some("ns".into());
        j.metadata.uid = Some("0a1b2c3d-4e5f-6789".into());
        j
    }

    #[test]
    fn templates_get_a_generated_claim_and_named_claims_are_kept() {
        let named = VolumeSpec {
            mount_path: "/a".into(),
            volume_claim_name: Some("mine".into()),
            volume_claim: None,
        };
        let template = VolumeSpec {
            mount_path: "/b".into(),
            volume_claim_name: None,
            volume_claim: Some(PersistentVolumeClaimSpec::default()),
        };
        let j = job(vec![named.clone(), template]);
        let out = with_claim_names(&j).expect("one volume needs a name");
        let vols = out.spec.volumes.clone().unwrap_or_default();
        assert_eq!(vols[0].volume_claim_name.as_deref(), Some("mine"));
        assert_eq!(
            vols[1].volume_claim_name.as_deref(),
            Some("train-pvc-1-0a1b2c3d")
        );
        // Named already: nothing to write, and only the template becomes a claim.
        assert!(with_claim_names(&out).is_none());
        let claims = claims(&out);
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0].name_any(), "train-pvc-1-0a1b2c3d");
        assert_eq!(claims[0].owner_references()[0].name, "train");
        assert!(with_claim_names(&job(vec![named])).is_none());
    }
}
