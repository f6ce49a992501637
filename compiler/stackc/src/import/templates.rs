//! Settings that services share become `template` blocks and `use` lines.
//!
//! serde-saphyr resolves anchors, aliases and `<<` merge keys before the importer sees the
//! tree, so where a setting came from is not known. What is known: the translated lines of
//! every service. A group of lines that the same services all have, identically, is one
//! template. Its name comes from the YAML anchor those services refer to (found by a light
//! scan of the text: `&name` and `*name`), else from the service they all `extends`, else
//! `common`. A group that no anchor or `extends` explains becomes a template only when that
//! makes the stack shorter. The services' own lines follow their `use` lines, so what a
//! service overrides stays its own, as compose's merge has it.

use std::collections::{BTreeMap, BTreeSet};

use super::yaml::Node;
use super::{comment, kebab, q, Ctx, Line};

/// An anchor written in the compose file and the services whose blocks refer to it.
struct Anchor {
    name: String,
    /// The top-level `x-` key it is written on, when it is.
    x_key: Option<String>,
    users: BTreeSet<String>,
}

/// Every `&name` of `text` with the compose services whose lines hold a `*name`. A service's
/// lines run from its key to the next service's key (or the next top-level key).
fn anchors(text: &str, services: &Node) -> Vec<Anchor> {
    let mut starts: Vec<(u64, String)> =
        services.entries().iter().map(|(k, _)| (k.line, k.scalar().unwrap_or_default())).collect();
    starts.sort();
    let services_end = text
        .lines()
        .enumerate()
        .skip(services.line.max(1) as usize)
        .find(|(_, l)| l.chars().next().is_some_and(|c| !c.is_whitespace() && c != '#'))
        .map_or(u64::MAX, |(i, _)| i as u64 + 1);
    let owner = |line: u64| -> Option<String> {
        if line >= services_end {
            return None;
        }
        starts.iter().rev().find(|(l, _)| *l <= line).map(|(_, n)| n.clone())
    };
    let mut out: Vec<Anchor> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        let code = strip_comment(raw);
        for (sigil, name) in markers(code) {
            if sigil == '&' {
                let x_key = (!raw.starts_with(char::is_whitespace))
                    .then(|| code.split(':').next().unwrap_or_default().trim())
                    .filter(|k| k.starts_with("x-"))
                    .map(str::to_string);
                out.push(Anchor { name, x_key, users: BTreeSet::new() });
            } else if let (Some(a), Some(svc)) = (out.iter_mut().rev().find(|a| a.name == name), owner(line)) {
                a.users.insert(svc);
            }
        }
    }
    out
}

/// A line without its `# comment` (a `#` after a space, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(qc), _) if qc == c => quote = None,
            (None, '#') if prev.is_whitespace() => return &line[..i],
            _ => {}
        }
        prev = c;
    }
    line
}

/// The anchors (`&a`) and aliases (`*a`) of one line, outside quotes.
fn markers(code: &str) -> Vec<(char, String)> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut quote = None;
    for (i, &c) in chars.iter().enumerate() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(qc), _) if qc == c => quote = None,
            (None, '&' | '*') if i == 0 || matches!(chars[i - 1], ' ' | '[' | ',' | '{' | '-') => {
                let name: String = chars[i + 1..]
                    .iter()
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '[' | '{'))
                    .collect();
                if !name.is_empty() {
                    out.push((c, name));
                }
            }
            _ => {}
        }
    }
    out
}

