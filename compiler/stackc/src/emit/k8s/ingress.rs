//! Routing: an Ingress per site (ingress-nginx annotations for the proxy settings it has),
//! and a W0501 for each proxy or site setting the Ingress cannot express.

use super::*;
use crate::ir::proxy::{PlanAction, PlanRoute, PlanSite, ProxyPlan};

mod handling;

impl Builder<'_> {
    /// One Ingress per site and set of route settings: ingress-nginx reads limits, timeouts
    /// and access rules from annotations of the whole Ingress, so routes that differ in them
    /// go into separate Ingresses of the same host (the controller merges them per host).
    pub(super) fn ingresses(&mut self) {
        if self.stack.sites.is_empty() {
            return;
        }
        let class = option(self.stack, "ingress-class");
        let nginx = class.as_deref() == Some("nginx");
        let issuer = option(self.stack, "cluster-issuer");
        let shared_secret = option(self.stack, "tls-secret");
        let certs = self.stack.proxy.as_ref().map_or("letsencrypt", |p| p.tls.certificates.as_str()).to_string();
        let https = certs != "none";
        let stack = self.stack;
        // With one TLS secret for every site, one Ingress asks cert-manager for it (two
        // Certificates for one secret would fight), listing every host.
        let all_hosts: Vec<String> =
            stack.sites.iter().flat_map(|s| s.hosts.iter().map(|h| stack.compile_time(h))).collect();
        self.proxy_warnings(https, "the Ingress");
        self.proxy_handling_warnings("the Ingress");
        self.edge_warnings(nginx, "the Ingress");
        let mut issuer_done = false;
        let mut names: BTreeSet<String> = BTreeSet::new();
        // The plan's sites and routes, as nginx and Caddy render them; the IR's only for where
        // each setting is written (warnings) and the params an amount reads.
        let Some(plan) = stack.proxy_plan.as_ref() else { return };
        for (site, planned) in stack.sites.iter().zip(&plan.sites) {
            let hosts: Vec<String> =
                planned.hosts.iter().map(|h| self.text(h, planned.origin, "a site's host")).collect();
            let Some(first) = hosts.first() else { continue };
            let base = unique_site_name(&mut names, first);
            self.site_warnings(site, Some(planned), nginx);
            self.zone_warnings(site, nginx);
            self.amount_params(site);
            // In the order written, as nginx writes its locations (ingress-nginx orders the
            // paths of a host itself).
            let mut written: Vec<&PlanRoute> = planned.routes.iter().collect();
            written.sort_by_key(|r| r.index);
            // Routes grouped by their annotations, in first-seen order.
            let mut groups: IndexMap<Vec<(String, String)>, Vec<IngressPath>> = IndexMap::new();
            for route in &written {
                let Some((path, mut annotations)) = self.route(plan, planned, &written, route, nginx) else { continue };
                if nginx {
                    self.cors_annotations(plan, route, &mut annotations);
                }
                groups.entry(annotations).or_default().push(path);
            }
            if groups.is_empty() {
                continue;
            }
            let secret = shared_secret.clone().unwrap_or_else(|| format!("{base}-tls"));
            if https && issuer.is_none() && shared_secret.is_none() && certs == "letsencrypt" {
                self.warn(
                    site.origin,
                    format!(
                        "no `targets > k8s cluster-issuer=`: the Ingress expects the TLS secret `{secret}` to exist \
                         (nothing in the cluster obtains the certificate)"
                    ),
                    "site",
                    "name cert-manager's ClusterIssuer with `cluster-issuer=`, or create the secret and name it with `tls-secret=`",
                );
            }
            for (i, (annotations, paths)) in groups.into_iter().enumerate() {
                let name = if i == 0 { base.clone() } else { format!("{base}-{}", i + 1) };
                let mut meta = self.meta(&name, &[]);
                for (k, v) in annotations {
                    meta.annotations.insert(k, v);
                }
                let mut tls = Vec::new();
                if https {
                    let mut tls_hosts = hosts.clone();
                    if i == 0 && !issuer_done && certs == "letsencrypt" {
                        if let Some(iss) = &issuer {
                            meta.annotations.insert("cert-manager.io/cluster-issuer".into(), iss.clone());
                            issuer_done = shared_secret.is_some();
                            if shared_secret.is_some() {
                                tls_hosts = all_hosts.clone();
                            }
                        }
                    }
                    tls.push(IngressTls { hosts: tls_hosts, secret_name: secret.clone() });
                }
                let rules = hosts
                    .iter()
                    .map(|h| IngressRule { host: h.clone(), http: IngressHttp { paths: paths.clone() } })
                    .collect();
                self.push(Object {
                    api_version: "networking.k8s.io/v1",
                    kind: "Ingress",
                    metadata: meta,
                    spec: Some(IngressSpec { ingress_class_name: class.clone(), tls, rules }),
                    data: None,
                });
            }
        }
    }

    /// The settings of `proxy` an Ingress has no field or annotation for: they are the
    /// ingress controller's (its ConfigMap) or cert-manager's, said once at each setting.
    pub(super) fn proxy_warnings(&mut self, https: bool, router: &str) {
        let Some(proxy) = &self.stack.proxy else { return };
        let stack = self.stack;
        let at = |key: &str| stack.proxy_origins.get(key).copied();
        if let Some(origin) = at("tls") {
            let t = &proxy.tls;
            let lost = set_properties(&[
                ("email=", t.email.is_some()),
                ("acme-ca=", t.acme_ca.is_some()),
                ("hsts=", t.hsts.is_some()),
                ("hsts-subdomains=", t.hsts_subdomains),
                ("hsts-preload=", t.hsts_preload),
                ("ocsp=", t.ocsp && https),
                ("session-timeout=", t.session_timeout_ms.is_some()),
                ("session-tickets=", t.session_tickets.is_some()),
                ("profile=", t.profile != "intermediate"),
                ("certificates=", t.certificates == "self-signed"),
            ]);
            if !lost.is_empty() {
                self.warn(
                    origin,
                    format!(
                        "{router} does not express `tls` {}: on Kubernetes certificates come from cert-manager \
                         (`cluster-issuer=`) and TLS settings from the ingress controller",
                        lost.join(", ")
                    ),
                    &format!("not expressed on {router}"),
                    "set the ACME account in the ClusterIssuer, and HSTS, OCSP stapling, sessions and ciphers in the \
                     ingress controller's configuration (ingress-nginx: its ConfigMap)",
                );
            }
        }
        if proxy.gzip || !proxy.gzip_types.is_empty() {
            if let Some(origin) = at("gzip").or_else(|| at("gzip-types")) {
                self.warn(
                    origin,
                    format!("{router} does not compress responses: `gzip` is the ingress controller's setting on Kubernetes"),
                    &format!("not expressed on {router}"),
                    "enable compression in the controller's configuration (ingress-nginx: `use-gzip` in its ConfigMap)",
                );
            }
        }
        if let Some(origin) = at("ports").filter(|_| proxy.http_port.is_some() || proxy.https_port.is_some()) {
            self.warn(
                origin,
                format!("{router} is served on the ingress controller's ports: `ports` is not expressed"),
                &format!("not expressed on {router}"),
                "set the ports in the controller's Service (ingress-nginx: its LoadBalancer or NodePort Service)",
            );
        }
        for (name, u) in &proxy.upstreams {
            let Some(origin) = at(&format!("upstream {name}")) else { continue };
            let set: Vec<&str> = set_properties(&[
                ("balance=", u.balance.is_some()),
                ("max-fails=", u.max_fails.is_some()),
                ("fail-timeout=", u.fail_timeout_ms.is_some()),
                ("keepalive=", u.keepalive.is_some()),
            ]);
            if set.is_empty() {
                continue;
            }
            self.warn(
                origin,
                format!(
                    "{router} does not express `upstream \"{name}\"` {}: the Service balances over ready pods",
                    set.join(", ")
                ),
                &format!("not expressed on {router}"),
                "Kubernetes sends traffic only to pods whose readiness probe passes; balancing is the controller's setting",
            );
        }
    }

    /// The rate-limit zones a site's routes use, where the Ingress cannot apply them as written.
    pub(super) fn zone_warnings(&mut self, site: &Site, nginx: bool) {
        let Some(proxy) = &self.stack.proxy else { return };
        for route in &site.routes {
            let Some(zone) = route.rate_limit.as_ref().and_then(|z| proxy.rate_limits.get(z)) else { continue };
            if !nginx {
                self.warn(
                    zone.origin,
                    format!(
                        "the Ingress of this class applies no `rate-limit`: `{}` (rate=, burst=) is not enforced on \
                         Kubernetes",
                        zone.name
                    ),
                    "not enforced on the Ingress",
                    "set `targets > k8s ingress-class=\"nginx\"` (limit-rps annotations), or limit in the application",
                );
                continue;
            }
            let mut lost = Vec::new();
            if zone.size_bytes.is_some() {
                lost.push("size=");
            }
            if !zone.nodelay && zone.burst.is_some() {
                lost.push("nodelay=#false");
            }
            if !lost.is_empty() {
                self.warn(
                    zone.origin,
                    format!("the Ingress does not express `rate-limit \"{}\"` {}", zone.name, lost.join(", ")),
                    "not expressed on the Ingress",
                    "ingress-nginx sizes its zones itself, and serves a burst without delay: the Ingress limits by \
                     rate and burst only",
                );
            }
        }
    }

    /// What the Ingress cannot carry for a whole site.
    pub(super) fn site_warnings(&mut self, site: &Site, planned: Option<&crate::ir::proxy::PlanSite>, nginx: bool) {
        if let Some(headers) = planned.map(|p| &p.headers) {
            if !headers.is_empty() {
                let names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
                self.warn(
                    site.origin,
                    format!(
                        "the Ingress does not set response headers (`security-headers`, `header`): {} are not sent by \
                         this site on Kubernetes",
                        names.join(", ")
                    ),
                    "site",
                    "set them in the application, or in the ingress controller's configuration (ingress-nginx: add-headers)",
                );
            }
        }
        for route in &site.routes {
            let settings = route.request_headers.iter().map(|h| ("request-header", h));
            let settings = settings.chain(route.response_headers.iter().map(|h| ("header", h)));
            for (what, h) in settings.chain(route.hide_headers.iter().map(|h| ("hide-header", h))) {
                self.warn(
                    h.origin,
                    format!("route `{}`: the Ingress cannot set `{what} {}` for one route", route.path, h.name),
                    what,
                    "set it in the application, or with the controller's configuration snippets (ingress-nginx: proxy-set-headers, more_set_headers)",
                );
            }
        }
        for raw in site.raw.iter().chain(site.routes.iter().flat_map(|r| &r.raw)) {
            self.warn(
                raw.origin,
                format!("the Ingress does not take raw {} directives: they are not applied on Kubernetes", raw.target.name()),
                "raw directives",
                "configure the ingress controller for it (ingress-nginx: its ConfigMap or snippet annotations, where the cluster allows them)",
            );
        }
        if let Some(port) = site.listen {
            self.warn(
                site.origin,
                format!("the Ingress serves every site on the controller's ports: `listen {port}` is not expressed"),
                "site",
                "expose the port with a Service of its own (type LoadBalancer or NodePort), or serve the site on 80/443",
            );
        }
        if !site.redirect_from.is_empty() {
            self.warn(
                site.origin,
                "the Ingress does not redirect other host names (`redirect-from`)",
                "site",
                "serve them as hosts of the site, or redirect at the DNS or controller level",
            );
        }
        if !site.basic_auth.is_empty() {
            self.warn(
                site.origin,
                "basic authentication is not expressed on the Ingress yet: the site is open on Kubernetes",
                "site",
                "protect the site in the application, or add ingress-nginx auth-type/auth-secret annotations yourself",
            );
        }
        if !site.allow_from.is_empty() && !nginx {
            self.warn(
                site.origin,
                "`allow-from` needs `ingress-class=\"nginx\"` (whitelist-source-range): the site is open to everyone on Kubernetes",
                "site",
                "set `targets > k8s ingress-class=\"nginx\"`, or restrict access in the controller",
            );
        }
    }

    /// The params the site's amounts read (body limits and timeouts): the manifests get their
    /// compile-time values, which [`Builder::amount`] says where a param has `env=`.
    fn amount_params(&mut self, site: &Site) {
        for route in &site.routes {
            self.amount(&route.body_limit, "a body limit");
            self.amount(&route.timeout, "a route timeout");
        }
        self.amount(&site.body_limit, "a body limit");
        if let Some(proxy) = self.stack.proxy.as_ref() {
            self.amount(&proxy.body_limit, "a body limit");
        }
    }

    /// The Ingress path of a planned route and the annotations it needs; `None` when the route
    /// has no Ingress form (with a warning).
    pub(super) fn route(
        &mut self,
        plan: &ProxyPlan,
        site: &PlanSite,
        written: &[&PlanRoute],
        route: &PlanRoute,
        nginx: bool,
    ) -> Option<(IngressPath, Vec<(String, String)>)> {
        const A: &str = "nginx.ingress.kubernetes.io/";
        let mut ann: Vec<(String, String)> = Vec::new();
        let mut lost: Vec<&str> = Vec::new();
        let blocked = route.internal || matches!(route.action, PlanAction::Respond { .. });
        let (service, port) = match &route.action {
            PlanAction::Proxy { upstream } if !self.stack.services.contains_key(&plan.upstream(*upstream).service) => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: the k8s target does not run `{}`: the Ingress leaves the path out",
                        route.path,
                        plan.upstream(*upstream).service
                    ),
                    "not routed in the Ingress",
                    "the cluster's own monitoring serves it; route to it with that Service's own Ingress",
                );
                return None;
            }
            PlanAction::Proxy { upstream } => {
                let u = plan.upstream(*upstream);
                (u.service.clone(), self.service_port(&u.service, u.port))
            }
            PlanAction::Respond { status } if nginx => {
                // Nothing is proxied: every client is refused (403) before the backend.
                self.warn(
                    route.origin,
                    format!("route `{}`: the Ingress answers 403 instead of {status}", route.path),
                    "respond",
                    "ingress-nginx refuses every address with denylist-source-range; a fixed status needs a snippet",
                );
                self.any_backend(plan, written)?
            }
            PlanAction::Respond { .. } => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: the Ingress cannot answer a fixed status: the path is served by the site's other routes",
                        route.path
                    ),
                    "respond",
                    "use `ingress-class=\"nginx\"`, or answer the path in the application",
                );
                return None;
            }
            PlanAction::Files { root } => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: Kubernetes runs no proxy container with files in `{root}`; the path is served by \
                         the site's other routes",
                        route.path
                    ),
                    "files",
                    "serve the files from a service (an image with the files, or the application itself)",
                );
                return None;
            }
            PlanAction::Redirect { to, .. } => {
                self.warn(
                    route.origin,
                    format!("route `{}`: the redirect to `{to}` is not expressed on the Ingress yet", route.path),
                    "redirect",
                    "redirect in the application until then",
                );
                return None;
            }
            PlanAction::FastCgi { upstream, .. } => {
                let why = super::routes::fastcgi_unrouted(&plan.upstream(*upstream).service);
                self.warn(
                    route.origin,
                    format!("route `{}`: {why}", route.path),
                    "fastcgi",
                    super::routes::FASTCGI_HELP,
                );
                return None;
            }
        };
        if route.internal {
            if nginx {
                ann.push((format!("{A}denylist-source-range"), "0.0.0.0/0,::/0".into()));
            } else {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}` is internal, but without `ingress-class=\"nginx\"` the Ingress cannot refuse it: \
                         it is reachable from outside on Kubernetes",
                        route.path
                    ),
                    "internal",
                    "set `targets > k8s ingress-class=\"nginx\"`, or refuse the path in the application",
                );
            }
        } else if blocked {
            ann.push((format!("{A}denylist-source-range"), "0.0.0.0/0,::/0".into()));
        }
        let path_type = match route.matching {
            Match::Prefix => "Prefix",
            Match::Exact => "Exact",
            Match::Regex if nginx => {
                ann.push((format!("{A}use-regex"), "true".into()));
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: ingress-nginx applies `use-regex` to every path of the host, and matches regular \
                         expressions without case",
                        route.path
                    ),
                    "regex",
                    "check the host's other paths still match as intended",
                );
                "ImplementationSpecific"
            }
            Match::Regex => {
                self.warn(
                    route.origin,
                    format!(
                        "route `{}`: a regular expression path needs `ingress-class=\"nginx\"`; the path is served \
                         by the site's other routes",
                        route.path
                    ),
                    "regex",
                    "set `targets > k8s ingress-class=\"nginx\"`, or use prefix routes",
                );
                return None;
            }
        };
        if let Some(zone) = route.rate_limit.as_ref().and_then(|z| plan.zones.iter().find(|p| &p.name == z)) {
            if nginx {
                let key = if zone.per == 'm' { "limit-rpm" } else { "limit-rps" };
                ann.push((format!("{A}{key}"), zone.requests.to_string()));
                // Without a multiplier ingress-nginx allows a burst of five times the rate, where
                // a zone without `burst=` allows none: the smallest it takes is 1.
                let burst = zone.burst.unwrap_or(0);
                let mult = (u64::from(burst)).div_ceil(zone.requests.max(1)).max(1);
                ann.push((format!("{A}limit-burst-multiplier"), mult.to_string()));
                if mult * zone.requests != u64::from(burst) {
                    let origin = self.stack.proxy.as_ref().and_then(|p| p.rate_limits.get(&zone.name));
                    self.warn(
                        origin.map_or(route.origin, |z| z.origin),
                        format!(
                            "rate limit `{}`: ingress-nginx sets the burst as a multiple of the rate: {} instead of {burst}",
                            zone.name,
                            mult * zone.requests
                        ),
                        "burst",
                        "make the burst a multiple of the rate to get the same limit everywhere",
                    );
                }
            } else {
                lost.push("`rate-limit`");
            }
        }
        // The route's limit, else the site's (or the proxy's), as the plan decided.
        if let Some(b) = route.body_limit.or(site.body_limit) {
            if nginx {
                ann.push((format!("{A}proxy-body-size"), nginx_size(b)));
            } else {
                lost.push("`body-limit`");
            }
        }
        self.route_handling(route, nginx, &mut ann, &mut lost);
        if let Some(b) = route.buffering {
            if nginx {
                ann.push((format!("{A}proxy-buffering"), if b { "on" } else { "off" }.into()));
            } else {
                lost.push("`buffering`");
            }
        }
        if !route.access_log {
            if nginx {
                ann.push((format!("{A}enable-access-log"), "false".into()));
            } else {
                lost.push("`access-log=#false`");
            }
        }
        if !site.allow_from.is_empty() && nginx && !blocked {
            ann.push((format!("{A}whitelist-source-range"), site.allow_from.join(",")));
        }
        if route.strip_prefix {
            lost.push("`strip-prefix`");
        }
        // ingress-nginx rewrites with `rewrite-target` and a capture group of a regex path, which
        // turns every path of the host into a regular expression (`use-regex`).
        if route.replace_prefix.is_some() {
            lost.push("`replace-prefix`");
        }
        // Paths of an Ingress have no order of their own: the controller decides.
        if route.before_regex && site.routes.iter().any(|r| r.matching == Match::Regex) {
            lost.push("`before-regex`");
        }
        if route.cache_control.is_some() {
            lost.push("its Cache-Control header");
        }
        if !lost.is_empty() {
            self.warn(
                route.origin,
                format!("route `{}`: the Ingress does not express {}", route.path, lost.join(", ")),
                "route",
                if nginx {
                    "set it in the application or the controller's configuration"
                } else {
                    "with `targets > k8s ingress-class=\"nginx\"` stackc writes ingress-nginx annotations for limits, timeouts and buffering"
                },
            );
        }
        ann.sort();
        let path = IngressPath {
            path: route.path.clone(),
            path_type,
            backend: IngressBackend { service: BackendService { name: service, port: BackendPort { number: port } } },
        };
        Some((path, ann))
    }

    /// A backend for a path that is refused before any backend is reached (an Ingress path
    /// must name one): the site's first proxied service, in the order written.
    pub(super) fn any_backend(&self, plan: &ProxyPlan, written: &[&PlanRoute]) -> Option<(String, u16)> {
        written.iter().find_map(|r| match &r.action {
            PlanAction::Proxy { upstream } if self.stack.services.contains_key(&plan.upstream(*upstream).service) => {
                let u = plan.upstream(*upstream);
                Some((u.service.clone(), self.service_port(&u.service, u.port)))
            }
            _ => None,
        })
    }
}

