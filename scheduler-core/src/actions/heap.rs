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
}
