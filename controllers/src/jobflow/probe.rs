//! Probes gating a flow step (`dependsOn.probe`): `taskStatusList` reads the target Jobs' task
//! counts; `httpGetList` and `tcpSocketList` connect to the pod IPs of the target task, with a
//! timeout per attempt. A probe passes when at least one matching pod exists and every matching
//! running pod answers (HTTP: a 2xx or 3xx status line).
//!
//! Phase order for `taskStatusList`: Pending < Running < Succeeded, so a task whose pods already
//! succeeded has also "reached" Running; Failed is reached only by a failed pod.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use crds::job::TaskState;
use crds::jobflow::Probe;
use crds::labels;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use tokio::net::TcpStream;

/// Timeout of one HTTP or TCP attempt.
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// A target Job as the probes see it.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// Job name.
    pub job: String,
    /// Its `status.taskStatusCount`.
    pub tasks: BTreeMap<String, TaskState>,
}

fn rank(phase: &str) -> Option<u8> {
    match phase {
        "Pending" => Some(0),
        "Running" => Some(1),
        "Succeeded" => Some(2),
        _ => None,
    }
}

/// True when the task's pods reached `phase` (see the module docs).
pub fn task_reached(state: &TaskState, phase: &str) -> bool {
    let counts = state.phase.clone().unwrap_or_default();
    counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .any(|(p, _)| match (rank(p), rank(phase)) {
            (Some(have), Some(want)) => have >= want,
            _ => p == phase,
        })
}

/// `taskStatusList`: the first unmet entry, or `None` when all pass.
pub fn task_status_failure(probe: &Probe, targets: &[Target]) -> Option<String> {
    for p in probe.task_status_list.iter().flatten() {
        let task = p.task_name.as_deref().unwrap_or("default");
        let phase = p.phase.as_deref().unwrap_or("Running");
        let states: Vec<&TaskState> = targets.iter().filter_map(|t| t.tasks.get(task)).collect();
        if states.is_empty() || !states.iter().all(|s| task_reached(s, phase)) {
            return Some(format!(
                "task {task:?} of the targets has not reached {phase}"
            ));
        }
    }
    None
}

/// Running pods of the targets' task `task` (all tasks when `None`) that have an IP.
pub fn endpoints(pods: &[Pod], targets: &[Target], task: Option<&str>) -> Vec<IpAddr> {
    pods.iter()
        .filter(|p| {
            targets
                .iter()
                .any(|t| p.labels().get(labels::JOB_NAME) == Some(&t.job))
        })
        .filter(|p| {
            task.is_none_or(|t| p.labels().get(labels::TASK_SPEC).map(String::as_str) == Some(t))
        })
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref()?.parse().ok())
        .collect()
}

/// Runs every probe; `None` when all pass, else the first failure.
pub async fn failure(probe: &Probe, targets: &[Target], pods: &[Pod]) -> Option<String> {
    if let Some(f) = task_status_failure(probe, targets) {
        return Some(f);
    }
    for p in probe.tcp_socket_list.iter().flatten() {
        let ips = endpoints(pods, targets, p.task_name.as_deref());
        if ips.is_empty() {
            return Some(format!(
                "no running pod of task {:?} to probe on tcp port {}",
                p.task_name, p.port
            ));
        }
        for ip in ips {
            let Some(port_number) = port(p.port) else {
                return Some(format!("tcp port {} is out of range", p.port));
            };
            if let Err(e) = tcp(ip, port_number).await {
                return Some(format!("tcp {ip}:{}: {e}", p.port));
            }
        }
    }
    for p in probe.http_get_list.iter().flatten() {
        let path = p.path.as_deref().unwrap_or("/");
        let header = p
            .http_header
            .as_ref()
            .map(|h| (h.name.as_str(), h.value.as_str()));
        let ips = endpoints(pods, targets, p.task_name.as_deref());
        let port_number = p.port.unwrap_or(80);
        if ips.is_empty() {
            return Some(format!(
                "no running pod of task {:?} to probe on http port {port_number}",
                p.task_name
            ));
        }
        for ip in ips {
            let Some(port_u16) = port(port_number) else {
                return Some(format!("http port {port_number} is out of range"));
            };
            if let Err(e) = http_get(ip, port_u16, path, header).await {
                return Some(format!("http GET {ip}:{port_number}{path}: {e}"));
            }
        }
    }
    None
}

