//! Controllers against an API server that fails writes: a conflict (409 that is not
//! AlreadyExists) must never be taken for "the object exists".

#![allow(clippy::unwrap_used)]

mod common;

use common::{cluster_with_faults, eventually, fast_config};
use crds::queue::Queue;
use kube::api::Api;

/// Before the fix, any 409 on creating `root` or `default` counted as "already exists", so with
/// half of all writes failing (a quarter of them 409s) the default queue was missing in about
/// four runs out of ten, and every Job naming it waited forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_queues_are_created_despite_injected_conflicts() {
    let (handle, client, mut env) = cluster_with_faults(0, 0, 0.5).await;
    env.cluster = Some(handle);
    env.start_controllers(fast_config());
    let queues: Api<Queue> = Api::all(client);
    for name in ["root", "default"] {
        eventually(30, &format!("queue {name:?} created"), || async {
            queues.get_opt(name).await.ok().flatten().map(|_| ())
        })
        .await;
    }
}
