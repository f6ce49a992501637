//! `stackc exposure`: every port of the stack, who can reach it, and what guards it
//! (`docs/build.md`, "stackc exposure"). Read from the IR, the way the targets read it:
//! the exposure of a publish is compose's, the firewall rules are the UFW script's
//! (`emit::ufw::rules`, `emit::ufw::docker_ports`), the routes are the proxy's.

use crate::emit::ufw;
use crate::ir::{Protocol, Stack};

/// How far a port reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Published on all host addresses.
    Public,
    /// Published on one host address (loopback, a private address).
    Host(String),
    /// Published on an address the deploy environment sets (`${param}`).
    HostParam(String),
    /// Reachable from the stack's network only.
    Internal,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub service: String,
    /// The container port and protocol.
    pub port: u16,
    pub protocol: Protocol,
    pub reach: Reach,
    /// The host port, when published.
    pub host_port: Option<u16>,
    /// The site routes that reach this port: `https://host/path`.
    pub routes: Vec<String>,
    /// What the host firewall does for the port (the UFW script's rules).
    pub firewall: String,
}

fn proto(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Every port: the proxy's for the sites, then each `publish` and each declared `port` no
/// publish already lists, of every service compose runs (the stack's, then the generated
/// monitoring services), in order.
pub fn rows(stack: &Stack) -> Vec<Row> {
    let rules = ufw::rules(stack);
    let governed = ufw::docker_ports(stack);
    let scheme = if stack.proxy.as_ref().is_none_or(|p| p.tls.certificates != "none") { "https" } else { "http" };
    let routes_to = |service: &str, port: u16| -> Vec<String> {
        let mut out = Vec::new();
        for site in &stack.sites {
            let host = site.hosts.first().map(|h| h.render(|p| format!("${{{p}}}"))).unwrap_or_default();
            for r in &site.routes {
                if let Some((s, p)) = r.proxied() {
                    if s == service && p == port && !r.internal {
                        out.push(format!("{scheme}://{host}{}", r.path));
                    }
                }
            }
        }
        out
    };
    let firewall_for = |host_port: u16, protocol: Protocol, reach: &Reach| -> String {
        if stack.firewall.is_none() {
            return match reach {
                Reach::Internal => "-".into(),
                _ => "no `firewall`: not filtered".into(),
            };
        }
        match reach {
            Reach::Internal => "-".into(),
            Reach::HostParam(_) => "not governed (the address is set at deploy)".into(),
            Reach::Host(a) if a.starts_with("127.") || a == "::1" => "- (loopback)".into(),
            // Docker forwards it before UFW's INPUT rules, and the DOCKER-USER block
            // governs only publishes on all addresses.
            Reach::Host(_) => "not governed (Docker forwards it past UFW)".into(),
            Reach::Public => {
                let covering: Vec<&ufw::Rule> =
                    rules.iter().filter(|r| r.port == host_port && r.protocol.is_none_or(|p| p == protocol)).collect();
                let fw = stack.firewall.as_ref().map(|f| f.incoming.as_str()).unwrap_or("deny");
                let mut specs: Vec<String> = covering.iter().map(|r| r.spec()).collect();
                if !covering.is_empty() && covering.iter().all(|r| r.from.is_some()) {
                    specs.push(format!("else default incoming: {fw}"));
                }
                let via = if *reach == Reach::Public
                    && governed.iter().any(|g| g.port == host_port && g.protocol == protocol && !g.open)
                {
                    " (also in DOCKER-USER)"
                } else {
                    ""
                };
                if specs.is_empty() {
                    format!("default incoming: {fw}")
                } else {
                    format!("{}{via}", specs.join("; "))
                }
            }
        }
    };
    let mut out = Vec::new();
    if !stack.sites.is_empty() {
        // The ports compose's proxy publishes (`emit::ufw` derives the same).
        let (http, https) = stack.proxy_plan.as_ref().map_or((80, 443), |p| (p.http_port.value, p.https_port.value));
        let mut ports = vec![(http, Protocol::Tcp)];
        if scheme == "https" {
            ports.push((https, Protocol::Tcp));
            if ufw::proxy_name(stack) == "caddy" {
                ports.push((https, Protocol::Udp));
            }
        }
        ports.extend(stack.proxy_plan.iter().flat_map(|p| &p.site_ports).map(|p| (*p, Protocol::Tcp)));
        let hosts: Vec<String> =
            stack.sites.iter().filter_map(|s| s.hosts.first()).map(|h| h.render(|p| format!("${{{p}}}"))).collect();
        for (port, protocol) in ports {
            out.push(Row {
                service: format!("({})", ufw::proxy_name(stack)),
                port,
                protocol,
                reach: Reach::Public,
                host_port: Some(port),
                routes: vec![format!("sites: {}", hosts.join(", "))],
                firewall: firewall_for(port, protocol, &Reach::Public),
            });
        }
    }
    for s in ufw::publishing_services(stack) {
        for p in &s.publish {
            let reach = match &p.host {
                None => Reach::Public,
                Some(h) => match h.as_literal() {
                    Some(a) if a == "0.0.0.0" || a == "::" => Reach::Public,
                    Some(a) => Reach::Host(a),
                    None => Reach::HostParam(h.render(|n| format!("${{{n}}}"))),
                },
            };
            out.push(Row {
                service: s.name.clone(),
                port: p.target,
                protocol: p.protocol,
                host_port: Some(p.host_port),
                routes: routes_to(&s.name, p.target),
                firewall: firewall_for(p.host_port, p.protocol, &reach),
                reach,
            });
        }
        for p in &s.ports {
            if s.publish.iter().any(|x| x.target == p.port && x.protocol == p.protocol) {
                continue;
            }
            // Host mode: compose publishes a routed port on loopback for the host's proxy.
            let loopback = stack
                .proxy_plan
                .iter()
                .filter(|plan| plan.host_mode)
                .flat_map(|plan| &plan.upstreams)
                .find(|u| u.service == s.name && u.port == p.port && p.protocol == Protocol::Tcp);
            if let Some(host_port) = loopback.and_then(|u| u.host_port) {
                let reach = Reach::Host(crate::ir::proxy::LOOPBACK.to_string());
                out.push(Row {
                    service: s.name.clone(),
                    port: p.port,
                    protocol: p.protocol,
                    host_port: Some(host_port),
                    routes: routes_to(&s.name, p.port),
                    firewall: firewall_for(host_port, p.protocol, &reach),
                    reach,
                });
                continue;
            }
            out.push(Row {
                service: s.name.clone(),
                port: p.port,
                protocol: p.protocol,
                reach: Reach::Internal,
                host_port: None,
                routes: routes_to(&s.name, p.port),
                firewall: "-".into(),
            });
        }
    }
    out
}

/// The table, aligned, one port a line.
pub fn table(stack: &Stack) -> String {
    let mut lines: Vec<[String; 5]> =
        vec![["SERVICE".into(), "PORT".into(), "EXPOSURE".into(), "REACHED BY".into(), "FIREWALL".into()]];
    for r in rows(stack) {
        let exposure = match (&r.reach, r.host_port) {
            (Reach::Public, Some(h)) => format!("public :{h}"),
            (Reach::Host(a), Some(h)) => format!("host-only {a}:{h}"),
            (Reach::HostParam(a), Some(h)) => format!("host {a}:{h} (deploy decides)"),
            _ => "internal".into(),
        };
        let reached = if r.routes.is_empty() { "-".to_string() } else { r.routes.join(", ") };
        lines.push([r.service, format!("{}/{}", r.port, proto(r.protocol)), exposure, reached, r.firewall]);
    }
    let widths: Vec<usize> = (0..5).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (i, cell) in l.iter().enumerate() {
            if i + 1 == l.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
