//! `stackc show`: the stack as the compiler sees it, with its templates expanded (and the
//! environment asked for merged over the base), printed as KDL 2 that builds to the same
//! files as the original. Comments are not kept: the text is generated from the AST.
//!
//! `env` blocks are left out (an overlay may change a template, which the expanded text no
//! longer has): `stackc show --env NAME` prints that environment's stack, which builds
//! without `--env` to the files `stackc build --env NAME` writes. `defaults` stays as
//! written; it applies to the expanded services the same way.

use crate::driver::{compile, Options, Outcome};
use crate::lower::merge;
use crate::source::SourceMap;
use crate::syntax::{
    self,
    ast::{Entry, Node, Value},
};
use crate::validate;

/// Why `show` printed nothing.
#[derive(Debug)]
pub enum ShowError {
    /// The stack has errors: its diagnostics.
    Invalid(Box<Outcome>),
    /// `--service NAME` names no service; the services there are.
    UnknownService { name: String, services: Vec<String> },
}

/// The expanded stack (or, with `service`, that one service block) as KDL 2 text.
pub fn show(name: &str, text: &str, opts: &Options, service: Option<&str>) -> Result<String, ShowError> {
    let outcome = compile(name, text, opts);
    if outcome.has_errors() {
        return Err(ShowError::Invalid(Box::new(outcome)));
    }
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let (Some(mut doc), _) = syntax::parse(id, text) else {
        return Err(ShowError::Invalid(Box::new(outcome)));
    };
    crate::lower::presets::add_used(&mut doc.nodes, &mut sources);
    let nodes = validate::as_meant(doc.nodes, &mut crate::diagnostics::Diagnostics::new());
    let env = opts
        .env
        .as_deref()
        .and_then(|want| merge::environments(&nodes).into_iter().find(|e| e.arg_str(0) == Some(want)).cloned());
    let (expanded, _) = merge::expanded(&nodes, env.as_ref());
    let shown: Vec<&Node> = match service {
        None => expanded.iter().collect(),
        Some(want) => {
            let found: Vec<&Node> =
                expanded.iter().filter(|n| n.name.name == "service" && n.arg_str(0) == Some(want)).collect();
            if found.is_empty() {
                let services = expanded
                    .iter()
                    .filter(|n| n.name.name == "service")
                    .filter_map(|n| n.arg_str(0))
                    .map(str::to_string);
                return Err(ShowError::UnknownService { name: want.to_string(), services: services.collect() });
            }
            found
        }
    };
    let mut out = String::new();
    for (i, n) in shown.iter().enumerate() {
        // A blank line between blocks, as a person would write them.
        if i > 0 && (n.children.is_some() || shown[i - 1].children.is_some()) {
            out.push('\n');
        }
        node(&mut out, n, 0);
    }
    Ok(out)
}

fn node(out: &mut String, n: &Node, depth: usize) {
    out.push_str(&"    ".repeat(depth));
    out.push_str(&ident(&n.name.name));
    for a in &n.args {
        out.push(' ');
        entry(out, a);
    }
    for p in &n.props {
        out.push(' ');
        out.push_str(&ident(&p.key.name));
        out.push('=');
        entry(out, &p.value);
    }
    match &n.children {
        Some(kids) if !kids.is_empty() => {
            out.push_str(" {\n");
            for k in kids {
                node(out, k, depth + 1);
            }
            out.push_str(&"    ".repeat(depth));
            out.push_str("}\n");
        }
        Some(_) => out.push_str(" {}\n"),
        None => out.push('\n'),
    }
}

fn entry(out: &mut String, e: &Entry) {
    if let Some(ty) = &e.ty {
        out.push('(');
        out.push_str(&ident(&ty.name));
        out.push(')');
    }
    out.push_str(&value(&e.value));
}

fn value(v: &Value) -> String {
    match v {
        Value::String(s) => crate::syntax::quote(s),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => "#nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "#inf" } else { "#-inf" }.into(),
        // `{:?}` keeps a decimal point (`1.0`), so the value reads back as a float.
        Value::Float(f) => format!("{f:?}"),
        Value::Bool(b) => format!("#{b}"),
        Value::Null => "#null".into(),
    }
}

/// A node name or property key: bare when KDL 2 reads it back as the same identifier, quoted
/// otherwise (`"1st"`, `"a b"`, `"true"`).
fn ident(s: &str) -> String {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "-_.:+@".contains(c);
    let starts_like_number = {
        let rest = s.strip_prefix(['-', '+']).unwrap_or(s);
        let rest = rest.strip_prefix('.').unwrap_or(rest);
        rest.starts_with(|c: char| c.is_ascii_digit())
    };
    let keyword = matches!(s, "true" | "false" | "null" | "inf" | "-inf" | "nan");
    if !s.is_empty() && s.chars().all(ok_char) && !starts_like_number && !keyword {
        s.to_string()
    } else {
        crate::syntax::quote(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_identifiers_read_back_as_written() {
        assert_eq!(value(&Value::Float(1.0)), "1.0");
        assert_eq!(value(&Value::Float(0.25)), "0.25");
        assert_eq!(value(&Value::Bool(true)), "#true");
        assert_eq!(crate::syntax::quote("a\"b\\c\nd\u{7}"), "\"a\\\"b\\\\c\\nd\\u{7}\"");
        assert_eq!(ident("com.example.team"), "com.example.team");
        assert_eq!(ident("DATABASE_URL"), "DATABASE_URL");
        assert_eq!(ident("1st"), "\"1st\"");
        assert_eq!(ident("true"), "\"true\"");
        assert_eq!(ident("a b"), "\"a b\"");
    }
}
