//! Cycle detection for dependency graphs (Job task `dependsOn`, JobFlow `dependsOn.targets`),
//! returning the cycle as a path so messages can print `a -> b -> a`.

use std::collections::BTreeMap;

/// Finds a cycle in the graph `node → dependencies`, visiting nodes in the given order.
/// Returns the cycle with its first node repeated at the end (`[a, b, a]`), or `None`.
pub fn find_cycle(order: &[&str], edges: &BTreeMap<&str, Vec<&str>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> = BTreeMap::new();
    for &start in order {
        if marks.contains_key(start) {
            continue;
        }
        // Iterative DFS: (node, index of the next edge to follow); `path` mirrors the stack.
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        marks.insert(start, Mark::Visiting);
        while let Some((node, next)) = stack.last_mut() {
            let deps = edges.get(*node).map(Vec::as_slice).unwrap_or(&[]);
            if let Some(&dep) = deps.get(*next) {
                *next += 1;
                match marks.get(dep) {
                    Some(Mark::Visiting) => {
                        let from = stack.iter().position(|(n, _)| *n == dep).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            stack[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                        cycle.push(dep.to_owned());
                        return Some(cycle);
                    }
                    Some(Mark::Done) => {}
                    None => {
                        marks.insert(dep, Mark::Visiting);
                        stack.push((dep, 0));
                    }
                }
            } else {
                marks.insert(*node, Mark::Done);
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cycles_and_self_loops() {
        let edges: BTreeMap<&str, Vec<&str>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec![]),
        ]
        .into();
        assert_eq!(
            find_cycle(&["d", "a", "b", "c"], &edges)
                .unwrap()
                .join(" -> "),
            "a -> b -> c -> a"
        );
        let selfloop: BTreeMap<&str, Vec<&str>> = [("x", vec!["x"])].into();
        assert_eq!(
            find_cycle(&["x"], &selfloop).unwrap().join(" -> "),
            "x -> x"
        );
        let dag: BTreeMap<&str, Vec<&str>> = [("a", vec!["b", "c"]), ("b", vec!["c"])].into();
        assert_eq!(find_cycle(&["a", "b", "c"], &dag), None);
    }
}
