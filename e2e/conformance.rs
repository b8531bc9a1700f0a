//! kubectl conformance: the real `kubectl` against `basalt up --no-controllers`, judged by exit
//! codes, output and the objects' state afterwards, as a real kube-apiserver would answer.
//!
//! These are our own scenarios, one function each, covering what the project's reference harness
//! (`kubectl_conformance.py`, kept outside the repository) checks: discovery, apply (client and
//! server side, field ownership), create/replace/dry-run/diff, output formats, selectors, chunking,
//! watch, merge/JSON/strategic patches, status subresource and generation, labels, deletion with
//! finalizers, garbage collection (background, foreground, orphan), namespaces, CRDs, tables,
//! `kubectl explain`, pod binding, events (both APIs) and protobuf request bodies. One test per
//! area starts one cluster; every scenario gets its own namespace and reports its own name.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Cluster, TempDir};

/// Limit for one kubectl command and for one wait for an asynchronous effect.
const TIMEOUT: Duration = Duration::from_secs(30);
const GROUP: &str = "conformance.example.com";
const HOLD: &str = "conformance.example.com/hold";
/// A scheduler nobody serves: pods stay Pending until a scenario binds them.
const NO_SCHEDULER: &str = "conformance-no-scheduler";

type Res<T = ()> = Result<T, String>;

macro_rules! check {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn eq<T: PartialEq + std::fmt::Debug>(actual: T, expected: T, what: &str) -> Res {
    check!(
        actual == expected,
        "{what}: got {actual:?}, want {expected:?}"
    );
    Ok(())
}

fn at<'v>(v: &'v Value, pointer: &str) -> &'v Value {
    v.pointer(pointer).unwrap_or(&Value::Null)
}

fn s<'v>(v: &'v Value, pointer: &str) -> &'v str {
    at(v, pointer).as_str().unwrap_or_default()
}

fn one_line(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    t.chars().take(240).collect()
}

/// One finished kubectl command; `code` is None when it ran past [`TIMEOUT`].
struct Out {
    shown: String,
    code: Option<i32>,
    out: String,
    err: String,
}

impl Out {
    fn brief(&self) -> String {
        format!(
            "`{}` exited {:?}: {}",
            self.shown,
            self.code,
            one_line(if self.err.is_empty() {
                &self.out
            } else {
                &self.err
            })
        )
    }
    fn json(&self) -> Res<Value> {
        serde_json::from_str(&self.out).map_err(|e| {
            format!(
                "`{}` printed no JSON ({e}): {}",
                self.shown,
                one_line(&self.out)
            )
        })
    }
}

/// kubectl running in the background (a watch, a blocking delete or wait).
struct Background {
    shown: String,
    child: Option<Child>,
    out: PathBuf,
    err: PathBuf,
}

impl Background {
    fn out(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
    /// Waits for it to exit by itself; `code` None if it did not within `limit`.
    fn finish(&mut self, limit: Duration) -> Out {
        let deadline = Instant::now() + limit;
        let mut code = None;
        if let Some(child) = self.child.as_mut() {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    code = status.code();
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.child = None;
        Out {
            shown: self.shown.clone(),
            code,
            out: self.out(),
            err: std::fs::read_to_string(&self.err).unwrap_or_default(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What a scenario works with: the cluster, its namespace and a scratch directory.
struct Ctx<'c> {
    c: &'c Cluster,
    ns: String,
    dir: TempDir,
    files: std::cell::Cell<u32>,
}

impl<'c> Ctx<'c> {
    fn new(c: &'c Cluster, scenario: &str) -> Res<Self> {
        let ctx = Ctx {
            c,
            ns: format!("conf-{scenario}"),
            dir: TempDir::new("conformance"),
            files: std::cell::Cell::new(0),
        };
        // `kubectl create namespace` sends protobuf, which has its own scenario.
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ctx.ns}});
        ctx.ok_cluster(&["apply", "-f", &ctx.file(&ns)])?;
        Ok(ctx)
    }

    fn command(&self, args: &[&str], namespaced: bool) -> (String, Command) {
        let mut argv: Vec<&str> = args.to_vec();
        if namespaced {
            argv.extend(["-n", &self.ns]);
        }
        let mut cmd = Command::new("kubectl");
        cmd.args(&argv)
            .env("KUBECONFIG", &self.c.kubeconfig)
            .env("KUBECACHEDIR", self.c.dir.path().join("kube-cache"))
            .stdin(Stdio::null());
        (format!("kubectl {}", argv.join(" ")), cmd)
    }

    fn start_in(&self, args: &[&str], namespaced: bool) -> Background {
        let n = self.next();
        let (shown, mut cmd) = self.command(args, namespaced);
        let out = self.dir.path().join(format!("{n:02}.out"));
        let err = self.dir.path().join(format!("{n:02}.err"));
        let child = cmd
            .stdout(std::fs::File::create(&out).expect("stdout file"))
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .spawn()
            .expect("running kubectl");
        Background {
            shown,
            child: Some(child),
            out,
            err,
        }
    }

    fn start(&self, args: &[&str]) -> Background {
        self.start_in(args, true)
    }

    fn run_in(&self, args: &[&str], namespaced: bool) -> Out {
        self.start_in(args, namespaced).finish(TIMEOUT)
    }

    fn run(&self, args: &[&str]) -> Out {
        self.run_in(args, true)
    }

    fn ok_in(&self, args: &[&str], namespaced: bool) -> Res<Out> {
        let out = self.run_in(args, namespaced);
        check!(out.code == Some(0), "{}", out.brief());
        Ok(out)
    }

    fn ok(&self, args: &[&str]) -> Res<Out> {
        self.ok_in(args, true)
    }

    fn ok_cluster(&self, args: &[&str]) -> Res<Out> {
        self.ok_in(args, false)
    }

    /// Requires a non-zero exit and, if given, one of `messages` (case-insensitive).
    fn fails_in(&self, args: &[&str], namespaced: bool, messages: &[&str]) -> Res<Out> {
        let out = self.run_in(args, namespaced);
        check!(out.code.is_some(), "{}", out.brief());
        check!(
            out.code != Some(0),
            "`{}` succeeded but should have failed",
            out.shown
        );
        let text = format!("{}{}", out.err, out.out).to_lowercase();
        check!(
            messages.is_empty() || messages.iter().any(|m| text.contains(&m.to_lowercase())),
            "`{}` failed without any of {messages:?}: {}",
            out.shown,
            one_line(&text)
        );
        Ok(out)
    }

    fn fails(&self, args: &[&str], messages: &[&str]) -> Res<Out> {
        self.fails_in(args, true, messages)
    }

    fn next(&self) -> u32 {
        let n = self.files.get() + 1;
        self.files.set(n);
        n
    }

    /// Writes a manifest (JSON, which kubectl reads like YAML) and returns its path.
    fn file(&self, obj: &Value) -> String {
        let n = self.next();
        let name = s(obj, "/metadata/name");
        let path = self.dir.path().join(format!("{n:02}-{name}.json"));
        std::fs::write(&path, obj.to_string()).expect("writing a manifest");
        path.to_string_lossy().into_owned()
    }

    fn apply(&self, obj: &Value, flags: &[&str]) -> Res<Out> {
        let file = self.file(obj);
        let mut args = vec!["apply", "-f", &file];
        args.extend_from_slice(flags);
        self.ok(&args)
    }

    fn create(&self, obj: &Value, flags: &[&str]) -> Res<Out> {
        let file = self.file(obj);
        let mut args = vec!["create", "-f", &file];
        args.extend_from_slice(flags);
        self.ok(&args)
    }

    /// The object, or None if the server says NotFound.
    fn get_in(&self, resource: &str, name: &str, namespaced: bool) -> Res<Option<Value>> {
        let out = self.run_in(&["get", resource, name, "-o", "json"], namespaced);
        if out.code != Some(0) && out.err.to_lowercase().replace(' ', "").contains("notfound") {
            return Ok(None);
        }
        check!(out.code == Some(0), "{}", out.brief());
        out.json().map(Some)
    }

    fn get(&self, resource: &str, name: &str) -> Res<Option<Value>> {
        self.get_in(resource, name, true)
    }

    fn must_get(&self, resource: &str, name: &str) -> Res<Value> {
        self.get(resource, name)?
            .ok_or_else(|| format!("{resource} {name} not found"))
    }

    fn gone(&self, resource: &str, name: &str) -> Res<bool> {
        Ok(self.get(resource, name)?.is_none())
    }

    /// Names listed by `kubectl get <args> -o json`.
    fn names(&self, args: &[&str]) -> Res<BTreeSet<String>> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend(["-o", "json"]);
        let list = self.ok(&all)?.json()?;
        let items = list["items"]
            .as_array()
            .ok_or_else(|| format!("`kubectl {}` has no items array", all.join(" ")))?;
        Ok(items
            .iter()
            .map(|i| s(i, "/metadata/name").to_owned())
            .collect())
    }

    /// Polls `probe` until it returns `Some`; fails after [`TIMEOUT`] naming `what`.
    fn eventually<T>(&self, what: &str, mut probe: impl FnMut() -> Res<Option<T>>) -> Res<T> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(v) = probe()? {
                return Ok(v);
            }
            check!(
                Instant::now() < deadline,
                "timed out after {TIMEOUT:?} waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Runs kubectl until it exits 0 (for effects that become visible a moment later).
    fn retry_ok(&self, what: &str, args: &[&str]) -> Res<Out> {
        let mut last = String::new();
        let found = self.eventually(what, || {
            let out = self.run(args);
            if out.code == Some(0) {
                return Ok(Some(out));
            }
            last = out.brief();
            Ok(None)
        });
        found.map_err(|e| format!("{e}; last: {last}"))
    }

    /// An unscheduled Pod (force-deleted with its namespace's cluster).
    fn pod(&self, name: &str, containers: &[&str]) -> Res<Value> {
        let containers: Vec<Value> = containers
            .iter()
            .map(|c| json!({"name": c, "image": "busybox:1.36"}))
            .collect();
        self.create(
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"schedulerName": NO_SCHEDULER, "terminationGracePeriodSeconds": 0,
                         "containers": containers}}),
            &[],
        )?;
        self.must_get("pod", name)
    }

    /// A Node object with no kubelet behind it, tainted so that nothing schedules on it.
    fn node(&self, name: &str) -> Res<String> {
        let node = json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"taints": [{"key": format!("{GROUP}/fake-node"), "value": "true",
                                 "effect": "NoSchedule"}]}});
        self.ok_cluster(&["apply", "-f", &self.file(&node)])?;
        Ok(name.to_owned())
    }
}

