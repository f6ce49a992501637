//! One compose service as the lines of a `service` block.

use super::yaml::{Node, Value};
use super::{comment, interpolate, key, q, Ctx, Line};
use crate::validate::values;

/// Resources gathered from `deploy.resources`, `mem_limit`, `cpus`, `pids_limit`, … into
/// one `resources` line.
#[derive(Default)]
struct Resources {
    props: Vec<(&'static str, String)>,
    comments: Vec<String>,
}

impl Resources {
    fn set(&mut self, prop: &'static str, value: String) {
        self.props.retain(|(p, _)| *p != prop);
        self.props.push((prop, value));
    }
}

/// Translates service `name`. The flag says whether it was put on the `default` network
/// (compose's, for a service without `networks:` in a file that declares networks).
pub(super) fn translate(ctx: &mut Ctx, name: &str, svc: &Node, declared_networks: bool) -> (Vec<Line>, bool) {
    let mut lines = Vec::new();
    let mut res = Resources::default();
    let mut restart: Option<Line> = None;
    let sname = ctx.name("service", name);
    if sname != name {
        lines.push(Line::new(
            "~rename",
            comment(&format!("guess: `{name}` renamed to `{sname}` (stack names are kebab-case); other services now reach it by that name")),
        ));
    }
    if let Some(c) = ctx.extends_comments.get(name) {
        lines.push(Line::new("~extends", c.clone()));
    }
    let mut default_net = false;
    if declared_networks && svc.get("networks").is_none() && svc.get("network_mode").is_none() {
        default_net = true;
        lines.push(
            Line::new("networks", "networks \"default\"")
                .comment(comment("guess: compose puts a service without `networks:` on the `default` network")),
        );
    }
    for (k, v) in svc.entries() {
        let field = k.as_str().unwrap_or_default();
        let path = format!("services.{name}.{field}");
        let unsupported = |ctx: &mut Ctx, why: &str| Line::new(format!("~{field}"), ctx.not_imported(k, &path, v, why));
        match field {
            "image" => match v.scalar() {
                Some(img) => {
                    let text = interpolate(ctx, &img, v, &path, false);
                    lines.push(Line::new("image", format!("image {}", q(&text))));
                }
                None => lines.push(unsupported(ctx, "an image reference is expected")),
            },
            "build" => lines.extend(build(ctx, v, &path)),
            "command" | "entrypoint" => match words(v) {
                Some(ws) => {
                    let ws: Vec<String> = ws.iter().map(|w| q(&interpolate(ctx, w, v, &path, false))).collect();
                    let mut l = Line::new(field, format!("{field} {}", ws.join(" ")));
                    if v.as_str().is_some() {
                        l = l.comment(comment(&format!(
                            "guess: the `{field}` string split into words as compose does (no shell runs)"
                        )));
                    }
                    lines.push(l);
                }
                None => lines.push(unsupported(ctx, "the words could not be split (an unclosed quote)")),
            },
            "environment" => lines.extend(environment(ctx, v, &path)),
            "ports" => lines.extend(ports(ctx, v, &path)),
            "expose" => {
                for p in &seq(v) {
                    match p.scalar().as_deref().map(split_proto) {
                        Some((port, proto)) if port.parse::<u16>().is_ok_and(|n| n > 0) => {
                            let proto = if proto == "udp" { " protocol=\"udp\"" } else { "" };
                            lines.push(Line::new(format!("port:{port}"), format!("port {port}{proto}")));
                        }
                        _ => {
                            lines.push(Line::new("~expose", ctx.not_imported(p, &path, p, "a single port is expected")))
                        }
                    }
                }
            }
            "volumes" => lines.extend(volumes(ctx, v, &path)),
            "tmpfs" => {
                for t in &seq_or_one(v) {
                    let s = t.scalar().unwrap_or_default();
                    let (target, opts) = s.split_once(':').unwrap_or((&s, ""));
                    let mut line = format!("tmpfs {}", q(target));
                    let mut l = Line::new(format!("tmpfs:{target}"), String::new());
                    for o in opts.split(',').filter(|o| !o.is_empty()) {
                        match (o.strip_prefix("size=").map(docker_size), o.strip_prefix("mode=").map(tmpfs_mode)) {
                            (Some(Some(size)), _) => line.push_str(&format!(" size={size}")),
                            (_, Some(Some(mode))) => line.push_str(&format!(" mode={mode}")),
                            _ => l.comments.push(ctx.not_imported(t, &path, t, &format!("tmpfs option `{o}`"))),
                        }
                    }
                    l.text = line;
                    lines.push(l);
                }
            }
            "networks" => {
                let mut addresses = Vec::new();
                let mut names = Vec::new();
                let mut l = Line::new("networks", String::new());
                let mut aliases = Vec::new();
                match &v.value {
                    Value::Seq(items) => names.extend(items.iter().filter_map(Node::scalar)),
                    Value::Map(m) => {
                        for (nk, nv) in m {
                            names.push(nk.scalar().unwrap_or_default());
                            let npath = format!("{path}.{}", nk.scalar().unwrap_or_default());
                            addresses.extend(network_addresses(ctx, nk, nv));
                            // Aliases; what is neither an address nor an alias is reported.
                            l.comments.extend(super::devices::aliases(ctx, nk, nv, &npath, &mut aliases));
                        }
                    }
                    _ => {}
                }
                let names: Vec<String> = names.iter().map(|n| q(&ctx.name("network", n))).collect();
                l.text = format!("networks {}", names.join(" "));
                lines.push(l);
                lines.append(&mut addresses);
                if !aliases.is_empty() {
                    // The stack gives a service's aliases on every network it joins.
                    let items: Vec<String> = aliases.iter().map(|a| q(a)).collect();
                    lines.push(Line::new("alias", format!("alias {}", items.join(" "))));
                }
            }
            "depends_on" => {
                for (dk, dv) in v.entries() {
                    let dep = dk.scalar().unwrap_or_default();
                    let target = ctx.name("service", &dep);
                    let mut l = Line::new(format!("depends-on:{target}"), String::new());
                    let mut text = format!("depends-on {}", q(&target));
                    for (ck, cv) in dv.entries() {
                        let cpath = format!("{path}.{dep}.{}", ck.as_str().unwrap_or_default());
                        match (ck.as_str(), cv.as_str(), &cv.value) {
                            (Some("condition"), Some("service_healthy"), _) => text.push_str(" healthy=#true"),
                            (Some("condition"), Some("service_completed_successfully"), _) => {
                                text.push_str(" completed=#true")
                            }
                            (Some("condition"), Some("service_started"), _) => {}
                            (Some("required"), _, Value::Bool(true)) | (Some("restart"), _, Value::Bool(false)) => {}
                            _ => l.comments.push(ctx.not_imported(
                                ck,
                                &cpath,
                                cv,
                                "the stack language has no such dependency setting",
                            )),
                        }
                    }
                    l.text = text;
                    lines.push(l);
                }
            }
            "healthcheck" => lines.push(health(ctx, k, v, &path)),
            "deploy" => deploy(ctx, v, &path, &mut lines, &mut res, &mut restart),
            "restart" => {
                let s = v.scalar().unwrap_or_default();
                let (policy, attempts) = s.split_once(':').unwrap_or((&s, ""));
                if matches!(policy, "no" | "always" | "on-failure" | "unless-stopped") {
                    let mut text = format!("restart {}", q(policy));
                    if let Ok(n) = attempts.parse::<u32>() {
                        text.push_str(&format!(" max-attempts={n}"));
                    }
                    restart = Some(Line::new("restart", text));
                } else {
                    lines
                        .push(unsupported(ctx, "a restart policy is `no`, `always`, `on-failure` or `unless-stopped`"));
                }
            }
            "labels" => {
                for (lk, lv) in v.entries() {
                    let lkey = lk.scalar().unwrap_or_default();
                    let val = lv.scalar().unwrap_or_default();
                    let val = interpolate(ctx, &val, lv, &path, false);
                    lines.push(Line::new(format!("labels:{lkey}"), format!("labels {}={}", key(&lkey), q(&val))));
                }
            }
            "mem_limit" | "mem_reservation" | "memswap_limit" => {
                match (field, v.scalar().as_deref().and_then(docker_size)) {
                    ("mem_limit", Some(size)) => res.set("memory", size),
                    ("mem_reservation", Some(size)) => res.set("reserve-memory", size),
                    _ => lines.push(unsupported(ctx, "no such resource in the stack language")),
                }
            }
            "cpus" => match cpus(v) {
                Some(c) => res.set("cpus", c),
                None => lines.push(unsupported(ctx, "a number of CPUs is expected")),
            },
            "pids_limit" => match &v.value {
                Value::Int(n) if *n > 0 => res.set("pids", n.to_string()),
                _ => lines.push(unsupported(ctx, "a positive limit is expected (no limit is the default)")),
            },
            "user" | "working_dir" | "hostname" | "platform" => match v.scalar() {
                Some(s) => {
                    let node = field.replace('_', "-");
                    let s = interpolate(ctx, &s, v, &path, false);
                    lines.push(Line::new(node.clone(), format!("{node} {}", q(&s))));
                }
                None => lines.push(unsupported(ctx, "a string is expected")),
            },
            "stop_grace_period" => match v.as_str().and_then(duration) {
                Some(d) => lines.push(Line::new(field, format!("stop-grace-period {}", q(&d)))),
                None => lines.push(unsupported(ctx, "a duration in whole milliseconds is expected")),
            },
            "read_only" | "init" => match &v.value {
                Value::Bool(b) => {
                    let node = field.replace('_', "-");
                    lines.push(Line::new(node.clone(), format!("{node} #{b}")));
                }
                _ => lines.push(unsupported(ctx, "a boolean is expected")),
            },
            "shm_size" => match v.scalar().as_deref().and_then(docker_size) {
                Some(s) => lines.push(Line::new(field, format!("shm-size {s}"))),
                None => lines.push(unsupported(ctx, "a size is expected")),
            },
            "pid" if v.as_str() == Some("host") => lines.push(Line::new("pid", "pid \"host\"")),
            "cap_add" | "cap_drop" | "security_opt" => {
                let node = field.replace('_', "-");
                let items: Vec<String> = seq(v).iter().filter_map(|n| n.scalar()).map(|s| q(&s)).collect();
                if !items.is_empty() {
                    lines.push(Line::new(node.clone(), format!("{node} {}", items.join(" "))));
                }
            }
            "ulimits" => {
                for (uk, uv) in v.entries() {
                    let u = uk.scalar().unwrap_or_default();
                    let (soft, hard) = match &uv.value {
                        Value::Int(n) => (Some(*n), Some(*n)),
                        _ => (
                            uv.get("soft").and_then(|n| n.scalar()?.parse().ok()),
                            uv.get("hard").and_then(|n| n.scalar()?.parse().ok()),
                        ),
                    };
                    let mut text = format!("ulimit {}", q(&u));
                    if let Some(s) = soft {
                        text.push_str(&format!(" soft={s}"));
                    }
                    if let Some(h) = hard {
                        text.push_str(&format!(" hard={h}"));
                    }
                    lines.push(Line::new(format!("ulimit:{u}"), text));
                }
            }
            "logging" => lines.push(logging(ctx, v, &path)),
            "secrets" => {
                for s in seq(v) {
                    let (source, target, mode) = match &s.value {
                        Value::Map(_) => (
                            s.get("source").and_then(Node::scalar).unwrap_or_default(),
                            s.get("target").and_then(Node::scalar),
                            s.get("mode"),
                        ),
                        _ => (s.scalar().unwrap_or_default(), None, None),
                    };
                    let sname = ctx.name("secret", &source);
                    let mut text = format!("secret {}", q(&sname));
                    let mut l = Line::new(format!("secret:{sname}"), String::new());
                    if let Some(t) = target {
                        let t = if t.starts_with('/') { t } else { format!("/run/secrets/{t}") };
                        text.push_str(&format!(" target={}", q(&t)));
                    } else if sname != source {
                        text.push_str(&format!(" target={}", q(&format!("/run/secrets/{source}"))));
                    }
                    if let Some(m) = mode {
                        match octal(m) {
                            Some(m) => text.push_str(&format!(" mode=0o{m:o}")),
                            None => l.comments.push(ctx.not_imported(m, &path, m, "a file mode is expected")),
                        }
                    }
                    for (sk, sv) in s.entries() {
                        if !matches!(sk.as_str(), Some("source" | "target" | "mode")) {
                            l.comments.push(ctx.not_imported(
                                sk,
                                &path,
                                sv,
                                "only source, target and mode of a secret are imported",
                            ));
                        }
                    }
                    l.text = text;
                    lines.push(l);
                }
            }
            "profiles" => {
                // Profile names become stack names (kebab-case): one that is not stays out.
                let names: Vec<String> = seq(v).iter().filter_map(Node::scalar).collect();
                if !names.is_empty() && names.iter().all(|n| is_kebab(n)) {
                    let items: Vec<String> = names.iter().map(|n| q(n)).collect();
                    lines.push(Line::new(field, format!("profiles {}", items.join(" "))));
                } else {
                    lines.push(unsupported(ctx, "profile names are lowercase letters, digits and `-` in a stack"));
                }
            }
            "container_name" | "stop_signal" => match v.scalar() {
                Some(s) => {
                    let node = field.replace('_', "-");
                    let s = interpolate(ctx, &s, v, &path, false);
                    lines.push(Line::new(node.clone(), format!("{node} {}", q(&s))));
                }
                None => lines.push(unsupported(ctx, "a string is expected")),
            },
            "pull_policy" => match v.as_str() {
                Some(p @ ("always" | "missing" | "never" | "build")) => {
                    lines.push(Line::new(field, format!("pull-policy {}", q(p))))
                }
                Some("if_not_present") => lines.push(Line::new(field, "pull-policy \"missing\"")),
                _ => lines.push(unsupported(ctx, "one of always, missing, never, build is expected")),
            },
            "group_add" => {
                let items: Vec<String> = seq(v).iter().filter_map(Node::scalar).map(|g| q(&g)).collect();
                if items.is_empty() {
                    lines.push(unsupported(ctx, "a list of groups is expected"));
                } else {
                    lines.push(Line::new(field, format!("group-add {}", items.join(" "))));
                }
            }
            "sysctls" => {
                // A map, or a list of `name=value`.
                let pairs: Vec<(String, String)> = match &v.value {
                    Value::Seq(_) => seq(v)
                        .iter()
                        .filter_map(Node::scalar)
                        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
                        .collect(),
                    _ => v.entries().iter().filter_map(|(k, val)| Some((k.scalar()?, val.scalar()?))).collect(),
                };
                if pairs.is_empty() {
                    lines.push(unsupported(ctx, "a map of kernel parameters is expected"));
                }
                for (name, value) in pairs {
                    lines.push(Line::new(format!("sysctl:{name}"), format!("sysctl {} {}", q(&name), q(&value))));
                }
            }
            "env_file" => {
                // Kept as files: compose reads them at deploy time, stackc never copies them.
                for f in seq_or_one(v) {
                    let (path_text, required) = match &f.value {
                        Value::Map(_) => (
                            f.get("path").and_then(Node::scalar),
                            f.get("required").and_then(|r| match r.value {
                                Value::Bool(b) => Some(b),
                                _ => None,
                            }),
                        ),
                        _ => (f.scalar(), None),
                    };
                    match path_text {
                        Some(pt) => {
                            let mut text = format!("env-file {}", q(&pt));
                            if required == Some(false) {
                                text.push_str(" required=#false");
                            }
                            lines.push(Line::new(format!("env-file:{pt}"), text));
                        }
                        None => lines.push(unsupported(ctx, "a path, or `path:` with `required:`, is expected")),
                    }
                }
            }
            "privileged" | "devices" | "device_cgroup_rules" => {
                lines.extend(super::devices::translate(ctx, field, k, v, &path))
            }
            f if f.starts_with("x-") => lines.push(unsupported(ctx, "an extension field")),
            _ => lines.push(unsupported(ctx, "the stack language has no such service setting")),
        }
    }
    if let Some(r) = restart {
        lines.push(r);
    }
    if !res.props.is_empty() || !res.comments.is_empty() {
        let props: Vec<String> = res.props.iter().map(|(p, v)| format!("{p}={v}")).collect();
        let mut l = Line::new(
            "resources",
            if props.is_empty() { String::new() } else { format!("resources {}", props.join(" ")) },
        );
        l.comments = res.comments;
        if l.text.is_empty() {
            // Only comments: keep them on a line of their own.
            let last = l.comments.pop().unwrap_or_default();
            l.text = last;
        }
        lines.push(l);
    }
    (lines, default_net)
}

fn seq(v: &Node) -> Vec<Node> {
    match &v.value {
        Value::Seq(items) => items.clone(),
        _ => Vec::new(),
    }
}

fn seq_or_one(v: &Node) -> Vec<Node> {
    match &v.value {
        Value::Seq(items) => items.clone(),
        Value::Null => Vec::new(),
        _ => vec![v.clone()],
    }
}

/// `command`/`entrypoint` words: a list as it is, a string split as compose splits it
/// (shell-like quotes, no expansion).
pub(super) fn words(v: &Node) -> Option<Vec<String>> {
    match &v.value {
        Value::Seq(items) => Some(items.iter().map(|i| i.scalar().unwrap_or_default()).collect()),
        Value::Str(s) => split_words(s),
        _ => v.scalar().map(|s| vec![s]),
    }
}

fn split_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => {
                            let n = chars.next()?;
                            if !matches!(n, '"' | '\\' | '$' | '`') {
                                cur.push('\\');
                            }
                            cur.push(n);
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

fn build(ctx: &mut Ctx, v: &Node, path: &str) -> Vec<Line> {
    let mut l = Line::new("build", String::new());
    let mut args = Vec::new();
    let mut text = match v.scalar() {
        Some(ctxdir) => format!("build context={}", q(&interpolate(ctx, &ctxdir, v, path, false))),
        None => {
            let context = v.get("context").and_then(Node::scalar).unwrap_or_else(|| ".".into());
            let mut t = format!("build context={}", q(&interpolate(ctx, &context, v, path, false)));
            for (bk, bv) in v.entries() {
                let b = bk.as_str().unwrap_or_default();
                let bpath = format!("{path}.{b}");
                match b {
                    "context" => {}
                    "dockerfile" | "target" => match bv.scalar() {
                        Some(s) => t.push_str(&format!(" {b}={}", q(&interpolate(ctx, &s, bv, &bpath, false)))),
                        None => l.comments.push(ctx.not_imported(bk, &bpath, bv, "a string is expected")),
                    },
                    "args" => {
                        for (ak, av) in normalise_pairs(bv) {
                            let name = ak.scalar().unwrap_or_default();
                            match av.scalar() {
                                Some(val) => {
                                    let val = interpolate(ctx, &val, &av, &bpath, false);
                                    args.push(format!("arg {}={}", key(&name), q(&val)));
                                }
                                None => l.comments.push(ctx.not_imported(
                                    &ak,
                                    &bpath,
                                    &ak,
                                    "a build argument without a value (taken from the shell) has no stack spelling",
                                )),
                            }
                        }
                    }
                    _ => l.comments.push(ctx.not_imported(
                        bk,
                        &bpath,
                        bv,
                        "the stack language has no such build setting",
                    )),
                }
            }
            t
        }
    };
    if !args.is_empty() {
        text.push_str(" {");
        for a in &args {
            text.push_str(&format!("\n        {a}"));
        }
        text.push_str("\n    }");
    }
    l.text = text;
    vec![l]
}

/// `KEY: value` mapping or `KEY=value` list entries as pairs (a value-less entry is null).
fn normalise_pairs(v: &Node) -> Vec<(Node, Node)> {
    match &v.value {
        Value::Map(m) => m.clone(),
        Value::Seq(items) => items
            .iter()
            .filter_map(|i| {
                let s = i.scalar()?;
                let (k, val) = match s.split_once('=') {
                    Some((k, val)) => (k.to_string(), Value::Str(val.to_string())),
                    None => (s, Value::Null),
                };
                Some((Node { value: Value::Str(k), ..i.clone() }, Node { value: val, ..i.clone() }))
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn environment(ctx: &mut Ctx, v: &Node, path: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for (ek, ev) in normalise_pairs(v) {
        let name = ek.scalar().unwrap_or_default();
        let lkey = format!("env:{name}");
        if values::env_name(&name).is_err() {
            out.push(Line::new(
                lkey,
                ctx.not_imported(&ek, path, &ek, "not an environment variable name the stack language accepts"),
            ));
            continue;
        }
        let value = match &ev.value {
            Value::Null => None,
            Value::Seq(_) | Value::Map(_) => {
                out.push(Line::new(lkey, ctx.not_imported(&ek, path, &ev, "a scalar value is expected")));
                continue;
            }
            _ => ev.scalar(),
        };
        let secret = crate::validate::lints::looks_secret(&name);
        let line = match value {
            None => {
                // Compose passes the variable of the shell through, and leaves it unset when the
                // shell has none: an optional param does the same.
                let p = ctx.param(&name, None, false, &ev, path);
                let text = if secret {
                    let s = ctx.env_secret(&name, true);
                    format!("env {name}=(secret){}", q(&s))
                } else {
                    format!("env {name}={}", q(&format!("${{{p}}}")))
                };
                if secret {
                    ctx.params.shift_remove(&p);
                }
                Line::new(lkey, text).comment(comment(&format!(
                    "guess: `{name}` without a value is taken from the shell at deploy time"
                )))
            }
            Some(val) if secret => {
                let whole =
                    val.strip_prefix("${").and_then(|r| r.strip_suffix('}')).filter(|r| !r.contains(['$', '{', '}']));
                match whole {
                    Some(inner) => {
                        let var = inner.split([':', '-', '?', '+']).next().unwrap_or(inner);
                        let optional = inner.len() > var.len() && inner[var.len()..].starts_with([':', '-']);
                        let s = ctx.env_secret(var, optional && !inner[var.len()..].starts_with(":?"));
                        Line::new(lkey, format!("env {name}=(secret){}", q(&s)))
                    }
                    None if val.contains('$') => {
                        let text = interpolate(ctx, &val, &ev, path, true);
                        Line::new(lkey, format!("env {name}={}", q(&text)))
                    }
                    None => {
                        let s = ctx.env_secret(&name, false);
                        ctx.note(
                            &ev,
                            &format!("{path}.{name}"),
                            "a secret in plain text: the value was not copied; set it at deploy time",
                        );
                        Line::new(lkey, format!("env {name}=(secret){}", q(&s))).comment(comment(&format!(
                            "guess: `{name}` looks secret; its value in the compose file was not copied: set {name} at deploy time"
                        )))
                    }
                }
            }
            Some(val) => {
                let text = interpolate(ctx, &val, &ev, path, true);
                Line::new(lkey, format!("env {name}={}", q(&text)))
            }
        };
        out.push(line);
    }
    out
}

fn split_proto(s: &str) -> (&str, &str) {
    s.split_once('/').unwrap_or((s, "tcp"))
}

/// `start-end` or `port` as a list of ports.
fn port_range(s: &str) -> Option<Vec<u16>> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b): (u16, u16) = (a.parse().ok()?, b.parse().ok()?);
            (a > 0 && a <= b && b - a < 100).then(|| (a..=b).collect())
        }
        None => s.parse::<u16>().ok().filter(|p| *p > 0).map(|p| vec![p]),
    }
}

/// A port mapping: host address, host ports (none: a random one), container ports, protocol.
type PortSpec = (String, Option<Vec<u16>>, Vec<u16>, String);

fn ports(ctx: &mut Ctx, v: &Node, path: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for p in seq(v) {
        let parsed: Option<PortSpec> = match &p.value {
            Value::Map(_) => {
                let target = p.get("target").and_then(Node::scalar).and_then(|t| port_range(&t));
                let published = p.get("published").and_then(Node::scalar).and_then(|t| port_range(&t));
                let ip = p.get("host_ip").and_then(Node::scalar).unwrap_or_default();
                let proto = p.get("protocol").and_then(Node::scalar).unwrap_or_else(|| "tcp".into());
                for (pk, pv) in p.entries() {
                    if !matches!(
                        pk.as_str(),
                        Some("target" | "published" | "host_ip" | "protocol" | "mode" | "name" | "app_protocol")
                    ) || (pk.as_str() == Some("mode") && pv.as_str() != Some("ingress"))
                    {
                        out.push(Line::new(
                            "~ports",
                            ctx.not_imported(pk, path, pv, "the stack language has no such port setting"),
                        ));
                    }
                }
                target.map(|t| (ip, published, t, proto))
            }
            _ => p.scalar().and_then(|s| {
                let (spec, proto) = split_proto(&s);
                let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
                    let (ip, rest) = r.split_once("]:")?;
                    (ip.to_string(), rest.to_string())
                } else {
                    let parts: Vec<&str> = spec.split(':').collect();
                    match parts.len() {
                        3 => (parts[0].to_string(), format!("{}:{}", parts[1], parts[2])),
                        _ => (String::new(), spec.to_string()),
                    }
                };
                let (host, container) = match rest.split_once(':') {
                    Some(("", c)) => (None, c.to_string()),
                    Some((h, c)) => (Some(port_range(h)?), c.to_string()),
                    None => (None, rest.clone()),
                };
                Some((ip, host, port_range(&container)?, proto.to_string()))
            }),
        };
        let Some((ip, host, container, proto)) = parsed else {
            out.push(Line::new(
                "~ports",
                ctx.not_imported(&p, path, &p, "a port, `host:container` or `ip:host:container` is expected"),
            ));
            continue;
        };
        let proto_prop = match proto.as_str() {
            "tcp" => String::new(),
            "udp" => " protocol=\"udp\"".into(),
            _ => {
                out.push(Line::new("~ports", ctx.not_imported(&p, path, &p, "the protocol is tcp or udp")));
                continue;
            }
        };
        let Some(host) = host else {
            // Compose publishes on a random host port: nothing the stack says. Keep the port.
            for c in container {
                out.push(
                    Line::new(format!("port:{c}"), format!("port {c}{proto_prop}")).comment(ctx.not_imported(
                        &p,
                        path,
                        &p,
                        "a port published on a random host port has no stack spelling; imported as a port other services reach",
                    )),
                );
            }
            continue;
        };
        if host.len() != container.len() {
            out.push(Line::new(
                "~ports",
                ctx.not_imported(&p, path, &p, "host and container ranges of different lengths"),
            ));
            continue;
        }
        let ip = ip.trim_start_matches('[').trim_end_matches(']').to_string();
        let ip_prop =
            if ip.is_empty() { String::new() } else { format!(" host={}", q(&interpolate(ctx, &ip, &p, path, false))) };
        for (h, c) in host.iter().zip(&container) {
            let target = if h == c { String::new() } else { format!(" target={c}") };
            let mut l =
                Line::new(format!("publish:{ip}:{h}/{proto}"), format!("publish {h}{target}{ip_prop}{proto_prop}"));
            if host.len() > 1 && h == &host[0] {
                l = l.comment(comment("guess: a port range, one publish per port"));
            }
            out.push(l);
        }
    }
    out
}

fn volumes(ctx: &mut Ctx, v: &Node, path: &str) -> Vec<Line> {
    let mut out = Vec::new();
    for m in seq(v) {
        let (kind, source, target, read_only, propagation, extra): (
            String,
            String,
            String,
            bool,
            Option<String>,
            Vec<String>,
        ) = match &m.value {
            Value::Map(_) => {
                let kind = m.get("type").and_then(Node::scalar).unwrap_or_else(|| "volume".into());
                let source = m.get("source").and_then(Node::scalar).unwrap_or_default();
                let target = m.get("target").and_then(Node::scalar).unwrap_or_default();
                let ro = m.get("read_only").is_some_and(|r| r.value == Value::Bool(true));
                let prop = m.get("bind").and_then(|b| b.get("propagation")).and_then(Node::scalar);
                let mut extra = Vec::new();
                let mut options = long_mount_options(&m);
                for (mk, mv) in m.entries() {
                    match mk.as_str() {
                        Some("type" | "source" | "target" | "read_only") => {}
                        Some("bind")
                            if mv.entries().iter().all(|(k, v)| {
                                k.as_str() == Some("propagation")
                                    || (k.as_str() == Some("create_host_path") && matches!(v.value, Value::Bool(_)))
                                    || (k.as_str() == Some("selinux") && matches!(v.as_str(), Some("z" | "Z")))
                            }) => {}
                        Some("volume")
                            if mv.entries().iter().all(|(k, v)| {
                                (k.as_str() == Some("nocopy") && matches!(v.value, Value::Bool(_)))
                                    || (k.as_str() == Some("subpath") && v.as_str().is_some())
                            }) => {}
                        Some("tmpfs") if mv.entries().iter().all(|(k, _)| k.as_str() == Some("size")) => {}
                        _ => extra.push(ctx.not_imported(mk, path, mv, "the stack language has no such mount setting")),
                    }
                }
                if kind == "tmpfs" {
                    let size =
                        m.get("tmpfs").and_then(|t| t.get("size")).and_then(Node::scalar).and_then(|s| docker_size(&s));
                    let size = size.map(|s| format!(" size={s}")).unwrap_or_default();
                    let mut l = Line::new(format!("tmpfs:{target}"), format!("tmpfs {}{size}", q(&target)));
                    l.comments = extra;
                    out.push(l);
                    continue;
                }
                extra.append(&mut options);
                (kind, source, target, ro, prop, extra)
            }
            _ => {
                let s = m.scalar().unwrap_or_default();
                let parts: Vec<&str> = s.split(':').collect();
                match parts.as_slice() {
                    [t] => ("volume".into(), String::new(), t.to_string(), false, None, Vec::new()),
                    [src, t] => (String::new(), src.to_string(), t.to_string(), false, None, Vec::new()),
                    [src, t, opts] => {
                        let mut ro = false;
                        let mut prop = None;
                        let mut extra = Vec::new();
                        for o in opts.split(',') {
                            match o {
                                "ro" => ro = true,
                                "rw" => {}
                                "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                                    prop = Some(o.to_string())
                                }
                                // Mount settings of the stack, carried to the line below as
                                // `=` words (see `long_mount_options`).
                                "z" => extra.push(" selinux=\"shared\"".to_string()),
                                "Z" => extra.push(" selinux=\"private\"".to_string()),
                                "nocopy" => extra.push(" nocopy=#true".to_string()),
                                _ => extra.push(ctx.not_imported(
                                    &m,
                                    path,
                                    &m,
                                    &format!("mount option `{o}` has no stack spelling"),
                                )),
                            }
                        }
                        (String::new(), src.to_string(), t.to_string(), ro, prop, extra)
                    }
                    _ => {
                        out.push(Line::new(
                            "~volumes",
                            ctx.not_imported(&m, path, &m, "`source:target[:options]` is expected"),
                        ));
                        continue;
                    }
                }
            }
        };
        if source.is_empty() {
            out.push(Line::new(
                format!("~volumes:{target}"),
                ctx.not_imported(&m, path, &m, "an anonymous volume has no stack spelling; declare a named volume"),
            ));
            continue;
        }
        let host_path = source.starts_with(['.', '/', '~', '$']) || kind == "bind";
        let src = if host_path {
            if source.starts_with('~') {
                out.push(Line::new(
                    format!("~volumes:{target}"),
                    ctx.not_imported(
                        &m,
                        path,
                        &m,
                        "a host path under `~` depends on who deploys; write it relative to the stack file or absolute",
                    ),
                ));
                continue;
            }
            let s = if source.starts_with(['.', '/', '$']) { source.clone() } else { format!("./{source}") };
            interpolate(ctx, &s, &m, path, false)
        } else {
            ctx.name("volume", &source)
        };
        let mut text = format!("mount {} {}", q(&src), q(&target));
        if read_only {
            text.push_str(" read-only=#true");
        }
        if let Some(p) = propagation {
            text.push_str(&format!(" propagation={}", q(&p)));
        }
        // The mount settings among `extra` are properties (` selinux="shared"`), the rest comments.
        let (settings, mut extra): (Vec<String>, Vec<String>) = extra.into_iter().partition(|e| e.starts_with(' '));
        for s in settings {
            text.push_str(&s);
        }
        let mut l = Line::new(format!("mount:{target}"), text);
        l.comments.append(&mut extra);
        out.push(l);
    }
    out
}

