//! A deterministic mutation fuzzer for AdmissionReview bodies, shared by the CI test (small
//! count) and the `fuzz_reviews` bench binary (≥ 1,000,000). Seeds are valid reviews of every
//! kind and operation; each case mutates one seed structurally (replace, delete, insert,
//! duplicate JSON nodes with hostile values) or byte-wise (flip, insert, delete, truncate).
//! The invariant: parsing and deciding never panic, and every answer is a well-formed review
//! echoing the uid, or a 400-style error with a reason.

use serde_json::{Value, json};
use webhooks::admit::{Route, decide};
use webhooks::review::parse;
use webhooks::state::ClusterState;

/// xorshift64*: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn envelope(kind: &str, op: &str, object: Value, old: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "fuzz-uid", "kind": {"group": "", "version": "", "kind": kind},
                    "name": object.pointer("/metadata/name").cloned().unwrap_or(json!("x")),
                    "namespace": "default", "operation": op, "object": object, "oldObject": old}
    })
}

/// Valid reviews of every kind and operation.
pub fn seeds() -> Vec<Value> {
    let job = json!({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "train"},
    "spec": {"queue": "team-a", "minAvailable": 3, "schedulerName": "volcano", "maxRetry": 3,
        "plugins": {"mpi": ["--master=master"], "env": []},
        "policies": [{"event": "PodEvicted", "action": "RestartJob"}, {"exitCode": 3, "action": "AbortJob"}],
        "volumes": [{"mountPath": "/data", "volumeClaimName": "data"}],
        "networkTopology": {"mode": "hard", "highestTierAllowed": 1},
        "tasks": [
            {"name": "master", "replicas": 1, "template": {"spec": {"containers": [{"name": "m", "image": "x:1",
                "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"nvidia.com/gpu": "8"}}}]}}},
            {"name": "worker", "replicas": 4, "minAvailable": 2, "dependsOn": {"name": ["master"]},
             "topologyPolicy": "best-effort", "partitionPolicy": {"totalPartitions": 2, "partitionSize": 2, "minPartitions": 1},
             "policies": [{"events": ["PodFailed"], "action": "RestartTask"}],
             "template": {"spec": {"hostNetwork": true, "initContainers": [{"name": "i", "image": "y"}],
                "containers": [{"name": "w", "image": "x:1", "resources": {"limits": {"nvidia.com/vgpu-memory": "4Gi", "cpu": "2"}}}]}}}
        ]}});
    let queue = json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue",
        "metadata": {"name": "q", "annotations": {"volcano.sh/hierarchy": "a/b", "volcano.sh/hierarchy-weights": "1/2"}},
        "spec": {"weight": 2, "parent": "parent", "capability": {"nvidia.com/gpu": 8, "cpu": "64"},
            "deserved": {"nvidia.com/gpu": "4"}, "guarantee": {"resource": {"nvidia.com/gpu": "2"}}},
        "status": {"state": "Open", "allocated": {"cpu": "1"}}});
    let pg = json!({"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "PodGroup", "metadata": {"name": "pg"},
        "spec": {"minMember": 2, "minTaskMember": {"a": 1}, "queue": "team-a", "minResources": {"cpu": "2"},
            "subGroupPolicy": [{"name": "s", "subGroupSize": 2, "networkTopology": {"highestTierName": "x"}}]}});
    let flow = json!({"apiVersion": "flow.volcano.sh/v1alpha1", "kind": "JobFlow", "metadata": {"name": "f"},
        "spec": {"jobRetainPolicy": "retain", "flows": [{"name": "a"}, {"name": "b", "dependsOn": {"targets": ["a"]}},
            {"name": "c", "dependsOn": {"targets": ["a", "b"]}}]}});
    let template = json!({"apiVersion": "flow.volcano.sh/v1alpha1", "kind": "JobTemplate", "metadata": {"name": "t"},
        "spec": job["spec"].clone()});
    let mut out = Vec::new();
    for (kind, obj) in [
        ("Job", &job),
        ("Queue", &queue),
        ("PodGroup", &pg),
        ("JobFlow", &flow),
        ("JobTemplate", &template),
    ] {
        out.push(envelope(kind, "CREATE", obj.clone(), Value::Null));
        out.push(envelope(kind, "UPDATE", obj.clone(), obj.clone()));
        out.push(envelope(kind, "DELETE", Value::Null, obj.clone()));
    }
    out
}

fn hostile(rng: &mut Rng) -> Value {
    match rng.below(16) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(i64::MAX),
        4 => json!(i64::MIN),
        5 => json!(1e308),
        6 => json!(""),
        7 => json!("1e99"),
        8 => json!("-5Gi"),
        9 => json!("99999999999999999999Ei"),
        10 => json!([]),
        11 => json!({}),
        12 => json!("*"),
        13 => json!("a".repeat(300)),
        14 => json!(["x", null, 3]),
        _ => json!({"name": "", "replicas": 2147483647, "minAvailable": -2147483648}),
    }
}

/// Picks a random node of `v` (by walking) and mutates it.
fn mutate_tree(v: &mut Value, rng: &mut Rng) {
    // Walk immutably to a JSON pointer, then mutate through it.
    // Mostly inside the object, where the rules are; sometimes the envelope itself.
    let start = [
        "/request/object",
        "/request/object/spec",
        "/request/oldObject",
        "/request/object/spec/tasks/1",
        "",
    ];
    let mut pointer = start[rng.below(start.len())].to_owned();
    let Some(mut node) = v.pointer(&pointer) else {
        return;
    };
    for _ in 0..rng.below(10) {
        let next = match node {
            Value::Object(m) if !m.is_empty() => {
                let k = m
                    .keys()
                    .nth(rng.below(m.len()))
                    .cloned()
                    .unwrap_or_default();
                m.get(&k)
                    .map(|n| (k.replace('~', "~0").replace('/', "~1"), n))
            }
            Value::Array(a) if !a.is_empty() => {
                let i = rng.below(a.len());
                a.get(i).map(|n| (i.to_string(), n))
            }
            _ => None,
        };
        match next {
            Some((seg, n)) if rng.below(8) != 0 => {
                pointer.push('/');
                pointer.push_str(&seg);
                node = n;
            }
            _ => break,
        }
    }
    let Some(node) = v.pointer_mut(&pointer) else {
        return;
    };
    match (rng.below(5), &mut *node) {
        (0, Value::Object(m)) if !m.is_empty() => {
            let k = m
                .keys()
                .nth(rng.below(m.len()))
                .cloned()
                .unwrap_or_default();
            m.remove(&k);
        }
        (1, Value::Object(m)) => {
            let keys = [
                "name",
                "queue",
                "replicas",
                "minAvailable",
                "tasks",
                "parent",
                "targets",
                "events",
                "capability",
            ];
            m.insert(keys[rng.below(keys.len())].to_owned(), hostile(rng));
        }
        (2, Value::Array(a)) if !a.is_empty() => {
            let dup = a[rng.below(a.len())].clone();
            a.push(dup);
        }
        _ => *node = hostile(rng),
    }
}

fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            bytes.push(b'{');
        }
        let i = rng.below(bytes.len());
        match rng.below(4) {
            0 => bytes[i] ^= 1 << rng.below(8),
            1 => bytes.insert(i, b"{}[]\",:0-e\\"[rng.below(11)]),
            2 => {
                bytes.remove(i);
            }
            _ => bytes.truncate(i),
        }
    }
}

