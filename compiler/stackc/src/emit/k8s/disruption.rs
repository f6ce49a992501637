//! PodDisruptionBudgets: a node drain takes the replicas of a service one at a time.

use super::*;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PdbSpec {
    max_unavailable: u32,
    selector: Selector,
}

impl Builder<'_> {
    /// A budget of one unavailable pod for a service that can run more than one replica
    /// (`replicas`, or `autoscale max=`): voluntary evictions (drains, upgrades) then never
    /// take all of them at once. With one replica a budget could only block the drain.
    pub(super) fn disruption_budget(&mut self, svc: &Service, selector: &IndexMap<String, String>) {
        let most = svc.autoscale.as_ref().map_or(svc.replicas, |a| a.max.max(svc.replicas));
        if most <= 1 {
            return;
        }
        let metadata = self.meta(&svc.name, &[(SELECTOR_KEY, &svc.name)]);
        self.push(Object {
            api_version: "policy/v1",
            kind: "PodDisruptionBudget",
            metadata,
            spec: Some(PdbSpec { max_unavailable: 1, selector: Selector { match_labels: selector.clone() } }),
            data: None,
        });
    }
}
