//! `deviceshare`: fractional GPU sharing. Each requested vGPU goes to a distinct healthy card
//! with enough free memory and cores (see [`crate::model::gpu`] for the request names); cards are
//! never over-committed. Card choice and node score follow `deviceshare.SchedulePolicy`:
//! `binpack` (default: fullest card first, fuller nodes score higher), `spread`, or `fgd`
//! (fragmentation gradient descent, ATC'23, against the session's distribution of GPU requests),
//! or one of that paper's baselines for experiments (`random`, `dotprod`, `clustering`,
//! `packing`, `bestfit`; see `baselines`).
//!
//! Per-task card assignments live in this plugin's per-session state and change only through
//! `on_allocate`/`on_deallocate`, which the statement fires (and reverses on discard). Binds
//! carry HAMi's `hami.io/vgpu-devices-to-allocate`, `hami.io/vgpu-node`, `hami.io/vgpu-time`,
//! `hami.io/bind-phase` and Volcano's `volcano.sh/vgpu-ids-new`.
//!
//! Accounting input (security rule): only pods bound to a node (Binding, Bound, Running,
//! Releasing) are charged, always by the amounts of their own requests; their assignment
//! annotations only say *which* cards, and are ignored unless they name distinct cards of that
//! node matching the request's count. Annotations on unbound pods are never read.
//!
//! Releasing pods (already Releasing in the snapshot, or evicted in this session) are treated
//! like scalar resources (future idle = idle + releasing − pipelined): their cards stay charged
//! for placement on idle resources — the pod still runs — but are free for pipelining, so
//! preempt and reclaim can pipeline the preemptor onto the card its victim frees. Which view a
//! check uses follows the engine's own split: a task whose request fits the node's scalar idle
//! is checked against the idle view (a node whose cards fit it only once a Releasing pod is gone
//! is then refused, never bound early), otherwise against the future view; a pipelined task
//! takes its cards from the future view. Discarding an eviction takes the same cards back out
//! of the releasing amounts. A node without a card inventory takes whole-card requests on its
//! scalar `nvidia.com/gpu` alone (no assignment annotations) and no shared ones.
//!
//! Arguments: `deviceshare.SchedulePolicy` (`binpack` | `spread` | `fgd` | `random` | `dotprod` |
//! `clustering` | `packing` | `bestfit`), `deviceshare.ScheduleWeight` (1),
//! `deviceshare.TypicalTasks` (FGD's M), `deviceshare.RandomSeed` (`random`); Volcano's `deviceshare.VGPUEnable`, `GPUSharingEnable`, `GPUNumberEnable` and
//! `NodeLockEnable` are accepted (booleans) and change nothing: every name is always understood.

mod baselines;
mod cards;
mod frag;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use crate::resources::fits;
pub use cards::Typical;
pub use cards::{CardUse, Policy};
use cards::{TypicalTask, apply, choose, enough, fgd_place, fgd_score, score};
use frag::FragTable;

use crate::config::{Arguments, ConfigError};
use crate::model::TaskStatus;
use crate::model::gpu::{self, GpuRequest};
use crate::plugin::{Hooks, Plugin, Unfit};
use crate::resources::{CPU, NVIDIA_GPU, Resources};
use crate::session::{NodeIx, State, TaskIx};

/// Most distinct requests kept in FGD's typical-request distribution.
const MAX_TYPICAL: usize = 32;

/// The `deviceshare` plugin.
#[derive(Clone, Debug)]
pub struct DeviceShare {
    policy: Policy,
    weight: f64,
    requests: Vec<Option<GpuRequest>>,
    uses: Vec<Vec<CardUse>>,
    assigned: Vec<Option<Vec<(u16, u64, u32)>>>,
    /// Per node and card: the part of `uses` held by Releasing pods (free for pipelining).
    releasing: Vec<Vec<CardUse>>,
    /// Per task: its cards are counted in `releasing` (Releasing pod; kept for the undo).
    released: Vec<bool>,
    typical: Typical,
    /// M given as the argument `deviceshare.TypicalTasks` (experiments); `None`: built each
    /// session from the placed pods.
    fixed_typical: Option<Typical>,
    /// The session's CPU dimension.
    cpu_dim: Option<usize>,
    /// Per node: (clustering class, pods) of the GPU pods it hosts (`clustering`).
    classes: Vec<Vec<(u32, u32)>>,
    /// `deviceshare.RandomSeed`: the `random` policy's received randomness.
    seed: u64,
    local: bool,
}

