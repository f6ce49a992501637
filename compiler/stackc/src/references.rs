//! Where each named thing of a stack file is declared and where it is used, as written (no
//! merge): what an editor needs for "go to definition", "find references" and "rename".
//!
//! The uses are found the way the reference check (`validate::walk`) finds them: from the
//! schema's value kinds (`Kind::Ref`, a named volume as a mount source, a `(secret)` value),
//! `${param}` and `${secret:name}` inside strings, and `use "template"`. A node of an `env`
//! overlay that names a base declaration (`env "prod" { service "api" { … } }`) is a use of
//! it; one that names nothing in the base declares a thing of that environment.

use crate::schema::{self, Children, Kind, NodeSpec, RefKind};
use crate::source::Span;
use crate::syntax::ast::{Entry, Node, Value};
use crate::validate::values;

/// What a name names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SymbolKind {
    Service,
    Volume,
    Network,
    Secret,
    Param,
    RateLimit,
    EnvGroup,
    Template,
}

impl SymbolKind {
    pub fn noun(self) -> &'static str {
        match self {
            SymbolKind::Service => "service",
            SymbolKind::Volume => "volume",
            SymbolKind::Network => "network",
            SymbolKind::Secret => "secret",
            SymbolKind::Param => "param",
            SymbolKind::RateLimit => "rate-limit zone",
            SymbolKind::EnvGroup => "env-group",
            SymbolKind::Template => "template",
        }
    }

    /// The node that declares one.
    fn declared_by(node: &str) -> Option<SymbolKind> {
        Some(match node {
            "service" => SymbolKind::Service,
            "volume" => SymbolKind::Volume,
            "network" => SymbolKind::Network,
            "secret" => SymbolKind::Secret,
            "param" => SymbolKind::Param,
            "env-group" => SymbolKind::EnvGroup,
            "template" => SymbolKind::Template,
            _ => return None,
        })
    }

    pub fn of_ref(r: RefKind) -> Option<SymbolKind> {
        Some(match r {
            RefKind::Service => SymbolKind::Service,
            RefKind::Volume => SymbolKind::Volume,
            RefKind::Network => SymbolKind::Network,
            RefKind::Secret => SymbolKind::Secret,
            RefKind::RateLimit => SymbolKind::RateLimit,
            RefKind::EnvGroup => SymbolKind::EnvGroup,
            RefKind::Lint => return None,
        })
    }
}

/// One occurrence of a name: `span` covers the name's own characters only (not its quotes),
/// so that replacing it renames the thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub kind: SymbolKind,
    pub name: String,
    pub span: Span,
    pub declaration: bool,
}

/// Every occurrence of every name in a file, in source order.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub occurrences: Vec<Occurrence>,
}

impl Index {
    pub fn of(nodes: &[Node]) -> Index {
        let mut found = Vec::new();
        level(nodes, schema::TOP, true, Place::Base, &mut found);
        // An overlay's node is a use where the base declares the name.
        let base: std::collections::HashSet<(SymbolKind, String)> = found
            .iter()
            .filter(|(o, place): &&(Occurrence, Place)| o.declaration && *place == Place::Base)
            .map(|(o, _)| (o.kind, o.name.clone()))
            .collect();
        let mut occurrences: Vec<Occurrence> = found
            .into_iter()
            .map(|(mut o, place)| {
                if o.declaration && place == Place::Overlay && base.contains(&(o.kind, o.name.clone())) {
                    o.declaration = false;
                }
                o
            })
            .collect();
        occurrences.sort_by_key(|o| o.span.offset);
        Index { occurrences }
    }

    /// The occurrence whose name covers `offset` (its end included: a cursor after the name).
    pub fn at(&self, offset: usize) -> Option<&Occurrence> {
        self.occurrences.iter().find(|o| o.span.offset <= offset && offset <= o.span.offset + o.span.len)
    }

