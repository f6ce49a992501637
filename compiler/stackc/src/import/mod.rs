//! `stackc import`: a docker compose file (and its overlay files, as `-f a -f b` would merge
//! them) to a stack file. Pure like the rest of the crate: texts in, text and notes out.
//!
//! What the stack language cannot say is never dropped: each such key becomes a [`Note`]
//! (file, line, key, why) and a `// not imported:` comment at its place in the output.
//! What was guessed gets a `// guess:` comment. `docs/import.md` has the table of keys.

mod devices;
mod service;
mod templates;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;

use crate::syntax::quote as q;
use crate::validate::values;
use yaml::{Node, Value};

/// One compose file: its name (for notes and comments) and its text.
pub struct Input<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// Something the importer could not express, or guessed, at a place of a compose file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    pub file: String,
    pub line: u64,
    pub column: u64,
    /// The key's path, such as `services.web.container_name`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: `{}`: {}", self.file, self.line, self.column, self.key, self.message)
    }
}

/// The stack file and what was not imported.
pub struct Imported {
    pub text: String,
    pub notes: Vec<Note>,
}

/// One line of a block in the output, with the comments written above it. `key` says which
/// setting it is, so an overlay can keep only the lines that differ from the base.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    key: String,
    text: String,
    comments: Vec<String>,
}