/// Replaces the lines that services share by `use` lines and returns the `template` blocks.
/// `services` holds stack names and lines; `text` and `root` are the base compose file.
pub(super) fn factor(ctx: &mut Ctx, text: &str, root: &Node, services: &mut [(String, Vec<Line>)]) -> Vec<Vec<String>> {
    let anchors: Vec<Anchor> = root
        .get("services")
        .map(|s| anchors(text, s))
        .unwrap_or_default()
        .into_iter()
        .map(|a| Anchor { users: a.users.iter().map(|u| ctx.name("service", u)).collect(), ..a })
        .collect();
    let extended: BTreeMap<String, BTreeSet<String>> = ctx
        .extended
        .clone()
        .into_iter()
        .map(|(svc, chain)| (ctx.name("service", &svc), chain.iter().map(|c| ctx.name("service", c)).collect()))
        .collect();

    // A line can move only when its key is once in each service: two lines of one key (a
    // repeated mapping key) would merge differently from a template.
    let movable = |lines: &[Line], l: &Line| -> bool {
        !l.key.starts_with('~') && lines.iter().filter(|o| o.key == l.key).count() == 1
    };
    // Each shared line, with the services that have it, in the order the lines first appear.
    let mut groups: Vec<(BTreeSet<usize>, Vec<Line>)> = Vec::new();
    let mut seen: Vec<&Line> = Vec::new();
    for (i, (_, lines)) in services.iter().enumerate() {
        for l in lines.iter().filter(|l| movable(lines, l)) {
            if seen.contains(&l) {
                continue;
            }
            seen.push(l);
            let users: BTreeSet<usize> = services
                .iter()
                .enumerate()
                .filter(|(j, (_, other))| *j >= i && other.contains(l) && movable(other, l))
                .map(|(j, _)| j)
                .collect();
            if users.len() < 2 {
                continue;
            }
            match groups.iter_mut().find(|(u, _)| *u == users) {
                Some((_, ls)) => ls.push(l.clone()),
                None => groups.push((users, vec![l.clone()])),
            }
        }
    }

    // The templates most services use first: they read as the base the others add to.
    groups.sort_by_key(|(users, _)| std::cmp::Reverse(users.len()));
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut templates = Vec::new();
    let mut uses: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut moved: BTreeMap<usize, Vec<Line>> = BTreeMap::new();
    for (users, lines) in groups {
        let user_names: BTreeSet<String> = users.iter().map(|&i| services[i].0.clone()).collect();
        let listed = user_names.iter().cloned().collect::<Vec<_>>().join(", ");
        // The anchors these services all refer to; else the service they all extend.
        let referred: Vec<&Anchor> = anchors.iter().filter(|a| a.users == user_names).collect();
        let base = user_names
            .iter()
            .map(|u| {
                let mut chain = extended.get(u).cloned().unwrap_or_default();
                chain.insert(u.clone());
                chain
            })
            .reduce(|a, b| a.intersection(&b).cloned().collect())
            .unwrap_or_default();
        let (name, why) = if let Some(a) = referred.first() {
            let others: Vec<String> = referred[1..].iter().map(|a| format!("`&{}`", a.name)).collect();
            let written = match &a.x_key {
                Some(x) => format!("`{x}: &{}`", a.name),
                None => format!("`&{}`", a.name),
            };
            let also = if others.is_empty() {
                String::new()
            } else {
                format!(" (with {}, which the same services use)", others.join(", "))
            };
            (kebab(&a.name), format!("guess: {written}{also}, merged into {listed}, as a template"))
        } else if let Some(b) = base.iter().find(|b| extended.values().any(|c| c.contains(*b))) {
            (b.clone(), format!("guess: what {listed} have from `extends: {b}`, as a template"))
        } else if lines.len() >= 2 && users.len() * lines.len() > lines.len() + 3 + users.len() {
            ("common".to_string(), format!("guess: settings that {listed} repeat, as a template"))
        } else {
            continue;
        };
        let mut name = name;
        let first = name.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{first}-{n}");
            n += 1;
        }
        names.insert(name.clone());
        let mut block = vec![comment(&why)];
        block.extend(super::block(&format!("template {}", q(&name)), &lines));
        templates.push(block);
        for &i in &users {
            uses.entry(i).or_default().push(name.clone());
            moved.entry(i).or_default().extend(lines.iter().cloned());
        }
    }
    for (i, (_, lines)) in services.iter_mut().enumerate() {
        let Some(names) = uses.get(&i) else { continue };
        let gone = &moved[&i];
        lines.retain(|l| !gone.contains(l));
        let at = lines.iter().take_while(|l| l.key.starts_with('~')).count();
        for (k, n) in names.iter().enumerate() {
            lines.insert(at + k, Line::new(format!("use:{n}"), format!("use {}", q(n))));
        }
    }
    templates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_and_their_services() {
        let text = "x-env: &env  # shared\n  A: '1'\nx-log: &log {driver: json-file}\nservices:\n  web:\n    environment:\n      <<: *env\n    logging: *log\n  worker:\n    environment: {<<: *env, B: '#not*x'}\nvolumes: {}\n";
        let root = super::super::yaml::parse(text, 0).expect("valid YAML");
        let found = anchors(text, root.get("services").expect("services"));
        let got: Vec<(String, Option<String>, Vec<String>)> =
            found.iter().map(|a| (a.name.clone(), a.x_key.clone(), a.users.iter().cloned().collect())).collect();
        assert_eq!(
            got,
            [
                ("env".into(), Some("x-env".into()), vec!["web".into(), "worker".into()]),
                ("log".into(), Some("x-log".into()), vec!["web".into()]),
            ]
        );
    }
}
