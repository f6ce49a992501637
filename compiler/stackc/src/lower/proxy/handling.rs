//! A route's timeouts, buffering, proxy cache and `Cache-Control`, and the proxy's cache zone
//! and client timeouts, decided once for nginx, Caddy and the Ingress (issue 11).

use crate::ir::proxy::*;
use crate::ir::*;

/// The cache zone's name in the proxy's configuration.
pub const CACHE_ZONE: &str = "stackc_cache";
/// Where cached responses are kept without `cache path=` (the nginx image's cache directory).
pub const DEFAULT_CACHE_PATH: &str = "/var/cache/nginx/stackc";
/// The keys' shared memory without `cache size=` (nginx: 1 MB holds about 8,000 keys).
pub const DEFAULT_CACHE_KEYS_SIZE: u64 = 10 * 1024 * 1024;
/// How long an entry stays without a request, without `cache inactive=`.
pub const DEFAULT_CACHE_INACTIVE_MS: u64 = 60 * 60 * 1000;
/// The statuses `proxy-cache=` keeps (nginx's `proxy_cache_valid TIME` without statuses).
pub const DEFAULT_CACHE_STATUSES: [u16; 3] = [200, 301, 302];
/// The response header that says whether the cache answered.
pub const CACHE_STATUS_HEADER: &str = "X-Cache-Status";
/// Requests with these headers are a user's own: never answered from the cache nor stored.
pub const CACHE_BYPASS_HEADERS: [&str; 2] = ["Authorization", "Cookie"];

/// The zone, when a route uses the cache: `proxy > cache`, or its defaults.
pub fn cache_zone(stack: &Stack, proxy: &Proxy) -> Option<CacheZone> {
    let used = stack.sites.iter().flat_map(|s| &s.routes).any(uses_cache);
    let c = proxy.cache.as_ref();
    if !used && c.is_none() {
        return None;
    }
    Some(CacheZone {
        name: CACHE_ZONE.into(),
        path: c.and_then(|c| c.path.clone()).unwrap_or_else(|| DEFAULT_CACHE_PATH.into()),
        size_bytes: c.and_then(|c| c.size.value()).unwrap_or(DEFAULT_CACHE_KEYS_SIZE),
        inactive_ms: c.and_then(|c| c.inactive.value()).unwrap_or(DEFAULT_CACHE_INACTIVE_MS),
        max_size: c.and_then(|c| c.max_size.value()),
        origin: c.map(|c| c.origin).unwrap_or_default(),
    })
}

fn uses_cache(r: &Route) -> bool {
    r.handling.proxy_cache.is_some() || !r.handling.cache_valid.is_empty()
}

pub fn client_timeouts(proxy: &Proxy) -> Option<PlanClientTimeouts> {
    proxy.client_timeouts.as_ref().map(|c| PlanClientTimeouts {
        header_ms: c.header.value(),
        body_ms: c.body.value(),
        origin: c.origin,
    })
}

pub fn handling(r: &Route) -> PlanHandling {
    let h = &r.handling;
    let cache = uses_cache(r).then(|| {
        let mut valid: Vec<(Vec<u16>, u64)> = Vec::new();
        if let Some(ms) = h.proxy_cache.value() {
            valid.push((DEFAULT_CACHE_STATUSES.to_vec(), ms));
        }
        for (status, a) in &h.cache_valid {
            if let Some(ms) = a.value {
                // `cache-valid 200 …` replaces what `proxy-cache=` said for 200.
                for (statuses, _) in &mut valid {
                    statuses.retain(|s| s != status);
                }
                valid.retain(|(statuses, _)| !statuses.is_empty());
                valid.push((vec![*status], ms));
            }
        }
        PlanCache {
            valid,
            bypass_headers: CACHE_BYPASS_HEADERS.iter().map(|h| h.to_string()).collect(),
            status_header: CACHE_STATUS_HEADER.into(),
            origin: h.cache_origin,
        }
    });
    PlanHandling {
        connect_timeout_ms: h.connect_timeout.value(),
        read_timeout_ms: h.read_timeout.value().or(r.timeout.value()),
        send_timeout_ms: h.send_timeout.value().or(r.timeout.value()),
        request_buffering: h.request_buffering,
        buffer_size: h.buffer_size.value(),
        cache,
    }
}

