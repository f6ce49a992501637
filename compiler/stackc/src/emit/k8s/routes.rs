//! Routing through the Gateway API (`targets > k8s routing="gateway-api" gateway=NAME`): an
//! `HTTPRoute` (gateway.networking.k8s.io/v1) per site of the proxy plan instead of an
//! Ingress, attached to a Gateway the cluster runs, and a W0501 for each setting an HTTPRoute
//! has no field for (they are the Gateway's or the implementation's).

use super::ingress::unique_site_name;
use super::*;
use crate::ir::proxy::{PlanAction, PlanRoute, PlanSite, ProxyPlan};

/// The value of `routing=` that selects HTTPRoutes.
pub const GATEWAY_API: &str = "gateway-api";
/// The most rules one HTTPRoute holds (the CRD's `maxItems`): a site with more routes gets
/// several HTTPRoutes of the same hostnames, which the Gateway merges.
const MAX_RULES: usize = 16;
/// The longest timeout a Gateway API Duration can say in seconds (`^([0-9]{1,5}(h|m|s|ms)){1,4}$`).
const MAX_TIMEOUT_SECONDS: u64 = 99_999;

pub fn gateway_api(stack: &Stack) -> bool {
    option(stack, "routing").is_some_and(|v| v == GATEWAY_API)
}

