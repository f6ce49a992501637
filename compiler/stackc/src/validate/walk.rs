//! The schema-driven walk. In [`Pass::Shape`] it checks the file as written: known nodes
//! and properties, arity, value types and domains, duplicates. In [`Pass::Refs`] it checks a
//! merged stack (base plus one environment): every reference resolves.

use std::collections::HashMap;

use super::values::{self, ValueError};
use super::Symbols;
use crate::diagnostics::{did_you_mean, suggest, Code, Diagnostic, Diagnostics};
use crate::schema::{self, Children, Kind, Merge, NodeSpec, RefKind};
use crate::syntax::ast::{Entry, Node, Value};

/// Whether a value may (or must) be a secret reference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrets {
    No,
    /// An `env` value: `(secret)"name"` or `${secret:name}` inside a string.
    Env,
    /// Only `(secret)"name"`.
    Only,
}

#[derive(Clone, Copy)]
pub enum Pass<'a> {
    Shape,
    Refs(&'a Symbols<'a>),
}

struct Walker<'a, 'd> {
    pass: Pass<'a>,
    diags: &'d mut Diagnostics,
}

/// Checks the file as written; environment blocks are checked as overlays.
pub fn shape(nodes: &[Node], diags: &mut Diagnostics) {
    Walker { pass: Pass::Shape, diags }.level(nodes, schema::TOP, false, None);
}

/// Checks the references of a merged stack.
pub fn refs(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    Walker { pass: Pass::Refs(symbols), diags }.level(nodes, schema::TOP, false, None);
}

/// Rewrites the nodes as the user meant them, for the checks of the merged stacks: a node
/// or property name that the shape check reports as a typo with a suggestion (E0102,
/// E0103 "did you mean") takes that suggestion. Those checks then do not repeat the typo
/// in other words (`servce "redis"`: "unknown service `redis`"; `imge`: "needs `image`";
/// `helth`: "has no `health` check"), and still check what is inside the misspelt node.
pub fn as_meant(nodes: &mut [Node]) {
    meant_level(nodes, schema::TOP);
}

fn meant_level(nodes: &mut [Node], specs: &'static [NodeSpec]) {
    for node in nodes {
        let spec = match specs.iter().find(|s| s.name == node.name.name) {
            Some(spec) => spec,
            None => {
                let meant = did_you_mean(&node.name.name, specs.iter().map(|s| s.name));
                let Some(spec) = meant.and_then(|m| specs.iter().find(|s| s.name == m)) else { continue };
                node.name.name = spec.name.to_string();
                spec
            }
        };
        if spec.free_props.is_none() {
            let names: Vec<&str> = spec.props.iter().map(|p| p.name).collect();
            for i in 0..node.props.len() {
                let key = node.props[i].key.name.as_str();
                if spec.prop(key).is_some() {
                    continue;
                }
                let meant = did_you_mean(key, names.iter().copied());
                // Not over a key the node sets itself: the semantic checks see that one.
                if let Some(m) = meant.filter(|m| node.prop(m).is_none()) {
                    node.props[i].key.name = m.to_string();
                }
            }
        }
        let child_specs = match spec.children {
            Children::Nodes(c) => c,
            Children::TopLevel => schema::TOP,
            Children::None => continue,
        };
        if let Some(children) = node.children.as_mut() {
            meant_level(children, child_specs);
        }
    }
}

/// `service "api" #null`, `autoscale #null`: removes the base node in an overlay.
pub fn is_removal(node: &Node, spec: &NodeSpec) -> bool {
    if !node.props.is_empty() || node.children.is_some() {
        return false;
    }
    let key_args = match spec.merge {
        Merge::Key(i) => i + 1,
        Merge::DeepKey => 1,
        _ => 0,
    };
    node.args.len() == key_args + 1 && node.args[key_args].value == Value::Null
}

/// A node whose properties merge with the base's in an overlay (`build`), so that it may be
/// given partly there.
fn is_partial(spec: &NodeSpec) -> bool {
    matches!(spec.merge, Merge::Deep | Merge::DeepKey) && !spec.required.is_empty()
}

/// Whether `node` sets `want`. A required property given under a misspelt key (`perod=`) is
/// reported as the unknown property it is, not a second time as missing.
fn given(node: &Node, spec: &NodeSpec, want: &str) -> bool {
    node.props.iter().any(|p| {
        let key = p.key.name.as_str();
        key == want || (spec.prop(key).is_none() && did_you_mean(key, spec.props.iter().map(|p| p.name)) == Some(want))
    })
}

