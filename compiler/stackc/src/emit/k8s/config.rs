//! The stack's configuration in Kubernetes: env values (params, secrets by reference),
//! the ConfigMaps of env-groups and params, and `create-secrets.sh`.

use super::*;

/// Where the env-groups' variables go, one file each, for the kustomization's generator.
const ENV_GROUP_DIR: &str = "env";

impl Builder<'_> {
    /// The key reference of a secret, recorded as used.
    pub(super) fn secret_ref(&mut self, name: &str) -> Option<KeyRef> {
        let s = self.stack.secrets.get(name)?;
        self.used_secrets.insert(name.to_string());
        Some(KeyRef { name: secret_object(self.stack, s), key: secret_key(s), optional: s.optional.then_some(true) })
    }

    pub(super) fn param_ref(&mut self, name: &str) -> Option<KeyRef> {
        let param = self.stack.params.get(name)?;
        let var = param.env.clone()?;
        self.deploy_params.insert(name.to_string());
        // An optional param's key may be missing: the container then has no such variable.
        Some(KeyRef { name: params_configmap(self.stack), key: var, optional: param.optional.then_some(true) })
    }

    /// The container's `env`: variables that hold secrets (and params without a value)
    /// embedded in other values come first, so that `$(VAR)` can expand them.
    pub(super) fn env(&mut self, svc: &Service) -> Vec<EnvVar> {
        self.env_list(&svc.env, &svc.env_origins, svc.origin)
    }

    pub(super) fn env_list(
        &mut self,
        vars: &IndexMap<String, EnvValue>,
        origins: &IndexMap<String, Origin>,
        origin: Origin,
    ) -> Vec<EnvVar> {
        // The helper variable of each embedded secret or value-less param, in first-use order.
        #[derive(PartialEq, Clone)]
        enum Src {
            Secret(String),
            Param(String),
        }
        let mut helpers: IndexMap<String, (Src, KeyRef)> = IndexMap::new();
        let mut helper_of: BTreeMap<String, String> = BTreeMap::new();
        let stack = self.stack;
        let whole_ref = |v: &EnvValue| -> Option<Src> {
            match v {
                EnvValue::Secret(s) => Some(Src::Secret(s.clone())),
                EnvValue::Text(t) => match t.0.as_slice() {
                    [Piece::Param(p)] if stack.param_value(p).is_none() => Some(Src::Param(p.clone())),
                    _ => None,
                },
            }
        };
        for (var, value) in vars {
            let EnvValue::Text(t) = value else { continue };
            if whole_ref(value).is_some() {
                continue;
            }
            for piece in &t.0 {
                let (src, key, base) = match piece {
                    Piece::Secret(s) => {
                        let Some(r) = self.secret_ref(s) else { continue };
                        let base = self.stack.secrets.get(s).map(|sec| match &sec.source {
                            SecretSource::Env(v) => v.clone(),
                            _ => s.to_ascii_uppercase().replace('-', "_"),
                        });
                        (Src::Secret(s.clone()), r, base.unwrap_or_default())
                    }
                    Piece::Param(p) if self.stack.param_value(p).is_none() => {
                        let Some(r) = self.param_ref(p) else {
                            self.note_param(p, origins.get(var).copied().unwrap_or(origin), "in env");
                            continue;
                        };
                        let base = r.key.clone();
                        (Src::Param(p.clone()), r, base)
                    }
                    _ => continue,
                };
                let id = match &src {
                    Src::Secret(s) => format!("s:{s}"),
                    Src::Param(p) => format!("p:{p}"),
                };
                if helper_of.contains_key(&id) {
                    continue;
                }
                // A user variable of the same name is reused when it is the same value, and
                // avoided otherwise.
                let name = match vars.get(&base) {
                    Some(v) if whole_ref(v).as_ref() == Some(&src) => base,
                    Some(_) => format!("STACKC_{base}"),
                    None => base,
                };
                helper_of.insert(id, name.clone());
                helpers.insert(name, (src, key));
            }
        }
        let mut out: Vec<EnvVar> = helpers
            .iter()
            .map(|(name, (src, key))| EnvVar {
                name: name.clone(),
                value: None,
                value_from: Some(match src {
                    Src::Secret(_) => ValueFrom::SecretKeyRef(key.clone()),
                    Src::Param(_) => ValueFrom::ConfigMapKeyRef(key.clone()),
                }),
            })
            .collect();
        for (var, value) in vars {
            if helpers.contains_key(var) {
                continue;
            }
            let origin = origins.get(var).copied().unwrap_or(origin);
            let entry = match whole_ref(value) {
                Some(Src::Secret(s)) => self.secret_ref(&s).map(ValueFrom::SecretKeyRef),
                Some(Src::Param(p)) => self.param_ref(&p).map(ValueFrom::ConfigMapKeyRef),
                None => None,
            };
            if let Some(vf) = entry {
                out.push(EnvVar { name: var.clone(), value: None, value_from: Some(vf) });
                continue;
            }
            let EnvValue::Text(t) = value else { continue };
            let mut s = String::new();
            for piece in &t.0 {
                match piece {
                    Piece::Lit(l) => s.push_str(&escape_dollar(l)),
                    Piece::Param(p) if self.stack.param_value(p).is_none() => {
                        if let Some(h) = helper_of.get(&format!("p:{p}")) {
                            s.push_str(&format!("$({h})"));
                        }
                    }
                    Piece::Param(p) => {
                        self.note_param(p, origin, "in env");
                        s.push_str(&escape_dollar(&self.stack.param_value(p).unwrap_or_default()));
                    }
                    Piece::Secret(sec) => {
                        if let Some(h) = helper_of.get(&format!("s:{sec}")) {
                            s.push_str(&format!("$({h})"));
                        }
                    }
                }
            }
            out.push(EnvVar { name: var.clone(), value: Some(s), value_from: None });
        }
        out
    }

    /// The env-groups' ConfigMaps, from files under `k8s/env/<group>/<VARIABLE>`.
    pub(super) fn configmaps(&mut self) {
        let groups: Vec<(String, IndexMap<String, Text>)> =
            self.stack.env_groups.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, vars) in groups {
            let origin = self.stack.services.first().map(|(_, s)| s.origin).unwrap_or_default();
            // A generated ConfigMap's name has a hash of its data, which kustomize writes into
            // every `envFrom` that names it: a changed value rolls the pods that read it (a
            // ConfigMap changed in place would reach them only when they restart). A file per
            // variable holds any value, where `literals` and env files cannot hold a line break.
            let mut files = Vec::new();
            for (k, v) in &vars {
                let value = self.text(v, origin, &format!("in env-group `{name}`"));
                let rel = format!("{ENV_GROUP_DIR}/{name}/{k}");
                files.push(format!("{k}={rel}"));
                self.extra_files.push(OutputFile::new(format!("{DIR}/{rel}"), value));
            }
            let options = Some(GeneratorOptions { labels: self.stack_labels() });
            self.generators.push(ConfigMapGenerator { name, namespace: self.ns.clone(), files, options });
        }
    }

    /// `create-secrets.sh`: the Secret from the deploy environment and files, and the
    /// ConfigMap of value-less params. Values travel through files in a private temporary
    /// directory, never through a command line or a manifest.
    pub(super) fn secrets_script(&self) -> Option<String> {
        let secrets: Vec<&Secret> = self
            .stack
            .secrets
            .values()
            .filter(|s| self.used_secrets.contains(&s.name) && s.source != SecretSource::External)
            .collect();
        if secrets.is_empty() && self.deploy_params.is_empty() {
            return None;
        }
        let q = shell_word;
        let mut s = String::new();
        s.push_str("#!/bin/sh\n");
        s.push_str(&header("#", self.stack));
        s.push_str(&format!(
            "# Creates or updates the Secret {} (and the ConfigMap of deploy-time params) in namespace\n\
             # {} from the deploy environment and files, then `kubectl apply -k` applies the rest.\n\
             # Values go through files in a private temporary directory: never a command line, never a\n\
             # manifest. Run it from anywhere, with kubectl pointed at the cluster.\n",
            secret_name(self.stack),
            self.ns
        ));
        s.push_str("set -eu\ncd \"$(dirname \"$0\")\"\n");
        s.push_str(&format!("kubectl apply -f {}\n", q(&format!("namespace-{}.yaml", self.ns))));
        s.push_str("umask 077\ntmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\n");
        if !secrets.is_empty() {
            s.push_str("mkdir \"$tmp/secret\"\n");
            for sec in &secrets {
                let key = secret_key(sec);
                match &sec.source {
                    SecretSource::Env(var) if sec.optional => s.push_str(&format!(
                        "# secret {} (optional)\nif [ -n \"${{{var}+set}}\" ]; then printf '%s' \"${var}\" >\"$tmp/secret/{key}\"; fi\n",
                        sec.name
                    )),
                    SecretSource::Env(var) => s.push_str(&format!(
                        "# secret {}\n: \"${{{var}:?secret {} must be set}}\"\nprintf '%s' \"${var}\" >\"$tmp/secret/{key}\"\n",
                        sec.name, sec.name
                    )),
                    SecretSource::File(path) => {
                        let p = self.opts.rebase(&self.stack.compile_time(path));
                        // The script runs in k8s/, one level below the output directory.
                        let p = if p.starts_with('/') { p } else { format!("../{p}") };
                        s.push_str(&format!("# secret {}\ncat -- {} >\"$tmp/secret/{key}\"\n", sec.name, q(&p)));
                    }
                    SecretSource::External => {}
                }
            }
            s.push_str(&format!(
                "kubectl create secret generic {} --namespace {} --from-file=\"$tmp/secret\" --dry-run=client -o yaml >\"$tmp/secret.yaml\"\n\
                 kubectl apply -f \"$tmp/secret.yaml\"\n",
                q(&secret_name(self.stack)),
                q(&self.ns)
            ));
        }
        if !self.deploy_params.is_empty() {
            s.push_str("mkdir \"$tmp/params\"\n");
            for name in &self.deploy_params {
                let Some(param) = self.stack.params.get(name) else { continue };
                let Some(var) = param.env.clone() else { continue };
                if param.optional {
                    // No key when unset: the container's optional reference then sets nothing.
                    s.push_str(&format!(
                        "# param {name} (optional)\nif [ -n \"${{{var}+set}}\" ]; then printf '%s' \"${var}\" >\"$tmp/params/{var}\"; fi\n"
                    ));
                    continue;
                }
                s.push_str(&format!(
                    "# param {name}\n: \"${{{var}:?param {name} must be set}}\"\nprintf '%s' \"${var}\" >\"$tmp/params/{var}\"\n"
                ));
            }
            s.push_str(&format!(
                "kubectl create configmap {} --namespace {} --from-file=\"$tmp/params\" --dry-run=client -o yaml >\"$tmp/params.yaml\"\n\
                 kubectl apply -f \"$tmp/params.yaml\"\n",
                q(&params_configmap(self.stack)),
                q(&self.ns)
            ));
        }
        Some(s)
    }
}
