//! The FGD paper's baseline placement policies (Weng et al., ATC'23, §6 of the paper; the
//! definitions below follow the paper's artifact), as `deviceshare.SchedulePolicy` values. Each
//! but `random` scores a node with an integer in 0..100 — ties then fall to node order, as in the
//! paper — and shares go to the tightest fitting card (the one with the least free share), whole cards to
//! the lowest-index free ones. Units: CPU in milli-cores, GPU in milli-cards; a node's free GPU is
//! the sum of its cards' free shares; the pod's GPU demand is cards × per-card share; the
//! normalisers are the paper's largest node, 128 cores and 8 cards.
//!
//! * `random`: a uniformly random feasible node and, for a share, a random fitting card. The
//!   randomness is received, not drawn: a hash of `deviceshare.RandomSeed`, the task's name and
//!   the node's (or card's) name, so a session stays a function of its input. The node score is
//!   not rounded, so the feasible node with the largest draw wins: uniform over them.
//! * `dotprod`: the dot product of the node's free (CPU, GPU) and the pod's demand, each divided by
//!   the normaliser; the **smallest** product wins, score ⌊100 · (1 − dot/2)⌋ (the artifact's
//!   sign: the tightest node, the opposite of Tetris' alignment).
//! * `clustering`: pods are classed as share, 1-, 2-, 4- or 8-card; a node hosting only the pod's
//!   class scores 75 + b, hosting it among others 50 + b, hosting no GPU pod 25 + b, only other
//!   classes b, with b = ⌊25 · (8000 − free GPU) / 8000⌋. CPU-only pods score 0 everywhere.
//! * `packing`: prefer already-shared cards, then partly used nodes, then idle nodes. Walking the
//!   fitting cards from the least free: if only already-shared cards are used, 100 − ⌊Σ free
//!   percent of those cards / 10⌋ (at least 50); if a fully free card must be used, 50 − such
//!   cards (at least 33); on a node whose cards are all free, max(33 − free cards, free cards).
//!   CPU-only pods score 0 everywhere.
//! * `bestfit`: the least leftover after placement, s = ½·(free CPU − request)/128,000 +
//!   ½·(free GPU − demand)/8,000, score ⌊100 · (1 − s)⌋.

use super::cards::{CardUse, fits};
use crate::model::GpuDevice;
use crate::model::gpu::GpuRequest;

/// The paper's normalisers: the largest node has 128 cores and 8 cards.
const MAX_CPU: f64 = 128_000.0;
const MAX_GPU: i64 = 8_000;

/// Free milli-card of a card: the scarcer of free cores and free memory, rounded down.
pub fn free_milli(card: &GpuDevice, u: &CardUse) -> i64 {
    if !card.healthy || card.cores == 0 {
        return 0;
    }
    let cores = i64::from(card.cores.saturating_sub(u.cores)) * 1000 / i64::from(card.cores);
    if card.memory_mib == 0 {
        return cores;
    }
    let memory = (card.memory_mib.saturating_sub(u.memory) * 1000 / card.memory_mib) as i64;
    cores.min(memory)
}

/// The pod's GPU demand in milli-cards (cards × per-card share); 0 for a CPU-only pod.
pub fn demand_milli(req: Option<&GpuRequest>) -> i64 {
    req.map_or(0, |r| i64::from(r.count) * i64::from(r.cores_on()) * 10)
}

/// The clustering class of a card request: 0 for a share, else the number of cards.
pub fn class_of(req: &GpuRequest) -> u32 {
    if req.exclusive { req.count } else { 0 }
}

/// `dotprod`'s score.
pub fn dot_product(cpu: (i64, i64), free_gpu: i64, demand: i64) -> f64 {
    let gpu = MAX_GPU as f64;
    let dot = (cpu.0 as f64 / MAX_CPU) * (cpu.1 as f64 / MAX_CPU)
        + (free_gpu as f64 / gpu) * (demand as f64 / gpu);
    (100.0 * (1.0 - dot / 2.0)).floor()
}

