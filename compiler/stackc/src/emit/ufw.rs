//! The UFW target: `ufw/ufw.sh`, a POSIX sh script the operator runs as root on the host
//! after every change to the stack (`docs/targets/ufw.md`).
//!
//! The rules come from the whole stack, in this order: the `firewall` block's `allow`,
//! `deny` and `limit` rules in file order, 80/tcp and 443/tcp (443/udp for Caddy's HTTP/3)
//! when there are sites, and every `publish` on all addresses. They are added before
//! `ufw --force enable`, so that enabling never cuts off the SSH session running the script.
//!
//! Convergence: every rule's UFW comment starts with the marker `stackc:<stack>:<run>`, the
//! run counting up on every run. A run adds (or re-comments) every rule of the stack with
//! its own number, then deletes the rules that still carry an older number of this stack:
//! those no longer in the stack. Rules without the marker are never touched; `--reset`
//! starts from `ufw --force reset` instead.
//!
//! User strings (comments, `from=`) reach the script single-quoted; params are read from
//! the environment at run time (`${VAR:-default}`), the way compose reads them. UFW refuses
//! a `'` in a comment and a line break would break `ufw show added`, which the convergence
//! reads back: such comments are refused (E0501), at compile time for the stack's text and
//! at run time for a param's value.
//!
//! The script is built in Rust rather than from a template: nearly every line holds a
//! quoted user value, and the quoting is the part that must not go wrong.

use super::{monitoring_generated, OutputFile};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

/// The script's path in the output directory.
pub const SCRIPT: &str = "ufw/ufw.sh";

/// Where a rule of the script comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `firewall > allow|deny|limit`, the index in `Firewall::rules`.
    Firewall(usize),
    /// The reverse proxy that serves the stack's sites.
    Sites,
    /// A `publish` on all addresses.
    Publish { service: String, target: u16 },
}

/// One UFW rule, as the script adds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `allow`, `deny` or `limit`.
    pub action: String,
    pub port: u16,
    /// `None`: both protocols (UFW's default).
    pub protocol: Option<Protocol>,
    /// A source range, possibly with `${param}`.
    pub from: Option<String>,
    /// The comment after the marker, possibly with `${param}`.
    pub comment: String,
    pub source: Source,
    pub origin: Origin,
}

impl Rule {
    /// UFW keeps one rule per port, protocol and source: adding another action replaces it.
    fn key(&self) -> (u16, Option<Protocol>, Option<&str>) {
        (self.port, self.protocol, self.from.as_deref())
    }

    /// The rule in UFW's syntax, without the comment (as `ufw show added` prints it when
    /// `from` holds no param).
    pub fn spec(&self) -> String {
        let proto = self.protocol.map(proto_name);
        match &self.from {
            None => match proto {
                Some(p) => format!("{} {}/{p}", self.action, self.port),
                None => format!("{} {}", self.action, self.port),
            },
            Some(from) => {
                let mut s = format!("{} from {from} to any port {}", self.action, self.port);
                if let Some(p) = proto {
                    s.push_str(" proto ");
                    s.push_str(p);
                }
                s
            }
        }
    }
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// The port of a rule as people write it: `22/tcp`, or `22` for both protocols.
fn port_text(port: u16, protocol: Option<Protocol>) -> String {
    match protocol {
        Some(p) => format!("{port}/{}", proto_name(p)),
        None => port.to_string(),
    }
}

/// Caddy serves the sites (and compose publishes 443/udp for its HTTP/3). Backends do not
/// import each other: `tests/ufw.rs` checks that the ports opened here are those compose
/// publishes.
fn caddy_serves_sites(stack: &Stack) -> bool {
    proxy_name(stack) == "caddy"
}

/// The proxy compose runs for the sites, by name: nginx when the stack's targets select it
/// (also with Caddy), else Caddy; without either, compose runs none and the sites are
/// served by a proxy the stack does not describe.
pub fn proxy_name(stack: &Stack) -> &'static str {
    let selected = &stack.targets.selected;
    if selected.contains(&TargetKind::Nginx) {
        "nginx"
    } else if selected.contains(&TargetKind::Caddy) {
        "caddy"
    } else {
        "the reverse proxy"
    }
}

