//! Rules of the long-syntax volume, mount and network settings (issue 12): options only one
//! kind of mount takes, NFS exports, gateways without their subnet, fixed addresses.

use std::net::IpAddr;
use std::str::FromStr;

use super::rules::substitute;
use super::values;
use super::Symbols;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::Node;

pub(super) fn check(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    mount_options(nodes, symbols, diags);
    volumes(symbols, diags);
    networks(symbols, diags);
    addresses(nodes, symbols, diags);
}

/// A string property with params at their compile-time values.
fn value(n: &Node, key: &str, symbols: &Symbols) -> Option<String> {
    let v = n.prop(key)?.value.as_str()?;
    Some(substitute(v, symbols).unwrap_or_else(|| v.to_string()))
}

/// `selinux=` and `create-host-path=` are bind options; `nocopy=` a volume option.
fn mount_options(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let proxies = nodes.iter().filter(|n| n.name.name == "proxy").map(|p| ("the proxy".to_string(), p));
    let services = symbols.services.iter().map(|(name, svc)| (format!("`{name}`"), *svc));
    for (owner, node) in services.chain(proxies) {
        for m in node.children_named("mount") {
            let Some(src) = m.arg_str(0) else { continue };
            let bind = values::is_bind_source(src) || values::has_interpolation(src);
            let wrong: &[&str] = if bind { &["nocopy"] } else { &["selinux", "create-host-path"] };
            for key in wrong {
                let Some(e) = m.prop(key) else { continue };
                let (this, other) =
                    if bind { ("a host path", "named volumes") } else { ("a named volume", "bind mounts") };
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!("`{key}=` on {this} (`{src}`) mounted by {owner}: it is an option of {other}"),
                    )
                    .at(e.entry_span, format!("an option of {other}"))
                    .label(m.arg(0).map(|a| a.span).unwrap_or(m.span), this)
                    .help(format!("remove `{key}=`")),
                );
            }
        }
    }
}

/// `nfs="server:/export"`, alone: the driver and its options are the NFS export's. An
/// external volume exists already: compose reads none of its settings.
fn volumes(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, v) in &symbols.volumes {
        if let Some(ext) = v.prop("external").filter(|e| e.value.as_bool() == Some(true)) {
            let set = ["driver", "nfs", "nfs-options"].into_iter().find_map(|k| v.prop(k).map(|e| (k, e.entry_span)));
            let set = set.or_else(|| v.child("driver-opts").map(|d| ("driver-opts", d.span)));
            if let Some((key, at)) = set {
                diags.push(
                    Diagnostic::error(Code::Conflicting, format!("volume `{name}`: `{key}` on an external volume"))
                        .at(at, "a setting of the volume's creation")
                        .label(ext.entry_span, "exists already: stackc does not create it")
                        .help(format!("remove `{key}`, or `external=#true` to have the volume created")),
                );
            }
        }
        if let Some(e) = v.prop("nfs") {
            let spec = value(v, "nfs", symbols).unwrap_or_default();
            if crate::lower::split_nfs(&spec).is_none() {
                diags.push(
                    Diagnostic::error(Code::InvalidPath, format!("`nfs=\"{spec}\"` of volume `{name}`"))
                        .at(e.entry_span, "not `server:/export`")
                        .help(
                            "write the server and the absolute path of the export: `nfs=\"10.0.0.5:/exports/media\"`",
                        ),
                );
            }
            let clash = v.prop("driver").or_else(|| v.child("driver-opts").map(|_| e));
            if let Some(other) = clash.filter(|_| v.prop("driver").is_some() || v.child("driver-opts").is_some()) {
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!("volume `{name}`: `nfs=` with `driver=` or `driver-opts`"),
                    )
                    .at(other.entry_span, "here")
                    .label(e.entry_span, "`nfs=` sets the local driver's NFS options")
                    .help("keep `nfs=` (with `nfs-options=`), or spell the driver out with `driver-opts` alone"),
                );
            }
            if value(v, "nfs-options", symbols).is_some_and(|o| o.split(',').any(|o| o.starts_with("addr="))) {
                let at = v.prop("nfs-options").map_or(v.span, |p| p.entry_span);
                diags.push(
                    Diagnostic::error(Code::Conflicting, format!("volume `{name}`: `addr=` in `nfs-options=`"))
                        .at(at, "the server is `nfs=`'s")
                        .help("remove `addr=`: stackc writes it from `nfs=`"),
                );
            }
        } else if let Some(e) = v.prop("nfs-options") {
            diags.push(
                Diagnostic::error(Code::Conflicting, format!("volume `{name}`: `nfs-options=` without `nfs=`"))
                    .at(e.entry_span, "options of an NFS export")
                    .help("add `nfs=\"server:/export\"`, or remove `nfs-options=`"),
            );
        }
    }
}

