//! Table-driven tests per action: enqueue admission, allocate outcomes, backfill.

mod common;

use common::{Cluster, binds, gpu_pod};
use scheduler_core::model::{JobPhase, QueueState, TaskStatus};
use scheduler_core::resources::NVIDIA_GPU;
use scheduler_core::{Effect, Resources};

#[test]
fn enqueue_table() {
    // (free GPUs on the one node, job minResources GPUs, queue state, another Inqueue job
    //  reserving GPUs, admitted?)
    let cases = [
        (8, Some(8), QueueState::Open, 0, true),
        (8, Some(9), QueueState::Open, 0, false),
        (8, None, QueueState::Open, 0, true),
        (8, Some(4), QueueState::Closed, 0, false),
        (8, Some(4), QueueState::Open, 4, true),
        (8, Some(5), QueueState::Open, 4, false),
        (0, None, QueueState::Open, 0, true),
    ];
    for (i, (free, min, state, reserved, admitted)) in cases.into_iter().enumerate() {
        let mut c = Cluster::new();
        c.gpu_node("n", 8, 8 - free);
        c.snap
            .queues
            .get_mut(&"default".into())
            .expect("queue")
            .state = state;
        c.gang("job", 1, 1, gpu_pod(1));
        let j = c.job_mut("job");
        j.phase = JobPhase::Pending;
        j.min_resources = min.map(|g| Resources::new().with(NVIDIA_GPU, g));
        if reserved > 0 {
            c.gang("waiting", 1, 1, gpu_pod(reserved));
            c.job_mut("waiting").min_resources = Some(Resources::new().with(NVIDIA_GPU, reserved));
            // Its pod cannot run now (a selector no node matches), so its reservation stands.
            c.task_mut("waiting-0")
                .constraints
                .node_selector
                .insert("x".into(), "y".into());
        }
        let r = c.run_with("actions: enqueue\ntiers:\n- plugins:\n  - name: gang\n");
        let phase = r.effects.iter().find_map(|e| match e {
            Effect::PodGroupStatus { job, phase, .. } if job.as_str() == "job" => Some(*phase),
            _ => None,
        });
        assert_eq!(
            phase == Some(JobPhase::Inqueue),
            admitted,
            "case {i}: {phase:?}"
        );
        assert_eq!(r.stats.enqueued_jobs, u32::from(admitted), "case {i}");
    }
}

struct AllocCase {
    name: &'static str,
    /// (GPUs, GPUs used by foreign pods) per node.
    nodes: &'static [(i64, i64)],
    /// (pods, minMember, GPUs per pod) per job, created in order.
    jobs: &'static [(u32, u32, i64)],
    /// GPUs held by a Releasing pod on the first node.
    releasing: i64,
    binds: usize,
    pipelined: u32,
    explained: u32,
}

#[test]
fn allocate_table() {
    let cases = [
        AllocCase {
            name: "fits",
            nodes: &[(8, 0)],
            jobs: &[(4, 4, 2)],
            releasing: 0,
            binds: 4,
            pipelined: 0,
            explained: 0,
        },
        AllocCase {
            name: "gang too big",
            nodes: &[(8, 0)],
            jobs: &[(5, 5, 2)],
            releasing: 0,
            binds: 0,
            pipelined: 0,
            explained: 1,
        },
        AllocCase {
            name: "elastic: min met, extras explained",
            nodes: &[(8, 0)],
            jobs: &[(5, 2, 2)],
            releasing: 0,
            binds: 4,
            pipelined: 0,
            explained: 1,
        },
        AllocCase {
            name: "across nodes",
            nodes: &[(4, 0), (4, 0)],
            jobs: &[(4, 4, 2)],
            releasing: 0,
            binds: 4,
            pipelined: 0,
            explained: 0,
        },
        AllocCase {
            name: "second job gets leftovers",
            nodes: &[(8, 0)],
            jobs: &[(2, 2, 2), (3, 3, 2)],
            releasing: 0,
            binds: 2,
            pipelined: 0,
            explained: 1,
        },
        AllocCase {
            // Two pods fit idle GPUs (allocated), the third only the releasing ones (pipelined):
            // the gang is pipelined, kept in-session, and nothing is bound yet.
            name: "pipeline onto releasing",
            nodes: &[(8, 4)],
            jobs: &[(3, 3, 2)],
            releasing: 2,
            binds: 0,
            pipelined: 1,
            explained: 0,
        },
        AllocCase {
            name: "partial pipeline is discarded",
            nodes: &[(8, 4)],
            jobs: &[(4, 4, 2)],
            releasing: 2,
            binds: 0,
            pipelined: 0,
            explained: 1,
        },
        AllocCase {
            name: "foreign usage counts",
            nodes: &[(8, 7)],
            jobs: &[(1, 1, 2)],
            releasing: 0,
            binds: 0,
            pipelined: 0,
            explained: 1,
        },
    ];
    for case in cases {
        let mut c = Cluster::new();
        for (i, (gpus, used)) in case.nodes.iter().enumerate() {
            c.gpu_node(&format!("n{i}"), *gpus, *used);
        }
        if case.releasing > 0 {
            c.gang(
                "old",
                1,
                1,
                Resources::new().with(NVIDIA_GPU, case.releasing),
            );
            let t = c.task_mut("old-0");
            t.status = TaskStatus::Releasing;
            t.node = Some("n0".into());
            // The releasing pod's GPUs are part of the node's foreign usage figure above.
            let n = c.snap.nodes.get_mut(&"n0".into()).expect("n0");
            n.used
                .set(NVIDIA_GPU, n.used.get(NVIDIA_GPU) - case.releasing);
        }
        for (j, (pods, min, gpus)) in case.jobs.iter().enumerate() {
            let name = format!("j{j}");
            c.gang(&name, *pods, *min, Resources::new().with(NVIDIA_GPU, *gpus));
            c.job_mut(&name).creation = j as u64;
        }
        let r = c.run();
        assert_eq!(binds(&r).len(), case.binds, "{}: binds", case.name);
        assert_eq!(
            r.stats.pipelined, case.pipelined,
            "{}: pipelined",
            case.name
        );
        assert_eq!(
            r.stats.unschedulable_jobs, case.explained,
            "{}: explained",
            case.name
        );
    }
}

#[test]
fn backfill_table() {
    // (job phase, BestEffort pods, minMember, second pod unplaceable, expected binds)
    let cases = [
        (JobPhase::Running, 1, 1, false, 1),
        (JobPhase::Inqueue, 2, 1, false, 2),
        (JobPhase::Inqueue, 2, 1, true, 1),
        (JobPhase::Inqueue, 2, 2, true, 0),
        (JobPhase::Inqueue, 2, 2, false, 2),
        (JobPhase::Pending, 1, 1, false, 0),
        (JobPhase::Completed, 1, 1, false, 0),
    ];
    for (i, (phase, pods, min, blocked, want)) in cases.into_iter().enumerate() {
        let mut c = Cluster::new();
        c.gpu_node("n", 8, 0);
        c.gang("be", pods, min, Resources::new());
        c.job_mut("be").phase = phase;
        if blocked {
            c.task_mut("be-1")
                .constraints
                .node_selector
                .insert("x".into(), "y".into());
        }
        let config =
            "actions: backfill\ntiers:\n- plugins:\n  - name: gang\n  - name: predicates\n";
        let r = c.run_with(config);
        assert_eq!(binds(&r).len(), want, "case {i}");
    }
}
