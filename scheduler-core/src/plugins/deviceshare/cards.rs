//! Per-card accounting and card choice: which of a node's cards take a request under binpack,
//! spread or FGD, and the node score of that choice. Pure functions over a node's cards and their
//! current use; the plugin (`mod.rs`) owns the state.

use super::frag::FragTable;
use crate::model::GpuDevice;
use crate::model::gpu::GpuRequest;

/// What is taken on one card.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CardUse {
    /// Memory in MiB.
    pub memory: u64,
    /// Cores in percent.
    pub cores: u32,
    /// Pods sharing the card.
    pub tenants: u32,
}

/// How cards (and nodes) are preferred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Fullest card first; fuller nodes score higher.
    Binpack,
    /// Emptiest card first; emptier nodes score higher.
    Spread,
    /// Fragmentation gradient descent (Weng et al., ATC'23).
    Fgd,
    /// The FGD paper's baselines (`baselines`): a random feasible node.
    Random,
    /// Smallest dot product of the node's free (CPU, GPU) and the pod's demand.
    DotProd,
    /// Nodes already hosting the pod's GPU class first.
    Clustering,
    /// Already-shared cards, then used nodes, then idle nodes.
    Packing,
    /// Least leftover CPU and GPU after placement.
    BestFit,
}

impl Policy {
    /// One of the FGD paper's baselines (tightest card; scored in `baselines`).
    pub fn is_paper_baseline(self) -> bool {
        matches!(
            self,
            Policy::Random
                | Policy::DotProd
                | Policy::Clustering
                | Policy::Packing
                | Policy::BestFit
        )
    }
}

/// Whether `card` in state `u` can take one vGPU of `req`.
pub fn fits(req: &GpuRequest, card: &GpuDevice, u: &CardUse) -> bool {
    card.healthy
        && req.allows(card)
        && (!req.exclusive || u.tenants == 0)
        && u.memory + req.memory_on(card) <= card.memory_mib
        && u.cores + req.cores_on() <= card.cores
}

/// Utilisation of a card in 0..1: mean of its memory and cores fractions.
fn util(card: &GpuDevice, memory: u64, cores: u32) -> f64 {
    let m = if card.memory_mib == 0 {
        0.0
    } else {
        memory as f64 / card.memory_mib as f64
    };
    let c = if card.cores == 0 {
        0.0
    } else {
        f64::from(cores) / f64::from(card.cores)
    };
    (m + c) / 2.0
}

/// Free share of a card in percent (the FGD unit): the scarcer of free memory and free cores.
pub(super) fn free_share(card: &GpuDevice, u: &CardUse) -> f64 {
    if !card.healthy || card.cores == 0 {
        return 0.0;
    }
    let c = f64::from(card.cores.saturating_sub(u.cores)) / f64::from(card.cores);
    let m = if card.memory_mib == 0 {
        c
    } else {
        card.memory_mib.saturating_sub(u.memory) as f64 / card.memory_mib as f64
    };
    100.0 * c.min(m)
}

/// One typical task of FGD's target workload M: its CPU request (milli, the Kubernetes
/// "non-zero" request), its card request (`None`: a CPU-only task), the card models it accepts
/// (empty: any) and its probability.
#[derive(Clone, Debug, PartialEq)]
pub struct TypicalTask {
    /// CPU request in milli-cores.
    pub cpu_milli: i64,
    /// Card request; `None` for a CPU-only task.
    pub gpu: Option<GpuRequest>,
    /// Accepted card models (exact names); empty accepts every model.
    pub models: Vec<String>,
    /// Probability p_m.
    pub p: f64,
}

/// The typical-task distribution M for FGD (Weng et al., ATC'23, §2.2 of reference/fgd.md).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Typical(pub Vec<TypicalTask>);

impl Typical {
    /// Expected fragmentation F_n(M) of a node with `cpu_free` milli-cores left, in card-percent
    /// (100 = one card): for each typical task, the node's idle cards all count as fragment when
    /// the task needs no card, may not use the node's model, or cannot be placed (too few fitting
    /// cards or too little CPU); otherwise only the cards too small for it count.
    ///
    /// The straightforward definition, kept as the reference for `frag::FragTable` (which the
    /// plugin uses) in tests.
    #[cfg(test)]
    pub fn node_frag(&self, cards: &[GpuDevice], uses: &[CardUse], cpu_free: i64) -> f64 {
        let mut free = [0.0f64; 16];
        let many;
        let free: &[f64] = if cards.len() <= free.len() {
            for (f, (c, u)) in free.iter_mut().zip(cards.iter().zip(uses)) {
                *f = free_share(c, u);
            }
            &free[..cards.len()]
        } else {
            many = cards
                .iter()
                .zip(uses)
                .map(|(c, u)| free_share(c, u))
                .collect::<Vec<_>>();
            &many
        };
        let total: f64 = free.iter().sum();
        if total <= 0.0 {
            return 0.0;
        }
        let model = cards.first().map(|c| c.model.as_str()).unwrap_or("");
        let mut f = 0.0;
        for m in &self.0 {
            let frag = match &m.gpu {
                None => total,
                Some(_) if !m.models.is_empty() && !m.models.iter().any(|x| x == model) => total,
                Some(_) if cpu_free < m.cpu_milli => total,
                Some(req) => {
                    let mut fit = 0u32;
                    let mut small = 0.0;
                    for ((card, u), r) in cards.iter().zip(uses).zip(free) {
                        if fits(req, card, u) {
                            fit += 1;
                        } else {
                            small += r;
                        }
                    }
                    if fit >= req.count { small } else { total }
                }
            };
            f += m.p * frag;
        }
        f
    }
}

