//! Compose's device and privilege keys (issue 12) as their stack nodes: `privileged`,
//! `devices`, `device_cgroup_rules`, GPU reservations (`deploy.resources.reservations.devices`)
//! and network `aliases`.

use super::yaml::{Node, Value};
use super::{q, Ctx, Line};

/// `privileged`, `devices`, `device_cgroup_rules` of a service.
pub(super) fn translate(ctx: &mut Ctx, field: &str, k: &Node, v: &Node, path: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    match field {
        "privileged" => match &v.value {
            Value::Bool(b) => lines.push(Line::new(field, format!("privileged #{b}"))),
            _ => lines.push(Line::new(format!("~{field}"), ctx.not_imported(k, path, v, "a boolean is expected"))),
        },
        "devices" => {
            for d in items(v) {
                match device(&d) {
                    Some((host, target, perms)) => {
                        let mut text = format!("device {}", q(&host));
                        if target != host {
                            text.push_str(&format!(" target={}", q(&target)));
                        }
                        if let Some(p) = perms {
                            text.push_str(&format!(" permissions={}", q(&p)));
                        }
                        lines.push(Line::new(format!("device:{host}"), text));
                    }
                    None => lines.push(Line::new(
                        "~devices",
                        ctx.not_imported(
                            &d,
                            path,
                            &d,
                            "`HOST:CONTAINER[:PERMISSIONS]` with absolute paths is expected",
                        ),
                    )),
                }
            }
        }
        "device_cgroup_rules" => {
            let rules: Vec<String> = items(v).iter().filter_map(Node::scalar).map(|r| q(&r)).collect();
            if rules.is_empty() {
                lines.push(Line::new(format!("~{field}"), ctx.not_imported(k, path, v, "a list of rules is expected")));
            } else {
                lines.push(Line::new(field, format!("device-cgroup-rule {}", rules.join(" "))));
            }
        }
        _ => {}
    }
    lines
}

fn items(v: &Node) -> Vec<Node> {
    match &v.value {
        Value::Seq(items) => items.clone(),
        _ => Vec::new(),
    }
}

/// A `devices` entry, short (`/dev/x:/dev/y:rw`) or long (`source`, `target`, `permissions`).
fn device(d: &Node) -> Option<(String, String, Option<String>)> {
    let (host, target, perms) = match &d.value {
        Value::Map(_) => (
            d.get("source").and_then(Node::scalar)?,
            d.get("target").and_then(Node::scalar),
            d.get("permissions").and_then(Node::scalar),
        ),
        _ => {
            let s = d.scalar()?;
            let mut parts = s.split(':').map(str::to_string);
            (parts.next()?, parts.next(), parts.next())
        }
    };
    let target = target.unwrap_or_else(|| host.clone());
    let perms_ok = perms.as_deref().is_none_or(|p| !p.is_empty() && p.chars().all(|c| "rwm".contains(c)));
    (host.starts_with('/') && target.starts_with('/') && perms_ok).then_some((host, target, perms))
}

/// One entry of `deploy.resources.reservations.devices`: a GPU reservation becomes `gpu`;
/// other devices are not in the language.
pub(super) fn gpu(ctx: &mut Ctx, d: &Node, path: &str) -> Result<Line, String> {
    let caps: Vec<String> =
        d.get("capabilities").map(items).unwrap_or_default().iter().filter_map(Node::scalar).collect();
    if !caps.iter().any(|c| c == "gpu") {
        return Err(ctx.not_imported(d, path, d, "a device reservation without the `gpu` capability"));
    }
    let mut text = String::from("gpu");
    for c in caps.iter().filter(|c| crate::validate::values::name(c).is_ok()) {
        text.push_str(&format!(" {}", q(c)));
    }
    let mut l = Line::new("gpu", String::new());
    for (gk, gv) in d.entries() {
        match (gk.as_str().unwrap_or_default(), &gv.value) {
            ("capabilities", _) => {}
            ("driver", _) if gv.scalar().is_some() => {
                text.push_str(&format!(" driver={}", q(&gv.scalar().unwrap_or_default())))
            }
            ("count", Value::Int(n)) if (1..=1024).contains(n) => text.push_str(&format!(" count={n}")),
            ("device_ids", Value::Seq(ids)) => {
                let ids: Vec<String> = ids.iter().filter_map(Node::scalar).collect();
                text.push_str(&format!(" device-ids={}", q(&ids.join(","))));
            }
            _ => l.comments.push(ctx.not_imported(
                gk,
                path,
                gv,
                "`count: all` and device options are not in the stack language",
            )),
        }
    }
    if !text.contains(" count=") && !text.contains(" device-ids=") {
        return Err(ctx.not_imported(d, path, d, "a GPU reservation needs `count` or `device_ids` in a stack"));
    }
    l.text = text;
    Ok(l)
}