/// `bestfit`'s score.
pub fn best_fit(cpu: (i64, i64), free_gpu: i64, demand: i64) -> f64 {
    let s =
        0.5 * (cpu.0 - cpu.1) as f64 / MAX_CPU + 0.5 * (free_gpu - demand) as f64 / MAX_GPU as f64;
    (100.0 * (1.0 - s)).floor()
}

/// `clustering`'s score of a node hosting GPU pods of `classes` (class, count) for a pod of
/// class `class`.
pub fn clustering(classes: &[(u32, u32)], class: u32, free_gpu: i64) -> f64 {
    let base = 25 * (MAX_GPU - free_gpu).max(0) / MAX_GPU;
    let hosted: Vec<u32> = classes
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(c, _)| *c)
        .collect();
    let bonus = if hosted.contains(&class) {
        if hosted.len() == 1 { 75 } else { 50 }
    } else if hosted.is_empty() {
        25
    } else {
        0
    };
    (base + bonus) as f64
}

/// `packing`'s score of placing `req` on a node with `cards` in state `uses`; 0 when it does
/// not fit.
pub fn packing(req: &GpuRequest, cards: &[GpuDevice], uses: &[CardUse]) -> f64 {
    let free: Vec<i64> = cards
        .iter()
        .zip(uses)
        .map(|(c, u)| free_milli(c, u))
        .collect();
    let fully_free = free.iter().filter(|f| **f == 1000).count() as i64;
    if fully_free == cards.len() as i64 {
        return (33 - fully_free).max(fully_free) as f64;
    }
    let mut order: Vec<usize> = (0..cards.len()).collect();
    order.sort_by_key(|&g| (free[g], g));
    let mut left = req.count;
    let mut fresh = 0i64;
    let mut free_percent = 0i64;
    for g in order {
        if left == 0 {
            break;
        }
        if fits(req, &cards[g], &uses[g]) {
            left -= 1;
            free_percent += free[g] * 100 / 1000;
            if free[g] == 1000 {
                fresh += 1;
            }
        }
    }
    if left > 0 {
        return 0.0;
    }
    if fresh > 0 {
        return (50 - fresh).max(33) as f64;
    }
    (100 - free_percent / 10).max(50) as f64
}

/// The tightest `req.count` fitting cards (least free share first, lowest index on ties), or
/// `None` when too few fit.
pub fn tightest(req: &GpuRequest, cards: &[GpuDevice], uses: &[CardUse]) -> Option<Vec<u16>> {
    let mut fit: Vec<(i64, u16)> = (0..cards.len())
        .filter(|&g| fits(req, &cards[g], &uses[g]))
        .map(|g| (free_milli(&cards[g], &uses[g]), g as u16))
        .collect();
    if fit.len() < req.count as usize || req.count == 0 {
        return None;
    }
    fit.sort_unstable();
    Some(
        fit.into_iter()
            .take(req.count as usize)
            .map(|(_, g)| g)
            .collect(),
    )
}

