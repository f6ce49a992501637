//! The long-syntax settings of volumes and networks: driver options, NFS exports, and a
//! service's fixed addresses (issue 12).

use indexmap::IndexMap;

use super::{compile_time, origin, Cx};
use crate::ir::{NfsExport, StaticAddress};
use crate::syntax::ast::Node;

/// The `driver-opts` children of a volume or network, params at their compile-time values:
/// compose reads `driver_opts` literally, without interpolation of its own.
pub(super) fn driver_opts(cx: &Cx, n: &Node) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    for d in n.children_named("driver-opts") {
        for p in &d.props {
            out.insert(p.key.name.clone(), compile_time(cx, d, &p.key.name).unwrap_or_default());
        }
    }
    out
}

/// `nfs="server:/export"`, split where the server ends (validation refuses any other form).
pub(super) fn nfs(cx: &Cx, n: &Node) -> Option<NfsExport> {
    let spec = compile_time(cx, n, "nfs")?;
    let (server, path) = split_nfs(&spec)?;
    Some(NfsExport { server, path, options: compile_time(cx, n, "nfs-options").filter(|o| !o.is_empty()) })
}

/// `10.0.0.5:/exports/media` → (`10.0.0.5`, `/exports/media`); an IPv6 server is written in
/// brackets (`[fd00::5]:/x`), as `mount -t nfs` takes it, and given without them.
pub fn split_nfs(spec: &str) -> Option<(String, String)> {
    let (server, rest) = spec.split_once(":/")?;
    let server = server.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(server);
    (!server.is_empty()).then(|| (server.to_string(), format!("/{rest}")))
}

/// The `address` children of a service: its fixed addresses, by network.
pub(super) fn addresses(cx: &Cx, n: &Node) -> Vec<StaticAddress> {
    n.children_named("address")
        .filter_map(|a| {
            Some(StaticAddress {
                network: a.arg_str(0)?.to_string(),
                ipv4: compile_time(cx, a, "ipv4"),
                ipv6: compile_time(cx, a, "ipv6"),
                origin: origin(a.span),
            })
        })
        .collect()
}
