//! Nothing the stack says is dropped silently, proven from the schema: for every argument and
//! property the language accepts (`schema::TOP`, walked to its leaves), the test sets it to two
//! different values in a base stack (`tests/coverage/base.stack.kdl`, the node created from
//! the schema where the base lacks it), builds every target, and requires of each target the
//! value concerns that it
//! - **reflects** it: the target's files differ between the two values, or
//! - **reports** it: a W0501/E0501 at the value (or naming the property), or an error that
//!   refuses the value, or
//! - is **not applicable**, by the table below (`NOT_APPLICABLE`), with its reason.
//!
//! Where the value kind allows, the same is done with the value given as a `${param}` (the
//! param's default changing between the two builds): a duration, size or string from a param
//! must reach the output as surely as a literal one.
//!
//! A property added to the schema is tested the moment it exists: if no target reflects or
//! reports it, this test fails until it does, or until `NOT_APPLICABLE` says why not.
//! The run ends with a table per target: reflected, reported, not applicable.
//!
//! `STACKC_COVERAGE_ONLY=substring` runs the items whose description contains it and prints
//! each variant's text (to see why one fails).

use std::collections::BTreeMap;

use stackc::diagnostics::{Code, Diagnostic, Severity};
use stackc::emit::{EmitOptions, OutputFile, IMPLEMENTED};
use stackc::ir::TargetKind;
use stackc::schema::{Children, Kind, Merge, NodeSpec, RefKind, TOP};
use stackc::source::{SourceId, Span};
use stackc::syntax::ast::Node;
use stackc::Options;

mod support;
use support::root;

// ---------------------------------------------------------------------------------------
// The items: every value slot of the schema.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Arg(usize),
    Rest,
    Prop(&'static str),
    /// A free `KEY=value` property (env, labels, build args).
    Free,
}

#[derive(Clone)]
struct Item {
    path: Vec<&'static NodeSpec>,
    slot: Slot,
    kind: Kind,
}

impl Item {
    fn node_path(&self) -> String {
        self.path.iter().map(|s| s.name).collect::<Vec<_>>().join(" > ")
    }

    fn describe(&self) -> String {
        let slot = match self.slot {
            Slot::Arg(i) => format!("[{}]", self.path.last().unwrap().args[i].0),
            Slot::Rest => format!("[{}…]", self.path.last().unwrap().rest.unwrap().0),
            Slot::Prop(p) => format!("{p}="),
            Slot::Free => "KEY=".to_string(),
        };
        format!("{} {slot}", self.node_path())
    }

    /// The property's name as a diagnostic would quote it.
    fn name(&self) -> &'static str {
        match self.slot {
            Slot::Prop(p) => p,
            _ => self.path.last().unwrap().name,
        }
    }
}