fn tls(stack: &Stack) -> bool {
    stack.proxy.as_ref().is_none_or(|p| p.tls.certificates != "none")
}

/// Every service compose runs whose `publish` UFW should know about: the stack's services,
/// then the monitoring services when they are generated.
pub fn publishing_services(stack: &Stack) -> Vec<&Service> {
    let mut out: Vec<&Service> = stack.services.values().collect();
    if monitoring_generated(stack) {
        if let Some(mon) = &stack.monitoring {
            out.push(&mon.prometheus_service);
            out.extend(mon.exporters.iter().map(|e| &e.service));
        }
    }
    out
}

/// The ports published on all host addresses: (service, publish).
pub fn public_publishes(stack: &Stack) -> Vec<(&str, &Publish)> {
    publishing_services(stack)
        .into_iter()
        .flat_map(|s| s.publish.iter().filter(|p| p.host.is_none()).map(move |p| (s.name.as_str(), p)))
        .collect()
}

/// The rules of the script, in the order it adds them. A later rule with the key of an
/// earlier one is dropped: among the firewall's own rules the later action and comment
/// replace the earlier (what UFW itself does, `check` warns). A derived rule (sites,
/// publish) is added only for a port and protocol no rule of the stack names.
pub fn rules(stack: &Stack) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    let Some(fw) = &stack.firewall else { return out };
    for (i, r) in fw.rules.iter().enumerate() {
        let rule = Rule {
            action: r.action.clone(),
            port: r.port,
            protocol: r.protocol,
            from: r.from.clone(),
            comment: r
                .comment
                .clone()
                .unwrap_or_else(|| format!("firewall {} {}", r.action, port_text(r.port, r.protocol))),
            source: Source::Firewall(i),
            origin: r.origin,
        };
        if let Some(earlier) = out.iter_mut().find(|e| e.key() == rule.key()) {
            earlier.action = rule.action;
            earlier.comment = rule.comment;
        } else {
            out.push(rule);
        }
    }
    // The stack's own rules for a port decide who reaches it: a derived `allow` for everyone
    // would open what an `allow … from=` restricts (UFW applies the first match, and Docker's
    // ports are governed by the same rules, see `docker_section`).
    for d in derived(stack) {
        if !out.iter().any(|e| e.port == d.port && e.protocol.is_none_or(|p| Some(p) == d.protocol)) {
            out.push(d);
        }
    }
    out
}

/// The `allow` rules the stack implies, whether or not the stack's own rules for their
/// ports replace them: the sites' ports, then every publish on all addresses. These are
/// also the ports Docker publishes, which the DOCKER-USER block governs.
fn derived(stack: &Stack) -> Vec<Rule> {
    let mut derived: Vec<Rule> = Vec::new();
    if !stack.sites.is_empty() {
        let proxy = proxy_name(stack);
        let site = stack.sites.first().map(|s| s.origin).unwrap_or_default();
        let mut add = |port: u16, protocol: Protocol, what: &str| {
            derived.push(Rule {
                action: "allow".into(),
                port,
                protocol: Some(protocol),
                from: None,
                comment: format!("sites via {proxy}: {what}"),
                source: Source::Sites,
                origin: site,
            })
        };
        // The host ports compose publishes the proxy on (`proxy > ports`, 80 and 443 by default).
        let (http, https) = stack.proxy_plan.as_ref().map_or((80, 443), |p| (p.http_port.value, p.https_port.value));
        if tls(stack) {
            add(http, Protocol::Tcp, "http (ACME, redirect to https)");
            add(https, Protocol::Tcp, "https");
            if caddy_serves_sites(stack) {
                add(https, Protocol::Udp, "http/3");
            }
        } else {
            add(http, Protocol::Tcp, "http");
        }
        for port in stack.proxy_plan.iter().flat_map(|p| &p.site_ports) {
            add(*port, Protocol::Tcp, "http (a site's own port)");
        }
    }
    for (service, p) in public_publishes(stack) {
        derived.push(Rule {
            action: "allow".into(),
            port: p.host_port,
            protocol: Some(p.protocol),
            from: None,
            comment: format!("publish of service {service}"),
            source: Source::Publish { service: service.to_string(), target: p.target },
            origin: p.origin,
        });
    }
    derived
}

