//! The reverse proxy compose runs for the stack's sites (nginx and certbot, or Caddy), and
//! `init-certificates.sh`.

use indexmap::IndexMap;

use super::monitoring::{monitoring_networks, monitoring_services, push_all, MONITORING_NOT_RUN};
use super::service::mount;
use super::values::{env_secret, param, render_plain};
use super::*;

/// The reverse proxy the compose file runs for the stack's sites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Caddy,
}

/// The proxy of the stack's `targets` (not of `--target`, so that building compose alone
/// gives the same file): nginx when selected (also when both are), else Caddy; `None` when
/// the stack has no sites or selects neither proxy target, or the proxy runs on the host
/// (`proxy mode="host"`).
pub fn proxy_kind(stack: &Stack) -> Option<ProxyKind> {
    if stack.sites.is_empty() || host_mode(stack) {
        return None;
    }
    let selected = &stack.targets.selected;
    if selected.contains(&TargetKind::Nginx) {
        Some(ProxyKind::Nginx)
    } else if selected.contains(&TargetKind::Caddy) {
        Some(ProxyKind::Caddy)
    } else {
        None
    }
}

fn host_mode(stack: &Stack) -> bool {
    stack.proxy_plan.as_ref().is_some_and(|p| p.host_mode)
}

/// Host mode: the loopback publishes (`127.0.0.1:HOST:CONTAINER`) the host's proxy reaches
/// `service` through, besides those it declares itself.
pub(super) fn host_mode_publishes(stack: &Stack, service: &crate::ir::Service) -> Vec<String> {
    let Some(plan) = stack.proxy_plan.as_ref().filter(|p| p.host_mode) else { return Vec::new() };
    plan.upstreams
        .iter()
        .filter(|u| u.service == service.name)
        .filter(|u| crate::ir::proxy::loopback_publish(&service.publish, u.port).is_none())
        .filter(|u| u.host_port.is_some())
        .map(|u| format!("{}:{}", u.address(), u.port))
        .collect()
}

/// What the stack gives the proxy's container, which host mode does not have: the host's
/// proxy needs it set up there.
fn host_mode_warnings(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let what = [
        (
            "mount",
            "`proxy > mount`: there is no proxy container to mount into",
            "put the files at that path on the host, where the host's proxy reads them",
        ),
        (
            "networks",
            "`proxy > networks`: the host's proxy joins no compose network",
            "leave `networks` out: the host's proxy reaches the services on 127.0.0.1",
        ),
    ];
    for (key, message, help) in what {
        if let Some(origin) = stack.proxy_origins.get(key) {
            out.push(
                Diagnostic::warning(Code::TargetApproximation, format!("host mode: compose ignores {message}"))
                    .at(origin_span(*origin), "the proxy runs on the host")
                    .help(help),
            );
        }
    }
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        if let Action::FastCgi { service, root, .. } = &r.action {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!("host mode: the host's proxy reads `{service}`'s files at {root} on the host, which compose does not mount there"),
                )
                .at(origin_span(r.origin), "a FastCGI route served by the host's proxy")
                .help(format!("make the application's files available at {root} on the host (a bind mount of `{service}` from that path), or run the proxy in compose")),
            );
        }
    }
    out
}

/// Pinned images of the generated services.
const CERTBOT_IMAGE: &str = "certbot/certbot:v2.11.0";
const CADDY_IMAGE: &str = "caddy:2.8-alpine";
/// What the nginx target writes and assumes (`docs/targets/nginx.md`; backends do not import
/// each other, so `tests/compose_proxy.rs` checks that these match its output).
const NGINX_CONF_DIR: &str = "nginx/conf.d";
/// Where the nginx target expects things (`docs/targets/nginx.md`).
const ACME_WEBROOT: &str = "/var/www/certbot";
/// The Caddyfile the Caddy target writes (`docs/targets/caddy.md`).
const CADDYFILE: &str = "caddy/Caddyfile";
/// The script that obtains the first certificates.
pub const INIT_SCRIPT: &str = "init-certificates.sh";

fn certificates(stack: &Stack) -> &str {
    stack.proxy.as_ref().map(|p| p.tls.certificates.as_str()).unwrap_or("letsencrypt")
}

/// The services, volumes and files that serve the stack's sites.
pub(super) struct ProxyPlan {
    pub(super) services: Vec<(String, CService)>,
    pub(super) volumes: Vec<String>,
}

