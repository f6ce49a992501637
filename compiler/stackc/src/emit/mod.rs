//! Emitters: one pure function per target from the IR to output files. Backends never
//! import each other and read only `ir` (and report through `diagnostics`); each has
//! `check(&Stack) -> Vec<Diagnostic>` for what its target cannot express for this stack, and
//! `emit(&Stack) -> Vec<OutputFile>`, which cannot fail.

pub mod caddy;
pub mod compose;
pub mod k8s;
pub mod nginx;
pub mod prometheus;
pub mod ufw;
pub mod yaml;

use std::collections::BTreeMap;

use handlebars::{no_escape, Handlebars};
use indexmap::IndexMap;
use serde::Serialize;

pub use self::yaml::yaml;
use crate::diagnostics::{Code, Diagnostic};
use crate::ir::{is_hidden, AlertGroup, Exporter, Stack, TargetKind, Text};

/// One generated file. `path` is relative to the output directory, `/`-separated, and
/// never contains `..` or a leading `/` (checked by `validate` for user-chosen names and
/// asserted by [`is_safe_relative_path`] before anything reaches the CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub path: String,
    pub contents: String,
    /// Whether the file should be executable (scripts).
    pub executable: bool,
}

impl OutputFile {
    pub fn new(path: impl Into<String>, contents: impl Into<String>) -> Self {
        OutputFile { path: path.into(), contents: contents.into(), executable: false }
    }
}

#[derive(Debug, Clone)]
pub struct EmitOptions {
    /// Targets to build; `None`: the stack's `targets` (all of them without a `targets` node).
    pub targets: Option<Vec<TargetKind>>,
    /// The stack file's directory as seen from the output directory (`/`-separated, e.g.
    /// `../..` for the default `build/<stem>` layout). Relative paths in the stack (bind
    /// mounts, secret files, build contexts) are relative to the stack file; generated files
    /// that point at them are read from the output directory.
    pub base_dir: String,
    /// Templates that replace the embedded ones, by name (`nginx/conf`, `caddy/Caddyfile`:
    /// see [`template_names`]); `stackc build --templates DIR` reads them from `DIR/<name>.hbs`.
    pub templates: BTreeMap<String, String>,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions { targets: None, base_dir: ".".into(), templates: BTreeMap::new() }
    }
}

impl EmitOptions {
    /// A stack-relative path (`./x`, `../x`, `x`) as seen from the output directory;
    /// absolute paths are kept.
    pub fn rebase(&self, path: &str) -> String {
        if path.starts_with('/') || self.base_dir == "." || self.base_dir.is_empty() {
            return path.to_string();
        }
        let rest = path.strip_prefix("./").unwrap_or(path);
        if rest == "." || rest.is_empty() {
            return self.base_dir.clone();
        }
        format!("{}/{rest}", self.base_dir.trim_end_matches('/'))
    }
}

#[derive(Debug, Default)]
pub struct Emitted {
    /// Sorted by path.
    pub files: Vec<OutputFile>,
    /// Warnings about what a target could not express for this stack.
    pub diagnostics: Vec<Diagnostic>,
}

/// The targets that have an emitter so far.
pub const IMPLEMENTED: &[TargetKind] = &[
    TargetKind::Compose,
    TargetKind::Nginx,
    TargetKind::Caddy,
    TargetKind::Ufw,
    TargetKind::Prometheus,
    TargetKind::K8s,
];

/// Every template name that `EmitOptions::templates` may override, as `target/name`, sorted.
pub fn template_names() -> Vec<String> {
    let mut out: Vec<String> = nginx::TEMPLATES
        .iter()
        .map(|(n, _)| format!("nginx/{n}"))
        .chain(caddy::TEMPLATES.iter().map(|(n, _)| format!("caddy/{n}")))
        .collect();
    out.sort();
    out
}

/// A handlebars registry for one target: strict mode, no HTML escaping, each embedded
/// template (also usable as a partial) replaced by its override in `opts.templates`.
/// `Err` holds the message of a template that does not parse.
///
/// Parsing the embedded templates costs milliseconds, more than the whole rest of a small
/// stack's build: a registry without overrides is parsed once per process and cloned
/// (see also [`warm_templates`]).
pub(crate) fn registry(
    target: &str,
    embedded: &[(&str, &str)],
    opts: &EmitOptions,
) -> Result<Handlebars<'static>, String> {
    let overridden = embedded.iter().any(|(name, _)| opts.templates.contains_key(&format!("{target}/{name}")));
    match embedded_registry(target) {
        Some(cell) if !overridden => cell.get_or_init(|| parse_registry(target, embedded, opts)).clone(),
        _ => parse_registry(target, embedded, opts),
    }
}

type Registry = std::sync::OnceLock<Result<Handlebars<'static>, String>>;