/// What UFW cannot do for this stack: rules UFW merges, and comments UFW cannot hold.
/// `proxy > ports` from a param that the deploy environment sets: compose publishes the
/// proxy on its value there, the script opens the port it has when the stack is built.
fn proxy_port_params(stack: &Stack) -> Vec<Diagnostic> {
    let (Some(plan), Some(origin)) = (&stack.proxy_plan, stack.proxy_origins.get("ports")) else { return Vec::new() };
    let mut out = Vec::new();
    for port in [&plan.http_port, &plan.https_port] {
        let from_env = port.host.0.iter().find_map(|piece| match piece {
            Piece::Param(p) if stack.params.get(p).is_some_and(|p| p.env.is_some()) => Some(p),
            _ => None,
        });
        if let Some(name) = from_env {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "UFW opens port {} for the proxy's {}: param `{name}` may publish it on another port at deploy time",
                        port.value, port.container
                    ),
                )
                .at(origin_span(*origin), "the proxy's host ports")
                .help("build the script with the deployed value as the param's default, or give the port as a number"),
            );
        }
    }
    out
}

pub fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let Some(fw) = &stack.firewall else { return out };
    out.extend(proxy_port_params(stack));
    for (i, r) in fw.rules.iter().enumerate() {
        let span = origin_span(r.origin);
        let key = (r.port, r.protocol, r.from.as_deref());
        if let Some(earlier) = fw.rules[..i].iter().find(|e| (e.port, e.protocol, e.from.as_deref()) == key) {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!(
                        "UFW holds one rule per port, protocol and source: this `{}` replaces the `{}` of {} above",
                        r.action,
                        earlier.action,
                        port_text(r.port, r.protocol)
                    ),
                )
                .at(span, "replaces an earlier rule")
                .label(origin_span(earlier.origin), "replaced")
                .help("keep one of the two rules; to treat one address differently, give that rule `from=`"),
            );
        }
        if let Some(c) = &r.comment {
            if let Some(problem) = comment_problem(stack, c) {
                out.push(
                    Diagnostic::error(Code::TargetCannotExpress, format!("UFW cannot store this comment: {problem}"))
                        .at(span, "in this rule's comment")
                        .help("UFW refuses a `'` in a comment, and a line break or control character would corrupt `ufw status` and the script's clean-up of old rules: write `’` or rephrase, on one line"),
                );
            }
        }
    }
    out
}

/// Why a comment cannot go to UFW (checking params' defaults too), if it cannot.
fn comment_problem(stack: &Stack, comment: &str) -> Option<String> {
    fn bad(s: &str) -> Option<&'static str> {
        if s.contains('\'') {
            Some("it holds a `'`")
        } else if s.chars().any(char::is_control) {
            Some("it holds a line break or control character")
        } else {
            None
        }
    }
    for piece in &Text::from_default(comment).0 {
        match piece {
            Piece::Lit(s) => {
                if let Some(b) = bad(s) {
                    return Some(b.to_string());
                }
            }
            Piece::Param(name) => {
                let value = stack.param_value(name).unwrap_or_default();
                if let Some(b) = bad(&value) {
                    return Some(format!("the default of param `{name}` it uses: {}", &b[3..]));
                }
            }
            Piece::Secret(_) => {}
        }
    }
    None
}

/// The shell variable holding a param's value.
fn var(param: &str) -> String {
    format!("p_{}", param.replace('-', "_"))
}