/// The identity of a node among its siblings, for duplicates and environment merging.
pub fn identity(node: &Node, spec: &NodeSpec) -> Option<String> {
    match spec.merge {
        Merge::Once | Merge::Deep => Some(String::new()),
        Merge::Key(i) => node.args.get(i).map(|a| a.value.display()),
        Merge::DeepKey => Some(node.args.first().map(|a| a.value.display()).unwrap_or_default()),
        Merge::Whole | Merge::Props => None,
    }
}

pub fn usage(spec: &NodeSpec) -> String {
    let mut u = spec.name.to_string();
    for (i, (name, _)) in spec.args.iter().enumerate() {
        if i < spec.min_args {
            u.push_str(&format!(" <{name}>"));
        } else {
            u.push_str(&format!(" [{name}]"));
        }
    }
    if let Some((name, _)) = spec.rest {
        u.push_str(&format!(" <{name}>…"));
    }
    for p in spec.props {
        u.push_str(&format!(" [{}=…]", p.name));
    }
    if spec.free_props.is_some() {
        u.push_str(" KEY=value…");
    }
    if !matches!(spec.children, Children::None) {
        u.push_str(" { … }");
    }
    u
}

impl Walker<'_, '_> {
    fn shape(&self) -> bool {
        matches!(self.pass, Pass::Shape)
    }

    fn level(&mut self, nodes: &[Node], specs: &'static [NodeSpec], overlay: bool, service: Option<&Node>) {
        let mut seen: HashMap<(&str, String), &Node> = HashMap::new();
        let mut seen_keys: HashMap<(&str, &str), &Entry> = HashMap::new();
        for node in nodes {
            let name = node.name.name.as_str();
            let Some(spec) = specs.iter().find(|s| s.name == name) else {
                if self.shape() {
                    self.unknown_node(node, specs);
                }
                continue;
            };
            if self.shape() {
                // Routes are told apart by path *and* match kind; `rules` checks them.
                let keyed = spec.name != "route";
                // Siblings with one key may differ by the spec's `key_prop` (alert severity).
                let sibling = |key: String| match spec.key_prop.and_then(|p| node.prop(p)) {
                    Some(v) => (key, v.value.display()),
                    None => (key, String::new()),
                };
                if let Some((key, differ)) = identity(node, spec).filter(|_| keyed).map(sibling) {
                    if let Some(first) = seen.insert((spec.name, format!("{key}\u{0}{differ}")), node) {
                        self.duplicate(node, first, spec, &key, specs);
                    }
                }
                if spec.merge == Merge::Props {
                    for p in &node.props {
                        if let Some(first) = seen_keys.insert((spec.name, p.key.name.as_str()), &p.value) {
                            self.diags.push(
                                Diagnostic::error(Code::DuplicateProperty, format!("`{}` is set twice", p.key.name))
                                    .at(p.key.span, "set again here")
                                    .label(first.entry_span, "first set here")
                                    .help("remove one of them"),
                            );
                        }
                    }
                }
            }
            if overlay && is_removal(node, spec) {
                continue;
            }
            self.node(node, spec, overlay, service);
        }
    }