/// The parsed embedded templates of a target, once per process. A second thread asking
/// while the first parses waits for it (see [`warm_templates`]).
fn embedded_registry(target: &str) -> Option<&'static Registry> {
    static NGINX: Registry = std::sync::OnceLock::new();
    static CADDY: Registry = std::sync::OnceLock::new();
    match target {
        "nginx" => Some(&NGINX),
        "caddy" => Some(&CADDY),
        _ => None,
    }
}

/// Parses the embedded nginx and Caddy templates, for a thread to do while the stack is
/// read, checked and lowered on another (`driver::build`): on a small stack that halves
/// the time to the files. Without a proxy the parse is wasted on a core that is idle.
pub fn warm_templates() {
    let opts = EmitOptions::default();
    for (target, embedded) in [("nginx", nginx::TEMPLATES), ("caddy", caddy::TEMPLATES)] {
        let _ = registry(target, embedded, &opts);
    }
}

fn parse_registry(target: &str, embedded: &[(&str, &str)], opts: &EmitOptions) -> Result<Handlebars<'static>, String> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(no_escape);
    for (name, text) in embedded {
        let full = format!("{target}/{name}");
        let text = opts.templates.get(&full).map(String::as_str).unwrap_or(text);
        // A partial is a template of the registry (`register_partial` compiles the text again
        // under the same name): registered once, each template is also its partial.
        hb.register_template_string(name, text).map_err(|e| format!("template `{full}`: {e}"))?;
    }
    Ok(hb)
}

/// The error of a target whose (overridden) templates do not parse or render.
pub(crate) fn template_error(target: TargetKind, message: &str) -> Diagnostic {
    let d = Diagnostic::error(
        Code::TemplateFailed,
        format!("the {} templates failed: {}", target.name(), message.replace('\n', " ")),
    );
    // Strict mode: the commonest failure is a field that only some entities have.
    if message.contains("strict mode") {
        d.help(
            "the variable is not set for every entity this stack has: guard it with `{{#if …}}` \
             (the embedded templates in stdlib/templates/ show which fields are optional)",
        )
    } else {
        d.help("fix the template given with `--templates` (the embedded templates are in stdlib/templates/)")
    }
}

/// Runs every selected target's emitter.
pub fn emit(stack: &Stack, opts: &EmitOptions) -> Emitted {
    emit_files(stack, opts, false)
}

/// [`emit`] for its diagnostics alone (`stackc check`, the environments of a build): each
/// file's contents are replaced by a digest as soon as its target has rendered it, so that
/// the rendered files are never all in memory at once, while two different files at one path
/// are still told apart.
pub fn emit_checks(stack: &Stack, opts: &EmitOptions) -> Emitted {
    emit_files(stack, opts, true)
}

fn emit_files(stack: &Stack, opts: &EmitOptions, digests: bool) -> Emitted {
    let mut selected = opts.targets.clone().unwrap_or_else(|| stack.targets.selected.clone());
    // The compose file bind-mounts the proxy's and Prometheus' configuration: building it
    // builds them too, so that `--target compose` alone gives a file that runs.
    if selected.contains(&TargetKind::Compose) {
        let mounted = [
            compose::proxy_kind(stack).map(|k| match k {
                compose::ProxyKind::Nginx => TargetKind::Nginx,
                compose::ProxyKind::Caddy => TargetKind::Caddy,
            }),
            monitoring_generated(stack).then_some(TargetKind::Prometheus),
        ];
        for t in mounted.into_iter().flatten() {
            if !selected.contains(&t) {
                selected.push(t);
            }
        }
    }
    let mut out = Emitted::default();
    for origin in &stack.unvalued {
        out.diagnostics.push(
            Diagnostic::warning(
                Code::TargetApproximation,
                "this setting uses a param without a value at build time, and the targets write it as a number: it is left out",
            )
            .at(crate::diagnostics::origin_span(*origin), "no value when the files are built")
            .help("give the param a `default=`: the targets need its value when the files are built"),
        );
    }
    let known = template_names();
    for name in opts.templates.keys().filter(|n| !known.contains(n)) {
        out.diagnostics.push(
            Diagnostic::error(Code::TemplateFailed, format!("there is no template named `{name}`"))
                .help(format!("the templates are: {}", known.join(", "))),
        );
    }
    // The targets read the same IR and nothing else: the Kubernetes target (the largest) runs
    // on a second core beside the others when there is one. The results are put together in
    // the targets' order, so the output does not depend on which finishes first.
    let run = |target: TargetKind| run_target(stack, opts, target, digests);
    let parallel = selected.len() > 1
        && selected.contains(&TargetKind::K8s)
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let results: Vec<(Vec<OutputFile>, Vec<Diagnostic>)> = if parallel {
        std::thread::scope(|scope| {
            let k8s = std::thread::Builder::new()
                .name("stackc-k8s".into())
                .stack_size(16 << 20)
                .spawn_scoped(scope, || run(TargetKind::K8s));
            let mut results: Vec<_> = selected.iter().map(|t| (*t != TargetKind::K8s).then(|| run(*t))).collect();
            let k8s = match k8s {
                Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: here, after the others.
                Err(_) => run(TargetKind::K8s),
            };
            if let Some(at) = selected.iter().position(|t| *t == TargetKind::K8s) {
                results[at] = Some(k8s);
            }
            results.into_iter().flatten().collect()
        })
    } else {
        selected.iter().map(|t| run(*t)).collect()
    };
    for (files, diagnostics) in results {
        out.diagnostics.extend(diagnostics);
        out.files.extend(files);
    }
    out.files.sort_by(|a, b| a.path.cmp(&b.path));
    out.diagnostics.extend(unwritable_files(&mut out.files));
    out
}