/// A string that may hold `${param}` as one sh word: literal parts single-quoted, params
/// as double-quoted variables.
fn word(stack: &Stack, text: &Text) -> String {
    let mut out = String::new();
    let mut lit = String::new();
    for piece in &text.0 {
        match piece {
            Piece::Lit(s) => lit.push_str(s),
            Piece::Param(n) if stack.params.contains_key(n) => {
                if !lit.is_empty() {
                    out.push_str(&super::shell_quote(&std::mem::take(&mut lit)));
                }
                out.push_str(&format!("\"${}\"", var(n)));
            }
            // Validation resolves every param; keep the text if one slipped through.
            Piece::Param(n) => lit.push_str(&format!("${{{n}}}")),
            Piece::Secret(_) => {}
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out.push_str(&super::shell_quote(&lit));
    }
    out
}

fn params_of(text: &str) -> Vec<String> {
    Text::from_default(text)
        .0
        .into_iter()
        .filter_map(|p| match p {
            Piece::Param(n) => Some(n),
            _ => None,
        })
        .collect()
}

/// The definitions of `name` and the params its default uses, dependencies first.
fn define_param(stack: &Stack, name: &str, done: &mut Vec<String>, out: &mut String, depth: usize) {
    if done.iter().any(|d| d == name) || depth > 16 {
        return;
    }
    let Some(p) = stack.params.get(name) else { return };
    done.push(name.to_string());
    if let Some(d) = &p.default {
        for dep in params_of(d) {
            define_param(stack, &dep, done, out, depth + 1);
        }
    }
    let v = var(name);
    let default = p.default.as_deref().map(|d| word(stack, &Text::from_default(d)));
    match (&p.env, p.required, default) {
        (Some(env), true, _) => {
            out.push_str(&format!("{v}=${{{env}:-}}\n"));
            out.push_str(&format!(
                "if [ -z \"${v}\" ]; then\n    echo \"ufw.sh: set {env} (param {name} is required)\" >&2\n    exit 1\nfi\n"
            ));
        }
        (Some(env), false, Some(d)) => {
            out.push_str(&format!("{v}=${{{env}:-}}\n"));
            out.push_str(&format!("if [ -z \"${v}\" ]; then\n    {v}={d}\nfi\n"));
        }
        (Some(env), false, None) => out.push_str(&format!("{v}=${{{env}:-}}\n")),
        (None, _, Some(d)) => out.push_str(&format!("{v}={d}\n")),
        (None, _, None) => out.push_str(&format!("{v}=''\n")),
    }
}

/// The marker's name part: the stack, and the environment when one is merged in.
fn marker(stack: &Stack) -> String {
    match &stack.environment {
        Some(env) => format!("stackc:{}.{env}", stack.name),
        None => format!("stackc:{}", stack.name),
    }
}

/// Where a rule came from, for the script's comment above it.
fn origin_note(stack: &Stack, rule: &Rule) -> String {
    match &rule.source {
        Source::Firewall(i) => {
            let r = stack.firewall.as_ref().and_then(|f| f.rules.get(*i));
            let mut s = format!("firewall > {} {}", rule.action, rule.port);
            if let Some(r) = r {
                if let Some(from) = &r.from {
                    s.push_str(&format!(" from={from:?}"));
                }
                if let Some(p) = r.protocol {
                    s.push_str(&format!(" protocol=\"{}\"", proto_name(p)));
                }
            }
            // The note is a sh comment: one line, whatever the stack holds.
            s.replace(|c: char| c.is_control(), " ")
        }
        // Host mode: the proxy runs on the host, not in compose (it still needs the port).
        Source::Sites if stack.proxy_plan.as_ref().is_some_and(|p| p.host_mode) => {
            format!(
                "sites: the host's {} listens on {} on all addresses",
                proxy_name(stack),
                port_text(rule.port, rule.protocol)
            )
        }
        Source::Sites => {
            format!("sites: {} publishes {} on all addresses", proxy_name(stack), port_text(rule.port, rule.protocol))
        }
        Source::Publish { service, target } => format!(
            "service {service}: publish {} (container port {target}) on all addresses",
            port_text(rule.port, rule.protocol)
        ),
    }
}

/// The script, or nothing when the stack has no `firewall` block.
pub fn emit(stack: &Stack) -> Vec<OutputFile> {
    if stack.firewall.is_none() {
        return Vec::new();
    }
    vec![OutputFile { executable: true, ..OutputFile::new(SCRIPT, script(stack)) }]
}

fn script(stack: &Stack) -> String {
    let Some(fw) = &stack.firewall else { return String::new() };
    let rules = rules(stack);
    let tag = marker(stack);
    // `.` is the only character of the marker that a sed pattern reads specially.
    let tag_re = tag.replace('.', "\\.");
    let mut s = String::from("#!/bin/sh\n");
    s.push_str(&super::header("#", stack));
    s.push_str(&format!(
        "#
# The host firewall, for UFW. Run it as root on the host after every change to the stack:
#
#     sudo sh ufw.sh           add the stack's rules, then remove the rules an earlier run
#                              added that are no longer in the stack
#     sudo sh ufw.sh --reset   `ufw --force reset` first (every rule goes, also rules added
#                              by hand; UFW keeps backups in /etc/ufw), then add the rules
#     sudo sh ufw.sh --no-docker   without the DOCKER-USER block (below): removes it
#
# Rules are added before UFW is enabled, so the SSH session running this is not cut off.
# Each rule's UFW comment starts with `{tag}:N`, N counting the runs; a run deletes the
# rules of this stack with an older N, and never touches a rule without the marker. A rule
# already present keeps its place and a new one goes last (UFW applies the first rule that
# matches): when the order of overlapping rules matters, run with --reset.
#
# Docker's published ports bypass UFW's own rules (Docker forwards them in iptables before
# UFW's INPUT chain sees them): the script also writes the stack's rules for them into
# Docker's DOCKER-USER chain, through /etc/ufw/after.rules (see the end of the script).
"
    ));
    let public = public_publishes(stack);
    if public.is_empty() {
        s.push_str("# No container port is published on all addresses.\n");
    } else {
        s.push_str("# Container ports published on all addresses, governed through DOCKER-USER:\n");
        for (service, p) in &public {
            s.push_str(&format!(
                "#   {:<10} service {service} (container port {})\n",
                port_text(p.host_port, Some(p.protocol)),
                p.target
            ));
        }
    }
    s.push_str(
        r#"set -eu

usage() {
    echo "usage: sh ufw.sh [--reset] [--no-docker]"
}
reset=""
docker=1
for arg in "$@"; do
    case $arg in
    --reset) reset=1 ;;
    --no-docker) docker="" ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
done
if [ "$(id -u)" -ne 0 ]; then
    echo "ufw.sh: run it as root (sudo sh ufw.sh)" >&2
    exit 1
fi
if ! command -v ufw >/dev/null 2>&1; then
    echo "ufw.sh: ufw is not installed (apt-get install ufw)" >&2
    exit 1
fi
"#,
    );

    // Params: only those the rules use, each read from its variable at run time.
    let mut used: Vec<String> = Vec::new();
    let mut in_comments: Vec<String> = Vec::new();
    for r in &rules {
        for n in r.from.iter().flat_map(|f| params_of(f)) {
            if !used.contains(&n) {
                used.push(n);
            }
        }
        for n in params_of(&r.comment) {
            if !used.contains(&n) {
                used.push(n.clone());
            }
            if !in_comments.contains(&n) {
                in_comments.push(n);
            }
        }
    }
    if !used.is_empty() {
        s.push_str("\n# Params: from the environment, else the stack's default.\n");
        let mut done = Vec::new();
        for n in &used {
            define_param(stack, n, &mut done, &mut s, 0);
        }
    }
    if !in_comments.is_empty() {
        s.push_str(
            "# UFW refuses a ' in a comment; a line break would break `ufw show added`, which the\n# clean-up below reads.\nnl='\n'\ncr=$(printf '\\r')\n",
        );
        for n in &in_comments {
            let v = var(n);
            s.push_str(&format!(
                "case ${v} in\n*\"'\"* | *\"$nl\"* | *\"$cr\"*)\n    echo \"ufw.sh: param {n} holds a quote or a line break, which a UFW comment cannot\" >&2\n    exit 1\n    ;;\nesac\n"
            ));
        }
    }

    s.push_str(&format!(
        r#"
if [ -n "$reset" ]; then
    ufw --force reset
fi

# This run's marker: one more than the highest an earlier run left.
last=$(ufw show added | sed -n "s/^ufw .* comment '{tag_re}:\([0-9][0-9]*\) .*/\1/p" | sort -n | tail -n 1)
m="{tag}:$((${{last:-0}} + 1))"

"#
    ));
    for r in &rules {
        s.push_str(&format!("# {}\n", origin_note(stack, r)));
        let mut cmd = format!("ufw {}", r.action);
        match &r.from {
            None => cmd.push_str(&format!(" {}", port_text(r.port, r.protocol))),
            Some(from) => {
                cmd.push_str(&format!(" from {} to any port {}", word(stack, &Text::from_default(from)), r.port));
                if let Some(p) = r.protocol {
                    cmd.push_str(&format!(" proto {}", proto_name(p)));
                }
            }
        }
        let comment = word(stack, &Text::from_default(&format!(" {}", r.comment)));
        s.push_str(&format!("{cmd} comment \"$m\"{comment}\n"));
    }
    s.push_str(&format!(
        r#"
# Delete this stack's rules of earlier runs: those no longer in the stack.
old=$(ufw show added | sed -n "s/^ufw \(.*\) comment '\({tag_re}:[0-9][0-9]* .*\)'\$/\1|\2/p")
printf '%s\n' "$old" | while IFS='|' read -r spec c; do
    case $c in
    "" | "$m "*) continue ;;
    esac
    set -f
    # shellcheck disable=SC2086 # ufw's own rule syntax, words without spaces or quotes
    ufw --force delete $spec comment "$c"
done

# Default policies, after the rules: a stricter default never applies before them.
ufw default {} incoming
ufw default {} outgoing
"#,
        fw.incoming, fw.outgoing
    ));
    if let Some(routed) = &fw.routed {
        s.push_str(&format!("ufw default {routed} routed\n"));
    }
    s.push_str(&docker_section(stack, fw));
    // `enable` loads the rules files only when UFW was inactive.
    s.push_str("\nufw --force enable\nif [ -n \"$dk_changed\" ]; then\n    ufw reload\nfi\nufw status verbose\n");
    s
}

