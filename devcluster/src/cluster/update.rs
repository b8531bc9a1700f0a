//! Updates: read, let a mutation produce the desired object, apply the API server's update
//! rules (immutable metadata, status split, finalizer rules, generation), admission, schema
//! checks, and an optimistic store write retried on concurrent changes.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Cluster, Mutation, WriteOpts};
use crate::error::{ApiError, ApiResult};
use crate::kinds;
use crate::registry::ResourceInfo;
use crate::store::{StoreError, rv_of};
use crate::util::{self, ensure_obj, finalizers, is_terminating};

impl Cluster {
    /// Reads the current object, lets `mutate` produce the desired one (in the client's view),
    /// applies the API server's update rules and stores it. Retries on a concurrent write
    /// unless the desired object pins a resourceVersion. Returns (object, created).
    #[allow(clippy::too_many_arguments)]
    pub async fn update(
        &self,
        info: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        sub: Option<&str>,
        mutate: &mut Mutation<'_>,
        opts: &WriteOpts,
        require_rv: bool,
        warnings: &mut Vec<String>,
    ) -> ApiResult<(Arc<Value>, bool)> {
        let key = Self::key(info, ns, name);
        for _attempt in 0..16 {
            let current = self.store.get(&key);
            let Some(current) = current else {
                // Apply may create; everything else is NotFound.
                let desired = mutate(None)?;
                if desired.is_null() {
                    return Err(Self::not_found(info, name));
                }
                let mut body = desired;
                ensure_obj(&mut body, &["metadata"]).insert("name".into(), json!(name));
                return self
                    .create(info, ns, body, opts, warnings)
                    .await
                    .map(|o| (o, true));
            };
            let view = kinds::present(info, &current);
            let desired = mutate(Some(&view))?;
            let pinned = desired
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if require_rv && pinned.is_none() && !info.builtin {
                return Err(ApiError::invalid(
                    &info.qualified_kind(),
                    name,
                    vec![(
                        "metadata.resourceVersion".into(),
                        "Invalid value: 0x0: must be specified for an update".into(),
                    )],
                ));
            }
            if let Some(p) = &pinned
                && *p != rv_of(&current).to_string()
            {
                return Err(ApiError::stale(&info.qualified(), name));
            }
            let mut new =
                self.normalize_update(info, &current, kinds::from_view(info, desired), sub)?;
            crate::limits::check_object(&info.qualified(), name, &new)?;
            if opts.admission {
                crate::admission::admit(
                    self,
                    info,
                    "UPDATE",
                    sub,
                    Some(&mut new),
                    Some(&current),
                    opts.dry_run,
                    warnings,
                )
                .await?;
            }
            warnings.extend(self.check_schema(info, &mut new, opts.validation)?);
            if opts.admission {
                crate::admission::validate(
                    self,
                    info,
                    "UPDATE",
                    sub,
                    &new,
                    Some(&current),
                    opts.dry_run,
                    warnings,
                )
                .await?;
            }
            crate::limits::check_object(&info.qualified(), name, &new)?;
            Self::check_builtin(info, name, &new)?;
            if new == *current {
                return Ok((current, false));
            }
            if opts.dry_run {
                return Ok((Arc::new(new), false));
            }
            let expected = Some(rv_of(&current));
            let res = if is_terminating(&new) && finalizers(&new).is_empty() {
                self.store
                    .delete(&key, expected)
                    .inspect(|o| self.after_delete(info, o))
            } else {
                self.store
                    .update(&key, expected, new)
                    .inspect(|o| self.after_write(info, o))
            };
            match res {
                Ok(o) => {
                    self.store.sync().await.map_err(super::storage_error)?;
                    return Ok((o, false));
                }
                Err(StoreError::Conflict) if pinned.is_none() => continue,
                Err(StoreError::NotFound) => return Err(Self::not_found(info, name)),
                Err(StoreError::Storage(msg)) => return Err(ApiError::internal(msg)),
                Err(_) => return Err(ApiError::stale(&info.qualified(), name)),
            }
        }
        Err(ApiError::stale(&info.qualified(), name))
    }

    /// The update rules: immutable metadata, status split, finalizer rules, generation.
    fn normalize_update(
        &self,
        info: &ResourceInfo,
        old: &Value,
        mut new: Value,
        sub: Option<&str>,
    ) -> ApiResult<Value> {
        if !new.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        if sub == Some("status") {
            let mut merged = old.clone();
            match new.get("status") {
                Some(s) => merged["status"] = s.clone(),
                None => {
                    if let Value::Object(m) = &mut merged {
                        m.remove("status");
                    }
                }
            }
            if let Some(mf) = new.pointer("/metadata/managedFields").cloned() {
                ensure_obj(&mut merged, &["metadata"]).insert("managedFields".into(), mf);
            }
            new = merged;
            if info.builtin && info.plural == "pods" {
                kinds::check_pod_status_update(old, &mut new)?;
            }
        } else if info.has_status() && sub.is_none() {
            match old.get("status") {
                Some(s) => new["status"] = s.clone(),
                None => {
                    if let Value::Object(m) = &mut new {
                        m.remove("status");
                    }
                }
            }
        }
        let old_meta = old.get("metadata").cloned().unwrap_or(json!({}));
        {
            let m = ensure_obj(&mut new, &["metadata"]);
            for k in [
                "uid",
                "creationTimestamp",
                "name",
                "namespace",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ] {
                match old_meta.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
            if !m.contains_key("managedFields")
                && let Some(mf) = old_meta.get("managedFields")
            {
                m.insert("managedFields".into(), mf.clone());
            }
            m.insert(
                "resourceVersion".into(),
                old_meta
                    .get("resourceVersion")
                    .cloned()
                    .unwrap_or(json!("")),
            );
        }
        if let Value::Object(m) = &mut new {
            m.insert(
                "apiVersion".into(),
                old.get("apiVersion").cloned().unwrap_or(Value::Null),
            );
            m.insert(
                "kind".into(),
                old.get("kind").cloned().unwrap_or(Value::Null),
            );
        }
        if is_terminating(old) {
            let before = finalizers(old);
            if finalizers(&new).iter().any(|f| !before.contains(f)) {
                return Err(ApiError::invalid(
                    &info.qualified_kind(),
                    util::name_of(old),
                    vec![(
                        "metadata.finalizers".into(),
                        "Forbidden: no new finalizers can be added if the object is being deleted"
                            .into(),
                    )],
                ));
            }
        }
        let strip = |v: &Value| -> Value {
            let mut c = v.clone();
            if let Value::Object(m) = &mut c {
                m.remove("metadata");
                m.remove("status");
            }
            c
        };
        if strip(old) != strip(&new) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            ensure_obj(&mut new, &["metadata"]).insert("generation".into(), json!(g + 1));
        }
        if info.plural == "secrets" && info.builtin {
            kinds::string_data_to_data(&mut new);
        }
        if info.plural == "customresourcedefinitions" && info.builtin {
            self.registry().clone_check_crd(&new)?;
            kinds::crd_status(&mut new);
            if let (Some(a), Some(b)) = (
                old.pointer("/status/conditions"),
                new.pointer_mut("/status/conditions"),
            ) {
                *b = a.clone();
            }
        }
        Ok(new)
    }
}