fn configmap(name: &str, data: Value, labels: Value) -> Value {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                        "data": if data.is_null() { json!({}) } else { data }});
    if !labels.is_null() {
        cm["metadata"]["labels"] = labels;
    }
    cm
}

fn owner_ref(owner: &Value, block: bool) -> Value {
    let mut r = json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                       "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"]});
    if block {
        r["blockOwnerDeletion"] = json!(true);
    }
    r
}

fn now(micro: bool) -> String {
    let t = k8s_openapi::jiff::Timestamp::now();
    if micro {
        format!("{:.6}", t)
    } else {
        format!("{:.0}", t)
    }
}

fn core_event(name: &str, involved: Value, reason: &str, message: &str, kind: &str) -> Value {
    let t = now(false);
    json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
           "involvedObject": involved, "reason": reason, "message": message, "type": kind,
           "source": {"component": "basalt-e2e"}, "firstTimestamp": t, "lastTimestamp": t,
           "count": 1})
}

/// kubectl's aligned table: header cell offsets give the column starts.
fn parse_table(text: &str) -> (Vec<String>, Vec<std::collections::BTreeMap<String, String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return (Vec::new(), Vec::new());
    };
    let mut spans: Vec<(usize, String)> = Vec::new();
    let bytes = header.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        let start = i;
        // A cell ends at two spaces or the end of the line.
        while i < bytes.len() && !(bytes[i] == b' ' && bytes.get(i + 1).is_none_or(|b| *b == b' '))
        {
            i += 1;
        }
        spans.push((start, header[start..i].to_owned()));
    }
    let rows = lines
        .map(|line| {
            spans
                .iter()
                .enumerate()
                .map(|(k, (start, name))| {
                    let end = spans.get(k + 1).map_or(line.len(), |s| s.0).min(line.len());
                    let cell = line.get((*start).min(end)..end).unwrap_or_default();
                    (name.clone(), cell.trim().to_owned())
                })
                .collect()
        })
        .collect();
    (spans.into_iter().map(|s| s.1).collect(), rows)
}

/// Concatenated JSON documents (`kubectl get -w -o json`); a trailing partial one is ignored.
fn json_stream(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

/// A namespaced kind defined at run time (status subresource, printer columns, a real schema).
struct Kind {
    plural: String,
    kind: String,
    short: String,
}

impl Kind {
    fn new(plural: &str, kind: &str, short: &str) -> Self {
        Kind {
            plural: plural.into(),
            kind: kind.into(),
            short: short.into(),
        }
    }
    fn widgets() -> Self {
        Self::new("widgets", "Widget", "cwdg")
    }
    fn resource(&self) -> String {
        format!("{}.{GROUP}", self.plural)
    }
    fn crd(&self) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": self.resource()},
            "spec": {"group": GROUP, "scope": "Namespaced",
                "names": {"plural": self.plural, "singular": self.kind.to_lowercase(),
                          "kind": self.kind, "listKind": format!("{}List", self.kind),
                          "shortNames": [self.short]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"}],
                    "schema": {"openAPIV3Schema": {
                        "type": "object", "description": "A conformance-test fixture kind.",
                        "properties": {
                            "spec": {"type": "object", "description": "What the widget should look like.",
                                "properties": {
                                    "size": {"type": "integer", "description": "Number of cogs in the widget."},
                                    "color": {"type": "string", "description": "Paint colour of the widget."}}},
                            "status": {"type": "object", "description": "What the widget looks like now.",
                                "properties": {"phase": {"type": "string", "description": "Lifecycle phase."}}}}}}}]}})
    }
    fn instance(&self, name: &str, size: i64) -> Value {
        json!({"apiVersion": format!("{GROUP}/v1"), "kind": self.kind,
               "metadata": {"name": name}, "spec": {"size": size}})
    }
    /// Applies the CRD and polls until it is Established and its kind can be listed.
    fn create(&self, ctx: &Ctx) -> Res {
        ctx.ok_cluster(&["apply", "-f", &ctx.file(&self.crd())])?;
        let name = self.resource();
        ctx.eventually(&format!("CRD {name} to be Established"), || {
            let crd = ctx.get_in("crd", &name, false)?.unwrap_or(Value::Null);
            let established = at(&crd, "/status/conditions").as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Established" && c["status"] == "True")
            });
            Ok(established.then_some(()))
        })?;
        ctx.retry_ok(
            &format!("kind {} to be served", self.kind),
            &["get", &name, "-o", "name"],
        )?;
        Ok(())
    }
}

