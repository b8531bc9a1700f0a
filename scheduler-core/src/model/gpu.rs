//! GPU sharing vocabulary: the resource and annotation names Basalt understands (the article's,
//! HAMi's and Volcano's), parsing of a pod's GPU request, parsing of a node's card inventory from
//! plain maps (so the controllers and the simulator build [`GpuDevice`]s the same way), and the
//! HAMi/Volcano per-card assignment encoding written on bind and read back for bound pods.
//!
//! Inventory precedence: HAMi's `hami.io/node-nvidia-register` annotation (JSON array, else the
//! older colon form) wins; when it is absent or malformed, node capacity `nvidia.com/gpu` with
//! the GPU-feature-discovery labels `nvidia.com/gpu.product` and `nvidia.com/gpu.memory` (MiB).

use std::collections::BTreeMap;

use serde::Deserialize;
use thiserror::Error;

use super::GpuDevice;
use crate::resources::{NVIDIA_GPU, Resources};

/// The article's per-vGPU memory (a quantity, e.g. `4Gi`; canonical unit bytes).
pub const VGPU_MEMORY: &str = "nvidia.com/vgpu-memory";
/// The article's per-vGPU compute share in percent.
pub const VGPU_CORES: &str = "nvidia.com/vgpu-cores";
/// HAMi: per-vGPU memory in MiB.
pub const HAMI_GPUMEM: &str = "nvidia.com/gpumem";
/// HAMi: per-vGPU memory in percent of the card.
pub const HAMI_GPUMEM_PERCENTAGE: &str = "nvidia.com/gpumem-percentage";
/// HAMi: per-vGPU compute share in percent.
pub const HAMI_GPUCORES: &str = "nvidia.com/gpucores";
/// Volcano: number of vGPUs.
pub const VOLCANO_VGPU_NUMBER: &str = "volcano.sh/vgpu-number";
/// Volcano: per-vGPU memory in MiB.
pub const VOLCANO_VGPU_MEMORY: &str = "volcano.sh/vgpu-memory";
/// Volcano: per-vGPU compute share in percent.
pub const VOLCANO_VGPU_CORES: &str = "volcano.sh/vgpu-cores";
/// Pod annotation: comma list of card types the pod accepts (substring, case-insensitive).
pub const USE_GPUTYPE: &str = "nvidia.com/use-gputype";
/// Pod annotation: comma list of card types the pod refuses.
pub const NOUSE_GPUTYPE: &str = "nvidia.com/nouse-gputype";
/// Pod annotation: comma list of card UUIDs the pod accepts.
pub const USE_GPUUUID: &str = "nvidia.com/use-gpuuuid";
/// Pod annotation: comma list of card UUIDs the pod refuses.
pub const NOUSE_GPUUUID: &str = "nvidia.com/nouse-gpuuuid";
/// Node annotation: HAMi device plugin's card inventory.
pub const HAMI_NODE_REGISTER: &str = "hami.io/node-nvidia-register";
/// Node label (GPU feature discovery): card model.
pub const GFD_PRODUCT: &str = "nvidia.com/gpu.product";
/// Node label (GPU feature discovery): per-card memory in MiB.
pub const GFD_MEMORY: &str = "nvidia.com/gpu.memory";
/// Bind annotation (HAMi): the cards to hand to the container.
pub const HAMI_DEVICES_TO_ALLOCATE: &str = "hami.io/vgpu-devices-to-allocate";
/// Pod annotation (HAMi device plugin, after Allocate): the cards handed over.
pub const HAMI_DEVICES_ALLOCATED: &str = "hami.io/vgpu-devices-allocated";
/// Bind annotation (HAMi): the chosen node.
pub const HAMI_VGPU_NODE: &str = "hami.io/vgpu-node";
/// Bind annotation (HAMi): decision time, Unix seconds.
pub const HAMI_VGPU_TIME: &str = "hami.io/vgpu-time";
/// Bind annotation (HAMi): `allocating` until the device plugin flips it.
pub const HAMI_BIND_PHASE: &str = "hami.io/bind-phase";
/// Bind annotation (Volcano): the cards, same encoding as HAMi's.
pub const VOLCANO_VGPU_IDS_NEW: &str = "volcano.sh/vgpu-ids-new";
/// Vgpu slots per card assumed for `volcano.sh/vgpu-number` capacity (HAMi's default split).
pub const DEFAULT_SPLIT: i64 = 10;

/// A malformed GPU inventory or assignment.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GpuError {
    /// The HAMi registration annotation is neither the JSON nor the colon form.
    #[error(
        "node annotation {HAMI_NODE_REGISTER} is malformed ({reason}); expected a JSON array of {{id, index, devmem, devcore, type, health}} or `UUID,count,memMiB,cores,type,numa,healthy:` entries"
    )]
    BadRegister {
        /// What went wrong.
        reason: String,
    },
}

