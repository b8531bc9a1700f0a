//! `basalt why JOB`: why a job is pending and what would unblock it.

use super::common::Conn;

/// Runs `basalt why`.
pub async fn run(_conn: &Conn, job: &str) -> anyhow::Result<()> {
    anyhow::bail!("basalt why {job}: not implemented yet")
}