impl ProxyPlan {
    fn service_names(kind: ProxyKind, stack: &Stack) -> Vec<&'static str> {
        match kind {
            ProxyKind::Nginx if certificates(stack) == "letsencrypt" => vec!["nginx", "certbot"],
            ProxyKind::Nginx => vec!["nginx"],
            ProxyKind::Caddy => vec!["caddy"],
        }
    }

    fn volume_names(kind: ProxyKind, stack: &Stack) -> Vec<&'static str> {
        let basic_auth = stack.sites.iter().any(|s| !s.basic_auth.is_empty());
        match (kind, certificates(stack)) {
            (ProxyKind::Caddy, _) => vec!["caddy-data", "caddy-config"],
            (ProxyKind::Nginx, c) => {
                let mut v = match c {
                    "letsencrypt" => vec!["letsencrypt", "certbot-webroot"],
                    "none" => vec![],
                    _ => vec!["nginx-certs"],
                };
                if basic_auth {
                    v.push("nginx-htpasswd");
                }
                if cache_path(stack).is_some() {
                    v.push("nginx-cache");
                }
                v
            }
        }
    }
}

/// Routed services (the stack's and the monitoring services compose runs), in route order,
/// and the networks the proxy joins: those `proxy > networks` names, else its edge networks.
fn routed(stack: &Stack) -> (Vec<&str>, Vec<String>) {
    let (services, per_service) = routed_networks(stack);
    let named = stack.proxy_plan.as_ref().map(|p| p.networks.clone()).unwrap_or_default();
    if !named.is_empty() {
        return (services, named);
    }
    let per_service: Vec<&[String]> = per_service.iter().map(Vec::as_slice).collect();
    let edge = edge_networks(stack, &services, &per_service);
    (services, edge)
}

/// Routed services, in route order, each with the networks it is on.
fn routed_networks(stack: &Stack) -> (Vec<&str>, Vec<Vec<String>>) {
    let generated = monitoring_services(stack);
    let mut services: Vec<&str> = Vec::new();
    for site in &stack.sites {
        for r in &site.routes {
            if let Some((service, _)) = r.proxied() {
                let runs = stack.services.contains_key(service) || generated.iter().any(|g| g == service);
                if runs && !services.contains(&service) {
                    services.push(service);
                }
            }
        }
    }
    let monitoring = stack.monitoring.as_ref().map(|m| (m, monitoring_networks(stack, m)));
    let mut per_service: Vec<Vec<String>> = Vec::new();
    for s in &services {
        let nets = match (stack.services.get(*s), &monitoring) {
            (Some(svc), _) => svc.networks.as_slice(),
            (None, Some((m, nets))) => {
                match m.exporters.iter().find(|e| e.service.name == *s) {
                    Some(e) => nets.exporters.get(&e.kind).map(Vec::as_slice).unwrap_or_default(),
                    // Prometheus and Alertmanager.
                    None => nets.prometheus.as_slice(),
                }
            }
            (None, None) => &[],
        };
        per_service.push(nets.to_vec());
    }
    (services, per_service)
}

/// The fewest networks through which the proxy reaches every routed service, rather than
/// every network they are on (which would let it reach a database on a backend network):
/// repeatedly the network that reaches most of the services not yet reached, and among those
/// the one with the fewest services the proxy does not route to, then the first declared.
fn edge_networks(stack: &Stack, routed: &[&str], per_service: &[&[String]]) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    for nets in per_service {
        push_all(&mut candidates, nets);
    }
    // Counted once, not per candidate and round: a scan of every service against every
    // routed one for each candidate was cubic, hours at 100 000 services.
    let routed_set: std::collections::HashSet<&str> = routed.iter().copied().collect();
    let mut others: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for s in stack.services.iter().filter(|(name, _)| !routed_set.contains(name.as_str())).map(|(_, s)| s) {
        // A service that lists a network twice is one service on it.
        let nets = s.networks.iter().enumerate().filter(|(i, n)| !s.networks[..*i].contains(n)).map(|(_, n)| n);
        for n in nets {
            *others.entry(n.as_str()).or_default() += 1;
        }
    }
    let others_on = |net: &str| others.get(net).copied().unwrap_or(0);
    let mut unreached: Vec<&[String]> = per_service.iter().copied().filter(|n| !n.is_empty()).collect();
    let mut out: Vec<String> = Vec::new();
    while !unreached.is_empty() {
        let Some(best) = candidates
            .iter()
            .filter(|c| !out.contains(c))
            .max_by_key(|c| {
                let reaches = unreached.iter().filter(|nets| nets.contains(c)).count();
                // `max_by_key` keeps the last maximum: the index makes the first declared win.
                let first = candidates.len() - candidates.iter().position(|x| x == *c).unwrap_or(0);
                (reaches, std::cmp::Reverse(others_on(c)), first)
            })
            .cloned()
        else {
            break;
        };
        unreached.retain(|nets| !nets.contains(&best));
        out.push(best);
    }
    out
}