/// One target's files (or their digests) and diagnostics.
fn run_target(
    stack: &Stack,
    opts: &EmitOptions,
    target: TargetKind,
    digests: bool,
) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    match target {
        TargetKind::Compose => {
            diagnostics.extend(compose::check(stack));
            files.extend(compose::emit(stack, opts));
        }
        TargetKind::Nginx => {
            diagnostics.extend(nginx::check(stack));
            match nginx::render(stack, opts) {
                Ok(f) => files.extend(f),
                Err(e) => diagnostics.push(template_error(target, &e)),
            }
        }
        TargetKind::Caddy => {
            diagnostics.extend(caddy::check(stack));
            match caddy::render(stack, opts) {
                Ok(f) => files.extend(f),
                Err(e) => diagnostics.push(template_error(target, &e)),
            }
        }
        TargetKind::Prometheus => {
            diagnostics.extend(prometheus::check(stack));
            files.extend(prometheus::emit(stack));
        }
        TargetKind::Ufw => {
            diagnostics.extend(ufw::check(stack));
            files.extend(ufw::emit(stack));
        }
        TargetKind::K8s => {
            let (f, d) = k8s::run(stack, opts);
            diagnostics.extend(d);
            files.extend(f);
        }
    }
    if digests {
        for f in &mut files {
            f.contents = digest(&f.contents);
        }
    }
    (files, diagnostics)
}

/// A 128-bit digest of a file's contents, in hex: what [`unwritable_files`] compares when the
/// contents themselves are not kept. Two SipHash keys, fixed, so that it is deterministic.
fn digest(contents: &str) -> String {
    use std::hash::{Hash, Hasher};
    let half = |key: u64| {
        let mut h = std::hash::DefaultHasher::new();
        key.hash(&mut h);
        contents.hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(0), half(1))
}

/// Names are validated before any target runs, so an unsafe path or two files at one path
/// would be a bug in a target: never write such a file, and never drop it silently either.
/// `files` must be sorted by path.
fn unwritable_files(files: &mut Vec<OutputFile>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut kept: Vec<OutputFile> = Vec::with_capacity(files.len());
    for f in files.drain(..) {
        let problem = if !is_safe_relative_path(&f.path) {
            Some("a path outside the output directory")
        } else if kept.last().is_some_and(|k| k.path == f.path) {
            (kept.last().is_some_and(|k| k.contents != f.contents)).then_some("two different files at one path")
        } else {
            None
        };
        match problem {
            Some(what) => diags.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("stackc generated {what}: {}", crate::diagnostics::quote(&f.path)),
                )
                .help("this is a bug in stackc: please report it with the stack file; the file was not written"),
            ),
            None if kept.last().is_some_and(|k| k.path == f.path) => {}
            None => kept.push(f),
        }
    }
    *files = kept;
    diags
}

