//! CORS, the real client IP, allowed methods and error pages (issue 11) on Kubernetes: CORS
//! as ingress-nginx's `enable-cors` annotations (one policy per Ingress: routes that differ
//! go to Ingresses of their own, as for every annotation); the rest is reported.

use super::*;
use crate::ir::proxy::{PlanRoute, ProxyPlan};

const A: &str = "nginx.ingress.kubernetes.io/";

impl Builder<'_> {
    /// The CORS annotations of a planned route (ingress-nginx only).
    pub(super) fn cors_annotations(&mut self, plan: &ProxyPlan, route: &PlanRoute, ann: &mut Vec<(String, String)>) {
        let Some(policy) = route.cors else { return };
        let p = &plan.cors[policy];
        let origins = if p.any_origin() { "*".to_string() } else { p.origins.join(", ") };
        ann.push((format!("{A}enable-cors"), "true".into()));
        ann.push((format!("{A}cors-allow-origin"), origins));
        ann.push((format!("{A}cors-allow-methods"), p.methods.clone()));
        if let Some(h) = &p.headers {
            ann.push((format!("{A}cors-allow-headers"), h.clone()));
        }
        if let Some(e) = &p.expose {
            ann.push((format!("{A}cors-expose-headers"), e.clone()));
        }
        // ingress-nginx allows credentials unless told not to.
        ann.push((format!("{A}cors-allow-credentials"), p.credentials.to_string()));
        if let Some(s) = p.max_age_s {
            ann.push((format!("{A}cors-max-age"), s.to_string()));
        }
        ann.sort();
    }

    /// What neither the Ingress (`ingress_nginx`: with ingress-nginx's annotations) nor an
    /// HTTPRoute expresses of these settings.
    pub(super) fn edge_warnings(&mut self, ingress_nginx: bool, what: &str) {
        let stack = self.stack;
        if let Some(proxy) = &stack.proxy {
            if let Some(r) = &proxy.real_ip {
                self.warn(
                    r.origin,
                    format!("{what} cannot trust proxies' address headers (`real-ip`): it is the controller's configuration"),
                    "real-ip",
                    "ingress-nginx: set `use-forwarded-headers`, `proxy-real-ip-cidr` (and `forwarded-for-header`) in its ConfigMap",
                );
            }
            if let Some(origin) = proxy.forwarded_for_origin {
                self.warn(
                    origin,
                    format!("{what} does not choose how X-Forwarded-For is passed (`forwarded-for`)"),
                    "forwarded-for",
                    "ingress-nginx: `compute-full-forwarded-for` in its ConfigMap",
                );
            }
            // `proxy mode="host"`: a cluster has no host proxy; the sites are served as usual.
            if let Some(origin) = proxy.host_mode {
                self.warn(
                    origin,
                    format!("{what} is the cluster's proxy: `mode=\"host\"` (a proxy on the host) has no meaning there"),
                    "mode",
                    "the sites are served through the cluster's ingress as without `mode=`; set `mode=\"host\"` in a compose-only environment",
                );
            }
        }
        for site in &stack.sites {
            for e in &site.error_pages {
                self.warn(
                    e.origin,
                    format!("{what} does not serve error pages from a directory (`error-page`)"),
                    "error-page",
                    "ingress-nginx: `custom-http-errors` with a default backend that serves the pages",
                );
            }
            let site_cors = site.cors.as_ref().map(|c| c.origin);
            for r in &site.routes {
                if !r.methods.is_empty() {
                    self.warn(
                        r.origin,
                        format!("route `{}`: {what} does not refuse methods (`methods`)", r.path),
                        "methods",
                        "refuse them in the application",
                    );
                }
                if !ingress_nginx {
                    if let Some(origin) = r.cors.as_ref().map(|c| c.origin).or(site_cors) {
                        self.warn(
                            origin,
                            format!("route `{}`: {what} does not answer CORS (`cors`)", r.path),
                            "cors",
                            "answer CORS in the application, or use `targets > k8s ingress-class=\"nginx\"` (enable-cors annotations)",
                        );
                    }
                }
            }
        }
    }
}
