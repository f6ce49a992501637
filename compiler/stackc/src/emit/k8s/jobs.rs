//! One-shot services (`restart "no"`) are Jobs, whose pod template Kubernetes never changes
//! in place: `kubectl apply` of a Job with a new image fails ("field is immutable"). A Job's
//! name therefore carries a hash of what it runs, so a change is a new Job that runs once,
//! and an unchanged one is the same Job, which apply leaves alone (it does not run again).

use super::*;

/// Hex digits of the hash in a Job's name.
const HASH_DIGITS: usize = 8;
/// A Job's name is a pod label value (`job-name`): at most 63 characters.
const MAX_NAME: usize = 63;

impl Builder<'_> {
    /// `SERVICE-HASH`: the hash of the Job's spec and of the env-groups it reads, whose
    /// ConfigMaps kustomize renames when their data change (which changes the template).
    pub(super) fn job_name(&self, svc: &Service, spec: &JobSpec) -> String {
        let mut input = yaml(spec);
        for g in &svc.env_from {
            for (k, v) in self.stack.env_groups.get(g).into_iter().flatten() {
                input.push_str(&format!("\n{g}\0{k}\0{}", self.stack.compile_time(v)));
            }
        }
        let hash = format!("{:016x}", fnv1a(input.as_bytes()));
        let base: String = svc.name.chars().take(MAX_NAME - HASH_DIGITS - 1).collect();
        format!("{}-{}", base.trim_end_matches('-'), &hash[..HASH_DIGITS])
    }
}

/// FNV-1a (64 bits): stable across runs and platforms, which is all a name needs.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}
