//! Variables whose absence must stay absence. An `env` value that is one optional param
//! (`env FOO="${foo}"` with `param "foo" env="FOO" optional=#true`) is passed through:
//! `FOO:` without a value, which compose leaves unset in the container when neither the
//! deploy environment nor `.env` sets `FOO`. `${FOO:-}` would set it to an empty string,
//! and a program that tests whether the variable is set would find it set.

use super::*;

/// A service's `environment`: variables with a value, and variables passed through (`None`).
#[derive(Default)]
pub(super) struct CEnvironment(IndexMap<String, Option<String>>);

impl CEnvironment {
    pub(super) fn insert(&mut self, key: String, value: String) {
        self.0.insert(key, Some(value));
    }

    /// `KEY:` without a value: the deploy environment's `KEY` when it is set, else nothing.
    pub(super) fn pass_through(&mut self, key: String) {
        self.0.insert(key, None);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<IndexMap<String, String>> for CEnvironment {
    fn from(vars: IndexMap<String, String>) -> Self {
        CEnvironment(vars.into_iter().map(|(k, v)| (k, Some(v))).collect())
    }
}

impl Serialize for CEnvironment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// The deploy-time variable an `env` value is, when it is an optional param alone: unset
/// unless the deploy environment sets it.
pub(super) fn optional_variable<'a>(stack: &'a Stack, t: &Text) -> Option<&'a str> {
    let [Piece::Param(name)] = t.0.as_slice() else { return None };
    match stack.params.get(name)? {
        Param { env: Some(var), optional: true, .. } => Some(var),
        _ => None,
    }
}

/// An optional variable under another name (`env API_TOKEN="${token}"` with `env="TOKEN"`):
/// compose passes a variable through under its own name only, so `API_TOKEN` is set, empty,
/// when `TOKEN` is unset.
pub(super) fn check_pass_through(stack: &Stack, out: &mut Vec<Diagnostic>) {
    for svc in stack.services.values() {
        for (key, value) in &svc.env {
            let EnvValue::Text(t) = value else { continue };
            let Some(var) = optional_variable(stack, t) else { continue };
            if var == key {
                continue;
            }
            let Some(at) = svc.env_origins.get(key) else { continue };
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "service `{}`: compose sets `{key}` to an empty string when `{var}` is unset; it cannot leave \
                         `{key}` unset",
                        svc.name
                    ),
                )
                .at(origin_span(*at), "an optional variable under another name")
                .help(format!(
                    "read the param from `{key}` (`env=\"{key}\"` on the param) so that compose passes `{key}` \
                     through only when it is set, or give the param a default"
                )),
            );
        }
    }
}
