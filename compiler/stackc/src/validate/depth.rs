//! Rules of the service settings added for issue 12: the image's health check turned off
//! next to the stack's own, `start-interval=` without a start period, DNS aliases that name
//! two things.

use indexmap::IndexMap;

use super::Symbols;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::schema;
use crate::source::Span;

pub fn check(symbols: &Symbols, diags: &mut Diagnostics) {
    image_health(symbols, diags);
    start_interval(symbols, diags);
    aliases(symbols, diags);
}

/// `image-health #false` with `health`: the stack's check replaces the image's already, and
/// compose cannot both disable and define one.
fn image_health(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, svc) in &symbols.services {
        let Some(off) = svc.child("image-health").filter(|h| h.arg(0).and_then(|e| e.value.as_bool()) == Some(false))
        else {
            continue;
        };
        let Some(health) = svc.child("health") else { continue };
        diags.push(
            Diagnostic::error(
                Code::Conflicting,
                format!("service `{name}` turns its image's health check off and declares its own"),
            )
            .at(off.head_span(), "no health check")
            .label(health.head_span(), "a health check")
            .help("drop `image-health #false`: `health` replaces the image's HEALTHCHECK already"),
        );
    }
}

/// Docker checks at `start-interval` only during `start-period`: without one it is never used.
fn start_interval(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, svc) in &symbols.services {
        for probe in svc.children().iter().filter(|c| c.name.name == "health" || c.name.name == "readiness") {
            let Some(e) = probe.prop("start-interval") else { continue };
            if probe.prop("start-period").is_some() {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    Code::MissingRequired,
                    format!("service `{name}`: `{} start-interval=` has no `start-period=`", probe.name.name),
                )
                .at(e.entry_span, "used during the start period only")
                .help("add `start-period=` (how long the program may take to start), or drop `start-interval=`"),
            );
        }
    }
}

/// An alias is a DNS name on the service's networks (and a Kubernetes Service): one that is
/// also a service's name, or another service's alias, would resolve to either.
fn aliases(symbols: &Symbols, diags: &mut Diagnostics) {
    let mut seen: IndexMap<String, (&str, Span)> = IndexMap::new();
    for (name, svc) in &symbols.services {
        for a in svc.children_named("alias").flat_map(|a| a.args.iter()) {
            let Some(alias) = a.value.as_str() else { continue };
            let clash = if symbols.services.contains_key(alias) || schema::EXPORTER_SERVICES.contains(&alias) {
                Some(format!("service `{name}` has the alias `{alias}`, which is a service's name"))
            } else {
                seen.get(alias).map(|(other, _)| {
                    if other == name {
                        format!("service `{name}` has the alias `{alias}` twice")
                    } else {
                        format!("services `{other}` and `{name}` both have the alias `{alias}`")
                    }
                })
            };
            match clash {
                Some(message) => diags.push(
                    Diagnostic::error(Code::DuplicateName, message)
                        .at(a.span, "a name already taken")
                        .help("an alias must name one service only: pick another name"),
                ),
                None => {
                    seen.insert(alias.to_string(), (name, a.span));
                }
            }
        }
    }
}
