//! The shared server state and the generic write semantics every path goes through (HTTP
//! handlers, garbage collector, namespace controller, library API): create, update (PUT,
//! patches, apply, status; in `update`), delete with finalizers and propagation (in `delete`),
//! plus CRD registration and fault injection.

mod delete;
mod update;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::error::{ApiError, ApiResult};
use crate::kinds;
use crate::registry::{Registry, ResourceInfo};
use crate::store::{Key, Store, StoreError};
use crate::util::{self, ensure_obj, is_terminating, now_rfc3339};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Ignore,
    Warn,
    Strict,
}

#[derive(Debug, Clone)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub validation: FieldValidation,
    /// Run admission webhooks (false for the server's own controllers).
    pub admission: bool,
}

impl WriteOpts {
    pub fn internal() -> Self {
        Self {
            dry_run: false,
            validation: FieldValidation::Ignore,
            admission: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone)]
pub struct DeleteOpts {
    pub propagation: Propagation,
    pub uid: Option<String>,
    pub rv: Option<String>,
    pub grace: Option<i64>,
    pub write: WriteOpts,
}

pub struct Cluster {
    pub store: Store,
    pub registry: RwLock<Registry>,
    pub token: String,
    pub gc_wake: Notify,
    pub config: crate::Config,
    pub ready: crate::ReadyGate,
    pub faults: Mutex<util::XorShift>,
    /// Deterministic faults, with what is left of their counts.
    pub fault_rules: crate::faults::FaultRules,
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub webhooks: crate::admission::Client,
    pub requests: AtomicU64,
}

/// Outcome of a mutation closure passed to `update`.
pub type Mutation<'a> = dyn FnMut(Option<&Value>) -> ApiResult<Value> + Send + 'a;

impl Cluster {
    pub fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn key(info: &ResourceInfo, ns: Option<&str>, name: &str) -> Key {
        let ns = if info.namespaced {
            ns.unwrap_or("")
        } else {
            ""
        };
        (info.storage_key.clone(), ns.to_string(), name.to_string())
    }

    pub(super) fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
        ApiError::not_found(&info.qualified(), name, &info.group, &info.plural)
    }

    pub fn get(&self, info: &ResourceInfo, ns: Option<&str>, name: &str) -> ApiResult<Arc<Value>> {
        self.store
            .get(&Self::key(info, ns, name))
            .ok_or_else(|| Self::not_found(info, name))
    }