impl Line {
    fn new(key: impl Into<String>, text: impl Into<String>) -> Line {
        Line { key: key.into(), text: text.into(), comments: Vec::new() }
    }
    fn comment(mut self, c: impl Into<String>) -> Line {
        self.comments.push(c.into());
        self
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Param {
    env: String,
    default: Option<String>,
    required: bool,
}

/// What the translation collects across services: params, secrets, notes.
#[derive(Default)]
struct Ctx {
    files: Vec<String>,
    params: IndexMap<String, Param>,
    /// Secret name → its source properties (`env="X"`, `file="…"`, `external=#true`).
    secrets: IndexMap<String, String>,
    secret_comments: BTreeMap<String, Vec<String>>,
    notes: BTreeSet<Note>,
    /// Compose names → stack names, for services, volumes, networks and secrets.
    renames: BTreeMap<(&'static str, String), String>,
    /// Per compose service, what became of its `extends`.
    extends_comments: BTreeMap<String, String>,
    /// Per compose service, the services its `extends` brought settings from.
    extended: BTreeMap<String, Vec<String>>,
    /// The files `extends: {file: …}` names, as written there, and their trees.
    others: Vec<(String, Node)>,
    /// Per extended service, its own settings (without its `extends`), in the order first
    /// extended, and whether it is a service of the imported file (so uses its template too).
    extended_nodes: IndexMap<String, (Node, bool)>,
}

impl Ctx {
    fn note(&mut self, at: &Node, key: &str, message: impl Into<String>) {
        self.notes.insert(Note {
            file: self.files[at.file].clone(),
            line: at.line,
            column: at.column,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// A `// not imported:` comment (with the value as written) and its note.
    fn not_imported(&mut self, at: &Node, key: &str, value: &Node, why: &str) -> String {
        self.note(at, key, format!("not imported: {why}"));
        let file = &self.files[at.file];
        comment(&format!("not imported ({file}:{}): {}: {} ({why})", at.line, last(key), value.show()))
    }

    /// The stack name of a compose service, volume, network or secret.
    fn name(&mut self, kind: &'static str, compose: &str) -> String {
        if let Some(n) = self.renames.get(&(kind, compose.to_string())) {
            return n.clone();
        }
        // Services and networks keep `_` (`app_db`): a compose-only stack (`targets { compose }`,
        // as written here) addresses them by the names the clients already use.
        let n = if matches!(kind, "service" | "network") && values::compose_name(compose).is_ok() {
            compose.to_string()
        } else {
            kebab(compose)
        };
        self.renames.insert((kind, compose.to_string()), n.clone());
        n
    }

    fn param(&mut self, var: &str, default: Option<String>, required: bool, at: &Node, key: &str) -> String {
        let name = kebab(var);
        let p = Param { env: var.to_string(), default, required };
        match self.params.get(&name) {
            Some(old) if *old != p => {
                self.note(
                    at,
                    key,
                    format!("`${{{var}}}` is used with another default elsewhere; the first one is kept"),
                );
            }
            Some(_) => {}
            None => {
                self.params.insert(name.clone(), p);
            }
        }
        name
    }

    /// The secret that the deploy-time variable `var` holds.
    fn env_secret(&mut self, var: &str, optional: bool) -> String {
        let mut name = kebab(var);
        let source = format!("env={}{}", q(var), if optional { " optional=#true" } else { "" });
        if self.secrets.get(&name).is_some_and(|s| *s != source) {
            name = format!("{name}-env");
        }
        self.secrets.entry(name.clone()).or_insert(source);
        name
    }
}

fn last(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// A `//` comment: every line of `s` stays inside it.
fn comment(s: &str) -> String {
    format!("// {}", s.replace(['\n', '\r'], " "))
}

/// A property key: bare when KDL allows it, quoted otherwise (`"app.kubernetes.io/name"`).
fn key(k: &str) -> String {
    let bare = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if bare {
        k.to_string()
    } else {
        q(k)
    }
}

/// A compose name (`my_db`, `Web`) as a stack name (`my-db`, `web`).
fn kebab(s: &str) -> String {
    if values::name(s).is_ok() {
        return s.to_string();
    }
    match values::suggest_name(s) {
        Some(n) => n,
        None => {
            let n = values::suggest_name(&format!("x-{s}")).unwrap_or_else(|| "x".into());
            n.chars().take(63).collect::<String>().trim_end_matches('-').to_string()
        }
    }
}

/// A compose string with `${VAR}`, `${VAR:-default}`, `$VAR` as a stack string with
/// `${param}` (params declared with `env=VAR`). In environment values (`secrets`), a
/// variable whose name looks secret becomes `${secret:name}` instead.
fn interpolate(ctx: &mut Ctx, s: &str, at: &Node, key: &str, secrets: bool) -> String {
    let mut out = String::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '$' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push_str("$$");
                i += 2;
            }
            Some('{') => {
                let mut depth = 0;
                let mut end = None;
                for (j, c) in chars.iter().enumerate().skip(i + 1) {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let Some(end) = end else {
                    ctx.note(at, key, "a `${` without its `}`: compose refuses it; kept as a literal `$`");
                    out.push_str("$$");
                    i += 1;
                    continue;
                };
                let inner: String = chars[i + 2..end].iter().collect();
                out.push_str(&variable(ctx, &inner, at, key, secrets));
                i = end + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let var: String = chars[i + 1..j].iter().collect();
                out.push_str(&variable(ctx, &var, at, key, secrets));
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

/// The body of one `${…}`.
fn variable(ctx: &mut Ctx, inner: &str, at: &Node, key: &str, secrets: bool) -> String {
    let name_end = inner.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(inner.len());
    let (var, rest) = inner.split_at(name_end);
    let (op, arg) = [":-", "-", ":?", "?", ":+", "+"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|a| (*op, a)))
        .unwrap_or(("", rest));
    if var.is_empty() || (op.is_empty() && !rest.is_empty()) {
        ctx.note(at, key, format!("`${{{inner}}}` is not a compose variable; kept as literal text"));
        return format!("$${{{inner}}}");
    }
    if secrets && crate::validate::lints::looks_secret(var) {
        if matches!(op, ":-" | "-") && !arg.is_empty() {
            ctx.note(
                at,
                key,
                format!("`{var}` looks secret: its default in the compose file was not copied; the secret is optional"),
            );
        }
        let name = ctx.env_secret(var, matches!(op, ":-" | "-"));
        return format!("${{secret:{name}}}");
    }
    let name = match op {
        ":-" | "-" => {
            if arg.contains('$') {
                ctx.note(
                    at,
                    key,
                    format!("the default of `${{{inner}}}` refers to another variable; kept as literal text"),
                );
            }
            let default = arg.replace('$', "$$");
            ctx.param(var, Some(default), false, at, key)
        }
        ":?" | "?" => ctx.param(var, None, true, at, key),
        ":+" | "+" => {
            ctx.note(
                at,
                key,
                format!("`${{{inner}}}` (a value only when set) has no stack spelling; imported as `${{{var}}}`"),
            );
            ctx.param(var, Some(String::new()), false, at, key)
        }
        // Compose substitutes an empty string for an unset variable, with a warning; an
        // empty value is rarely meant, so the param must be set at deploy time.
        _ => ctx.param(var, None, true, at, key),
    };
    format!("${{{name}}}")
}

/// Compose's merge of an overlay file's service over the base's: mappings merge key by key,
/// `command`, `entrypoint` and health check `test` are replaced, other sequences are
/// appended (the stack keys them, so a later `A=2` replaces `A=1`).
fn merge(base: &Node, over: &Node, key: &str) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let name = k.as_str().unwrap_or_default();
                match out.iter_mut().find(|(bk, _)| bk.as_str() == Some(name)) {
                    Some((_, bv)) => *bv = merge(bv, v, name),
                    None => out.push((k.clone(), v.clone())),
                }
            }
            Node { value: Value::Map(out), ..base.clone() }
        }
        (Value::Seq(b), Value::Seq(o)) if !matches!(key, "command" | "entrypoint" | "test") => {
            let mut out = b.clone();
            out.extend(o.iter().filter(|n| !b.contains(n)).cloned());
            Node { value: Value::Seq(out), ..base.clone() }
        }
        _ => over.clone(),
    }
}

/// `environment`, `labels` and `depends_on` as mappings (their list form is equivalent), so
/// that overlays merge them key by key.
fn normalise_service(svc: &Node) -> Node {
    let mut svc = svc.clone();
    if let Value::Map(entries) = &mut svc.value {
        for (k, v) in entries.iter_mut() {
            if let (Some("environment" | "labels" | "depends_on"), Value::Seq(items)) = (k.as_str(), &v.value) {
                let map = items
                    .iter()
                    .filter_map(|item| {
                        let s = item.scalar()?;
                        let (name, value) = match s.split_once('=') {
                            Some((n, val)) if k.as_str() != Some("depends_on") => {
                                (n.to_string(), Value::Str(val.to_string()))
                            }
                            _ => (s.clone(), Value::Null),
                        };
                        Some((Node { value: Value::Str(name), ..item.clone() }, Node { value, ..item.clone() }))
                    })
                    .collect();
                v.value = Value::Map(map);
            }
        }
    }
    svc
}

/// `extends: other` (or `extends: {service: other}`) of the same file: the other service's
/// settings merged under this one's, as compose does; what the services then share becomes a
/// template (`templates.rs`). `extends` from another file is reported.
fn resolve_extends(ctx: &mut Ctx, services: Vec<(String, Node)>) -> Vec<(String, Node)> {
    let mut out = services.clone();
    for (i, (name, svc)) in services.iter().enumerate() {
        let mut current = svc.clone();
        let mut seen = vec![name.clone()];
        while let Some(ext) = current.get("extends").cloned() {
            let target = ext.scalar().or_else(|| ext.get("service").and_then(Node::scalar));
            let base = target.as_ref().and_then(|t| services.iter().find(|(n, _)| n == t)).map(|(_, s)| s.clone());
            let key = format!("services.{name}.extends");
            let own = strip_key(&current, "extends");
            let file = ext.get("file").and_then(Node::scalar);
            match (target, base, file) {
                (Some(t), Some(b), None) if !seen.contains(&t) => {
                    ctx.extended_nodes.entry(t.clone()).or_insert_with(|| (strip_key(&b, "extends"), true));
                    seen.push(t.clone());
                    current = merge(&b, &own, "");
                }
                (Some(t), _, Some(f)) if other_service(ctx, &f, &t).is_some() && !seen.contains(&t) => {
                    let b = other_service(ctx, &f, &t).unwrap_or_else(|| own.clone());
                    ctx.extended_nodes.entry(t.clone()).or_insert_with(|| (b.clone(), false));
                    seen.push(t.clone());
                    current = merge(&b, &own, "");
                }
                _ => {
                    let c =
                        ctx.not_imported(
                        &ext,
                        &key,
                        &ext,
                        "only `extends` of a service of the same file, or of a file beside it that was read, is resolved",
                    );
                    ctx.extends_comments.insert(name.clone(), c);
                    current = own;
                }
            }
        }
        if seen.len() > 1 {
            ctx.extends_comments.entry(name.clone()).or_insert_with(|| {
                comment(&format!(
                    "guess: `extends` resolved: the settings of {} merged under this service's, as compose does",
                    seen[1..].join(", ")
                ))
            });
            ctx.extended.insert(name.clone(), seen[1..].to_vec());
        }
        out[i].1 = current;
    }
    out
}

/// Service `name` of the file `extends: {file: …}` names, when the file was given, is in the
/// same directory (relative paths in it mean the same) and the service extends nothing else.
fn other_service(ctx: &Ctx, file: &str, name: &str) -> Option<Node> {
    if file.contains(['/', '\\']) {
        return None;
    }
    let (_, root) = ctx.others.iter().find(|(f, _)| f == file)?;
    let svc = root.get("services")?.get(name)?;
    svc.get("extends").is_none().then(|| normalise_service(svc))
}

/// The files that `extends: {file: …}` of `text`'s services name, for the caller to read and
/// give to [`import_with`].
pub fn extends_files(text: &str) -> Vec<String> {
    let Ok(root) = yaml::parse(text, 0) else { return Vec::new() };
    let mut out: Vec<String> = root
        .get("services")
        .map(Node::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, svc)| svc.get("extends")?.get("file")?.scalar())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A mapping without `key`.
fn strip_key(node: &Node, key: &str) -> Node {
    let mut n = node.clone();
    if let Value::Map(m) = &mut n.value {
        m.retain(|(k, _)| k.as_str() != Some(key));
    }
    n
}

/// An overlay's environment name from its file name: `docker-compose.prod.yml` → `prod`.
fn env_name(file: &str, index: usize) -> String {
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    let stem = base.trim_end_matches(".yml").trim_end_matches(".yaml");
    let rest = ["docker-compose.", "docker-compose-", "compose.", "compose-"]
        .iter()
        .find_map(|p| stem.strip_prefix(p))
        .unwrap_or(stem);
    let n = kebab(rest);
    if n.is_empty() || n == "x" || n == "docker-compose" || n == "compose" {
        format!("overlay-{index}")
    } else {
        n
    }
}

struct File {
    root: Node,
}

/// Imports `inputs[0]` and its overlay files, in compose's `-f` order. `fallback_name` names
/// the stack when the compose file has no `name:` (compose uses the directory's name).
pub fn import(inputs: &[Input], fallback_name: &str) -> Result<Imported, Note> {
    import_with(inputs, &[], fallback_name)
}

/// [`import`] with the files that `extends: {file: …}` names ([`extends_files`]), each named
/// as written there. A file that is not valid YAML is left out: its `extends` is reported.
pub fn import_with(inputs: &[Input], others: &[Input], fallback_name: &str) -> Result<Imported, Note> {
    let mut ctx = Ctx { files: inputs.iter().map(|i| i.name.to_string()).collect(), ..Ctx::default() };
    for other in others {
        if let Ok(root) = yaml::parse(other.text, ctx.files.len()) {
            ctx.files.push(other.name.to_string());
            ctx.others.push((other.name.to_string(), root));
        }
    }
    let mut files = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let root = yaml::parse(input.text, index).map_err(|e| Note {
            file: input.name.to_string(),
            line: e.line,
            column: e.column,
            key: String::new(),
            message: format!("not valid YAML: {}", e.message.lines().next().unwrap_or_default()),
        })?;
        if !matches!(root.value, Value::Map(_) | Value::Null) {
            return Err(Note {
                file: input.name.to_string(),
                line: root.line,
                column: root.column,
                key: String::new(),
                message: "a compose file is a mapping with `services:`".into(),
            });
        }
        files.push(File { root });
    }

    let mut out = Vec::new();
    out.push(format!(
        "// Imported by `stackc import` from {}.",
        inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
    ));
    out.push(
        "// `guess:` comments say what was guessed, `not imported:` ones what the stack language cannot say.".into(),
    );

    let base = &files[0].root;
    let stack_name = base.get("name").and_then(Node::as_str).map_or_else(|| kebab(fallback_name), kebab);
    let mut top = Vec::new();
    for (k, v) in base.entries() {
        let name = k.as_str().unwrap_or_default();
        match name {
            "name" | "services" | "volumes" | "networks" | "secrets" => {}
            "version" => top.push(comment(&format!("`version: {}` is obsolete: Compose v2 ignores it", v.show()))),
            n if n.starts_with("x-") => {
                top.push(comment(&format!(
                "`{n}` is an extension field: its anchors are resolved where they are used, as templates where services share them"
            )))
            }
            _ => {
                let c = ctx.not_imported(k, name, v, "the stack language has no such top-level setting");
                top.push(c);
            }
        }
    }

    // Top-level declarations, then the services (which add params and secrets as they go).
    let networks = declarations(&mut ctx, base, "networks");
    let volumes = declarations(&mut ctx, base, "volumes");
    let secrets_decl = declarations(&mut ctx, base, "secrets");
    let declared_networks = base.get("networks").is_some_and(|n| !n.entries().is_empty());
    let mut services: Vec<(String, Vec<Line>)> = Vec::new();
    let base_services: Vec<(String, Node)> = base
        .get("services")
        .map(|s| s.entries().iter().map(|(k, v)| (k.scalar().unwrap_or_default(), normalise_service(v))).collect())
        .unwrap_or_default();
    let base_services = resolve_extends(&mut ctx, base_services);
    let mut needs_default_network = false;
    for (name, svc) in &base_services {
        let (lines, default_net) = service::translate(&mut ctx, name, svc, declared_networks);
        needs_default_network |= default_net;
        services.push((ctx.name("service", name), lines));
    }

    // Overlays: merge each over what came before, as compose does, and keep in an `env`
    // block only the lines that differ.
    let mut envs = Vec::new();
    let mut merged = base_services.clone();
    for (index, file) in files.iter().enumerate().skip(1) {
        let env = env_name(inputs[index].name, index);
        let mut body: Vec<String> = vec![comment(&format!(
            "guess: {} is an overlay (`-f {} -f {}`), imported as environment `{env}`",
            inputs[index].name, inputs[0].name, inputs[index].name
        ))];
        for (k, v) in file.root.entries() {
            let name = k.as_str().unwrap_or_default();
            match name {
                "services" => {}
                "volumes" | "networks" | "secrets" => body.extend(declarations(&mut ctx, &file.root, name)),
                "name" | "version" => body.push(comment(&format!("`{name}: {}` is not an overlay setting", v.show()))),
                n if n.starts_with("x-") => {}
                _ => {
                    let c = ctx.not_imported(k, name, v, "the stack language has no such top-level setting");
                    body.push(c);
                }
            }
        }
        for (k, over) in file.root.get("services").map(Node::entries).unwrap_or_default() {
            let name = k.scalar().unwrap_or_default();
            let over = normalise_service(over);
            let before = merged.iter().find(|(n, _)| *n == name).map(|(_, s)| s.clone());
            let after = before.as_ref().map_or_else(|| over.clone(), |b| merge(b, &over, ""));
            let old_lines = match &before {
                Some(b) => {
                    // Its notes were made already.
                    let notes = ctx.notes.clone();
                    let lines = service::translate(&mut ctx, &name, b, declared_networks).0;
                    ctx.notes = notes;
                    lines
                }
                None => Vec::new(),
            };
            let (new_lines, _) = service::translate(&mut ctx, &name, &after, declared_networks);
            let changed: Vec<Line> = new_lines.into_iter().filter(|l| !old_lines.contains(l)).collect();
            let sname = ctx.name("service", &name);
            if !changed.is_empty() {
                body.push(String::new());
                body.extend(block(&format!("service {}", q(&sname)), &changed));
            }
            match merged.iter_mut().find(|(n, _)| *n == name) {
                Some((_, s)) => *s = after,
                None => merged.push((name, after)),
            }
        }
        envs.push(format!("env {} {{", q(&env)));
        envs.extend(body.into_iter().map(|l| if l.is_empty() { l } else { format!("    {l}") }));
        envs.push("}".into());
    }

    // Assemble in the language's usual order.
    out.extend(top);
    out.push(String::new());
    out.push(format!("stack {}", q(&stack_name)));
    out.push(String::new());
    out.push(comment(
        "guess: the stack comes from a compose file, so compose is its target; list the others once it suits them",
    ));
    out.push("targets {".into());
    out.push("    compose".into());
    out.push("}".into());
    if !ctx.params.is_empty() {
        out.push(String::new());
        for (name, p) in &ctx.params {
            let mut line = format!("param {}", q(name));
            match (&p.default, p.required) {
                (_, true) => {
                    out.push(comment(&format!(
                        "guess: required: compose substitutes an empty string when {} is unset",
                        p.env
                    )));
                    line.push_str(&format!(" env={} required=#true", q(&p.env)));
                }
                (Some(d), false) => line.push_str(&format!(" default={} env={}", q(d), q(&p.env))),
                // A variable passed through: unset at deploy time, unset in the container.
                (None, false) => line.push_str(&format!(" env={} optional=#true", q(&p.env))),
            }
            out.push(line);
        }
    }
    if !ctx.secrets.is_empty() || !secrets_decl.is_empty() {
        out.push(String::new());
        out.extend(secrets_decl);
        for (name, source) in &ctx.secrets {
            if let Some(cs) = ctx.secret_comments.get(name) {
                out.extend(cs.iter().cloned());
            }
            out.push(format!("secret {} {source}", q(name)));
        }
    }
    if !networks.is_empty() || needs_default_network {
        out.push(String::new());
        out.extend(networks);
        if needs_default_network && !ctx.renames.contains_key(&("network", "default".to_string())) {
            out.push(comment(
                "guess: compose puts services without `networks:` on its `default` network; the stack names it",
            ));
            out.push("network \"default\"".into());
        }
    }
    if !volumes.is_empty() {
        out.push(String::new());
        out.extend(volumes);
    }
    for t in templates::factor(&mut ctx, inputs[0].text, base, &mut services) {
        out.push(String::new());
        out.extend(t);
    }
    for (name, lines) in &services {
        out.push(String::new());
        out.extend(block(&format!("service {}", q(name)), lines));
    }
    for l in envs {
        if l == "env \"\" {" {
            continue;
        }
        if l.starts_with("env ") {
            out.push(String::new());
        }
        out.push(l);
    }
    let mut text = out.join("\n");
    text.push('\n');

    let text = relax_lints(&text);
    let text = crate::fmt::format(&text).unwrap_or(text);
    let mut notes: Vec<Note> = ctx.notes.into_iter().collect();
    notes.extend(remaining_errors(&text, inputs[0].name));
    Ok(Imported { text, notes })
}

/// `NAME { lines }` with the lines' comments, indented.
fn block(head: &str, lines: &[Line]) -> Vec<String> {
    let mut out = vec![format!("{head} {{")];
    for l in lines {
        out.extend(l.comments.iter().map(|c| format!("    {c}")));
        out.push(format!("    {}", l.text));
    }
    out.push("}".into());
    out
}

/// A compose file keeps what it keeps: a database published on every address stays
/// published there. The lints that are errors by default are lowered to warnings, with the
/// reason, so the imported stack checks and the warning stays visible.
fn relax_lints(text: &str) -> String {
    let out = crate::check("import.stack.kdl", text, &crate::Options::default());
    let mut deny: BTreeSet<&'static str> = BTreeSet::new();
    for d in out.diagnostics.iter().filter(|d| d.is_error()) {
        if crate::validate::lints::LINTS.iter().any(|l| l.code == d.code) {
            deny.insert(d.code.info().name);
        }
    }
    if deny.is_empty() {
        return text.to_string();
    }
    let lints: Vec<String> = deny.iter().map(|l| q(l)).collect();
    format!(
        "{text}\n// guess: the compose file does this on purpose or by mistake; review, then remove this policy\npolicy {{\n    warn {} reason=\"imported as the compose file has it\"\n}}\n",
        lints.join(" ")
    )
}

/// What still keeps the stack from checking (a compose file that compose itself would
/// refuse, such as two services publishing one port), as notes at the stack's lines, so
/// that the user hears of it from the import.
fn remaining_errors(text: &str, compose: &str) -> Vec<Note> {
    let out = crate::check("imported stack", text, &crate::Options::default());
    out.diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            let (line, column) = d.primary.as_ref().map_or((0, 0), |l| {
                let (line, column) = out.sources.get(l.span.source).line_col(l.span.offset);
                (line as u64, column as u64)
            });
            Note {
                file: "imported stack".into(),
                line,
                column,
                key: d.code.info().code.to_string(),
                message: format!("the stack imported from {compose} does not check: {}", d.message),
            }
        })
        .collect()
}

/// Top-level `networks:`, `volumes:` or `secrets:` of a file as declarations.
fn declarations(ctx: &mut Ctx, root: &Node, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(section) = root.get(kind) else {
        return out;
    };
    for (k, v) in section.entries() {
        let compose = k.scalar().unwrap_or_default();
        let singular = match kind {
            "networks" => "network",
            "volumes" => "volume",
            _ => "secret",
        };
        let name = ctx.name(singular, &compose);
        let mut props = String::new();
        let mut comments = Vec::new();
        // Children of the declaration (`driver-opts`).
        let mut block: Vec<String> = Vec::new();
        if name != compose {
            comments.push(comment(&format!("guess: `{compose}` renamed to `{name}` (stack names are kebab-case)")));
        }
        for (pk, pv) in v.entries() {
            let p = pk.as_str().unwrap_or_default();
            let path = format!("{kind}.{compose}.{p}");
            match (singular, p) {
                (_, "external") if pv.value == Value::Bool(true) => props.push_str(" external=#true"),
                (_, "external") if pv.value == Value::Bool(false) => {}
                ("network", "internal") if pv.value == Value::Bool(true) => props.push_str(" internal=#true"),
                ("network", "internal") if pv.value == Value::Bool(false) => {}
                ("network", "driver") if matches!(pv.as_str(), Some("bridge" | "overlay")) => {
                    props.push_str(&format!(" driver={}", q(pv.as_str().unwrap_or_default())));
                }
                ("network", "ipam") if ipam_is_stack_shaped(pv) => props.push_str(&ipam_props(pv)),
                ("network", "enable_ipv6") if matches!(pv.value, Value::Bool(_)) => {
                    if pv.value == Value::Bool(true) {
                        props.push_str(" ipv6=#true");
                    }
                }
                ("network", "name") if pv.as_str().is_some() => {
                    props.push_str(&format!(" name={}", q(pv.as_str().unwrap_or_default())));
                }
                ("volume", "driver") if pv.as_str().is_some() => {
                    props.push_str(&format!(" driver={}", q(pv.as_str().unwrap_or_default())));
                }
                ("network" | "volume", "driver_opts") if pv.entries().iter().all(|(_, v)| v.scalar().is_some()) => {
                    let opts: Vec<String> = pv
                        .entries()
                        .iter()
                        .map(|(k, v)| {
                            format!("{}={}", key(&k.scalar().unwrap_or_default()), q(&v.scalar().unwrap_or_default()))
                        })
                        .collect();
                    if !opts.is_empty() {
                        block.push(format!("    driver-opts {}", opts.join(" ")));
                    }
                }
                ("network", "ipam") => {
                    let configs = pv.get("config").map(|c| match &c.value {
                        Value::Seq(items) => items.clone(),
                        _ => Vec::new(),
                    });
                    let subnet =
                        configs.as_ref().and_then(|c| c.first()).and_then(|c| c.get("subnet")).and_then(Node::as_str);
                    match subnet {
                        Some(s) => props.push_str(&format!(" subnet={}", q(s))),
                        None => comments.push(ctx.not_imported(pk, &path, pv, "only an ipam subnet is imported")),
                    }
                    let extra = configs.as_ref().map_or(0, |c| c.len()) > 1
                        || pv.get("driver").is_some()
                        || pv.get("config").and_then(|c| match &c.value {
                            Value::Seq(items) => items.first().map(|i| i.entries().len() > 1),
                            _ => None,
                        }) == Some(true);
                    if subnet.is_some() && extra {
                        comments.push(ctx.not_imported(pk, &path, pv, "only the first ipam subnet is imported"));
                    }
                }
                ("secret", "file") => match pv.as_str() {
                    Some(f) => props.push_str(&format!(" file={}", q(f))),
                    None => comments.push(ctx.not_imported(pk, &path, pv, "a file path is expected")),
                },
                ("secret", "environment") => match pv.as_str() {
                    Some(e) => props.push_str(&format!(" env={}", q(e))),
                    None => comments.push(ctx.not_imported(pk, &path, pv, "a variable name is expected")),
                },
                _ => comments.push(ctx.not_imported(pk, &path, pv, "the stack language has no such setting here")),
            }
        }
        if singular == "secret" && props.is_empty() {
            comments.push(comment("guess: no `file:`, `environment:` or `external:`; declared as external"));
            props.push_str(" external=#true");
        }
        if singular == "secret" {
            // With the secrets that environment variables add, so that names stay unique.
            ctx.secret_comments.entry(name.clone()).or_default().extend(comments);
            ctx.secrets.insert(name, props.trim_start().to_string());
        } else {
            out.extend(comments);
            if block.is_empty() {
                out.push(format!("{singular} {}{props}", q(&name)));
            } else {
                out.push(format!("{singular} {}{props} {{\n{}\n}}", q(&name), block.join("\n")));
            }
        }
    }
    out
}

/// An `ipam` the stack can say whole: no driver or options, at most one IPv4 and one IPv6
/// range, each with a subnet and at most a gateway.
fn ipam_is_stack_shaped(ipam: &Node) -> bool {
    let Some(Value::Seq(configs)) = ipam.get("config").map(|c| &c.value) else { return false };
    let family = |c: &Node| c.get("subnet").and_then(Node::as_str).map(|s| s.contains(':'));
    let v6: Vec<Option<bool>> = configs.iter().map(family).collect();
    ipam.entries().iter().all(|(k, _)| k.as_str() == Some("config"))
        && !configs.is_empty()
        && v6.iter().all(Option::is_some)
        && v6.iter().filter(|f| **f == Some(true)).count() <= 1
        && v6.iter().filter(|f| **f == Some(false)).count() <= 1
        && configs.iter().all(|c| c.entries().iter().all(|(k, _)| matches!(k.as_str(), Some("subnet" | "gateway"))))
}

/// `subnet=`/`gateway=` and `ipv6-subnet=`/`ipv6-gateway=` of a stack-shaped `ipam`.
fn ipam_props(ipam: &Node) -> String {
    let mut out = String::new();
    let Some(Value::Seq(configs)) = ipam.get("config").map(|c| &c.value) else { return out };
    for c in configs {
        let subnet = c.get("subnet").and_then(Node::as_str).unwrap_or_default();
        let prefix = if subnet.contains(':') { "ipv6-" } else { "" };
        out.push_str(&format!(" {prefix}subnet={}", q(subnet)));
        if let Some(g) = c.get("gateway").and_then(Node::scalar) {
            out.push_str(&format!(" {prefix}gateway={}", q(&g)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(files: &[(&str, &str)]) -> Imported {
        let inputs: Vec<Input> = files.iter().map(|(name, text)| Input { name, text }).collect();
        import(&inputs, "app").expect("imports")
    }

    fn note_keys(i: &Imported) -> Vec<String> {
        i.notes.iter().map(|n| format!("{}:{}:{}:{}", n.file, n.line, n.column, n.key)).collect()
    }

    #[test]
    fn secret_values_are_never_copied() {
        let i = run(&[(
            "c.yml",
            "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: hunter2\n      API_TOKEN: ${API_TOKEN:-dev-token}\n      DATABASE_URL: postgres://u:${DB_PASSWORD}@db/x\n",
        )]);
        assert!(!i.text.contains("hunter2") && !i.text.contains("dev-token"), "{}", i.text);
        assert!(i.text.contains("secret \"postgres-password\" env=\"POSTGRES_PASSWORD\"\n"), "{}", i.text);
        assert!(i.text.contains("env POSTGRES_PASSWORD=(secret)\"postgres-password\""), "{}", i.text);
        assert!(i.text.contains("secret \"api-token\" env=\"API_TOKEN\" optional=#true"), "{}", i.text);
        assert!(i.text.contains("env DATABASE_URL=\"postgres://u:${secret:db-password}@db/x\""), "{}", i.text);
        assert!(
            note_keys(&i).contains(&"c.yml:5:26:services.db.environment.POSTGRES_PASSWORD".to_string()),
            "{:?}",
            i.notes
        );
    }

    #[test]
    fn compose_only_service_settings_become_their_nodes() {
        let i = run(&[(
            "c.yml",
            "services:\n  web:\n    image: nginx:1.27\n    env_file:\n      - ./web.env\n      - path: ./local.env\n        required: false\n    profiles: [debug, Tools]\n    pull_policy: daily\n    sysctls: [\"net.core.somaxconn=1024\"]\n",
        )]);
        assert!(i.text.contains("env-file \"./web.env\"\n"), "{}", i.text);
        assert!(i.text.contains("env-file \"./local.env\" required=#false\n"), "{}", i.text);
        assert!(i.text.contains("sysctl \"net.core.somaxconn\" \"1024\"\n"), "{}", i.text);
        // Not kebab-case, and a policy the language lacks: reported, kept as comments.
        assert!(!i.text.contains("profiles \""), "{}", i.text);
        assert!(i.text.contains("// not imported (c.yml:8): profiles: [\"debug\", \"Tools\"]"), "{}", i.text);
        assert!(i.text.contains("// not imported (c.yml:9): pull_policy: \"daily\""), "{}", i.text);
    }

    #[test]
    fn variables_become_params_and_dollars_stay_literal() {
        let i = run(&[(
            "c.yml",
            "services:\n  web:\n    image: nginx:${TAG:-1.27}\n    command: [\"sh\", \"-c\", \"echo $$HOME ${GREETING:?set it} $NAME\"]\n",
        )]);
        assert!(i.text.contains("param \"tag\" default=\"1.27\" env=\"TAG\""), "{}", i.text);
        assert!(i.text.contains("param \"greeting\" env=\"GREETING\" required=#true"), "{}", i.text);
        assert!(i.text.contains("param \"name\" env=\"NAME\" required=#true"), "{}", i.text);
        assert!(i.text.contains("command \"sh\" \"-c\" \"echo $$HOME ${greeting} ${name}\""), "{}", i.text);
        assert!(i.text.contains("image \"nginx:${tag}\""), "{}", i.text);
    }

    #[test]
    fn what_cannot_be_said_is_reported_with_file_line_and_key_and_kept_as_a_comment() {
        let i = run(&[(
            "base.yml",
            "services:\n  web:\n    image: nginx:1.27\n    stdin_open: true\n    extra_hosts: [\"db:10.0.0.2\"]\n",
        )]);
        assert_eq!(
            note_keys(&i),
            ["base.yml:4:5:services.web.stdin_open", "base.yml:5:5:services.web.extra_hosts"],
            "{:?}",
            i.notes
        );
        assert!(
            i.text.contains(
                "// not imported (base.yml:4): stdin_open: true (the stack language has no such service setting)"
            ),
            "{}",
            i.text
        );
        assert!(i.text.contains("// not imported (base.yml:5): extra_hosts: [\"db:10.0.0.2\"]"), "{}", i.text);
    }

    #[test]
    fn sizes_durations_and_ports_in_compose_spellings() {
        let i = run(&[(
            "c.yml",
            "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8080:80\", \"127.0.0.1:8443:443/tcp\", \"53:53/udp\", \"9000-9001:9000-9001\"]\n    shm_size: 1gb\n    stop_grace_period: 1.5s\n    deploy:\n      resources:\n        limits: {memory: 512m, cpus: '0.5'}\n",
        )]);
        for want in [
            "publish 8080 target=80\n",
            "publish 8443 target=443 host=\"127.0.0.1\"\n",
            "publish 53 protocol=\"udp\"\n",
            "publish 9000\n",
            "publish 9001\n",
            "shm-size \"1Gi\"\n",
            "stop-grace-period \"1s500ms\"\n",
            "resources memory=\"512Mi\" cpus=0.5\n",
        ] {
            assert!(i.text.contains(want), "{want:?} in\n{}", i.text);
        }
    }

    #[test]
    fn overlays_become_environments_with_only_what_they_change() {
        let i = run(&[
            (
                "docker-compose.yml",
                "services:\n  api:\n    image: api:1.0.0\n    environment: [A=1, B=2]\n    ports: ['8080:80']\n",
            ),
            (
                "docker-compose.staging.yml",
                "services:\n  api:\n    environment:\n      B: '3'\n  debug:\n    image: busybox:1.36\n",
            ),
        ]);
        let env = i.text.split("env \"staging\" {").nth(1).expect("an env block");
        assert!(env.contains("    service \"api\" {\n        env B=\"3\"\n    }"), "{}", i.text);
        assert!(!env.contains("env A="), "{}", i.text);
        assert!(!env.contains("publish"), "{}", i.text);
        assert!(env.contains("service \"debug\" {\n        image \"busybox:1.36\""), "{}", i.text);
    }

    #[test]
    fn names_are_made_stack_names_everywhere_they_are_used() {
        let i = run(&[(
            "c.yml",
            "services:\n  my_api:\n    image: api:1.0.0\n    depends_on: [my_db, Cache]\n    volumes: ['app_data:/data']\n  my_db:\n    image: postgres:16\n  Cache:\n    image: redis:7\nvolumes:\n  app_data:\n",
        )]);
        // Services (and networks) keep `_`, which compose keeps; the rest becomes kebab-case.
        assert!(i.text.contains("service \"my_api\""), "{}", i.text);
        assert!(i.text.contains("depends-on \"my_db\""), "{}", i.text);
        assert!(i.text.contains("depends-on \"cache\""), "{}", i.text);
        assert!(i.text.contains("mount \"app-data\" \"/data\""), "{}", i.text);
        assert!(i.text.contains("volume \"app-data\""), "{}", i.text);
    }

    #[test]
    fn the_output_checks_and_is_formatted() {
        let i = run(&[("c.yml", "services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n")]);
        let out = crate::check("i.stack.kdl", &i.text, &crate::Options::default());
        assert!(!out.has_errors(), "{}", i.text);
        assert_eq!(crate::fmt::format(&i.text).as_deref().ok(), Some(i.text.as_str()));
        // A database published on every address: an error by default, lowered with a reason.
        assert!(i.text.contains("warn \"public-database\" reason="), "{}", i.text);
    }

    #[test]
    fn invalid_yaml_is_an_error_at_its_line() {
        let inputs = [Input { name: "bad.yml", text: "services:\n  web:\n    image: [\n" }];
        let err = import(&inputs, "app").err().expect("an error");
        assert_eq!(err.file, "bad.yml");
        assert!(err.line >= 3, "{err}");
        let inputs = [Input { name: "list.yml", text: "- a\n- b\n" }];
        assert!(import(&inputs, "app").is_err());
    }

    #[test]
    fn a_stack_that_does_not_check_is_reported() {
        // Compose refuses this too: two services publish host port 8080.
        let i = run(&[(
            "c.yml",
            "services:\n  a:\n    image: nginx:1.27\n    ports: ['8080:80']\n  b:\n    image: nginx:1.27\n    ports: ['8080:80']\n",
        )]);
        let clash: Vec<&Note> = i.notes.iter().filter(|n| n.file == "imported stack").collect();
        assert_eq!(clash.len(), 1, "{:?}", i.notes);
        assert_eq!(clash[0].key, "E0404");
        assert!(clash[0].message.starts_with("the stack imported from c.yml does not check:"), "{:?}", clash[0]);
    }

    #[test]
    fn extends_of_the_same_file_is_resolved() {
        let i = run(&[(
            "c.yml",
            "services:\n  base:\n    image: api:1.0.0\n    environment: {A: '1'}\n    restart: always\n  worker:\n    extends: base\n    environment: {B: '2'}\n  other:\n    extends: {file: common.yml, service: x}\n    image: nginx:1.27\n",
        )]);
        // What `extends` brought is a template named after the extended service, used by both.
        let block = |head: &str| {
            let b = i.text.split(&format!("{head} {{")).nth(1).unwrap_or_default();
            b.split('}').next().unwrap_or_default().to_string()
        };
        let template = block("template \"base\"");
        for want in ["image \"api:1.0.0\"", "env A=\"1\"", "restart \"always\""] {
            assert!(template.contains(want), "{want:?} in\n{}", i.text);
        }
        assert!(i.text.contains("// guess: what `extends: base` gives base, worker, as a template"), "{}", i.text);
        assert_eq!(block("service \"base\"").trim(), "use \"base\"", "{}", i.text);
        let worker = block("service \"worker\"");
        for want in [
            "// guess: `extends` resolved: the settings of base merged under this service's, as compose does",
            "use \"base\"",
            "env B=\"2\"",
        ] {
            assert!(worker.contains(want), "{want:?} in\n{}", i.text);
        }
        assert!(!worker.contains("image"), "{}", i.text);
        assert!(!worker.contains("extends:"), "{}", i.text);
        assert_eq!(note_keys(&i), ["c.yml:10:14:services.other.extends"], "{:?}", i.notes);
    }

    #[test]
    fn anchors_and_merge_keys_become_templates() {
        let text = "x-common: &common\n  image: api:1.0.0\n  restart: unless-stopped\n  environment: &env\n    LOG_LEVEL: info\nx-logging: &logging\n  driver: json-file\n  options: {max-size: 10m}\nservices:\n  web:\n    <<: *common\n    command: [serve]\n    logging: *logging\n  worker:\n    <<: *common\n    restart: always\n    logging: *logging\n  beat:\n    <<: *common\n    command: [beat]\n";
        let i = run(&[("c.yml", text)]);
        let block = |head: &str| {
            let b = i.text.split(&format!("{head} {{")).nth(1).unwrap_or_default();
            b.split('}')
                .next()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        };
        // `worker` overrides the anchor's `restart`: the template has it, `worker` its own.
        assert_eq!(
            block("template \"common\""),
            "image \"api:1.0.0\"\nenv LOG_LEVEL=\"info\"\nrestart \"unless-stopped\"",
            "{}",
            i.text
        );
        assert_eq!(block("template \"logging\""), "logging driver=\"json-file\" max-size=\"10Mi\"", "{}", i.text);
        assert!(
            i.text.contains("// guess: `x-common: &common`, merged into web, worker, beat, as a template"),
            "{}",
            i.text
        );
        assert!(
            i.text.contains("// guess: `x-logging: &logging` (`logging` only), merged into web, worker, as a template"),
            "{}",
            i.text
        );
        assert_eq!(block("service \"web\""), "use \"common\" \"logging\"\ncommand \"serve\"", "{}", i.text);
        assert_eq!(block("service \"worker\""), "use \"common\" \"logging\"\nrestart \"always\"", "{}", i.text);
        assert_eq!(block("service \"beat\""), "use \"common\"\ncommand \"beat\"", "{}", i.text);
        assert!(i.notes.iter().all(|n| n.file != "imported stack"), "the stack checks: {:?}", i.notes);
    }

    #[test]
    fn repetition_without_anchors_becomes_a_template_only_when_shorter() {
        let svc = |n: &str| {
            format!("  {n}:\n    image: api:1.0.0\n    restart: always\n    environment: {{A: '1', B: '2'}}\n    command: [{n}]\n")
        };
        let three = run(&[("c.yml", &format!("services:\n{}{}{}", svc("a"), svc("b"), svc("c")))]);
        assert!(
            three.text.contains("// guess: settings that a, b, c repeat, as a template\ntemplate \"common\" {"),
            "{}",
            three.text
        );
        assert_eq!(three.text.matches("use \"common\"").count(), 3, "{}", three.text);
        assert!(three.notes.iter().all(|n| n.file != "imported stack"), "the stack checks: {:?}", three.notes);
        let two = run(&[(
            "c.yml",
            "services:\n  a:\n    image: api:1.0.0\n    command: [a]\n  b:\n    image: api:1.0.0\n    command: [b]\n",
        )]);
        assert!(!two.text.contains("template"), "{}", two.text);
    }

    #[test]
    fn odd_shapes_are_reported_not_panicked_on() {
        let cases = [
            "services: 3\n",
            "services:\n  a: null\n",
            "services:\n  a: [1, 2]\n",
            "services:\n  a:\n    image: [x]\n    ports: [{}, ':', '::', '[::1]:80', 'a:b:c:d', '70000:80', '80-79:80-79']\n",
            "services:\n  a:\n    volumes: [':', '::', {}, {type: tmpfs}, '~/x:/y']\n    tmpfs: [':', '/t:size=']\n",
            "services:\n  a:\n    healthcheck: {test: []}\n    command: \"'unclosed\"\n    entrypoint: {}\n",
            "services:\n  a:\n    environment: [null, '=x', 'A']\n    labels: [null]\n    deploy: 3\n    restart: 5\n",
            "services:\n  a:\n    depends_on: {b: {condition: weird}}\n    secrets: [{mode: 99999}]\n    ulimits: {n: {soft: x}}\n",
            "services:\n  a:\n    image: '${'\n    command: ['${A:-${B}}', '$', '${}', '${A!}']\n",
            "services:\n  Ünïcode_Name:\n    image: nginx:1.27\n  '---':\n    image: nginx:1.27\n",
            "networks: 3\nvolumes: [a]\nsecrets: {s: 3}\nservices: {}\n",
        ];
        for (n, text) in cases.iter().enumerate() {
            let name = format!("case{n}.yml");
            let inputs = [Input { name: &name, text }];
            let _ = import(&inputs, "app");
        }
    }
}
