//! FGD's node fragmentation F_n(M) prepared once per node and score: the free share of every card
//! and, per typical task, which cards fit it. A hypothetical placement then only re-evaluates the
//! cards it touches, instead of recomputing every (typical task, card) fit for the state before
//! and after each candidate card — the straightforward [`Typical::node_frag`] /
//! [`super::cards::fgd_delta`], which stay as the reference the property tests compare with.
//!
//! Decisions are bit-identical to the reference: every value is computed by the same expressions
//! and summed in the same order (cards in index order, typical tasks in list order), so no score
//! can round differently.

use super::cards::{CardUse, Typical, fits, free_share};
use crate::model::GpuDevice;
use crate::model::gpu::GpuRequest;

/// A node's cards prepared for F_n(M).
#[derive(Clone, Debug)]
pub struct FragTable<'a> {
    typical: &'a Typical,
    cards: &'a [GpuDevice],
    uses: &'a [CardUse],
    /// Free share per card (card-percent).
    free: Vec<f64>,
    /// `fit[m * cards + g]`: card `g` can take one vGPU of typical task `m`.
    fit: Vec<bool>,
}

impl<'a> FragTable<'a> {
    /// The table of `cards` in state `uses`.
    pub fn new(typical: &'a Typical, cards: &'a [GpuDevice], uses: &'a [CardUse]) -> Self {
        let n = cards.len();
        let free = cards
            .iter()
            .zip(uses)
            .map(|(c, u)| free_share(c, u))
            .collect();
        let mut fit = vec![false; typical.0.len() * n];
        for (m, t) in typical.0.iter().enumerate() {
            if let Some(req) = &t.gpu {
                for (g, (c, u)) in cards.iter().zip(uses).enumerate() {
                    fit[m * n + g] = fits(req, c, u);
                }
            }
        }
        Self {
            typical,
            cards,
            uses,
            free,
            fit,
        }
    }

    /// F_n(M) with `cpu_free` milli-cores left: equals `typical.node_frag(cards, uses, cpu_free)`.
    pub fn value(&self, cpu_free: i64) -> f64 {
        frag(self.typical, self.cards, &self.free, &self.fit, cpu_free)
    }

    /// F_n(M) after placing `req` (`None`: CPU-only) on `chosen` and taking `cpu_req` more CPU:
    /// equals the reference's "after" term of `fgd_delta`.
    pub fn after(&self, req: Option<&GpuRequest>, chosen: &[u16], cpu_free: i64) -> f64 {
        let Some(req) = req.filter(|_| !chosen.is_empty()) else {
            return self.value(cpu_free);
        };
        let n = self.cards.len();
        let mut free = self.free.clone();
        let mut fit = self.fit.clone();
        for &g in chosen {
            let g = g as usize;
            let card = &self.cards[g];
            let u = self.uses[g];
            let after = CardUse {
                memory: u.memory + req.memory_on(card),
                cores: u.cores + req.cores_on(),
                tenants: u.tenants + 1,
            };
            free[g] = free_share(card, &after);
            for (m, t) in self.typical.0.iter().enumerate() {
                if let Some(treq) = &t.gpu {
                    fit[m * n + g] = fits(treq, card, &after);
                }
            }
        }
        frag(self.typical, self.cards, &free, &fit, cpu_free)
    }
}

