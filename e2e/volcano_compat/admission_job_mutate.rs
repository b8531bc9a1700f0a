//! Upstream `test/e2e/admission/job_mutate_test.go` ("Job Mutating Webhook E2E Test"): the job
//! defaults (queue, schedulerName, maxRetry, minAvailable with and without task minimums), the
//! plugins distributed-training plugins pull in, and user values kept as given. Upstream's
//! `XIt` (skipped there) is not counted.

use serde_json::{Value, json};

use super::{Ns, Suite, T, vcjob};

const FILE: &str = "admission/job_mutate_test.go";

fn mutation_task(name: &str, replicas: i32) -> Value {
    json!({
        "name": name,
        "replicas": replicas,
        "template": {
            "metadata": {"labels": {"name": "test"}},
            "spec": {"containers": [{"name": "fake-name", "image": "busybox:1.24"}]},
        },
    })
}

fn created(ns: &Ns<'_>, name: &str, spec: Value) -> Value {
    ns.create(&vcjob(name, spec));
    ns.get_json(&["vcjob", name])["spec"].clone()
}

fn has_plugins(spec: &Value, names: &[&str]) {
    for n in names {
        assert!(
            spec["plugins"].get(*n).is_some(),
            "plugin {n} missing: {}",
            spec["plugins"]
        );
    }
}

pub fn run(s: &Suite) {
    let one = || json!([mutation_task("task-1", 1)]);
    s.case(
        &format!("{FILE}: Should add default queue when not specified"),
        |ns| {
            let spec = created(
                ns,
                "default-queue-job",
                json!({"minAvailable": 1, "tasks": one()}),
            );
            assert_eq!(spec["queue"], "default");
        },
    );
    s.case(
        &format!("{FILE}: Should add default scheduler name when not specified"),
        |ns| {
            let spec = created(
                ns,
                "default-scheduler-job",
                json!({"minAvailable": 1, "queue": "default", "tasks": one()}),
            );
            assert!(
                spec["schedulerName"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty()),
                "{spec}"
            );
        },
    );
    s.case(
        &format!("{FILE}: Should add default maxRetry when not specified"),
        |ns| {
            let spec = created(
                ns,
                "default-max-retry-job",
                json!({"minAvailable": 1, "queue": "default", "tasks": one()}),
            );
            assert_eq!(spec["maxRetry"], 3);
        },
    );
    s.case(
        &format!("{FILE}: Should calculate and set default minAvailable when not specified"),
        |ns| {
            let tasks = json!([mutation_task("task-1", 2), mutation_task("task-2", 3)]);
            let spec = created(
                ns,
                "default-min-available-job",
                json!({"queue": "default", "tasks": tasks}),
            );
            assert_eq!(spec["minAvailable"], 5);
        },
    );
    s.case(
        &format!("{FILE}: Should calculate minAvailable considering task-level minAvailable when specified"),
        |ns| {
            let mut first = mutation_task("task-1", 2);
            first["minAvailable"] = json!(1);
            let tasks = json!([first, mutation_task("task-2", 3)]);
            let spec = created(ns, "task-min-available-job", json!({"queue": "default", "tasks": tasks}));
            assert_eq!(spec["minAvailable"], 4);
        },
    );
    for (name, plugins, want) in [
        (
            "Should add svc plugin for tensorflow plugin",
            json!({"tensorflow": []}),
            &["svc", "tensorflow"][..],
        ),
        (
            "Should add svc plugin for mpi plugin",
            json!({"mpi": ["--master=task-1", "--worker=task-1"]}),
            &["svc", "mpi"][..],
        ),
        (
            "Should add svc plugin for pytorch plugin",
            json!({"pytorch": []}),
            &["svc", "pytorch"][..],
        ),
        (
            "Should add ssh plugin for mpi plugin",
            json!({"mpi": ["--master=task-1", "--worker=task-1"]}),
            &["ssh", "mpi", "svc"][..],
        ),
    ] {
        s.case(&format!("{FILE}: {name}"), |ns| {
            let spec = created(
                ns,
                "plugin-job",
                json!({"minAvailable": 1, "queue": "default", "plugins": plugins, "tasks": one()}),
            );
            has_plugins(&spec, want);
        });
    }
    s.case(
        &format!("{FILE}: Should not override existing plugins"),
        |ns| {
            let plugins = json!({"tensorflow": [], "svc": ["--enable-networking"]});
            let spec = created(
                ns,
                "existing-plugins-job",
                json!({"minAvailable": 1, "queue": "default", "plugins": plugins, "tasks": one()}),
            );
            has_plugins(&spec, &["svc", "tensorflow"]);
            assert_eq!(spec["plugins"]["svc"], json!(["--enable-networking"]));
        },
    );
    s.case(&format!("{FILE}: Should preserve existing field values when specified"), |ns| {
        ns.c.apply(
            "apiVersion: scheduling.volcano.sh/v1beta1\nkind: Queue\nmetadata:\n  name: custom-queue-job\nspec:\n  weight: 1\n",
        );
        ns.c.wait_for("custom-queue-job Open", T, || {
            (ns.c.get_json(&["queue", "custom-queue-job"])["status"]["state"] == "Open").then_some(())
        });
        let mut t = mutation_task("custom-task", 3);
        t["minAvailable"] = json!(2);
        t["maxRetry"] = json!(5);
        let spec = created(
            ns,
            "preserve-values-job",
            json!({
                "minAvailable": 2, "queue": "custom-queue-job", "schedulerName": "custom-sched",
                "maxRetry": 10, "tasks": [t],
            }),
        );
        assert_eq!(spec["minAvailable"], 2);
        assert_eq!(spec["queue"], "custom-queue-job");
        assert_eq!(spec["schedulerName"], "custom-sched");
        assert_eq!(spec["maxRetry"], 10);
        assert_eq!(spec["tasks"][0]["name"], "custom-task");
        assert_eq!(spec["tasks"][0]["minAvailable"], 2);
        assert_eq!(spec["tasks"][0]["maxRetry"], 5);
    });
}
