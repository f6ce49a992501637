//! Values as compose writes them: params as interpolations (`${VAR:-default}`), `$` escaped,
//! paths relative to the output folder, durations, sizes and CPUs in compose's spelling.

use super::EmitOptions;
use crate::ir::*;

/// `$` is compose's interpolation character: a literal one is written `$$`.
pub(super) fn esc(s: &str) -> String {
    s.replace('$', "$$")
}

/// A `Text` with params rendered for compose. Secrets inside it (only in env values) are
/// rendered by `secret`.
fn render(stack: &Stack, t: &Text, mut secret: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    for p in &t.0 {
        match p {
            Piece::Lit(s) => out.push_str(&esc(s)),
            Piece::Param(name) => out.push_str(&param(stack, name)),
            Piece::Secret(name) => out.push_str(&secret(name)),
        }
    }
    out
}

pub(super) fn render_plain(stack: &Stack, t: &Text) -> String {
    render(stack, t, |s| format!("${{secret:{s}}}"))
}

pub(super) fn render_opt(stack: &Stack, t: &Option<Text>) -> Option<String> {
    t.as_ref().map(|t| render_plain(stack, t))
}

pub(super) fn render_all(stack: &Stack, ts: &[Text]) -> Vec<String> {
    ts.iter().map(|t| render_plain(stack, t)).collect()
}

/// A stack-relative path as seen from the output directory, params rendered. Whether it is
/// absolute is decided with the params' compile-time defaults (`${data-root}/x` with a
/// default of `/srv` stays absolute).
pub(super) fn render_path(stack: &Stack, opts: &EmitOptions, t: &Text) -> String {
    let rendered = render_plain(stack, t);
    if stack.compile_time(t).starts_with('/') {
        rendered
    } else {
        opts.rebase(&rendered)
    }
}

pub(super) fn param(stack: &Stack, name: &str) -> String {
    param_depth(stack, name, 0)
}

/// A param's default may refer to other params (`default="https://${domain}/api"`); compose
/// nests them (`${API_URL:-https://${DOMAIN:-localhost}/api}`). Validation rejects loops;
/// the depth limit only guards against a bug there.
fn param_depth(stack: &Stack, name: &str, depth: usize) -> String {
    let Some(p) = stack.params.get(name) else { return String::new() };
    let default = |d: &Text| {
        if depth > 16 {
            return String::new();
        }
        d.0.iter()
            .map(|piece| match piece {
                Piece::Lit(s) => esc(s),
                Piece::Param(n) => param_depth(stack, n, depth + 1),
                Piece::Secret(_) => String::new(),
            })
            .collect::<String>()
    };
    match (&p.env, p.required, &p.default) {
        (Some(var), true, _) => format!("${{{var}:?param {name} must be set}}"),
        (Some(var), false, Some(d)) => format!("${{{var}:-{}}}", default(&Text::from_default(d))),
        (Some(var), false, None) => format!("${{{var}:-}}"),
        (None, _, Some(d)) => default(&Text::from_default(d)),
        (None, _, None) => String::new(),
    }
}

/// The compose reference to an env-sourced secret's variable.
pub(super) fn env_secret(secret: &Secret, var: &str) -> String {
    if secret.optional {
        format!("${{{var}:-}}")
    } else {
        format!("${{{var}:?secret {} must be set}}", secret.name)
    }
}

/// A duration or size in compose's spelling (`fmt`). One that names a param read at deploy
/// time stays an interpolation, so that the deploy-time value reaches it; when it is that
/// param alone, its default is written in compose's spelling too (`${HC_INTERVAL:-1m30s}`).
pub(super) fn amount(stack: &Stack, a: &Option<Amount>, fmt: fn(u64) -> String) -> Option<String> {
    let a = a.as_ref()?;
    match &a.text {
        Some(t) if stack.reads_deploy_env(t) => Some(match (t.0.as_slice(), a.value) {
            ([Piece::Param(name)], Some(v)) => match stack.params.get(name) {
                Some(Param { env: Some(var), required: false, .. }) => format!("${{{var}:-{}}}", fmt(v)),
                _ => render_plain(stack, t),
            },
            _ => render_plain(stack, t),
        }),
        _ => a.value.map(fmt),
    }
}

/// Durations in compose's Go-duration spelling: `1m30s`, `500ms`.
pub fn duration(ms: u64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (h, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1000, rest % 1000);
    let mut out = String::new();
    for (v, u) in [(h, "h"), (m, "m"), (s, "s"), (milli, "ms")] {
        if v > 0 {
            out.push_str(&format!("{v}{u}"));
        }
    }
    out
}

/// Bytes in docker's units, which are binary (`1g` = 1 GiB): the largest exact unit, or
/// plain bytes.
pub fn docker_bytes(b: u64) -> String {
    for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if b >= size && b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

pub(super) fn cpus(milli: u64) -> String {
    let whole = milli / 1000;
    let frac = milli % 1000;
    if frac == 0 {
        format!("{whole}")
    } else {
        format!("{whole}.{}", format!("{frac:03}").trim_end_matches('0'))
    }
}

/// An `env` value: params rendered, embedded secrets read from their deploy-time variables.
pub(super) fn env_text(stack: &Stack, t: &Text) -> String {
    render(stack, t, |name| match stack.secrets.get(name).map(|s| &s.source) {
        Some(SecretSource::Env(var)) => stack.secrets.get(name).map(|s| env_secret(s, var)).unwrap_or_default(),
        _ => String::new(),
    })
}