#[cfg(test)]
fn take(uses: &mut [CardUse], req: &GpuRequest, cards: &[GpuDevice], chosen: &[u16]) {
    for &g in chosen {
        let u = &mut uses[g as usize];
        u.memory += req.memory_on(&cards[g as usize]);
        u.cores += req.cores_on();
        u.tenants += 1;
    }
}

/// Fragmentation reduction Δ = F before − F after (card-percent) of placing a pod that takes
/// `cpu` milli-cores and `req` on `chosen` cards (`req` `None`: a CPU-only pod). The reference
/// for `frag::FragTable` (tests only).
#[cfg(test)]
pub fn fgd_delta(
    t: &Typical,
    req: Option<&GpuRequest>,
    cpu: (i64, i64),
    cards: &[GpuDevice],
    uses: &[CardUse],
    chosen: &[u16],
) -> f64 {
    let (cpu_free, cpu_req) = cpu;
    let before = t.node_frag(cards, uses, cpu_free);
    let mut after_uses = uses.to_vec();
    if let Some(req) = req {
        take(&mut after_uses, req, cards, chosen);
    }
    before - t.node_frag(cards, &after_uses, cpu_free - cpu_req)
}

/// FGD's integer node score ⌊100 · σ(Δ / 1000)⌋ with Δ in milli-GPU (= Δ / 100 in card-percent):
/// 50 for no change, 26 for one more fragmented card.
pub fn fgd_score(delta: f64) -> f64 {
    (100.0 / (1.0 + (-delta / 100.0).exp())).floor()
}

/// Chooses `req.count` distinct cards for `req`, or `None` when too few fit.
pub fn choose(
    req: &GpuRequest,
    cards: &[GpuDevice],
    uses: &[CardUse],
    policy: Policy,
    typical: &Typical,
    cpu: (i64, i64),
) -> Option<Vec<u16>> {
    let need = req.count as usize;
    if policy.is_paper_baseline() {
        return super::baselines::tightest(req, cards, uses);
    }
    if need == 1 && policy != Policy::Fgd {
        return choose_one(req, cards, uses, policy).map(|g| vec![g]);
    }
    let mut fit: Vec<u16> = (0..cards.len())
        .filter(|&g| fits(req, &cards[g], &uses[g]))
        .map(|g| g as u16)
        .collect();
    if fit.len() < need || need == 0 {
        return None;
    }
    let after = |g: u16| {
        let (c, u) = (&cards[g as usize], &uses[g as usize]);
        util(c, u.memory + req.memory_on(c), u.cores + req.cores_on())
    };
    match policy {
        Policy::Fgd if need == 1 => {
            let table = FragTable::new(typical, cards, uses);
            return fgd_best_card(&table, req, &fit, cpu).map(|(g, _)| vec![g]);
        }
        // The paper's baselines returned above (tightest cards).
        Policy::Binpack
        | Policy::Fgd
        | Policy::Random
        | Policy::DotProd
        | Policy::Clustering
        | Policy::Packing
        | Policy::BestFit => {
            fit.sort_by(|a, b| after(*b).total_cmp(&after(*a)).then(a.cmp(b)));
        }
        Policy::Spread => {
            fit.sort_by(|a, b| {
                let (ua, ub) = (&uses[*a as usize], &uses[*b as usize]);
                ua.tenants
                    .cmp(&ub.tenants)
                    .then(after(*a).total_cmp(&after(*b)))
                    .then(a.cmp(b))
            });
        }
    }
    fit.truncate(need);
    Some(fit)
}

/// Whether at least `req.count` cards fit (the predicate; no allocation).
pub fn enough(req: &GpuRequest, cards: &[GpuDevice], uses: &[CardUse]) -> bool {
    let mut left = req.count;
    for (c, u) in cards.iter().zip(uses) {
        if fits(req, c, u) {
            left -= 1;
            if left == 0 {
                return true;
            }
        }
    }
    left == 0
}