pub(super) fn proxy_plan(stack: &Stack, opts: &EmitOptions) -> Option<ProxyPlan> {
    let kind = proxy_kind(stack)?;
    let certs = certificates(stack);
    let tls = certs != "none";
    let (routed, networks) = routed(stack);
    // On the host ports of `proxy > ports` (80 and 443 by default); a param is read by compose.
    let plan = stack.proxy_plan.as_ref()?;
    let publish = |p: &crate::ir::proxy::PublishedPort| format!("{}:{}", render_plain(stack, &p.host), p.container);
    let mut ports = vec![publish(&plan.http_port)];
    if tls {
        ports.push(publish(&plan.https_port));
        if kind == ProxyKind::Caddy {
            ports.push(format!("{}/udp", publish(&plan.https_port)));
        }
    }
    // The sites served on ports of their own (`site > listen`).
    let site_ports = stack.proxy_plan.iter().flat_map(|p| &p.site_ports);
    ports.extend(site_ports.map(|p| format!("{p}:{p}")));
    let depends_on =
        routed.iter().map(|s| (s.to_string(), CDepends { condition: "service_started" })).collect::<IndexMap<_, _>>();
    let mut volumes: Vec<CMount> = Vec::new();
    let mut services = Vec::new();
    match kind {
        ProxyKind::Nginx => {
            volumes.push(CMount::Short(format!("./{NGINX_CONF_DIR}:/etc/nginx/conf.d:ro")));
            match certs {
                "letsencrypt" => {
                    volumes.push(CMount::Short(format!("certbot-webroot:{ACME_WEBROOT}:ro")));
                    volumes.push(CMount::Short("letsencrypt:/etc/letsencrypt:ro".into()));
                }
                "none" => {}
                // Written by `init-certificates.sh` (self-signed) or by the operator
                // (external), so not read-only.
                _ => volumes.push(CMount::Short("nginx-certs:/etc/nginx/certs".into())),
            }
            if stack.sites.iter().any(|s| !s.basic_auth.is_empty()) {
                volumes.push(CMount::Short("nginx-htpasswd:/etc/nginx/htpasswd:ro".into()));
            }
            // The proxy cache on a volume of its own: it survives a recreated container, and
            // the read-only root (security.rs) has no place for it.
            if let Some(path) = cache_path(stack) {
                volumes.push(CMount::Short(format!("nginx-cache:{path}")));
            }
        }
        ProxyKind::Caddy => {
            volumes.push(CMount::Short(format!("./{CADDYFILE}:/etc/caddy/Caddyfile:ro")));
            volumes.push(CMount::Short("caddy-data:/data".into()));
            volumes.push(CMount::Short("caddy-config:/config".into()));
        }
    }
    volumes.extend(stack.proxy.iter().flat_map(|p| &p.mounts).map(|m| mount(stack, opts, m)));
    // The files of `fastcgi=` routes, shared with the FastCGI service.
    volumes.extend(stack.proxy_plan.iter().flat_map(|p| &p.mounts).map(|m| mount(stack, opts, m)));
    let proxy = match kind {
        ProxyKind::Nginx => {
            let version = stack
                .targets
                .options
                .get("nginx")
                .and_then(|o| o.get("version"))
                .map_or(crate::ir::proxy::DEFAULT_NGINX_VERSION, String::as_str);
            // Certificates renewed by certbot are picked up by a reload every 6 hours.
            let command = tls.then(|| {
                vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "while :; do sleep 6h & wait $${!}; nginx -s reload; done & exec nginx -g 'daemon off;'".into(),
                ]
            });
            CService {
                image: Some(format!("nginx:{version}-alpine")),
                command,
                restart: Some("unless-stopped".into()),
                depends_on,
                ports,
                volumes,
                networks: networks.clone().into(),
                healthcheck: Some(CHealth {
                    // `/run/nginx.pid` is also `/var/run/nginx.pid` (a symlink) on Alpine.
                    test: vec!["CMD-SHELL".into(), "kill -0 $$(cat /run/nginx.pid) || exit 1".into()],
                    interval: Some("30s".into()),
                    timeout: Some("5s".into()),
                    retries: Some(3),
                    start_period: None,
                    ..CHealth::default()
                }),
                ..CService::default()
            }
        }
        ProxyKind::Caddy => {
            let mut environment = IndexMap::new();
            // The Caddyfile reads params with `env=` as `{$VAR:default}`: the same value
            // reaches Caddy as the rest of the stack.
            for name in caddy_params(stack) {
                if let Some(var) = stack.params.get(name).and_then(|p| p.env.as_ref()) {
                    environment.entry(var.clone()).or_insert_with(|| param(stack, name));
                }
            }
            for name in proxy_secrets(stack) {
                if let Some(s) = stack.secrets.get(name) {
                    if let SecretSource::Env(var) = &s.source {
                        environment.insert(var.clone(), env_secret(s, var));
                    }
                }
            }
            // The Caddyfile is written for `targets > caddy version=`: run that Caddy.
            let image = stack
                .targets
                .options
                .get("caddy")
                .and_then(|o| o.get("version"))
                .map_or_else(|| CADDY_IMAGE.to_string(), |v| format!("caddy:{v}-alpine"));
            CService {
                image: Some(image),
                restart: Some("unless-stopped".into()),
                depends_on,
                environment: environment.into(),
                ports,
                volumes,
                networks: networks.clone().into(),
                healthcheck: Some(CHealth {
                    test: vec![
                        "CMD-SHELL".into(),
                        "wget -q -O /dev/null http://127.0.0.1:2019/config/ || exit 1".into(),
                    ],
                    interval: Some("30s".into()),
                    timeout: Some("5s".into()),
                    retries: Some(3),
                    start_period: None,
                    ..CHealth::default()
                }),
                ..CService::default()
            }
        }
    };
    services.push((if kind == ProxyKind::Nginx { "nginx" } else { "caddy" }.to_string(), proxy));
    if kind == ProxyKind::Nginx && certs == "letsencrypt" {
        services.push((
            "certbot".to_string(),
            CService {
                image: Some(CERTBOT_IMAGE.into()),
                entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
                command: Some(vec![format!(
                    "trap exit TERM; while :; do certbot renew --webroot -w {ACME_WEBROOT} --quiet; sleep 12h & wait $${{!}}; done"
                )]),
                restart: Some("unless-stopped".into()),
                volumes: vec![
                    CMount::Short(format!("certbot-webroot:{ACME_WEBROOT}")),
                    CMount::Short("letsencrypt:/etc/letsencrypt".into()),
                ],
                // nginx's networks, rather than a `default` network compose would add for it.
                networks: networks.clone().into(),
                ..CService::default()
            },
        ));
    }
    let volumes = ProxyPlan::volume_names(kind, stack).into_iter().map(str::to_string).collect();
    Some(ProxyPlan { services, volumes })
}

