//! Job plugins `env`, `svc` and `ssh` (reference/volcano.md §2.4): pod mutations and the objects
//! they need (headless Service and hosts ConfigMap; SSH key Secret); and the distributed-framework
//! plugins `mpi` (`MPI_HOST` on the master, the ssh port), `pytorch` (`MASTER_ADDR`,
//! `MASTER_PORT`, `WORLD_SIZE`, `RANK`, the port) and `tensorflow` (`TF_CONFIG`), as Volcano's
//! job controller writes them. (`ray` is accepted and adds its `svc`, nothing else yet.)
//!
//! Pure builders, except that `ssh` key material comes from the caller (`SshKeys`) so the
//! builders stay deterministic. Unknown plugin names are ignored, as Volcano's controller does
//! for plugins it does not build in.

use std::collections::BTreeMap;

use crds::job::Job;
use crds::labels;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapKeySelector, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
    EnvVarSource, Pod, PodSpec, Secret, SecretVolumeSource, Service, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use super::build::owner;
use super::{pod_name, task_name};

/// Where the svc plugin mounts the hosts ConfigMap.
pub const HOSTS_MOUNT: &str = "/etc/volcano";
/// Where the ssh plugin mounts the key Secret.
pub const SSH_MOUNT: &str = "/root/.ssh";

/// The job's plugin flags by plugin name.
fn plugin<'a>(job: &'a Job, name: &str) -> Option<&'a [String]> {
    job.spec.plugins.as_ref()?.get(name).map(Vec::as_slice)
}

fn flag(args: &[String], name: &str, default: bool) -> bool {
    for a in args {
        if a == name {
            return true;
        }
        if let Some(v) = a.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return v == "true";
        }
    }
    default
}

/// A plugin's string flag in Go's `flag` forms, or `default`.
fn value<'a>(args: &'a [String], name: &str, default: &'a str) -> &'a str {
    crds::job::plugin_flag(args, name).unwrap_or(default)
}

/// `<hostname>.<subdomain>` of replica `index` of the task named `task` (the template's
/// hostname and subdomain when set, else `<job>-<task>-<index>.<job>`, as Volcano's
/// `MakeDomainName`); `None` when the job has no such task.
fn domain_name(job: &Job, task: &str, index: i32) -> Option<String> {
    let t = job.spec.tasks.iter().find(|t| task_name(t) == task)?;
    let spec = t.template.spec.as_ref();
    let host = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| pod_name(job, t, index));
    let sub = spec
        .and_then(|s| s.subdomain.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| job.name_any());
    Some(format!("{host}.{sub}"))
}

fn replicas_of(job: &Job, task: &str) -> i32 {
    job.spec
        .tasks
        .iter()
        .filter(|t| task_name(t) == task)
        .map(|t| t.replicas.unwrap_or(0))
        .sum()
}

fn plain_env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        value_from: None,
    }
}

/// Adds `port` (named `name`) to the container unless it already lists it.
fn open_port(c: &mut Container, name: &str, port: i32) {
    let ports = c.ports.get_or_insert_default();
    if !ports.iter().any(|p| p.container_port == port) {
        ports.push(ContainerPort {
            name: Some(name.to_owned()),
            container_port: port,
            ..Default::default()
        });
    }
}