type Scenario = (&'static str, fn(&Ctx) -> Res);

/// Starts one cluster and runs `scenarios` in order, each in its own namespace; fails naming
/// every scenario that failed and why.
fn run_area(scenarios: &[Scenario], setup: fn(&Ctx) -> Res) {
    let c = Cluster::start(&["--no-controllers"]);
    let setup_ctx = Ctx::new(&c, "setup").unwrap_or_else(|e| panic!("setup namespace: {e}"));
    setup(&setup_ctx).unwrap_or_else(|e| panic!("setup: {e}\n--- basalt up log ---\n{}", c.log()));
    let mut failed = Vec::new();
    for (name, scenario) in scenarios {
        let started = Instant::now();
        let result = Ctx::new(&c, name).and_then(|ctx| scenario(&ctx));
        match result {
            Ok(()) => println!("PASS {name} ({:.1}s)", started.elapsed().as_secs_f64()),
            Err(e) => {
                println!("FAIL {name}: {e}");
                failed.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} scenarios failed:\n{}\n--- basalt up log (tail) ---\n{}",
        failed.len(),
        scenarios.len(),
        failed.join("\n"),
        c.log()
            .lines()
            .rev()
            .take(60)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn no_setup(_: &Ctx) -> Res {
    Ok(())
}

fn widgets_setup(ctx: &Ctx) -> Res {
    Kind::widgets().create(ctx)
}

// ---------------------------------------------------------------- discovery

#[test]
fn discovery_and_versions() {
    run_area(
        &[
            ("version", version),
            ("discovery-core", discovery_core),
            ("discovery-volcano", discovery_volcano),
            ("volcano-list-by-shortname", volcano_list_by_shortname),
        ],
        no_setup,
    );
}

/// `kubectl version -o json` reports a server version kubectl 1.29-1.33 accept.
fn version(ctx: &Ctx) -> Res {
    let doc = ctx.ok_cluster(&["version", "-o", "json"])?.json()?;
    let server = &doc["serverVersion"];
    check!(server.is_object(), "no serverVersion in {doc}");
    eq(s(server, "/major"), "1", "serverVersion.major")?;
    let digits: String = s(server, "/minor")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let minor: u32 = digits
        .parse()
        .map_err(|_| format!("serverVersion.minor {} is not a number", server["minor"]))?;
    // devcluster claims a minor in this window (the kubectl releases it is checked against);
    // a real kube-apiserver (`BASALT_E2E_BACKEND=real`) is whatever newer release it is.
    let newest = if crate::harness::real_backend() {
        u32::MAX
    } else {
        33
    };
    check!(
        (29..=newest).contains(&minor),
        "server minor {minor} is outside 29..{newest}"
    );
    check!(
        s(server, "/gitVersion").starts_with(&format!("v1.{minor}")),
        "gitVersion {} does not match minor {minor}",
        server["gitVersion"]
    );
    Ok(())
}

/// `kubectl api-resources` rows by (plural, group).
fn api_resources(
    ctx: &Ctx,
) -> Res<std::collections::BTreeMap<(String, String), std::collections::BTreeMap<String, String>>> {
    let (header, rows) = parse_table(&ctx.ok_cluster(&["api-resources"])?.out);
    for col in ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"] {
        check!(
            header.iter().any(|h| h == col),
            "`kubectl api-resources` has no {col} column: {header:?}"
        );
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let group = r["APIVERSION"]
                .split_once('/')
                .map(|(g, _)| g.to_owned())
                .unwrap_or_default();
            ((r["NAME"].clone(), group), r)
        })
        .collect())
}

type ResourceSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

fn check_resources(ctx: &Ctx, specs: &[ResourceSpec]) -> Res {
    let table = api_resources(ctx)?;
    let mut problems = Vec::new();
    for (plural, group, version, kind, namespaced, shorts) in specs {
        let label = if group.is_empty() {
            plural.to_string()
        } else {
            format!("{plural}.{group}")
        };
        let Some(row) = table.get(&(plural.to_string(), group.to_string())) else {
            problems.push(format!("{label} missing"));
            continue;
        };
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        if row["APIVERSION"] != gv {
            problems.push(format!(
                "{label} apiVersion {} (want {gv})",
                row["APIVERSION"]
            ));
        }
        if row["KIND"] != *kind {
            problems.push(format!("{label} kind {} (want {kind})", row["KIND"]));
        }
        if row["NAMESPACED"] != namespaced.to_string() {
            problems.push(format!("{label} namespaced {}", row["NAMESPACED"]));
        }
        let have: BTreeSet<&str> = row["SHORTNAMES"].split(',').collect();
        for short in *shorts {
            if !have.contains(short) {
                problems.push(format!("{label} lacks short name {short}"));
            }
        }
    }
    check!(problems.is_empty(), "{}", problems.join("; "));
    Ok(())
}

/// `kubectl api-resources`/`api-versions` list the built-in kinds Basalt relies on.
fn discovery_core(ctx: &Ctx) -> Res {
    check_resources(
        ctx,
        &[
            ("pods", "", "v1", "Pod", true, &["po"]),
            ("nodes", "", "v1", "Node", false, &["no"]),
            ("namespaces", "", "v1", "Namespace", false, &["ns"]),
            ("configmaps", "", "v1", "ConfigMap", true, &["cm"]),
            ("events", "", "v1", "Event", true, &["ev"]),
            ("events", "events.k8s.io", "v1", "Event", true, &[]),
            ("leases", "coordination.k8s.io", "v1", "Lease", true, &[]),
            (
                "customresourcedefinitions",
                "apiextensions.k8s.io",
                "v1",
                "CustomResourceDefinition",
                false,
                &["crd", "crds"],
            ),
        ],
    )?;
    let versions = ctx.ok_cluster(&["api-versions"])?.out;
    let versions: BTreeSet<&str> = versions.split_whitespace().collect();
    for want in [
        "v1",
        "coordination.k8s.io/v1",
        "events.k8s.io/v1",
        "apiextensions.k8s.io/v1",
    ] {
        check!(
            versions.contains(want),
            "`kubectl api-versions` lacks {want}"
        );
    }
    Ok(())
}

/// The six Volcano kinds are served with Volcano's group/version, scope and short names.
fn discovery_volcano(ctx: &Ctx) -> Res {
    check_resources(
        ctx,
        &[
            (
                "jobs",
                "batch.volcano.sh",
                "v1alpha1",
                "Job",
                true,
                &["vcjob", "vj"],
            ),
            (
                "queues",
                "scheduling.volcano.sh",
                "v1beta1",
                "Queue",
                false,
                &["q"],
            ),
            (
                "podgroups",
                "scheduling.volcano.sh",
                "v1beta1",
                "PodGroup",
                true,
                &["pg"],
            ),
            (
                "jobflows",
                "flow.volcano.sh",
                "v1alpha1",
                "JobFlow",
                true,
                &["jf"],
            ),
            (
                "jobtemplates",
                "flow.volcano.sh",
                "v1alpha1",
                "JobTemplate",
                true,
                &["jt"],
            ),
            (
                "commands",
                "bus.volcano.sh",
                "v1alpha1",
                "Command",
                true,
                &[],
            ),
        ],
    )
}

/// `kubectl get vcjob|vj|pg|jf|jt|q` resolve the short names and list collections.
fn volcano_list_by_shortname(ctx: &Ctx) -> Res {
    for short in ["vcjob", "vj", "pg", "jf", "jt", "commands.bus.volcano.sh"] {
        ctx.names(&[short])?;
    }
    let list = ctx.ok_cluster(&["get", "q", "-o", "json"])?.json()?;
    check!(
        list["items"].is_array(),
        "`kubectl get q` listed no items array"
    );
    Ok(())
}

// ---------------------------------------------------------------- writing

#[test]
fn writing_objects() {
    run_area(
        &[
            ("apply-client-side", apply_client_side),
            ("apply-server-side", apply_server_side),
            (
                "apply-server-side-field-ownership",
                apply_server_side_field_ownership,
            ),
            ("create-f", create_from_file),
            ("replace-conflict", replace_conflict),
            ("dry-run-server", dry_run_server),
            ("dry-run-server-delete", dry_run_server_delete),
            ("diff", diff),
            ("protobuf-create-configmap", protobuf_create_configmap),
        ],
        no_setup,
    );
}

/// `kubectl apply` creates, reports unchanged, and 3-way merges a changed manifest.
fn apply_client_side(ctx: &Ctx) -> Res {
    let v1 = configmap(
        "settings",
        json!({"a": "1", "b": "2"}),
        json!({"app": "conf"}),
    );
    check!(
        ctx.apply(&v1, &[])?.out.contains("created"),
        "first apply did not report `created`"
    );
    check!(
        ctx.apply(&v1, &[])?.out.contains("unchanged"),
        "an identical apply did not report `unchanged`"
    );
    let v2 = configmap(
        "settings",
        json!({"a": "1", "c": "3"}),
        json!({"app": "conf2"}),
    );
    check!(
        ctx.apply(&v2, &[])?.out.contains("configured"),
        "apply of a changed manifest did not report `configured`"
    );
    let live = ctx.must_get("configmap", "settings")?;
    eq(
        &live["data"],
        &json!({"a": "1", "c": "3"}),
        "data after apply (b removed, c added)",
    )?;
    eq(
        s(&live, "/metadata/labels/app"),
        "conf2",
        "label after apply",
    )?;
    let last = s(
        &live,
        "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
    );
    let last: Value = serde_json::from_str(last).unwrap_or(Value::Null);
    eq(
        &last["data"],
        &json!({"a": "1", "c": "3"}),
        "last-applied-configuration's data",
    )
}

/// `kubectl apply --server-side` creates an absent object and updates it.
fn apply_server_side(ctx: &Ctx) -> Res {
    let out = ctx.apply(
        &configmap("ssa", json!({"a": "1"}), Value::Null),
        &["--server-side"],
    )?;
    check!(
        out.out.contains("serverside-applied"),
        "first server-side apply printed {:?}",
        one_line(&out.out)
    );
    eq(
        &ctx.must_get("configmap", "ssa")?["data"],
        &json!({"a": "1"}),
        "data after create",
    )?;
    ctx.apply(
        &configmap("ssa", json!({"a": "2", "b": "1"}), Value::Null),
        &["--server-side"],
    )?;
    eq(
        &ctx.must_get("configmap", "ssa")?["data"],
        &json!({"a": "2", "b": "1"}),
        "data after a second server-side apply",
    )
}

/// Server-side apply drops fields its manager stopped applying and reports conflicts.
fn apply_server_side_field_ownership(ctx: &Ctx) -> Res {
    ctx.apply(
        &configmap("owned", json!({"a": "1", "b": "2"}), Value::Null),
        &["--server-side"],
    )?;
    ctx.apply(
        &configmap("owned", json!({"a": "1"}), Value::Null),
        &["--server-side"],
    )?;
    eq(
        &ctx.must_get("configmap", "owned")?["data"],
        &json!({"a": "1"}),
        "data after re-applying without b (same field manager)",
    )?;
    let other = ctx.file(&configmap("owned", json!({"a": "other"}), Value::Null));
    ctx.fails(
        &[
            "apply",
            "-f",
            &other,
            "--server-side",
            "--field-manager=e2e-other",
        ],
        &["conflict"],
    )?;
    eq(
        s(&ctx.must_get("configmap", "owned")?, "/data/a"),
        "1",
        "data.a after a refused apply",
    )?;
    ctx.ok(&[
        "apply",
        "-f",
        &other,
        "--server-side",
        "--field-manager=e2e-other",
        "--force-conflicts",
    ])?;
    eq(
        s(&ctx.must_get("configmap", "owned")?, "/data/a"),
        "other",
        "data.a after --force-conflicts",
    )
}

/// `kubectl create -f` creates once, then AlreadyExists; generateName gets a suffix.
fn create_from_file(ctx: &Ctx) -> Res {
    let path = ctx.file(&configmap("created", json!({"a": "1"}), Value::Null));
    check!(
        ctx.ok(&["create", "-f", &path])?.out.contains("created"),
        "create did not report `created`"
    );
    let live = ctx.must_get("configmap", "created")?;
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        check!(
            !s(&live, &format!("/metadata/{field}")).is_empty(),
            "created object has no metadata.{field}"
        );
    }
    ctx.fails(
        &["create", "-f", &path],
        &["AlreadyExists", "already exists"],
    )?;
    let generated = json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"generateName": "gen-"}, "data": {}});
    let out = ctx.create(&generated, &[])?.out;
    let name = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("configmap/"))
        .filter(|n| n.len() > "gen-".len() && n.starts_with("gen-"))
        .ok_or_else(|| format!("generateName create printed {:?}", one_line(&out)))?;
    ctx.must_get("configmap", name)?;
    Ok(())
}

