//! Settings that services share become `template` blocks and `use` lines.
//!
//! serde-saphyr resolves anchors, aliases and `<<` merge keys before the importer sees the
//! tree, so a light scan of the text finds them: each `&name`, the services whose blocks hold
//! a `*name` (and those that `extends` one of them), and the key the alias is written under
//! (`<<: *env` under `environment:`, `logging: *logging`, `<<: *common` in the service). The
//! anchor's value, put under that key, is translated as a service would be: the lines that
//! every service using it still has (compose's merge lets a service override one) become
//! `template "name"`. What an extended service gives (`extends`, of this file or one beside
//! it) becomes a template named after it, the same way. What services still share becomes
//! `common` when that makes the stack shorter. Each service's own lines follow its `use`
//! line, so what it overrides stays its own.

use std::collections::{BTreeMap, BTreeSet};

use super::yaml::{Node, Value};
use super::{comment, kebab, normalise_service, q, service, Ctx, Line};

/// An anchor written in the compose file and the services whose blocks refer to it.
struct Anchor {
    name: String,
    /// Its line: the value is the mapping entry whose key is written there.
    line: u64,
    /// The top-level `x-` key it is written on, when it is.
    x_key: Option<String>,
    /// Compose service names.
    users: BTreeSet<String>,
    /// The service keys its aliases are written under (`[]` for `<<:` in the service itself,
    /// `["environment"]` for `<<:` in its environment); `None` when they differ or the scan
    /// cannot tell (flow style, a list item).
    under: Option<Option<Vec<String>>>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The key a line starts with (`  environment: …` → `environment`), when it is a plain one.
fn line_key(code: &str) -> Option<String> {
    let (k, _) = code.split_once(':')?;
    let k = k.trim().trim_matches(['"', '\'']);
    (!k.is_empty() && !k.contains(['{', '[', ',', ' ', '&', '*']) && !k.starts_with('-')).then(|| k.to_string())
}

/// The keys, from the service down, of the mapping that line `i`'s alias is written in: the
/// key before the alias on its line (unless it is `<<`) and the keys of the lines above it
/// with less indentation, up to the service's own key (one of `service_lines`, 0-based).
fn under(lines: &[&str], i: usize, before: &str, service_lines: &BTreeSet<usize>) -> Option<Vec<String>> {
    let mut path = Vec::new();
    // `KEY: *a` alone: in flow style (`{A: *a}`) the key before is not the alias's.
    if !before.split_once(':').is_some_and(|(_, rest)| rest.trim().is_empty()) {
        return None;
    }
    let own = line_key(before)?;
    if own != "<<" {
        path.push(own);
    }
    let mut level = indent(lines[i]);
    for j in (0..i).rev() {
        let code = strip_comment(lines[j]);
        if code.trim().is_empty() || indent(code) >= level {
            continue;
        }
        if service_lines.contains(&j) {
            path.reverse();
            return Some(path);
        }
        path.push(line_key(code)?);
        level = indent(code);
    }
    None
}

/// Every `&name` of `text` with the compose services whose lines hold a `*name`. A service's
/// lines run from its key to the next service's key (or the next top-level key).
fn anchors(text: &str, services: &Node) -> Vec<Anchor> {
    let mut starts: Vec<(u64, String)> =
        services.entries().iter().map(|(k, _)| (k.line, k.scalar().unwrap_or_default())).collect();
    starts.sort();
    let service_lines: BTreeSet<usize> = starts.iter().map(|(l, _)| (*l as usize).saturating_sub(1)).collect();
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
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Anchor> = Vec::new();
    for (i, raw) in lines.iter().enumerate() {
        let line = i as u64 + 1;
        let code = strip_comment(raw);
        for (sigil, at, name) in markers(code) {
            if sigil == '&' {
                // `key:` on a line and `&name` alone on the next one anchor the same value.
                let (line, raw) = match code.trim() == format!("&{name}") {
                    true => match (0..i).rev().find(|&j| !strip_comment(lines[j]).trim().is_empty()) {
                        Some(j) => (j as u64 + 1, lines[j]),
                        None => (line, *raw),
                    },
                    false => (line, *raw),
                };
                let x_key = (!raw.starts_with(char::is_whitespace))
                    .then(|| strip_comment(raw).split(':').next().unwrap_or_default().trim())
                    .filter(|k| k.starts_with("x-"))
                    .map(str::to_string);
                // A service's own block as an anchor: the service uses it too.
                let users = starts.iter().filter(|(l, _)| *l == line).map(|(_, n)| n.clone()).collect();
                out.push(Anchor { name, line, x_key, users, under: None });
            } else if let (Some(a), Some(svc)) = (out.iter_mut().rev().find(|a| a.name == name), owner(line)) {
                a.users.insert(svc);
                let path = under(&lines, i, &code[..at], &service_lines);
                a.under = match a.under.take() {
                    None => Some(path),
                    Some(p) if p == path => Some(p),
                    Some(_) => Some(None),
                };
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

/// The anchors (`&a`) and aliases (`*a`) of one line, outside quotes, with their byte
/// offsets.
fn markers(code: &str) -> Vec<(char, usize, String)> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = code.char_indices().collect();
    let mut quote = None;
    for (n, &(at, c)) in chars.iter().enumerate() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(qc), _) if qc == c => quote = None,
            (None, '&' | '*') if n == 0 || matches!(chars[n - 1].1, ' ' | '[' | ',' | '{' | '-') => {
                let name: String = chars[n + 1..]
                    .iter()
                    .map(|(_, c)| *c)
                    .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '[' | '{'))
                    .collect();
                if !name.is_empty() {
                    out.push((c, at, name));
                }
            }
            _ => {}
        }
    }
    out
}

