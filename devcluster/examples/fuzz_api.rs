//! A time-bounded fuzz run of the API server's write path on stable Rust, without coverage
//! guidance: structure-aware random inputs (mutated valid objects, deep nesting, JSON patches
//! with random paths, arbitrary bytes) through [`devcluster::fuzz::Target`].
//!
//! `cargo run -p basalt-devcluster --release --example fuzz_api -- [--seconds N] [--seed S]`
//!
//! Prints the number of inputs run; on a failed oracle writes the input to
//! `fuzz-failure-<seed>.bin` (replay it with the libFuzzer target in `fuzz/` or `--replay FILE`)
//! and exits 1. The coverage-guided libFuzzer target is `fuzz/fuzz_targets/api_write.rs`.

use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "null",
    "true",
    "-1",
    "1e999",
    "99999999999999999999",
    "\"metadata\"",
    "\"name\"",
    "\"spec\"",
    "\"data\"",
    "\"op\"",
    "\"path\"",
    "\"value\"",
    "\"from\"",
    "\"$patch\"",
    "\"delete\"",
    "\"replace\"",
    "\"$retainKeys\"",
    "\"\\u0000\"",
    "---\n",
    "&a [*a]",
    "!!binary",
    "k8s\u{0}",
    "\"-5Gi\"",
    "\"lots\"",
    "\"Bad_Name!\"",
];

const PATHS: &[&str] = &[
    "/metadata/name",
    "/metadata/labels/x",
    "/metadata/annotations",
    "/spec",
    "/spec/containers/0",
    "/spec/containers/-",
    "/data/a",
    "/data",
    "/metadata",
    "",
    "/",
    "/spec/tasks/0/template",
    "/metadata/finalizers/-",
    "/status",
    "/~1/~0",
    "/spec/weight",
];

fn seed(rng: &mut Rng) -> Vec<u8> {
    let samples = [
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c1","labels":{"a":"b"}},"data":{"k":"v"}}"#,
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},"spec":{"containers":[{"name":"m","image":"x","resources":{"requests":{"cpu":"1","nvidia.com/gpu":"2"}}}]}}"#,
        r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n1"}}"#,
        r#"{"apiVersion":"scheduling.volcano.sh/v1beta1","kind":"Queue","metadata":{"name":"q1"},"spec":{"weight":2,"capability":{"cpu":"4"}}}"#,
        r#"{"apiVersion":"batch.volcano.sh/v1alpha1","kind":"Job","metadata":{"name":"j1"},"spec":{"minAvailable":1,"policies":[{"event":"PodFailed","action":"RestartJob","timeout":"10s"}],"tasks":[{"name":"t","replicas":1,"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}]}}"#,
    ];
    samples[rng.below(samples.len())].as_bytes().to_vec()
}

fn json_patch(rng: &mut Rng) -> Vec<u8> {
    let ops = ["add", "remove", "replace", "move", "copy", "test", "bogus"];
    let n = 1 + rng.below(8);
    let list: Vec<String> = (0..n)
        .map(|_| {
            let path = PATHS[rng.below(PATHS.len())];
            let from = PATHS[rng.below(PATHS.len())];
            let value = match rng.below(4) {
                0 => "\"v\"".to_string(),
                1 => "{\"a\":{\"b\":[1,2,{}]}}".to_string(),
                2 => format!(
                    "{}1{}",
                    "[".repeat(rng.below(150)),
                    "]".repeat(rng.below(150))
                ),
                _ => "null".to_string(),
            };
            format!(
                r#"{{"op":"{}","path":"{path}","from":"{from}","value":{value}}}"#,
                ops[rng.below(ops.len())]
            )
        })
        .collect();
    format!("[{}]", list.join(",")).into_bytes()
}

fn mutate(rng: &mut Rng, mut data: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(6) {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(data.len() + 1);
                let f = FRAGMENTS[rng.below(FRAGMENTS.len())].as_bytes();
                data.splice(i..i, f.iter().copied());
            }
            2 if !data.is_empty() => {
                let a = rng.below(data.len());
                let b = (a + rng.below(32)).min(data.len());
                data.drain(a..b);
            }
            3 => {
                // Wrap a value in deep nesting, near or over the depth limit.
                let depth = 90 + rng.below(60);
                let mut out = b"{\"metadata\":{\"name\":\"deep\"},\"data\":".to_vec();
                out.extend(b"{\"a\":".repeat(depth));
                out.extend(b"1");
                out.extend(b"}".repeat(depth));
                out.extend(b"}");
                data = out;
            }
            4 => data.extend(std::iter::repeat_n(b'x', rng.below(64 * 1024))),
            _ => {}
        }
    }
    data
}

fn input(rng: &mut Rng) -> Vec<u8> {
    let mut data = vec![rng.next() as u8, rng.next() as u8];
    let body = match rng.below(5) {
        0 => (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
        1 => json_patch(rng),
        2 => seed(rng),
        _ => {
            let base = seed(rng);
            mutate(rng, base)
        }
    };
    data.extend(body);
    data
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed_value: u64 = arg("--seed")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    let target = match devcluster::fuzz::Target::new() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot start the dev API server: {e}");
            std::process::exit(2);
        }
    };
    if let Some(file) = arg("--replay") {
        let data = std::fs::read(&file).unwrap_or_else(|e| {
            eprintln!("cannot read {file}: {e}");
            std::process::exit(2);
        });
        target.run(&data);
        println!("{file}: no oracle failed");
        return;
    }
    let mut rng = Rng(seed_value);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut runs = 0u64;
    while Instant::now() < deadline {
        let data = input(&mut rng);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target.run(&data)));
        runs += 1;
        if result.is_err() {
            let file = format!("fuzz-failure-{seed_value}.bin");
            let _ = std::fs::write(&file, &data);
            eprintln!(
                "oracle failed after {runs} inputs (seed {seed_value}); input written to {file}"
            );
            std::process::exit(1);
        }
    }
    println!("fuzz_api: {runs} inputs in {seconds} s (seed {seed_value}), no oracle failed");
}