/// `kubectl replace -f` works with the current resourceVersion and conflicts with a stale one.
fn replace_conflict(ctx: &Ctx) -> Res {
    let lease = |holder: &str, rv: Option<&str>| {
        let mut l = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "leader"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}});
        if let Some(rv) = rv {
            l["metadata"]["resourceVersion"] = json!(rv);
        }
        l
    };
    ctx.create(&lease("a", None), &[])?;
    let rv1 = s(
        &ctx.must_get("lease", "leader")?,
        "/metadata/resourceVersion",
    )
    .to_owned();
    let fresh = ctx.file(&lease("b", Some(&rv1)));
    check!(
        ctx.ok(&["replace", "-f", &fresh])?.out.contains("replaced"),
        "replace did not report `replaced`"
    );
    let live = ctx.must_get("lease", "leader")?;
    eq(
        s(&live, "/spec/holderIdentity"),
        "b",
        "holderIdentity after replace",
    )?;
    check!(
        s(&live, "/metadata/resourceVersion") != rv1,
        "resourceVersion did not change on replace"
    );
    let stale = ctx.file(&lease("c", Some(&rv1)));
    ctx.fails(
        &["replace", "-f", &stale],
        &["the object has been modified", "Conflict"],
    )?;
    eq(
        s(&ctx.must_get("lease", "leader")?, "/spec/holderIdentity"),
        "b",
        "holderIdentity after a conflicting replace",
    )
}

/// `--dry-run=server` on apply/create/patch answers but persists nothing.
fn dry_run_server(ctx: &Ctx) -> Res {
    let out = ctx.apply(
        &configmap("ghost", json!({"a": "1"}), Value::Null),
        &["--dry-run=server"],
    )?;
    check!(
        out.out.contains("server dry run"),
        "dry-run apply printed {:?}",
        one_line(&out.out)
    );
    check!(
        ctx.gone("configmap", "ghost")?,
        "apply --dry-run=server persisted the object"
    );
    ctx.create(
        &configmap("ghost2", json!({"a": "1"}), Value::Null),
        &["--dry-run=server"],
    )?;
    check!(
        ctx.gone("configmap", "ghost2")?,
        "create --dry-run=server persisted the object"
    );
    ctx.apply(&configmap("real", json!({"a": "1"}), Value::Null), &[])?;
    ctx.ok(&[
        "patch",
        "configmap",
        "real",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"changed"}}"#,
        "--dry-run=server",
    ])?;
    ctx.apply(
        &configmap("real", json!({"a": "applied"}), Value::Null),
        &["--dry-run=server"],
    )?;
    eq(
        s(&ctx.must_get("configmap", "real")?, "/data/a"),
        "1",
        "data.a after dry-run patch and apply",
    )
}

/// `kubectl delete --dry-run=server` (dryRun in the DeleteOptions body) keeps the object.
fn dry_run_server_delete(ctx: &Ctx) -> Res {
    ctx.apply(&configmap("kept", json!({"a": "1"}), Value::Null), &[])?;
    let out = ctx.ok(&["delete", "configmap", "kept", "--dry-run=server"])?;
    check!(
        out.out.contains("server dry run"),
        "dry-run delete printed {:?}",
        one_line(&out.out)
    );
    check!(
        !ctx.gone("configmap", "kept")?,
        "delete --dry-run=server deleted the object"
    );
    Ok(())
}

/// `kubectl diff -f` exits 0 without differences, 1 with them, and changes nothing.
fn diff(ctx: &Ctx) -> Res {
    ctx.apply(&configmap("cfg", json!({"a": "1"}), Value::Null), &[])?;
    let same = ctx.run(&[
        "diff",
        "-f",
        &ctx.file(&configmap("cfg", json!({"a": "1"}), Value::Null)),
    ]);
    eq(
        same.code,
        Some(0),
        &format!("exit code with no difference ({})", same.brief()),
    )?;
    let changed = ctx.run(&[
        "diff",
        "-f",
        &ctx.file(&configmap("cfg", json!({"a": "2"}), Value::Null)),
    ]);
    eq(
        changed.code,
        Some(1),
        &format!("exit code with a difference ({})", changed.brief()),
    )?;
    check!(
        changed
            .out
            .lines()
            .any(|l| l.starts_with('+') && l.trim_start_matches('+').trim() == r#"a: "2""#),
        "diff output lacks the `+  a: \"2\"` line: {}",
        one_line(&changed.out)
    );
    let new = ctx.run(&[
        "diff",
        "-f",
        &ctx.file(&configmap("not-yet", json!({"a": "1"}), Value::Null)),
    ]);
    eq(
        new.code,
        Some(1),
        &format!("exit code for an absent object ({})", new.brief()),
    )?;
    eq(
        s(&ctx.must_get("configmap", "cfg")?, "/data/a"),
        "1",
        "data.a after kubectl diff",
    )?;
    check!(
        ctx.gone("configmap", "not-yet")?,
        "kubectl diff created the absent object"
    );
    Ok(())
}

/// `kubectl create configmap --from-literal` sends a protobuf body; the server decodes it.
fn protobuf_create_configmap(ctx: &Ctx) -> Res {
    ctx.ok(&["create", "configmap", "proto", "--from-literal=a=b"])?;
    eq(
        &ctx.must_get("configmap", "proto")?["data"],
        &json!({"a": "b"}),
        "data of the created ConfigMap",
    )
}

// ---------------------------------------------------------------- reading

#[test]
fn reading_objects() {
    run_area(
        &[
            ("get-output-formats", get_output_formats),
            ("get-label-selector", get_label_selector),
            ("get-field-selector", get_field_selector),
            ("field-selector-unknown-field", field_selector_unknown_field),
            ("get-all-namespaces", get_all_namespaces),
            ("get-chunked", get_chunked),
            ("get-watch", get_watch),
        ],
        no_setup,
    );
}

/// `kubectl get` -o json|yaml|jsonpath|name on an object and a list.
fn get_output_formats(ctx: &Ctx) -> Res {
    ctx.apply(
        &configmap("shown", json!({"a": "1"}), json!({"fmt": "yes"})),
        &[],
    )?;
    let obj = ctx.must_get("configmap", "shown")?;
    eq(
        (s(&obj, "/apiVersion"), s(&obj, "/kind")),
        ("v1", "ConfigMap"),
        "apiVersion/kind",
    )?;
    eq(
        s(&obj, "/metadata/namespace"),
        ctx.ns.as_str(),
        "metadata.namespace",
    )?;
    let created = s(&obj, "/metadata/creationTimestamp");
    check!(
        created.len() >= 20
            && created.ends_with('Z')
            && created.as_bytes()[10] == b'T'
            && created.parse::<k8s_openapi::jiff::Timestamp>().is_ok(),
        "creationTimestamp {created:?} is not RFC 3339 UTC"
    );
    let yaml = ctx.ok(&["get", "configmap", "shown", "-o", "yaml"])?.out;
    for needle in ["kind: ConfigMap", "name: shown", "a: \"1\""] {
        check!(yaml.contains(needle), "-o yaml lacks {needle:?}");
    }
    eq(
        ctx.ok(&["get", "configmap", "shown", "-o", "jsonpath={.data.a}"])?
            .out
            .as_str(),
        "1",
        "-o jsonpath",
    )?;
    eq(
        ctx.ok(&["get", "configmap", "shown", "-o", "name"])?
            .out
            .trim(),
        "configmap/shown",
        "-o name",
    )?;
    let list = ctx
        .ok(&["get", "configmaps", "-l", "fmt=yes", "-o", "json"])?
        .json()?;
    eq(
        s(&list, "/kind"),
        "List",
        "kind of `get configmaps -o json`",
    )?;
    let names: Vec<&str> = list["items"]
        .as_array()
        .map(|a| a.iter().map(|i| s(i, "/metadata/name")).collect())
        .unwrap_or_default();
    eq(names, vec!["shown"], "listed names")
}

fn selector_fixture(ctx: &Ctx) -> Res {
    ctx.apply(
        &configmap("s1", Value::Null, json!({"a": "b", "c": "d"})),
        &[],
    )?;
    ctx.apply(
        &configmap("s2", Value::Null, json!({"a": "b", "c": "e"})),
        &[],
    )?;
    ctx.apply(&configmap("s3", Value::Null, json!({"a": "x"})), &[])?;
    Ok(())
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Label selectors: =, !=, in, exists, !exists, and an empty result.
fn get_label_selector(ctx: &Ctx) -> Res {
    selector_fixture(ctx)?;
    for (selector, want) in [
        ("a=b,c!=d", set(&["s2"])),
        ("a=b", set(&["s1", "s2"])),
        ("a in (b,x)", set(&["s1", "s2", "s3"])),
        ("a,!c", set(&["s3"])),
        ("a=nomatch", set(&[])),
    ] {
        eq(
            ctx.names(&["configmaps", "-l", selector])?,
            want,
            &format!("names for -l {selector:?}"),
        )?;
    }
    Ok(())
}

/// Field selectors on metadata.name and metadata.namespace (=, ==, !=).
fn get_field_selector(ctx: &Ctx) -> Res {
    selector_fixture(ctx)?;
    eq(
        ctx.names(&["configmaps", "--field-selector", "metadata.name=s2"])?,
        set(&["s2"]),
        "metadata.name=s2",
    )?;
    eq(
        ctx.names(&["configmaps", "--field-selector", "metadata.name==s3"])?,
        set(&["s3"]),
        "metadata.name==s3",
    )?;
    eq(
        ctx.names(&[
            "configmaps",
            "-l",
            "a",
            "--field-selector",
            "metadata.name!=s2",
        ])?,
        set(&["s1", "s3"]),
        "metadata.name!=s2 with -l a",
    )?;
    let by_ns = format!("metadata.namespace={}", ctx.ns);
    eq(
        ctx.names(&["configmaps", "-l", "a", "--field-selector", &by_ns])?,
        set(&["s1", "s2", "s3"]),
        "metadata.namespace=<ns>",
    )
}

/// An unsupported field selector is rejected (400), not matched against nothing.
fn field_selector_unknown_field(ctx: &Ctx) -> Res {
    ctx.apply(&configmap("s1", Value::Null, Value::Null), &[])?;
    ctx.fails(
        &[
            "get",
            "configmaps",
            "--field-selector",
            "spec.noSuchField=x",
        ],
        &["field label not supported", "BadRequest"],
    )?;
    Ok(())
}

/// `kubectl get -A` lists a namespaced kind across namespaces.
fn get_all_namespaces(ctx: &Ctx) -> Res {
    let other = "conf-allns-other";
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}});
    ctx.ok_cluster(&["apply", "-f", &ctx.file(&ns)])?;
    let labels = json!({"all-namespaces": "e2e"});
    ctx.apply(&configmap("here", Value::Null, labels.clone()), &[])?;
    let there = ctx.file(&configmap("there", Value::Null, labels));
    ctx.ok_cluster(&["apply", "-f", &there, "-n", other])?;
    let list = ctx
        .ok_cluster(&[
            "get",
            "configmaps",
            "-A",
            "-l",
            "all-namespaces=e2e",
            "-o",
            "json",
        ])?
        .json()?;
    let got: BTreeSet<(String, String)> = list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        s(i, "/metadata/namespace").to_owned(),
                        s(i, "/metadata/name").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let want: BTreeSet<(String, String)> = [
        (ctx.ns.clone(), "here".to_owned()),
        (other.to_owned(), "there".to_owned()),
    ]
    .into();
    eq(got, want, "(namespace, name) pairs from -A")
}