/// A relative, `/`-separated path with no `..`, `.`, empty or absolute component.
pub fn is_safe_relative_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains('\0')
        && p.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Free text inside a `#` comment: every line of it stays a comment line (a line break in a
/// description would otherwise start a live line, such as a variable in `.env.example`),
/// and control and invisible characters are spelled as escapes.
pub fn comment_text(s: &str) -> String {
    let lines: Vec<String> = s
        .split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .map(|line| {
            line.chars()
                .map(|c| if c.is_control() || is_hidden(c) { c.escape_unicode().to_string() } else { c.to_string() })
                .collect()
        })
        .collect();
    lines.iter().enumerate().fold(String::new(), |mut out, (i, line)| {
        if i > 0 {
            out.push_str(if line.is_empty() { "\n#" } else { "\n# " });
        }
        out.push_str(line);
        out
    })
}

/// `s` as one sh word, always quoted: single quotes, or double quotes with `\` escapes when
/// it holds a `$`, a backtick, a backslash or a non-ASCII character (shellcheck takes the
/// first three in single quotes for an expansion or escape that single quotes stop, and a
/// typographic quote for a typo).
pub fn shell_quote(s: &str) -> String {
    if s.contains(['$', '`', '\\']) || !s.is_ascii() {
        let mut out = String::from("\"");
        for c in s.chars() {
            if matches!(c, '$' | '`' | '"' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `s` as one sh word: bare when it holds only characters that sh never interprets (no glob
/// `?`, no `&`), else [`shell_quote`]d.
pub fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/:._-=@%+,".contains(&b)) {
        s.to_string()
    } else {
        shell_quote(s)
    }
}

/// The header comment of generated text files.
pub fn header(comment: &str, stack: &Stack) -> String {
    let env = stack.environment.as_deref().map(|e| format!(" (environment {e})")).unwrap_or_default();
    format!(
        "{comment} Generated by stackc from stack `{}`{env}. Do not edit: change the stack and rebuild.\n",
        stack.name
    )
}

// Monitoring presets, shared by the compose target (which runs the services) and the
// Prometheus target (which scrapes them): both must agree on names, images, ports and paths,
// and backends do not import each other.

/// What stackc knows about an exporter kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExporterPreset {
    pub kind: &'static str,
    /// Pinned: `:latest` of an exporter changes flags and metric names without notice.
    pub image: &'static str,
    /// The port its metrics (and, for blackbox, its probes) are served on.
    pub port: u16,
    pub path: &'static str,
}

/// Every kind of `monitoring > exporters` (`schema::EXPORTERS`), in that order.
pub(crate) const EXPORTER_PRESETS: &[ExporterPreset] = &[
    ExporterPreset { kind: "node", image: "prom/node-exporter:v1.8.1", port: 9100, path: "/metrics" },
    ExporterPreset { kind: "cadvisor", image: "gcr.io/cadvisor/cadvisor:v0.49.1", port: 8080, path: "/metrics" },
    ExporterPreset {
        kind: "postgres",
        image: "prometheuscommunity/postgres-exporter:v0.15.0",
        port: 9187,
        path: "/metrics",
    },
    ExporterPreset { kind: "mysql", image: "prom/mysqld-exporter:v0.15.1", port: 9104, path: "/metrics" },
    ExporterPreset { kind: "redis", image: "oliver006/redis_exporter:v1.62.0", port: 9121, path: "/metrics" },
    ExporterPreset { kind: "mongodb", image: "percona/mongodb_exporter:0.40.0", port: 9216, path: "/metrics" },
    ExporterPreset { kind: "blackbox", image: "prom/blackbox-exporter:v0.25.0", port: 9115, path: "/metrics" },
    ExporterPreset { kind: "nginx", image: "nginx/nginx-prometheus-exporter:1.1.0", port: 9113, path: "/metrics" },
];

/// The Prometheus server: the 2.53 LTS line (3.x dropped flags and changed defaults that
/// stacks written for 2.x rely on).
pub(crate) const PROMETHEUS_IMAGE: &str = "prom/prometheus:v2.53.0";
pub(crate) const PROMETHEUS_PORT: u16 = 9090;
/// 0.26 is the first Alertmanager that reads a webhook URL from a file (`url_file`).
pub(crate) const ALERTMANAGER_IMAGE: &str = "prom/alertmanager:v0.27.0";
pub(crate) const ALERTMANAGER_PORT: u16 = 9093;
/// Where the Prometheus target writes `prometheus.yml` and `rules/`; compose mounts it.
pub(crate) const PROMETHEUS_DIR: &str = "prometheus";
/// Where the Prometheus target writes `alertmanager.yml`; compose mounts it.
pub(crate) const ALERTMANAGER_DIR: &str = "alertmanager";

// Grafana: the Prometheus target provisions a Grafana of the stack (found by its image) with
// the stack's Prometheus and Loki; compose mounts the files (`docs/targets/prometheus.md`,
// "Grafana").

/// Grafana's official images, by `image_base`.
pub(crate) const GRAFANA_IMAGES: &[&str] = &["grafana", "grafana-oss", "grafana-enterprise"];
/// Loki's image, by `image_base`, and the HTTP port it listens on by default.
pub(crate) const LOKI_IMAGES: &[&str] = &["loki"];
pub(crate) const LOKI_PORT: u16 = 3100;
/// A certbot image (`certbot/certbot`, the DNS plugin images `certbot/dns-*`): compose
/// refuses one beside the certbot it generates for nginx, Kubernetes leaves it out.
pub(crate) fn is_certbot_image(image: &str) -> bool {
    image_repository_and_tag(image).0.split('/').next() == Some("certbot")
}
/// Where the Prometheus target writes Grafana's provisioning files; compose mounts it at
/// Grafana's `/etc/grafana/provisioning`.
pub(crate) const GRAFANA_PROVISIONING_DIR: &str = "grafana/provisioning";
/// The dashboards folder: the deployment's own JSON files (stackc writes none there), mounted
/// at `GRAFANA_DASHBOARDS` and read by the generated dashboards provider.
pub(crate) const GRAFANA_DASHBOARDS_DIR: &str = "grafana/dashboards";
pub(crate) const GRAFANA_DASHBOARDS: &str = "/var/lib/grafana/dashboards";

/// The stack's services whose image is one of `images`.
pub(crate) fn services_with_images<'a>(
    stack: &'a Stack,
    images: &'a [&str],
) -> impl Iterator<Item = &'a crate::ir::Service> {
    stack
        .services
        .values()
        .filter(move |s| s.image.as_ref().is_some_and(|i| images.contains(&image_base(&stack.compile_time(i)))))
}

/// Grafana's provisioning directory inside its container.
pub(crate) const GRAFANA_PROVISIONING: &str = "/etc/grafana/provisioning";

/// The Grafana services stackc provisions: only when the Prometheus target writes the files,
/// and not one that mounts its own provisioning or dashboards directory, or a part of them
/// (the stack's files win; compose refuses two mounts at one path).
pub(crate) fn provisioned_grafanas(stack: &Stack) -> Vec<&crate::ir::Service> {
    if !monitoring_generated(stack) {
        return Vec::new();
    }
    let own = |s: &crate::ir::Service| {
        s.mounts.iter().any(|m| {
            let target = stack.compile_time(&m.target);
            let target = target.trim_end_matches('/');
            [GRAFANA_PROVISIONING, GRAFANA_DASHBOARDS]
                .iter()
                .any(|dir| target == *dir || target.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')))
        })
    };
    services_with_images(stack, GRAFANA_IMAGES).filter(|s| !own(s)).collect()
}

/// A backup's last success, in seconds since the epoch: written by compose's backup script
/// into `BACKUP_METRICS_DIR` (a node-exporter textfile, `<backup>.prom`) after every step
/// succeeded, and read by the Prometheus target's backup-age alerts.
pub(crate) const BACKUP_METRIC: &str = "stackc_backup_last_success_timestamp_seconds";
/// The host directory of those files, relative to the deployed build.
pub(crate) const BACKUP_METRICS_DIR: &str = "backup/metrics";
/// Where the node exporter reads them (`--collector.textfile.directory`).
pub(crate) const TEXTFILE_DIR: &str = "/var/lib/node_exporter/textfile";

pub(crate) fn exporter_preset(kind: &str) -> Option<&'static ExporterPreset> {
    EXPORTER_PRESETS.iter().find(|p| p.kind == kind)
}

/// An exporter's scrape job: `job`, path and port. The job is the kind (`up{job="postgres"}`,
/// the name alerts are usually written with), except for blackbox, whose kind names the probe
/// job; a `metrics` node in the exporter's block overrides all three.
pub(crate) fn exporter_job(e: &Exporter) -> (String, String, u16) {
    match &e.service.metrics {
        Some(m) => (m.job.clone(), m.path.clone(), m.port),
        None => exporter_default_job(&e.kind),
    }
}

/// The scrape job of an exporter of this kind without a `metrics` node (lowering gives a
/// `metrics` node's missing settings these values too).
pub(crate) fn exporter_default_job(kind: &str) -> (String, String, u16) {
    let preset = exporter_preset(kind);
    let job = if kind == "blackbox" { "blackbox-exporter".to_string() } else { kind.to_string() };
    (job, preset.map_or("/metrics", |p| p.path).to_string(), preset.map_or(0, |p| p.port))
}

/// nginx and Caddy write durations and sizes with the params' compile-time values: an
/// E0501 at each one that names a param without a value, which would otherwise be left out.
pub(crate) fn proxy_amounts_without_value(stack: &Stack, target: TargetKind) -> Vec<Diagnostic> {
    let proxy = stack.proxy.as_ref();
    let amounts = proxy.map(|p| [("hsts=", &p.tls.hsts), ("body-limit", &p.body_limit)]).into_iter().flatten().chain(
        stack.sites.iter().flat_map(|site| {
            std::iter::once(("body-limit", &site.body_limit))
                .chain(site.routes.iter().flat_map(|r| [("timeout=", &r.timeout), ("body-limit=", &r.body_limit)]))
        }),
    );
    amounts
        .filter_map(|(what, a)| a.as_ref().filter(|a| a.value.is_none()).map(|a| (what, a)))
        .map(|(what, a)| {
            let params: Vec<String> = a.params().map(|p| format!("`{p}`")).collect();
            Diagnostic::error(
                Code::TargetCannotExpress,
                format!("{} cannot read the deploy environment: `{what}` has no value at build time", target.name()),
            )
            .at(crate::diagnostics::origin_span(a.origin), format!("{} has no `default=`", params.join(", ")))
            .help(format!("give the param a `default=`: {} gets params' defaults", target.name()))
        })
        .collect()
}

/// Whether the stack's monitoring services and their configuration are generated: it has a
/// `monitoring` node and selects the Prometheus target (which writes the files compose mounts).
pub(crate) fn monitoring_generated(stack: &Stack) -> bool {
    stack.monitoring.is_some() && stack.targets.selected.contains(&TargetKind::Prometheus)
}

// Backups: what the compose and Kubernetes targets both derive from a `backup` (the engine,
// the database service and how to log in to it, the file's name); each target then runs the
// steps its own way.

/// `date -u` format of a backup file's time stamp: a UTC time stamp sorts by time, and has
/// no `:` (which some tools read as host:path).
pub(crate) const BACKUP_STAMP_FORMAT: &str = "+%Y%m%dT%H%M%SZ";
/// The `find -name` pattern of a stamp (so that `db-…` never matches `db-hourly-…`).
pub(crate) const BACKUP_STAMP_GLOB: &str = "????????T??????Z";

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackupEngine {
    Postgres,
    Redis,
    Volume,
}

pub(crate) struct BackupJob<'a> {
    pub b: &'a crate::ir::Backup,
    pub engine: BackupEngine,
    pub db: Option<&'a crate::ir::Service>,
    /// The file's extension before encryption (`sql.gz`, `dump`, `rdb.gz`, `tar.gz`).
    pub ext: String,
    pub gzip: bool,
    /// `to=` when it is a directory (on the host, or a claim); `None`: S3.
    pub to_dir: Option<crate::ir::Text>,
    /// `copy-to=` when it is a directory.
    pub copy_dir: Option<crate::ir::Text>,
    /// S3 destinations, `copy-to=` first: (the script's variable, URL).
    pub uploads: Vec<(&'static str, crate::ir::Text)>,
}

impl<'a> BackupJob<'a> {
    pub fn new(stack: &'a Stack, b: &'a crate::ir::Backup) -> BackupJob<'a> {
        let engine = match (b.volume.is_some(), b.engine.as_deref()) {
            (true, _) => BackupEngine::Volume,
            (false, Some("redis")) => BackupEngine::Redis,
            _ => BackupEngine::Postgres,
        };
        let db = b.service.as_ref().and_then(|s| stack.services.get(s));
        let custom = engine == BackupEngine::Postgres && b.format.as_deref() == Some("custom");
        // A custom archive is compressed by pg_dump itself; gzip would only cost time.
        let gzip = b.compress && !custom;
        let base = match engine {
            BackupEngine::Postgres if custom => "dump",
            BackupEngine::Postgres => "sql",
            BackupEngine::Redis => "rdb",
            BackupEngine::Volume => "tar",
        };
        let ext = if gzip { format!("{base}.gz") } else { base.to_string() };
        let is_s3 = |t: &crate::ir::Text| stack.compile_time(t).starts_with("s3://");
        let to = crate::ir::Text::from_default(&b.to);
        let to_dir = (!is_s3(&to)).then(|| to.clone());
        let (mut uploads, mut copy_dir) = (Vec::new(), None);
        if let Some(c) = &b.copy_to {
            let c = crate::ir::Text::from_default(c);
            if is_s3(&c) {
                uploads.push(("BACKUP_S3_COPY", c));
            } else {
                copy_dir = Some(c);
            }
        }
        if to_dir.is_none() {
            uploads.push(("BACKUP_S3_TO", to));
        }
        BackupJob { b, engine, db, ext, gzip, to_dir, copy_dir, uploads }
    }

    pub fn name(&self) -> &str {
        &self.b.name
    }

    /// The final file name; `stamp` is the shell expansion of the time stamp.
    pub fn final_name_with(&self, stamp: &str) -> String {
        let gpg = if self.b.encrypt_secret.is_some() { ".gpg" } else { "" };
        format!("{}-{stamp}.{}{gpg}", self.b.name, self.ext)
    }

    /// The `find -name` pattern of this backup's files, and only of them.
    pub fn final_glob(&self) -> String {
        self.final_name_with(BACKUP_STAMP_GLOB)
    }

    /// `password=`, else the database service's own password secret.
    pub fn password(&self) -> Option<&'a str> {
        if let Some(p) = &self.b.password_secret {
            return Some(p);
        }
        let key = match self.engine {
            BackupEngine::Postgres => "POSTGRES_PASSWORD",
            BackupEngine::Redis => "REDIS_PASSWORD",
            BackupEngine::Volume => return None,
        };
        match self.db?.env.get(key)? {
            crate::ir::EnvValue::Secret(name) => Some(name),
            crate::ir::EnvValue::Text(_) => None,
        }
    }

    pub fn port(&self) -> u16 {
        let default = if self.engine == BackupEngine::Redis { 6379 } else { 5432 };
        self.db.and_then(|d| d.ports.first()).map_or(default, |p| p.port)
    }

    /// A setting of the database service's environment (`POSTGRES_USER`), as text.
    fn db_env(&self, key: &str) -> Option<crate::ir::Text> {
        match self.db?.env.get(key)? {
            crate::ir::EnvValue::Text(t) => Some(t.clone()),
            crate::ir::EnvValue::Secret(_) => None,
        }
    }

    /// `user=`, else the image's `POSTGRES_USER`, else `postgres`.
    pub fn pg_user(&self) -> crate::ir::Text {
        self.b
            .user
            .as_deref()
            .map(crate::ir::Text::from_default)
            .or_else(|| self.db_env("POSTGRES_USER"))
            .unwrap_or_else(|| crate::ir::Text::lit("postgres"))
    }

    /// `database=`, else the image's `POSTGRES_DB`, else the user's name (as the image does).
    pub fn pg_database(&self) -> crate::ir::Text {
        self.b
            .database
            .as_deref()
            .map(crate::ir::Text::from_default)
            .or_else(|| self.db_env("POSTGRES_DB"))
            .unwrap_or_else(|| self.pg_user())
    }
}