/// The `aliases` of a service's network, as `alias` names (kebab-case ones: stack names).
pub(super) fn aliases(ctx: &mut Ctx, nk: &Node, nv: &Node, path: &str, out: &mut Vec<String>) -> Vec<String> {
    let mut comments = Vec::new();
    for (ak, av) in nv.entries() {
        let key = ak.as_str().unwrap_or_default();
        let apath = format!("{path}.{key}");
        if key == "ipv4_address" || key == "ipv6_address" {
            // `address` (service::network_addresses).
            continue;
        }
        if key != "aliases" {
            comments.push(ctx.not_imported(
                ak,
                &apath,
                av,
                "priorities and other settings of a network attachment are not in the stack language",
            ));
            continue;
        }
        for a in items(av) {
            match a.scalar() {
                Some(name) if crate::validate::values::name(&name).is_ok() => {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
                _ => comments.push(ctx.not_imported(
                    &a,
                    &apath,
                    &a,
                    "an alias is a stack name (lowercase letters, digits and `-`)",
                )),
            }
        }
    }
    let _ = nk;
    comments
}

#[cfg(test)]
mod tests {
    use crate::import::{import, Input};

    #[test]
    fn devices_privileges_gpus_aliases_and_health_keys_become_their_nodes() {
        let text = "services:\n  zigbee:\n    image: koenkk/zigbee2mqtt:1.40.2\n    privileged: true\n    devices:\n      - /dev/ttyUSB0:/dev/ttyACM0:rw\n      - /dev/dri\n      - source: /dev/snd\n        target: /dev/snd\n        permissions: r\n    device_cgroup_rules: [\"c 189:* rmw\"]\n    networks:\n      lan:\n        aliases: [mqtt-bridge, Legacy_Name]\n    healthcheck:\n      test: [\"CMD-SHELL\", \"true\"]\n      start_period: 2m\n      start_interval: 5s\n    deploy:\n      resources:\n        reservations:\n          devices:\n            - driver: nvidia\n              count: 2\n              capabilities: [gpu, utility]\n  legacy:\n    image: ghcr.io/acme/legacy:3.2\n    healthcheck:\n      disable: true\nnetworks:\n  lan: {}\n";
        let i = import(&[Input { name: "c.yml", text }], "app").expect("imports");
        for want in [
            "privileged #true\n",
            "device \"/dev/ttyUSB0\" target=\"/dev/ttyACM0\" permissions=\"rw\"\n",
            "device \"/dev/dri\"\n",
            "device \"/dev/snd\" permissions=\"r\"\n",
            "device-cgroup-rule \"c 189:* rmw\"\n",
            "alias \"mqtt-bridge\"\n",
            "health cmd=\"true\" start-period=\"2m\" start-interval=\"5s\"\n",
            "gpu \"gpu\" \"utility\" driver=\"nvidia\" count=2\n",
            "image-health #false\n",
        ] {
            assert!(i.text.contains(want), "{want}\n{}", i.text);
        }
        // Not a stack name: reported where it is, kept as a comment.
        assert!(
            i.notes.iter().any(|n| n.key == "services.zigbee.networks.lan.aliases" && n.line == 14),
            "{:?}",
            i.notes
        );
    }

    /// Not a device key, but issue 12's too: a variable without a value stays absent when unset.
    #[test]
    fn a_variable_without_a_value_becomes_an_optional_param_passed_through() {
        let text = "services:\n  app_db:\n    image: postgres:16\n    environment:\n      - SENTRY_DSN\n";
        let i = import(&[Input { name: "c.yml", text }], "app").expect("imports");
        assert!(i.text.contains("param \"sentry-dsn\" env=\"SENTRY_DSN\" optional=#true\n"), "{}", i.text);
        assert!(i.text.contains("service \"app_db\" {"), "{}", i.text);
        let built =
            crate::build("i.stack.kdl", &i.text, &crate::Options::default(), &crate::emit::EmitOptions::default());
        assert!(!built.outcome.has_errors(), "{}", i.text);
        let compose = built.files.iter().find(|f| f.path == "docker-compose.yml").expect("compose");
        assert!(compose.contents.contains("      SENTRY_DSN: null\n"), "{}", compose.contents);
    }
}