// ---------------------------------------------------------------------------------------
// Docker's published ports: the DOCKER-USER block (docs/targets/ufw.md, "Docker's
// published ports"). Docker DNATs a published port in nat PREROUTING, so the packet is
// forwarded, never seen by UFW's INPUT rules; Docker leaves the filter chain DOCKER-USER,
// first in FORWARD, to the host. The script writes the stack's rules for each port Docker
// publishes into that chain, matching the port the client asked for (conntrack's original
// destination port: no container address is needed, and a container's own outgoing
// connections, which are not DNAT'ed, are never matched). The rules live in a block of
// /etc/ufw/after.rules (after6.rules), so UFW loads them on every start and reload, also
// at boot before Docker starts; a run rewrites the block, `--no-docker` removes it.
// ---------------------------------------------------------------------------------------

/// The shared block: declaring a chain in `iptables-restore --noflush` flushes it, so
/// DOCKER-USER is declared once, in a block before every stack's, and jumps to one chain
/// that each stack's block adds its own jump to.
const DOCKER_BASE: &str = "stackc docker-user";
const DOCKER_CHAIN: &str = "stackc-docker";

/// The stack's own chain: iptables allows 28 characters; a longer marker is cut and told
/// apart by a hash.
pub fn docker_chain(stack: &Stack) -> String {
    let name = marker(stack).trim_start_matches("stackc:").to_string();
    let clean: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    if clean.len() <= 21 && clean == name {
        return format!("stackc-{clean}");
    }
    let hash = crate::diagnostics::render::stable_hash(name.as_bytes()) as u32;
    format!("stackc-{}-{hash:08x}", &clean[..clean.len().min(12)])
}