/// What a pod asks of GPUs, per vGPU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GpuRequest {
    /// vGPUs, each on a distinct card.
    pub count: u32,
    /// Memory per vGPU in MiB (0 with `memory_percent` 0 means the whole card).
    pub memory_mib: u64,
    /// Memory per vGPU in percent of the card (HAMi `gpumem-percentage`); 0 if not used.
    pub memory_percent: u32,
    /// Compute share per vGPU in percent.
    pub cores: u32,
    /// Whole cards nobody else may use (`nvidia.com/gpu` alone, or cores = 100).
    pub exclusive: bool,
    /// Accepted card types (empty: any).
    pub use_types: Vec<String>,
    /// Refused card types.
    pub nouse_types: Vec<String>,
    /// Accepted card UUIDs (empty: any).
    pub use_uuids: Vec<String>,
    /// Refused card UUIDs.
    pub nouse_uuids: Vec<String>,
}

impl GpuRequest {
    /// Memory this request takes on `card` in MiB.
    pub fn memory_on(&self, card: &GpuDevice) -> u64 {
        if self.exclusive || (self.memory_mib == 0 && self.memory_percent == 0) {
            card.memory_mib
        } else if self.memory_percent > 0 {
            card.memory_mib * u64::from(self.memory_percent.min(100)) / 100
        } else {
            self.memory_mib
        }
    }

    /// Cores this request takes on a card.
    pub fn cores_on(&self) -> u32 {
        if self.exclusive { 100 } else { self.cores }
    }

    /// Whether the pod's type and UUID filters allow `card`.
    pub fn allows(&self, card: &GpuDevice) -> bool {
        if !self.has_filters() {
            return true;
        }
        let model = card.model.to_ascii_lowercase();
        let has = |t: &String| model.contains(&t.to_ascii_lowercase());
        (self.use_types.is_empty() || self.use_types.iter().any(has))
            && !self.nouse_types.iter().any(has)
            && (self.use_uuids.is_empty() || self.use_uuids.contains(&card.uuid))
            && !self.nouse_uuids.contains(&card.uuid)
    }