fn health(ctx: &mut Ctx, k: &Node, v: &Node, path: &str) -> Line {
    let mut l = Line::new("health", String::new());
    if v.get("disable").is_some_and(|d| d.value == Value::Bool(true)) {
        // The image's own HEALTHCHECK turned off.
        l.key = "image-health".into();
        l.text = "image-health #false".into();
        return l;
    }
    let test = v.get("test");
    let cmd = match test.map(|t| &t.value) {
        Some(Value::Str(s)) => Some(s.clone()),
        Some(Value::Seq(items)) => {
            let words: Vec<String> = items.iter().map(|i| i.scalar().unwrap_or_default()).collect();
            match words.first().map(String::as_str) {
                Some("CMD-SHELL") => Some(words[1..].join(" ")),
                Some("CMD") => {
                    l.comments.push(comment(
                        "guess: the `CMD` test joined into one shell command (the stack's `cmd=` runs in a shell)",
                    ));
                    Some(words[1..].iter().map(|w| crate::emit::shell_word(w)).collect::<Vec<_>>().join(" "))
                }
                Some("NONE") => None,
                _ => None,
            }
        }
        _ => None,
    };
    let Some(cmd) = cmd else {
        l.text = ctx.not_imported(k, path, v, "a health check without a test (or `NONE`): the stack has none");
        l.key = "~health".into();
        return l;
    };
    let mut text = format!("health cmd={}", q(&interpolate(ctx, &cmd, v, path, false)));
    for (hk, hv) in v.entries() {
        let h = hk.as_str().unwrap_or_default();
        let hpath = format!("{path}.{h}");
        match h {
            "test" => {}
            "interval" | "timeout" | "start_period" | "start_interval" => match hv.as_str().and_then(duration) {
                Some(d) => text.push_str(&format!(" {}={}", h.replace('_', "-"), q(&d))),
                None => {
                    l.comments.push(ctx.not_imported(hk, &hpath, hv, "a duration in whole milliseconds is expected"))
                }
            },
            "retries" => match &hv.value {
                Value::Int(n) if (1..=100).contains(n) => text.push_str(&format!(" retries={n}")),
                _ => l.comments.push(ctx.not_imported(hk, &hpath, hv, "retries are 1 to 100")),
            },
            "disable" if hv.value == Value::Bool(false) => {}
            _ => {
                l.comments.push(ctx.not_imported(hk, &hpath, hv, "the stack language has no such health check setting"))
            }
        }
    }
    l.text = text;
    l
}

