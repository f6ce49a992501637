//! The top-level `secrets:` of the compose file: only the secrets a service mounts.

use indexmap::IndexMap;

use super::values::render_path;
use super::{CSecret, EmitOptions};
use crate::ir::*;

pub(super) struct Secrets<'a> {
    pub(super) stack: &'a Stack,
    pub(super) opts: &'a EmitOptions,
    pub(super) used: IndexMap<String, CSecret>,
}

impl Secrets<'_> {
    pub(super) fn declare(&mut self, name: &str) {
        let Some(s) = self.stack.secrets.get(name) else { return };
        if self.used.contains_key(name) {
            return;
        }
        let entry = match &s.source {
            SecretSource::File(f) => {
                CSecret { file: Some(render_path(self.stack, self.opts, f)), ..CSecret::default() }
            }
            SecretSource::Env(v) => CSecret { environment: Some(v.clone()), ..CSecret::default() },
            SecretSource::External => CSecret { external: Some(true), ..CSecret::default() },
        };
        self.used.insert(name.to_string(), entry);
    }
}