/// A valid port (the CRD schema already bounds it to 0..=65535).
fn port(p: i32) -> Option<u16> {
    u16::try_from(p).ok()
}

/// Connects within [`TIMEOUT`].
pub async fn tcp(ip: IpAddr, port: u16) -> Result<(), String> {
    match tokio::time::timeout(TIMEOUT, TcpStream::connect((ip, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {TIMEOUT:?}")),
    }
}

/// `GET path` over HTTP/1.1 within [`TIMEOUT`]; passes on a 2xx or 3xx status.
pub async fn http_get(
    ip: IpAddr,
    port: u16,
    path: &str,
    header: Option<(&str, &str)>,
) -> Result<(), String> {
    let request = async {
        let stream = TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let host = if ip.is_ipv6() {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let extra = header
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .unwrap_or_default();
        let text = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: basalt-jobflow-probe\r\n{extra}Connection: close\r\n\r\n"
        );
        write_all(&stream, text.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 4096 {
            let n = read_some(&stream, &mut buf)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let code = line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok());
        match code {
            Some(c) if (200..400).contains(&c) => Ok(()),
            Some(c) => Err(format!("status {c}")),
            None => Err("no HTTP status line".to_owned()),
        }
    };
    tokio::time::timeout(TIMEOUT, request)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {TIMEOUT:?}")))
}

// Readiness-based I/O keeps the crate on tokio's `net` feature (no `io-util`).
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn state(pairs: &[(&str, i32)]) -> TaskState {
        TaskState {
            phase: Some(pairs.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect()),
        }
    }

    #[test]
    fn task_phases_are_ordered() {
        assert!(task_reached(&state(&[("Succeeded", 1)]), "Running"));
        assert!(!task_reached(&state(&[("Pending", 2)]), "Running"));
        assert!(!task_reached(&state(&[("Running", 0)]), "Running"));
        assert!(task_reached(&state(&[("Failed", 1)]), "Failed"));
        assert!(!task_reached(&state(&[("Succeeded", 1)]), "Failed"));
        let probe: Probe =
            serde_saphyr::from_str("taskStatusList: [{taskName: ps, phase: Running}]").unwrap();
        let t = |s| {
            vec![Target {
                job: "j".into(),
                tasks: [("ps".to_owned(), s)].into(),
            }]
        };
        assert_eq!(
            task_status_failure(&probe, &t(state(&[("Running", 1)]))),
            None
        );
        assert!(task_status_failure(&probe, &t(state(&[("Pending", 1)]))).is_some());
        assert!(task_status_failure(&probe, &[]).is_some());
    }

    async fn serve(status: &'static str) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = read_some(&s, &mut buf).await;
                let _ = write_all(
                    &s,
                    format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes(),
                )
                .await;
            }
        });
        port
    }

    fn pod(job: &str, task: &str, ip: &str) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "labels": {labels::JOB_NAME: job, labels::TASK_SPEC: task}},
            "status": {"phase": "Running", "podIP": ip}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn http_and_tcp_probes_hit_the_pod_ip() {
        let ok = serve("200 OK").await;
        let bad = serve("503 Service Unavailable").await;
        let targets = vec![Target {
            job: "flow-a".into(),
            ..Default::default()
        }];
        let pods = vec![
            pod("flow-a", "server", "127.0.0.1"),
            pod("other", "server", "10.255.255.1"),
        ];
        let probe = |yaml: String| -> Probe { serde_saphyr::from_str(&yaml).unwrap() };
        let p = probe(format!(
            "httpGetList: [{{taskName: server, path: /ready, port: {ok}}}]\ntcpSocketList: [{{taskName: server, port: {ok}}}]"
        ));
        assert_eq!(failure(&p, &targets, &pods).await, None);
        let p = probe(format!("httpGetList: [{{taskName: server, port: {bad}}}]"));
        assert!(failure(&p, &targets, &pods).await.unwrap().contains("503"));
        let p = probe(format!("httpGetList: [{{taskName: worker, port: {ok}}}]"));
        assert!(
            failure(&p, &targets, &pods)
                .await
                .unwrap()
                .contains("no running pod")
        );
        // A closed port fails fast.
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = probe(format!(
            "tcpSocketList: [{{taskName: server, port: {closed}}}]"
        ));
        assert!(failure(&p, &targets, &pods).await.is_some());
    }
}