/// `kubectl get --chunk-size=2` follows continue tokens and returns every item.
fn get_chunked(ctx: &Ctx) -> Res {
    for i in 0..5 {
        ctx.apply(
            &configmap(&format!("c{i}"), Value::Null, json!({"chunk": "yes"})),
            &[],
        )?;
    }
    eq(
        ctx.names(&["configmaps", "-l", "chunk=yes", "--chunk-size=2"])?,
        set(&["c0", "c1", "c2", "c3", "c4"]),
        "names listed in chunks of 2",
    )
}

/// `kubectl get -w` shows the listed object, then ADDED and MODIFIED events from the watch.
fn get_watch(ctx: &Ctx) -> Res {
    ctx.apply(
        &configmap("w1", json!({"a": "1"}), json!({"watched": "yes"})),
        &[],
    )?;
    let mut bg = ctx.start(&[
        "get",
        "configmaps",
        "-l",
        "watched=yes",
        "-w",
        "--output-watch-events",
        "-o",
        "json",
        "--request-timeout=90s",
    ]);
    let events = |bg: &Background| -> Vec<(String, String, String)> {
        json_stream(&bg.out())
            .iter()
            .map(|e| {
                (
                    s(e, "/type").to_owned(),
                    s(e, "/object/metadata/name").to_owned(),
                    s(e, "/object/data/a").to_owned(),
                )
            })
            .collect()
    };
    let ev = |t: &str, n: &str, a: &str| (t.to_owned(), n.to_owned(), a.to_owned());
    let mut await_events = |what: &str, wanted: Vec<(String, String, String)>| -> Res {
        ctx.eventually(what, || {
            let seen = events(&bg);
            if wanted.iter().all(|w| seen.contains(w)) {
                return Ok(Some(()));
            }
            check!(bg.running(), "`get -w` exited before {what}");
            Ok(None)
        })
    };
    await_events(
        "the ADDED event of the listed w1",
        vec![ev("ADDED", "w1", "1")],
    )?;
    ctx.apply(
        &configmap("w2", json!({"a": "9"}), json!({"watched": "yes"})),
        &[],
    )?;
    ctx.ok(&[
        "patch",
        "configmap",
        "w1",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"a":"2"}}"#,
    ])?;
    await_events(
        "ADDED w2 and MODIFIED w1 from the watch",
        vec![ev("ADDED", "w2", "9"), ev("MODIFIED", "w1", "2")],
    )?;
    let seen = events(&bg);
    let added = seen.iter().position(|e| *e == ev("ADDED", "w1", "1"));
    let modified = seen.iter().position(|e| *e == ev("MODIFIED", "w1", "2"));
    check!(added < modified, "events out of order: {seen:?}");
    Ok(())
}

// ---------------------------------------------------------------- patching

#[test]
fn patching_labels_and_status() {
    run_area(
        &[
            ("patch-merge", patch_merge),
            ("patch-json", patch_json),
            ("patch-strategic-builtin", patch_strategic_builtin),
            ("patch-strategic-cr-rejected", patch_strategic_cr_rejected),
            ("status-subresource", status_subresource),
            ("generation", generation),
            ("label-annotate", label_annotate),
        ],
        widgets_setup,
    );
}

/// `kubectl patch --type merge` (RFC 7386: null deletes, maps merge).
fn patch_merge(ctx: &Ctx) -> Res {
    ctx.apply(
        &configmap("m", json!({"a": "1", "b": "2"}), Value::Null),
        &[],
    )?;
    let out = ctx.ok(&[
        "patch",
        "configmap",
        "m",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"b":null,"c":"3"},"metadata":{"labels":{"x":"y"}}}"#,
    ])?;
    check!(
        out.out.contains("patched"),
        "merge patch printed {:?}",
        one_line(&out.out)
    );
    let live = ctx.must_get("configmap", "m")?;
    eq(
        &live["data"],
        &json!({"a": "1", "c": "3"}),
        "data after merge patch",
    )?;
    eq(
        s(&live, "/metadata/labels/x"),
        "y",
        "label added by merge patch",
    )
}

/// `kubectl patch --type json`: test/replace/add/remove, a failing test, test of a missing path.
fn patch_json(ctx: &Ctx) -> Res {
    ctx.apply(
        &configmap("j", json!({"a": "1", "b": "2"}), Value::Null),
        &[],
    )?;
    let patch = |ops: Value| ops.to_string();
    ctx.ok(&[
        "patch",
        "configmap",
        "j",
        "--type",
        "json",
        "-p",
        &patch(json!([
            {"op": "test", "path": "/data/a", "value": "1"},
            {"op": "replace", "path": "/data/a", "value": "2"},
            {"op": "add", "path": "/data/d", "value": "4"},
            {"op": "remove", "path": "/data/b"}])),
    ])?;
    eq(
        &ctx.must_get("configmap", "j")?["data"],
        &json!({"a": "2", "d": "4"}),
        "data after JSON patch",
    )?;
    ctx.fails(
        &[
            "patch",
            "configmap",
            "j",
            "--type",
            "json",
            "-p",
            &patch(json!([
                {"op": "test", "path": "/data/a", "value": "999"},
                {"op": "replace", "path": "/data/a", "value": "3"}])),
        ],
        &[],
    )?;
    eq(
        s(&ctx.must_get("configmap", "j")?, "/data/a"),
        "2",
        "data.a after a failed test op",
    )?;
    // kube-runtime's finalizer(): `test` of an absent field against null must succeed.
    ctx.ok(&[
        "patch",
        "configmap",
        "j",
        "--type",
        "json",
        "-p",
        &patch(json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [HOLD]}])),
    ])?;
    eq(
        &ctx.must_get("configmap", "j")?["metadata"]["finalizers"],
        &json!([HOLD]),
        "finalizers after test-null + add",
    )?;
    ctx.ok(&[
        "patch",
        "configmap",
        "j",
        "--type",
        "json",
        "-p",
        &patch(json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": HOLD},
            {"op": "remove", "path": "/metadata/finalizers/0"}])),
    ])?;
    let finalizers = ctx.must_get("configmap", "j")?["metadata"]["finalizers"].clone();
    check!(
        finalizers.is_null() || finalizers == json!([]),
        "finalizer not removed: {finalizers}"
    );
    Ok(())
}