/// Registry factory.
pub fn factory(args: &Arguments) -> Result<Box<dyn Plugin>, ConfigError> {
    for key in [
        "deviceshare.VGPUEnable",
        "deviceshare.GPUSharingEnable",
        "deviceshare.GPUNumberEnable",
        "deviceshare.NodeLockEnable",
    ] {
        args.bool(key, false)?;
    }
    let policy = match args.str("deviceshare.SchedulePolicy")? {
        None | Some("binpack") | Some("") => Policy::Binpack,
        Some("spread") => Policy::Spread,
        Some("fgd") => Policy::Fgd,
        Some("random") => Policy::Random,
        Some("dotprod") => Policy::DotProd,
        Some("clustering") => Policy::Clustering,
        Some("packing") => Policy::Packing,
        Some("bestfit") => Policy::BestFit,
        Some(other) => {
            return Err(ConfigError::BadArgument {
                owner: "plugin \"deviceshare\"".into(),
                key: "deviceshare.SchedulePolicy".into(),
                value: other.into(),
                expected: "binpack, spread, fgd, random, dotprod, clustering, packing or bestfit",
            });
        }
    };
    let mut plugin = DeviceShare::new(policy, args.f64("deviceshare.ScheduleWeight", 1.0)?);
    plugin.seed = args.i64("deviceshare.RandomSeed", 0)? as u64;
    if let Some(v) = args.get("deviceshare.TypicalTasks") {
        plugin.fixed_typical = Some(parse_typical(v)?);
    }
    Ok(Box::new(plugin))
}

/// Parses `deviceshare.TypicalTasks`: a list of `{cpuMilli, gpus, gpuPercent, models, weight}`
/// (`gpus` whole cards, or `gpuPercent` of one card; neither: a CPU-only task). Weights are
/// normalised to probabilities.
fn parse_typical(v: &serde_json::Value) -> Result<Typical, ConfigError> {
    let bad = |value: &serde_json::Value, expected: &'static str| ConfigError::BadArgument {
        owner: "plugin \"deviceshare\"".into(),
        key: "deviceshare.TypicalTasks".into(),
        value: value.to_string(),
        expected,
    };
    const SHAPE: &str = "a list of {cpuMilli, gpus, gpuPercent, models, weight} with \
        non-negative numbers, gpuPercent below 100, models a list of card model names, weight > 0";
    let list = v.as_array().ok_or_else(|| bad(v, SHAPE))?;
    let mut tasks = Vec::with_capacity(list.len());
    for e in list {
        let num = |k: &str| -> Result<i64, ConfigError> {
            match e.get(k) {
                None => Ok(0),
                Some(x) => x.as_i64().filter(|n| *n >= 0).ok_or_else(|| bad(e, SHAPE)),
            }
        };
        let (cpu, gpus, pct) = (num("cpuMilli")?, num("gpus")?, num("gpuPercent")?);
        let weight = e
            .get("weight")
            .and_then(serde_json::Value::as_f64)
            .filter(|w| *w > 0.0)
            .ok_or_else(|| bad(e, SHAPE))?;
        let models = match e.get("models") {
            None => Vec::new(),
            Some(m) => m
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|x| x.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| bad(e, SHAPE))?,
        };
        if pct >= 100 || (pct > 0 && gpus > 0) {
            return Err(bad(e, SHAPE));
        }
        let mut r = Resources::new();
        if gpus > 0 {
            r = r.with(NVIDIA_GPU, gpus);
        } else if pct > 0 {
            r = r
                .with(gpu::VGPU_CORES, pct)
                .with(gpu::HAMI_GPUMEM_PERCENTAGE, pct);
        }
        tasks.push(TypicalTask {
            cpu_milli: cpu.max(100),
            gpu: gpu::parse_request(&r, &BTreeMap::new()),
            models,
            p: weight,
        });
    }
    let sum: f64 = tasks.iter().map(|t| t.p).sum();
    for t in &mut tasks {
        t.p /= sum;
    }
    Ok(Typical(tasks))
}

impl DeviceShare {
    /// A plugin with `policy` and score `weight`.
    pub fn new(policy: Policy, weight: f64) -> Self {
        Self {
            policy,
            weight,
            requests: Vec::new(),
            uses: Vec::new(),
            assigned: Vec::new(),
            releasing: Vec::new(),
            released: Vec::new(),
            typical: Typical::default(),
            fixed_typical: None,
            cpu_dim: None,
            classes: Vec::new(),
            seed: 0,
            local: true,
        }
    }