/// A port Docker publishes on all addresses, and what the stack says about it.
pub struct DockerPort {
    pub port: u16,
    pub protocol: Protocol,
    /// What publishes it.
    pub note: String,
    /// The script's rules that apply to it, in order, up to the first for every source.
    pub rules: Vec<Rule>,
    /// Everyone gets in: nothing to write for this port.
    pub open: bool,
}

/// Every port Docker publishes on all addresses (the proxy's for the sites, every
/// `publish` without `host=`), with the rules that govern it.
pub fn docker_ports(stack: &Stack) -> Vec<DockerPort> {
    let all = rules(stack);
    let mut out: Vec<DockerPort> = Vec::new();
    for d in derived(stack) {
        let Some(protocol) = d.protocol else { continue };
        if out.iter().any(|p| p.port == d.port && p.protocol == protocol) {
            continue;
        }
        let mut rules = Vec::new();
        let mut open = false;
        for r in all.iter().filter(|r| r.port == d.port && r.protocol.is_none_or(|p| p == protocol)) {
            rules.push(r.clone());
            if r.from.is_none() {
                open = rules.len() == 1 && r.action == "allow";
                break;
            }
        }
        let note = match &d.source {
            Source::Publish { service, target } => {
                format!("service {service}: publish {} (container port {target})", port_text(d.port, d.protocol))
            }
            _ => format!("sites: {} publishes {}", proxy_name(stack), port_text(d.port, d.protocol)),
        };
        out.push(DockerPort { port: d.port, protocol, note, rules, open });
    }
    out
}