fn deploy(ctx: &mut Ctx, v: &Node, path: &str, lines: &mut Vec<Line>, res: &mut Resources, restart: &mut Option<Line>) {
    for (dk, dv) in v.entries() {
        let d = dk.as_str().unwrap_or_default();
        let dpath = format!("{path}.{d}");
        match d {
            "replicas" => match &dv.value {
                Value::Int(n) if (0..=1000).contains(n) => lines.push(Line::new("replicas", format!("replicas {n}"))),
                _ => lines.push(Line::new("~replicas", ctx.not_imported(dk, &dpath, dv, "0 to 1000 replicas"))),
            },
            "mode" if dv.as_str() == Some("replicated") => {}
            "resources" => {
                for (rk, rv) in dv.entries() {
                    let kind = rk.as_str().unwrap_or_default();
                    for (ik, iv) in rv.entries() {
                        let item = ik.as_str().unwrap_or_default();
                        let ipath = format!("{dpath}.{kind}.{item}");
                        if (kind, item) == ("reservations", "devices") {
                            for d in seq(iv) {
                                match super::devices::gpu(ctx, &d, &ipath) {
                                    Ok(l) => lines.push(l),
                                    Err(c) => res.comments.push(c),
                                }
                            }
                            continue;
                        }
                        let prop = match (kind, item) {
                            ("limits", "cpus") => Some(("cpus", cpus(iv))),
                            ("limits", "memory") => Some(("memory", iv.scalar().as_deref().and_then(docker_size))),
                            ("limits", "pids") => Some(("pids", iv.scalar())),
                            ("reservations", "cpus") => Some(("reserve-cpus", cpus(iv))),
                            ("reservations", "memory") => {
                                Some(("reserve-memory", iv.scalar().as_deref().and_then(docker_size)))
                            }
                            _ => None,
                        };
                        match prop {
                            Some((p, Some(val))) => res.set(p, val),
                            _ => {
                                let c = ctx.not_imported(ik, &ipath, iv, "the stack language has no such resource");
                                res.comments.push(c);
                            }
                        }
                    }
                }
            }
            "restart_policy" => {
                let cond = dv.get("condition").and_then(Node::as_str).unwrap_or("any");
                let policy = match cond {
                    "none" => "no",
                    "on-failure" => "on-failure",
                    _ => "always",
                };
                let mut text = restart.as_ref().map_or_else(|| format!("restart {}", q(policy)), |r| r.text.clone());
                for (rk, rv) in dv.entries() {
                    let r = rk.as_str().unwrap_or_default();
                    match r {
                        "condition" => {}
                        "max_attempts" => text.push_str(&format!(" max-attempts={}", rv.scalar().unwrap_or_default())),
                        "delay" | "window" => match rv.as_str().and_then(duration) {
                            Some(dd) => text.push_str(&format!(" {r}={}", q(&dd))),
                            None => lines.push(Line::new(
                                "~restart",
                                ctx.not_imported(rk, &dpath, rv, "a duration is expected"),
                            )),
                        },
                        _ => lines
                            .push(Line::new("~restart", ctx.not_imported(rk, &dpath, rv, "no such restart setting"))),
                    }
                }
                *restart = Some(Line::new("restart", text));
            }
            "update_config" | "rollback_config" => {
                let node = if d == "update_config" { "update" } else { "rollback" };
                let mut text = node.to_string();
                let mut l = Line::new(node, String::new());
                for (uk, uv) in dv.entries() {
                    let u = uk.as_str().unwrap_or_default();
                    match u {
                        "parallelism" => text.push_str(&format!(" parallelism={}", uv.scalar().unwrap_or_default())),
                        "delay" | "monitor" => match uv.as_str().and_then(duration) {
                            Some(dd) => text.push_str(&format!(" {u}={}", q(&dd))),
                            None => l.comments.push(ctx.not_imported(uk, &dpath, uv, "a duration is expected")),
                        },
                        "failure_action" | "order" => {
                            text.push_str(&format!(" {}={}", u.replace('_', "-"), q(&uv.scalar().unwrap_or_default())))
                        }
                        "max_failure_ratio" if node == "update" => {
                            text.push_str(&format!(" max-failure-ratio={}", uv.scalar().unwrap_or_default()))
                        }
                        _ => l.comments.push(ctx.not_imported(uk, &dpath, uv, "no such update setting")),
                    }
                }
                l.text = text;
                lines.push(l);
            }
            "placement" => {
                for (pk, pv) in dv.entries() {
                    match (pk.as_str(), &pv.value) {
                        (Some("max_replicas_per_node"), Value::Int(n)) => {
                            lines.push(Line::new("placement", format!("placement max-replicas-per-node={n}")))
                        }
                        _ => lines.push(Line::new(
                            "~placement",
                            ctx.not_imported(pk, &dpath, pv, "only `max_replicas_per_node` is imported"),
                        )),
                    }
                }
            }
            _ => lines.push(Line::new(
                format!("~deploy.{d}"),
                ctx.not_imported(dk, &dpath, dv, "the stack language has no such deploy setting"),
            )),
        }
    }
}

