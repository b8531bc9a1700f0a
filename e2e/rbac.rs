//! RBAC end to end: every request a separate `basalt controller` makes while it runs the
//! article's queues, a gang job, a Command and a JobFlow on `basalt up` is allowed by the rules
//! the Helm chart grants it (`config/helm/basalt/templates/rbac-controller.yaml`).
//!
//! The controller talks to the API server through `tools/audit_proxy.py`, a recording proxy,
//! so the record holds exactly its requests (kubectl goes straight to the server). Each request
//! is turned into an RBAC attribute (verb, API group, resource[/subresource], name) the way the
//! API server does, and checked against the chart's rules.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Cluster;

const T: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One rule of a (Cluster)Role.
#[derive(Debug, Default)]
struct Rule {
    groups: Vec<String>,
    resources: Vec<String>,
    names: Vec<String>,
    verbs: Vec<String>,
}

impl Rule {
    fn allows(&self, a: &Attributes) -> bool {
        self.groups.contains(&a.group)
            && self.resources.contains(&a.resource)
            && self.verbs.contains(&a.verb)
            && (self.names.is_empty() || a.name.as_ref().is_some_and(|n| self.names.contains(n)))
    }
}

/// The rules of one component's ClusterRole (and, for the controller, its leader-election Role),
/// read from the chart's template `rbac-<component>.yaml` (its rules are flow-style YAML lists).
fn chart_rules(component: &str) -> Vec<Rule> {
    let path = repo_root().join(format!(
        "config/helm/basalt/templates/rbac-{component}.yaml"
    ));
    let text = std::fs::read_to_string(&path).expect("read rbac-controller.yaml");
    let list = |line: &str| -> Vec<String> {
        let inner = line
            .split_once('[')
            .and_then(|(_, r)| r.rsplit_once(']'))
            .map(|(l, _)| l);
        inner
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_string())
            .filter(|s| !s.is_empty() || line.contains("\"\""))
            .collect()
    };
    let mut rules: Vec<Rule> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("- apiGroups:") {
            rules.push(Rule {
                groups: list(rest),
                ..Rule::default()
            });
        } else if let Some(rule) = rules.last_mut() {
            if let Some(rest) = line.strip_prefix("resources:") {
                rule.resources = list(rest);
            } else if let Some(rest) = line.strip_prefix("resourceNames:") {
                rule.names = list(rest);
            } else if let Some(rest) = line.strip_prefix("verbs:") {
                rule.verbs = list(rest);
            }
        }
    }
    assert!(!rules.is_empty(), "no rules parsed from {}", path.display());
    rules
}

/// The RBAC request attributes of one API request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Attributes {
    verb: String,
    group: String,
    resource: String,
    name: Option<String>,
}

