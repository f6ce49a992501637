//! `.env.example`: every variable the compose file reads.

use super::backup;
use super::monitoring::monitoring_secrets;
use super::proxy::proxy_secrets;
use crate::ir::*;

/// A value for a `.env` file: docker compose interpolates `$` in unquoted and double-quoted
/// values, not in single-quoted ones.
fn env_file_value(v: &str) -> String {
    let plain = v.bytes().all(|b| b.is_ascii_alphanumeric() || b"/:._-@+,=".contains(&b));
    if plain {
        v.to_string()
    } else if !v.contains('\'') && !v.contains('\n') {
        format!("'{v}'")
    } else {
        let mut out = String::from("\"");
        for c in v.chars() {
            match c {
                '\\' | '"' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}

/// Every variable the compose file reads, required ones marked, no secret values.
pub(super) fn env_example(stack: &Stack) -> String {
    let mut out = super::header("#", stack);
    out.push_str("# Variables the compose file reads. Copy to `.env` next to it and fill in the required ones.\n");
    let mut seen = Vec::new();
    for p in stack.params.values() {
        let Some(var) = &p.env else { continue };
        if seen.contains(var) {
            continue;
        }
        seen.push(var.clone());
        out.push('\n');
        let desc = p
            .description
            .as_deref()
            .map(|d| format!(": {}", super::comment_text(&stack.compile_time(&Text::from_default(d)))))
            .unwrap_or_default();
        if p.required {
            out.push_str(&format!("# param `{}`{desc} (required)\n{var}=\n", p.name));
        } else if p.optional {
            // Commented out: an empty `VAR=` would set it, to an empty string.
            out.push_str(&format!("# param `{}`{desc} (optional, unset unless set)\n#{var}=\n", p.name));
        } else {
            // The default as compose applies it: nested params at their own defaults (a
            // raw `${domain}` here would be read as a variable once uncommented).
            let value = stack.compile_time(&Text::from_default(p.default.as_deref().unwrap_or_default()));
            out.push_str(&format!(
                "# param `{}`{desc} (optional, default shown)\n#{var}={}\n",
                p.name,
                env_file_value(&value)
            ));
        }
    }
    // A set: with a secret per ten services, a list made this quadratic.
    let used: std::collections::HashSet<&str> = stack
        .services
        .values()
        .flat_map(|s| s.secrets.iter().map(String::as_str))
        .chain(proxy_secrets(stack))
        .chain(monitoring_secrets(stack))
        .chain(backup::secrets(stack))
        .collect();
    for s in stack.secrets.values() {
        let SecretSource::Env(var) = &s.source else { continue };
        if !used.contains(s.name.as_str()) || seen.contains(var) {
            continue;
        }
        seen.push(var.clone());
        let req = if s.optional { "optional" } else { "required" };
        out.push_str(&format!("\n# secret `{}` ({req}; never commit its value)\n{var}=\n", s.name));
    }
    out
}