impl BackupJob<'_> {
    /// The dump step's commands once its settings are read: the dump under a hidden partial
    /// name, compressed if asked, then renamed to its final name (or, with encryption, to the
    /// hidden clear-text name the encrypt step removes). `stamp` names the shell variable
    /// that holds the time stamp.
    pub fn dump_commands(&self, stamp: &str) -> String {
        let b = self.b;
        let mut out = String::new();
        let base = self.ext.trim_end_matches(".gz");
        let out_name = if b.encrypt_secret.is_some() {
            format!(".{}-${{{stamp}}}.{}.clear", b.name, self.ext)
        } else {
            self.final_name_with(&format!("${{{stamp}}}"))
        };
        out.push_str(&format!(
            "out=\"$BACKUP_DIR/{out_name}\"\ntmp=\"$BACKUP_DIR/.{}-${{{stamp}}}.{base}.partial\"\n",
            b.name
        ));
        out.push_str("trap 'rm -f \"$tmp\" \"$tmp.gz\"' EXIT\ntrap 'exit 1' HUP INT TERM\n");
        match self.engine {
            BackupEngine::Postgres => {
                let mut cmd = String::from("pg_dump");
                cmd.push_str(match b.format.as_deref() {
                    Some("custom") => " --format=custom",
                    _ => " --format=plain",
                });
                if b.no_owner {
                    cmd.push_str(" --no-owner");
                }
                if b.no_privileges {
                    cmd.push_str(" --no-privileges");
                }
                cmd.push_str(" --file=\"$tmp\"\n");
                out.push_str(&cmd);
            }
            BackupEngine::Redis => {
                let user = if b.user.is_some() { " --user \"$REDIS_USER\"" } else { "" };
                out.push_str(&format!("redis-cli -h \"$REDIS_HOST\" -p \"$REDIS_PORT\"{user} --rdb \"$tmp\"\n"));
            }
            BackupEngine::Volume => out.push_str("tar -C \"$BACKUP_SOURCE\" -cf \"$tmp\" .\n"),
        }
        if self.gzip {
            out.push_str("gzip -f \"$tmp\"\nmv \"$tmp.gz\" \"$out\"\n");
        } else {
            out.push_str("mv \"$tmp\" \"$out\"\n");
        }
        out.push_str("trap - EXIT\n");
        out.push_str(&format!("echo \"backup {}: dump written\"\n", b.name));
        out
    }

    /// The encrypt step's commands: gpg AES-256 from the hidden clear-text dump to the final
    /// name; the clear text is removed whether gpg succeeds or not.
    pub fn encrypt_commands(&self, stamp: &str) -> String {
        let b = self.b;
        let mut out = format!(
            "clear=\"$BACKUP_DIR/.{name}-${{{stamp}}}.{ext}.clear\"\nout=\"$BACKUP_DIR/{final}\"\ntmp=\"$BACKUP_DIR/.{name}-${{{stamp}}}.{ext}.gpg.partial\"\n",
            name = b.name,
            ext = self.ext,
            final = self.final_name_with(&format!("${{{stamp}}}"))
        );
        out.push_str(
            "# The clear-text dump never outlives this step, whether it succeeds or not.\n\
             trap 'rm -f \"$tmp\" \"$clear\"; rm -rf \"${GNUPGHOME:-}\"' EXIT\ntrap 'exit 1' HUP INT TERM\n\
             GNUPGHOME=$(mktemp -d)\nexport GNUPGHOME\n\
             gpg --batch --yes --no-tty --pinentry-mode loopback --passphrase-file \"$BACKUP_PASSPHRASE_FILE\" \\\n    --symmetric --cipher-algo AES256 --output \"$tmp\" \"$clear\"\n\
             mv \"$tmp\" \"$out\"\n",
        );
        out.push_str(&format!("echo \"backup {}: encrypted\"\n", b.name));
        out
    }
}