/// Params the Caddy target writes into the Caddyfile (hosts, `redirect-from`, header values,
/// the ACME email, `basic-auth` users), with the params their defaults use, in first-use order.
fn caddy_params(stack: &Stack) -> Vec<&str> {
    let mut texts: Vec<Text> = stack.sites.iter().flat_map(|s| s.hosts.iter().cloned()).collect();
    let strings = stack
        .sites
        .iter()
        .flat_map(|s| s.redirect_from.iter().chain(s.headers.iter().map(|(_, v)| v)))
        .chain(stack.proxy.iter().flat_map(|p| p.headers.iter().map(|(_, v)| v).chain(&p.tls.email)))
        .chain(stack.sites.iter().flat_map(|s| s.basic_auth.iter().map(|b| &b.user)));
    texts.extend(strings.map(|s| Text::from_default(s)));
    let mut out: Vec<&str> = Vec::new();
    let mut queue: Vec<String> = texts
        .iter()
        .flat_map(|t| &t.0)
        .filter_map(|p| if let Piece::Param(n) = p { Some(n.clone()) } else { None })
        .collect();
    queue.reverse();
    while let Some(n) = queue.pop() {
        let Some((name, p)) = stack.params.get_key_value(n.as_str()) else { continue };
        if out.contains(&name.as_str()) {
            continue;
        }
        out.push(name);
        for piece in p.default.as_deref().map(Text::from_default).unwrap_or_default().0.into_iter().rev() {
            if let Piece::Param(m) = piece {
                queue.push(m);
            }
        }
    }
    out
}