fn logging(ctx: &mut Ctx, v: &Node, path: &str) -> Line {
    let mut l = Line::new("logging", String::new());
    let mut text = "logging".to_string();
    if let Some(d) = v.get("driver") {
        match d.as_str() {
            Some(drv @ ("json-file" | "local" | "journald" | "syslog" | "none")) => {
                text.push_str(&format!(" driver={}", q(drv)))
            }
            _ => l.comments.push(ctx.not_imported(
                d,
                path,
                d,
                "the log driver is json-file, local, journald, syslog or none",
            )),
        }
    }
    for (ok, ov) in v.get("options").map(Node::entries).unwrap_or_default() {
        let o = ok.as_str().unwrap_or_default();
        let val = ov.scalar().unwrap_or_default();
        match o {
            "max-size" => match docker_size(&val) {
                Some(s) => text.push_str(&format!(" max-size={s}")),
                None => l.comments.push(ctx.not_imported(ok, path, ov, "a size is expected")),
            },
            "max-file" => match val.parse::<u32>() {
                Ok(n) => text.push_str(&format!(" max-file={n}")),
                Err(_) => l.comments.push(ctx.not_imported(ok, path, ov, "a count is expected")),
            },
            "syslog-address" => text.push_str(&format!(" address={}", q(&val))),
            "tag" => text.push_str(&format!(" tag={}", q(&val))),
            _ => l.comments.push(ctx.not_imported(ok, path, ov, "the stack language has no such log option")),
        }
    }
    for (lk, lv) in v.entries() {
        if !matches!(lk.as_str(), Some("driver" | "options")) {
            l.comments.push(ctx.not_imported(lk, path, lv, "no such logging setting"));
        }
    }
    l.text = text;
    l
}