/// Default (strategic merge) patch of a Pod merges the containers list by name.
fn patch_strategic_builtin(ctx: &Ctx) -> Res {
    ctx.pod("smp", &["main", "side"])?;
    ctx.ok(&[
        "patch",
        "pod",
        "smp",
        "-p",
        r#"{"spec":{"containers":[{"name":"side","image":"busybox:1.37"}]}}"#,
    ])?;
    let pod = ctx.must_get("pod", "smp")?;
    let containers: Vec<(&str, &str)> = pod["spec"]["containers"]
        .as_array()
        .map(|a| a.iter().map(|c| (s(c, "/name"), s(c, "/image"))).collect())
        .unwrap_or_default();
    eq(
        containers,
        vec![("main", "busybox:1.36"), ("side", "busybox:1.37")],
        "containers after strategic merge patch",
    )
}

/// A strategic merge patch (kubectl's default type) on a custom resource gets 415.
fn patch_strategic_cr_rejected(ctx: &Ctx) -> Res {
    let kind = Kind::widgets();
    ctx.apply(&kind.instance("smp", 1), &[])?;
    ctx.fails(
        &[
            "patch",
            &kind.resource(),
            "smp",
            "-p",
            r#"{"spec":{"size":2}}"#,
        ],
        &["UnsupportedMediaType", "unknown format", "not supported"],
    )?;
    eq(
        &ctx.must_get(&kind.resource(), "smp")?["spec"]["size"],
        &json!(1),
        "spec.size after the refused patch",
    )
}

/// `patch --subresource=status` changes only status; the main resource ignores status.
fn status_subresource(ctx: &Ctx) -> Res {
    let r = Kind::widgets().resource();
    ctx.apply(&Kind::widgets().instance("st", 1), &[])?;
    let status_patch = |body: &str| {
        ctx.ok(&[
            "patch",
            &r,
            "st",
            "--subresource=status",
            "--type",
            "merge",
            "-p",
            body,
        ])
    };
    status_patch(r#"{"status":{"phase":"Ready"}}"#)?;
    eq(
        s(&ctx.must_get(&r, "st")?, "/status/phase"),
        "Ready",
        "status.phase after status patch",
    )?;
    ctx.ok(&[
        "patch",
        &r,
        "st",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":2},"status":{"phase":"Hacked"}}"#,
    ])?;
    let live = ctx.must_get(&r, "st")?;
    eq(
        &live["spec"]["size"],
        &json!(2),
        "spec.size after a main-resource patch",
    )?;
    eq(
        s(&live, "/status/phase"),
        "Ready",
        "status.phase after a main-resource patch that set it",
    )?;
    status_patch(r#"{"spec":{"size":99},"status":{"phase":"Done"}}"#)?;
    let live = ctx.must_get(&r, "st")?;
    eq(
        s(&live, "/status/phase"),
        "Done",
        "status.phase after a second status patch",
    )?;
    eq(
        &live["spec"]["size"],
        &json!(2),
        "spec.size after a status patch that set it",
    )?;
    let sub = ctx
        .ok(&["get", &r, "st", "--subresource=status", "-o", "json"])?
        .json()?;
    eq(
        s(&sub, "/status/phase"),
        "Done",
        "status.phase from `get --subresource=status`",
    )
}

/// metadata.generation: 1 on create, +1 on spec changes, unchanged by metadata or status.
fn generation(ctx: &Ctx) -> Res {
    let r = Kind::widgets().resource();
    ctx.apply(&Kind::widgets().instance("gen", 1), &[])?;
    let generation =
        || -> Res<Value> { Ok(ctx.must_get(&r, "gen")?["metadata"]["generation"].clone()) };
    eq(generation()?, json!(1), "generation after create")?;
    ctx.ok(&["label", &r, "gen", "touched=yes"])?;
    eq(generation()?, json!(1), "generation after a label change")?;
    ctx.ok(&[
        "patch",
        &r,
        "gen",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"size":5}}"#,
    ])?;
    eq(generation()?, json!(2), "generation after a spec change")?;
    ctx.ok(&[
        "patch",
        &r,
        "gen",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ])?;
    eq(generation()?, json!(2), "generation after a status change")
}

/// `kubectl label`/`annotate`: add, refuse to overwrite, --overwrite, remove with `key-`.
fn label_annotate(ctx: &Ctx) -> Res {
    ctx.apply(&configmap("lab", Value::Null, Value::Null), &[])?;
    let meta = |field: &str| -> Res<Value> {
        Ok(ctx.must_get("configmap", "lab")?["metadata"][field].clone())
    };
    check!(
        ctx.ok(&["label", "configmap", "lab", "env=dev"])?
            .out
            .contains("labeled"),
        "label did not report `labeled`"
    );
    eq(meta("labels")?["env"].clone(), json!("dev"), "label env")?;
    ctx.fails(&["label", "configmap", "lab", "env=prod"], &["overwrite"])?;
    ctx.ok(&["label", "configmap", "lab", "env=prod", "--overwrite"])?;
    eq(
        meta("labels")?["env"].clone(),
        json!("prod"),
        "label env after --overwrite",
    )?;
    ctx.ok(&["label", "configmap", "lab", "env-"])?;
    check!(
        meta("labels")?.get("env").is_none(),
        "label env not removed by `env-`"
    );
    check!(
        ctx.ok(&["annotate", "configmap", "lab", "note=hi"])?
            .out
            .contains("annotated"),
        "annotate did not report `annotated`"
    );
    eq(
        meta("annotations")?["note"].clone(),
        json!("hi"),
        "annotation note",
    )?;
    ctx.ok(&["annotate", "configmap", "lab", "note-"])?;
    check!(
        meta("annotations")?.get("note").is_none(),
        "annotation note not removed by `note-`"
    );
    Ok(())
}

// ---------------------------------------------------------------- deletion

#[test]
fn deletion_finalizers_and_garbage_collection() {
    run_area(
        &[
            ("delete-f-and-wait", delete_f_and_wait),
            ("finalizer-held-delete", finalizer_held_delete),
            ("gc-background", gc_background),
            ("gc-foreground", gc_foreground),
            (
                "gc-foreground-waits-for-dependents",
                gc_foreground_waits_for_dependents,
            ),
            ("gc-orphan", gc_orphan),
            ("namespace-delete-cascades", namespace_delete_cascades),
        ],
        no_setup,
    );
}

const WAIT_TIMEOUT: &str = "--timeout=30s";

/// `kubectl delete -f` and `delete --wait` remove objects; NotFound and --ignore-not-found.
fn delete_f_and_wait(ctx: &Ctx) -> Res {
    let path = ctx.file(&configmap("doomed", json!({"a": "1"}), Value::Null));
    ctx.ok(&["apply", "-f", &path])?;
    check!(
        ctx.ok(&["delete", "-f", &path])?.out.contains("deleted"),
        "delete -f did not report `deleted`"
    );
    check!(
        ctx.gone("configmap", "doomed")?,
        "object still exists after `kubectl delete -f`"
    );
    ctx.fails(&["get", "configmap", "doomed"], &["NotFound", "not found"])?;
    ctx.fails(&["delete", "-f", &path], &["NotFound", "not found"])?;
    ctx.ok(&["delete", "-f", &path, "--ignore-not-found"])?;
    ctx.apply(&configmap("doomed2", Value::Null, Value::Null), &[])?;
    ctx.ok(&[
        "delete",
        "configmap",
        "doomed2",
        "--wait=true",
        WAIT_TIMEOUT,
    ])?;
    check!(
        ctx.gone("configmap", "doomed2")?,
        "object still exists after `kubectl delete --wait`"
    );
    Ok(())
}

/// A finalizer keeps a deleted object (deletionTimestamp set) until a patch removes it.
fn finalizer_held_delete(ctx: &Ctx) -> Res {
    let mut held = configmap("held", json!({"a": "1"}), Value::Null);
    held["metadata"]["finalizers"] = json!([HOLD]);
    ctx.apply(&held, &[])?;
    let mut deleting = ctx.start(&["delete", "configmap", "held", WAIT_TIMEOUT]);
    let live = ctx.eventually("deletionTimestamp on the held object", || {
        Ok(ctx
            .get("configmap", "held")?
            .filter(|o| !s(o, "/metadata/deletionTimestamp").is_empty()))
    })?;
    eq(
        &live["metadata"]["finalizers"],
        &json!([HOLD]),
        "finalizers while terminating",
    )?;
    let mut waiting = ctx.start(&["wait", "--for=delete", "configmap/held", WAIT_TIMEOUT]);
    std::thread::sleep(Duration::from_secs(1));
    check!(
        ctx.get("configmap", "held")?.is_some(),
        "object vanished although its finalizer is still set"
    );
    check!(
        deleting.running(),
        "`kubectl delete` returned before the finalizer was removed"
    );
    ctx.ok(&[
        "patch",
        "configmap",
        "held",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])?;
    for bg in [&mut deleting, &mut waiting] {
        let out = bg.finish(TIMEOUT + Duration::from_secs(10));
        check!(out.code == Some(0), "{}", out.brief());
    }
    check!(
        ctx.gone("configmap", "held")?,
        "object still exists after its finalizer was removed"
    );
    Ok(())
}

