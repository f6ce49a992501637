//! Probes beyond the check itself: the startup probe that `start-period` becomes, and the
//! headers of an HTTP probe.

use super::*;

/// The kubelet's probe period when the stack gives no `interval=`.
const DEFAULT_PERIOD_SECONDS: u64 = 10;
/// Docker's `retries` when the stack gives none: failures after the start period that make
/// the container unhealthy.
const DEFAULT_RETRIES: u64 = 3;

impl Builder<'_> {
    /// `start-period` as a `startupProbe`: the same check, which holds back the liveness and
    /// readiness probes until it passes, and may fail for the start period plus `retries`
    /// periods (docker's grace: failures in the start period do not count). An initial delay
    /// would instead wait the whole period even when the program is up in a second, and a
    /// slow start past it would be killed by the liveness probe.
    pub(super) fn startup_probe(&mut self, svc: &Service, container: &mut Container) {
        let (source, setting) = match (&svc.health, &svc.readiness) {
            (Some(h), _) if h.start_period.is_some() => (h, "health"),
            (_, Some(r)) if r.start_period.is_some() => (r, "readiness"),
            _ => return,
        };
        let Some(start) = self.amount(&source.start_period, "a health check") else { return };
        let mut probe = self.probe(source, svc.origin_of(setting));
        // `start-interval=`: docker's checks during the start period, which the startup probe is.
        if let Some(ms) = self.amount(&source.start_interval, "a health check") {
            probe.period_seconds = Some(seconds(ms).max(1));
        }
        let period = probe.period_seconds.unwrap_or(DEFAULT_PERIOD_SECONDS);
        let retries = source.retries.map_or(DEFAULT_RETRIES, u64::from);
        probe.initial_delay_seconds = None;
        probe.failure_threshold = Some(u32::try_from(seconds(start).div_ceil(period) + retries).unwrap_or(u32::MAX));
        // The probes the startup probe gates start at once when it passes.
        let gated = |p: &Option<Probe>| p.as_ref().is_some_and(|p| std::ptr::eq(p, source));
        if gated(&svc.health) {
            if let Some(l) = &mut container.liveness_probe {
                l.initial_delay_seconds = None;
            }
        }
        if gated(&svc.readiness) || (svc.readiness.is_none() && gated(&svc.health)) {
            if let Some(r) = &mut container.readiness_probe {
                r.initial_delay_seconds = None;
            }
        }
        container.startup_probe = Some(probe);
    }

    pub(super) fn probe_headers(&mut self, p: &Probe, origin: Origin) -> Vec<NameValue> {
        p.headers
            .iter()
            .map(|(name, value)| NameValue {
                name: self.text(name, origin, "a probe header"),
                value: self.text(value, origin, "a probe header"),
            })
            .collect()
    }
}