/// The reference's loop over prepared values (same expressions, same summation order).
fn frag(typical: &Typical, cards: &[GpuDevice], free: &[f64], fit: &[bool], cpu_free: i64) -> f64 {
    let total: f64 = free.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let n = cards.len();
    let model = cards.first().map(|c| c.model.as_str()).unwrap_or("");
    let mut f = 0.0;
    for (m, t) in typical.0.iter().enumerate() {
        let frag = match &t.gpu {
            None => total,
            Some(_) if !t.models.is_empty() && !t.models.iter().any(|x| x == model) => total,
            Some(_) if cpu_free < t.cpu_milli => total,
            Some(req) => {
                let mut count = 0u32;
                let mut small = 0.0;
                for (ok, r) in fit[m * n..(m + 1) * n].iter().zip(free) {
                    if *ok {
                        count += 1;
                    } else {
                        small += r;
                    }
                }
                if count >= req.count { small } else { total }
            }
        };
        f += t.p * frag;
    }
    f
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::cards::{Policy, TypicalTask, fgd_delta, fgd_place, fgd_score};
    use super::*;
    use crate::model::gpu::{self, HAMI_GPUMEM_PERCENTAGE, VGPU_CORES};
    use crate::resources::{NVIDIA_GPU, Resources};

    /// A card request as the FGD experiment writes it: `pct` % of one card, or `k` whole cards.
    fn request(k: u32, pct: u32) -> GpuRequest {
        let r = if pct > 0 {
            Resources::new()
                .with(VGPU_CORES, i64::from(pct))
                .with(HAMI_GPUMEM_PERCENTAGE, i64::from(pct))
        } else {
            Resources::new().with(NVIDIA_GPU, i64::from(k))
        };
        gpu::parse_request(&r, &BTreeMap::new()).expect("a card request")
    }

    /// The plugin's FGD before the prepared table: every candidate card re-evaluates F_n(M)
    /// before and after from scratch (`fgd_delta`), then the node score does it once more.
    fn reference_place(
        req: &GpuRequest,
        cards: &[GpuDevice],
        uses: &[CardUse],
        typical: &Typical,
        cpu: (i64, i64),
    ) -> Option<(Vec<u16>, f64)> {
        let chosen = if req.count == 1 {
            let mut best: Option<(f64, u16)> = None;
            for g in 0..cards.len() {
                if !fits(req, &cards[g], &uses[g]) {
                    continue;
                }
                let g = g as u16;
                let d = fgd_score(fgd_delta(typical, Some(req), cpu, cards, uses, &[g]));
                if best.is_none_or(|(b, _)| d > b) {
                    best = Some((d, g));
                }
            }
            vec![best?.1]
        } else {
            super::super::cards::choose(req, cards, uses, Policy::Fgd, typical, cpu)?
        };
        let s = fgd_score(fgd_delta(typical, Some(req), cpu, cards, uses, &chosen));
        Some((chosen, s))
    }

    fn node_strategy() -> impl Strategy<Value = (Vec<GpuDevice>, Vec<CardUse>)> {
        (
            prop::sample::select(vec!["G2", "T4"]),
            prop::collection::vec(
                (
                    any::<bool>(),
                    0u32..=10,
                    0u32..4,
                    prop::bool::weighted(0.95),
                ),
                1..=8,
            ),
        )
            .prop_map(|(model, cs)| {
                let mut cards = Vec::new();
                let mut uses = Vec::new();
                for (i, (big, tenths, tenants, healthy)) in cs.into_iter().enumerate() {
                    let memory_mib = if big { 16_384 } else { 1000 };
                    cards.push(GpuDevice {
                        uuid: format!("GPU-{i}"),
                        index: i as u32,
                        memory_mib,
                        cores: 100,
                        model: model.into(),
                        healthy,
                    });
                    let cores = tenths * 10;
                    uses.push(CardUse {
                        memory: memory_mib * u64::from(cores) / 100,
                        cores,
                        tenants: if cores == 0 { 0 } else { tenants.max(1) },
                    });
                }
                (cards, uses)
            })
    }

    fn typical_strategy() -> impl Strategy<Value = Typical> {
        prop::collection::vec(
            (
                prop::sample::select(vec![100i64, 1000, 4000, 8000, 32_000]),
                prop::sample::select(vec![(0u32, 0u32), (1, 0), (2, 0), (4, 0), (8, 0)]),
                prop::sample::select(vec![0u32, 10, 25, 50, 60, 90]),
                prop::sample::select(vec![vec![], vec!["G2"], vec!["T4"]]),
                1u32..100,
            ),
            1..40,
        )
        .prop_map(|ts| {
            let sum: u32 = ts.iter().map(|t| t.4).sum();
            Typical(
                ts.into_iter()
                    .map(|(cpu, (k, _), pct, models, w)| TypicalTask {
                        cpu_milli: cpu,
                        gpu: match (k, pct) {
                            (0, 0) => None,
                            (0, pct) => Some(request(1, pct)),
                            (k, _) => Some(request(k, 0)),
                        },
                        models: models.into_iter().map(str::to_owned).collect(),
                        p: f64::from(w) / f64::from(sum),
                    })
                    .collect(),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The prepared table places exactly as the straightforward FGD: same cards, and the
        /// same score to the bit (so the same node wins), for shares, whole cards and CPU-only pods.
        #[test]
        fn prepared_fgd_places_exactly_as_the_reference(
            (cards, uses) in node_strategy(),
            typical in typical_strategy(),
            (k, pct) in prop::sample::select(vec![(1u32, 10u32), (1, 25), (1, 50), (1, 70), (1, 0), (2, 0), (4, 0), (8, 0)]),
            cpu_free in 0i64..40_000,
            cpu_req in 100i64..16_000,
        ) {
            let req = request(k, pct);
            let cpu = (cpu_free, cpu_req);
            let fast = fgd_place(&req, &cards, &uses, &typical, cpu);
            let slow = reference_place(&req, &cards, &uses, &typical, cpu);
            prop_assert_eq!(
                fast.as_ref().map(|(c, s)| (c.clone(), s.to_bits())),
                slow.as_ref().map(|(c, s)| (c.clone(), s.to_bits()))
            );
            let table = FragTable::new(&typical, &cards, &uses);
            prop_assert_eq!(
                table.value(cpu_free).to_bits(),
                typical.node_frag(&cards, &uses, cpu_free).to_bits()
            );
            let cpu_only = table.value(cpu_free) - table.after(None, &[], cpu_free - cpu_req);
            prop_assert_eq!(
                cpu_only.to_bits(),
                fgd_delta(&typical, None, cpu, &cards, &uses, &[]).to_bits()
            );
        }
    }
}