fn owner_with_dependent(ctx: &Ctx, block: bool, dependent_finalizer: bool) -> Res<Value> {
    ctx.apply(&configmap("owner", Value::Null, Value::Null), &[])?;
    let owner = ctx.must_get("configmap", "owner")?;
    let mut dependent = configmap("dependent", Value::Null, Value::Null);
    dependent["metadata"]["ownerReferences"] = json!([owner_ref(&owner, block)]);
    if dependent_finalizer {
        dependent["metadata"]["finalizers"] = json!([HOLD]);
    }
    ctx.apply(&dependent, &[])?;
    Ok(owner)
}

/// Deleting an owner garbage-collects dependents whose owners are all gone.
fn gc_background(ctx: &Ctx) -> Res {
    let owner = owner_with_dependent(ctx, false, false)?;
    ctx.apply(&configmap("second-owner", Value::Null, Value::Null), &[])?;
    let second = ctx.must_get("configmap", "second-owner")?;
    let mut shared = configmap("shared", Value::Null, Value::Null);
    shared["metadata"]["ownerReferences"] =
        json!([owner_ref(&owner, false), owner_ref(&second, false)]);
    ctx.apply(&shared, &[])?;
    ctx.ok(&["delete", "configmap", "owner"])?;
    ctx.eventually("the dependent to be garbage-collected", || {
        Ok(ctx.gone("configmap", "dependent")?.then_some(()))
    })?;
    check!(
        ctx.get("configmap", "shared")?.is_some(),
        "a dependent with a remaining owner was garbage-collected"
    );
    let second_uid = json!([second["metadata"]["uid"]]);
    ctx.eventually(
        "the dangling ownerReference to leave the shared dependent",
        || {
            let refs: Vec<Value> =
                ctx.must_get("configmap", "shared")?["metadata"]["ownerReferences"]
                    .as_array()
                    .map(|a| a.iter().map(|r| r["uid"].clone()).collect())
                    .unwrap_or_default();
            Ok((Value::Array(refs) == second_uid).then_some(()))
        },
    )
}

/// `kubectl delete --cascade=foreground` returns when the owner is gone; the dependent follows.
fn gc_foreground(ctx: &Ctx) -> Res {
    owner_with_dependent(ctx, true, false)?;
    ctx.ok(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=foreground",
        WAIT_TIMEOUT,
    ])?;
    check!(
        ctx.gone("configmap", "owner")?,
        "owner still exists after `delete --cascade=foreground` returned"
    );
    ctx.eventually("the dependent to be garbage-collected", || {
        Ok(ctx.gone("configmap", "dependent")?.then_some(()))
    })
}

/// Foreground deletion keeps the owner (foregroundDeletion finalizer) until blocking
/// dependents are gone.
fn gc_foreground_waits_for_dependents(ctx: &Ctx) -> Res {
    owner_with_dependent(ctx, true, true)?;
    ctx.ok(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=foreground",
        "--wait=false",
    ])?;
    ctx.eventually("the dependent to be marked for deletion", || {
        Ok(ctx
            .get("configmap", "dependent")?
            .filter(|d| !s(d, "/metadata/deletionTimestamp").is_empty()))
    })?;
    let owner = ctx
        .get("configmap", "owner")?
        .ok_or("owner was deleted before its blocking dependent was gone")?;
    check!(
        !s(&owner, "/metadata/deletionTimestamp").is_empty(),
        "owner has no deletionTimestamp during foreground deletion"
    );
    check!(
        owner["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("foregroundDeletion"))),
        "owner finalizers {} lack foregroundDeletion",
        owner["metadata"]["finalizers"]
    );
    ctx.ok(&[
        "patch",
        "configmap",
        "dependent",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])?;
    ctx.eventually("the dependent to disappear", || {
        Ok(ctx.gone("configmap", "dependent")?.then_some(()))
    })?;
    ctx.eventually("the owner to disappear after its dependent", || {
        Ok(ctx.gone("configmap", "owner")?.then_some(()))
    })
}

/// `kubectl delete --cascade=orphan` keeps the dependent and strips its ownerReference.
fn gc_orphan(ctx: &Ctx) -> Res {
    let owner = owner_with_dependent(ctx, false, false)?;
    ctx.ok(&[
        "delete",
        "configmap",
        "owner",
        "--cascade=orphan",
        WAIT_TIMEOUT,
    ])?;
    check!(
        ctx.gone("configmap", "owner")?,
        "owner still exists after `delete --cascade=orphan` returned"
    );
    let uid = owner["metadata"]["uid"].clone();
    ctx.eventually("the orphaned dependent to lose its ownerReference", || {
        let Some(d) = ctx.get("configmap", "dependent")? else {
            return Err("the orphaned dependent was deleted".into());
        };
        let refs = d["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok((!refs.iter().any(|r| r["uid"] == uid)).then_some(()))
    })
}

/// Deleting a namespace removes its content; creating in a missing namespace is NotFound.
fn namespace_delete_cascades(ctx: &Ctx) -> Res {
    let extra = "conf-ns-cascade";
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}});
    ctx.ok_cluster(&["apply", "-f", &ctx.file(&ns)])?;
    let inside = ctx.file(&configmap("inside", json!({"a": "1"}), Value::Null));
    ctx.ok_cluster(&["apply", "-f", &inside, "-n", extra])?;
    ctx.ok_cluster(&["delete", "namespace", extra, WAIT_TIMEOUT])?;
    ctx.eventually(&format!("namespace {extra} to disappear"), || {
        Ok(ctx
            .get_in("namespace", extra, false)?
            .is_none()
            .then_some(()))
    })?;
    ctx.fails_in(
        &["get", "configmap", "inside", "-n", extra],
        false,
        &["NotFound", "not found"],
    )?;
    let orphan = ctx.file(&configmap("orphan", Value::Null, Value::Null));
    ctx.fails_in(
        &["create", "-f", &orphan, "-n", "conf-ns-missing"],
        false,
        &[r#"namespaces "conf-ns-missing" not found"#, "NotFound"],
    )?;
    Ok(())
}

// ---------------------------------------------------------------- CRDs, tables, OpenAPI

#[test]
fn crds_tables_and_explain() {
    run_area(
        &[
            ("crd-established-then-cr", crd_established_then_cr),
            ("crd-delete-unregisters", crd_delete_unregisters),
            ("table-crd-printer-columns", table_crd_printer_columns),
            ("table-builtin-pods", table_builtin_pods),
            ("explain-crd", explain_crd),
        ],
        widgets_setup,
    );
}

/// A CRD applied at run time becomes Established (`kubectl wait`) and its kind is usable.
fn crd_established_then_cr(ctx: &Ctx) -> Res {
    let kind = Kind::new("gizmos", "Gizmo", "gzm");
    let out = ctx.ok_cluster(&["apply", "-f", &ctx.file(&kind.crd())])?;
    check!(
        out.out.contains("created"),
        "CRD apply printed {:?}",
        one_line(&out.out)
    );
    let crd = format!("crd/{}", kind.resource());
    let out = ctx.ok_cluster(&["wait", "--for=condition=Established", &crd, WAIT_TIMEOUT])?;
    check!(
        out.out.contains("condition met"),
        "kubectl wait printed {:?}",
        one_line(&out.out)
    );
    let file = ctx.file(&kind.instance("g1", 3));
    let out = ctx.retry_ok("`kubectl apply` of a Gizmo", &["apply", "-f", &file])?;
    check!(
        out.out.contains("created"),
        "CR apply printed {:?}",
        one_line(&out.out)
    );
    eq(
        ctx.names(&[&kind.plural])?,
        set(&["g1"]),
        "names from `kubectl get gizmos`",
    )?;
    eq(
        ctx.ok(&["get", &kind.short, "g1", "-o", "jsonpath={.spec.size}"])?
            .out
            .as_str(),
        "3",
        "spec.size via the short name",
    )?;
    let obj = ctx.must_get(&kind.resource(), "g1")?;
    eq(
        (s(&obj, "/apiVersion"), s(&obj, "/kind")),
        ("conformance.example.com/v1", "Gizmo"),
        "CR apiVersion/kind",
    )
}

/// Deleting a CRD removes its kind from discovery and its objects from storage.
fn crd_delete_unregisters(ctx: &Ctx) -> Res {
    let kind = Kind::new("doodads", "Doodad", "ddd");
    kind.create(ctx)?;
    ctx.apply(&kind.instance("d1", 1), &[])?;
    ctx.ok_cluster(&["delete", "crd", &kind.resource(), WAIT_TIMEOUT])?;
    ctx.eventually("doodads to leave `kubectl api-resources`", || {
        let out = ctx.ok_cluster(&[
            "api-resources",
            &format!("--api-group={GROUP}"),
            "-o",
            "name",
        ])?;
        Ok((!out.out.split_whitespace().any(|n| n == kind.resource())).then_some(()))
    })?;
    ctx.fails(
        &["get", &kind.resource()],
        &["doesn't have a resource type", "the server could not find"],
    )?;
    // The objects went with the CRD: defining the kind again must not bring d1 back.
    kind.create(ctx)?;
    check!(
        ctx.gone(&kind.resource(), "d1")?,
        "Doodad d1 survived the deletion of its CRD"
    );
    Ok(())
}