/// The repository of an image without registry host, `library/`, tag or digest
/// (`grafana/grafana` for `docker.io/grafana/grafana:11.4.0`), and its tag.
pub(crate) fn image_repository_and_tag(image: &str) -> (&str, &str) {
    let image = image.split('@').next().unwrap_or(image);
    let (path, tag) = match image.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, t),
        _ => (image, ""),
    };
    // A first component with a `.` or `:` (or `localhost`) is a registry host.
    let path = match path.split_once('/') {
        Some((host, rest)) if host.contains('.') || host.contains(':') || host == "localhost" => rest,
        _ => path,
    };
    (path.strip_prefix("library/").unwrap_or(path), tag)
}

/// An image's name without registry, path, tag or digest (`docker.io/library/postgres:16` →
/// `postgres`).
pub(crate) fn image_base(image: &str) -> &str {
    let (repository, _) = image_repository_and_tag(image);
    repository.rsplit('/').next().unwrap_or(repository)
}

/// The official Postgres image and those built on it (the same data directory and variables).
pub(crate) const POSTGRES_IMAGES: &[&str] = &["postgres", "postgis", "timescaledb"];

// ---------------------------------------------------------------------------------------
// Prometheus rule groups: the Prometheus target's rule files and the k8s target's
// PrometheusRule (whose `spec.groups` is the same schema) serialize the same groups.
// ---------------------------------------------------------------------------------------