/// The script's DOCKER-USER part: the block of each rules file rewritten (or removed when
/// the stack has no port to govern, or with `--no-docker`).
fn docker_section(stack: &Stack, fw: &Firewall) -> String {
    let tag = marker(stack);
    let tag_re = tag.replace('.', "\\.");
    let ports = docker_ports(stack);
    let governs = ports.iter().any(|p| !p.open);
    let mut s = String::from(
        "
# Docker's published ports: Docker forwards them before UFW's INPUT rules see them, so the
# rules above are written again, for each port Docker publishes on all addresses, into
# DOCKER-USER (the chain Docker leaves to the host, first in FORWARD): a block of
# /etc/ufw/after.rules and after6.rules, which UFW loads on every start. They match the port
# the client asked for (conntrack's original destination), before Docker's own rules accept
# the packet. `--no-docker` removes the block.
",
    );
    if !governs {
        s.push_str("# No port Docker publishes needs a rule: a block an earlier run wrote goes.\n");
    }
    s.push_str(&format!("dk_chain={}\ndk_changed=\"\"\n", super::shell_quote(&docker_chain(stack))));
    if governs {
        s.push_str(&docker_functions(stack, fw, &ports, &tag));
    } else {
        s.push_str(": \"$docker\" # nothing to write, with or without --no-docker\n");
    }
    let add = if governs {
        format!(
            r#"    if [ -n "$docker" ]; then
        if ! grep -qxF '# BEGIN {DOCKER_BASE}' "$dk_new"; then
            dk_base >>"$dk_new"
        fi
        dk_rules "$2" >>"$dk_new"
    elif ! grep -q '^# BEGIN stackc:.* docker$' "$dk_new"; then
"#
        )
    } else {
        "    if ! grep -q '^# BEGIN stackc:.* docker$' \"$dk_new\"; then\n".to_string()
    };
    let drop = format!(
        "dk_drop \"$2\" \"$dk_chain\" {DOCKER_CHAIN}\nif ! grep -qxF '# BEGIN {DOCKER_BASE}' \"$dk_new\"; then\n    dk_drop \"$2\" {DOCKER_CHAIN} DOCKER-USER\nfi\n"
    );
    let drop = if governs { format!("if [ -z \"$docker\" ]; then\n{}fi\n", indent(&drop)) } else { drop };
    let drop = indent(&drop);
    s.push_str(&format!(
        r#"# Rewrites this stack's block of rules file $1 (family $2); the shared block goes first,
# and goes when no stack's block is left.
dk_update() {{
    [ -f "$1" ] || return 0
    dk_new=$(mktemp)
    sed "/^# BEGIN {tag_re} docker\$/,/^# END {tag_re} docker\$/d" "$1" >"$dk_new"
{add}        sed -i '/^# BEGIN {DOCKER_BASE}$/,/^# END {DOCKER_BASE}$/d' "$dk_new"
    fi
    if ! cmp -s "$dk_new" "$1"; then
        cat "$dk_new" >"$1"
        dk_changed=1
    fi
    # A reload only loads what the file holds: the chains of a removed block go by hand.
{drop}    rm -f "$dk_new"
}}
# Removes chain $2 and the jumps to it from chain $3 (family $1), if they are loaded.
dk_drop() {{
    if [ "$1" = 6 ]; then dk_ipt=ip6tables; else dk_ipt=iptables; fi
    if command -v "$dk_ipt" >/dev/null 2>&1 && "$dk_ipt" -n -L "$2" >/dev/null 2>&1; then
        while "$dk_ipt" -D "$3" -j "$2" 2>/dev/null; do :; done
        "$dk_ipt" -F "$2"
        "$dk_ipt" -X "$2"
    fi
}}
dk_update /etc/ufw/after.rules 4
dk_update /etc/ufw/after6.rules 6
"#
    ));
    s
}