/// The distributed-framework plugins' pod changes (`mpi`, `pytorch`, `tensorflow`).
fn framework(job: &Job, task: &str, index: i32, spec: &mut PodSpec) {
    if let Some(args) = plugin(job, "mpi") {
        let master = value(args, "master", "master");
        let worker = value(args, "worker", "worker");
        let port = value(args, "port", "22").parse().unwrap_or(22);
        let hosts: Vec<String> = (0..replicas_of(job, worker))
            .filter_map(|i| domain_name(job, worker, i))
            .collect();
        let containers = spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut());
        for c in containers {
            open_port(c, "mpijob-port", port);
            if task == master {
                c.env
                    .get_or_insert_default()
                    .push(plain_env("MPI_HOST", hosts.join(",")));
            }
        }
    }
    if let Some(args) = plugin(job, "pytorch") {
        let master = value(args, "master", "master");
        let worker = value(args, "worker", "worker");
        let port = value(args, "port", "23456").parse().unwrap_or(23456);
        if let Some(addr) = domain_name(job, master, 0) {
            let world = replicas_of(job, master) + replicas_of(job, worker);
            let rank = if task == worker {
                Some(index + 1)
            } else if task == master {
                Some(0)
            } else {
                None
            };
            for c in spec.containers.iter_mut() {
                open_port(c, "pytorchjob-port", port);
                let env = c.env.get_or_insert_default();
                env.push(plain_env("MASTER_ADDR", addr.clone()));
                env.push(plain_env("MASTER_PORT", port.to_string()));
                env.push(plain_env("WORLD_SIZE", world.to_string()));
                if let Some(rank) = rank {
                    env.push(plain_env("RANK", rank.to_string()));
                }
            }
        }
    }
    if let Some(args) = plugin(job, "tensorflow") {
        let standalone = job.spec.tasks.len() == 1 && job.spec.tasks[0].replicas == Some(1);
        if !standalone {
            let port = value(args, "port", "2222").parse().unwrap_or(2222);
            let roles = [
                ("ps", value(args, "ps", "ps")),
                ("worker", value(args, "worker", "worker")),
                ("chief", value(args, "chief", "chief")),
                ("evaluator", value(args, "evaluator", "evaluator")),
            ];
            let mut cluster = serde_json::Map::new();
            for (role, name) in roles {
                let hosts: Vec<String> = (0..replicas_of(job, name))
                    .filter_map(|i| domain_name(job, name, i))
                    .map(|h| format!("{h}:{port}"))
                    .collect();
                if !hosts.is_empty() {
                    cluster.insert(role.to_owned(), hosts.into());
                }
            }
            let kind = roles
                .iter()
                .find(|(_, name)| *name == task)
                .map_or(task, |(role, _)| role);
            let config = serde_json::json!({
                "cluster": cluster,
                "task": {"type": kind, "index": index},
            });
            for c in spec.containers.iter_mut() {
                c.env
                    .get_or_insert_default()
                    .push(plain_env("TF_CONFIG", config.to_string()));
            }
        }
    }
}

fn child_meta(job: &Job, name: String) -> ObjectMeta {
    let mut l = BTreeMap::new();
    l.insert(
        labels::MANAGED_BY.to_owned(),
        labels::MANAGED_BY_VALUE.to_owned(),
    );
    l.insert(labels::JOB_NAME.to_owned(), job.name_any());
    ObjectMeta {
        name: Some(name),
        namespace: job.namespace(),
        labels: Some(l),
        owner_references: Some(vec![owner(job)]),
        ..Default::default()
    }
}

fn env_name(task: &str, suffix: &str) -> String {
    format!("VC_{}_{suffix}", task.to_uppercase().replace('-', "_"))
}

/// Applies the enabled plugins to a freshly built pod of task `task` and replica `index`.
pub fn mutate_pod(job: &Job, task: &str, index: i32, pod: &mut Pod) {
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let mut env = Vec::new();
    let mut mounts = Vec::new();
    if plugin(job, "env").is_some() {
        for key in ["VK_TASK_INDEX", "VC_TASK_INDEX"] {
            env.push(EnvVar {
                name: key.to_owned(),
                value: Some(index.to_string()),
                value_from: None,
            });
        }
    }
    if let Some(args) = plugin(job, "svc") {
        spec.hostname = pod.metadata.name.clone();
        spec.subdomain = Some(job.name_any());
        let cm = format!("{}-svc", job.name_any());
        spec.volumes.get_or_insert_default().push(Volume {
            name: cm.clone(),
            config_map: Some(ConfigMapVolumeSource {
                name: cm.clone(),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: cm.clone(),
            mount_path: HOSTS_MOUNT.to_owned(),
            ..Default::default()
        });
        if flag(args, "--inject-hosts-env", true) {
            for t in &job.spec.tasks {
                let t = task_name(t);
                for suffix in ["HOSTS", "NUM"] {
                    let key = env_name(&t, suffix);
                    env.push(EnvVar {
                        name: key.clone(),
                        value: None,
                        value_from: Some(EnvVarSource {
                            config_map_key_ref: Some(ConfigMapKeySelector {
                                name: cm.clone(),
                                key,
                                optional: None,
                            }),
                            ..Default::default()
                        }),
                    });
                }
            }
        }
    }
    if plugin(job, "ssh").is_some() {
        let secret = format!("{}-ssh", job.name_any());
        spec.volumes.get_or_insert_default().push(Volume {
            name: secret.clone(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                default_mode: Some(0o600),
                ..Default::default()
            }),
            ..Default::default()
        });
        mounts.push(VolumeMount {
            name: secret,
            mount_path: SSH_MOUNT.to_owned(),
            ..Default::default()
        });
    }
    framework(job, task, index, spec);
    let containers = spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        c.env.get_or_insert_default().extend(env.iter().cloned());
        c.volume_mounts
            .get_or_insert_default()
            .extend(mounts.iter().cloned());
    }
}