/// Milliseconds in Prometheus' duration spelling (`1m30s`, `90d`, `500ms`).
pub(crate) fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400_000u64), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
        let n = rest / size;
        rest %= size;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// A stack string (`$$` a literal `$`, `${param}` its default) as Prometheus gets it.
/// `{{ $labels.x }}` and `$value` are literal text in the stack, so they are kept.
pub(crate) fn rule_value(stack: &Stack, s: &str) -> String {
    Text::from_default(s).render(|name| stack.param_value(name).unwrap_or_default())
}

#[derive(Serialize)]
pub(crate) struct RuleGroup {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<u64>,
    pub(crate) rules: Vec<AnyRule>,
}

/// A recording or an alerting rule, as the group's `rules` list holds both.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum AnyRule {
    Record(RecordYaml),
    Alert(Rule),
}

#[derive(Serialize)]
pub(crate) struct RecordYaml {
    record: String,
    expr: Multiline,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    labels: IndexMap<String, String>,
}

#[derive(Serialize)]
pub(crate) struct Rule {
    pub(crate) alert: String,
    pub(crate) expr: Multiline,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub(crate) for_: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) labels: IndexMap<String, String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub(crate) annotations: IndexMap<String, Multiline>,
}

/// An expression or annotation: written as a literal block scalar (`|`) when it spans lines,
/// so that it reads in review as it was written, rather than as one quoted line of `\n`s.
/// Text with an invisible character stays a quoted scalar, where `yaml` escapes it.
pub(crate) struct Multiline(pub(crate) String);