    /// Current use of `node`'s cards (for tests and diagnostics).
    pub fn card_uses(&self, node: NodeIx) -> &[CardUse] {
        &self.uses[node.ix()]
    }

    /// Cards held by `task`: (card position on its node, memory MiB, cores).
    pub fn assignment(&self, task: TaskIx) -> Option<&[(u16, u64, u32)]> {
        self.assigned.get(task.ix()).and_then(|a| a.as_deref())
    }

    /// Card use on `node` as placement on idle resources sees it (`future` false: every running
    /// pod charged, Releasing ones included) or as pipelining sees it (`future` true: cards of
    /// Releasing pods free, pipelined pods charged).
    fn view(&self, node: NodeIx, future: bool) -> Cow<'_, [CardUse]> {
        let uses = &self.uses[node.ix()];
        let releasing = &self.releasing[node.ix()];
        if !future || releasing.iter().all(|r| *r == CardUse::default()) {
            return Cow::Borrowed(uses);
        }
        Cow::Owned(
            uses.iter()
                .zip(releasing)
                .map(|(u, r)| CardUse {
                    memory: u.memory.saturating_sub(r.memory),
                    cores: u.cores.saturating_sub(r.cores),
                    tenants: u.tenants.saturating_sub(r.tenants),
                })
                .collect(),
        )
    }

    /// The view a check of `task` on `node` uses: idle when the request fits the node's scalar
    /// idle resources and its cards as they are now (the engine then places on idle), future
    /// otherwise (it can only pipeline; see [`Self::idle_refusal`]).
    fn view_for(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Cow<'_, [CardUse]> {
        let idle_fit =
            fits(st.request(task), st.idle.row(node.ix())) && self.fits_cards_now(st, task, node);
        self.view(node, !idle_fit)
    }

    /// Whether `task`'s card request (if any) fits `node`'s cards without the Releasing pods'.
    fn fits_cards_now(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> bool {
        let Some(req) = &self.requests[task.ix()] else {
            return true;
        };
        let releasing = &self.releasing[node.ix()];
        if releasing.iter().all(|r| *r == CardUse::default()) {
            // Both views are the same: the predicate alone decides.
            return true;
        }
        let cards = &st.nodes[node.ix()].spec.gpus;
        cards.is_empty() || enough(req, cards, &self.uses[node.ix()])
    }

    fn choose(
        &self,
        st: &State<'_>,
        task: TaskIx,
        req: &GpuRequest,
        node: NodeIx,
        uses: &[CardUse],
        cpu: (i64, i64),
    ) -> Option<Vec<u16>> {
        let cards = &st.nodes[node.ix()].spec.gpus;
        if self.policy == Policy::Random && req.count == 1 {
            // A uniformly random fitting card (received randomness, see `baselines`).
            let task = st.tasks[task.ix()].id.as_str();
            return (0..cards.len())
                .filter(|&g| cards::fits(req, &cards[g], &uses[g]))
                .map(|g| {
                    (
                        baselines::uniform(self.seed, &[task, &cards[g].uuid]),
                        g as u16,
                    )
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map(|(_, g)| vec![g]);
        }
        choose(req, cards, uses, self.policy, &self.typical, cpu)
    }

    /// Counts (`add`) or stops counting a placed GPU pod in its node's clustering classes.
    fn count_class(&mut self, node: NodeIx, req: &GpuRequest, add: bool) {
        let class = baselines::class_of(req);
        let classes = &mut self.classes[node.ix()];
        match classes.iter_mut().find(|(c, _)| *c == class) {
            Some((_, n)) if add => *n += 1,
            Some((_, n)) => *n = n.saturating_sub(1),
            None if add => classes.push((class, 1)),
            None => {}
        }
    }

    /// A paper baseline's node score for `task` (`req` `None`: CPU-only) on `node`.
    fn baseline_score(
        &self,
        st: &State<'_>,
        task: TaskIx,
        node: NodeIx,
        req: Option<&GpuRequest>,
        uses: &[CardUse],
    ) -> f64 {
        let cards = &st.nodes[node.ix()].spec.gpus;
        let cpu = self.cpu(st, task, node);
        let free: i64 = cards
            .iter()
            .zip(uses)
            .map(|(c, u)| baselines::free_milli(c, u))
            .sum();
        let demand = baselines::demand_milli(req);
        match (self.policy, req) {
            (Policy::Random, _) => {
                let names = [
                    st.tasks[task.ix()].id.as_str(),
                    st.nodes[node.ix()].id.as_str(),
                ];
                // Not rounded: the paper's Random gives one uniformly drawn feasible node the
                // top score, and the largest of independent uniforms is that node. Whole
                // numbers would tie about one node in a hundred at the top and hand the pod to
                // the first of them in node order, a bias towards the same nodes that packs
                // (9.2 % unallocated on the default trace instead of the paper's 13.7).
                100.0 * baselines::uniform(self.seed, &names)
            }
            (Policy::DotProd, _) => baselines::dot_product(cpu, free, demand),
            (Policy::BestFit, _) => baselines::best_fit(cpu, free, demand),
            (Policy::Clustering, Some(r)) => {
                baselines::clustering(&self.classes[node.ix()], baselines::class_of(r), free)
            }
            (Policy::Packing, Some(r)) => baselines::packing(r, cards, uses),
            _ => 0.0,
        }
    }

    /// (free CPU on `node`, CPU request of `task`) in milli-cores, FGD's CPU dimension; the
    /// request counts at least 100 m (Kubernetes' non-zero request, as the paper's scores do).
    fn cpu(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> (i64, i64) {
        match self.cpu_dim {
            Some(d) => (st.idle.row(node.ix())[d], st.request(task)[d].max(100)),
            None => (0, 0),
        }
    }

    /// Counts (`add`) or stops counting a Releasing task's cards as releasing.
    fn mark_releasing(&mut self, task: TaskIx, node: NodeIx, add: bool) {
        if self.released[task.ix()] == add {
            return;
        }
        if let Some(shares) = &self.assigned[task.ix()] {
            apply(&mut self.releasing[node.ix()], shares, add);
            self.released[task.ix()] = add;
        }
    }

    fn shares(
        st: &State<'_>,
        req: &GpuRequest,
        node: NodeIx,
        chosen: &[u16],
    ) -> Vec<(u16, u64, u32)> {
        let cards = &st.nodes[node.ix()].spec.gpus;
        chosen
            .iter()
            .map(|&g| (g, req.memory_on(&cards[g as usize]), req.cores_on()))
            .collect()
    }

    /// Charges a pod found bound in the snapshot.
    fn account_existing(&mut self, st: &State<'_>, task: TaskIx, node: NodeIx, req: &GpuRequest) {
        let spec = st.tasks[task.ix()].spec;
        let cards = &st.nodes[node.ix()].spec.gpus;
        let bound = matches!(
            spec.status,
            TaskStatus::Binding | TaskStatus::Bound | TaskStatus::Running | TaskStatus::Releasing
        );
        // Without a card inventory no assignment can name a card here: nothing to decode.
        let from_annotation = (bound && !cards.is_empty())
            .then(|| match st.prepared_gpu(task) {
                Some((_, assignment)) => assignment.map(<[String]>::to_vec),
                None => gpu::bound_assignment(&spec.annotations),
            })
            .flatten()
            .and_then(|uuids| {
                let pos: Vec<u16> = uuids
                    .iter()
                    .filter_map(|u| cards.iter().position(|c| &c.uuid == u).map(|p| p as u16))
                    .collect();
                let mut distinct = pos.clone();
                distinct.sort_unstable();
                distinct.dedup();
                (pos.len() == uuids.len()
                    && distinct.len() == pos.len()
                    && pos.len() == req.count as usize)
                    .then_some(pos)
            });
        let chosen = from_annotation
            .or_else(|| self.choose(st, task, req, node, &self.uses[node.ix()], (0, 0)))
            .unwrap_or_else(|| (0..cards.len().min(req.count as usize) as u16).collect());
        let shares = Self::shares(st, req, node, &chosen);
        apply(&mut self.uses[node.ix()], &shares, true);
        self.assigned[task.ix()] = Some(shares);
        self.count_class(node, req, true);
    }

    /// M from the pods placed on nodes (all tasks while none is placed): tasks keyed by
    /// (CPU, card request, accepted models), CPU-only tasks included, the most common covering
    /// 95 % (at most MAX_TYPICAL).
    fn build_typical(&mut self, st: &State<'_>) {
        if let Some(t) = &self.fixed_typical {
            self.typical = t.clone();
            return;
        }
        type Key = (i64, Option<GpuRequest>, Vec<String>);
        let any_placed = st.tasks.iter().any(|t| t.status.occupies_node());
        let mut counts: HashMap<Key, u32> = HashMap::new();
        let mut total = 0u32;
        for (i, t) in st.tasks.iter().enumerate() {
            if any_placed && !t.status.occupies_node() {
                continue;
            }
            let cpu = self
                .cpu_dim
                .map_or(0, |d| st.request(TaskIx(i as u32))[d])
                .max(100);
            let req = self.requests[i].as_ref();
            let models = req.map(|r| r.use_types.clone()).unwrap_or_default();
            let key = req.map(|r| GpuRequest {
                use_types: Vec::new(),
                nouse_types: Vec::new(),
                use_uuids: Vec::new(),
                nouse_uuids: Vec::new(),
                ..r.clone()
            });
            *counts.entry((cpu, key, models)).or_insert(0) += 1;
            total += 1;
        }
        let mut v: Vec<(Key, u32)> = counts.into_iter().collect();
        let order = |k: &Key| {
            let g = k.1.as_ref();
            (
                k.0,
                g.map(|r| {
                    (
                        r.count,
                        r.memory_mib,
                        r.memory_percent,
                        r.cores,
                        r.exclusive,
                    )
                }),
                k.2.clone(),
            )
        };
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| order(&a.0).cmp(&order(&b.0))));
        let mut kept = Vec::new();
        let mut covered = 0u32;
        for (k, c) in v {
            if kept.len() >= MAX_TYPICAL || f64::from(covered) >= 0.95 * f64::from(total) {
                break;
            }
            covered += c;
            kept.push((k, c));
        }
        let sum: f64 = kept.iter().map(|(_, c)| f64::from(*c)).sum();
        self.typical = Typical(
            kept.into_iter()
                .map(|((cpu_milli, gpu, models), c)| TypicalTask {
                    cpu_milli,
                    gpu,
                    models,
                    p: f64::from(c) / sum,
                })
                .collect(),
        );
    }
}

impl Plugin for DeviceShare {
    fn name(&self) -> &'static str {
        "deviceshare"
    }

    fn hooks(&self) -> Hooks {
        Hooks::PREDICATE | Hooks::NODE_SCORE | Hooks::EVENTS
    }

    fn node_local(&self) -> bool {
        self.local
    }

    fn open(&mut self, st: &State<'_>) {
        // Read from the interned request rows: no name comparisons per pod.
        let dims = gpu::GpuDims::new(&st.dims);
        self.requests = st
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| match st.prepared_gpu(TaskIx(i as u32)) {
                Some((req, _)) => req.cloned(),
                None => {
                    gpu::parse_request_row(&dims, st.request(TaskIx(i as u32)), &t.spec.annotations)
                }
            })
            .collect();
        self.uses = st
            .nodes
            .iter()
            .map(|n| vec![CardUse::default(); n.spec.gpus.len()])
            .collect();
        self.assigned = vec![None; st.tasks.len()];
        self.releasing = self.uses.clone();
        self.released = vec![false; st.tasks.len()];
        self.classes = vec![Vec::new(); st.nodes.len()];
        // `random` scores by the task's name, not only its constraints and requests.
        self.local = self.policy != Policy::Random
            && self.requests.iter().flatten().all(|r| !r.has_filters());
        for (i, t) in st.tasks.iter().enumerate() {
            let (Some(req), Some(node)) = (self.requests[i].clone(), t.node) else {
                continue;
            };
            if t.status.occupies_node() || t.status == TaskStatus::Pipelined {
                self.account_existing(st, TaskIx(i as u32), node, &req);
                if t.status == TaskStatus::Releasing {
                    self.mark_releasing(TaskIx(i as u32), node, true);
                }
            }
        }
        self.cpu_dim = st.dims.index_of(CPU);
        if self.policy == Policy::Fgd {
            self.build_typical(st);
        }
    }

    fn predicate(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Result<(), Unfit> {
        let Some(req) = &self.requests[task.ix()] else {
            return Ok(());
        };
        if st.nodes[node.ix()].spec.gpus.is_empty() {
            // No card inventory: whole cards are left to the scalar `nvidia.com/gpu` check.
            return if req.exclusive {
                Ok(())
            } else {
                Err(Unfit::unresolvable(
                    "node(s) had no GPU card inventory for shared GPUs",
                ))
            };
        }
        let cards = &st.nodes[node.ix()].spec.gpus;
        match enough(req, cards, &self.view_for(st, task, node)) {
            true => Ok(()),
            false => Err(Unfit::unschedulable(
                "node(s) had no GPU card with enough free memory and cores",
            )),
        }
    }

    fn idle_refusal(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> Option<Unfit> {
        (!self.fits_cards_now(st, task, node)).then(|| {
            Unfit::unschedulable(
                "node(s) had GPU room only on cards of pods being released (the pod waits for them)",
            )
        })
    }

    fn node_score(&self, st: &State<'_>, task: TaskIx, node: NodeIx) -> f64 {
        let cpu = self.cpu(st, task, node);
        let cards = &st.nodes[node.ix()].spec.gpus;
        let Some(req) = &self.requests[task.ix()] else {
            if self.policy.is_paper_baseline() {
                let uses = self.view_for(st, task, node);
                return self.weight * self.baseline_score(st, task, node, None, &uses);
            }
            // FGD scores CPU-only pods too: taking CPU can strand a node's idle cards.
            if self.policy != Policy::Fgd {
                return 0.0;
            }
            let uses = self.view_for(st, task, node);
            let table = FragTable::new(&self.typical, cards, &uses);
            let d = table.value(cpu.0) - table.after(None, &[], cpu.0 - cpu.1);
            return self.weight * fgd_score(d);
        };
        let uses = self.view_for(st, task, node);
        if self.policy == Policy::Fgd {
            return fgd_place(req, cards, &uses, &self.typical, cpu)
                .map_or(0.0, |(_, s)| self.weight * s);
        }
        let Some(chosen) = self.choose(st, task, req, node, &uses, cpu) else {
            return 0.0;
        };
        if self.policy.is_paper_baseline() {
            return self.weight * self.baseline_score(st, task, node, Some(req), &uses);
        }
        self.weight * score(req, cards, &uses, &chosen, self.policy, &self.typical, cpu)
    }

    fn on_allocate(
        &mut self,
        st: &State<'_>,
        task: TaskIx,
        node: NodeIx,
        annotations: &mut BTreeMap<String, String>,
    ) {
        // Undoing an eviction: the same cards stop being releasing (they stayed charged).
        if self.assigned[task.ix()].is_some() {
            self.mark_releasing(task, node, false);
            return;
        }
        let Some(req) = self.requests[task.ix()].clone() else {
            return;
        };
        let pipelined = st.tasks[task.ix()].status == TaskStatus::Pipelined;
        // The statement has already charged the task's CPU to the node: add it back so the
        // card choice sees what the node score saw.
        let (free, need) = self.cpu(st, task, node);
        let charged = match self.cpu_dim {
            Some(d) if !pipelined => st.request(task)[d].max(0),
            _ => 0,
        };
        let cpu = (free + charged, need);
        let Some(chosen) = self.choose(st, task, &req, node, &self.view(node, pipelined), cpu)
        else {
            return;
        };
        let shares = Self::shares(st, &req, node, &chosen);
        apply(&mut self.uses[node.ix()], &shares, true);
        let n = &st.nodes[node.ix()];
        let encoded = gpu::encode_cards(shares.iter().map(|&(g, memory_mib, cores)| {
            let c = &n.spec.gpus[g as usize];
            (c.uuid.as_str(), c.model.as_str(), memory_mib, cores)
        }));
        debug_assert!(shares.iter().all(|&(g, _, _)| {
            self.view(node, true)[g as usize].cores <= n.spec.gpus[g as usize].cores
        }));
        self.assigned[task.ix()] = Some(shares);
        self.count_class(node, &req, true);
        annotations.insert(gpu::HAMI_DEVICES_TO_ALLOCATE.into(), encoded.clone());
        annotations.insert(gpu::VOLCANO_VGPU_IDS_NEW.into(), encoded);
        annotations.insert(gpu::HAMI_VGPU_NODE.into(), n.id.as_str().to_owned());
        annotations.insert(gpu::HAMI_BIND_PHASE.into(), "allocating".into());
        if let Some(now) = st.snapshot.now {
            annotations.insert(gpu::HAMI_VGPU_TIME.into(), (now / 1000).to_string());
        }
    }

    fn on_deallocate(&mut self, st: &State<'_>, task: TaskIx, node: NodeIx) {
        // Evicted in this session: the cards stay charged (the pod still runs) and become
        // releasing, free for pipelining the preemptor; a discarded eviction undoes exactly that.
        if st.tasks[task.ix()].status == TaskStatus::Releasing {
            self.mark_releasing(task, node, true);
            return;
        }
        self.mark_releasing(task, node, false);
        if let Some(shares) = self.assigned[task.ix()].take() {
            apply(&mut self.uses[node.ix()], &shares, false);
            if let Some(req) = self.requests[task.ix()].clone() {
                self.count_class(node, &req, false);
            }
        }
    }
}

#[cfg(test)]
mod tests;
