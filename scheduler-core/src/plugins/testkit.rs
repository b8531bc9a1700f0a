//! Test helpers: a small snapshot builder for plugin and action tests.

use crate::ids::{JobId, NodeId, QueueId, TaskId};
use crate::model::{Job, Node, Queue, Snapshot, Task, TaskStatus};
use crate::resources::Resources;
use crate::session::{JobIx, NodeIx, State, TaskIx};

/// Snapshot builder.
pub struct Kit {
    pub snap: Snapshot,
}

impl Kit {
    pub fn new() -> Self {
        let mut snap = Snapshot::default();
        snap.queues.insert(QueueId::new("default"), Queue::open());
        Self { snap }
    }

    pub fn node(&mut self, name: &str, alloc: Resources) -> &mut Self {
        self.snap.nodes.insert(
            NodeId::new(name),
            Node {
                allocatable: alloc,
                ..Node::default()
            },
        );
        self
    }

    pub fn job(&mut self, name: &str, min: u32, priority: i32) -> &mut Self {
        let job = Job {
            priority,
            ..Job::new("default", min)
        };
        self.snap.jobs.insert(JobId::new(name), job);
        self
    }

    pub fn pending(&mut self, name: &str, job: &str, priority: i32) -> &mut Self {
        self.task(name, job, Resources::new().with("cpu", 100), priority)
    }

    pub fn task(&mut self, name: &str, job: &str, req: Resources, priority: i32) -> &mut Self {
        let t = Task {
            priority,
            ..Task::pending(job, req)
        };
        self.snap.tasks.insert(TaskId::new(name), t);
        self
    }

    pub fn running(&mut self, name: &str, job: &str, req: Resources, node: &str) -> &mut Self {
        self.snap
            .tasks
            .insert(TaskId::new(name), Task::running(job, req, node));
        self
    }

    pub fn status(&mut self, name: &str, status: TaskStatus) -> &mut Self {
        self.edit_task(name, |t| t.status = status)
    }

    pub fn edit_task(&mut self, name: &str, f: impl FnOnce(&mut Task)) -> &mut Self {
        f(self
            .snap
            .tasks
            .get_mut(&TaskId::new(name))
            .expect("task exists"));
        self
    }

    pub fn edit_node(&mut self, name: &str, f: impl FnOnce(&mut Node)) -> &mut Self {
        f(self
            .snap
            .nodes
            .get_mut(&NodeId::new(name))
            .expect("node exists"));
        self
    }

    pub fn with_state(&self, f: impl FnOnce(&State<'_>)) {
        let st = State::build(&self.snap).expect("kit snapshot is consistent");
        f(&st);
    }
}

pub fn task_ix(st: &State<'_>, name: &str) -> TaskIx {
    TaskIx(
        st.tasks
            .iter()
            .position(|t| t.id.as_str() == name)
            .expect("task") as u32,
    )
}

pub fn job_ix(st: &State<'_>, name: &str) -> JobIx {
    JobIx(
        st.jobs
            .iter()
            .position(|j| j.id.as_str() == name)
            .expect("job") as u32,
    )
}

pub fn node_ix(st: &State<'_>, name: &str) -> NodeIx {
    NodeIx(
        st.nodes
            .iter()
            .position(|n| n.id.as_str() == name)
            .expect("node") as u32,
    )
}