/// A Go duration (`1m30s`, `1.5s`, `500ms`) as a stack duration, when it is whole
/// milliseconds.
pub(super) fn duration(s: &str) -> Option<String> {
    let mut rest = s.trim();
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let ms = match &rest[..unit_end] {
            "h" => 3_600_000.0,
            "m" => 60_000.0,
            "s" => 1000.0,
            "ms" => 1.0,
            "us" | "µs" => 0.001,
            "ns" => 0.000_001,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * ms;
    }
    (total.fract() == 0.0 && total >= 0.0).then(|| crate::emit::compose::duration(total as u64))
}

/// Docker's sizes are binary whatever the case (`512m`, `2G`, `1gb` are MiB and GiB): the
/// stack spelling with an explicit binary unit.
pub(super) fn docker_size(s: &str) -> Option<String> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let num_end = lower.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(lower.len());
    let n: f64 = lower[..num_end].parse().ok()?;
    let mult: u64 = match lower[num_end..].trim() {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return None,
    };
    let bytes = n * mult as f64;
    if bytes.fract() != 0.0 || bytes < 1.0 {
        return None;
    }
    let bytes = bytes as u64;
    for (unit, size) in [("Ti", 1u64 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if bytes.is_multiple_of(size) {
            return Some(q(&format!("{}{unit}", bytes / size)));
        }
    }
    Some(bytes.to_string())
}