    fn node(&mut self, node: &Node, spec: &'static NodeSpec, overlay: bool, service: Option<&Node>) {
        if self.shape() {
            if let Some(ty) = &node.ty {
                self.diags.push(
                    Diagnostic::error(
                        Code::UnknownAnnotation,
                        format!("nodes take no type annotation, found `({})`", ty.name),
                    )
                    .at(ty.span, "not allowed here")
                    .help(format!("remove `({})`", ty.name)),
                );
            }
            self.arity(node, spec);
            self.props_shape(node, spec, overlay);
        }
        // Values: arguments and properties.
        for (i, arg) in node.args.iter().enumerate() {
            let kind = spec.args.get(i).map(|a| a.1).or(spec.rest.map(|r| r.1));
            if let Some(kind) = kind {
                self.value(kind, arg, Secrets::No, overlay, service);
            }
        }
        for prop in &node.props {
            if let Some(ps) = spec.prop(&prop.key.name) {
                let secrets = if ps.secret_only { Secrets::Only } else { Secrets::No };
                self.value(ps.kind, &prop.value, secrets, overlay, service);
            } else if let Some((_, vkind, secret_ok)) = spec.free_props {
                let secrets = if secret_ok { Secrets::Env } else { Secrets::No };
                self.value(vkind, &prop.value, secrets, overlay, service);
            }
        }
        if let Pass::Refs(_) = self.pass {
            self.required_children(node, spec);
            if is_partial(spec) {
                self.required_props(node, spec);
            }
        }
        match (&node.children, spec.children) {
            (Some(_), Children::None) => {
                if self.shape() {
                    self.diags.push(
                        Diagnostic::error(Code::UnexpectedChildren, format!("`{}` takes no children block", spec.name))
                            .at(node.name.span, "this node")
                            .help(format!("usage: {}", usage(spec))),
                    );
                }
            }
            (Some(children), Children::Nodes(c)) => {
                let svc = if spec.name == "service" { Some(node) } else { service };
                // A block that uses templates overlays them: `#null` removes a template's setting.
                let overlay = overlay || spec.name == "template" || children.iter().any(|c| c.name.name == "use");
                self.level(children, c, overlay, svc);
            }
            (Some(children), Children::TopLevel) => {
                if self.shape() {
                    for nested in children.iter().filter(|c| c.name.name == "env") {
                        self.diags.push(
                            Diagnostic::error(Code::UnknownNode, "environments cannot nest: `env` inside `env`")
                                .at(nested.name.span, "not allowed in an environment")
                                .help("declare each environment at the top level; an overlay applies to the base only"),
                        );
                    }
                    let rest: Vec<Node> = children.iter().filter(|c| c.name.name != "env").cloned().collect();
                    self.level(&rest, schema::TOP, true, None);
                }
            }
            (None, _) => {}
        }
    }

    fn unknown_node(&mut self, node: &Node, specs: &'static [NodeSpec]) {
        let name = node.name.name.as_str();
        let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
        let mut help = did_you_mean(name, names.iter().copied()).map(|s| format!("did you mean `{s}`?"));
        if help.is_none() {
            let places = schema::places_of(name);
            if !places.is_empty() {
                help = Some(format!("`{name}` belongs in {}", places.join(", ")));
            } else if !names.is_empty() {
                help = suggest(name, &names, "expected one of");
            }
        }
        let msg = if names.is_empty() {
            format!("unknown node `{name}`: this node takes no children")
        } else {
            format!("unknown node `{name}`")
        };
        self.diags
            .push(Diagnostic::error(Code::UnknownNode, msg).at(node.name.span, "not known here").maybe_help(help));
    }

    fn duplicate(&mut self, node: &Node, first: &Node, spec: &NodeSpec, key: &str, specs: &'static [NodeSpec]) {
        let top_level = std::ptr::eq(specs, schema::TOP);
        let (code, what) = if top_level && !key.is_empty() {
            (Code::DuplicateName, format!("{} `{key}` is declared twice", spec.name))
        } else if key.is_empty() {
            (Code::DuplicateNode, format!("`{}` is given twice", spec.name))
        } else {
            (Code::DuplicateNode, format!("`{} \"{key}\"` is given twice", spec.name))
        };
        let span = if key.is_empty() { node.name.span } else { node.head_span() };
        self.diags.push(
            Diagnostic::error(code, what)
                .at(span, "declared again here")
                .label(if key.is_empty() { first.name.span } else { first.head_span() }, "first declared here")
                .help("remove one of them, or merge them into one"),
        );
    }

    fn arity(&mut self, node: &Node, spec: &NodeSpec) {
        let max = if spec.rest.is_some() { usize::MAX } else { spec.args.len() };
        if node.args.len() < spec.min_args {
            let (what, kind) = spec.args.get(node.args.len()).copied().or(spec.rest).unwrap_or(("value", Kind::Str));
            self.diags.push(
                Diagnostic::error(Code::MissingArgument, format!("`{}` needs {what}: {}", spec.name, kind.describe()))
                    .at(node.name.span, format!("missing <{what}>"))
                    .help(format!("usage: {}", usage(spec))),
            );
        }
        if node.args.len() > max {
            for extra in &node.args[max..] {
                let help = if spec.args.is_empty() {
                    format!("`{}` takes no arguments; usage: {}", spec.name, usage(spec))
                } else {
                    format!("usage: {}", usage(spec))
                };
                self.diags.push(
                    Diagnostic::error(
                        Code::TooManyArguments,
                        format!("`{}` takes {} argument{}", spec.name, max, if max == 1 { "" } else { "s" }),
                    )
                    .at(extra.entry_span, "unexpected argument")
                    .help(help),
                );
            }
        }
    }

