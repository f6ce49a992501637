//! stackc's alert packs (`alerts > pack`): ready-made alerts in `stdlib/alerts/*.kdl`, each
//! `@{option}` replaced by the stack's value of the option or its default. The pack's text is
//! parsed like a stack's `alerts` children and lowered by the same code.

use indexmap::IndexMap;

use crate::source::SourceId;
use crate::syntax::ast::Node;

/// What an option's value is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionKind {
    /// A number (a percentage, a count of days).
    Number,
    /// A Prometheus duration (`for=`).
    Duration,
    /// A Prometheus metric name (the series an HTTP pack reads).
    Metric,
    /// A Prometheus label name (the label holding the HTTP status).
    Label,
}

pub struct PackOption {
    pub name: &'static str,
    pub default: &'static str,
    pub kind: OptionKind,
}

pub struct Pack {
    pub name: &'static str,
    pub text: &'static str,
    pub options: &'static [PackOption],
}

const fn opt(name: &'static str, default: &'static str, kind: OptionKind) -> PackOption {
    PackOption { name, default, kind }
}

/// The packs, in the order of `schema::ALERT_PACKS`.
pub const PACKS: &[Pack] = &[
    Pack {
        name: "targets",
        text: include_str!("../../../../stdlib/alerts/targets.kdl"),
        options: &[opt("for", "5m", OptionKind::Duration)],
    },
    Pack {
        name: "hosts",
        text: include_str!("../../../../stdlib/alerts/hosts.kdl"),
        options: &[
            opt("disk-free-percent", "10", OptionKind::Number),
            opt("memory-available-percent", "10", OptionKind::Number),
            opt("for", "10m", OptionKind::Duration),
        ],
    },
    Pack {
        name: "postgres",
        text: include_str!("../../../../stdlib/alerts/postgres.kdl"),
        options: &[opt("connections-percent", "80", OptionKind::Number), opt("for", "2m", OptionKind::Duration)],
    },
    Pack {
        name: "redis",
        text: include_str!("../../../../stdlib/alerts/redis.kdl"),
        options: &[opt("memory-percent", "90", OptionKind::Number), opt("for", "2m", OptionKind::Duration)],
    },
    Pack {
        name: "certificates",
        text: include_str!("../../../../stdlib/alerts/certificates.kdl"),
        options: &[opt("days", "14", OptionKind::Number)],
    },
    Pack {
        name: "http-errors",
        text: include_str!("../../../../stdlib/alerts/http-errors.kdl"),
        options: &[
            opt("metric", "http_requests_total", OptionKind::Metric),
            opt("status-label", "code", OptionKind::Label),
            opt("percent", "5", OptionKind::Number),
            opt("window", "5m", OptionKind::Duration),
            opt("for", "5m", OptionKind::Duration),
        ],
    },
    Pack {
        name: "http-latency",
        text: include_str!("../../../../stdlib/alerts/http-latency.kdl"),
        options: &[
            opt("metric", "http_request_duration_seconds_bucket", OptionKind::Metric),
            opt("percentile", "95", OptionKind::Number),
            opt("seconds", "0.5", OptionKind::Number),
            opt("window", "5m", OptionKind::Duration),
            opt("for", "10m", OptionKind::Duration),
        ],
    },
];

pub fn pack(name: &str) -> Option<&'static Pack> {
    PACKS.iter().find(|p| p.name == name)
}

/// The pack's `alert` nodes with each option's value (the stack's, else the default). The
/// values are checked by validation (`validate::alerting`); a pack that does not parse is a
/// bug of stackc, caught by the unit test below.
pub fn alert_nodes(pack: &Pack, values: &IndexMap<String, String>) -> Vec<Node> {
    let mut text = pack.text.to_string();
    for o in pack.options {
        let v = values.get(o.name).map_or(o.default, String::as_str);
        text = text.replace(&format!("@{{{}}}", o.name), v);
    }
    crate::syntax::parse(SourceId(u32::MAX), &text).0.map(|d| d.nodes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pack is in the schema's list, parses, uses only its options, and every option is
    /// used.
    #[test]
    fn packs_parse_and_use_their_options() {
        let names: Vec<&str> = PACKS.iter().map(|p| p.name).collect();
        assert_eq!(names, crate::schema::ALERT_PACKS);
        for p in PACKS {
            let nodes = alert_nodes(p, &IndexMap::new());
            assert!(!nodes.is_empty() && nodes.iter().all(|n| n.name.name == "alert"), "{}", p.name);
            for o in p.options {
                assert!(p.text.contains(&format!("@{{{}}}", o.name)), "{}: option {} unused", p.name, o.name);
            }
            let mut rest = p.text.to_string();
            for o in p.options {
                rest = rest.replace(&format!("@{{{}}}", o.name), "");
            }
            assert!(!rest.contains("@{"), "{}: a placeholder without an option", p.name);
        }
    }
}
