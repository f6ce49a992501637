//! NetworkPolicies from the stack's graph: the namespace denies every connection (DNS
//! excepted), and each pod's policy allows exactly the edges the stack declares, on the ports
//! of what it reaches: `depends-on` and env values that name a service, the ingress controller
//! to routed services, the cluster's Prometheus to scraped ports, backups to their database
//! (and to S3), and the `targets > k8s > allow` edges.

use super::*;
use std::collections::HashMap;

/// The namespace of the ingress controller when `targets > k8s ingress-namespace=` is not set
/// (ingress-nginx's own manifests install there).
pub const DEFAULT_INGRESS_NAMESPACE: &str = "ingress-nginx";
/// The namespace of the cluster's Prometheus when `targets > k8s prometheus-namespace=` is not
/// set (kube-prometheus installs there).
pub const DEFAULT_PROMETHEUS_NAMESPACE: &str = "monitoring";
/// The label every namespace carries with its name (Kubernetes >= 1.22).
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// The port an S3 upload connects to.
const HTTPS_PORT: u16 = 443;

/// One end of an allowed connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// A pod of the stack, by its `app.kubernetes.io/name` label (a service, or a backup's
    /// CronJob `backup-NAME`).
    Pod(String),
    /// Every pod of another namespace.
    Namespace(String),
    /// Addresses outside the cluster.
    Cidr(String),
}

/// A connection the stack declares: `from` may open `port` (`protocol`) on `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEdge {
    pub from: Peer,
    pub to: Peer,
    pub protocol: Protocol,
    pub port: u16,
    /// What declares it, for the build report.
    pub why: String,
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Pod(p) => write!(f, "{p}"),
            Peer::Namespace(n) => write!(f, "namespace {n}"),
            Peer::Cidr(c) => write!(f, "{c}"),
        }
    }
}

impl std::fmt::Display for NetworkEdge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        write!(f, "{} -> {} {}/{} ({})", self.from, self.to, self.port, proto, self.why)
    }
}

/// Whether the k8s target writes NetworkPolicies (`targets > k8s network-policies=#false`
/// turns them off).
pub fn network_policies_enabled(stack: &Stack) -> bool {
    option(stack, "network-policies").is_none_or(|v| v != "false")
}

/// Whether `value` names `service` as a host: the whole value, or after `@` or `//`, or
/// before `:PORT` (`postgres`, `redis://redis:6379`, `postgresql://u:p@postgres/db`).
#[cfg(test)]
fn names_host(value: &str, service: &str) -> bool {
    hosts_named(value).any(|h| h == service)
}

