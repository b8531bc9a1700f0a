//! Resource amounts: the public name → amount map and the interned, fixed-width vectors the
//! session uses on its hot path.
//!
//! `Resources` is what callers build (a `BTreeMap`, so it is ordered and comparable).
//! `ResourceDims` interns every resource name seen in one snapshot into a small index, `cpu` and
//! `memory` first; per-node and per-task amounts then live in flat `i64` rows of that width so a
//! fit check is a short loop over a slice rather than string-map lookups.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::quantity::{QuantityError, parse_resource_amount};

/// The CPU resource name; amounts are millicores.
pub const CPU: &str = "cpu";
/// The memory resource name; amounts are bytes.
pub const MEMORY: &str = "memory";
/// NVIDIA's whole-GPU extended resource.
pub const NVIDIA_GPU: &str = "nvidia.com/gpu";

/// Amounts per resource name in canonical units (see [`crate::quantity`]). Absent means zero.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resources(BTreeMap<String, i64>);

impl Resources {
    /// No resources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builder: sets `name` to `amount`.
    #[must_use]
    pub fn with(mut self, name: &str, amount: i64) -> Self {
        self.set(name, amount);
        self
    }

    /// Builder shorthand for cpu (millicores), memory (bytes) and `nvidia.com/gpu`.
    pub fn cpu_mem_gpu(cpu_millis: i64, memory_bytes: i64, gpus: i64) -> Self {
        Self::new()
            .with(CPU, cpu_millis)
            .with(MEMORY, memory_bytes)
            .with(NVIDIA_GPU, gpus)
    }

    /// Parses Kubernetes quantity strings, e.g. a pod's `requests`.
    pub fn parse<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, QuantityError> {
        let mut out = Self::new();
        for (name, text) in entries {
            out.set(name, parse_resource_amount(name, text)?);
        }
        Ok(out)
    }

    /// Sets an amount; zero removes the entry so equal amounts compare equal.
    pub fn set(&mut self, name: &str, amount: i64) {
        if amount == 0 {
            self.0.remove(name);
        } else {
            self.0.insert(name.to_owned(), amount);
        }
    }

    /// The amount of `name` (zero when absent).
    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// Entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// True when every amount is zero (a BestEffort request).
    pub fn is_empty(&self) -> bool {
        self.0.values().all(|v| *v == 0)
    }

    /// Adds `other` entry-wise.
    pub fn add(&mut self, other: &Resources) {
        for (name, v) in other.iter() {
            self.set(name, self.get(name).saturating_add(v));
        }
    }
}

/// The interned resource names of one session: index → name, `cpu` = 0 and `memory` = 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceDims {
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl ResourceDims {
    /// Interns `cpu`, `memory`, then every other name yielded, in sorted order.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        // Distinct names are few while occurrences are many (one per pod): dedupe as we go
        // instead of collecting and sorting every occurrence.
        let mut rest: Vec<&str> = Vec::new();
        for n in names {
            if n != CPU && n != MEMORY && !rest.contains(&n) {
                rest.push(n);
            }
        }
        rest.sort_unstable();
        let names: Vec<String> = [CPU, MEMORY]
            .into_iter()
            .chain(rest)
            .map(str::to_owned)
            .collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Self { names, index }
    }

    /// Number of dimensions.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: `cpu` and `memory` are always interned.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Name of dimension `i`.
    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    /// Index of `name`, if interned.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        // A handful of dimensions is the norm; comparing names beats hashing them.
        if self.names.len() <= 8 {
            return self.names.iter().position(|n| n == name);
        }
        self.index.get(name).copied()
    }

    /// Interns a map into a vector of this width. Names not interned are dropped (the session
    /// interns every name in the snapshot, so this only happens for foreign maps).
    pub fn vector(&self, resources: &Resources) -> Vec<i64> {
        let mut out = vec![0; self.len()];
        for (name, v) in resources.iter() {
            if let Some(i) = self.index_of(name) {
                out[i] = v;
            }
        }
        out
    }

    /// Interns a map into `row` (of this width), overwriting it.
    pub fn fill(&self, resources: &Resources, row: &mut [i64]) {
        row.fill(0);
        for (name, v) in resources.iter() {
            if let Some(i) = self.index_of(name) {
                row[i] = v;
            }
        }
    }

    /// Turns a vector back into a map.
    pub fn resources(&self, vector: &[i64]) -> Resources {
        let mut out = Resources::new();
        for (i, v) in vector.iter().enumerate() {
            out.set(self.name(i), *v);
        }
        out
    }
}

/// `dims`-wide rows of amounts in one flat allocation (one row per node).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceTable {
    dims: usize,
    data: Vec<i64>,
}

impl ResourceTable {
    /// `rows` rows of zeros.
    pub fn zeros(dims: usize, rows: usize) -> Self {
        Self {
            dims,
            data: vec![0; dims * rows],
        }
    }

    /// Row `i`.
    #[inline]
    pub fn row(&self, i: usize) -> &[i64] {
        &self.data[i * self.dims..(i + 1) * self.dims]
    }

    /// Row `i`, mutably.
    #[inline]
    pub fn row_mut(&mut self, i: usize) -> &mut [i64] {
        &mut self.data[i * self.dims..(i + 1) * self.dims]
    }

    /// Whether any entry of any row is not zero.
    pub fn any_nonzero(&self) -> bool {
        self.data.iter().any(|v| *v != 0)
    }
}

/// True when every positive request fits in `available`.
#[inline]
pub fn fits(request: &[i64], available: &[i64]) -> bool {
    request
        .iter()
        .zip(available)
        .all(|(r, a)| *r <= 0 || r <= a)
}

/// `acc += v`, entry-wise.
#[inline]
pub fn add_into(acc: &mut [i64], v: &[i64]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += *b;
    }
}

/// `acc -= v`, entry-wise.
#[inline]
pub fn sub_into(acc: &mut [i64], v: &[i64]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a -= *b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_puts_cpu_and_memory_first_and_round_trips() {
        let dims = ResourceDims::new(["nvidia.com/gpu", "memory", "a.io/x", "nvidia.com/gpu"]);
        assert_eq!(dims.len(), 4);
        assert_eq!(
            (dims.name(0), dims.name(1), dims.name(2)),
            (CPU, MEMORY, "a.io/x")
        );
        let r = Resources::cpu_mem_gpu(500, 1 << 30, 2);
        let v = dims.vector(&r);
        assert_eq!(v, vec![500, 1 << 30, 0, 2]);
        assert_eq!(dims.resources(&v), r);
    }

    #[test]
    fn fits_ignores_zero_requests_even_on_overcommitted_rows() {
        assert!(fits(&[100, 0], &[100, -5]));
        assert!(!fits(&[101, 0], &[100, 5]));
        assert!(!fits(&[0, 1], &[100, -5]));
    }

    #[test]
    fn parse_and_zero_handling() {
        let r = Resources::parse([("cpu", "250m"), ("memory", "1Gi"), ("nvidia.com/gpu", "0")]);
        assert_eq!(r, Ok(Resources::new().with(CPU, 250).with(MEMORY, 1 << 30)));
        assert!(Resources::new().with(CPU, 0).is_empty());
        assert!(Resources::parse([("cpu", "x")]).is_err());
    }
}