fn items() -> Vec<Item> {
    fn walk(path: &mut Vec<&'static NodeSpec>, specs: &'static [NodeSpec], out: &mut Vec<Item>) {
        for spec in specs {
            // `env` overlays hold the top level again; overlays have their own tests.
            if path.is_empty() && spec.name == "env" {
                continue;
            }
            path.push(spec);
            for (i, (_, kind)) in spec.args.iter().enumerate() {
                out.push(Item { path: path.clone(), slot: Slot::Arg(i), kind: *kind });
            }
            if let Some((_, kind)) = spec.rest {
                out.push(Item { path: path.clone(), slot: Slot::Rest, kind });
            }
            for p in spec.props {
                out.push(Item { path: path.clone(), slot: Slot::Prop(p.name), kind: p.kind });
            }
            if let Some((_, value, _)) = spec.free_props {
                out.push(Item { path: path.clone(), slot: Slot::Free, kind: value });
            }
            if let Children::Nodes(kids) = spec.children {
                walk(path, kids, out);
            }
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(&mut Vec::new(), TOP, &mut out);
    out
}

// ---------------------------------------------------------------------------------------
// Which targets a value concerns, and what is not applicable.
// ---------------------------------------------------------------------------------------

/// The targets a value concerns: each must reflect or report it.
fn concerned(item: &Item) -> Vec<TargetKind> {
    use TargetKind::*;
    let names: Vec<&str> = item.path.iter().map(|s| s.name).collect();
    match names[..] {
        ["stack", ..] => vec![Compose, K8s],
        ["param", ..] => vec![Compose],
        ["network" | "volume" | "secret" | "env-group", ..] => vec![Compose, K8s],
        // A service's scrape settings are Prometheus' (and the k8s pods' annotations).
        ["service" | "defaults", "metrics", ..] => vec![Prometheus, K8s],
        ["service" | "defaults", ..] => vec![Compose, K8s],
        ["proxy", "mount", ..] => vec![Compose],
        // With nginx, certbot obtains the certificates: its commands are in the compose
        // output (init-certificates.sh), not in nginx's configuration.
        ["proxy", "tls"] if matches!(item.slot, Slot::Prop("email" | "acme-ca")) => vec![Nginx, Caddy, K8s, Compose],
        // The networks the proxy container joins: compose's (Kubernetes has no such networks).
        ["proxy", "networks"] => vec![Compose],
        // The host ports the proxy container is published on: compose's, and UFW opens them.
        ["proxy", "ports"] => vec![Compose, Ufw],
        ["proxy" | "site", ..] => vec![Nginx, Caddy, K8s],
        ["firewall", ..] => vec![Ufw],
        // A generated service's scrape settings are Prometheus' (its own scrape job), as a
        // service's are; k8s runs no monitoring.
        ["monitoring", "prometheus" | "exporter", "metrics", ..] => vec![Prometheus],
        // The generated services of the monitoring: compose runs them.
        ["monitoring", "prometheus" | "exporter", _, ..] => vec![Compose],
        // The intervals are prometheus.yml's `global`; retention is a flag of the server
        // compose runs.
        ["monitoring", "prometheus"] if matches!(item.slot, Slot::Prop("scrape-interval" | "evaluation-interval")) => {
            vec![Prometheus]
        }
        // prometheus.yml's global timeout; the server's command-line flag.
        ["monitoring", "prometheus"] if item.slot == Slot::Prop("scrape-timeout") => vec![Prometheus],
        ["monitoring", "prometheus"] if item.slot == Slot::Prop("lifecycle") => vec![Compose],
        ["monitoring", "prometheus"] => vec![Prometheus, Compose],
        ["monitoring", ..] | ["alerts", ..] => vec![Prometheus],
        ["backup", ..] => vec![Compose, K8s],
        ["policy", ..] => Vec::new(),
        ["targets", t, ..] => IMPLEMENTED.iter().copied().filter(|k| k.name() == t).collect(),
        _ => IMPLEMENTED.to_vec(),
    }
}

/// `(item description prefix, target or None for all, why)`: values a concerned target has
/// no use for. Each entry says why; a reviewer should find each reason convincing.
const NOT_APPLICABLE: &[(&str, Option<&str>, &str)] = &[
    (
        "template",
        None,
        "a template is settings for the services that `use` it, and the test's template has none: its settings \
         are the service's, proven by tests/templates.rs (a templated stack builds to the files of the stack \
         written out)",
    ),
    ("policy", None, "lint levels: they change diagnostics, not files"),
    (
        "monitoring > exporter > stateful",
        Some("compose"),
        "one instance with its named volumes is what `stateful` means, and what a compose service is; only \
         replicas differ (W0501, `service > stateful` with the base's replicas shows it)",
    ),
    (
        "monitoring > prometheus > stateful",
        Some("compose"),
        "one instance with its named volumes is what `stateful` means, and what a compose service is; only \
         replicas differ (W0501, `service > stateful` with the base's replicas shows it)",
    ),
    ("param [name]", None, "a param's identity; its uses are the other items"),
    ("param required=", None, "a check on the deploy environment (the value must be set), not an output"),
    (
        "alerts > pack KEY=",
        None,
        "each pack has its own options, which the test's generic keys are not (E0103); tests/prometheus.rs sets \
         real options (`an_alert_pack_takes_its_options_and_refuses_others`)",
    ),
    (
        "proxy > tls email=",
        Some("nginx"),
        "nginx serves certificates, certbot obtains them: the e-mail is certbot's `--email`, in the compose output (compose is concerned)",
    ),
    (
        "proxy > tls acme-ca=",
        Some("nginx"),
        "nginx serves certificates, certbot obtains them: the CA is certbot's `--server`/`--staging`, in the compose output (compose is concerned)",
    ),
    (
        "proxy > tls session-tickets=",
        Some("caddy"),
        "Caddy always issues session tickets (rotating their keys): `#true` is what it does, and `#false` is reported (W0501)",
    ),
    (
        "proxy > rate-limit [name]",
        None,
        "a zone's name is the routes' reference to it (`rate-limit=`); a zone no route names limits nothing, and its settings are the other items",
    ),
    (
        "> port name=",
        Some("compose"),
        "port names are the stack's own references (routes, probes, metrics); compose's ports have no names",
    ),
    (
        "> service-type [type]",
        Some("compose"),
        "compose reaches a container by its name as a cluster-ip or headless Service would: those two are what compose does; load-balancer and node-port are reported (W0501)",
    ),
    (
        "> pid [mode]",
        Some("compose"),
        "`host` is its only value, so the two builds cannot differ; compose writes it as `pid: host`",
    ),
    (
        "monitoring > prometheus scrape-interval=",
        Some("compose"),
        "a setting of prometheus.yml, which the Prometheus target writes and compose mounts as it is",
    ),
    (
        "monitoring > prometheus evaluation-interval=",
        Some("compose"),
        "a setting of prometheus.yml, which the Prometheus target writes and compose mounts as it is",
    ),

    (
        "secret [name]",
        Some("compose"),
        "a new secret that no service reads: compose declares only the secrets its services use",
    ),
    (
        "env-group [name]",
        Some("compose"),
        "a new env-group that no service takes with `env-from`: there is nothing to write",
    ),
    (
        "defaults > image [image]",
        Some("compose"),
        "every service of the base names its image, which wins over the default: the default applies to none",
    ),
    (
        "stack > domain [host]",
        Some("compose"),
        "the host of sites that name none, which the proxy targets write (nginx, Caddy); compose mounts their files",
    ),
    (
        "secret [name]",
        Some("k8s"),
        "the test adds a secret nothing uses: the Secret holds only the keys pods read (a used one is renamed with \
         its references, which the manifests reflect)",
    ),
    (
        "volume [name]",
        Some("k8s"),
        "the test adds a volume no service mounts: a claim is made for each mounted volume only (an unused claim \
         would provision storage for nothing)",
    ),
    (
        "proxy > upstream [service]",
        Some("k8s"),
        "the test adds an `upstream` without settings: the Service balances over the ready pods whatever it \
         names; each setting of an upstream is W0501 at it (the `upstream` items with a property)",
    ),
    (
        "defaults > image",
        Some("k8s"),
        "every service of the base names its own image, which wins over the default (k8s needs an image for each \
         service, so the base cannot have one without); a service without one takes it (tests/k8s.rs: \
         `a_service_without_image_takes_the_defaults_image`)",
    ),
    (
        "> nginx [directive…]",
        Some("caddy"),
        "raw nginx directives are for the nginx target only; the Caddy target has its own (`caddy`)",
    ),
    (
        "> caddy [directive…]",
        Some("nginx"),
        "raw Caddyfile directives are for the Caddy target only; the nginx target has its own (`nginx`)",
    ),
    (
        "stack > domain",
        Some("k8s"),
        "`domain` is the host of a site that names none; the base's site names its host (a site without one is \
         tested in tests/k8s.rs: `site_without_host_serves_the_stack_domain`)",
    ),
];

fn not_applicable(item: &Item, target: TargetKind) -> Option<&'static str> {
    let d = item.describe();
    NOT_APPLICABLE
        .iter()
        // A prefix starting with `> ` is a setting under any node (`service`, `defaults`, …).
        .find(|(prefix, t, _)| {
            let matches = if prefix.starts_with("> ") { d.contains(prefix) } else { d.starts_with(prefix) };
            matches && t.is_none_or(|t| t == target.name())
        })
        .map(|(_, _, why)| *why)
}

// ---------------------------------------------------------------------------------------
// Values: two valid and different values of each kind.
// ---------------------------------------------------------------------------------------

/// The names the base stack declares, for references.
fn declared(kind: RefKind) -> [&'static str; 2] {
    match kind {
        RefKind::Service => ["web", "api"],
        RefKind::Volume => ["db-data", "uploads"],
        RefKind::Network => ["backend", "frontend"],
        RefKind::Secret => ["db-password", "api-token"],
        RefKind::RateLimit => ["default", "strict"],
        RefKind::Lint => ["latest-tag", "public-port"],
        RefKind::EnvGroup => ["common", "extra"],
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// Two different values (KDL source) of a kind; `None` where a kind has only one.
fn values(kind: Kind) -> [String; 2] {
    let pair = |a: &str, b: &str| [quoted(a), quoted(b)];
    match kind {
        // Valid in every one-line domain below as well (a header name, an object name, a tag).
        Kind::Str
        | Kind::Scalar
        | Kind::Text
        | Kind::HeaderName
        | Kind::HeaderValue
        | Kind::ObjectName
        | Kind::ImageTag
        | Kind::AuthUser => pair("cov-alpha", "cov-beta"),
        Kind::LabelName => pair("cov_alpha", "cov_beta"),
        Kind::HostPort => pair("cov-alpha:17017", "cov-beta:23023"),
        Kind::Name | Kind::ComposeName => pair("cov-a", "cov-b"),
        Kind::Int(lo, hi) => {
            let a = (lo + 3).min(hi);
            let b = if a < hi { a + 1 } else { a - 1 };
            [a.to_string(), b.to_string()]
        }
        Kind::Number(lo, hi) => {
            let a = (lo + 0.25).min(hi);
            [format!("{a}"), format!("{}", if a + 0.5 <= hi { a + 0.5 } else { a - 0.125 })]
        }
        Kind::Bool => ["#true".into(), "#false".into()],
        Kind::Port => ["17017".into(), "23023".into()],
        Kind::PortRef => ["3000".into(), "3001".into()],
        Kind::Duration => pair("17s", "23s"),
        Kind::Size => pair("17Mi", "23Mi"),
        Kind::Cpus => ["0.25".into(), "0.75".into()],
        Kind::Cidr => pair("10.17.0.0/16", "10.23.0.0/16"),
        Kind::Cron => pair("17 3 * * *", "23 4 * * *"),
        Kind::Host => pair("a17.example.com", "a23.example.com"),
        Kind::Address => pair("10.0.0.17", "10.0.0.23"),
        Kind::Image => pair("ghcr.io/cov/img:1.17", "ghcr.io/cov/img:1.23"),
        Kind::EnvName => pair("COV_A", "COV_B"),
        Kind::Path => pair("./cov-a", "./cov-b"),
        Kind::AbsPath | Kind::MountTarget => pair("/cov/a", "/cov/b"),
        Kind::FileName => pair("cov-a.yml", "cov-b.yml"),
        Kind::UrlPath | Kind::RoutePath => pair("/cova/", "/covb/"),
        Kind::MountSource => pair("./cov-a", "./cov-b"),
        Kind::Rate => pair("17r/s", "23r/m"),
        Kind::Promql => pair("up == 17", "up == 23"),
        Kind::Destination => pair("s3://cov-a/x", "s3://cov-b/x"),
        Kind::Url => pair("https://a17.example.com/x", "https://a23.example.com/x"),
        Kind::MediaType => pair("application/x-cov-a", "application/x-cov-b"),
        Kind::Origin => pair("https://a17.example.com", "https://a23.example.com"),
        Kind::Enum(words) => {
            let b = words.get(1).unwrap_or(&words[0]);
            pair(words[0], b)
        }
        Kind::Ref(r) => {
            let [a, b] = declared(r);
            pair(a, b)
        }
        Kind::RawNginx => pair("add_header X-Cov-A 1;", "add_header X-Cov-B 1;"),
        Kind::RawCaddy => pair("header X-Cov-A 1", "header X-Cov-B 1"),
    }
}

/// The two values of an item: those of its kind, except for the key of a keyed node, which
/// must name no node the base has already (`exporter "node"` twice is an error).
fn item_values(item: &Item, nodes: &[Node]) -> [String; 2] {
    let spec = item.path.last().unwrap();
    let keyed = matches!(spec.merge, Merge::Key(0) | Merge::DeepKey) && item.slot == Slot::Arg(0);
    if let (true, Kind::Enum(words)) = (keyed, item.kind) {
        let parent = found_parent(nodes, &item.path[..item.path.len() - 1]);
        let siblings = parent.map_or(nodes, |p| p.children());
        let taken = |w: &&str| siblings.iter().any(|n| n.name.name == spec.name && n.arg_str(0) == Some(*w));
        let free: Vec<&str> = words.iter().copied().filter(|w| !taken(w)).collect();
        if let [a, b, ..] = free[..] {
            return [quoted(a), quoted(b)];
        }
    }
    values(item.kind)
}

/// Whether a `${param}` value is worth trying for this kind (a string the user could take
/// from a param: everything but booleans, enums, numbers and references).
fn param_kind(kind: Kind) -> bool {
    !matches!(kind, Kind::Bool | Kind::Enum(_) | Kind::Ref(_) | Kind::Int(..) | Kind::Number(..) | Kind::Port)
}

// ---------------------------------------------------------------------------------------
// Editing the base stack.
// ---------------------------------------------------------------------------------------

fn base() -> String {
    std::fs::read_to_string(root().join("compiler/stackc/tests/coverage/base.stack.kdl")).unwrap()
}

fn parse(text: &str) -> Vec<Node> {
    let (doc, diags) = stackc::syntax::parse(SourceId(0), text);
    doc.unwrap_or_else(|| panic!("the coverage base does not parse: {diags:?}")).nodes
}

/// The source of a node with what the schema requires (required arguments and properties,
/// the first of `one_of`) and, if given, the slot under test set to its value.
fn node_source(spec: &NodeSpec, slot: Option<(Slot, &str)>) -> String {
    let is = |x: Slot| slot.is_some_and(|(s, _)| s == x);
    let mut words = vec![spec.name.to_string()];
    let wanted = match slot {
        Some((Slot::Arg(i), _)) => spec.min_args.max(i + 1),
        _ => spec.min_args,
    };
    for (j, (_, kind)) in spec.args.iter().enumerate().take(wanted) {
        words.push(match slot {
            Some((Slot::Arg(i), v)) if i == j => v.to_string(),
            _ => values(*kind)[0].clone(),
        });
    }
    match (slot, spec.rest) {
        (Some((Slot::Rest, v)), _) => words.push(v.to_string()),
        (_, Some((_, kind))) if spec.min_args > spec.args.len() => words.push(values(kind)[0].clone()),
        _ => {}
    }
    let mut props: Vec<&str> = spec.required.to_vec();
    if !spec.one_of.iter().any(|p| is(Slot::Prop(p))) {
        props.extend(spec.one_of.first());
    }
    for name in props.into_iter().filter(|n| !is(Slot::Prop(n))) {
        let p = spec.prop(name).unwrap();
        let v = if p.secret_only {
            format!("(secret){}", quoted(declared(RefKind::Secret)[1]))
        } else {
            values(p.kind)[0].clone()
        };
        words.push(format!("{name}={v}"));
    }
    match slot {
        Some((Slot::Prop(p), v)) => words.push(format!("{p}={v}")),
        Some((Slot::Free, v)) => words.push(v.to_string()),
        _ => {}
    }
    // An extra property the slot sets itself is not repeated (a duplicate is an error).
    let extra = EXTRA.iter().find(|(name, _)| *name == spec.name).map(|(_, e)| *e);
    if let Some(extra) = extra.filter(|e| !matches!(slot, Some((Slot::Prop(p), _)) if e.starts_with(&format!("{p}="))))
    {
        words.push(extra.to_string());
    }
    let mut out = words.join(" ");
    let kids: Vec<String> = spec
        .required_children
        .iter()
        .filter_map(|group| group.first())
        .filter_map(|name| spec.child(name))
        .map(|child| node_source(child, None))
        .collect();
    if !kids.is_empty() {
        out.push_str(&format!(" {{\n{}\n}}", kids.join("\n")));
    }
    out
}

/// What a created node needs beyond its schema: the cross-field rules of validation.
/// An `upstream` without settings changes nothing, whichever service it names: with one,
/// its `[service]` decides whose proxying it changes. A probe created in `defaults` is an
/// `http=` one (its `header`s need that) and reaches the base's `worker`, which declares no
/// port, only with a port number.
const EXTRA: &[(&str, &str)] =
    &[("autoscale", "memory=80"), ("upstream", "max-fails=3"), ("health", "port=8080"), ("readiness", "port=8080")];

/// The value's source for a slot, a `(secret)` reference where the property takes only that.
fn slot_value(item: &Item, value: &str) -> String {
    let spec = item.path.last().unwrap();
    match item.slot {
        Slot::Prop(p) if spec.prop(p).is_some_and(|p| p.secret_only) => value.to_string(),
        Slot::Free => format!("COV_KEY={value}"),
        _ => value.to_string(),
    }
}

/// Where a node's head (name, arguments, properties) ends: new values go there.
fn head_end(node: &Node) -> usize {
    let end = |s: Span| s.offset + s.len;
    let mut at = end(node.name.span);
    for a in &node.args {
        at = at.max(end(a.entry_span));
    }
    for p in &node.props {
        at = at.max(end(p.value.entry_span));
    }
    at
}

/// The text with the item's slot set to `value` (KDL source), creating the node (and its
/// parents) from the schema where the base has none. `None` where it cannot be placed.
fn with_value(text: &str, item: &Item, value: &str) -> Option<(String, (usize, usize))> {
    // A marker in front of the value finds it again in the result.
    let marked = format!("\u{1}{}", slot_value(item, value));
    let out = place(text, item, &marked)?;
    let at = out.find('\u{1}').expect("the marker");
    let out = out.replacen('\u{1}', "", 1);
    let len = marked.len() - 1;
    Some((out, (at, at + len)))
}

fn place(text: &str, item: &Item, set: &str) -> Option<String> {
    let nodes = parse(text);
    // The deepest existing node along the path.
    let mut level: &[Node] = &nodes;
    let mut found: Option<&Node> = None;
    let mut depth = 0;
    for spec in &item.path {
        // `exporter "postgres"`: the first node of that name (keyed nodes: any will do).
        match level.iter().find(|n| n.name.name == spec.name && !n.is_removal()) {
            Some(n) => {
                found = Some(n);
                level = n.children();
                depth += 1;
            }
            None => break,
        }
    }
    let spec = item.path.last().unwrap();
    let set = set.to_string();
    // A new node with this key rather than the base's renamed (its references would break).
    let keyed = matches!(spec.merge, Merge::Key(0) | Merge::DeepKey) && item.slot == Slot::Arg(0);
    if keyed && depth == item.path.len() {
        depth -= 1;
        found = (depth > 0).then(|| found_parent(&nodes, &item.path[..depth])).flatten();
    }
    if depth == item.path.len() {
        let node = found.unwrap();
        let head_end = head_end(node);
        let (at, len) = match item.slot {
            Slot::Arg(i) => match node.arg(i) {
                Some(a) => (a.entry_span.offset, a.entry_span.len),
                None if i == node.args.len() => (head_end, 0),
                None => return None,
            },
            Slot::Rest => match node.arg(spec.args.len()) {
                Some(a) => (a.entry_span.offset, a.entry_span.len),
                None => (head_end, 0),
            },
            Slot::Prop(p) => match node.props.iter().find(|x| x.key.name == p) {
                Some(x) => {
                    let start = x.key.span.offset;
                    (start, x.value.entry_span.offset + x.value.entry_span.len - start)
                }
                None => (head_end, 0),
            },
            Slot::Free => (head_end, 0),
        };
        let text_set = match item.slot {
            Slot::Prop(p) => format!("{p}={set}"),
            _ => set,
        };
        let piece = if len == 0 { format!(" {text_set}") } else { text_set };
        return Some(format!("{}{piece}{}", &text[..at], &text[at + len..]));
    }
    // Create the missing node from the schema, inside the deepest existing one.
    let mut created = String::new();
    for (i, s) in item.path.iter().enumerate().skip(depth).rev() {
        let slot = (i + 1 == item.path.len()).then_some((item.slot, set.as_str()));
        let line = node_source(s, slot);
        created = if created.is_empty() { line } else { nest(&line, &created, item.path[i + 1].name) };
    }
    match found.filter(|_| depth > 0) {
        None => Some(format!("{text}\n{created}\n")),
        Some(parent) => {
            let after_head = head_end(parent);
            if parent.children.is_some() {
                let brace = after_head + text[after_head..].find('{')?;
                Some(format!("{}\n{created}\n{}", &text[..=brace], &text[brace + 1..]))
            } else {
                Some(format!("{} {{\n{created}\n}}{}", &text[..after_head], &text[after_head..]))
            }
        }
    }
}

/// `child` (a node named `name`) inside the created node `line`: in the block of required
/// children `line` may have already (a block has one pair of braces), in place of a required
/// child of the same name.
fn nest(line: &str, child: &str, name: &str) -> String {
    match line.strip_suffix("\n}") {
        Some(head) => {
            let kept: Vec<&str> = head.lines().filter(|l| !l.starts_with(&format!("{name} "))).collect();
            format!("{}\n{child}\n}}", kept.join("\n"))
        }
        None => format!("{line} {{\n{child}\n}}"),
    }
}

/// The first node along a path of specs.
fn found_parent<'a>(nodes: &'a [Node], path: &[&NodeSpec]) -> Option<&'a Node> {
    let mut level = nodes;
    let mut found = None;
    for spec in path {
        let n = level.iter().find(|n| n.name.name == spec.name && !n.is_removal())?;
        level = n.children();
        found = Some(n);
    }
    found
}

// ---------------------------------------------------------------------------------------
// Building and judging.
// ---------------------------------------------------------------------------------------

struct Build {
    files: BTreeMap<TargetKind, Vec<OutputFile>>,
    diagnostics: Vec<Diagnostic>,
    errors: bool,
}

/// Which target wrote a file, by where the targets write.
fn target_of(path: &str) -> TargetKind {
    let first = path.split('/').next().unwrap_or("");
    match first {
        "nginx" => TargetKind::Nginx,
        "caddy" => TargetKind::Caddy,
        "prometheus" | "alertmanager" => TargetKind::Prometheus,
        "ufw" => TargetKind::Ufw,
        "k8s" => TargetKind::K8s,
        _ => TargetKind::Compose,
    }
}

fn build(text: &str) -> Build {
    let opts = EmitOptions { targets: Some(IMPLEMENTED.to_vec()), ..EmitOptions::default() };
    let built = stackc::build("cov.stack.kdl", text, &Options::default(), &opts);
    let mut files: BTreeMap<TargetKind, Vec<OutputFile>> = BTreeMap::new();
    for f in built.files {
        files.entry(target_of(&f.path)).or_default().push(f);
    }
    let errors = built.outcome.has_errors();
    Build { files, diagnostics: built.outcome.diagnostics, errors }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verdict {
    Reflected,
    Reported,
    NotApplicable,
    Dropped,
}

fn reports(d: &Diagnostic, item: &Item, span: (usize, usize)) -> bool {
    let at_value = d.primary.iter().chain(&d.labels).any(|l: &stackc::diagnostics::Label| overlaps(l.span, span));
    let names = d.message.contains(&format!("`{}", item.name())) || d.message.contains(&format!("{}=", item.name()));
    matches!(d.code, Code::TargetApproximation | Code::TargetCannotExpress) && (at_value || names)
}

fn overlaps(s: Span, (start, end): (usize, usize)) -> bool {
    s.offset < end && s.offset + s.len.max(1) > start
}

struct Case {
    what: String,
    item: Item,
    a: String,
    b: String,
    /// The line of the value in `a`, where a report of it points.
    span: (usize, usize),
    /// The value itself in `a`.
    value: (usize, usize),
}

fn cases(base_text: &str) -> (Vec<Case>, Vec<String>) {
    let mut out = Vec::new();
    let mut unplaced = Vec::new();
    let nodes = parse(base_text);
    for item in items() {
        let [va, vb] = item_values(&item, &nodes);
        let mut variants = vec![(item.describe(), va.clone(), vb.clone(), None)];
        if param_kind(item.kind) {
            variants.push((
                format!("{} as ${{param}}", item.describe()),
                quoted("${cov-p}"),
                quoted("${cov-p}"),
                Some((va, vb)),
            ));
        }
        for (what, va, vb, defaults) in variants {
            let (Some((mut a, span)), Some((mut b, _))) =
                (with_value(base_text, &item, &va), with_value(base_text, &item, &vb))
            else {
                unplaced.push(what);
                continue;
            };
            // A kind with one value (`pid "host"`) cannot change: the other build is the base,
            // without it, so that a target that writes it reflects it.
            if defaults.is_none() && va == vb {
                b = base_text.to_string();
            }
            if let Some((da, db)) = defaults {
                a.push_str(&format!("param \"cov-p\" default={da}\n"));
                b.push_str(&format!("param \"cov-p\" default={db}\n"));
            }
            // The whole line: a report may point at the property's name or its node.
            let start = a[..span.0].rfind('\n').map_or(0, |i| i + 1);
            let end = a[span.1..].find('\n').map_or(a.len(), |i| span.1 + i);
            out.push(Case { what, item: item.clone(), a, b, span: (start, end), value: span });
        }
    }
    (out, unplaced)
}

#[test]
fn every_value_reaches_each_target_or_is_reported() {
    let base_text = base();
    let base_build = build(&base_text);
    assert!(!base_build.errors, "the coverage base has errors: {:#?}", base_build.diagnostics);
    let only = std::env::var("STACKC_COVERAGE_ONLY").ok();
    let (cases, unplaced) = cases(&base_text);
    assert!(unplaced.is_empty(), "items the test cannot place in the base: {unplaced:#?}");
    let cases: Vec<Case> =
        cases.into_iter().filter(|c| only.as_ref().is_none_or(|o| c.what.contains(o.as_str()))).collect();

    let results: Vec<(String, Item, Verdicts)> = std::thread::scope(|s| {
        let chunks: Vec<&[Case]> = cases.chunks(cases.len().div_ceil(2).max(1)).collect();
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let only = only.is_some();
                s.spawn(move || {
                    chunk.iter().map(|c| (c.what.clone(), c.item.clone(), judge(c, only))).collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });

    let mut table: BTreeMap<TargetKind, BTreeMap<Verdict, usize>> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut dropped = Vec::new();
    for (what, _, r) in &results {
        match r {
            Ok(verdicts) => {
                for (t, v) in verdicts {
                    *table.entry(*t).or_default().entry(*v).or_default() += 1;
                    if *v == Verdict::Dropped {
                        dropped.push(format!("{what} -> {}", t.name()));
                    }
                }
            }
            Err(e) => broken.push(format!("{what}: {e}")),
        }
    }
    println!("coverage: {} values, per target (reflected / reported / not applicable / dropped):", results.len());
    for (t, counts) in &table {
        let n = |v| counts.get(&v).copied().unwrap_or(0);
        println!(
            "  {:<10} {:>4} / {:>4} / {:>4} / {:>4}",
            t.name(),
            n(Verdict::Reflected),
            n(Verdict::Reported),
            n(Verdict::NotApplicable),
            n(Verdict::Dropped)
        );
    }
    assert!(broken.is_empty(), "{} cases the test cannot judge:\n{}", broken.len(), broken.join("\n"));
    if only.is_some() {
        println!("dropped:\n{}", dropped.join("\n"));
        return;
    }
    // The silent drops known today, each a defect to fix (issue 8): the list may only shrink.
    let known_path = root().join("compiler/stackc/tests/coverage/known-drops.txt");
    dropped.sort();
    if std::env::var_os("UPDATE_COVERAGE").is_some() {
        let mut text = String::from(KNOWN_DROPS_HEADER);
        for d in &dropped {
            text.push_str(d);
            text.push('\n');
        }
        std::fs::write(&known_path, text).unwrap();
        return;
    }
    let known_text = std::fs::read_to_string(&known_path).unwrap_or_default();
    let known: Vec<&str> = known_text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
    let new: Vec<&String> = dropped.iter().filter(|d| !known.contains(&d.as_str())).collect();
    let fixed: Vec<&&str> = known.iter().filter(|k| !dropped.iter().any(|d| d == *k)).collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "values a target drops silently ({} new):\n{}\n\nno longer dropped, remove from {} ({}):\n{}\n\n\
         (UPDATE_COVERAGE=1 cargo test -p stackc --test coverage rewrites the list: only to remove fixed drops)",
        new.len(),
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        known_path.display(),
        fixed.len(),
        fixed.iter().map(|s| **s).collect::<Vec<_>>().join("\n"),
    );
}

const KNOWN_DROPS_HEADER: &str = "\
# Values a target drops silently today: neither in its files nor reported (W0501/E0501).
# Each line is a defect to fix (issue 8), by rendering the value or reporting it at its span.
# tests/coverage.rs fails on a drop not listed here and on a line that is no longer a drop;
# `UPDATE_COVERAGE=1 cargo test -p stackc --test coverage` rewrites this file: use it to
# remove fixed lines, and never to add one without saying why in the commit.
";

type Verdicts = Result<Vec<(TargetKind, Verdict)>, String>;

/// The verdict of every target on one case, or why the case is broken.
fn judge(case: &Case, verbose: bool) -> Verdicts {
    let a = build(&case.a);
    let span = case.span;
    if verbose {
        println!("--- {}\n{}", case.what, &case.a[span.0.saturating_sub(200)..(span.1 + 200).min(case.a.len())]);
        for d in &a.diagnostics {
            println!("  {} {:?} {}", d.code.as_str(), d.severity, d.message);
        }
    }
    // An error at the value, or naming it, refuses it: that is a report, for every target.
    let value = case.a[case.value.0..case.value.1].trim_matches('"');
    let refused = a.diagnostics.iter().any(|d| {
        d.severity == Severity::Error
            && (d.primary.iter().any(|l| overlaps(l.span, span)) || (value.len() > 2 && d.message.contains(value)))
    });
    let concerned = concerned(&case.item);
    if refused {
        return Ok(concerned.into_iter().map(|t| (t, Verdict::Reported)).collect());
    }
    if a.errors {
        let errs: Vec<String> = a
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {}", d.code.as_str(), d.message))
            .collect();
        return Err(format!("the variant has errors elsewhere (fix the test's values or base): {errs:?}"));
    }
    let b = build(&case.b);
    let mut out = Vec::new();
    for t in concerned {
        let verdict = if not_applicable(&case.item, t).is_some() {
            Verdict::NotApplicable
        } else if a.files.get(&t) != b.files.get(&t) {
            Verdict::Reflected
        } else if a.diagnostics.iter().any(|d| reports(d, &case.item, span) && mentions_target(d, t)) {
            Verdict::Reported
        } else {
            Verdict::Dropped
        };
        out.push((t, verdict));
    }
    Ok(out)
}

/// Whether a target's diagnostic is about this target: its message names it (the targets'
/// messages do: "compose does not…", "the k8s target…", "nginx…", "the Ingress…").
fn mentions_target(d: &Diagnostic, t: TargetKind) -> bool {
    let m = d.message.to_lowercase();
    let words: &[&str] = match t {
        TargetKind::Compose => &["compose"],
        TargetKind::Nginx => &["nginx"],
        TargetKind::Caddy => &["caddy"],
        TargetKind::Prometheus => &["prometheus", "alertmanager"],
        TargetKind::Ufw => &["ufw", "firewall"],
        TargetKind::K8s => &["k8s", "kubernetes", "ingress", "pod"],
    };
    words.iter().any(|w| m.contains(w))
}