/// The value of the mapping entry whose key is written on `line`, in document order (so the
/// anchor itself, not a copy an alias made of it).
fn entry_at(node: &Node, line: u64) -> Option<&Node> {
    match &node.value {
        Value::Map(m) => m.iter().find_map(|(k, v)| if k.line == line { Some(v) } else { entry_at(v, line) }),
        Value::Seq(items) => items.iter().find_map(|i| entry_at(i, line)),
        _ => None,
    }
}

/// `name`, or `name-2`, `name-3`, … when a template has it already.
fn unique(names: &mut BTreeSet<String>, name: String) -> String {
    let mut out = name.clone();
    let mut n = 2;
    while names.contains(&out) {
        out = format!("{name}-{n}");
        n += 1;
    }
    names.insert(out.clone());
    out
}

/// A line can move to a template only when its key is once in the service: two lines of one
/// key (a repeated mapping key) would merge differently from a template.
fn movable(lines: &[Line], l: &Line) -> bool {
    !l.key.starts_with('~') && lines.iter().filter(|o| o.key == l.key).count() == 1
}

/// Whether a service's line of this key replaces a template's (a keyed node: `env:A`,
/// `mount:/data`, …, or a node that appears once), rather than merging with it as `build`
/// (property by property) or `networks` (the lists joined) do.
fn replaces(key: &str) -> bool {
    key.contains(':')
        || matches!(
            key,
            "image"
                | "command"
                | "entrypoint"
                | "restart"
                | "user"
                | "working-dir"
                | "hostname"
                | "health"
                | "replicas"
                | "stop-grace-period"
                | "stop-signal"
                | "pull-policy"
                | "read-only"
                | "init"
        )
}