    /// Whether any type or UUID filter is set (the answer then depends on annotations).
    pub fn has_filters(&self) -> bool {
        !(self.use_types.is_empty()
            && self.nouse_types.is_empty()
            && self.use_uuids.is_empty()
            && self.nouse_uuids.is_empty())
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The request names [`parse_request`] reads, in the order it destructures them.
const GPU_REQUEST_NAMES: [&str; 9] = [
    VGPU_MEMORY,
    HAMI_GPUMEM,
    VOLCANO_VGPU_MEMORY,
    HAMI_GPUMEM_PERCENTAGE,
    VGPU_CORES,
    HAMI_GPUCORES,
    VOLCANO_VGPU_CORES,
    NVIDIA_GPU,
    VOLCANO_VGPU_NUMBER,
];

/// The pod's GPU request, or `None` when it asks for no GPU. Memory: the article's
/// `nvidia.com/vgpu-memory` (bytes, rounded up to MiB), else HAMi's `nvidia.com/gpumem` or
/// Volcano's `volcano.sh/vgpu-memory` (MiB), else `nvidia.com/gpumem-percentage`. Cores:
/// `nvidia.com/vgpu-cores`, `nvidia.com/gpucores` or `volcano.sh/vgpu-cores`. Count:
/// `volcano.sh/vgpu-number`, else `nvidia.com/gpu`, else 1. A plain `nvidia.com/gpu` without
/// memory or cores is that many exclusive whole cards.
pub fn parse_request(
    requests: &Resources,
    annotations: &BTreeMap<String, String>,
) -> Option<GpuRequest> {
    // One pass over the pod's few requests instead of a map lookup per GPU resource name: the
    // session parses every pod of the snapshot when it opens.
    let mut found = [None::<u64>; GPU_REQUEST_NAMES.len()];
    for (name, amount) in requests.iter() {
        if let Some(i) = GPU_REQUEST_NAMES.iter().position(|n| *n == name) {
            found[i] = positive(amount);
        }
    }
    from_found(found, annotations)
}

fn positive(amount: i64) -> Option<u64> {
    u64::try_from(amount).ok().filter(|v| *v > 0)
}

/// Where each GPU request name [`parse_request`] reads sits in a session's interned resource
/// rows (`None`: no pod of the snapshot names it). Computed once per session, so
/// [`parse_request_row`] reads a pod's GPU request from its row without comparing names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuDims([Option<usize>; GPU_REQUEST_NAMES.len()]);

impl GpuDims {
    /// The positions of the GPU request names in `dims`.
    pub fn new(dims: &crate::resources::ResourceDims) -> Self {
        Self(GPU_REQUEST_NAMES.map(|n| dims.index_of(n)))
    }
}

/// [`parse_request`] of a pod whose requests were interned into `row` (every name of the pod's
/// requests interned, as a session's state does): the same answer, read by position.
pub fn parse_request_row(
    dims: &GpuDims,
    row: &[i64],
    annotations: &BTreeMap<String, String>,
) -> Option<GpuRequest> {
    let found = dims.0.map(|i| i.and_then(|i| positive(row[i])));
    if found.iter().all(Option::is_none) {
        return None;
    }
    from_found(found, annotations)
}

fn from_found(
    found: [Option<u64>; GPU_REQUEST_NAMES.len()],
    annotations: &BTreeMap<String, String>,
) -> Option<GpuRequest> {
    let [
        vgpu_memory,
        hami_gpumem,
        volcano_memory,
        hami_percent,
        vgpu_cores,
        hami_cores,
        volcano_cores,
        gpus,
        volcano_number,
    ] = found;
    let memory_mib = vgpu_memory
        .map(|b| b.div_ceil(1 << 20))
        .or(hami_gpumem)
        .or(volcano_memory)
        .unwrap_or(0);
    let memory_percent = hami_percent.unwrap_or(0);
    let cores = vgpu_cores.or(hami_cores).or(volcano_cores).unwrap_or(0);
    let sharing = memory_mib > 0 || memory_percent > 0 || cores > 0;
    let count = volcano_number.or(gpus).or(sharing.then_some(1))?;
    let exclusive = !sharing || cores >= 100;
    let [use_types, nouse_types, use_uuids, nouse_uuids] = filters(annotations);
    Some(GpuRequest {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        memory_mib,
        memory_percent: u32::try_from(memory_percent).unwrap_or(100),
        cores: u32::try_from(cores.min(100)).unwrap_or(100),
        exclusive,
        use_types,
        nouse_types,
        use_uuids,
        nouse_uuids,
    })
}

/// The four card filters (`use-gputype`, `nouse-gputype`, `use-gpuuuid`, `nouse-gpuuuid`), read
/// in one pass over the pod's few annotations: most pods have none of these keys, and matching
/// by key length first rules them out without comparing bytes (every session reads every GPU
/// pod's request).
fn filters(annotations: &BTreeMap<String, String>) -> [Vec<String>; 4] {
    let mut out: [Vec<String>; 4] = Default::default();
    for (key, value) in annotations {
        let slot = match key.as_str() {
            USE_GPUTYPE => 0,
            NOUSE_GPUTYPE => 1,
            USE_GPUUUID => 2,
            NOUSE_GPUUUID => 3,
            _ => continue,
        };
        out[slot] = split_list(value);
    }
    out
}

#[derive(Deserialize)]
struct HamiDevice {
    id: String,
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    devmem: u64,
    #[serde(default = "hundred")]
    devcore: u32,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default = "yes")]
    health: bool,
}

fn hundred() -> u32 {
    100
}

fn yes() -> bool {
    true
}

/// Parses HAMi's `hami.io/node-nvidia-register` value: a JSON array, or the older
/// `UUID,splitCount,memMiB,cores,type,numa,healthy` entries joined by `:`. Split counts and NUMA
/// are read and not kept.
pub fn parse_hami_register(text: &str) -> Result<Vec<GpuDevice>, GpuError> {
    let text = text.trim();
    let bad = |reason: String| GpuError::BadRegister { reason };
    if text.starts_with('[') {
        let devs: Vec<HamiDevice> =
            serde_json::from_str(text).map_err(|e| bad(format!("JSON: {e}")))?;
        return Ok(devs
            .into_iter()
            .enumerate()
            .map(|(i, d)| GpuDevice {
                uuid: d.id,
                index: d.index.unwrap_or(i as u32),
                memory_mib: d.devmem,
                cores: d.devcore,
                model: d.kind,
                healthy: d.health,
            })
            .collect());
    }
    let mut out = Vec::new();
    for (i, entry) in text.split(':').filter(|e| !e.trim().is_empty()).enumerate() {
        let f: Vec<&str> = entry.split(',').map(str::trim).collect();
        if f.len() < 5 {
            return Err(bad(format!(
                "entry {entry:?} has {} fields, not 7",
                f.len()
            )));
        }
        let num = |s: &str, what: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(format!("entry {entry:?}: {what} {s:?} is not a number")))
        };
        out.push(GpuDevice {
            uuid: f[0].to_owned(),
            index: i as u32,
            memory_mib: num(f[2], "memory")?,
            cores: u32::try_from(num(f[3], "cores")?).unwrap_or(100),
            model: f[4].to_owned(),
            healthy: f.get(6).is_none_or(|h| !h.eq_ignore_ascii_case("false")),
        });
    }
    Ok(out)
}