/// Counts of what the fuzzer saw.
#[derive(Debug, Default)]
pub struct Tally {
    pub cases: u64,
    pub allowed: u64,
    pub denied: u64,
    pub bad_request: u64,
}

/// Runs `cases` generated bodies against `state`; panics (failing the caller) on a violation.
pub fn run(cases: u64, seed: u64, state: &dyn ClusterState) -> Tally {
    let seeds = seeds();
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    for case in 0..cases {
        let mut review = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            mutate_tree(&mut review, &mut rng);
        }
        let mut body = serde_json::to_vec(&review).unwrap_or_default();
        if rng.below(6) == 0 {
            mutate_bytes(&mut body, &mut rng);
        }
        let route = Route::ALL[rng.below(Route::ALL.len())];
        tally.cases += 1;
        match check(route, &body, state, case) {
            None => tally.bad_request += 1,
            Some(true) => tally.allowed += 1,
            Some(false) => tally.denied += 1,
        }
    }
    tally
}

/// One case: no panic in parse or decide (no catch_unwind here, so a panic fails the run), and
/// a well-formed answer. Returns `None` for a 400, else whether the review allowed.
fn check(route: Route, body: &[u8], state: &dyn ClusterState, case: u64) -> Option<bool> {
    match parse(body) {
        Err(e) => {
            assert!(!e.to_string().is_empty(), "case {case}: empty 400 reason");
            None
        }
        Ok(req) => {
            let verdict = decide(route, &req, state, "volcano");
            if let Some(msg) = &verdict.denied {
                assert!(!msg.is_empty(), "case {case}: denial without a message");
            }
            let uid = req.uid.clone();
            let review = verdict.into_review(&uid);
            assert_eq!(review["apiVersion"], "admission.k8s.io/v1", "case {case}");
            assert_eq!(review["response"]["uid"], uid.as_str(), "case {case}");
            assert!(review["response"]["allowed"].is_boolean(), "case {case}");
            if let Some(p) = review["response"]["patch"].as_str() {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(p)
                    .unwrap_or_default();
                let ops: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                assert!(ops.is_array(), "case {case}: patch is not a JSON array");
            }
            review["response"]["allowed"].as_bool()
        }
    }
}