/// Maps a request line to its attributes like the API server's request-info resolver; `None`
/// for non-resource URLs (discovery, version), which every authenticated user may read.
fn attributes(method: &str, path: &str, query: &str) -> Option<Attributes> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest = match segs.as_slice() {
        ["api", _version, rest @ ..] => (String::new(), rest),
        ["apis", group, _version, rest @ ..] => ((*group).to_string(), rest),
        _ => return None,
    };
    let (group, mut rest) = rest;
    if rest.len() >= 3 && rest[0] == "namespaces" {
        rest = &rest[2..];
    }
    let (resource, name, sub) = match rest {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(n.to_string()), None),
        [r, n, s, ..] => (*r, Some(n.to_string()), Some(*s)),
        [] => return None,
    };
    let watch = query
        .split('&')
        .any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method, &name) {
        ("GET", _) if watch => "watch",
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        _ => return None,
    };
    let resource = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    // A create names no object in RBAC terms (resourceNames cannot restrict it), except on a
    // subresource such as pods/binding, where the name is the parent's.
    let name = if verb == "create" && sub.is_none() {
        None
    } else {
        name
    };
    Some(Attributes {
        verb: verb.into(),
        group,
        resource,
        name,
    })
}

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_file(path: &Path, what: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && !text.trim().is_empty()
        {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} ({})",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the recording proxy in front of `cluster` and returns it with a kubeconfig through it.
fn start_proxy(cluster: &Cluster, log: &Path) -> (Process, PathBuf) {
    let dir = cluster.dir.path();
    let port_file = dir.join("proxy.port");
    let proxy = Command::new("python3")
        .arg(repo_root().join("tools/audit_proxy.py"))
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("--log")
        .arg(log)
        .arg("--port-file")
        .arg(&port_file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning python3 tools/audit_proxy.py");
    let proxy = Process(proxy);
    let port = wait_for_file(&port_file, "the audit proxy's port");
    let upstream = std::fs::read_to_string(&cluster.kubeconfig).expect("read kubeconfig");
    let token = upstream
        .lines()
        .find_map(|l| l.trim().strip_prefix("token:"))
        .expect("basalt up's kubeconfig has a token")
        .trim()
        .to_string();
    let kubeconfig = dir.join("controller-through-proxy.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: proxy\n  cluster:\n    server: http://127.0.0.1:{}\n\
             contexts:\n- name: proxy\n  context:\n    cluster: proxy\n    user: controller\n    namespace: default\n\
             current-context: proxy\nusers:\n- name: controller\n  user:\n    token: {token}\n",
            port.trim()
        ),
    )
    .expect("write the proxy kubeconfig");
    (proxy, kubeconfig)
}

fn recorded(log: &Path) -> BTreeSet<Attributes> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|r| {
            attributes(
                r["method"].as_str().unwrap_or_default(),
                r["path"].as_str().unwrap_or_default(),
                r["query"].as_str().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn controller_requests_stay_within_the_charts_cluster_role() {
    let rules = chart_rules("controller");
    assert!(
        rules.len() > 10,
        "the controller's rules did not parse: {rules:?}"
    );
    let c = Cluster::start(&["--no-controllers"]);
    let log = c.dir.path().join("controller-requests.jsonl");
    let (_proxy, kubeconfig) = start_proxy(&c, &log);
    let controller_log =
        std::fs::File::create(c.dir.path().join("controller.log")).expect("log file");
    let _controller = Process(
        Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args([
                "controller",
                "--leader-elect",
                "--lease-namespace",
                "default",
            ])
            .args([
                "--metrics-addr",
                "127.0.0.1:0",
                "--schedule-period",
                "200ms",
                "--kubeconfig",
            ])
            .arg(&kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(controller_log)
            .spawn()
            .expect("spawning basalt controller"),
    );
    let controller_log =
        || std::fs::read_to_string(c.dir.path().join("controller.log")).unwrap_or_default();

    // Queues and a gang: pods created, bound, PodGroup and Job status written.
    c.apply(include_str!("../examples/05-team-queues.yaml"));
    c.apply(include_str!(
        "../examples/03-gang-distributed-training-job.yaml"
    ));
    c.wait_for("the gang's four pods bound to nodes", T, || {
        let pods = c.get_json(&["pods", "-l", "volcano.sh/job-name=distributed-training"]);
        let items = pods["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 4 && items.iter().all(|p| p["spec"]["nodeName"].is_string())).then_some(())
    });
    // A Command: read, executed, deleted.
    c.apply(include_str!("../examples/command-abort-job.yaml"));
    c.wait_for("the abort Command consumed", T, || {
        let left = c.get_json(&["commands.bus.volcano.sh"]);
        left["items"]
            .as_array()
            .is_some_and(|i| i.is_empty())
            .then_some(())
    });
    // A JobFlow: templates read, a step Job created, flow status written.
    c.apply(include_str!("../examples/jobtemplate-and-flow.yaml"));
    c.wait_for("the JobFlow's first step Job", T, || {
        let jobs = c.get_json(&["vcjob"]);
        (jobs["items"].as_array().map_or(0, Vec::len) >= 2).then_some(())
    });

    let seen = recorded(&log);
    let denied: Vec<&Attributes> = seen
        .iter()
        .filter(|a| !rules.iter().any(|r| r.allows(a)))
        .collect();
    let table: Vec<String> = seen
        .iter()
        .map(|a| {
            format!(
                "{} {}/{} {}",
                a.verb,
                if a.group.is_empty() { "core" } else { &a.group },
                a.resource,
                a.name.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert!(
        denied.is_empty(),
        "the controller made requests the chart's RBAC does not allow: {denied:#?}\n\
         add them to config/helm/basalt/templates/rbac-controller.yaml and docs/rbac.md\n\
         all recorded requests:\n{}\n--- controller log ---\n{}",
        table.join("\n"),
        controller_log()
    );
    // The record must show the controller really worked through the proxy.
    for (verb, resource) in [
        ("create", "pods"),
        ("create", "pods/binding"),
        ("watch", "nodes"),
        ("create", "leases"),
    ] {
        assert!(
            seen.iter()
                .any(|a| a.verb == verb && a.resource == resource),
            "no `{verb} {resource}` recorded: the controller did not run through the proxy\n{}\n--- controller log ---\n{}",
            table.join("\n"),
            controller_log()
        );
    }
}

#[test]
fn request_attributes_follow_the_api_servers_rules() {
    let a = |m, p, q| attributes(m, p, q).map(|a| (a.verb, a.group, a.resource, a.name));
    let s = |x: &str| x.to_string();
    assert_eq!(
        a("GET", "/api/v1/pods", "watch=true&resourceVersion=1"),
        Some((s("watch"), s(""), s("pods"), None))
    );
    assert_eq!(
        a("GET", "/api/v1/nodes", ""),
        Some((s("list"), s(""), s("nodes"), None))
    );
    assert_eq!(
        a("POST", "/api/v1/namespaces/default/pods/p-0/binding", ""),
        Some((s("create"), s(""), s("pods/binding"), Some(s("p-0"))))
    );
    assert_eq!(
        a(
            "PUT",
            "/apis/coordination.k8s.io/v1/namespaces/ns/leases/basalt-controller",
            ""
        ),
        Some((
            s("update"),
            s("coordination.k8s.io"),
            s("leases"),
            Some(s("basalt-controller"))
        ))
    );
    assert_eq!(
        a(
            "PATCH",
            "/apis/scheduling.volcano.sh/v1beta1/queues/q/status",
            ""
        ),
        Some((
            s("patch"),
            s("scheduling.volcano.sh"),
            s("queues/status"),
            Some(s("q"))
        ))
    );
    assert_eq!(
        a(
            "POST",
            "/apis/batch.volcano.sh/v1alpha1/namespaces/d/jobs",
            ""
        ),
        Some((s("create"), s("batch.volcano.sh"), s("jobs"), None))
    );
    assert_eq!(a("GET", "/apis", ""), None);
    // The chart's own rules: the controller may bind pods but not delete nodes.
    let rules = chart_rules("controller");
    let allowed = |m, p| attributes(m, p, "").is_some_and(|x| rules.iter().any(|r| r.allows(&x)));
    assert!(allowed("POST", "/api/v1/namespaces/d/pods/p/binding"));
    assert!(allowed(
        "PUT",
        "/apis/coordination.k8s.io/v1/namespaces/d/leases/basalt-controller"
    ));
    assert!(!allowed(
        "PUT",
        "/apis/coordination.k8s.io/v1/namespaces/d/leases/someone-else"
    ));
    assert!(!allowed("DELETE", "/api/v1/nodes/n"));
    assert!(!allowed("GET", "/api/v1/secrets"));
}

#[test]
fn webhook_requests_stay_within_the_charts_cluster_role() {
    let rules = chart_rules("webhook");
    let c = Cluster::start(&["--no-controllers"]);
    let log = c.dir.path().join("webhook-requests.jsonl");
    let (_proxy, kubeconfig) = start_proxy(&c, &log);
    let webhook_log = c.dir.path().join("webhook.log");
    let _webhook = Process(
        Command::new(env!("CARGO_BIN_EXE_basalt"))
            .args(["webhook", "--bind-address", "127.0.0.1:0"])
            .args([
                "--metrics-bind-address",
                "127.0.0.1:0",
                "--health-bind-address",
                "127.0.0.1:0",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&webhook_log).expect("log file"))
            .spawn()
            .expect("spawning basalt webhook"),
    );
    // The webhook's reflectors list and then watch what admission reads.
    let seen = c.wait_for(
        "the webhook's reflectors to watch queues, podgroups, nodes and namespaces",
        T,
        || {
            let seen = recorded(&log);
            ["queues", "podgroups", "nodes", "namespaces"]
                .iter()
                .all(|r| seen.iter().any(|a| a.verb == "watch" && a.resource == *r))
                .then_some(seen)
        },
    );
    let denied: Vec<&Attributes> = seen
        .iter()
        .filter(|a| !rules.iter().any(|r| r.allows(a)))
        .collect();
    assert!(
        denied.is_empty(),
        "the webhook made requests the chart's RBAC does not allow: {denied:#?}\n\
         add them to config/helm/basalt/templates/rbac-webhook.yaml and docs/rbac.md\n\
         --- webhook log ---\n{}",
        std::fs::read_to_string(&webhook_log).unwrap_or_default()
    );
}