/// The words of `value` in a host's position (see [`names_host`]): each a whole run of host
/// characters, so that a service name is looked up once per word rather than every service
/// searched for in every value (quadratic in the services).
fn hosts_named(value: &str) -> impl Iterator<Item = &str> {
    let host_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    value.split(move |c: char| !host_char(c)).filter(|w| !w.is_empty()).filter(move |w| {
        // `split` yields subslices of `value`: their offset gives what is around them.
        let start = w.as_ptr() as usize - value.as_ptr() as usize;
        let (before, after) = (&value[..start], &value[start + w.len()..]);
        before.is_empty() && after.is_empty()
            || before.ends_with('@')
            || before.ends_with("//")
            || after.strip_prefix(':').is_some_and(|p| p.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Every connection the stack declares, sorted, without repeats.
pub fn network_edges(stack: &Stack) -> Vec<NetworkEdge> {
    let mut edges: Vec<NetworkEdge> = Vec::new();
    let mut to_service = |from: Peer, svc: &Service, only: Option<u16>, why: String| {
        for p in svc.ports.iter().filter(|p| only.is_none_or(|o| o == p.port)) {
            edges.push(NetworkEdge {
                from: from.clone(),
                to: Peer::Pod(svc.name.clone()),
                protocol: p.protocol,
                port: p.port,
                why: why.clone(),
            });
        }
    };
    let by_alias: std::collections::HashMap<&str, &Service> =
        stack.services.values().flat_map(|s| s.aliases.iter().map(move |a| (a.as_str(), s))).collect();
    for svc in stack.services.values() {
        let me = Peer::Pod(svc.name.clone());
        for d in &svc.depends_on {
            if let Some(t) = stack.services.get(&d.service) {
                to_service(me.clone(), t, None, "depends-on".into());
            }
        }
        for (var, value) in &svc.env {
            let EnvValue::Text(t) = value else { continue };
            let value = stack.compile_time(t);
            // An alias is one more Service of the same pods (`alias`).
            for other in hosts_named(&value)
                .filter_map(|h| stack.services.get(h).or_else(|| by_alias.get(h).copied()))
                .filter(|o| o.name != svc.name)
            {
                to_service(me.clone(), other, None, format!("env {var}"));
            }
        }
    }
    {
        let ingress = Peer::Namespace(
            option(stack, "ingress-namespace")
                .or_else(|| super::routes::gateway_api(stack).then(|| super::routes::gateway_namespace(stack)))
                .unwrap_or(DEFAULT_INGRESS_NAMESPACE.into()),
        );
        for site in &stack.sites {
            for r in &site.routes {
                if let Action::Proxy { service, port } = &r.action {
                    if let Some(t) = stack.services.get(service) {
                        to_service(ingress.clone(), t, Some(*port), "site route".into());
                    }
                }
            }
        }
    }
    let prometheus =
        Peer::Namespace(option(stack, "prometheus-namespace").unwrap_or(DEFAULT_PROMETHEUS_NAMESPACE.into()));
    for svc in stack.services.values() {
        if let Some(m) = &svc.metrics {
            edges.push(NetworkEdge {
                from: prometheus.clone(),
                to: Peer::Pod(svc.name.clone()),
                protocol: Protocol::Tcp,
                port: m.port,
                why: "metrics".into(),
            });
        }
    }
    for b in stack.backups.values() {
        let job = backup::Job::new(stack, b);
        let me = Peer::Pod(job.object());
        if let Some(db) = job.db {
            edges.push(NetworkEdge {
                from: me.clone(),
                to: Peer::Pod(db.name.clone()),
                protocol: Protocol::Tcp,
                port: job.port(),
                why: format!("backup {}", b.name),
            });
        }
        if !job.uploads.is_empty() {
            edges.push(NetworkEdge {
                from: me,
                to: Peer::Cidr("0.0.0.0/0".into()),
                protocol: Protocol::Tcp,
                port: HTTPS_PORT,
                why: format!("backup {} upload to S3", b.name),
            });
        }
    }
    for e in &stack.targets.k8s_edges {
        let cidr = e.cidr.as_ref().map(|c| stack.compile_time(c));
        let Some(other) = cidr.map(Peer::Cidr).or_else(|| e.namespace.clone().map(Peer::Namespace)) else {
            continue;
        };
        let me = Peer::Pod(e.service.clone());
        let (from, to, why) = if e.incoming { (other, me, "k8s ingress") } else { (me, other, "k8s egress") };
        edges.push(NetworkEdge { from, to, protocol: e.protocol, port: e.port, why: why.into() });
    }
    // One edge per connection: the first reason that declares it.
    let key = |e: &NetworkEdge| (e.from.clone(), e.to.clone(), e.port, e.protocol == Protocol::Udp);
    let mut seen = BTreeSet::new();
    edges.retain(|e| seen.insert(key(e)));
    edges.sort_by_key(key);
    edges
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    pod_selector: LabelSelector,
    policy_types: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ingress: Vec<PolicyRule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    egress: Vec<PolicyRule>,
}

/// A label selector; empty selects everything.
#[derive(Serialize, Default, Clone)]
#[serde(rename_all = "camelCase")]
struct LabelSelector {
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    match_labels: IndexMap<String, String>,
}

#[derive(Serialize)]
struct PolicyRule {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    from: Vec<PolicyPeer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    to: Vec<PolicyPeer>,
    ports: Vec<PolicyPort>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct PolicyPeer {
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace_selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pod_selector: Option<LabelSelector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_block: Option<IpBlock>,
}

#[derive(Serialize, Clone)]
struct IpBlock {
    cidr: String,
}

#[derive(Serialize, Clone, PartialEq)]
struct PolicyPort {
    protocol: &'static str,
    port: u16,
}

fn selector(pairs: &[(&str, &str)]) -> LabelSelector {
    LabelSelector { match_labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect() }
}

fn policy_peer(p: &Peer) -> PolicyPeer {
    match p {
        Peer::Pod(name) => PolicyPeer {
            namespace_selector: None,
            pod_selector: Some(selector(&[(SELECTOR_KEY, name)])),
            ip_block: None,
        },
        Peer::Namespace(ns) => PolicyPeer {
            namespace_selector: Some(selector(&[(NAMESPACE_NAME_LABEL, ns)])),
            pod_selector: None,
            ip_block: None,
        },
        Peer::Cidr(c) => {
            PolicyPeer { namespace_selector: None, pod_selector: None, ip_block: Some(IpBlock { cidr: c.clone() }) }
        }
    }
}

/// One rule per peer, with the ports that peer may use, in the edges' order.
fn rules(edges: &[&NetworkEdge], peer_of: impl Fn(&NetworkEdge) -> &Peer, incoming: bool) -> Vec<PolicyRule> {
    let mut by_peer: IndexMap<&Peer, Vec<PolicyPort>> = IndexMap::new();
    for e in edges {
        let port = PolicyPort { protocol: workloads::protocol(e.protocol), port: e.port };
        let ports = by_peer.entry(peer_of(e)).or_default();
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    by_peer
        .into_iter()
        .map(|(peer, ports)| {
            let p = vec![policy_peer(peer)];
            if incoming {
                PolicyRule { from: p, to: Vec::new(), ports }
            } else {
                PolicyRule { from: Vec::new(), to: p, ports }
            }
        })
        .collect()
}

impl Builder<'_> {
    /// The namespace's default deny (DNS to kube-dns allowed) and one policy per pod of the
    /// stack with the edges it is an end of.
    pub(super) fn network_policies(&mut self) {
        if !network_policies_enabled(self.stack) {
            return;
        }
        let edges = network_edges(self.stack);
        let dns = PolicyRule {
            from: Vec::new(),
            to: vec![PolicyPeer {
                namespace_selector: Some(selector(&[(NAMESPACE_NAME_LABEL, "kube-system")])),
                pod_selector: Some(selector(&[("k8s-app", "kube-dns")])),
                ip_block: None,
            }],
            ports: vec![PolicyPort { protocol: "UDP", port: 53 }, PolicyPort { protocol: "TCP", port: 53 }],
        };
        let metadata = self.meta("default-deny", &[]);
        self.push(Object {
            api_version: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata,
            spec: Some(PolicySpec {
                pod_selector: LabelSelector::default(),
                policy_types: vec!["Ingress", "Egress"],
                ingress: Vec::new(),
                egress: vec![dns],
            }),
            data: None,
        });
        let stack = self.stack;
        let mut pods: Vec<String> =
            stack.services.values().filter(|s| s.image.is_some()).map(|s| s.name.clone()).collect();
        pods.extend(stack.backups.values().map(|b| backup::Job::new(stack, b).object()));
        // Each pod's edges by a lookup, in the edges' order: a scan of every edge per pod was
        // quadratic in the services.
        let (mut to, mut from) = (HashMap::<&Peer, Vec<&NetworkEdge>>::new(), HashMap::<&Peer, Vec<_>>::new());
        for e in &edges {
            to.entry(&e.to).or_default().push(e);
            from.entry(&e.from).or_default().push(e);
        }
        for pod in pods {
            let me = Peer::Pod(pod.clone());
            let incoming: Vec<&NetworkEdge> = to.get(&me).cloned().unwrap_or_default();
            let outgoing: Vec<&NetworkEdge> = from.get(&me).cloned().unwrap_or_default();
            let metadata = self.meta(&pod, &[(SELECTOR_KEY, &pod)]);
            self.push(Object {
                api_version: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata,
                spec: Some(PolicySpec {
                    pod_selector: selector(&[(SELECTOR_KEY, &pod)]),
                    policy_types: vec!["Ingress", "Egress"],
                    ingress: rules(&incoming, |e| &e.from, true),
                    egress: rules(&outgoing, |e| &e.to, false),
                }),
                data: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_in_values() {
        assert!(names_host("postgres", "postgres"));
        assert!(names_host("redis://redis:6379/0", "redis"));
        assert!(names_host("postgresql://u:p@postgres/db", "postgres"));
        assert!(names_host("http://api:8080/v1", "api"));
        assert!(!names_host("postgresql://u:p@postgres-2/db", "postgres"));
        assert!(!names_host("my-api-key", "api"));
        assert!(!names_host("web", "we"));
        assert!(!names_host("the api is down", "api"));
    }

    #[test]
    fn every_host_of_a_value_once_per_word() {
        let hosts: Vec<&str> = hosts_named("redis://cache:6379,http://api:80/v1?next=@auth db-1.internal").collect();
        assert_eq!(hosts, ["cache", "api", "auth"]);
        assert_eq!(hosts_named("postgres").collect::<Vec<_>>(), ["postgres"]);
        assert_eq!(hosts_named("").count(), 0);
    }
}