    fn props_shape(&mut self, node: &Node, spec: &NodeSpec, overlay: bool) {
        let names: Vec<&str> = spec.props.iter().map(|p| p.name).collect();
        let mut seen: HashMap<&str, &Entry> = HashMap::new();
        for prop in &node.props {
            let key = prop.key.name.as_str();
            if let Some(first) = seen.insert(key, &prop.value) {
                if spec.free_props.is_none() {
                    self.diags.push(
                        Diagnostic::error(Code::DuplicateProperty, format!("`{key}` is set twice on `{}`", spec.name))
                            .at(prop.key.span, "set again here")
                            .label(first.entry_span, "first set here")
                            .help("KDL keeps only the last one; remove the other"),
                    );
                }
            }
            if spec.prop(key).is_some() {
                continue;
            }
            if let Some((key_kind, _, _)) = spec.free_props {
                if let Err(e) = string_domain(key_kind, key) {
                    self.push_value_error(e, prop.key.span);
                }
                continue;
            }
            let help = if names.is_empty() {
                Some(format!("`{}` takes no properties; usage: {}", spec.name, usage(spec)))
            } else {
                suggest(key, &names, &format!("`{}` takes", spec.name))
            };
            self.diags.push(
                Diagnostic::error(Code::UnknownProperty, format!("`{}` has no property `{key}`", spec.name))
                    .at(prop.key.span, "unknown property")
                    .maybe_help(help),
            );
        }
        let given = |want: &str| given(node, spec, want);
        // In an overlay (or a template, or a block that uses one) a deep node's properties
        // merge with the base's: what it needs is checked on the merged stack.
        if !(overlay && is_partial(spec)) {
            self.required_props(node, spec);
        }
        if !spec.one_of.is_empty() {
            let chosen: Vec<_> = node.props.iter().filter(|p| spec.one_of.contains(&p.key.name.as_str())).collect();
            let list = spec.one_of.iter().map(|k| format!("`{k}=`")).collect::<Vec<_>>().join(", ");
            if chosen.is_empty() && !spec.one_of.iter().any(|k| given(k)) {
                self.diags.push(
                    Diagnostic::error(Code::MissingRequired, format!("`{}` needs exactly one of {list}", spec.name))
                        .at(node.name.span, "none given")
                        .help(format!("usage: {}", usage(spec))),
                );
            } else if chosen.len() > 1 {
                let mut d = Diagnostic::error(
                    Code::Conflicting,
                    format!("`{}` takes exactly one of {list}, found {}", spec.name, chosen.len()),
                )
                .at(chosen[1].key.span, "conflicts with the first");
                d = d.label(chosen[0].key.span, "first given here");
                self.diags.push(d.help(format!("keep one of {list}")));
            }
        }
    }

    fn required_props(&mut self, node: &Node, spec: &NodeSpec) {
        for req in spec.required {
            if !given(node, spec, req) {
                let kind = spec.prop(req).map(|p| p.kind.describe()).unwrap_or_default();
                self.diags.push(
                    Diagnostic::error(Code::MissingRequired, format!("`{}` needs `{req}=`: {kind}", spec.name))
                        .at(node.name.span, format!("missing `{req}=`"))
                        .help(format!("usage: {}", usage(spec))),
                );
            }
        }
    }

    fn required_children(&mut self, node: &Node, spec: &NodeSpec) {
        for group in spec.required_children {
            if node.children().iter().any(|c| group.contains(&c.name.name.as_str())) {
                continue;
            }
            let list = group.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(" or ");
            let what = node.arg_str(0).map(|n| format!("{} `{n}`", spec.name)).unwrap_or(spec.name.to_string());
            self.diags.push(
                Diagnostic::error(Code::MissingRequired, format!("{what} needs {list}"))
                    .at(node.head_span(), format!("no {list}"))
                    .help(format!("add {}", group.iter().map(|g| format!("`{g} …`")).collect::<Vec<_>>().join(" or "))),
            );
        }
    }

    fn push_value_error(&mut self, e: ValueError, span: crate::source::Span) {
        let label = match e.code {
            Code::OutOfRange | Code::InvalidPort => "out of range",
            _ => "invalid value",
        };
        self.diags.push(Diagnostic::error(e.code, e.message).at(span, label).maybe_help(e.help));
    }

    fn value(&mut self, kind: Kind, entry: &Entry, secrets: Secrets, overlay: bool, service: Option<&Node>) {
        match self.pass {
            Pass::Shape => self.value_shape(kind, entry, secrets, overlay),
            Pass::Refs(symbols) => self.value_refs(kind, entry, symbols, service),
        }
    }