/// The svc plugin's headless Service `<job>` and hosts ConfigMap `<job>-svc`.
pub fn svc_objects(job: &Job) -> Option<(Service, ConfigMap)> {
    let args = plugin(job, "svc")?;
    let mut selector = BTreeMap::new();
    selector.insert(labels::JOB_NAME.to_owned(), job.name_any());
    selector.insert(
        labels::JOB_NAMESPACE.to_owned(),
        job.namespace().unwrap_or_default(),
    );
    let service = Service {
        metadata: child_meta(job, job.name_any()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            selector: Some(selector),
            publish_not_ready_addresses: Some(flag(args, "--publish-not-ready-addresses", false)),
            ..Default::default()
        }),
        status: None,
    };
    let mut data = BTreeMap::new();
    for t in &job.spec.tasks {
        let name = task_name(t);
        let hosts: Vec<String> = (0..t.replicas.unwrap_or(0))
            .map(|i| format!("{}.{}", pod_name(job, t, i), job.name_any()))
            .collect();
        data.insert(format!("{name}.host"), hosts.join("\n"));
        data.insert(env_name(&name, "HOSTS"), hosts.join(","));
        data.insert(env_name(&name, "NUM"), hosts.len().to_string());
    }
    let cm = ConfigMap {
        metadata: child_meta(job, format!("{}-svc", job.name_any())),
        data: Some(data),
        ..Default::default()
    };
    Some((service, cm))
}

/// An SSH key pair in OpenSSH formats.
#[derive(Clone, Debug)]
pub struct SshKeys {
    /// Private key (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub private: String,
    /// Public key line (`ssh-ed25519 AAAA...`).
    pub public: String,
}

/// The ssh plugin's Secret `<job>-ssh`: key pair, `authorized_keys` and a `config` that trusts
/// every pod of the job.
pub fn ssh_secret(job: &Job, keys: &SshKeys) -> Option<Secret> {
    let args = plugin(job, "ssh")?;
    let port = args
        .iter()
        .find_map(|a| a.strip_prefix("--ssh-port="))
        .unwrap_or("22");
    let mut config = String::from("StrictHostKeyChecking no\nUserKnownHostsFile /dev/null\n");
    for t in &job.spec.tasks {
        for i in 0..t.replicas.unwrap_or(0) {
            let host = pod_name(job, t, i);
            config.push_str(&format!(
                "Host {host}\n  HostName {host}.{}\n  Port {port}\n",
                job.name_any()
            ));
        }
    }
    let mut data = BTreeMap::new();
    for (k, v) in [
        ("id_ed25519", keys.private.clone()),
        ("id_ed25519.pub", keys.public.clone()),
        ("authorized_keys", keys.public.clone()),
        ("config", config),
    ] {
        data.insert(k.to_owned(), ByteString(v.into_bytes()));
    }
    Some(Secret {
        metadata: child_meta(job, format!("{}-ssh", job.name_any())),
        data: Some(data),
        ..Default::default()
    })
}

/// `status.controlledResources` entries for the enabled plugins.
pub fn controlled_resources(job: &Job) -> BTreeMap<String, String> {
    ["env", "svc", "ssh", "mpi", "pytorch", "tensorflow"]
        .into_iter()
        .filter(|p| plugin(job, p).is_some())
        .map(|p| (format!("plugin-{p}"), p.to_owned()))
        .collect()
}