/// Replaces the lines that services share by `use` lines and returns the `template` blocks.
/// `services` holds stack names and lines; `text` and `root` are the base compose file.
pub(super) fn factor(ctx: &mut Ctx, text: &str, root: &Node, services: &mut [(String, Vec<Line>)]) -> Vec<Vec<String>> {
    let mut anchors = root.get("services").map(|s| anchors(text, s)).unwrap_or_default();
    // A service that extends one using an anchor has what the anchor gave, too.
    for a in &mut anchors {
        let more: Vec<String> = ctx
            .extended
            .iter()
            .filter(|(_, chain)| chain.iter().any(|c| a.users.contains(c)))
            .map(|(s, _)| s.clone())
            .collect();
        a.users.extend(more);
    }
    // What each anchor gives (its value under the key its aliases are written at), then what
    // each extended service gives, the most used first.
    let mut sources: Vec<(String, String, BTreeSet<String>, Node)> = Vec::new();
    for a in &anchors {
        let (Some(Some(path)), Some(value)) = (&a.under, entry_at(root, a.line)) else { continue };
        let mut given = value.clone();
        for k in path.iter().rev() {
            let key = Node { value: Value::Str(k.clone()), ..value.clone() };
            given = Node { value: Value::Map(vec![(key, given)]), ..value.clone() };
        }
        let mut written = match &a.x_key {
            Some(x) => format!("`{x}: &{}`", a.name),
            None => format!("`&{}`", a.name),
        };
        // An anchor of one setting (an environment, a logging block) reads best as a template
        // of only that: the services' other settings stay where they are.
        if !path.is_empty() {
            written.push_str(&format!(" (`{}` only)", path.join(".")));
        }
        written.push_str(", merged into");
        sources.push((a.name.clone(), written, a.users.clone(), normalise_service(&given)));
    }
    let mut bases: Vec<(String, String, BTreeSet<String>, Node)> = ctx
        .extended_nodes
        .iter()
        .map(|(t, (node, here))| {
            let mut users: BTreeSet<String> =
                ctx.extended.iter().filter(|(_, chain)| chain.contains(t)).map(|(s, _)| s.clone()).collect();
            if *here {
                users.insert(t.clone());
            }
            (t.clone(), format!("what `extends: {t}` gives"), users, node.clone())
        })
        .collect();
    bases.sort_by_key(|(_, _, users, _)| std::cmp::Reverse(users.len()));
    sources.extend(bases);

    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut templates = Vec::new();
    let mut uses: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (source, written, compose_users, given) in &sources {
        let users: BTreeSet<usize> = compose_users
            .iter()
            .filter_map(|u| {
                let n = ctx.name("service", u);
                services.iter().position(|(s, _)| *s == n)
            })
            .collect();
        if users.len() < 2 {
            continue;
        }
        let first = compose_users.iter().next().cloned().unwrap_or_default();
        // Its notes are the services' own, made already.
        let notes = ctx.notes.clone();
        let (lines, _) = service::translate(ctx, &first, given, false);
        ctx.notes = notes;
        // A service that sets a key the source also gives overrides it (compose's merge), and
        // a template allows that where the service's node replaces the template's.
        let kept = |lines: &[Line], l: &Line| {
            (lines.contains(l) && movable(lines, l))
                || (replaces(&l.key) && lines.iter().filter(|o| o.key == l.key).count() == 1)
        };
        let shared: Vec<Line> = lines
            .into_iter()
            .filter(|l| !l.key.starts_with('~') && users.iter().all(|&i| kept(&services[i].1, l)))
            .collect();
        if shared.is_empty() {
            continue;
        }
        let name = unique(&mut names, kebab(source));
        let listed: Vec<&str> = users.iter().map(|&i| services[i].0.as_str()).collect();
        let mut block = vec![comment(&format!("guess: {written} {}, as a template", listed.join(", ")))];
        block.extend(super::block(&format!("template {}", q(&name)), &shared));
        templates.push(block);
        for &i in &users {
            services[i].1.retain(|l| !shared.contains(l));
            uses.entry(i).or_default().push(name.clone());
        }
    }

    // What else services share: each shared line with the services that have it, grouped by
    // those services, in the order the lines first appear.
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
    let mut moved: BTreeMap<usize, Vec<Line>> = BTreeMap::new();
    for (users, lines) in groups {
        if lines.len() < 2 || users.len() * lines.len() <= lines.len() + 3 + users.len() {
            continue;
        }
        let listed: Vec<&str> = users.iter().map(|&i| services[i].0.as_str()).collect();
        let why = format!("guess: settings that {} repeat, as a template", listed.join(", "));
        let name = "common".to_string();
        let name = unique(&mut names, name);
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
        if let Some(gone) = moved.get(&i) {
            lines.retain(|l| !gone.contains(l));
        }
        let at = lines.iter().take_while(|l| l.key.starts_with('~')).count();
        let listed: Vec<String> = names.iter().map(|n| q(n)).collect();
        lines.insert(at, Line::new("use", format!("use {}", listed.join(" "))));
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
        type Found = (String, u64, Option<String>, Vec<String>, Option<Option<Vec<String>>>);
        let got: Vec<Found> = found
            .iter()
            .map(|a| (a.name.clone(), a.line, a.x_key.clone(), a.users.iter().cloned().collect(), a.under.clone()))
            .collect();
        let env_under = None; // block style in `web`, flow style in `worker`: where it goes is unclear
        assert_eq!(
            got,
            [
                ("env".into(), 1, Some("x-env".into()), vec!["web".into(), "worker".into()], Some(env_under)),
                ("log".into(), 3, Some("x-log".into()), vec!["web".into()], Some(Some(vec!["logging".into()]))),
            ]
        );
        let text =
            "services:\n  api: &api\n    image: a:1\n  worker:\n    <<: *api\n    environment:\n      <<: *api\n";
        let root = super::super::yaml::parse(text, 0).expect("valid YAML");
        let found = anchors(text, root.get("services").expect("services"));
        assert_eq!(found[0].users.iter().collect::<Vec<_>>(), ["api", "worker"]);
        // Written in two places: not one template.
        assert_eq!(found[0].under, Some(None));
    }
}