    fn value_shape(&mut self, kind: Kind, entry: &Entry, secrets: Secrets, overlay: bool) {
        if secrets == Secrets::Only && entry.ty.is_none() && entry.value != Value::Null {
            self.diags.push(
                Diagnostic::error(
                    Code::SecretRequired,
                    "this setting holds a secret: give a `(secret)` reference, not a value",
                )
                .at(entry.span, "a literal secret")
                .help("declare `secret \"name\" file=\"…\"` (or `env=`) and write `(secret)\"name\"` here"),
            );
            return;
        }
        if let Some(ty) = &entry.ty {
            if ty.name == "secret" && secrets != Secrets::No {
                match &entry.value {
                    Value::String(s) => {
                        if let Err(e) = values::name(s) {
                            self.push_value_error(e, entry.span);
                        }
                    }
                    v => self.diags.push(
                        Diagnostic::error(
                            Code::WrongType,
                            format!("a secret reference is a secret's name, found {}", v.type_name()),
                        )
                        .at(entry.span, "expected a string"),
                    ),
                }
            } else if ty.name == "secret" {
                self.diags.push(
                    Diagnostic::error(Code::UnknownAnnotation, "a secret reference is not allowed here")
                        .at(ty.span, "secrets cannot go here")
                        .help("secrets can be referenced from `env` values, `basic-auth password-hash=` and `backup password=`; a secret must never reach a config file"),
                );
            } else {
                let help = if strsim::jaro_winkler(&ty.name, "secret") > 0.8 {
                    "did you mean `(secret)`?".to_string()
                } else {
                    "the only type annotation is `(secret)`, for secret references".to_string()
                };
                self.diags.push(
                    Diagnostic::error(Code::UnknownAnnotation, format!("unknown type annotation `({})`", ty.name))
                        .at(ty.span, "unknown annotation")
                        .help(help),
                );
            }
            return;
        }
        let v = &entry.value;
        if let Value::Null = v {
            if !overlay {
                self.diags.push(
                    Diagnostic::error(Code::WrongType, format!("expected {}, found #null", kind.describe()))
                        .at(entry.span, "#null")
                        .help("`#null` only removes a setting inside an `env` overlay"),
                );
            }
            return;
        }
        if let Value::String(s) = v {
            match values::interpolation(s) {
                Err(e) => {
                    self.push_value_error(e, entry.span);
                    return;
                }
                Ok(pieces) => {
                    let secret_piece = pieces.iter().any(|p| matches!(p, values::Piece::Secret(..)));
                    if secret_piece && secrets != Secrets::Env {
                        self.diags.push(
                            Diagnostic::error(Code::UnknownAnnotation, "`${secret:…}` is only allowed in `env` values")
                                .at(entry.span, "a secret would be written into a file here")
                                .help("secrets reach a process through its environment or a mounted file, never a generated config file"),
                        );
                        return;
                    }
                }
            }
            if values::has_interpolation(s) && kind.verbatim() {
                return self.diags.push(
                    Diagnostic::error(Code::InvalidInterpolation, "raw proxy directives take no `${…}` params")
                        .at(entry.span, "written verbatim into the proxy's configuration")
                        .help("write the value itself (`$$` is a literal `$`; nginx's own variables are `$name`, without braces)"),
                );
            }
            if values::has_interpolation(s) {
                // The literal parts reach the file whatever the params hold.
                if let Some(Err(e)) = free_text(kind).map(|lines| values::text(s, lines)) {
                    return self.push_value_error(e, entry.span);
                }
                // A port reference too (lowering resolves it against the service's ports), an
                // environment variable's name and a file name of the output.
                if matches!(
                    kind,
                    Kind::Name | Kind::ComposeName | Kind::Ref(_) | Kind::PortRef | Kind::EnvName | Kind::FileName
                ) {
                    self.diags.push(
                        Diagnostic::error(Code::InvalidInterpolation, "names and references cannot contain `${…}`")
                            .at(entry.span, "a name must be known when the stack is compiled")
                            .help("write the name itself; params are for values that reach the generated files"),
                    );
                }
                // Other kinds are checked once params are substituted, in `rules`.
                return;
            }
        }
        let wrong = |expected: &str, help: Option<String>| {
            Diagnostic::error(Code::WrongType, format!("expected {expected}, found {}", v.type_name()))
                .at(entry.span, format!("expected {expected}"))
                .maybe_help(help)
        };
        let result: Result<(), ValueError> = match (kind, v) {
            (Kind::Scalar, Value::String(s)) => string_domain(kind, s),
            (Kind::Scalar, _) => Ok(()),
            (Kind::Bool, Value::Bool(_)) => Ok(()),
            (Kind::Bool, Value::String(s)) if s == "true" || s == "false" => {
                return self.diags.push(wrong("a boolean", Some(format!("write `#{s}` without quotes"))));
            }
            (Kind::Bool, _) => return self.diags.push(wrong("a boolean", Some("write `#true` or `#false`".into()))),
            (Kind::Int(lo, hi), Value::Int(i)) => {
                if *i < lo || *i > hi {
                    Err(ValueError {
                        code: Code::OutOfRange,
                        message: format!("{i} is out of range: expected {lo} to {hi}"),
                        help: None,
                    })
                } else {
                    Ok(())
                }
            }
            (Kind::Number(lo, hi), _) if v.as_f64().is_some() => {
                let f = v.as_f64().unwrap_or_default();
                if f < lo || f > hi {
                    Err(ValueError {
                        code: Code::OutOfRange,
                        message: format!("{f} is out of range: expected {lo} to {hi}"),
                        help: None,
                    })
                } else {
                    Ok(())
                }
            }
            (Kind::Port, Value::Int(i)) => values::port(*i).map(|_| ()),
            (Kind::PortRef, Value::Int(i)) => values::port(*i).map(|_| ()),
            (Kind::PortRef, Value::String(s)) => values::name(s),
            (Kind::Cpus, Value::Int(i)) => values::cpus_num(*i as f64).map(|_| ()),
            (Kind::Cpus, Value::Float(f)) => values::cpus_num(*f).map(|_| ()),
            (Kind::Cpus, Value::String(s)) => values::cpus_str(s).map(|_| ()),
            (Kind::Size, Value::Int(i)) if *i > 0 => Ok(()),
            (Kind::Int(..) | Kind::Port, Value::String(s)) if s.parse::<i64>().is_ok() => {
                return self.diags.push(wrong(&kind.describe(), Some(format!("write `{s}` without quotes"))));
            }
            (Kind::Int(..) | Kind::Port | Kind::Number(..), _) => {
                return self.diags.push(wrong(&kind.describe(), None))
            }
            (_, Value::String(s)) => string_domain(kind, s),
            (Kind::Duration, Value::Int(i)) => {
                return self.diags.push(wrong("a duration string", Some(format!("write \"{i}s\" for seconds"))));
            }
            _ => return self.diags.push(wrong(&kind.describe(), None)),
        };
        if let Err(e) = result {
            let span = promql_span(kind, &e, entry).unwrap_or(entry.span);
            self.push_value_error(e, span);
        }
    }

