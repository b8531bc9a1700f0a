//! `basalt report`: GPU allocation and fragmentation per node and queue.

use super::common::Conn;

/// Runs `basalt report`.
pub async fn run(_conn: &Conn) -> anyhow::Result<()> {
    anyhow::bail!("basalt report: not implemented yet")
}