/// `kubectl get` of a custom resource shows the CRD's additionalPrinterColumns.
fn table_crd_printer_columns(ctx: &Ctx) -> Res {
    let r = Kind::widgets().resource();
    ctx.apply(&Kind::widgets().instance("tab", 7), &[])?;
    ctx.ok(&[
        "patch",
        &r,
        "tab",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"phase":"Ready"}}"#,
    ])?;
    let (header, rows) = parse_table(&ctx.ok(&["get", &r])?.out);
    for col in ["NAME", "SIZE", "PHASE"] {
        check!(
            header.iter().any(|h| h == col),
            "columns {header:?} lack {col}"
        );
    }
    let row = rows
        .iter()
        .find(|r| r["NAME"] == "tab")
        .ok_or("row for `tab` missing")?;
    eq(
        (row["SIZE"].as_str(), row["PHASE"].as_str()),
        ("7", "Ready"),
        "SIZE/PHASE cells",
    )
}

/// `kubectl get pods` shows NAME READY STATUS RESTARTS AGE for an unscheduled Pod.
fn table_builtin_pods(ctx: &Ctx) -> Res {
    ctx.pod("tabular", &["main"])?;
    let (header, rows) = parse_table(&ctx.ok(&["get", "pods"])?.out);
    eq(
        header.iter().map(String::as_str).collect::<Vec<_>>(),
        vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "pod columns",
    )?;
    let row = rows
        .iter()
        .find(|r| r["NAME"] == "tabular")
        .ok_or("row for pod `tabular` missing")?;
    eq(
        (row["READY"].as_str(), row["STATUS"].as_str()),
        ("0/1", "Pending"),
        "READY/STATUS cells",
    )
}

/// `kubectl explain` shows a CRD's field docs from the OpenAPI v3 schema the server publishes.
fn explain_crd(ctx: &Ctx) -> Res {
    let index = ctx.ok_cluster(&["get", "--raw", "/openapi/v3"])?.json()?;
    let url = s(
        &index,
        &format!("/paths/apis~1{GROUP}~1v1/serverRelativeURL"),
    )
    .to_owned();
    check!(!url.is_empty(), "/openapi/v3 lists no apis/{GROUP}/v1");
    let doc = ctx.ok_cluster(&["get", "--raw", &url])?.json()?;
    let has_size = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
        .any(|schema| {
            schema["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|g| {
                    g.iter()
                        .any(|g| g["group"] == GROUP && g["kind"] == "Widget")
                })
                && !at(schema, "/properties/spec/properties/size").is_null()
        });
    check!(has_size, "OpenAPI v3 has no Widget schema with spec.size");
    let out = ctx.ok_cluster(&[
        "explain",
        "widgets.spec",
        &format!("--api-version={GROUP}/v1"),
    ])?;
    for needle in ["size", "<integer>", "Number of cogs in the widget."] {
        check!(
            out.out.contains(needle),
            "`kubectl explain widgets.spec` lacks {needle:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- pods, nodes, events

#[test]
fn pods_nodes_and_events() {
    run_area(
        &[
            ("pod-pending-then-binding", pod_pending_then_binding),
            ("describe-pod-events", describe_pod_events),
            ("events-field-selector", events_field_selector),
            ("events-dual-view", events_dual_view),
        ],
        no_setup,
    );
}

/// An unscheduled Pod is Pending; a pods/binding POST sets spec.nodeName and PodScheduled.
fn pod_pending_then_binding(ctx: &Ctx) -> Res {
    let node = ctx.node("conf-node")?;
    let pod = ctx.pod("bindme", &["main"])?;
    eq(s(&pod, "/status/phase"), "Pending", "phase of a new Pod")?;
    check!(
        s(&pod, "/spec/nodeName").is_empty(),
        "a new Pod already has nodeName {}",
        pod["spec"]["nodeName"]
    );
    let mut waiting = ctx.start(&[
        "wait",
        "--for=condition=PodScheduled",
        "pod/bindme",
        WAIT_TIMEOUT,
    ]);
    // Let kubectl wait reach its watch, so the change arrives as an event.
    std::thread::sleep(Duration::from_secs(1));
    let binding = ctx.file(&json!({"apiVersion": "v1", "kind": "Binding",
        "metadata": {"name": "bindme"}, "target": {"apiVersion": "v1", "kind": "Node", "name": node}}));
    let raw = format!("/api/v1/namespaces/{}/pods/bindme/binding", ctx.ns);
    ctx.ok_cluster(&["create", "--raw", &raw, "-f", &binding])?;
    let live = ctx.must_get("pod", "bindme")?;
    eq(
        s(&live, "/spec/nodeName"),
        node.as_str(),
        "spec.nodeName after binding",
    )?;
    let scheduled = live["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "PodScheduled"))
        .cloned()
        .unwrap_or(Value::Null);
    eq(
        s(&scheduled, "/status"),
        "True",
        "PodScheduled condition after binding",
    )?;
    let out = waiting.finish(TIMEOUT + Duration::from_secs(10));
    check!(out.code == Some(0), "{}", out.brief());
    ctx.fails_in(
        &["create", "--raw", &raw, "-f", &binding],
        false,
        &["already assigned", "Conflict", "already exists"],
    )?;
    eq(
        ctx.names(&["pods", "--field-selector", &format!("spec.nodeName={node}")])?,
        set(&["bindme"]),
        "pods with spec.nodeName=<node>",
    )
}

/// `kubectl describe pod` exits 0 and shows an Event about the Pod in its Events section.
fn describe_pod_events(ctx: &Ctx) -> Res {
    let pod = ctx.pod("described", &["main"])?;
    let involved = json!({"apiVersion": "v1", "kind": "Pod", "name": "described",
                          "namespace": ctx.ns, "uid": pod["metadata"]["uid"]});
    ctx.create(
        &core_event(
            "described.e2e",
            involved,
            "ConformanceCheck",
            "hello from the e2e suite",
            "Normal",
        ),
        &[],
    )?;
    let out = ctx.ok(&["describe", "pod", "described"])?.out;
    check!(
        out.lines()
            .any(|l| l.starts_with("Name:") && l.trim_end().ends_with(" described")),
        "describe output lacks `Name: described`"
    );
    let events = out
        .find("Events:")
        .map(|i| &out[i..])
        .ok_or("describe output has no Events section")?;
    for needle in ["ConformanceCheck", "hello from the e2e suite"] {
        check!(events.contains(needle), "Events section lacks {needle:?}");
    }
    Ok(())
}

/// `kubectl get events --field-selector involvedObject.name=…|type=…|reason=…`.
fn events_field_selector(ctx: &Ctx) -> Res {
    let about = |name: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": name, "namespace": ctx.ns});
    ctx.create(
        &core_event("e-alpha", about("alpha"), "Alpha", "about alpha", "Normal"),
        &[],
    )?;
    ctx.create(
        &core_event("e-beta", about("beta"), "Beta", "about beta", "Warning"),
        &[],
    )?;
    for (selector, want, unwanted) in [
        ("involvedObject.name=alpha", "e-alpha", "e-beta"),
        ("type=Warning", "e-beta", "e-alpha"),
        (
            "involvedObject.kind=ConfigMap,reason=Beta",
            "e-beta",
            "e-alpha",
        ),
    ] {
        let got = ctx.names(&["events", "--field-selector", selector])?;
        check!(
            got.contains(want) && !got.contains(unwanted),
            "--field-selector {selector} listed {got:?}"
        );
    }
    Ok(())
}

/// An events.k8s.io/v1 Event is listed as a core/v1 Event and vice versa: one store, two views.
fn events_dual_view(ctx: &Ctx) -> Res {
    let target =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "target", "namespace": ctx.ns});
    ctx.create(
        &json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "modern"},
            "eventTime": now(true), "reportingController": format!("{GROUP}/e2e"),
            "reportingInstance": "e2e-1", "action": "Check", "reason": "DualView",
            "note": "written as events.k8s.io/v1", "type": "Normal", "regarding": target}),
        &[],
    )?;
    let list = ctx
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=target",
            "-o",
            "json",
        ])?
        .json()?;
    let core = list["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| s(i, "/metadata/name") == "modern"))
        .ok_or("the events.k8s.io/v1 Event is not listed by `kubectl get events` (core/v1)")?;
    eq(
        (s(core, "/reason"), s(core, "/message")),
        ("DualView", "written as events.k8s.io/v1"),
        "core view reason/message",
    )?;
    ctx.create(
        &core_event("legacy", target, "Legacy", "written as core/v1", "Normal"),
        &[],
    )?;
    let new = ctx
        .get("events.events.k8s.io", "legacy")?
        .ok_or("the core/v1 Event is not readable as events.events.k8s.io")?;
    eq(
        (s(&new, "/regarding/name"), s(&new, "/note")),
        ("target", "written as core/v1"),
        "events.k8s.io view regarding.name/note",
    )
}