/// Env secrets the proxy reads (Caddy's `basic-auth` password hashes), in site order.
pub(super) fn proxy_secrets(stack: &Stack) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    if proxy_kind(stack) != Some(ProxyKind::Caddy) {
        return out;
    }
    for b in stack.sites.iter().flat_map(|s| &s.basic_auth) {
        if !out.contains(&b.password_secret.as_str()) {
            out.push(&b.password_secret);
        }
    }
    out
}

/// What the generated proxy services cannot do for this stack.
pub(super) fn check_proxy(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(site) = stack.sites.first() else { return out };
    if host_mode(stack) {
        return host_mode_warnings(stack);
    }
    let site_span = origin_span(site.origin);
    let selected = &stack.targets.selected;
    let Some(kind) = proxy_kind(stack) else {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the compose file runs no reverse proxy: the stack selects neither `nginx` nor `caddy`",
            )
            .at(site_span, "nothing serves this site in compose")
            .help("add `nginx` or `caddy` to `targets`: compose then runs that proxy with its generated configuration"),
        );
        return out;
    };
    if selected.contains(&TargetKind::Nginx) && selected.contains(&TargetKind::Caddy) {
        out.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "the stack selects both `nginx` and `caddy`: the compose file runs nginx",
            )
            .at(site_span, "served by nginx in compose")
            .help(
                "the Caddy files are generated but no compose service uses them; remove one of the two from `targets`",
            ),
        );
    }
    for name in ProxyPlan::service_names(kind, stack) {
        if let Some(svc) = stack.services.get(name) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("service `{name}` clashes with the `{name}` service that compose generates for the sites"),
                )
                .at(origin_span(svc.origin), "declared here")
                .label(site_span, "sites make the proxy a service of the stack")
                .help(format!("rename the service: compose runs the reverse proxy as `{name}`")),
            );
        }
    }
    let generated_certbot = ProxyPlan::service_names(kind, stack).contains(&"certbot");
    let own_certbot = generated_certbot && !super::certbot::certbot_services(stack).is_empty();
    if own_certbot {
        out.extend(super::certbot::second_certbot(stack, site.origin));
    }
    for name in ProxyPlan::volume_names(kind, stack) {
        // The `certbot` preset's volumes have the generated names: its error says it all.
        if own_certbot && matches!(name, "letsencrypt" | "certbot-webroot") {
            continue;
        }
        if let Some(v) = stack.volumes.get(name) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("volume `{name}` clashes with the `{name}` volume that compose generates for the proxy"),
                )
                .at(origin_span(v.origin), "declared here")
                .label(site_span, "sites make the proxy a service of the stack")
                .help("rename the volume; the proxy keeps its certificates and state in volumes of these names"),
            );
        }
    }
    let generated = monitoring_services(stack);
    for r in stack.sites.iter().flat_map(|s| &s.routes) {
        if let Some((service, _)) = r.action.upstream() {
            if !stack.services.contains_key(service) && !generated.iter().any(|g| g == service) {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("route `{}` goes to `{service}`, which the compose file does not run", r.path),
                    )
                    .at(origin_span(r.origin), "the proxy would not find this service")
                    .help(MONITORING_NOT_RUN),
                );
            }
        }
    }
    out.extend(check_named_networks(stack));
    // The htpasswd file `basic-auth` needs is reported by the nginx target (`nginx::check`).
    out
}

/// With `proxy > networks`, every routed service must be on one of them: the proxy would
/// not reach it otherwise (a service without `networks` is on compose's default network).
fn check_named_networks(stack: &Stack) -> Vec<Diagnostic> {
    let named = stack.proxy_plan.as_ref().map(|p| p.networks.as_slice()).unwrap_or_default();
    let Some(at) = stack.proxy_origins.get("networks").copied().filter(|_| !named.is_empty()) else {
        return Vec::new();
    };
    let (services, per_service) = routed_networks(stack);
    services
        .iter()
        .zip(&per_service)
        .filter(|(_, nets)| !nets.iter().any(|n| named.contains(n)))
        .map(|(service, nets)| {
            let on = if nets.is_empty() {
                "compose's default network".to_string()
            } else {
                format!("`{}`", nets.join("`, `"))
            };
            Diagnostic::error(
                Code::TargetCannotExpress,
                format!(
                    "the proxy joins `{}`, but `{service}`, which a route goes to, is on {on} only",
                    named.join("`, `")
                ),
            )
            .at(origin_span(at), "the proxy's networks")
            .help(format!(
                "add one of `{service}`'s networks to the proxy's `networks`, or put `{service}` on one of the proxy's"
            ))
        })
        .collect()
}

