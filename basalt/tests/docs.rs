//! The docs name only repository paths that exist: every markdown link target and every
//! `code span` that looks like a path of this repository (it starts with a top-level entry such as
//! `config/`, `examples/`, `docs/`, `e2e/`, `test.sh`) in README.md, docs/*.md and the other
//! README.md files must exist (globs must match something). And no doc sends a reader outside the
//! repository for something the tour or the tests need (`../shared`, `/work/`).

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the basalt crate sits in the repository root")
        .to_path_buf()
}

/// The markdown files users read: README.md, docs/, and the READMEs of examples, traces, benches.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    for readme in [
        "examples/article/README.md",
        "traces/README.md",
        "benches/README.md",
    ] {
        let path = root.join(readme);
        if path.exists() {
            files.push(path);
        }
    }
    files
}

/// Top-level entries of the repository (what a path in backticks must start with to be checked).
fn top_level(root: &Path) -> Vec<String> {
    std::fs::read_dir(root)
        .expect("repository root")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !matches!(n.as_str(), "target" | ".git"))
        .collect()
}

/// `a/b*.yaml` style globs: `*` matches within one path component.
fn glob_matches(root: &Path, pattern: &str) -> bool {
    fn matches(pattern: &str, name: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == name,
            Some((head, tail)) => {
                name.starts_with(head)
                    && (0..=name.len() - head.len()).any(|i| matches(tail, &name[head.len() + i..]))
            }
        }
    }
    let mut dirs = vec![root.to_path_buf()];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = Vec::new();
        for dir in &dirs {
            if part.contains('*') {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for e in entries.flatten() {
                        if matches(part, &e.file_name().to_string_lossy()) {
                            next.push(e.path());
                        }
                    }
                }
            } else if dir.join(part).exists() {
                next.push(dir.join(part));
            }
        }
        dirs = next;
    }
    !dirs.is_empty()
}

/// The path part of a code span, or None when it is not a repository path.
fn as_repo_path(span: &str, tops: &[String]) -> Option<String> {
    // A command line: look at each word (`kubectl apply -f examples/x.yaml`).
    let word = span.trim();
    if word.is_empty() || word.contains(['<', '>', '$', '{', '}', '…']) || word.contains("://") {
        return None;
    }
    let word = word
        .trim_start_matches("./")
        .split([':', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches(['.', ',', ')']);
    let first = word.split('/').next().unwrap_or_default();
    let is_top = tops.iter().any(|t| t == first);
    (is_top && (word.contains('/') || word.contains('.'))).then(|| word.to_owned())
}

fn code_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            // Commands in code blocks: every whitespace-separated word.
            spans.extend(line.split_whitespace().map(str::to_owned));
            continue;
        }
        let mut parts = line.split('`');
        parts.next();
        while let Some(inside) = parts.next() {
            spans.extend(inside.split_whitespace().map(str::to_owned));
            parts.next();
        }
    }
    spans
}

fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].to_owned());
        }
    }
    targets
}

/// Every problem found in `files`, as `file: message`.
fn problems(root: &Path, files: &[PathBuf]) -> Vec<String> {
    let tops = top_level(root);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("read doc");
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or_default();
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            let base = file.parent().unwrap_or(root);
            if !base.join(path).exists() {
                found.push(format!("{rel}: link target {target} does not exist"));
            }
        }
        for span in code_spans(&text) {
            if let Some(path) = as_repo_path(&span, &tops)
                && !glob_matches(root, &path)
            {
                found.push(format!("{rel}: `{path}` does not exist in the repository"));
            }
        }
        for (n, line) in text.lines().enumerate() {
            if line.contains("../shared") || line.contains("/work/") {
                found.push(format!(
                    "{rel}:{}: points outside the repository: {}",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn docs_name_only_repository_paths_that_exist() {
    let root = repo_root();
    let files = doc_files(&root);
    assert!(files.len() > 10, "found only {files:?}");
    let found = problems(&root, &files);
    assert!(
        found.is_empty(),
        "docs name paths that do not exist:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_doc_check_catches_a_missing_path_a_bad_link_and_a_path_outside() {
    let root = repo_root();
    let dir = std::env::temp_dir().join(format!("basalt-doc-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let doc = dir.join("bad.md");
    std::fs::write(
        &doc,
        "Apply `examples/no-such-example.yaml`, read [this](no-such-doc.md), run\n\
         ```sh\nkubectl apply -f config/helm/basalt/crds/x.yaml\n```\n\
         and `../shared/seed-manifests/02.yaml`. Fine: `examples/*.yaml`, `docs/tour.md`.\n",
    )
    .expect("write");
    let found = problems(&root, &[doc]);
    let _ = std::fs::remove_dir_all(&dir);
    let all = found.join("\n");
    assert!(all.contains("`examples/no-such-example.yaml`"), "{all}");
    assert!(all.contains("link target no-such-doc.md"), "{all}");
    assert!(all.contains("`config/helm/basalt/crds/x.yaml`"), "{all}");
    assert!(all.contains("points outside the repository"), "{all}");
    assert_eq!(found.len(), 4, "{all}");
}