impl Serialize for Multiline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.contains('\n') && !self.0.chars().any(crate::ir::is_hidden) {
            serde_saphyr::LitStr(&self.0).serialize(s)
        } else {
            self.0.serialize(s)
        }
    }
}

/// One `alerts` group as Prometheus evaluates it: the rule files and the k8s target's
/// PrometheusRule (whose `spec.groups` is the same schema) both serialize this.
pub(crate) fn rule_group(stack: &Stack, group: &AlertGroup) -> RuleGroup {
    // Records first: the group evaluates its rules in order, so alerts that use a recorded
    // metric see this evaluation's value.
    let records = group.records.iter().map(|r| {
        AnyRule::Record(RecordYaml {
            record: r.metric.clone(),
            expr: Multiline(rule_value(stack, &r.expr)),
            labels: r.labels.iter().map(|(k, v)| (k.clone(), rule_value(stack, v))).collect(),
        })
    });
    let alerts = group.alerts.iter().map(|a| {
        let mut labels: IndexMap<String, String> = IndexMap::new();
        if let Some(s) = &a.severity {
            labels.insert("severity".into(), s.clone());
        }
        for (k, v) in &a.labels {
            labels.insert(k.clone(), rule_value(stack, v));
        }
        let mut annotations = IndexMap::new();
        for (key, v) in [("summary", &a.summary), ("description", &a.description), ("runbook_url", &a.runbook)] {
            if let Some(v) = v {
                annotations.insert(key.to_string(), Multiline(rule_value(stack, v)));
            }
        }
        AnyRule::Alert(Rule {
            alert: a.name.clone(),
            expr: Multiline(rule_value(stack, &a.expr)),
            for_: a.for_ms.map(duration),
            labels,
            annotations,
        })
    });
    RuleGroup {
        name: group.name.clone(),
        interval: group.interval_ms.map(duration),
        limit: group.limit,
        rules: records.chain(alerts).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_and_clashing_files_are_errors_not_silent_drops() {
        let mut files = vec![
            OutputFile::new("a/x.yaml", "one"),
            OutputFile::new("a/x.yaml", "one"),
            OutputFile::new("b/y.yaml", "one"),
            OutputFile::new("b/y.yaml", "two"),
            OutputFile::new("../etc/passwd", "root"),
        ];
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let diags = unwritable_files(&mut files);
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a/x.yaml", "b/y.yaml"]);
        assert_eq!(files[1].contents, "one");
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "stackc generated a path outside the output directory: `../etc/passwd`",
                "stackc generated two different files at one path: `b/y.yaml`"
            ]
        );
        assert!(diags
            .iter()
            .all(|d| d.code == Code::TargetCannotExpress && d.severity == crate::diagnostics::Severity::Error));
    }
}