/// The site's hosts as the proxy configuration spells them (params at their defaults).
fn site_hosts(stack: &Stack, site: &Site) -> Vec<String> {
    site.hosts
        .iter()
        .map(|h| stack.compile_time(h))
        .chain(site.redirect_from.iter().map(|h| stack.compile_time(&Text::from_default(h))))
        .collect()
}

/// `init-certificates.sh`: the first certificate of each site, before the first
/// `docker compose up -d` (nginx does not start while a certificate it names is missing, so
/// certbot answers the ACME challenge itself on port 80).
pub(super) fn init_script(stack: &Stack) -> Option<String> {
    if proxy_kind(stack) != Some(ProxyKind::Nginx) {
        return None;
    }
    let certs = certificates(stack);
    if certs == "none" {
        return None;
    }
    let file = sh(&file_name(stack));
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&super::header("#", stack));
    out.push_str(
        "# Run once, from this directory, before the first `docker compose up -d`: nginx does not\n\
         # start while a certificate it names is missing.\n\
         set -eu\ncd \"$(dirname \"$0\")\"\n",
    );
    let tls = stack.proxy.as_ref().map(|p| &p.tls);
    for site in &stack.sites {
        let hosts = site_hosts(stack, site);
        let Some(first) = hosts.first() else { continue };
        out.push_str(&format!("\n# site {}\n", sh(first)));
        match certs {
            "letsencrypt" => {
                // certbot serves the challenge itself on port 80 (`--standalone`); the
                // `certbot` service renews through nginx's webroot afterwards.
                let mut cmd = format!(
                    "docker compose -f {file} run --rm --no-deps --publish 80:80 --entrypoint certbot certbot \\\n    certonly --standalone --non-interactive --agree-tos --keep-until-expiring --cert-name {}",
                    sh(first)
                );
                match tls.and_then(|t| t.email.as_ref()) {
                    Some(e) => cmd.push_str(&format!(" --email {}", sh(&stack.compile_time(&Text::from_default(e))))),
                    None => cmd.push_str(" --register-unsafely-without-email"),
                }
                match tls.and_then(|t| t.acme_ca.as_deref()) {
                    Some("staging") => cmd.push_str(" --staging"),
                    Some(url) => cmd.push_str(&format!(" --server {}", sh(url))),
                    None => {}
                }
                for h in &hosts {
                    cmd.push_str(&format!(" -d {}", sh(h)));
                }
                out.push_str(&cmd);
                out.push('\n');
            }
            "self-signed" => {
                let san = hosts.iter().map(|h| format!("DNS:{h}")).collect::<Vec<_>>().join(",");
                let dir = format!("/etc/nginx/certs/{first}");
                let script = format!(
                    "apk add --no-cache openssl >/dev/null && mkdir -p {dir} && openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN={first} -addext subjectAltName={san} -keyout {dir}/privkey.pem -out {dir}/fullchain.pem"
                );
                out.push_str(&format!(
                    "docker compose -f {file} run --rm --no-deps --entrypoint /bin/sh nginx -c {}\n",
                    sh(&script)
                ));
            }
            _ => {
                out.push_str(&format!(
                    "# external certificate: copy fullchain.pem, privkey.pem and chain.pem into\n# /etc/nginx/certs/{first}/ of the nginx-certs volume, for example:\n# docker compose -f {file} run --rm --no-deps -v \"$PWD/certs/{first}:/src:ro\" --entrypoint /bin/sh nginx -c 'mkdir -p /etc/nginx/certs/{first} && cp /src/*.pem /etc/nginx/certs/{first}/'\n"
                ));
            }
        }
    }
    out.push_str(&format!("\ndocker compose -f {file} up -d\n"));
    Some(out)
}

/// Where nginx keeps the proxy cache, when a route uses it.
fn cache_path(stack: &Stack) -> Option<&str> {
    stack.proxy_plan.as_ref()?.cache_zone.as_ref().map(|z| z.path.as_str())
}
