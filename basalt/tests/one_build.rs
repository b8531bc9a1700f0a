//! The README's two commands compile the dependencies once: `cargo run -p basalt` and
//! `./test.sh` (cargo nextest over the workspace, dev-dependencies included) share `target/`
//! (.cargo/config.toml), and every package the first builds is built with the same features by
//! the second, so its artifact is reused. A dev-dependency that turns on a feature of a shared
//! crate would make the test build recompile that crate and everything above it.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// `cargo tree` as ("name version", "features") pairs (a crate built for the host and for the
/// target may appear twice).
fn features(args: &[&str]) -> BTreeSet<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .arg("tree")
        .args(args)
        .args(["--locked", "--prefix", "none", "-f", "{p} [{f}]"])
        .current_dir(&root)
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let (package, rest) = line.split_once(" [")?;
            let package = package.split(" (").next()?.to_owned();
            let features = rest.split(']').next()?.to_owned();
            Some((package, features))
        })
        .collect()
}

#[test]
fn cargo_run_and_the_test_suite_build_shared_dependencies_with_the_same_features() {
    let run = features(&["-p", "basalt", "-e", "normal,build"]);
    let test = features(&["--workspace", "-e", "normal,build,dev"]);
    assert!(
        run.len() > 100,
        "cargo tree listed only {} packages",
        run.len()
    );
    let drift: Vec<String> = run
        .difference(&test)
        .map(|(package, f)| {
            let there: Vec<&str> = test
                .iter()
                .filter(|(p, _)| p == package)
                .map(|(_, f)| f.as_str())
                .collect();
            format!("{package}: [{f}] for `cargo run -p basalt`, {there:?} for ./test.sh")
        })
        .collect();
    assert!(
        drift.is_empty(),
        "these would be compiled twice; enable the same features in basalt/Cargo.toml:\n{}",
        drift.join("\n")
    );
}