    fn value_refs(&mut self, kind: Kind, entry: &Entry, symbols: &Symbols, service: Option<&Node>) {
        let Value::String(s) = &entry.value else {
            return;
        };
        if entry.ty.as_ref().is_some_and(|t| t.name == "secret") {
            self.reference(RefKind::Secret, s, entry, symbols);
            return;
        }
        if let Ok(pieces) = values::interpolation(s) {
            // Each unknown name once per string: the first occurrence is enough to fix it,
            // and a string repeating one name N times would cost N suggestions.
            let mut seen: std::collections::HashSet<(bool, &str)> = std::collections::HashSet::new();
            for piece in pieces {
                let first = match &piece {
                    values::Piece::Secret(n, _) => seen.insert((true, *n)),
                    values::Piece::Param(n, _) => seen.insert((false, *n)),
                    values::Piece::Text(_) => true,
                };
                if !first {
                    continue;
                }
                if let values::Piece::Secret(name, off) = piece {
                    if !symbols.secrets.contains_key(name) {
                        let names: Vec<&str> = symbols.secrets.keys().copied().collect();
                        self.diags.push(
                            Diagnostic::error(Code::UnknownSecret, format!("unknown secret `{name}`"))
                                .at(param_span(entry, s, off, name.len()), "no secret of this name")
                                .help(
                                    suggest(name, &names, "secrets")
                                        .unwrap_or_else(|| format!("declare it: `secret \"{name}\" env=\"…\"`")),
                                ),
                        );
                    }
                }
                if let values::Piece::Param(p, off) = piece {
                    if !symbols.params.contains_key(p) {
                        let span = param_span(entry, s, off, p.len());
                        let names: Vec<&str> = symbols.params.keys().copied().collect();
                        self.diags.push(
                            Diagnostic::error(Code::UnknownParam, format!("`${{{p}}}` names no param"))
                                .at(span, "unknown param")
                                .maybe_help(
                                    suggest(p, &names, "params")
                                        .or(Some(format!("declare it: `param \"{p}\" default=\"…\"`"))),
                                ),
                        );
                    }
                }
            }
        }
        if values::has_interpolation(s) {
            return;
        }
        match kind {
            Kind::Ref(r) => self.reference(r, s, entry, symbols),
            Kind::MountSource if !values::is_bind_source(s) => self.reference(RefKind::Volume, s, entry, symbols),
            Kind::PortRef => {
                if let Some(svc) = service {
                    let declared: Vec<&str> = svc.children_named("port").filter_map(|p| p.prop_str("name")).collect();
                    if !declared.contains(&s.as_str()) {
                        let sname = svc.arg_str(0).unwrap_or("?");
                        let help = suggest(s, &declared, "its ports are named").unwrap_or_else(|| {
                            format!("name a port: `port 8080 name=\"{s}\"`, or give the port number")
                        });
                        self.diags.push(
                            Diagnostic::error(
                                Code::UnknownPortName,
                                format!("service `{sname}` has no port named `{s}`"),
                            )
                            .at(entry.span, "no such port")
                            .help(help),
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn reference(&mut self, kind: RefKind, name: &str, entry: &Entry, symbols: &Symbols) {
        let table = symbols.table(kind);
        if table.contains(name) {
            return;
        }
        let code = match kind {
            RefKind::Service => Code::UnknownService,
            RefKind::Volume => Code::UnknownVolume,
            RefKind::Network => Code::UnknownNetwork,
            RefKind::Secret => Code::UnknownSecret,
            RefKind::RateLimit => Code::UnknownRateLimit,
            RefKind::Lint => Code::UnknownLint,
            RefKind::EnvGroup => Code::UnknownEnvGroup,
        };
        let noun = kind.noun();
        let help =
            did_you_mean(name, table.iter().copied()).map(|s| format!("did you mean `{s}`?")).unwrap_or_else(|| {
                match kind {
                    RefKind::Volume => {
                        format!("declare it: `volume \"{name}\"`; a bind mount starts with `./` or `/`")
                    }
                    RefKind::Lint => format!("lints: {}", table.iter().copied().collect::<Vec<_>>().join(", ")),
                    RefKind::RateLimit => {
                        format!("declare it in `proxy`: `rate-limit \"{name}\" rate=\"10r/s\"`")
                    }
                    _ => format!("declare it: `{} \"{name}\"`", kind.noun()),
                }
            });
        self.diags.push(
            Diagnostic::error(code, format!("unknown {noun} `{name}`"))
                .at(entry.span, format!("no {noun} of this name"))
                .help(help),
        );
    }
}

/// The character at which a PromQL expression stops lexing, when the string's source text
/// is its value (no escapes): the error points into the expression, not at all of it.
fn promql_span(kind: Kind, e: &ValueError, entry: &Entry) -> Option<crate::source::Span> {
    let (Kind::Promql, Code::InvalidPromql, Value::String(s), Some(start)) =
        (kind, e.code, &entry.value, entry.content_offset)
    else {
        return None;
    };
    let (at, len) = values::promql_error_at(s)?;
    Some(crate::source::Span::new(entry.span.source, entry.span.offset + start + at, len))
}

/// The span of `${name}` inside a string entry, when the string is written plainly.
fn param_span(entry: &Entry, s: &str, off: usize, len: usize) -> crate::source::Span {
    // For a plain quoted string the content starts one byte after the quote; escapes or raw
    // strings shift offsets, so fall back to the whole value then.
    if entry.span.len == s.len() + 2 {
        crate::source::Span::new(entry.span.source, entry.span.offset + 1 + off - 2, len + 3)
    } else {
        entry.span
    }
}

/// nginx's default `large_client_header_buffers` line is 8k; half of it leaves room for the
/// name and for the other headers a proxy adds.
pub const HEADER_VALUE_MAX: usize = 4096;

/// Whether a kind's own domain leaves free characters, which [`values::text`] then checks
/// (the other domains admit only their own alphabet).
pub fn free_text(kind: Kind) -> Option<bool> {
    match kind {
        Kind::Text | Kind::Scalar | Kind::Promql | Kind::RawNginx | Kind::RawCaddy => Some(true),
        Kind::Str
        | Kind::Path
        | Kind::AbsPath
        | Kind::MountTarget
        | Kind::RoutePath
        | Kind::MountSource
        | Kind::UrlPath
        | Kind::Url
        | Kind::Destination
        | Kind::HeaderValue
        | Kind::AuthUser
        | Kind::Origin => Some(false),
        _ => None,
    }
}

/// The domain check of a string value that contains no interpolation.
pub fn string_domain(kind: Kind, s: &str) -> Result<(), ValueError> {
    if let Some(lines) = free_text(kind) {
        values::text(s, lines)?;
    }
    match kind {
        Kind::Str => values::text(s, false),
        Kind::Text => values::text(s, true),
        Kind::HeaderName => values::header_name(s),
        Kind::HeaderValue => values::text_len(s, HEADER_VALUE_MAX),
        Kind::LabelName => values::label_name(s),
        Kind::ObjectName => values::object_name(s),
        Kind::ImageTag => values::image_tag(s),
        Kind::HostPort => values::host_port(s),
        Kind::AuthUser => values::auth_user(s),
        Kind::ComposeName | Kind::Ref(RefKind::Service | RefKind::Network) => values::compose_name(s),
        Kind::MediaType => values::media_type(s),
        Kind::Name | Kind::Ref(_) => values::name(s),
        Kind::Duration => values::duration(s).map(|_| ()),
        Kind::Size => values::size(s).map(|_| ()),
        Kind::Cidr => values::cidr(s).map(|_| ()),
        Kind::Cron => values::cron(s),
        Kind::Host => values::host(s),
        Kind::Address => values::address(s).map(|_| ()),
        Kind::Image => values::image(s),
        Kind::EnvName => values::env_name(s),
        Kind::Path => values::path(s),
        Kind::AbsPath => values::abs_path(s),
        Kind::MountTarget => values::abs_path(s).and_then(|()| values::no_colon(s)),
        Kind::FileName => values::file_name(s),
        Kind::UrlPath => values::url_path(s),
        // Prefix or regex depends on the route's `regex=`; checked in `rules`.
        Kind::RoutePath => values::path(s),
        Kind::MountSource => {
            if values::is_bind_source(s) {
                values::path(s).and_then(|()| values::no_colon(s))
            } else {
                values::name(s)
            }
        }
        Kind::Rate => values::rate(s).map(|_| ()),
        Kind::Promql => values::promql(s),
        Kind::Destination => values::destination(s),
        Kind::Url => values::url(s),
        Kind::RawNginx => values::raw_block(s, values::Dialect::Nginx),
        Kind::RawCaddy => values::raw_block(s, values::Dialect::Caddy),
        Kind::Origin => super::edge::origin(s),
        Kind::Enum(words) => {
            if words.contains(&s) {
                Ok(())
            } else {
                Err(ValueError {
                    code: Code::InvalidChoice,
                    message: format!("`{s}` is not {}", kind.describe()),
                    help: did_you_mean(s, words.iter().copied()).map(|w| format!("did you mean \"{w}\"?")),
                })
            }
        }
        Kind::Cpus => values::cpus_str(s).map(|_| ()),
        // A port from a param: its value, once substituted (a literal one is an integer).
        Kind::Port => match s.trim().parse::<i128>() {
            Ok(p) => values::port(p).map(|_| ()),
            Err(_) => Err(ValueError {
                code: Code::InvalidPort,
                message: format!("`{s}` is not a port number"),
                help: Some("give the param a default that is a port, 1-65535".into()),
            }),
        },
        Kind::PortRef | Kind::Int(..) | Kind::Number(..) | Kind::Bool | Kind::Scalar => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostics::Code;

    /// One unknown name repeated in one string is reported once: the mutation test found
    /// `${image-tag}` × N giving N errors, each with its own "did you mean" search.
    #[test]
    fn an_unknown_interpolation_is_reported_once_per_string() {
        let text = format!(
            "stack \"demo\"\nparam \"tag\" default=\"1\"\nservice \"web\" {{\n    image \"nginx:{}\"\n    env A=\"${{tag}}${{nope}}${{secret:s}}${{secret:s}}\"\n}}\n",
            "${tagg}".repeat(1000)
        );
        let out = crate::compile("t.stack.kdl", &text, &crate::Options::default());
        let count = |code: Code| out.diagnostics.iter().filter(|d| d.code == code).count();
        assert_eq!(count(Code::UnknownParam), 2, "{:#?}", out.diagnostics);
        assert_eq!(count(Code::UnknownSecret), 1, "{:#?}", out.diagnostics);
    }
}
