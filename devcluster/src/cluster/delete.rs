//! Deletion: preconditions, finalizers and deletionTimestamp, propagation finalizers
//! (foregroundDeletion, orphan) for the garbage collector, namespace termination and graceful
//! deletion of bound pods.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, DeleteOpts, Propagation};
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceInfo;
use crate::store::{StoreError, rv_of};
use crate::util::{self, ensure_obj, finalizers, is_terminating, set_finalizers};

impl Cluster {
    pub async fn delete(
        &self,
        info: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        opts: &DeleteOpts,
    ) -> ApiResult<Arc<Value>> {
        let key = Self::key(info, ns, name);
        for _ in 0..16 {
            let cur = self
                .store
                .get(&key)
                .ok_or_else(|| Self::not_found(info, name))?;
            if let Some(uid) = &opts.uid
                && util::get_str(&cur, &["metadata", "uid"]) != Some(uid.as_str())
            {
                return Err(ApiError::conflict(
                    &info.qualified(),
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        util::get_str(&cur, &["metadata", "uid"]).unwrap_or("")
                    ),
                ));
            }
            if let Some(rv) = &opts.rv
                && *rv != rv_of(&cur).to_string()
            {
                return Err(ApiError::conflict(
                    &info.qualified(),
                    name,
                    &format!(
                        "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                        rv_of(&cur)
                    ),
                ));
            }
            if opts.write.admission {
                let mut w = vec![];
                crate::admission::validate(
                    self,
                    info,
                    "DELETE",
                    None,
                    &cur,
                    Some(&cur),
                    opts.write.dry_run,
                    &mut w,
                )
                .await?;
            }
            // A kubelet finishes a terminating pod by deleting it again with grace 0 (the node
            // simulator, crate basalt-kubelet, does exactly that); that second delete must remove it.
            let finishing_pod = info.builtin
                && info.plural == "pods"
                && opts.grace == Some(0)
                && finalizers(&cur).is_empty();
            if opts.write.dry_run || (is_terminating(&cur) && !finishing_pod) {
                return Ok(cur);
            }
            let mut fins = finalizers(&cur);
            let add = match opts.propagation {
                Propagation::Foreground => Some("foregroundDeletion"),
                Propagation::Orphan => Some("orphan"),
                Propagation::Background => None,
            };
            let is_ns = info.builtin && info.plural == "namespaces";
            let graceful_pod = info.builtin
                && info.plural == "pods"
                && self.config.graceful_pod_deletion
                && util::get_str(&cur, &["spec", "nodeName"]).is_some_and(|n| !n.is_empty())
                && opts.grace != Some(0)
                && !matches!(
                    util::get_str(&cur, &["status", "phase"]),
                    Some("Succeeded" | "Failed")
                );
            if let Some(f) = add
                && !fins.iter().any(|x| x == f)
                && !is_ns
            {
                fins.push(f.to_string());
            }
            let res = if !fins.is_empty() || is_ns || graceful_pod {
                let mut new = (*cur).clone();
                set_finalizers(&mut new, &fins);
                let grace = if graceful_pod {
                    opts.grace
                        .or_else(|| {
                            cur.pointer("/spec/terminationGracePeriodSeconds")
                                .and_then(Value::as_i64)
                        })
                        .unwrap_or(30)
                } else {
                    0
                };
                let m = ensure_obj(&mut new, &["metadata"]);
                m.insert(
                    "deletionTimestamp".into(),
                    json!(util::format_rfc3339(util::now_secs() + grace)),
                );
                m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                let g = m.get("generation").and_then(Value::as_i64).unwrap_or(1);
                m.insert("generation".into(), json!(g + 1));
                if is_ns {
                    ensure_obj(&mut new, &["status"]).insert("phase".into(), json!("Terminating"));
                }
                self.store.update(&key, Some(rv_of(&cur)), new)
            } else {
                self.store
                    .delete(&key, Some(rv_of(&cur)))
                    .inspect(|o| self.after_delete(info, o))
            };
            match res {
                Ok(o) => {
                    self.gc_wake.notify_one();
                    self.store.sync().await.map_err(super::storage_error)?;
                    return Ok(o);
                }
                Err(StoreError::Conflict) if opts.rv.is_none() => continue,
                Err(StoreError::NotFound) => return Err(Self::not_found(info, name)),
                Err(StoreError::Storage(msg)) => return Err(ApiError::internal(msg)),
                Err(_) => return Err(ApiError::stale(&info.qualified(), name)),
            }
        }
        Err(ApiError::stale(&info.qualified(), name))
    }
}