    pub(super) fn check_namespace(&self, info: &ResourceInfo, ns: Option<&str>) -> ApiResult<()> {
        if !info.namespaced {
            return Ok(());
        }
        let ns = ns
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad_request("a namespace is required"))?;
        match self
            .store
            .get(&("/namespaces".into(), String::new(), ns.to_string()))
        {
            None => Err(ApiError::not_found("namespaces", ns, "", "namespaces")),
            Some(n) if is_terminating(&n) => Err(ApiError::forbidden(format!(
                "{} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                info.qualified()
            ))),
            Some(_) => Ok(()),
        }
    }

    /// A value of the wrong type cannot be decoded: 400, as kube-apiserver's decoder answers
    /// (whatever `fieldValidation` says), naming the field, what it expects and what it got.
    fn refuse_wrong_types(
        info: &ResourceInfo,
        wrong: &[(String, String)],
        prefix: &str,
    ) -> ApiResult<()> {
        if wrong.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = wrong
            .iter()
            .take(5)
            .map(|(f, m)| format!("{prefix}{f}: {m}"))
            .collect();
        Err(ApiError::bad_request(format!(
            "{} in version \"{}\" cannot be handled as a {}: {}",
            info.kind,
            info.version,
            info.kind,
            list.join("; ")
        )))
    }

    /// Checks the body against the kind's schema; returns warnings.
    pub(super) fn check_schema(
        &self,
        info: &ResourceInfo,
        obj: &mut Value,
        fv: FieldValidation,
    ) -> ApiResult<Vec<String>> {
        let unknown = if let Some(schema) = &info.crd_schema {
            let r = crate::validation::validate_cr(schema, obj);
            if !r.errors.is_empty() {
                return Err(ApiError::invalid(
                    &info.qualified_kind(),
                    util::name_of(obj),
                    r.errors,
                ));
            }
            let mut unknown = r.unknown;
            if let Some(meta) = obj.get_mut("metadata") {
                let defs = self.registry().builtin_schemas.clone();
                let schema = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
                let found = crate::validation::prune_builtin(&defs, schema, meta);
                Self::refuse_wrong_types(info, &found.wrong_types, "metadata.")?;
                unknown.extend(found.unknown.into_iter().map(|f| format!("metadata.{f}")));
            }
            unknown
        } else if info.builtin {
            let defs = self.registry().builtin_schemas.clone();
            let name = if info.view == crate::registry::View::EventsV1 {
                "io.k8s.api.core.v1.Event"
            } else {
                info.schema_name.as_str()
            };
            let found = crate::validation::prune_builtin(&defs, name, obj);
            Self::refuse_wrong_types(info, &found.wrong_types, "")?;
            found.unknown
        } else {
            vec![]
        };
        let list: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect();
        match fv {
            FieldValidation::Strict if !list.is_empty() => Err(ApiError::bad_request(format!(
                "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
                info.kind,
                info.version,
                info.kind,
                list.join(", ")
            ))),
            FieldValidation::Warn => Ok(list),
            _ => Ok(vec![]),
        }
    }

    pub async fn create(
        &self,
        info: &Arc<ResourceInfo>,
        ns: Option<&str>,
        body: Value,
        opts: &WriteOpts,
        warnings: &mut Vec<String>,
    ) -> ApiResult<Arc<Value>> {
        let mut obj = kinds::from_view(info, body);
        if !obj.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        let body_ns = util::ns_of(&obj).to_string();
        let ns = if info.namespaced {
            match ns {
                Some(n) if !body_ns.is_empty() && body_ns != n => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                Some(n) => Some(n.to_string()),
                None if !body_ns.is_empty() => Some(body_ns),
                None => None,
            }
        } else {
            None
        };
        self.check_namespace(info, ns.as_deref())?;
        let mut name = util::name_of(&obj).to_string();
        if name.is_empty() {
            let prefix = obj
                .pointer("/metadata/generateName")
                .and_then(Value::as_str)
                .unwrap_or("");
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &info.qualified_kind(),
                    "",
                    vec![(
                        "metadata.name".into(),
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            name = format!("{prefix}{}", util::random_suffix(5));
        }
        {
            let m = ensure_obj(&mut obj, &["metadata"]);
            m.insert("name".into(), json!(name));
            match &ns {
                Some(n) => m.insert("namespace".into(), json!(n)),
                None => m.remove("namespace"),
            };
            m.insert("uid".into(), json!(util::new_uid()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            m.insert("generation".into(), json!(1));
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "selfLink",
            ] {
                m.remove(k);
            }
        }
        if let Value::Object(m) = &mut obj {
            m.insert(
                "apiVersion".into(),
                json!(if info.view == crate::registry::View::EventsV1 {
                    "v1".to_string()
                } else {
                    info.group_version()
                }),
            );
            m.insert("kind".into(), json!(info.kind));
        }
        if info.has_status() && !info.builtin {
            // A custom resource's status is set through /status only.
            if let Value::Object(m) = &mut obj {
                m.remove("status");
            }
        }
        kinds::defaults_on_create(info, &mut obj);
        crate::limits::check_object(&info.qualified(), &name, &obj)?;
        let rule = crate::names::name_rule(&info.group, &info.plural);
        if let Some(why) = crate::names::check_name(rule, &name) {
            return Err(ApiError::invalid(
                &info.qualified_kind(),
                &name,
                vec![("metadata.name".into(), why)],
            ));
        }
        Self::check_builtin(info, &name, &obj)?;
        if opts.admission {
            crate::admission::admit(
                self,
                info,
                "CREATE",
                None,
                Some(&mut obj),
                None,
                opts.dry_run,
                warnings,
            )
            .await?;
        }
        warnings.extend(self.check_schema(info, &mut obj, opts.validation)?);
        if info.plural == "customresourcedefinitions" && info.builtin {
            self.registry
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone_check_crd(&obj)?;
        }
        if opts.admission {
            crate::admission::validate(
                self,
                info,
                "CREATE",
                None,
                &obj,
                None,
                opts.dry_run,
                warnings,
            )
            .await?;
        }
        crate::limits::check_object(&info.qualified(), &name, &obj)?;
        let key = Self::key(info, ns.as_deref(), &name);
        if opts.dry_run {
            if self.store.get(&key).is_some() {
                return Err(ApiError::already_exists(
                    &info.qualified(),
                    &name,
                    &info.group,
                    &info.plural,
                ));
            }
            ensure_obj(&mut obj, &["metadata"]).insert("resourceVersion".into(), json!(""));
            return Ok(Arc::new(obj));
        }
        let stored = self.store.create(key, obj).map_err(|e| match e {
            StoreError::Storage(msg) => ApiError::internal(msg),
            _ => ApiError::already_exists(&info.qualified(), &name, &info.group, &info.plural),
        })?;
        self.after_write(info, &stored);
        self.store.sync().await.map_err(storage_error)?;
        Ok(stored)
    }

    /// Checks beyond the schema: label keys and values and annotation keys (every kind), and
    /// a pod's quantities must parse and be non-negative (else it runs and then breaks every
    /// reader of its node).
    pub(super) fn check_builtin(info: &ResourceInfo, name: &str, obj: &Value) -> ApiResult<()> {
        let mut errs = crate::names::meta_errors(obj);
        if info.builtin && info.group.is_empty() && info.plural == "pods" {
            errs.extend(crate::names::pod_quantity_errors(obj));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(&info.qualified_kind(), name, errs))
        }
    }

    pub(super) fn after_write(&self, info: &ResourceInfo, obj: &Value) {
        if info.builtin && info.plural == "customresourcedefinitions" && !is_terminating(obj) {
            let mut reg = self.registry.write().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = reg.register_crd(obj) {
                tracing::warn!(crd = util::name_of(obj), error = %e, "crd not registered");
            }
        }
    }

    pub(super) fn after_delete(&self, info: &ResourceInfo, obj: &Value) {
        self.gc_wake.notify_one();
        if info.builtin && info.plural == "customresourcedefinitions" {
            let removed = self
                .registry
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .unregister_crd(util::name_of(obj));
            if let Some(r) = removed.first() {
                let (objs, _) = self.store.list(&r.storage_key, None);
                for o in objs {
                    let key = (
                        r.storage_key.clone(),
                        util::ns_of(&o).to_string(),
                        util::name_of(&o).to_string(),
                    );
                    let _ = self.store.delete(&key, None);
                }
            }
        }
    }

    /// Creates or replaces a CRD from the library API (not through HTTP admission).
    pub async fn install_crd(&self, crd: Value) -> ApiResult<()> {
        let info = self
            .registry()
            .get("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .ok_or_else(|| ApiError::internal("crd resource missing"))?;
        let name = util::name_of(&crd).to_string();
        let mut w = vec![];
        if self.store.get(&Self::key(&info, None, &name)).is_some() {
            let mut m = move |cur: Option<&Value>| -> ApiResult<Value> {
                let mut c = crd.clone();
                if let Some(rv) = cur.and_then(|c| c.pointer("/metadata/resourceVersion")) {
                    ensure_obj(&mut c, &["metadata"]).insert("resourceVersion".into(), rv.clone());
                }
                Ok(c)
            };
            self.update(
                &info,
                None,
                &name,
                None,
                &mut m,
                &WriteOpts::internal(),
                false,
                &mut w,
            )
            .await?;
        } else {
            self.create(&info, None, crd, &WriteOpts::internal(), &mut w)
                .await?;
        }
        Ok(())
    }

    /// Whether faults may be injected into a request from `user_agent`.
    pub fn faults_apply_to(&self, user_agent: &str) -> bool {
        (self.config.fault_rate > 0.0 || !self.config.fault_rules.is_empty())
            && !self
                .config
                .fault_spared_agents
                .iter()
                .any(|prefix| user_agent.starts_with(prefix.as_str()))
    }

    /// Fault injection: `Some(error)` for a write that should fail now.
    pub fn injected_fault(&self) -> Option<ApiError> {
        let rate = self.config.fault_rate;
        if rate <= 0.0 {
            return None;
        }
        let x = self
            .faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_f64();
        if x < rate / 2.0 {
            Some(ApiError::internal(
                "injected fault: internal error (devcluster fault_rate)",
            ))
        } else if x < rate {
            Some(ApiError::new(
                409,
                "Conflict",
                "injected fault: the object has been modified; please apply your changes to the latest version and try again (devcluster fault_rate)",
            ))
        } else {
            None
        }
    }

    pub fn roll_fault(&self) -> bool {
        let rate = self.config.fault_rate;
        rate > 0.0
            && self
                .faults
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .next_f64()
                < rate
    }

    pub fn bump_requests(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

impl Registry {
    /// Validates a CRD object the way registration would, without registering it.
    pub fn clone_check_crd(&self, crd: &Value) -> ApiResult<()> {
        let mut scratch = Registry {
            resources: self.resources.clone(),
            builtin_schemas: self.builtin_schemas.clone(),
            generation: 0,
            extra: vec![],
        };
        scratch.register_crd(crd).map(|_| ()).map_err(|e| {
            ApiError::invalid(
                "CustomResourceDefinition.apiextensions.k8s.io",
                util::name_of(crd),
                vec![("spec".into(), e)],
            )
        })
    }
}

/// A change the data dir could not confirm on disk: the request fails, as etcd's would.
pub(super) fn storage_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Storage(msg) => ApiError::internal(msg),
        other => ApiError::internal(format!("unexpected store error: {other:?}")),
    }
}