/// The `Cache-Control` of `cache=`, `immutable=#true` and `cache-control`: the directives
/// written, in order, with `cache=` as the `max-age` unless `cache-control` gives one.
pub fn cache_control(r: &Route) -> Option<String> {
    let Some(cc) = &r.handling.cache_control else {
        return r.cache_ms.map(|ms| {
            if r.immutable {
                format!("public, max-age={}, immutable", ms / 1000)
            } else {
                format!("max-age={}", ms / 1000)
            }
        });
    };
    let mut out: Vec<String> = cc.flags.clone();
    if r.immutable && !out.iter().any(|f| f == "immutable") {
        out.push("immutable".into());
    }
    let has_max_age = cc.seconds.iter().any(|(k, _)| k == "max-age");
    if let (Some(ms), false) = (r.cache_ms, has_max_age) {
        out.push(format!("max-age={}", ms / 1000));
    }
    for (k, a) in &cc.seconds {
        if let Some(ms) = a.value {
            out.push(format!("{k}={}", ms / 1000));
        }
    }
    (!out.is_empty()).then(|| out.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(src: &str) -> ProxyPlan {
        let stack = crate::compile("t.stack.kdl", src, &crate::Options::default()).stack.expect("compiles");
        stack.proxy_plan.expect("a plan")
    }

    fn route<'a>(plan: &'a ProxyPlan, path: &str) -> &'a PlanRoute {
        plan.sites[0].routes.iter().find(|r| r.path == path).unwrap()
    }

    const STACK: &str = r#"stack "t"
service "api" {
    image "a:1"
    port 8080
}
site "t.example.com" {
    route "/" to="api" timeout="30s" read-timeout="2m"
    route "/c/" to="api" proxy-cache="10m" {
        cache-valid 200 "1h"
        cache-valid 404 "1m"
    }
    route "/cc/" to="api" cache="5m" immutable=#true {
        cache-control "public" max-age="1h" s-maxage="10m"
    }
    route "/n/" to="api" {
        cache-control "no-store"
    }
}
"#;

    #[test]
    fn timeout_is_the_shorthand_of_read_and_send() {
        let plan = plan_of(STACK);
        let h = &route(&plan, "/").handling;
        assert_eq!((h.connect_timeout_ms, h.read_timeout_ms, h.send_timeout_ms), (None, Some(120_000), Some(30_000)));
    }

    #[test]
    fn a_cached_route_gets_the_default_zone_and_its_validity() {
        let plan = plan_of(STACK);
        let z = plan.cache_zone.as_ref().expect("a zone, as a route uses the cache");
        assert_eq!(
            (z.path.as_str(), z.size_bytes, z.inactive_ms, z.max_size),
            (DEFAULT_CACHE_PATH, DEFAULT_CACHE_KEYS_SIZE, DEFAULT_CACHE_INACTIVE_MS, None)
        );
        let c = route(&plan, "/c/").handling.cache.as_ref().unwrap();
        // `cache-valid 200` takes 200 from `proxy-cache=`.
        assert_eq!(c.valid, [(vec![301, 302], 600_000), (vec![200], 3_600_000), (vec![404], 60_000)]);
        assert_eq!(c.bypass_headers, ["Authorization", "Cookie"]);
        assert_eq!(c.status_header, "X-Cache-Status");
        assert!(route(&plan, "/").handling.cache.is_none());
        let without = STACK
            .replace("proxy-cache=\"10m\" {", "{")
            .replace("cache-valid 200 \"1h\"\n", "")
            .replace("cache-valid 404 \"1m\"\n", "");
        assert!(plan_of(&without).cache_zone.is_none(), "no zone without a cached route");
    }

    #[test]
    fn cache_control_directives_in_order() {
        let plan = plan_of(STACK);
        // `max-age=` replaces `cache=`'s; the route's `immutable=#true` is added.
        assert_eq!(
            route(&plan, "/cc/").cache_control.as_deref(),
            Some("public, immutable, max-age=3600, s-maxage=600")
        );
        assert_eq!(route(&plan, "/n/").cache_control.as_deref(), Some("no-store"));
        assert_eq!(route(&plan, "/").cache_control, None);
    }
}
