//! Per-shape candidate index (issue #23): for one (constraint class, requests) shape, a segment
//! tree over the class's feasible nodes (in the order the scan rotates through them) holding,
//! per subtree, how many nodes the shape fits in idle resources and passes the predicates, and
//! the best score among them (leftmost on ties).
//!
//! It answers the rotating, budgeted scan of `placement` without visiting nodes one by one: "the
//! first `want` eligible nodes from position `start`, wrapping" is a rank query, and "the best
//! of them, first on ties" is a range query, so a bind costs O(log nodes) instead of a walk over
//! every full node and `want` scores. Leaves go stale when a node changes; the session's touch
//! log says which, and they are refreshed before the next query.
//!
//! It gives the linear scan's answer only where that scan's answer is "best idle fit among the
//! first `want` idle fits": no node may fit in future idle resources but not in idle ones (no
//! releasing resources anywhere) and no plugin may pick among scored nodes (`best_node`). The
//! caller checks both; this module decides nothing.

/// Best (score, position) of an empty range: loses to any eligible leaf.
const NONE: (f64, u32) = (f64::NEG_INFINITY, u32::MAX);

/// `r` replaces `l` only with a strictly higher score: leftmost wins ties, like the scan.
fn better(l: (f64, u32), r: (f64, u32)) -> (f64, u32) {
    if r.0 > l.0 { r } else { l }
}

/// The index for one shape.
#[derive(Debug)]
pub(crate) struct ShapeIndex {
    n: usize,
    leaves: usize,
    /// Eligible nodes per subtree (root 1).
    count: Vec<u32>,
    /// Best (score, position) per subtree.
    best: Vec<(f64, u32)>,
    /// How far into the session's touch log this index has refreshed.
    pub log_pos: usize,
}

impl ShapeIndex {
    /// An index over `n` positions, every leaf set by `leaf(position)` (`None` = not eligible).
    pub fn build(n: usize, log_pos: usize, mut leaf: impl FnMut(usize) -> Option<f64>) -> Self {
        let leaves = n.next_power_of_two().max(1);
        let mut ix = Self {
            n,
            leaves,
            count: vec![0; 2 * leaves],
            best: vec![NONE; 2 * leaves],
            log_pos,
        };
        for pos in 0..n {
            ix.write(pos, leaf(pos));
        }
        for p in (1..leaves).rev() {
            ix.pull(p);
        }
        ix
    }

    fn write(&mut self, pos: usize, score: Option<f64>) {
        let at = self.leaves + pos;
        match score {
            Some(s) => {
                self.count[at] = 1;
                self.best[at] = (s, pos as u32);
            }
            None => {
                self.count[at] = 0;
                self.best[at] = NONE;
            }
        }
    }

    fn pull(&mut self, p: usize) {
        self.count[p] = self.count[2 * p] + self.count[2 * p + 1];
        self.best[p] = better(self.best[2 * p], self.best[2 * p + 1]);
    }

    /// Sets one leaf and its ancestors.
    pub fn set(&mut self, pos: usize, score: Option<f64>) {
        self.write(pos, score);
        let mut p = (self.leaves + pos) / 2;
        while p >= 1 {
            self.pull(p);
            p /= 2;
        }
    }

    /// Eligible positions in all.
    pub fn total(&self) -> u32 {
        self.count[1]
    }

    /// Eligible positions in `[0, pos)`.
    pub fn count_before(&self, pos: usize) -> u32 {
        let (mut lo, mut hi) = (self.leaves, self.leaves + pos.min(self.n));
        let mut sum = 0;
        while lo < hi {
            if lo & 1 == 1 {
                sum += self.count[lo];
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                sum += self.count[hi];
            }
            lo /= 2;
            hi /= 2;
        }
        sum
    }

    /// Position of the `rank`-th eligible leaf (1-based; `rank <= total()`).
    pub fn kth(&self, mut rank: u32) -> usize {
        debug_assert!(rank >= 1 && rank <= self.total());
        let mut p = 1;
        while p < self.leaves {
            if self.count[2 * p] >= rank {
                p *= 2;
            } else {
                rank -= self.count[2 * p];
                p = 2 * p + 1;
            }
        }
        p - self.leaves
    }

    /// Best (score, position) in `[lo, hi)`, leftmost on ties; `None` when nothing there is
    /// eligible.
    pub fn best_in(&self, lo: usize, hi: usize) -> Option<(f64, usize)> {
        let (mut l, mut r) = (self.leaves + lo, self.leaves + hi.min(self.n));
        let mut left = NONE;
        let mut right = NONE;
        while l < r {
            if l & 1 == 1 {
                left = better(left, self.best[l]);
                l += 1;
            }
            if r & 1 == 1 {
                r -= 1;
                right = better(self.best[r], right);
            }
            l /= 2;
            r /= 2;
        }
        let (score, pos) = better(left, right);
        (pos != u32::MAX).then_some((score, pos as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: the linear answer over `scores` for ranks and ranges.
    fn eligible(scores: &[Option<f64>]) -> Vec<usize> {
        (0..scores.len()).filter(|&i| scores[i].is_some()).collect()
    }

    #[test]
    fn ranks_counts_and_leftmost_best_match_a_linear_walk() {
        let scores = [
            None,
            Some(3.0),
            Some(5.0),
            None,
            Some(5.0),
            Some(1.0),
            None,
            Some(7.0),
            Some(7.0),
        ];
        let mut ix = ShapeIndex::build(scores.len(), 0, |p| scores[p]);
        let elig = eligible(&scores);
        assert_eq!(ix.total() as usize, elig.len());
        for (r, &pos) in elig.iter().enumerate() {
            assert_eq!(ix.kth(r as u32 + 1), pos);
        }
        for pos in 0..=scores.len() {
            let want = elig.iter().filter(|&&e| e < pos).count() as u32;
            assert_eq!(ix.count_before(pos), want);
        }
        for lo in 0..scores.len() {
            for hi in lo..=scores.len() {
                let mut best: Option<(f64, usize)> = None;
                for (p, s) in scores.iter().enumerate().take(hi).skip(lo) {
                    if let Some(s) = *s
                        && best.is_none_or(|(b, _)| s > b)
                    {
                        best = Some((s, p));
                    }
                }
                assert_eq!(ix.best_in(lo, hi), best, "range {lo}..{hi}");
            }
        }
        // A leaf that changes moves the answers.
        ix.set(2, Some(9.0));
        assert_eq!(ix.best_in(0, 9), Some((9.0, 2)));
        ix.set(2, None);
        assert_eq!(ix.best_in(0, 9), Some((7.0, 7)), "leftmost of equal scores");
        assert_eq!(ix.total(), 5);
    }

    #[test]
    fn empty_index_has_nothing() {
        let ix = ShapeIndex::build(0, 0, |_| None);
        assert_eq!(ix.total(), 0);
        assert_eq!(ix.best_in(0, 0), None);
        assert_eq!(ix.count_before(0), 0);
    }
}
