//! A binary heap ordered by a comparator supplied at each call, because job and queue order come
//! from plugins and depend on session state (Rust's `BinaryHeap` needs a static `Ord`).

use std::cmp::Ordering;

/// Min-heap by `cmp` (the element that orders `Less` pops first).
#[derive(Debug, Default)]
pub(crate) struct OrderedHeap<T> {
    items: Vec<T>,
}

impl<T: Copy> OrderedHeap<T> {
    pub fn new() -> Self {
        Self { items: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push(&mut self, item: T, cmp: &mut impl FnMut(T, T) -> Ordering) {
        self.items.push(item);
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if cmp(self.items[i], self.items[parent]) == Ordering::Less {
                self.items.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    pub fn pop(&mut self, cmp: &mut impl FnMut(T, T) -> Ordering) -> Option<T> {
        let last = self.items.len().checked_sub(1)?;
        self.items.swap(0, last);
        let top = self.items.pop();
        let n = self.items.len();
        let mut i = 0;
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && cmp(self.items[l], self.items[best]) == Ordering::Less {
                best = l;
            }
            if r < n && cmp(self.items[r], self.items[best]) == Ordering::Less {
                best = r;
            }
            if best == i {
                break;
            }
            self.items.swap(i, best);
            i = best;
        }
        top
    }

    /// [`Self::pop`] with about half the comparisons (Floyd's bottom-up sift: the hole left at
    /// the root goes down to a leaf along the smaller children, one comparison per level, and
    /// the last element climbs back from there, usually a step or two). Comparisons are what
    /// cost here: each one asks every job-order plugin. Pops the same element as `pop` whenever
    /// `cmp` is a total order and no element's key changed since it was pushed (then the heap's
    /// minimum is unique and the layout does not matter). Where keys may move while elements
    /// wait (queue shares) the actions keep `pop`, so a stale heap answers as it always did.
    pub fn pop_settled(&mut self, cmp: &mut impl FnMut(T, T) -> Ordering) -> Option<T> {
        let top = *self.items.first()?;
        let last = self.items.pop()?;
        let n = self.items.len();
        if n == 0 {
            return Some(top);
        }
        let mut i = 0;
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let c = if l + 1 < n && cmp(self.items[l + 1], self.items[l]) == Ordering::Less {
                l + 1
            } else {
                l
            };
            self.items[i] = self.items[c];
            i = c;
        }
        self.items[i] = last;
        while i > 0 {
            let parent = (i - 1) / 2;
            if cmp(self.items[i], self.items[parent]) == Ordering::Less {
                self.items.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
        Some(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_comparator_order() {
        let mut h = OrderedHeap::new();
        let mut desc = |a: i32, b: i32| b.cmp(&a);
        for x in [5, 1, 9, 3, 7, 9, 0] {
            h.push(x, &mut desc);
        }
        let mut out = Vec::new();
        while let Some(x) = h.pop(&mut desc) {
            out.push(x);
        }
        assert_eq!(out, [9, 9, 7, 5, 3, 1, 0]);
        assert!(h.is_empty());
    }

    /// Pushes and pops interleaved at random (a deterministic LCG): `pop_settled` gives the
    /// same sequence as `pop` and as sorting, and compares less. Keys are (value, id), a total
    /// order like the job order's final tie-break on the job index.
    #[test]
    fn settled_pop_matches_pop_with_fewer_comparisons() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            seed >> 33
        };
        for round in 0..200 {
            let (mut a, mut b) = (OrderedHeap::new(), OrderedHeap::new());
            let (mut ca, mut cb) = (0u64, 0u64);
            let mut cmp_a = |x: (u64, u32), y: (u64, u32)| {
                ca += 1;
                x.cmp(&y)
            };
            let mut cmp_b = |x: (u64, u32), y: (u64, u32)| {
                cb += 1;
                x.cmp(&y)
            };
            let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
            let spread = 1 + round % 7 * 50;
            for id in 0..(round as u32 * 10 + 1) {
                let key = (next() % spread, id);
                a.push(key, &mut cmp_a);
                b.push(key, &mut cmp_b);
                if next() % 3 == 0 {
                    out_a.push(a.pop(&mut cmp_a));
                    out_b.push(b.pop_settled(&mut cmp_b));
                }
            }
            while let Some(x) = a.pop(&mut cmp_a) {
                out_a.push(Some(x));
            }
            while let Some(x) = b.pop_settled(&mut cmp_b) {
                out_b.push(Some(x));
            }
            assert_eq!(out_a, out_b, "round {round}");
            assert!(b.pop_settled(&mut cmp_b).is_none());
            if round > 50 {
                assert!(cb < ca, "round {round}: {cb} comparisons vs {ca}");
            }
        }
    }
}