/// The one card binpack or spread picks, by a scan (same order as the sort in [`choose`]).
fn choose_one(
    req: &GpuRequest,
    cards: &[GpuDevice],
    uses: &[CardUse],
    policy: Policy,
) -> Option<u16> {
    let mut best: Option<(u32, f64, u16)> = None;
    for (g, (c, u)) in cards.iter().zip(uses).enumerate() {
        if !fits(req, c, u) {
            continue;
        }
        let after = util(c, u.memory + req.memory_on(c), u.cores + req.cores_on());
        let better = match (policy, best) {
            (_, None) => true,
            (Policy::Spread, Some((t, a, _))) => u.tenants < t || (u.tenants == t && after < a),
            (_, Some((_, a, _))) => after > a,
        };
        if better {
            best = Some((u.tenants, after, g as u16));
        }
    }
    best.map(|(_, _, g)| g)
}

/// Node score in 0..100 of placing `req` on `chosen`.
pub fn score(
    req: &GpuRequest,
    cards: &[GpuDevice],
    uses: &[CardUse],
    chosen: &[u16],
    policy: Policy,
    typical: &Typical,
    cpu: (i64, i64),
) -> f64 {
    if chosen.is_empty() {
        return 0.0;
    }
    let n = chosen.len() as f64;
    match policy {
        Policy::Binpack => {
            chosen
                .iter()
                .map(|&g| {
                    let (c, u) = (&cards[g as usize], &uses[g as usize]);
                    util(c, u.memory + req.memory_on(c), u.cores + req.cores_on())
                })
                .sum::<f64>()
                * 100.0
                / n
        }
        Policy::Spread => {
            chosen
                .iter()
                .map(|&g| {
                    let (c, u) = (&cards[g as usize], &uses[g as usize]);
                    1.0 - util(c, u.memory, u.cores)
                })
                .sum::<f64>()
                * 100.0
                / n
        }
        // The paper's baselines need the node's CPU, hosted classes or the task's name: the
        // plugin scores them (`baselines`).
        Policy::Random
        | Policy::DotProd
        | Policy::Clustering
        | Policy::Packing
        | Policy::BestFit => 0.0,
        Policy::Fgd => {
            let table = FragTable::new(typical, cards, uses);
            fgd_score(table.value(cpu.0) - table.after(Some(req), chosen, cpu.0 - cpu.1))
        }
    }
}

/// The paper's card rule for a one-card request: the fitting card (`fit`, ascending) with the
/// best integer score, lowest index on ties; with that score.
fn fgd_best_card(
    table: &FragTable<'_>,
    req: &GpuRequest,
    fit: &[u16],
    cpu: (i64, i64),
) -> Option<(u16, f64)> {
    let before = table.value(cpu.0);
    let mut best: Option<(f64, u16)> = None;
    for &g in fit {
        let d = fgd_score(before - table.after(Some(req), &[g], cpu.0 - cpu.1));
        if best.is_none_or(|(b, _)| d > b) {
            best = Some((d, g));
        }
    }
    best.map(|(d, g)| (g, d))
}

/// FGD's card choice and node score together (one prepared table per node): what
/// [`choose`] then [`score`] give under [`Policy::Fgd`], `None` when too few cards fit.
pub fn fgd_place(
    req: &GpuRequest,
    cards: &[GpuDevice],
    uses: &[CardUse],
    typical: &Typical,
    cpu: (i64, i64),
) -> Option<(Vec<u16>, f64)> {
    if req.count != 1 {
        let chosen = choose(req, cards, uses, Policy::Fgd, typical, cpu)?;
        let s = score(req, cards, uses, &chosen, Policy::Fgd, typical, cpu);
        return Some((chosen, s));
    }
    let fit: Vec<u16> = (0..cards.len())
        .filter(|&g| fits(req, &cards[g], &uses[g]))
        .map(|g| g as u16)
        .collect();
    let table = FragTable::new(typical, cards, uses);
    fgd_best_card(&table, req, &fit, cpu).map(|(g, s)| (vec![g], s))
}

/// Adds (`add`) or removes one placement from the card uses.
pub fn apply(uses: &mut [CardUse], shares: &[(u16, u64, u32)], add: bool) {
    for &(g, mem, cores) in shares {
        let u = &mut uses[g as usize];
        if add {
            u.memory += mem;
            u.cores += cores;
            u.tenants += 1;
        } else {
            u.memory = u.memory.saturating_sub(mem);
            u.cores = u.cores.saturating_sub(cores);
            u.tenants = u.tenants.saturating_sub(1);
        }
    }
}
