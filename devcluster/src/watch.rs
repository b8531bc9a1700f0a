//! Watch streams: newline-delimited JSON events with resourceVersion semantics (current state,
//! replay from the history, in-stream 410 for too-old versions), selector transitions (an
//! object that starts matching is ADDED, one that stops matching is DELETED), bookmarks,
//! `sendInitialEvents`, `timeoutSeconds`, Table events, and fault-injected drops.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::kinds;
use crate::registry::ResourceInfo;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::{Change, EventType, WatchStart};

pub struct WatchParams {
    pub ns: Option<String>,
    pub since: Option<u64>,
    pub bookmarks: bool,
    pub send_initial: bool,
    pub timeout: Duration,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub table: bool,
    /// Whether fault injection may end this watch early.
    pub faults: bool,
}

struct State {
    c: Arc<Cluster>,
    info: Arc<ResourceInfo>,
    p: WatchParams,
    rx: tokio::sync::broadcast::Receiver<Arc<Change>>,
    queue: VecDeque<Bytes>,
    last_rv: u64,
    deadline: Instant,
    next_bookmark: Instant,
    done: bool,
    table_defs_sent: bool,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

fn line(kind: &str, obj: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(obj.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(obj);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn expired_line(rv: u64, oldest: u64) -> Bytes {
    let status =
        crate::error::ApiError::expired(format!("too old resource version: {rv} ({oldest})"))
            .status();
    line("ERROR", status.to_string().as_bytes())
}

impl State {
    fn matches(&self, obj: &Value) -> bool {
        let ns_ok = self
            .p
            .ns
            .as_deref()
            .is_none_or(|n| crate::util::ns_of(obj) == n);
        ns_ok
            && self
                .p
                .labels
                .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
            && (self.p.fields.is_empty() || self.p.fields.matches(obj))
    }

    /// Selectors see the client's view; plain resources need no conversion (no clone).
    fn sees(&self, stored: &Value) -> bool {
        if self.info.view == crate::registry::View::Plain {
            self.matches(stored)
        } else {
            self.matches(&kinds::present(&self.info, stored))
        }
    }

    fn encode(&mut self, kind: &str, stored: &Value, cached: Option<&Change>) -> Bytes {
        if self.p.table {
            let view = kinds::present(&self.info, stored);
            let rv = view
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let t = crate::table::table(&self.info, &[view], &rv, None, !self.table_defs_sent);
            self.table_defs_sent = true;
            return line(kind, t.to_string().as_bytes());
        }
        if kinds::presents_as_stored(&self.info, stored) {
            if let Some(c) = cached {
                let bytes = c
                    .json
                    .get_or_init(|| serde_json::to_vec(stored).unwrap_or_default());
                return line(kind, bytes);
            }
            return line(kind, &serde_json::to_vec(stored).unwrap_or_default());
        }
        line(
            kind,
            &serde_json::to_vec(&kinds::present(&self.info, stored)).unwrap_or_default(),
        )
    }

    fn on_change(&mut self, c: &Arc<Change>) {
        self.last_rv = self.last_rv.max(c.rv);
        if c.key.0 != self.info.storage_key {
            return;
        }
        let now = self.sees(&c.object);
        let before = c.prev.as_ref().is_some_and(|p| self.sees(p));
        let kind = match c.kind {
            EventType::Added if now => "ADDED",
            EventType::Modified if now && before => "MODIFIED",
            EventType::Modified if now => "ADDED",
            EventType::Modified if before => "DELETED",
            EventType::Deleted if now || before => "DELETED",
            _ => return,
        };
        let b = self.encode(kind, &c.object, Some(c));
        self.queue.push_back(b);
    }

    fn bookmark(&self, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": self.last_rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let b = json!({"kind": self.info.kind, "apiVersion": self.info.group_version(), "metadata": meta});
        line("BOOKMARK", b.to_string().as_bytes())
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        loop {
            if let Some(b) = self.queue.pop_front() {
                return Some((Ok(b), self));
            }
            if self.done {
                return None;
            }
            let bookmark_at = if self.p.bookmarks {
                self.next_bookmark
            } else {
                self.deadline
            };
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(c) => self.on_change(&c),
                    Err(RecvError::Lagged(_)) => {
                        // This watcher fell behind the broadcast buffer: make the client relist.
                        let b = expired_line(self.last_rv, self.c.store.lock().compacted_rv);
                        self.queue.push_back(b);
                        self.done = true;
                    }
                    Err(RecvError::Closed) => self.done = true,
                },
                _ = tokio::time::sleep_until(bookmark_at), if self.p.bookmarks => {
                    let b = self.bookmark(false);
                    self.queue.push_back(b);
                    self.next_bookmark = Instant::now() + self.c.config.bookmark_interval;
                }
                _ = tokio::time::sleep_until(self.deadline) => self.done = true,
                _ = self.shutdown.changed() => self.done = true,
            }
        }
    }
}

pub fn start(c: Arc<Cluster>, info: Arc<ResourceInfo>, p: WatchParams) -> Response {
    let content_type = if p.table {
        crate::table::TABLE_CT
    } else {
        "application/json"
    };
    let mut timeout = p.timeout;
    if p.faults && c.roll_fault() {
        timeout = Duration::from_millis(300 + (crate::util::random_bytes::<1>()[0] as u64) * 8);
    }
    let shutdown = c.shutdown.clone();
    let since = if p.send_initial { None } else { p.since };
    let started = c.store.watch(&info.storage_key, p.ns.as_deref(), since);
    let body = match started {
        Err(oldest) => Body::from(expired_line(p.since.unwrap_or(0), oldest)),
        Ok((start, rx, rv)) => {
            let now = Instant::now();
            let mut st = State {
                c: c.clone(),
                info,
                rx,
                queue: VecDeque::new(),
                last_rv: p.since.unwrap_or(rv),
                deadline: now + timeout,
                next_bookmark: now
                    + c.config.bookmark_interval.min(
                        timeout
                            .saturating_sub(Duration::from_secs(1))
                            .max(Duration::from_millis(100)),
                    ),
                done: false,
                table_defs_sent: false,
                shutdown,
                p,
            };
            match start {
                WatchStart::Current(objs) => {
                    for o in objs {
                        if st.sees(&o) {
                            let b = st.encode("ADDED", &o, None);
                            st.queue.push_back(b);
                        }
                    }
                    st.last_rv = rv;
                    if st.p.send_initial {
                        let b = st.bookmark(true);
                        st.queue.push_back(b);
                    }
                }
                WatchStart::Replay(changes) => {
                    for ch in &changes {
                        st.on_change(ch);
                    }
                    st.last_rv = rv.max(st.last_rv);
                }
            }
            Body::from_stream(futures_util::stream::unfold(st, State::next))
        }
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .extension(crate::serve::LongRunning)
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