    /// Where `kind` `name` is declared (the base's declaration first).
    pub fn declarations(&self, kind: SymbolKind, name: &str) -> impl Iterator<Item = &Occurrence> + '_ {
        let name = name.to_string();
        self.occurrences.iter().filter(move |o| o.declaration && o.kind == kind && o.name == name)
    }

    /// Every occurrence of `kind` `name`, declarations included, in source order.
    pub fn all(&self, kind: SymbolKind, name: &str) -> impl Iterator<Item = &Occurrence> + '_ {
        let name = name.to_string();
        self.occurrences.iter().filter(move |o| o.kind == kind && o.name == name)
    }

    /// The names of `kind` declared in the file, in order, each once.
    pub fn names(&self, kind: SymbolKind) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for o in self.occurrences.iter().filter(|o| o.declaration && o.kind == kind) {
            if !out.contains(&o.name.as_str()) {
                out.push(&o.name);
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Base,
    Overlay,
}

fn level(
    nodes: &[Node],
    specs: &'static [NodeSpec],
    top_level: bool,
    place: Place,
    out: &mut Vec<(Occurrence, Place)>,
) {
    for node in nodes {
        let Some(spec) = specs.iter().find(|s| s.name == node.name.name) else { continue };
        if let (true, Some(kind)) = (top_level, SymbolKind::declared_by(spec.name)) {
            if let Some(entry) = node.args.first() {
                push_name(entry, kind, true, place, out);
            }
        }
        if spec.name == "rate-limit" {
            if let Some(entry) = node.args.first() {
                push_name(entry, SymbolKind::RateLimit, true, place, out);
            }
        }
        for (i, entry) in node.args.iter().enumerate() {
            if top_level && i == 0 && SymbolKind::declared_by(spec.name).is_some() {
                continue;
            }
            let kind = if spec.name == "use" {
                Some(Kind::Name)
            } else {
                spec.args.get(i).map(|a| a.1).or(spec.rest.map(|r| r.1))
            };
            if spec.name == "use" {
                push_name(entry, SymbolKind::Template, false, place, out);
                continue;
            }
            value(kind, entry, place, out);
        }
        for prop in &node.props {
            let kind = spec.prop(&prop.key.name).map(|p| p.kind).or(spec.free_props.map(|f| f.1));
            value(kind, &prop.value, place, out);
        }
        let (inner_top, inner) = match spec.children {
            Children::TopLevel => (true, Place::Overlay),
            _ => (false, place),
        };
        if spec.name == "rate-limit" || node.children.is_none() {
            continue;
        }
        level(node.children(), spec.child_specs(), inner_top, inner, out);
    }
}

fn value(kind: Option<Kind>, entry: &Entry, place: Place, out: &mut Vec<(Occurrence, Place)>) {
    let Value::String(s) = &entry.value else { return };
    if entry.is_secret_ref() {
        push_name(entry, SymbolKind::Secret, false, place, out);
        return;
    }
    if values::has_interpolation(s) {
        let (Ok(pieces), Some(start)) = (values::interpolation(s), entry.content_offset) else { return };
        for piece in pieces {
            let (kind, name, off) = match piece {
                values::Piece::Param(n, off) => (SymbolKind::Param, n, off),
                values::Piece::Secret(n, off) => (SymbolKind::Secret, n, off),
                values::Piece::Text(_) => continue,
            };
            let span = Span::new(entry.span.source, entry.span.offset + start + off, name.len());
            out.push((Occurrence { kind, name: name.to_string(), span, declaration: false }, place));
        }
        return;
    }
    let kind = match kind {
        Some(Kind::Ref(r)) => SymbolKind::of_ref(r),
        Some(Kind::MountSource) if !values::is_bind_source(s) => Some(SymbolKind::Volume),
        _ => None,
    };
    if let Some(kind) = kind {
        push_name(entry, kind, false, place, out);
    }
}

/// A string entry that is a name as a whole, written without escapes.
fn push_name(entry: &Entry, kind: SymbolKind, declaration: bool, place: Place, out: &mut Vec<(Occurrence, Place)>) {
    let (Value::String(s), Some(start)) = (&entry.value, entry.content_offset) else { return };
    let span = Span::new(entry.span.source, entry.span.offset + start, s.len());
    out.push((Occurrence { kind, name: s.clone(), span, declaration }, place));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceId;

    fn index(text: &str) -> Index {
        let doc = crate::syntax::parse(SourceId(0), text).0.expect("parses");
        Index::of(&doc.nodes)
    }

    fn spans(text: &str, idx: &Index, kind: SymbolKind, name: &str) -> Vec<(String, bool)> {
        idx.all(kind, name)
            .map(|o| {
                let s = &text[o.span.offset..o.span.offset + o.span.len];
                let line = text[..o.span.offset].lines().count();
                (format!("{line}:{s}"), o.declaration)
            })
            .collect()
    }

    const STACK: &str = r#"stack "shop"
param "tag" default="1.0"
secret "db-password" env="DB_PASSWORD"
volume "pgdata"
network "backend"
template "app" {
    restart "always"
}
service "db" {
    image "postgres:16"
    env POSTGRES_PASSWORD=(secret)"db-password"
    mount "pgdata" "/var/lib/postgresql/data"
    networks "backend"
}
service "api" {
    use "app"
    image "ghcr.io/acme/api:${tag}"
    env DATABASE_URL="postgres://app:${secret:db-password}@db/app"
    depends-on "db"
    networks "backend"
    mount "./config" "/config"
}
proxy "nginx" {
    rate-limit "api" rate="10r/s"
}
site "shop.example.com" {
    route "/" to="api" rate-limit="api"
}
env "prod" {
    service "api" {
        depends-on "db"
    }
    service "worker" {
        image "ghcr.io/acme/worker:${tag}"
    }
}
"#;

    #[test]
    fn every_kind_of_use_is_found_with_the_names_own_span() {
        let idx = index(STACK);
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Service, "db"),
            [("9:db".into(), true), ("19:db".into(), false), ("31:db".into(), false)]
        );
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Service, "api"),
            [("15:api".into(), true), ("27:api".into(), false), ("30:api".into(), false)],
            "the route's `to=` and the overlay's node; the rate-limit zone is another kind"
        );
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Secret, "db-password"),
            [("3:db-password".into(), true), ("11:db-password".into(), false), ("18:db-password".into(), false)],
            "a `(secret)` value and `${{secret:…}}` inside a string"
        );
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Param, "tag"),
            [("2:tag".into(), true), ("17:tag".into(), false), ("34:tag".into(), false)]
        );
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Volume, "pgdata"),
            [("4:pgdata".into(), true), ("12:pgdata".into(), false)]
        );
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Network, "backend"),
            [("5:backend".into(), true), ("13:backend".into(), false), ("20:backend".into(), false)]
        );
        assert_eq!(spans(STACK, &idx, SymbolKind::Template, "app"), [("6:app".into(), true), ("16:app".into(), false)]);
        assert_eq!(
            spans(STACK, &idx, SymbolKind::RateLimit, "api"),
            [("24:api".into(), true), ("27:api".into(), false)]
        );
        assert_eq!(
            spans(STACK, &idx, SymbolKind::Service, "worker"),
            [("33:worker".into(), true)],
            "a service only an environment has is declared there"
        );
        assert!(idx.all(SymbolKind::Volume, "./config").next().is_none(), "a bind mount names no volume");
    }

    #[test]
    fn the_occurrence_under_the_cursor_includes_the_names_end() {
        let idx = index(STACK);
        let at = STACK.find("depends-on \"db\"").unwrap() + "depends-on \"".len();
        assert_eq!(idx.at(at).map(|o| o.name.as_str()), Some("db"));
        assert_eq!(idx.at(at + 2).map(|o| o.name.as_str()), Some("db"));
        assert_eq!(idx.at(at + 4), None);
        assert_eq!(idx.names(SymbolKind::Service), ["db", "api", "worker"]);
    }
}
