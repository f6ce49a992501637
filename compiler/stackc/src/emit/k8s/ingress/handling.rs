//! A route's timeouts, buffering and cache on the Ingress: ingress-nginx annotations where
//! the controller has them, else what the Ingress loses (issue 11).

use super::*;

const A: &str = "nginx.ingress.kubernetes.io/";

impl Builder<'_> {
    /// The annotations of a route's timeouts and buffering (with `ingress-class="nginx"`),
    /// and what the Ingress cannot carry into `lost`, from the proxy plan's decisions. Its
    /// `Cache-Control` (of `cache=` and `cache-control`) is the caller's.
    pub(crate) fn route_handling(
        &mut self,
        route: &PlanRoute,
        nginx: bool,
        ann: &mut Vec<(String, String)>,
        lost: &mut Vec<&'static str>,
    ) {
        let h = &route.handling;
        // Lost as written: `timeout` for the shorthand (the plan's read and send timeouts are
        // its value then), else the direction's own property.
        let name = |ms: Option<u64>, what| if ms.is_some() && ms != route.timeout_ms { what } else { "`timeout`" };
        let timeouts = [
            ("proxy-connect-timeout", h.connect_timeout_ms, "`connect-timeout`"),
            ("proxy-read-timeout", h.read_timeout_ms, name(h.read_timeout_ms, "`read-timeout`")),
            ("proxy-send-timeout", h.send_timeout_ms, name(h.send_timeout_ms, "`send-timeout`")),
        ];
        for (key, ms, what) in timeouts {
            if let Some(ms) = ms {
                if nginx {
                    ann.push((format!("{A}{key}"), seconds(ms).to_string()));
                } else if !lost.contains(&what) {
                    lost.push(what);
                }
            }
        }
        if let Some(b) = h.request_buffering {
            if nginx {
                ann.push((format!("{A}proxy-request-buffering"), if b { "on" } else { "off" }.into()));
            } else {
                lost.push("`request-buffering`");
            }
        }
        if let Some(b) = h.buffer_size {
            if nginx {
                ann.push((format!("{A}proxy-buffer-size"), nginx_size(b)));
            } else {
                lost.push("`buffer-size`");
            }
        }
        // ingress-nginx caches only through configuration snippets, which it disables by
        // default (they are a cluster-wide injection risk).
        if h.cache.is_some() {
            lost.push("its proxy cache (`proxy-cache`, `cache-valid`)");
        }
    }

    /// The proxy's cache zone and client timeouts, which neither an Ingress nor an HTTPRoute
    /// has a place for.
    pub(crate) fn proxy_handling_warnings(&mut self, router: &str) {
        let Some(proxy) = &self.stack.proxy else { return };
        if let Some(c) = &proxy.cache {
            self.warn(
                c.origin,
                format!("{router} has no proxy cache: the proxy `cache` is not applied on Kubernetes"),
                &format!("not expressed on {router}"),
                "ingress-nginx caches only through configuration snippets, which are disabled by default; cache in \
                 the application or a CDN",
            );
        }
        if let Some(c) = &proxy.client_timeouts {
            self.warn(
                c.origin,
                format!("{router} has no client timeouts: `client-timeouts` (header=, body=) is not applied on Kubernetes"),
                &format!("not expressed on {router}"),
                "set them in the controller's configuration (ingress-nginx: `client-header-timeout`, `client-body-timeout` in its ConfigMap)",
            );
        }
    }
}
