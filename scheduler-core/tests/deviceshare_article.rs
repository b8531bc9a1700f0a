//! Article case 1 through the whole session: four 4 GiB / 25-core inference replicas share one
//! 80 GiB card under binpack and take four cards under spread; an exclusive `nvidia.com/gpu: 1`
//! pod never shares a card. Checked on the bind annotations a HAMi device plugin would read.

use std::collections::BTreeMap;

use scheduler_core::model::gpu::{
    self, HAMI_DEVICES_TO_ALLOCATE, HAMI_VGPU_NODE, VGPU_CORES, VGPU_MEMORY, VOLCANO_VGPU_IDS_NEW,
};
use scheduler_core::model::{GpuDevice, Job, Node, Queue, Snapshot, Task};
use scheduler_core::resources::NVIDIA_GPU;
use scheduler_core::{Effect, Resources, Scheduler, run_session};

const GI: i64 = 1 << 30;

fn config(policy: &str) -> Scheduler {
    Scheduler::from_yaml(&format!(
        "actions: \"enqueue, allocate\"\ntiers:\n- plugins:\n  - name: predicates\n  - name: deviceshare\n    arguments:\n      deviceshare.SchedulePolicy: {policy}\n"
    ))
    .expect("deviceshare config loads")
}

fn node(cards: u32) -> Node {
    let gpus: Vec<GpuDevice> = (0..cards)
        .map(|i| GpuDevice {
            uuid: format!("GPU-{i}"),
            index: i,
            memory_mib: 80 * 1024,
            cores: 100,
            model: "NVIDIA-A100-SXM4-80GB".into(),
            healthy: true,
        })
        .collect();
    let mut allocatable = Resources::new()
        .with("cpu", 96_000)
        .with("memory", 768 * GI)
        .with(NVIDIA_GPU, i64::from(cards));
    gpu::merge_share_allocatable(&mut allocatable, &gpus);
    Node {
        allocatable,
        gpus,
        ..Node::default()
    }
}

fn add(s: &mut Snapshot, name: &str, requests: Resources, creation: u64) {
    s.jobs.insert(
        name.into(),
        Job {
            creation,
            ..Job::new("q", 1)
        },
    );
    s.tasks.insert(
        format!("{name}-0").as_str().into(),
        Task {
            creation,
            ..Task::pending(name, requests)
        },
    );
}

fn inference() -> Resources {
    Resources::parse([("cpu", "1"), (VGPU_MEMORY, "4Gi"), (VGPU_CORES, "25")])
        .expect("test data is valid")
}

/// Binds of one session: task → (node, card UUIDs).
fn binds(s: &Snapshot, policy: &str) -> BTreeMap<String, (String, Vec<String>)> {
    let result = run_session(s, &config(policy)).expect("session runs");
    result
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bind {
                task,
                node,
                annotations,
            } => {
                assert_eq!(
                    annotations.get(HAMI_VGPU_NODE),
                    Some(&node.as_str().to_owned())
                );
                assert_eq!(
                    annotations.get(HAMI_DEVICES_TO_ALLOCATE),
                    annotations.get(VOLCANO_VGPU_IDS_NEW)
                );
                let cards = gpu::bound_assignment(annotations).unwrap_or_default();
                Some((task.as_str().to_owned(), (node.as_str().to_owned(), cards)))
            }
            _ => None,
        })
        .collect()
}

fn article_snapshot() -> Snapshot {
    let mut s = Snapshot::default();
    s.queues.insert("q".into(), Queue::open());
    s.nodes.insert("gpu-node-1".into(), node(4));
    for i in 0..4 {
        add(&mut s, &format!("infer-{i}"), inference(), i);
    }
    add(&mut s, "train", Resources::new().with(NVIDIA_GPU, 1), 10);
    s
}

#[test]
fn binpack_puts_four_replicas_on_one_card_and_the_exclusive_pod_alone() {
    let b = binds(&article_snapshot(), "binpack");
    assert_eq!(b.len(), 5, "{b:?}");
    let infer_cards: Vec<&String> = (0..4).map(|i| &b[&format!("infer-{i}-0")].1[0]).collect();
    assert!(infer_cards.iter().all(|c| *c == infer_cards[0]), "{b:?}");
    let train = &b["train-0"].1;
    assert_eq!(train.len(), 1);
    assert_ne!(
        &train[0], infer_cards[0],
        "exclusive pod shares a card: {b:?}"
    );
    let text = run_session(&article_snapshot(), &config("binpack"))
        .expect("test data is valid")
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Bind {
                task, annotations, ..
            } if task.as_str() == "infer-0-0" => annotations.get(HAMI_DEVICES_TO_ALLOCATE).cloned(),
            _ => None,
        })
        .expect("test data is valid");
    assert_eq!(
        text,
        format!("{},NVIDIA-A100-SXM4-80GB,4096,25:;", infer_cards[0])
    );
}

#[test]
fn spread_puts_four_replicas_on_four_cards() {
    let mut s = article_snapshot();
    s.tasks.retain(|t, _| !t.as_str().starts_with("train"));
    s.jobs.retain(|j, _| !j.as_str().starts_with("train"));
    let b = binds(&s, "spread");
    let mut cards: Vec<&String> = b.values().map(|(_, c)| &c[0]).collect();
    cards.sort();
    cards.dedup();
    assert_eq!(cards.len(), 4, "{b:?}");
}

#[test]
fn exclusive_pod_finds_no_card_when_every_card_is_shared() {
    // Spread leaves no card free on a 4-card node; the exclusive pod must not bind.
    let b = binds(&article_snapshot(), "spread");
    assert!(
        !b.contains_key("train-0"),
        "exclusive pod placed on a shared card: {b:?}"
    );
    assert_eq!(b.len(), 4);
}

#[test]
fn multi_vgpu_pod_gets_distinct_cards_and_too_many_fails() {
    let mut s = Snapshot::default();
    s.queues.insert("q".into(), Queue::open());
    s.nodes.insert("n".into(), node(2));
    let two = Resources::new()
        .with(NVIDIA_GPU, 2)
        .with(gpu::HAMI_GPUMEM, 1000)
        .with(gpu::HAMI_GPUCORES, 10);
    add(&mut s, "two", two, 0);
    let three = Resources::new()
        .with(gpu::VOLCANO_VGPU_NUMBER, 3)
        .with(gpu::VOLCANO_VGPU_MEMORY, 1000);
    add(&mut s, "three", three, 1);
    let b = binds(&s, "binpack");
    let cards = &b["two-0"].1;
    assert_eq!(cards.len(), 2);
    assert_ne!(cards[0], cards[1]);
    assert!(!b.contains_key("three-0"), "{b:?}");
}