impl Builder<'_> {
    /// The Service's port that reaches a container port (`port 80 target=8080`: 80).
    pub(super) fn service_port(&self, service: &str, container_port: u16) -> u16 {
        self.stack
            .services
            .get(service)
            .and_then(|s| s.ports.iter().find(|p| p.port == container_port))
            .map_or(container_port, Port::service_port)
    }
}

/// An Ingress name from a host: its labels joined by `-` (`shop.example.com` → `shop-example-com`).
pub(super) fn ingress_name(host: &str) -> String {
    let mut s: String =
        host.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-');
    let s: String = s.chars().take(60).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "site".into()
    } else {
        s
    }
}

/// The name of a site's Ingress or HTTPRoute, unique among the sites (`-x` appended).
pub(super) fn unique_site_name(names: &mut BTreeSet<String>, first_host: &str) -> String {
    let mut base = ingress_name(first_host);
    while !names.insert(base.clone()) {
        base.push_str("-x");
    }
    base
}

/// An nginx size (`proxy-body-size`): nginx's `k`, `m` and `g` are binary.
pub(super) fn nginx_size(b: u64) -> String {
    if b > 0 && b.is_multiple_of(1 << 30) {
        format!("{}g", b >> 30)
    } else if b > 0 && b.is_multiple_of(1 << 20) {
        format!("{}m", b >> 20)
    } else if b > 0 && b.is_multiple_of(1 << 10) {
        format!("{}k", b >> 10)
    } else {
        b.to_string()
    }
}
