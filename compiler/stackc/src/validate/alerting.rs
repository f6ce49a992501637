//! The cross-field rules of `monitoring`. Alertmanager's receivers and routes: a route's
//! matchers must parse, and it must name a receiver that some `notify`, `email` or
//! `pagerduty` makes; alerts that no route takes go to the default receiver, which must send
//! them somewhere. A `scrape`'s regular expressions parse and its password has a user.

use promql_parser::parser::{self, Expr};

use crate::diagnostics::{did_you_mean, Code, Diagnostic, Diagnostics};
use crate::ir::DEFAULT_RECEIVER;
use crate::syntax::ast::{Node, Value};

/// The nodes of `monitoring` that make a receiver.
pub const RECEIVER_NODES: &[&str] = &["notify", "email", "pagerduty"];

/// A route's `match=` (Alertmanager's matcher list, `severity="critical", team=~"db|infra"`,
/// the syntax of a PromQL selector's braces) as one matcher per item, normalised.
pub fn route_matchers(s: &str) -> Result<Vec<String>, String> {
    let e = parser::parse(&format!("alerts{{{s}}}")).map_err(|e| e.to_string())?;
    let Expr::VectorSelector(v) = e else {
        return Err("expected matchers such as `severity=\"critical\"`".into());
    };
    if !v.matchers.or_matchers.is_empty() {
        return Err("`or` between matchers: write one route per alternative".into());
    }
    // The metric name PromQL adds for `alerts{…}` is not one of the route's.
    Ok(v.matchers.matchers.iter().filter(|m| m.name != "__name__").map(|m| m.to_string()).collect())
}