/// A gateway needs its subnet; `ipv6=#false` cannot have an IPv6 subnet; each subnet is of
/// its family.
fn networks(symbols: &Symbols, diags: &mut Diagnostics) {
    for (name, n) in &symbols.networks {
        for (gateway, subnet) in [("gateway", "subnet"), ("ipv6-gateway", "ipv6-subnet")] {
            let Some(g) = n.prop(gateway) else { continue };
            let (Some(gv), Some(sv)) = (value(n, gateway, symbols), value(n, subnet, symbols)) else {
                diags.push(
                    Diagnostic::error(Code::Conflicting, format!("network `{name}`: `{gateway}=` without `{subnet}=`"))
                        .at(g.entry_span, "a gateway of which range?")
                        .help(format!("add `{subnet}=` with the range the gateway is in")),
                );
                continue;
            };
            if let (Ok(gw), Ok(range)) = (IpAddr::from_str(&gv), cidr::IpCidr::from_str(&sv)) {
                if !range.contains(&gw) {
                    diags.push(
                        Diagnostic::error(
                            Code::Conflicting,
                            format!("network `{name}`: `{gateway}=\"{gv}\"` is not in `{subnet}=\"{sv}\"`"),
                        )
                        .at(g.entry_span, "outside the subnet")
                        .help("pick an address of the subnet, usually its first (`.1`)"),
                    );
                }
            }
        }
        for (key, v6) in [("subnet", false), ("ipv6-subnet", true)] {
            let Some(e) = n.prop(key) else { continue };
            let Some(range) = value(n, key, symbols).and_then(|s| cidr::IpCidr::from_str(&s).ok()) else { continue };
            if range.is_ipv6() != v6 {
                let want =
                    if v6 { "an IPv6 range (`fd00:1::/64`)" } else { "an IPv4 range; IPv6 goes in `ipv6-subnet=`" };
                diags.push(
                    Diagnostic::error(Code::InvalidCidr, format!("network `{name}`: `{key}=\"{range}\"`"))
                        .at(e.entry_span, "of the other address family")
                        .help(format!("write {want}")),
                );
            }
        }
        if let (Some(off), Some(s)) =
            (n.prop("ipv6").filter(|e| e.value.as_bool() == Some(false)), n.prop("ipv6-subnet"))
        {
            diags.push(
                Diagnostic::error(Code::Conflicting, format!("network `{name}`: `ipv6=#false` with `ipv6-subnet=`"))
                    .at(off.entry_span, "IPv6 off")
                    .label(s.entry_span, "an IPv6 range")
                    .help("remove `ipv6=#false`: an IPv6 subnet turns IPv6 on"),
            );
        }
    }
}

/// `address NETWORK ipv4= ipv6=`: on a network the service joins, with the subnet the address
/// is in (docker assigns fixed addresses only from a subnet the network declares). The
/// generated monitoring services take one only on a network their own `networks` list: the
/// networks stackc picks for them are not the stack's to address.
fn addresses(nodes: &[Node], symbols: &Symbols, diags: &mut Diagnostics) {
    let generated = nodes
        .iter()
        .filter(|n| n.name.name == "monitoring")
        .flat_map(|m| m.children())
        .filter(|c| matches!(c.name.name.as_str(), "exporter" | "prometheus"))
        .map(|c| (c.arg_str(0).unwrap_or(c.name.name.as_str()), c));
    let mut taken: std::collections::HashMap<(String, IpAddr), String> = std::collections::HashMap::new();
    for (svc_name, svc) in symbols.services.iter().map(|(n, s)| (*n, *s)).chain(generated) {
        let joined: Vec<&str> =
            svc.child("networks").map(|n| n.args.iter().filter_map(|a| a.value.as_str()).collect()).unwrap_or_default();
        for a in svc.children_named("address") {
            let Some(net) = a.arg_str(0) else { continue };
            let Some(network) = symbols.networks.get(net) else { continue };
            if !joined.contains(&net) {
                diags.push(
                    Diagnostic::error(
                        Code::Conflicting,
                        format!("service `{svc_name}` has an address on network `{net}`, which it does not join"),
                    )
                    .at(a.args[0].span, "not in the service's `networks`")
                    .help(format!("add \"{net}\" to the service's `networks`")),
                );
                continue;
            }
            if a.prop("ipv4").is_none() && a.prop("ipv6").is_none() {
                diags.push(
                    Diagnostic::error(
                        Code::MissingRequired,
                        format!("`address \"{net}\"` of `{svc_name}` gives no address"),
                    )
                    .at(a.span, "no `ipv4=` or `ipv6=`")
                    .help("add `ipv4=\"…\"` or `ipv6=\"…\"`, or remove the node"),
                );
            }
            for (key, subnet, v6) in [("ipv4", "subnet", false), ("ipv6", "ipv6-subnet", true)] {
                let Some(e) = a.prop(key) else { continue };
                let Some(addr) = value(a, key, symbols).and_then(|s| IpAddr::from_str(&s).ok()) else { continue };
                if addr.is_ipv6() != v6 {
                    diags.push(
                        Diagnostic::error(Code::InvalidAddress, format!("`{key}=\"{addr}\"` of `{svc_name}`"))
                            .at(e.entry_span, "of the other address family")
                            .help(format!("write an {} address", if v6 { "IPv6" } else { "IPv4" })),
                    );
                    continue;
                }
                // Docker gives an address to one container: a second one fails to start.
                if let Some(first) = taken.insert((net.to_string(), addr), svc_name.to_string()) {
                    diags.push(
                        Diagnostic::error(
                            Code::Conflicting,
                            format!("services `{first}` and `{svc_name}` both take the address {addr} on network `{net}`"),
                        )
                        .at(e.entry_span, "taken already")
                        .help("give each service an address of its own (an `address` in `defaults` gives every service the same one)"),
                    );
                }
                let range = value(network, subnet, symbols).and_then(|s| cidr::IpCidr::from_str(&s).ok());
                match range {
                    None => diags.push(
                        Diagnostic::error(
                            Code::Conflicting,
                            format!("service `{svc_name}`: a fixed {key} address on network `{net}`, which has no `{subnet}=`"),
                        )
                        .at(e.entry_span, "a fixed address")
                        .help(format!("docker assigns fixed addresses only from a declared range: give network `{net}` a `{subnet}=`")),
                    ),
                    Some(r) if !r.contains(&addr) => diags.push(
                        Diagnostic::error(
                            Code::Conflicting,
                            format!("service `{svc_name}`: `{key}=\"{addr}\"` is not in network `{net}`'s `{subnet}=\"{r}\"`"),
                        )
                        .at(e.entry_span, "outside the network's range")
                        .help("pick an address of the network's subnet"),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}