/// The shell functions that print the shared block and the stack's block for family `$1`
/// (4 or 6).
fn docker_functions(stack: &Stack, fw: &Firewall, ports: &[DockerPort], tag: &str) -> String {
    let mut s = format!(
        r#"# A rule's source in the rules file: refused unless it is an address or a range (it is
# read at run time for a param), and kept only for its own family.
dk_src() {{
    case $2 in
    "" | *[!0-9A-Fa-f.:/]*)
        echo "ufw.sh: from=$2 is not an address or a range" >&2
        exit 1
        ;;
    *:*) [ "$1" = 6 ] ;;
    *) [ "$1" = 4 ] ;;
    esac
}}
dk_base() {{
    echo '# BEGIN {DOCKER_BASE}'
    echo '# Written by stackc'"'"'s ufw.sh: DOCKER-USER jumps to {DOCKER_CHAIN}, which each stack'"'"'s block below'
    echo '# adds its own chain to. Loaded by UFW; removed by the last stack'"'"'s sh ufw.sh --no-docker.'
    echo '*filter'
    echo ':DOCKER-USER - [0:0]'
    echo ':{DOCKER_CHAIN} - [0:0]'
    echo '-A DOCKER-USER -j {DOCKER_CHAIN}'
    echo 'COMMIT'
    echo '# END {DOCKER_BASE}'
}}
dk_rules() {{
    echo '# BEGIN {tag} docker'
    echo '*filter'
    echo ":$dk_chain - [0:0]"
    echo "-A {DOCKER_CHAIN} -j $dk_chain"
    echo "-A $dk_chain -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
"#
    );
    let mut src_vars = 0;
    for p in ports {
        let proto = proto_name(p.protocol);
        let m = format!("-p {proto} -m conntrack --ctstate DNAT --ctdir ORIGINAL --ctorigdstport {}", p.port);
        s.push_str(&format!("    # {}\n", p.note.replace(|c: char| c.is_control(), " ")));
        if p.open {
            s.push_str("    # open to everyone (the stack's first rule for it allows all)\n");
            continue;
        }
        for r in &p.rules {
            s.push_str(&format!("    # {}\n", origin_note(stack, r)));
            let (src, indent) = match &r.from {
                None => (String::new(), "    "),
                Some(from) => {
                    src_vars += 1;
                    s.push_str(&format!(
                        "    dk_s{src_vars}={}\n    if dk_src \"$1\" \"$dk_s{src_vars}\"; then\n",
                        word(stack, &Text::from_default(from))
                    ));
                    (format!(" -s $dk_s{src_vars}"), "        ")
                }
            };
            let line = |target: &str| format!("{indent}echo \"-A $dk_chain {m}{src} {target}\"\n");
            match r.action.as_str() {
                "deny" => s.push_str(&line("-j DROP")),
                // UFW's `limit`: six new connections in 30 seconds from one address.
                "limit" => {
                    let list = format!("$dk_chain-{}-{proto}", p.port);
                    s.push_str(&line(&format!("-m recent --name {list} --set")));
                    s.push_str(&line(&format!("-m recent --name {list} --update --seconds 30 --hitcount 6 -j DROP")));
                    s.push_str(&line("-j RETURN"));
                }
                _ => s.push_str(&line("-j RETURN")),
            }
            if r.from.is_some() {
                s.push_str("    fi\n");
            }
        }
        // A rule for everyone ends the port's rules (UFW's first match); else the default.
        if !p.rules.iter().any(|r| r.from.is_none()) {
            let (target, why) = match fw.incoming.as_str() {
                "allow" => (None, "allow: the rest gets in"),
                "reject" if p.protocol == Protocol::Tcp => (Some("-j REJECT --reject-with tcp-reset"), "reject"),
                "reject" => (Some("-j REJECT"), "reject"),
                _ => (Some("-j DROP"), "deny"),
            };
            s.push_str(&format!("    # default incoming: {why}\n"));
            if let Some(t) = target {
                s.push_str(&format!("    echo \"-A $dk_chain {m} {t}\"\n"));
            }
        }
    }
    s.push_str(&format!("    echo 'COMMIT'\n    echo '# END {tag} docker'\n}}\n"));
    s
}

/// Shell lines, one level deeper.
fn indent(lines: &str) -> String {
    lines.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("    {l}\n") }).collect()
}