/// The node's cards by the documented precedence: the HAMi registration annotation when present
/// and well-formed, else `nvidia.com/gpu` capacity with GFD labels (UUIDs `<node>-gpu-<i>`,
/// memory 0 when the label is missing: only whole-card requests then fit).
pub fn node_cards(
    node: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    capacity: &Resources,
) -> Vec<GpuDevice> {
    if let Some(Ok(cards)) = annotations
        .get(HAMI_NODE_REGISTER)
        .map(|t| parse_hami_register(t))
        && !cards.is_empty()
    {
        return cards;
    }
    let n = u32::try_from(capacity.get(NVIDIA_GPU)).unwrap_or(0);
    let memory_mib = labels
        .get(GFD_MEMORY)
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    let model = labels.get(GFD_PRODUCT).cloned().unwrap_or_default();
    (0..n)
        .map(|i| GpuDevice {
            uuid: format!("{node}-gpu-{i}"),
            index: i,
            memory_mib,
            cores: 100,
            model: model.clone(),
            healthy: true,
        })
        .collect()
}

/// Node-level totals of the sharing resources for `cards`. The core's resource fit checks pod
/// requests against node allocatable; builders merge these for names the node does not
/// advertise, so the coarse check passes and deviceshare does the per-card one.
pub fn share_allocatable(cards: &[GpuDevice]) -> Resources {
    let n = cards.len() as i64;
    let mib: i64 = cards
        .iter()
        .map(|c| i64::try_from(c.memory_mib).unwrap_or(i64::MAX))
        .sum();
    Resources::new()
        .with(VGPU_MEMORY, mib << 20)
        .with(VGPU_CORES, 100 * n)
        .with(HAMI_GPUMEM, mib)
        .with(HAMI_GPUMEM_PERCENTAGE, 100 * n)
        .with(HAMI_GPUCORES, 100 * n)
        .with(VOLCANO_VGPU_NUMBER, DEFAULT_SPLIT * n)
        .with(VOLCANO_VGPU_MEMORY, mib)
        .with(VOLCANO_VGPU_CORES, 100 * n)
}

/// Adds [`share_allocatable`] entries the node's allocatable lacks.
pub fn merge_share_allocatable(allocatable: &mut Resources, cards: &[GpuDevice]) {
    for (name, amount) in share_allocatable(cards).iter() {
        if allocatable.get(name) == 0 {
            allocatable.set(name, amount);
        }
    }
}

/// One card of an assignment: UUID, type, memory MiB, cores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardShare {
    /// Card UUID.
    pub uuid: String,
    /// Card type.
    pub model: String,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Cores in percent.
    pub cores: u32,
}

/// HAMi/Volcano encoding of one container's cards: `UUID,TYPE,memMiB,cores:` per card, then `;`.
pub fn encode_assignment(shares: &[CardShare]) -> String {
    encode_cards(
        shares
            .iter()
            .map(|c| (c.uuid.as_str(), c.model.as_str(), c.memory_mib, c.cores)),
    )
}

/// [`encode_assignment`] of `(uuid, model, memory MiB, cores)` per card, without building
/// [`CardShare`]s (a session encodes one assignment per GPU pod it binds).
pub fn encode_cards<'a>(cards: impl IntoIterator<Item = (&'a str, &'a str, u64, u32)>) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(64);
    for (uuid, model, memory_mib, cores) in cards {
        // Writing into a String cannot fail.
        let _ = write!(s, "{uuid},{model},{memory_mib},{cores}:");
    }
    s.push(';');
    s
}

/// The card UUIDs of an encoded assignment (all containers), or `None` if malformed.
pub fn decode_assignment_uuids(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for entry in text.split([';', ':']).filter(|e| !e.trim().is_empty()) {
        let uuid = entry.split(',').next()?.trim();
        if uuid.is_empty() {
            return None;
        }
        out.push(uuid.to_owned());
    }
    Some(out)
}

/// The cards a *bound* pod holds per its own bind annotations (HAMi's allocated, then
/// to-allocate, then Volcano's). Callers must only use this for pods bound to a node: the
/// amounts charged always come from the pod's requests, never from the annotation.
pub fn bound_assignment(annotations: &BTreeMap<String, String>) -> Option<Vec<String>> {
    // In this order of preference; one pass over the pod's few annotations (see `filters`).
    let mut found: [Option<&String>; 3] = [None; 3];
    for (key, value) in annotations {
        let slot = match key.as_str() {
            HAMI_DEVICES_ALLOCATED => 0,
            HAMI_DEVICES_TO_ALLOCATE => 1,
            VOLCANO_VGPU_IDS_NEW => 2,
            _ => continue,
        };
        found[slot] = Some(value);
    }
    found
        .into_iter()
        .flatten()
        .find_map(|v| decode_assignment_uuids(v).filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests;