fn cpus(v: &Node) -> Option<String> {
    match &v.value {
        Value::Int(n) if *n > 0 => Some(n.to_string()),
        Value::Float(f) if *f > 0.0 => Some(f.to_string()),
        Value::Str(s) => {
            let f: f64 = s.parse().ok()?;
            (f > 0.0).then(|| f.to_string())
        }
        _ => None,
    }
}

/// A file mode: an integer, or a string of octal digits (`"0440"`, as compose reads it).
fn octal(v: &Node) -> Option<u32> {
    match &v.value {
        Value::Int(n) => u32::try_from(*n).ok().filter(|m| *m <= 0o777),
        Value::Str(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok().filter(|m| *m <= 0o777),
        _ => None,
    }
}

/// A name the stack language takes as it is (lowercase letters, digits and inner `-`).
fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The long syntax's mount options the stack has, as properties with a leading space
/// (` selinux="shared"`), which `volumes` tells apart from its comments.
fn long_mount_options(m: &Node) -> Vec<String> {
    let mut out = Vec::new();
    let bind = m.get("bind");
    match bind.and_then(|b| b.get("selinux")).and_then(Node::as_str) {
        Some("z") => out.push(" selinux=\"shared\"".to_string()),
        Some("Z") => out.push(" selinux=\"private\"".to_string()),
        _ => {}
    }
    // `true` is what the short syntax implies, and what stackc's short syntax means.
    if bind.and_then(|b| b.get("create_host_path")).is_some_and(|c| c.value == Value::Bool(false)) {
        out.push(" create-host-path=#false".to_string());
    }
    let volume = m.get("volume");
    if volume.and_then(|v| v.get("nocopy")).is_some_and(|c| c.value == Value::Bool(true)) {
        out.push(" nocopy=#true".to_string());
    }
    if let Some(sub) = volume.and_then(|v| v.get("subpath")).and_then(Node::as_str) {
        out.push(format!(" sub-path={}", q(sub)));
    }
    out
}

/// A tmpfs `mode=` option (octal, as docker reads it) as a KDL octal integer.
fn tmpfs_mode(s: &str) -> Option<String> {
    let m = u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)?;
    Some(format!("0o{m:o}"))
}

/// A service's `networks.NAME` map entry: its `ipv4_address`/`ipv6_address` as an `address`
/// line, and whether it has other settings (aliases, priorities) that are not imported.
/// The fixed addresses of a service on one network (`ipv4_address`, `ipv6_address`); the
/// network's other keys are `devices::aliases`'s.
fn network_addresses(ctx: &mut Ctx, nk: &Node, nv: &Node) -> Option<Line> {
    let mut props = String::new();
    for (k, v) in nv.entries() {
        match (k.as_str(), v.as_str()) {
            (Some("ipv4_address"), Some(a)) => props.push_str(&format!(" ipv4={}", q(a))),
            (Some("ipv6_address"), Some(a)) => props.push_str(&format!(" ipv6={}", q(a))),
            _ => {}
        }
    }
    if props.is_empty() {
        return None;
    }
    let net = ctx.name("network", &nk.scalar().unwrap_or_default());
    Some(Line::new(format!("address:{net}"), format!("address {}{props}", q(&net))))
}