/// The namespace of the Gateway: `gateway-namespace=`, else the stack's. The NetworkPolicies
/// let it reach the routed services unless `ingress-namespace=` says where its proxies run.
pub fn gateway_namespace(stack: &Stack) -> String {
    option(stack, "gateway-namespace").unwrap_or_else(|| namespace(stack))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRouteSpec {
    parent_refs: Vec<ParentRef>,
    hostnames: Vec<String>,
    rules: Vec<HttpRule>,
}

#[derive(Serialize)]
struct ParentRef {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRule {
    matches: Vec<HttpMatch>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    filters: Vec<Filter>,
    backend_refs: Vec<BackendRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeouts: Option<Timeouts>,
}

#[derive(Serialize)]
struct HttpMatch {
    path: PathMatch,
}

#[derive(Serialize)]
struct PathMatch {
    #[serde(rename = "type")]
    kind: &'static str,
    value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_header_modifier: Option<HeaderModifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_header_modifier: Option<HeaderModifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url_rewrite: Option<UrlRewrite>,
}

#[derive(Serialize, Default)]
struct HeaderModifier {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    set: Vec<Header>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    remove: Vec<String>,
}

#[derive(Serialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct UrlRewrite {
    path: PrefixRewrite,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PrefixRewrite {
    #[serde(rename = "type")]
    kind: &'static str,
    replace_prefix_match: String,
}

#[derive(Serialize)]
struct BackendRef {
    name: String,
    port: u16,
}

#[derive(Serialize)]
struct Timeouts {
    request: String,
}

impl Builder<'_> {
    /// The Gateway options mean nothing to an Ingress: said, not dropped.
    pub(super) fn unused_gateway_options(&mut self) {
        let set: Vec<String> = ["gateway", "gateway-namespace"]
            .into_iter()
            .filter(|k| option(self.stack, k).is_some())
            .map(|k| format!("`{k}=`"))
            .collect();
        if set.is_empty() {
            return;
        }
        self.diags.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                format!(
                    "{} only take effect with `routing=\"gateway-api\"`: the sites are Ingresses",
                    set.join(" and ")
                ),
            )
            .help("add `routing=\"gateway-api\"` to `targets > k8s` for HTTPRoutes, or remove the Gateway options"),
        );
    }

    pub(super) fn http_routes(&mut self) {
        let stack = self.stack;
        let Some(plan) = stack.proxy_plan.as_ref() else { return };
        if stack.sites.is_empty() {
            return;
        }
        let Some(gateway) = option(stack, "gateway") else {
            self.diags.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    "`targets > k8s routing=\"gateway-api\"` needs the Gateway the HTTPRoutes attach to",
                )
                .at(origin_span(stack.sites[0].origin), "routed through a Gateway")
                .help("name it: `k8s routing=\"gateway-api\" gateway=\"NAME\"` (and `gateway-namespace=` when it is in another namespace)"),
            );
            return;
        };
        let parent = ParentRef { name: gateway.clone(), namespace: option(stack, "gateway-namespace") };
        self.proxy_warnings(plan.https, "an HTTPRoute");
        self.proxy_handling_warnings("an HTTPRoute");
        self.edge_warnings(false, "an HTTPRoute");
        if plan.https {
            self.warn(
                stack.sites[0].origin,
                format!(
                    "HTTPS terminates at the Gateway `{gateway}`: its listeners' certificateRefs hold the certificates, \
                     which the HTTPRoutes cannot name"
                ),
                "site",
                "give the Gateway an HTTPS listener for these hosts (cert-manager's gateway-shim can issue the certificates)",
            );
        }
        let mut names: BTreeSet<String> = BTreeSet::new();
        for (si, site) in plan.sites.iter().enumerate() {
            let hosts: Vec<String> = site.hosts.iter().map(|h| self.text(h, site.origin, "a site's host")).collect();
            let Some(first) = hosts.first() else { continue };
            let base = unique_site_name(&mut names, first);
            if let Some(s) = stack.sites.get(si) {
                self.route_site_warnings(s, site);
            }
            let rules: Vec<HttpRule> = site.routes.iter().filter_map(|r| self.http_rule(plan, site, r)).collect();
            let mut chunks = rules.into_iter().peekable();
            let mut part = 0;
            while chunks.peek().is_some() {
                let rules: Vec<HttpRule> = chunks.by_ref().take(MAX_RULES).collect();
                part += 1;
                let name = if part == 1 { base.clone() } else { format!("{base}-{part}") };
                let metadata = self.meta(&name, &[]);
                self.push(Object {
                    api_version: "gateway.networking.k8s.io/v1",
                    kind: "HTTPRoute",
                    metadata,
                    spec: Some(HttpRouteSpec {
                        parent_refs: vec![ParentRef { name: parent.name.clone(), namespace: parent.namespace.clone() }],
                        hostnames: hosts.clone(),
                        rules,
                    }),
                    data: None,
                });
            }
        }
    }

    /// What an HTTPRoute has no field for on a whole site.
    fn route_site_warnings(&mut self, site: &Site, planned: &PlanSite) {
        let lost = set_properties(&[
            ("`redirect-from`", !planned.redirect_from.is_empty()),
            ("`allow-from`", !planned.allow_from.is_empty()),
            ("`basic-auth`", !planned.basic_auth.is_empty()),
            ("`body-limit`", planned.body_limit.is_some_and(|b| b > 0)),
            ("`listen`", site.listen.is_some()),
            (
                "raw `nginx`/`caddy` directives",
                !planned.raw.is_empty() || planned.routes.iter().any(|r| !r.raw.is_empty()),
            ),
        ]);
        if !lost.is_empty() {
            self.warn(
                site.origin,
                format!(
                    "an HTTPRoute does not express {}: the site is served without it on Kubernetes",
                    lost.join(", ")
                ),
                "site",
                "set it in the Gateway implementation's policies, or in the application",
            );
        }
    }

    /// The rule of one route of the plan; `None` (with a warning) when an HTTPRoute cannot
    /// route it.
    fn http_rule(&mut self, plan: &ProxyPlan, site: &PlanSite, route: &PlanRoute) -> Option<HttpRule> {
        let skip = |b: &mut Self, why: String, label: &str, help: &str| {
            b.warn(route.origin, format!("route `{}`: {why}", route.path), label, help.to_string());
            None
        };
        let backend = match &route.action {
            PlanAction::Proxy { upstream } => {
                let u = plan.upstream(*upstream);
                if !self.stack.services.contains_key(&u.service) {
                    return skip(
                        self,
                        format!("the k8s target does not run `{}`: the HTTPRoute leaves the path out", u.service),
                        "not routed in the HTTPRoute",
                        "the cluster's own monitoring serves it; route to it with that Service's own route",
                    );
                }
                BackendRef { name: u.service.clone(), port: self.service_port(&u.service, u.port) }
            }
            PlanAction::FastCgi { upstream, .. } => {
                return skip(self, fastcgi_unrouted(&plan.upstream(*upstream).service), "fastcgi", FASTCGI_HELP)
            }
            PlanAction::Files { root } => {
                return skip(
                    self,
                    format!("Kubernetes runs no proxy container with files in `{root}`; the path is served by the site's other routes"),
                    "files",
                    "serve the files from a service (an image with the files, or the application itself)",
                )
            }
            PlanAction::Redirect { to, .. } => {
                return skip(
                    self,
                    format!("the redirect to `{to}` is not expressed on the HTTPRoute yet"),
                    "redirect",
                    "redirect in the application until then",
                )
            }
            PlanAction::Respond { status } => {
                return skip(
                    self,
                    format!("an HTTPRoute cannot answer a fixed status ({status}): the path is served by the site's other routes"),
                    "respond",
                    "answer the path in the application",
                )
            }
        };
        let kind = match route.matching {
            Match::Exact => "Exact",
            Match::Prefix => "PathPrefix",
            Match::Regex => return skip(
                self,
                "a regular expression path is implementation-specific in the Gateway API: the path is served by the \
                     site's other routes"
                    .into(),
                "regex",
                "use exact or prefix routes",
            ),
        };
        if route.internal {
            return skip(
                self,
                "an HTTPRoute cannot refuse an internal path: it is left out, and the site's other routes may serve it"
                    .into(),
                "internal",
                "refuse the path in the application",
            );
        }
        let mut filters = Vec::new();
        let request = self.header_modifier(&route.request_headers, &[], route.origin);
        if let Some(m) = request {
            filters.push(Filter {
                kind: "RequestHeaderModifier",
                request_header_modifier: Some(m),
                response_header_modifier: None,
                url_rewrite: None,
            });
        }
        // The site's headers, then the route's own (the same name replaces the site's).
        let mut response: IndexMap<String, String> = site.headers.iter().cloned().collect();
        for (k, v) in &route.response_headers {
            response.insert(k.clone(), v.clone());
        }
        if let Some(cc) = &route.cache_control {
            response.insert("Cache-Control".into(), cc.clone());
        }
        let response: Vec<(String, String)> = response.into_iter().collect();
        if let Some(m) = self.header_modifier(&response, &route.hide_headers, route.origin) {
            filters.push(Filter {
                kind: "ResponseHeaderModifier",
                request_header_modifier: None,
                response_header_modifier: Some(m),
                url_rewrite: None,
            });
        }
        if route.strip_prefix && route.matching == Match::Prefix {
            filters.push(Filter {
                kind: "URLRewrite",
                request_header_modifier: None,
                response_header_modifier: None,
                url_rewrite: Some(UrlRewrite {
                    path: PrefixRewrite { kind: "ReplacePrefixMatch", replace_prefix_match: "/".into() },
                }),
            });
        }
        if let (Some(to), Match::Prefix) = (&route.replace_prefix, route.matching) {
            filters.push(Filter {
                kind: "URLRewrite",
                request_header_modifier: None,
                response_header_modifier: None,
                url_rewrite: Some(UrlRewrite {
                    path: PrefixRewrite { kind: "ReplacePrefixMatch", replace_prefix_match: to.clone() },
                }),
            });
        }
        let has_regex = site.routes.iter().any(|r| r.matching == Match::Regex);
        let mut lost = set_properties(&[
            ("`replace-prefix` on an exact path", route.replace_prefix.is_some() && route.matching != Match::Prefix),
            // The Gateway API leaves the order of regular expressions and prefixes to the implementation.
            ("`before-regex`", route.before_regex && has_regex),
            ("`rate-limit`", route.rate_limit.is_some()),
            ("`body-limit`", route.body_limit.is_some_and(|b| b > 0)),
            ("`buffering=#false`", route.buffering_off),
            ("`access-log=#false`", !route.access_log),
            ("`fallback`", route.fallback.is_some()),
            ("`strip-prefix` on an exact path", route.strip_prefix && route.matching != Match::Prefix),
            ("`connect-timeout`", route.handling.connect_timeout_ms.is_some()),
            (
                "`read-timeout`/`send-timeout` apart from the request's `timeout`",
                [route.handling.read_timeout_ms, route.handling.send_timeout_ms]
                    .iter()
                    .any(|t| t.is_some() && *t != route.timeout_ms),
            ),
            ("`request-buffering`", route.handling.request_buffering.is_some()),
            ("`buffer-size`", route.handling.buffer_size.is_some()),
            ("its proxy cache (`proxy-cache`, `cache-valid`)", route.handling.cache.is_some()),
        ]);
        let timeouts = match route.timeout_ms.map(seconds) {
            Some(s) if s <= MAX_TIMEOUT_SECONDS => Some(Timeouts { request: format!("{s}s") }),
            Some(_) => {
                lost.push("a `timeout` over 99999s");
                None
            }
            None => None,
        };
        if !lost.is_empty() {
            self.warn(
                route.origin,
                format!("route `{}`: an HTTPRoute does not express {}", route.path, lost.join(", ")),
                "route",
                "set it in the Gateway implementation's policies, or in the application",
            );
        }
        Some(HttpRule {
            matches: vec![HttpMatch { path: PathMatch { kind, value: route.path.clone() } }],
            filters,
            backend_refs: vec![backend],
            timeouts,
        })
    }

    /// A header modifier: an empty value removes the header (as in the proxy plan).
    fn header_modifier(
        &mut self,
        set: &[(String, String)],
        remove: &[String],
        origin: Origin,
    ) -> Option<HeaderModifier> {
        let mut m = HeaderModifier::default();
        for (name, value) in set {
            let value = self.text(&Text::from_default(value), origin, "a header value");
            if value.is_empty() {
                m.remove.push(name.clone());
            } else {
                m.set.push(Header { name: name.clone(), value });
            }
        }
        m.remove.extend(remove.iter().cloned());
        (!m.set.is_empty() || !m.remove.is_empty()).then_some(m)
    }
}

/// Why a `fastcgi=` route has no Ingress or HTTPRoute path: the controller speaks FastCGI
/// (ingress-nginx `backend-protocol: FCGI`) but sees none of the application's files, so it
/// can neither serve the static ones nor check that a script exists before running it.
pub(super) fn fastcgi_unrouted(service: &str) -> String {
    format!(
        "the FastCGI application `{service}` is not routed in Kubernetes: the cluster's ingress controller cannot see its files (static files, scripts); the path is served by the site's other routes"
    )
}

pub(super) const FASTCGI_HELP: &str =
    "run a web server next to PHP-FPM in the pod (nginx or Caddy with the same files) and route to its HTTP port with `to=`";