/// A uniform number in [0, 1) from `seed` and the names in `parts` (FNV-1a, then SplitMix64's
/// finaliser): the `random` policy's received randomness.
pub fn uniform(seed: u64, parts: &[&str]) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::gpu::{self, HAMI_GPUMEM_PERCENTAGE, VGPU_CORES};
    use crate::resources::{NVIDIA_GPU, Resources};

    fn cards(n: usize) -> Vec<GpuDevice> {
        (0..n)
            .map(|i| GpuDevice {
                uuid: format!("GPU-{i}"),
                index: i as u32,
                memory_mib: 16_384,
                cores: 100,
                model: "G2".into(),
                healthy: true,
            })
            .collect()
    }

    fn used(card: &GpuDevice, cores: u32) -> CardUse {
        CardUse {
            memory: card.memory_mib * u64::from(cores) / 100,
            cores,
            tenants: u32::from(cores > 0),
        }
    }

    fn share(pct: i64) -> GpuRequest {
        let r = Resources::new()
            .with(VGPU_CORES, pct)
            .with(HAMI_GPUMEM_PERCENTAGE, pct);
        gpu::parse_request(&r, &BTreeMap::new()).expect("a share")
    }

    fn whole(k: i64) -> GpuRequest {
        gpu::parse_request(&Resources::new().with(NVIDIA_GPU, k), &BTreeMap::new())
            .expect("whole cards")
    }

    #[test]
    fn dot_product_prefers_the_smallest_product() {
        // Empty 64-core, 8-card node; pod 4 cores + 1 card: dot = 0.5·0.03125 + 1·0.125.
        assert_eq!(dot_product((64_000, 4_000), 8_000, 1_000), 92.0);
        // A node with 1 free card scores higher (smaller product): the tightest node wins.
        assert!(dot_product((8_000, 4_000), 1_000, 1_000) > 92.0);
        // CPU-only pods: only the CPU term.
        assert_eq!(dot_product((128_000, 128_000), 8_000, 0), 50.0);
    }

    #[test]
    fn best_fit_prefers_the_least_leftover() {
        // s = 0.5·60000/128000 + 0.5·7000/8000 = 0.671875 → 32.
        assert_eq!(best_fit((64_000, 4_000), 8_000, 1_000), 32.0);
        // Exactly filled: s = 0 → 100.
        assert_eq!(best_fit((4_000, 4_000), 1_000, 1_000), 100.0);
    }

    #[test]
    fn clustering_ranks_same_class_mixed_idle_other() {
        // Half the GPU free: base ⌊25 · 4000/8000⌋ = 12.
        assert_eq!(clustering(&[(0, 2)], 0, 4_000), 87.0);
        assert_eq!(clustering(&[(0, 1), (1, 1)], 0, 4_000), 62.0);
        assert_eq!(clustering(&[], 0, 8_000), 25.0);
        assert_eq!(
            clustering(&[(1, 0)], 0, 8_000),
            25.0,
            "a class with no pod left"
        );
        assert_eq!(clustering(&[(8, 1)], 0, 4_000), 12.0);
    }

    #[test]
    fn packing_prefers_shared_cards_then_used_nodes_then_idle_nodes() {
        let c = cards(8);
        let idle = vec![CardUse::default(); 8];
        // Idle 8-card node: max(33 − 8, 8).
        assert_eq!(packing(&share(25), &c, &idle), 25.0);
        // One card 70 % used: the share goes on it, 30 % free → 100 − ⌊30/10⌋.
        let mut partly = idle.clone();
        partly[3] = used(&c[3], 70);
        assert_eq!(packing(&share(25), &c, &partly), 97.0);
        // A whole card must be a fully free one: 50 − 1.
        assert_eq!(packing(&whole(1), &c, &partly), 49.0);
        // Does not fit: 0.
        assert_eq!(packing(&whole(8), &c, &partly), 0.0);
    }

    #[test]
    fn tightest_takes_the_least_free_fitting_cards() {
        let c = cards(4);
        let u = vec![
            used(&c[0], 10),
            used(&c[1], 80),
            used(&c[2], 60),
            CardUse::default(),
        ];
        // 30 % fits cards 0 (90 free), 2 (40 free) and 3 (100 free); 1 (20 free) is too small.
        assert_eq!(tightest(&share(30), &c, &u), Some(vec![2]));
        assert_eq!(tightest(&whole(1), &c, &u), Some(vec![3]));
        assert_eq!(tightest(&whole(2), &c, &u), None);
        assert_eq!(free_milli(&c[1], &u[1]), 200);
        assert_eq!(demand_milli(Some(&whole(2))), 2_000);
        assert_eq!(demand_milli(Some(&share(25))), 250);
        assert_eq!((class_of(&share(25)), class_of(&whole(4))), (0, 4));
    }

    #[test]
    fn uniform_is_deterministic_and_spread_over_the_unit_interval() {
        assert_eq!(uniform(7, &["a", "b"]), uniform(7, &["a", "b"]));
        assert_ne!(uniform(7, &["a", "b"]), uniform(8, &["a", "b"]));
        assert_ne!(uniform(7, &["ab", ""]), uniform(7, &["a", "b"]));
        let draws: Vec<f64> = (0..10_000)
            .map(|i| uniform(42, &["pod", &i.to_string()]))
            .collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let low = draws.iter().filter(|u| **u < 0.1).count();
        assert!((800..1200).contains(&low), "{low}");
    }
}
