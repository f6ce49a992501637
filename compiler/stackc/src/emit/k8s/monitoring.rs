//! Monitoring through prometheus-operator (`targets > k8s monitoring="prometheus-operator"`):
//! a `ServiceMonitor` per service with `metrics` and one `PrometheusRule` holding the stack's
//! `alerts` groups. Without the option the pods carry prometheus.io annotations instead.

use super::services::service_port_name;
use super::*;
use super::{duration, rule_group, RuleGroup};

/// The value of `monitoring=` that selects the operator's objects.
pub const PROMETHEUS_OPERATOR: &str = "prometheus-operator";

/// Whether the stack asks for ServiceMonitors and a PrometheusRule.
pub fn prometheus_operator(stack: &Stack) -> bool {
    option(stack, "monitoring").is_some_and(|v| v == PROMETHEUS_OPERATOR)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceMonitorSpec {
    selector: Selector,
    namespace_selector: NamespaceSelector,
    endpoints: Vec<Endpoint>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamespaceSelector {
    match_names: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    /// Only when the Service port has no name (one unnamed port).
    #[serde(skip_serializing_if = "Option::is_none")]
    target_port: Option<u16>,
    path: String,
    scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    relabelings: Vec<Relabeling>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relabeling {
    action: &'static str,
    target_label: &'static str,
    replacement: String,
}

#[derive(Serialize)]
struct RuleSpec {
    groups: Vec<RuleGroup>,
}

impl Builder<'_> {
    pub(super) fn monitoring_objects(&mut self) {
        if !prometheus_operator(self.stack) {
            return;
        }
        let stack = self.stack;
        for svc in stack.services.values() {
            if let Some(m) = &svc.metrics {
                self.service_monitor(svc, m);
            }
        }
        if !stack.alert_groups.is_empty() {
            let groups = stack.alert_groups.iter().map(|g| rule_group(stack, g)).collect();
            let metadata = self.meta(&stack.name, &[]);
            self.push(Object {
                api_version: "monitoring.coreos.com/v1",
                kind: "PrometheusRule",
                metadata,
                spec: Some(RuleSpec { groups }),
                data: None,
            });
        }
    }

    /// Endpoints discovery reaches only the ports the Service lists, so the metrics port must
    /// be one of them; it is named by the Service port's name (kept from the stack), else by
    /// number. The `job` label is the stack's job name, as in the Prometheus target (the
    /// operator would otherwise name the job after the Service).
    fn service_monitor(&mut self, svc: &Service, m: &Metrics) {
        let Some(port) = svc.ports.iter().find(|p| p.port == m.port) else {
            self.warn(
                svc.origin_of("metrics"),
                format!(
                    "service `{}` has no port {}: a ServiceMonitor scrapes only the ports of the Service, so none is written",
                    svc.name, m.port
                ),
                "not expressed on Kubernetes",
                format!("declare `port {}` on the service", m.port),
            );
            return;
        };
        let name = service_port_name(svc, port);
        let path = self.text(&Text::from_default(&m.path), svc.origin_of("metrics"), "`metrics path=`");
        let endpoint = Endpoint {
            target_port: name.is_none().then_some(m.port),
            port: name,
            path,
            scheme: m.scheme.clone(),
            interval: m.interval_ms.map(duration),
            relabelings: vec![Relabeling { action: "replace", target_label: "job", replacement: m.job.clone() }],
        };
        let metadata = self.meta(&svc.name, &[(SELECTOR_KEY, &svc.name)]);
        let selector = IndexMap::from([(SELECTOR_KEY.to_string(), svc.name.clone())]);
        let ns = self.ns.clone();
        self.push(Object {
            api_version: "monitoring.coreos.com/v1",
            kind: "ServiceMonitor",
            metadata,
            spec: Some(ServiceMonitorSpec {
                selector: Selector { match_labels: selector },
                namespace_selector: NamespaceSelector { match_names: vec![ns] },
                endpoints: vec![endpoint],
            }),
            data: None,
        });
    }
}