/// The receivers of a `monitoring` node, in order: their names.
fn receivers(monitoring: &Node) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in monitoring.children().iter().filter(|c| RECEIVER_NODES.contains(&c.name.name.as_str())) {
        let name = n.prop_str("receiver").unwrap_or(DEFAULT_RECEIVER).to_string();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// A `scrape`'s regular expressions parse, and its basic-auth password has a user.
fn scrapes(monitoring: &Node, diags: &mut Diagnostics) {
    for scrape in monitoring.children_named("scrape") {
        for d in scrape.children_named("drop-metric") {
            let Some(re) = d.args.first() else { continue };
            if let Err(e) = re.value.as_str().map_or(Ok(()), super::values::regex) {
                diags.push(
                    Diagnostic::error(e.code, e.message)
                        .at(re.span, "not a regular expression")
                        .help("Prometheus matches metric names with RE2, anchored: `go_.*` drops every `go_` metric"),
                );
            }
        }
        if let (Some(p), None) = (scrape.prop("basic-auth-password"), scrape.prop("basic-auth-user")) {
            diags.push(
                Diagnostic::error(Code::MissingRequired, "`basic-auth-password=` needs `basic-auth-user=`")
                    .at(p.entry_span, "a password without a user")
                    .help("add `basic-auth-user=\"…\"`: Prometheus sends both"),
            );
        }
    }
}

/// A recording rule's metric name is one Prometheus accepts (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
fn records(nodes: &[Node], diags: &mut Diagnostics) {
    for record in nodes.iter().filter(|n| n.name.name == "alerts").flat_map(|g| g.children_named("record")) {
        let (Some(name), Some(arg)) = (record.arg_str(0), record.args.first()) else { continue };
        if !is_metric_name(name) {
            let fixed: String =
                name.chars().map(|c| if c.is_ascii_alphanumeric() || c == ':' { c } else { '_' }).collect();
            diags.push(
                Diagnostic::error(Code::InvalidName, format!("`{name}` is not a Prometheus metric name"))
                    .at(arg.span, "letters, digits, `_` and `:`, not starting with a digit")
                    .help(format!("recorded metrics are named `level:metric:operations`, e.g. `{fixed}`")),
            );
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the names Prometheus accepts for a metric.
fn is_metric_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
}

/// A `pack`'s options are the pack's, with values of their kind.
fn packs(nodes: &[Node], diags: &mut Diagnostics) {
    use crate::lower::packs::{pack, OptionKind};
    for node in nodes.iter().filter(|n| n.name.name == "alerts").flat_map(|g| g.children_named("pack")) {
        let Some(pack) = node.arg_str(0).and_then(pack) else { continue };
        for prop in &node.props {
            let key = prop.key.name.as_str();
            let Some(option) = pack.options.iter().find(|o| o.name == key) else {
                let names = pack.options.iter().map(|o| o.name);
                let help = match did_you_mean(key, names.clone()) {
                    Some(d) => format!("did you mean `{d}=`?"),
                    None => format!("its options: {}", names.map(|n| format!("`{n}=`")).collect::<Vec<_>>().join(", ")),
                };
                diags.push(
                    Diagnostic::error(
                        Code::UnknownProperty,
                        format!("the `{}` alert pack has no option `{key}`", pack.name),
                    )
                    .at(prop.key.span, "not an option of this pack")
                    .help(help),
                );
                continue;
            };
            let v = &prop.value.value;
            // A `${param}` is checked where params are, and given its compile-time value.
            let ok = v.as_str().is_some_and(super::values::has_interpolation)
                || match option.kind {
                    OptionKind::Number => v.as_int().is_some() || matches!(v, Value::Float(_)),
                    OptionKind::Duration => v.as_str().is_some_and(|d| super::values::duration(d).is_ok()),
                    OptionKind::Metric => v.as_str().is_some_and(is_metric_name),
                    OptionKind::Label => v.as_str().is_some_and(|l| super::values::label_name(l).is_ok()),
                };
            if !ok {
                let (what, example) = match option.kind {
                    OptionKind::Number => ("a number", format!("{key}={}", option.default)),
                    OptionKind::Duration => ("a duration", format!("{key}=\"{}\"", option.default)),
                    OptionKind::Metric => ("a Prometheus metric name", format!("{key}=\"{}\"", option.default)),
                    OptionKind::Label => ("a Prometheus label name", format!("{key}=\"{}\"", option.default)),
                };
                diags.push(
                    Diagnostic::error(
                        Code::WrongType,
                        format!("option `{key}` of the `{}` alert pack is {what}", pack.name),
                    )
                    .at(prop.value.span, format!("not {what}"))
                    .help(format!("for example `{example}` (its default)")),
                );
            }
        }
    }
}

/// `channel=` is Slack's: a generic webhook has none, and would drop it.
fn notify_channels(monitoring: &Node, diags: &mut Diagnostics) {
    for n in monitoring.children_named("notify").filter(|n| n.arg_str(0) != Some("slack")) {
        if let Some(c) = n.prop("channel") {
            diags.push(
                Diagnostic::error(Code::UnknownProperty, "`channel=` is a Slack setting: a webhook has no channel")
                    .at(c.entry_span, "not sent anywhere")
                    .help("remove `channel=`, or use `notify \"slack\"`"),
            );
        }
    }
}

pub fn check(nodes: &[Node], diags: &mut Diagnostics) {
    records(nodes, diags);
    packs(nodes, diags);
    let Some(monitoring) = nodes.iter().find(|n| n.name.name == "monitoring") else { return };
    notify_channels(monitoring, diags);
    scrapes(monitoring, diags);
    let Some(am) = monitoring.child("alertmanager") else { return };
    let known = receivers(monitoring);
    let routes: Vec<&Node> = am.children_named("route").collect();
    for route in &routes {
        if let Some(m) = route.prop("match") {
            if let Err(e) = m.value.as_str().map_or(Ok(Vec::new()), route_matchers) {
                diags.push(
                    Diagnostic::error(Code::InvalidPromql, format!("the route's matchers are not valid: {e}"))
                        .at(m.span, "invalid matchers")
                        .help(r##"write Alertmanager matchers: `match=#"severity="critical", team=~"db|infra""#`"##),
                );
            }
        }
        let (Some(name), Some(arg)) = (route.arg_str(0), route.args.first()) else { continue };
        if !known.iter().any(|k| k == name) && !known.is_empty() {
            let help = match did_you_mean(name, known.iter().map(String::as_str)) {
                Some(d) => format!("did you mean receiver `{d}`?"),
                None => format!(
                    "add `receiver=\"{name}\"` to the `notify`, `email` or `pagerduty` that should get these alerts"
                ),
            };
            diags.push(
                Diagnostic::error(
                    Code::MissingRequired,
                    format!("no `notify`, `email` or `pagerduty` has `receiver=\"{name}\"`"),
                )
                .at(arg.span, "a receiver that sends nowhere")
                .help(help),
            );
        }
    }
    // Alerts that no route takes go to the default receiver: it must exist when there are
    // receivers at all (without any, the `alertmanager` settings are reported by the target).
    let catch_all = routes.iter().any(|r| r.prop("match").is_none() && r.prop_bool("continue") != Some(true));
    if !known.is_empty() && !known.iter().any(|k| k == DEFAULT_RECEIVER) && !catch_all {
        diags.push(
            Diagnostic::error(
                Code::MissingRequired,
                "alerts that match no `route` reach no one: every receiver has a `receiver=` name, so the default receiver has none",
            )
            .at(am.name.span, "these routes leave some alerts without a receiver")
            .help("leave `receiver=` off one `notify`/`email`/`pagerduty` (it becomes the default receiver), or end with a `route` without `match=` that takes the rest"),
        );
    }
}
