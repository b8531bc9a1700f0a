//! The Mutating/ValidatingWebhookConfiguration objects that make an API server call us: one
//! webhook per [`Route`], Volcano's settings (`failurePolicy: Fail`, `timeoutSeconds: 10`,
//! `sideEffects: None`). `basalt up` registers them with a URL; the Helm chart renders the same
//! routes with a Service reference.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use kube::api::ObjectMeta;

use crate::admit::Route;

/// Name of the MutatingWebhookConfiguration.
pub const MUTATING_NAME: &str = "basalt-mutating";
/// Name of the ValidatingWebhookConfiguration.
pub const VALIDATING_NAME: &str = "basalt-validating";

/// How the API server reaches the webhook server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientConfig {
    /// A base URL such as `https://127.0.0.1:9443`; route paths are appended.
    Url(String),
    /// An in-cluster Service.
    Service {
        /// Namespace of the Service.
        namespace: String,
        /// Service name.
        name: String,
        /// Service port (443 usually).
        port: i32,
    },
}

impl ClientConfig {
    fn for_route(&self, route: Route, ca_bundle_pem: &str) -> WebhookClientConfig {
        let ca = Some(ByteString(ca_bundle_pem.as_bytes().to_vec()));
        match self {
            ClientConfig::Url(base) => WebhookClientConfig {
                url: Some(format!("{}{}", base.trim_end_matches('/'), route.path())),
                ca_bundle: ca,
                service: None,
            },
            ClientConfig::Service {
                namespace,
                name,
                port,
            } => WebhookClientConfig {
                url: None,
                ca_bundle: ca,
                service: Some(ServiceReference {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    path: Some(route.path().to_owned()),
                    port: Some(*port),
                }),
            },
        }
    }
}

fn webhook_name(route: Route) -> String {
    format!(
        "{}.basalt.dev",
        route.path().trim_start_matches('/').replace('/', "-")
    )
}

fn rules(route: Route) -> Vec<RuleWithOperations> {
    let (group, version, resource) = route.resource();
    vec![RuleWithOperations {
        api_groups: Some(vec![group.to_owned()]),
        api_versions: Some(vec![version.to_owned()]),
        operations: Some(route.operations().iter().map(|o| (*o).to_owned()).collect()),
        resources: Some(vec![resource.to_owned()]),
        scope: None,
    }]
}

fn metadata(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        labels: Some(BTreeMap::from([(
            crds::labels::MANAGED_BY.to_owned(),
            crds::labels::MANAGED_BY_VALUE.to_owned(),
        )])),
        ..Default::default()
    }
}

/// The validating and mutating configurations for every route, trusting `ca_bundle_pem`.
pub fn configurations(
    ca_bundle_pem: &str,
    client: &ClientConfig,
) -> (ValidatingWebhookConfiguration, MutatingWebhookConfiguration) {
    let validating = Route::ALL
        .iter()
        .filter(|r| !r.is_mutating())
        .map(|&route| ValidatingWebhook {
            name: webhook_name(route),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: client.for_route(route, ca_bundle_pem),
            failure_policy: Some("Fail".to_owned()),
            match_policy: Some("Equivalent".to_owned()),
            rules: Some(rules(route)),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(10),
            ..Default::default()
        })
        .collect();
    let mutating = Route::ALL
        .iter()
        .filter(|r| r.is_mutating())
        .map(|&route| MutatingWebhook {
            name: webhook_name(route),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: client.for_route(route, ca_bundle_pem),
            failure_policy: Some("Fail".to_owned()),
            match_policy: Some("Equivalent".to_owned()),
            reinvocation_policy: Some("Never".to_owned()),
            rules: Some(rules(route)),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(10),
            ..Default::default()
        })
        .collect();
    (
        ValidatingWebhookConfiguration {
            metadata: metadata(VALIDATING_NAME),
            webhooks: Some(validating),
        },
        MutatingWebhookConfiguration {
            metadata: metadata(MUTATING_NAME),
            webhooks: Some(mutating),
        },
    )
}

/// Creates or updates both configurations (server-side apply, field manager `basalt/webhook`).
pub async fn register(
    client: kube::Client,
    ca_bundle_pem: &str,
    target: &ClientConfig,
) -> Result<(), crate::Error> {
    use kube::api::{Api, Patch, PatchParams};
    let (validating, mutating) = configurations(ca_bundle_pem, target);
    let params = PatchParams::apply("basalt/webhook").force();
    let fail =
        |e: kube::Error| crate::Error::Kube(format!("registering the webhook configurations: {e}"));
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .patch(VALIDATING_NAME, &params, &Patch::Apply(&validating))
        .await
        .map_err(fail)?;
    Api::<MutatingWebhookConfiguration>::all(client)
        .patch(MUTATING_NAME, &params, &Patch::Apply(&mutating))
        .await
        .map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_webhook_per_route() {
        let (v, m) = configurations("PEM", &ClientConfig::Url("https://127.0.0.1:9443/".into()));
        let v = v.webhooks.unwrap();
        let m = m.webhooks.unwrap();
        assert_eq!(v.len() + m.len(), Route::ALL.len());
        let jobs = v
            .iter()
            .find(|w| w.name == "jobs-validate.basalt.dev")
            .unwrap();
        assert_eq!(
            jobs.client_config.url.as_deref(),
            Some("https://127.0.0.1:9443/jobs/validate")
        );
        assert_eq!(
            jobs.rules.as_ref().unwrap()[0].operations.as_ref().unwrap(),
            &["CREATE", "UPDATE"]
        );
        assert!(m.iter().any(|w| w.name == "queues-mutate.basalt.dev"));
        let svc = ClientConfig::Service {
            namespace: "basalt".into(),
            name: "basalt-webhook".into(),
            port: 443,
        };
        let (v, _) = configurations("PEM", &svc);
        let s = v.webhooks.unwrap()[0]
            .client_config
            .service
            .clone()
            .unwrap();
        assert_eq!(s.path.as_deref(), Some("/jobs/validate"));
    }
}
