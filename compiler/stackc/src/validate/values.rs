//! Value domains: parsers shared by validation and lowering. Each returns the parsed value
//! or a [`ValueError`] saying what was expected and, where one is known, the fix.

use std::net::IpAddr;
use std::str::FromStr;

use crate::diagnostics::Code;

#[derive(Debug, Clone, PartialEq)]
pub struct ValueError {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
}

fn err(code: Code, message: impl Into<String>) -> ValueError {
    ValueError { code, message: message.into(), help: None }
}

impl ValueError {
    fn help(mut self, h: impl Into<String>) -> Self {
        self.help = Some(h.into());
        self
    }
}

pub type VResult<T> = Result<T, ValueError>;

/// Names of things become DNS labels, compose keys and k8s object names.
pub fn name(s: &str) -> VResult<()> {
    let ok_chars = s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let first = s.bytes().next();
    if s.is_empty() || s.len() > 63 || !ok_chars || !first.is_some_and(|b| b.is_ascii_lowercase()) {
        let fixed = suggest_name(s);
        let e = err(
            Code::InvalidName,
            format!(
                "`{s}` is not a valid name: names are 1-63 characters of `a-z`, `0-9` and `-`, starting with a letter"
            ),
        );
        return Err(match fixed {
            Some(f) if f != s => e.help(format!("write `{f}`")),
            _ => e,
        });
    }
    if s.ends_with('-') {
        return Err(err(
            Code::InvalidName,
            format!("`{s}` ends with `-`, which DNS and Kubernetes names do not allow"),
        )
        .help(format!("write `{}`", s.trim_end_matches('-'))));
    }
    Ok(())
}

/// A service's or network's name: a [`name`], or one with `_` in place of `-` (`app_db`,
/// `api_server`), which compose users keep and Docker's DNS resolves.
pub fn compose_name(s: &str) -> VResult<()> {
    let dashed = s.replace('_', "-");
    if s.contains('_') && name(&dashed).is_ok() {
        return Ok(());
    }
    name(s).map_err(|e| ValueError { message: e.message.replace("`0-9` and `-`", "`0-9`, `-` and `_`"), ..e })
}

pub fn suggest_name(s: &str) -> Option<String> {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' => c,
            _ => '-',
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let out = out.trim_matches('-').to_string();
    (!out.is_empty() && out.as_bytes()[0].is_ascii_lowercase() && out.len() <= 63).then_some(out)
}

pub use crate::ir::is_hidden;

/// `s` for a message: control and invisible characters spelled as escapes, so that the
/// message shows what is there.
pub fn shown(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() || is_hidden(c) { c.escape_default().to_string() } else { c.to_string() })
        .collect()
}

/// A string written into a generated file as it is: no control character (a tab is fine;
/// a line break only where `lines`: free text and environment values, which every target
/// quotes), and nothing hidden on a single-line value, which lands in nginx, Caddy, shell
/// and `.env` files that have no escape for it.
pub fn text(s: &str, lines: bool) -> VResult<()> {
    let bad = s.chars().find(|&c| {
        let control = c.is_control() && c != '\t' && !(lines && c == '\n');
        // Editors break the line at U+2028/U+2029; nginx, Caddy and sh do not.
        control || (!lines && (is_hidden(c) || c == '\u{2028}' || c == '\u{2029}'))
    });
    let Some(c) = bad else { return Ok(()) };
    let what = match c {
        '\n' => "a line break".to_string(),
        '\r' => "a carriage return".to_string(),
        '\0' => "a NUL character".to_string(),
        '\u{2028}' | '\u{2029}' => format!("the line separator U+{:04X}", c as u32),
        c if is_hidden(c) => format!("the invisible character U+{:04X}", c as u32),
        c => format!("the control character U+{:04X}", c as u32),
    };
    let e = err(Code::InvalidText, format!("this value contains {what}, which would reach a generated file"));
    Err(if matches!(c, '\n' | '\u{2028}' | '\u{2029}') {
        e.help("write the value on one line")
    } else if c == '\r' && lines {
        e.help("end lines with `\\n` only")
    } else {
        e.help("remove the character: control and invisible characters have no safe spelling in every target")
    })
}

/// A string without invisible characters, for a value that may span lines but also reaches
/// files with no escape for them (a param's default is written into `.env.example`).
pub fn visible(s: &str) -> VResult<()> {
    match s.chars().find(|&c| is_hidden(c)) {
        Some(c) => Err(err(
            Code::InvalidText,
            format!(
                "this value contains the invisible character U+{:04X}, which would reach a generated file",
                c as u32
            ),
        )
        .help("remove the character: `.env.example` and the files a param reaches have no escape for it")),
        None => Ok(()),
    }
}

/// A string at most `max` bytes long (header values: nginx refuses a request header larger
/// than a `large_client_header_buffers` buffer, 8k by default, and proxies cap them too).
pub fn text_len(s: &str, max: usize) -> VResult<()> {
    if s.len() > max {
        return Err(err(
            Code::InvalidText,
            format!("this value is {} bytes long; at most {max} are allowed here", s.len()),
        )
        .help("shorten the value"));
    }
    Ok(())
}

/// An HTTP header name: an RFC 7230 token.
pub fn header_name(s: &str) -> VResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 256
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if ok {
        return Ok(());
    }
    let fixed: String = s.trim().chars().filter(|c| !c.is_control()).map(|c| if c == ' ' { '-' } else { c }).collect();
    let e = err(
        Code::InvalidText,
        format!("`{}` is not a header name: header names are 1-256 letters, digits and `!#$%&'*+-.^_`|~`", shown(s)),
    );
    Err(if !fixed.is_empty() && fixed != s && header_name(&fixed).is_ok() {
        e.help(format!("write \"{fixed}\""))
    } else {
        e
    })
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`; names starting with `__` are reserved
/// for Prometheus itself.
pub fn label_name(s: &str) -> VResult<()> {
    let mut b = s.bytes();
    let ok = b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if !ok {
        let fixed: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        let fixed = fixed.trim_start_matches(|c: char| c.is_ascii_digit());
        let e = err(
            Code::InvalidName,
            format!(
                "`{}` is not a Prometheus label name: letters, digits and `_`, not starting with a digit",
                shown(s)
            ),
        );
        return Err(if label_name(fixed).is_ok() { e.help(format!("write `{fixed}`")) } else { e });
    }
    if s.starts_with("__") {
        let e = err(Code::InvalidName, format!("`{s}` starts with `__`, which Prometheus reserves for its own labels"));
        let fixed = s.trim_matches('_');
        return Err(if fixed.is_empty() { e } else { e.help(format!("write `{fixed}`")) });
    }
    Ok(())
}

/// A Kubernetes object name (ingress class, storage class, cluster issuer): a DNS-1123
/// subdomain, lowercase labels separated by dots, at most 253 characters.
pub fn object_name(s: &str) -> VResult<()> {
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        return Ok(());
    }
    let e = err(
        Code::InvalidName,
        format!(
            "`{}` is not a Kubernetes object name: lowercase `a-z`, `0-9`, `-` and `.`, starting and ending with a letter or digit",
            shown(s)
        ),
    );
    let lower = s.trim().to_ascii_lowercase();
    Err(if lower != s && object_name(&lower).is_ok() { e.help(format!("write \"{lower}\"")) } else { e })
}

/// An image tag: up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`.
pub fn image_tag(t: &str) -> VResult<()> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(err(
            Code::InvalidImage,
            format!(
                "`{}` is not a valid image tag: a tag is up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`",
                shown(t)
            ),
        )
        .help("write a version such as \"1.27\" or \"1.27-alpine\""))
    }
}

/// A scrape target: `host:port`, the host a DNS name or an IP address (IPv6 in brackets).
pub fn host_port(s: &str) -> VResult<()> {
    let bad = |why: &str| {
        err(Code::InvalidHostname, format!("`{}` is not a scrape target: {why}", shown(s)))
            .help("write `host:port`, e.g. \"api.internal:9100\" or \"10.0.0.5:9100\"")
    };
    let Some((h, p)) = s.rsplit_once(':') else {
        return Err(bad("it has no `:port`"));
    };
    let p: i128 = p.parse().map_err(|_| bad("the port is not a number"))?;
    port(p)?;
    if let Some(v6) = h.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().map(|_| ()).map_err(|_| bad("the address in brackets is not IPv6"));
    }
    if h.parse::<std::net::Ipv4Addr>().is_ok() {
        return Ok(());
    }
    host(h).map_err(|e| bad(e.message.rsplit(": ").next().unwrap_or("the host is not valid")))?;
    if h.starts_with("*.") {
        return Err(bad("a wildcard is not a host"));
    }
    Ok(())
}

/// A basic-auth user: RFC 7617 forbids `:` in it (the browser sends `user:password`), and it
/// separates the user from the hash in an htpasswd file.
pub fn auth_user(s: &str) -> VResult<()> {
    if s.is_empty() || s.contains(':') {
        return Err(err(
            Code::InvalidText,
            format!("`{}` is not a basic-auth user: it is empty or contains `:`", shown(s)),
        )
        .help("choose a user name without `:`"));
    }
    Ok(())
}

/// A path mounted into a container: docker compose's short syntax splits `source:target:options`
/// at `:`, and Kubernetes refuses a `mountPath` with one, so a `:` would mount elsewhere.
pub fn no_colon(s: &str) -> VResult<()> {
    if s.contains(':') {
        return Err(err(
            Code::InvalidPath,
            format!("`{}` contains `:`, which docker compose reads as the separator of a mount's source, target and options", shown(s)),
        )
        .help("rename the directory so that its path has no `:`"));
    }
    Ok(())
}

pub fn port(v: i128) -> VResult<u16> {
    if (1..=65535).contains(&v) {
        Ok(v as u16)
    } else {
        Err(err(Code::InvalidPort, format!("port {v} is out of range: ports are 1-65535")))
    }
}

/// A duration in the grammar every target accepts (Prometheus, compose, nginx, k8s):
/// one or more `<integer><unit>` with unit ms, s, m, h, d, w or y, largest first.
pub fn duration(s: &str) -> VResult<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let bad = || {
        err(Code::InvalidDuration, format!("`{s}` is not a duration")).help(
            "write whole numbers with units ms, s, m, h, d, w or y, largest first: \"30s\", \"5m\", \"1h30m\", \"90d\"",
        )
    };
    if s.is_empty() {
        return Err(bad());
    }
    let bytes = s.as_bytes();
    let (mut i, mut total, mut last_rank) = (0usize, 0u64, usize::MAX);
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let num: u64 = s[start..i].parse().map_err(|_| bad())?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        if unit.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(Code::InvalidDuration, format!("`{s}` has no unit"))
                .help(format!("write \"{s}s\" for seconds, \"{s}m\" for minutes")));
        }
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == unit) else {
            return Err(bad());
        };
        if last_rank != usize::MAX && rank <= last_rank {
            return Err(bad());
        }
        last_rank = rank;
        total = total.saturating_add(num.saturating_mul(UNITS[rank].1));
    }
    Ok(total)
}

/// A size in bytes. Only unambiguous units: docker reads `512m` as MiB, Kubernetes as
/// 0.512 bytes, so lowercase units are refused.
pub fn size(s: &str) -> VResult<u64> {
    const UNITS: &[(&str, u64)] = &[
        ("", 1),
        ("B", 1),
        ("K", 1_000),
        ("KB", 1_000),
        ("M", 1_000_000),
        ("MB", 1_000_000),
        ("G", 1_000_000_000),
        ("GB", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("TB", 1_000_000_000_000),
        ("Ki", 1 << 10),
        ("KiB", 1 << 10),
        ("Mi", 1 << 20),
        ("MiB", 1 << 20),
        ("Gi", 1 << 30),
        ("GiB", 1 << 30),
        ("Ti", 1 << 40),
        ("TiB", 1 << 40),
    ];
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return Err(err(Code::InvalidSize, format!("`{s}` is not a size"))
            .help("write a whole number with a unit: \"512Mi\", \"2Gi\", \"10M\", \"1G\""));
    }
    if let Some((_, mult)) = UNITS.iter().find(|(u, _)| *u == unit) {
        let n: u64 = num.parse().map_err(|_| err(Code::InvalidSize, format!("`{s}` is too large")))?;
        return n.checked_mul(*mult).ok_or_else(|| err(Code::InvalidSize, format!("`{s}` is too large")));
    }
    let lower = unit.to_ascii_lowercase();
    let ambiguous = ["k", "kb", "m", "mb", "g", "gb", "t", "tb", "ki", "mi", "gi", "ti"].contains(&lower.as_str());
    if ambiguous {
        let up = unit.to_ascii_uppercase();
        let bin = format!("{}i", &up[..1]);
        return Err(err(
            Code::InvalidSize,
            format!("the unit of `{s}` is ambiguous: docker reads `{unit}` as binary units, Kubernetes as decimal (or milli)"),
        )
        .help(format!("write \"{num}{bin}\" ({} bytes) or \"{num}{}\" ({} bytes)", pow_desc(&bin), &up[..1], pow_desc(&up[..1]))));
    }
    if unit.starts_with('.') {
        return Err(err(Code::InvalidSize, format!("`{s}`: sizes are whole numbers"))
            .help("use a smaller unit: \"1536Mi\" instead of \"1.5Gi\""));
    }
    Err(err(Code::InvalidSize, format!("`{s}` has an unknown unit `{unit}`"))
        .help("units: B, K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024)"))
}

fn pow_desc(unit: &str) -> &'static str {
    match unit {
        "K" => "×1000",
        "M" => "×1000²",
        "G" => "×1000³",
        "T" => "×1000⁴",
        "Ki" => "×1024",
        "Mi" => "×1024²",
        "Gi" => "×1024³",
        _ => "×1024⁴",
    }
}

/// CPUs as millicores: `0.5`, `2`, `"500m"`, `"0.25"`.
pub fn cpus_str(s: &str) -> VResult<u64> {
    if let Some(m) = s.strip_suffix('m') {
        if let Ok(v) = m.parse::<u64>() {
            if v > 0 {
                return Ok(v);
            }
        }
    } else if let Ok(f) = s.parse::<f64>() {
        return cpus_num(f);
    }
    Err(err(Code::InvalidCpus, format!("`{s}` is not a CPU amount"))
        .help("write a number of CPUs (0.5, 2) or millicores (\"500m\")"))
}

pub fn cpus_num(f: f64) -> VResult<u64> {
    let milli = (f * 1000.0).round();
    if f.is_finite() && f > 0.0 && (milli - f * 1000.0).abs() < 1e-6 && milli <= 1_000_000.0 {
        Ok(milli as u64)
    } else {
        let shown = if f.abs() < 1e9 { format!("{f}") } else { format!("{f:e}") };
        Err(err(
            Code::InvalidCpus,
            format!("{shown} is not a CPU amount: CPUs are positive, in steps of 0.001, at most 1000"),
        ))
    }
}

pub fn cidr(s: &str) -> VResult<cidr::IpCidr> {
    match cidr::IpCidr::from_str(s) {
        Ok(c) => Ok(c),
        Err(e) => {
            let mut out = err(Code::InvalidCidr, format!("`{s}` is not a valid CIDR: {e}"));
            // Host bits set: suggest the network address.
            if let Ok(inet) = cidr::IpInet::from_str(s) {
                out = out.help(format!("did you mean \"{}\"?", inet.network()));
            }
            Err(out)
        }
    }
}

pub fn address(s: &str) -> VResult<IpAddr> {
    IpAddr::from_str(s).map_err(|_| {
        let e = err(Code::InvalidAddress, format!("`{s}` is not an IP address"));
        if s == "localhost" {
            e.help("write \"127.0.0.1\"")
        } else {
            e.help("write an IPv4 or IPv6 address, e.g. \"127.0.0.1\"")
        }
    })
}

/// A five-field cron schedule (minute hour day-of-month month day-of-week) or a macro such
/// as `@daily`: what both crontab and Kubernetes CronJob accept.
pub fn cron(s: &str) -> VResult<()> {
    let t = s.trim();
    let fields = t.split_whitespace().count();
    if !t.starts_with('@') && fields != 5 {
        return Err(err(Code::InvalidCron, format!("`{s}` has {fields} fields; a cron schedule has 5"))
            .help("minute hour day-of-month month day-of-week, e.g. \"0 */6 * * *\" (every 6 hours)"));
    }
    if t.starts_with('@')
        && !["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"].contains(&t)
    {
        return Err(err(Code::InvalidCron, format!("`{s}` is not a cron macro"))
            .help("macros: @hourly, @daily, @weekly, @monthly, @yearly"));
    }
    croner::Cron::from_str(t).map(|_| ()).map_err(|e| {
        let why = e.to_string();
        let why = why.trim().trim_end_matches('.');
        let why = why.rsplit(": ").next().unwrap_or(why).to_lowercase();
        err(Code::InvalidCron, format!("`{s}` is not a valid cron schedule: {why}"))
            .help("fields: minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-6 (or names); `*`, `a-b`, `a,b`, `*/n`")
    })
}

/// A DNS host name; a leading `*.` wildcard label is allowed.
pub fn host(s: &str) -> VResult<()> {
    let bad = |why: &str| {
        let e = err(Code::InvalidHostname, format!("`{s}` is not a valid host name: {why}"));
        let lower = s.to_ascii_lowercase();
        let lower_ok = lower
            .strip_prefix("*.")
            .unwrap_or(&lower)
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        if s.chars().any(|c| c.is_ascii_uppercase()) && lower_ok {
            e.help(format!("write \"{lower}\""))
        } else if let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) {
            e.help(format!("write the host only: \"{}\"", rest.trim_end_matches('/')))
        } else {
            e
        }
    };
    let body = s.strip_prefix("*.").unwrap_or(s);
    if body.is_empty() || s.len() > 253 {
        return Err(bad("it must be 1-253 characters"));
    }
    for label in body.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each dot-separated label must be 1-63 characters"));
        }
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(bad("labels may contain only `a-z`, `0-9` and `-`"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("labels may not start or end with `-`"));
        }
    }
    Ok(())
}

/// A container image reference: `[registry[:port]/]path[:tag][@digest]`, per the
/// distribution reference grammar.
pub fn image(s: &str) -> VResult<()> {
    let bad = |why: &str| err(Code::InvalidImage, format!("`{s}` is not a valid image reference: {why}"));
    if s.is_empty() {
        return Err(bad("it is empty"));
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        let ok = d.split_once(':').is_some_and(|(alg, hex)| {
            !alg.is_empty()
                && alg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !ok {
            return Err(bad("the digest must look like `sha256:<64 hex digits>`"));
        }
    }
    // The tag is after the last `:` that follows the last `/` (a registry port comes before a `/`).
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    let (path, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if tag.is_some_and(|t| image_tag(t).is_err()) {
        return Err(bad("a tag is up to 128 of `A-Za-z0-9_.-`, not starting with `.` or `-`"));
    }
    let mut comps: Vec<&str> = path.split('/').collect();
    let first = comps[0];
    if comps.len() > 1 && (first.contains('.') || first.contains(':') || first == "localhost") {
        let (h, port) = match first.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (first, None),
        };
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
            return Err(bad("the registry host is not valid"));
        }
        if port.is_some_and(|p| p.parse::<u16>().is_err()) {
            return Err(bad("the registry port is not a number"));
        }
        comps.remove(0);
    }
    for c in comps {
        let ok = !c.is_empty()
            && c.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && c.bytes().last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !ok {
            let e = bad("repository path components are lowercase `a-z0-9` separated by `.`, `_` or `-`");
            return Err(if c.chars().any(|ch| ch.is_ascii_uppercase()) {
                e.help(format!("write \"{}\"", s.replacen(c, &c.to_ascii_lowercase(), 1)))
            } else {
                e
            });
        }
    }
    Ok(())
}

/// Whether an image reference pins a version: a tag other than `latest`, or a digest.
pub fn image_is_pinned(s: &str) -> bool {
    if s.contains('@') {
        return true;
    }
    let last_slash = s.rfind('/').map(|i| i + 1).unwrap_or(0);
    match s[last_slash..].rsplit_once(':') {
        Some((_, tag)) => tag != "latest",
        None => false,
    }
}

pub fn env_name(s: &str) -> VResult<()> {
    let mut b = s.bytes();
    let ok = b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_');
    if ok {
        Ok(())
    } else {
        let fixed: String =
            s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
        Err(err(Code::InvalidEnvName, format!("`{s}` is not a valid environment variable name"))
            .help(format!("names are letters, digits and `_`, not starting with a digit: \"{fixed}\"")))
    }
}

pub fn path(s: &str) -> VResult<()> {
    if s.is_empty() || s.contains('\0') || s.contains('\n') {
        return Err(err(Code::InvalidPath, "a path must be non-empty and on one line"));
    }
    Ok(())
}

/// A generated file's name: one component, so it cannot leave the output directory, and
/// not a name stackc uses itself.
pub fn file_name(s: &str) -> VResult<()> {
    let ok =
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        let base = s.rsplit(['/', '\\']).next().unwrap_or(s);
        let e = err(
            Code::InvalidPath,
            format!("`{s}` is not a plain file name: generated files stay inside the output directory"),
        );
        return Err(if !base.is_empty() && base != ".." && base != s {
            e.help(format!("write \"{base}\" and choose the directory with `stackc build -o DIR`"))
        } else {
            e.help("use letters, digits, `.`, `_` and `-`, e.g. \"docker-compose.prod.yml\"")
        });
    }
    if s == "stackc-manifest.json" || s == ".env.example" {
        return Err(
            err(Code::InvalidPath, format!("`{s}` is a file stackc generates itself")).help("choose another name")
        );
    }
    Ok(())
}

pub fn abs_path(s: &str) -> VResult<()> {
    path(s)?;
    if !s.starts_with('/') {
        return Err(err(Code::InvalidPath, format!("`{s}` must be an absolute path")).help(format!("write \"/{s}\"")));
    }
    Ok(())
}

pub fn url_path(s: &str) -> VResult<()> {
    if !s.starts_with('/') || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(
            Code::InvalidPath,
            format!("`{s}` is not a URL path: it must start with `/` and contain no spaces"),
        )
        .help(if s.starts_with('/') { "encode spaces as %20".to_string() } else { format!("write \"/{s}\"") }));
    }
    Ok(())
}

/// Mount sources: a bind mount if it starts with `./`, `../` or `/`; else a volume name.
pub fn is_bind_source(s: &str) -> bool {
    s.starts_with("./") || s.starts_with("../") || s.starts_with('/') || s == "."
}

/// Requests per second or minute: `10r/s`, `30r/m`.
pub fn rate(s: &str) -> VResult<(u64, char)> {
    let parsed = s.split_once("r/").and_then(|(n, unit)| {
        let n: u64 = n.parse().ok()?;
        let u = match unit {
            "s" => 's',
            "m" => 'm',
            _ => return None,
        };
        (n > 0).then_some((n, u))
    });
    parsed.ok_or_else(|| {
        err(Code::InvalidRate, format!("`{s}` is not a request rate"))
            .help("write requests per second or per minute: \"10r/s\", \"30r/m\"")
    })
}

/// Where in `s` the PromQL lexer fails, as (byte offset, length): the character at which the
/// shortest failing prefix fails with the same message, or for an unclosed parenthesis the
/// parenthesis; for a grammar error, the token that cannot follow (`promql_position`). `None`
/// when `s` is valid, fails for a reason other than its syntax, or is too long to search.
pub fn promql_error_at(s: &str) -> Option<(usize, usize)> {
    use super::promql_position::{grammar_error, GrammarError};
    use promql_parser::parser::lexer;
    let Err(message) = lexer(s) else {
        return grammar_error(s).map(|g| match g {
            GrammarError::Unexpected { at, len } | GrammarError::Incomplete { at, len } => (at, len),
        });
    };
    if message == "unclosed left parenthesis" {
        return unclosed_paren(s).map(|at| (at, 1));
    }
    // Each prefix is lexed anew: quadratic, so only for expressions of a readable size.
    if s.len() > 4096 {
        return None;
    }
    s.char_indices()
        .find(|(i, c)| lexer(&s[..i + c.len_utf8()]).err().as_deref() == Some(message.as_str()))
        .map(|(i, c)| (i, c.len_utf8()))
}

/// Where a scanner that reads a string once stands with quoted strings: the quote it is in
/// (opened by the caller), and whether the last character was a `\` escape (none inside
/// backticks).
#[derive(Default)]
pub(crate) struct Quoted {
    pub(crate) quote: Option<char>,
    escaped: bool,
}

impl Quoted {
    /// Inside a quote: takes `c` (closing the quote on its match) and returns true.
    pub(crate) fn take(&mut self, c: char) -> bool {
        let Some(q) = self.quote else { return false };
        if self.escaped {
            self.escaped = false;
        } else if c == '\\' && q != '`' {
            self.escaped = true;
        } else if c == q {
            self.quote = None;
        }
        true
    }
}

/// The byte offset of the `(` that is never closed (outside quoted strings).
fn unclosed_paren(s: &str) -> Option<usize> {
    let mut open: Vec<usize> = Vec::new();
    let mut quoted = Quoted::default();
    for (i, c) in s.char_indices() {
        if quoted.take(c) {
            continue;
        }
        match c {
            '"' | '\'' | '`' => quoted.quote = Some(c),
            '(' => open.push(i),
            ')' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.first().copied()
}

pub fn promql(s: &str) -> VResult<()> {
    use super::promql_position::{grammar_error, GrammarError};
    promql_parser::parser::parse(s).map(|_| ()).map_err(|e| {
        // The parser's grammar errors say only "invalid promql query": name the token.
        let message = match grammar_error(s) {
            Some(GrammarError::Unexpected { at, len }) => {
                format!("the expression is not valid PromQL: `{}` cannot come here", &s[at..at + len])
            }
            Some(GrammarError::Incomplete { at, len }) => {
                format!(
                    "the expression is not valid PromQL: it ends after `{}`, before it is complete",
                    &s[at..at + len]
                )
            }
            None => format!("the expression is not valid PromQL: {e}"),
        };
        err(Code::InvalidPromql, message)
    })
}

pub fn destination(s: &str) -> VResult<()> {
    if let Some(rest) = s.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or("");
        if bucket.len() >= 3
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Ok(());
        }
        return Err(err(Code::InvalidUrl, format!("`{s}`: `{bucket}` is not a valid S3 bucket name")));
    }
    if s.starts_with('/') {
        return path(s);
    }
    Err(err(Code::InvalidUrl, format!("`{s}` is not a backup destination"))
        .help("write \"s3://bucket/prefix\" or an absolute path such as \"/var/backups/db\""))
}

pub fn url(s: &str) -> VResult<()> {
    let rest = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(err(Code::InvalidUrl, format!("`{s}` is not an http(s) URL")).help("write \"https://host/path\"")),
    }
}

/// Splits a string into literal text and `${param}` references. `$$` is a literal `$`; a
/// `$` not followed by `{` or `$` is literal too (PromQL templates use `$labels`).
#[derive(Debug, Clone, PartialEq)]
pub enum Piece<'a> {
    Text(String),
    /// A param name, with its byte offset inside the string.
    Param(&'a str, usize),
    /// `${secret:name}`: a secret's value, allowed only where a value reaches a process's
    /// environment (never a config file).
    Secret(&'a str, usize),
}

pub fn interpolation(s: &str) -> VResult<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            text.push('$');
            rest = tail;
            offset += i + 2;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(err(Code::InvalidInterpolation, "`${` without a closing `}`")
                    .help("write `${param-name}`, or `$$` for a literal `$`"));
            };
            let inner = &body[..end];
            let (secret, pname, shift) = match inner.strip_prefix("secret:") {
                Some(sname) => (true, sname, 7),
                None => (false, inner, 0),
            };
            if name(pname).is_err() {
                let what = if secret { "a secret" } else { "a param" };
                return Err(err(Code::InvalidInterpolation, format!("`${{{inner}}}` does not name {what}")).help(
                    "params are named like `image-tag` (`${image-tag}`), secrets like `${secret:db-password}`; write `$${` for a literal `${`",
                ));
            }
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            if secret {
                out.push(Piece::Secret(pname, offset + i + 2 + shift));
            } else {
                out.push(Piece::Param(pname, offset + i + 2));
            }
            rest = &body[end + 1..];
            offset += i + 2 + end + 1;
        } else {
            text.push('$');
            rest = after;
            offset += i + 1;
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// A regular expression as nginx (PCRE) and Caddy (RE2) both read it: the common subset,
/// checked with the RE2-like `regex-syntax` parser.
pub fn regex(s: &str) -> VResult<()> {
    regex_syntax::Parser::new().parse(s).map(|_| ()).map_err(|e| {
        let msg = e.to_string();
        let last = msg.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim().trim_start_matches("error: ");
        err(Code::InvalidPath, format!("`{s}` is not a valid regular expression: {last}"))
    })
}

pub fn has_interpolation(s: &str) -> bool {
    s.contains("${")
}

/// A media type without parameters, `type/subtype` of RFC 6838 characters but `$` (which nginx
/// would expand): a proxy writes it into its compression list as one word.
pub fn media_type(s: &str) -> VResult<()> {
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#&-^_.+".contains(&b))
    };
    match s.split_once('/') {
        Some((t, sub)) if part(t) && part(sub) => Ok(()),
        _ => Err(err(Code::InvalidText, format!("`{}` is not a media type", shown(s)))
            .help("write `type/subtype` without parameters, e.g. \"application/wasm\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("30s"), Ok(30_000));
        assert_eq!(duration("1h30m"), Ok(5_400_000));
        assert_eq!(duration("90d"), Ok(90 * 86_400_000));
        assert_eq!(duration("500ms"), Ok(500));
        for bad in ["", "10", "1.5s", "5 m", "1m1h", "3M", "s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(size("512Mi"), Ok(512 << 20));
        assert_eq!(size("2G"), Ok(2_000_000_000));
        assert_eq!(size("10M"), Ok(10_000_000));
        assert_eq!(size("1024"), Ok(1024));
        let e = size("512m").unwrap_err();
        assert_eq!(e.code, Code::InvalidSize);
        assert!(e.help.unwrap().contains("512Mi"));
        assert!(size("1.5G").is_err());
        assert!(size("10X").is_err());
    }

    #[test]
    fn cidrs_and_addresses() {
        assert!(cidr("10.0.0.0/8").is_ok());
        assert!(cidr("2001:db8::/32").is_ok());
        let e = cidr("10.0.0.1/8").unwrap_err();
        assert_eq!(e.help.as_deref(), Some("did you mean \"10.0.0.0/8\"?"));
        assert!(cidr("10.0.0.0/33").is_err());
        assert!(address("127.0.0.1").is_ok());
        assert!(address("localhost").is_err());
    }

    #[test]
    fn crons() {
        assert!(cron("0 */6 * * *").is_ok());
        assert!(cron("@daily").is_ok());
        assert!(cron("0 3 * * MON-FRI").is_ok());
        assert!(cron("0 0 3 * * *").is_err());
        assert!(cron("61 * * * *").is_err());
        assert!(cron("@sometimes").is_err());
    }

    #[test]
    fn images() {
        for ok in [
            "postgres:16-alpine",
            "ghcr.io/acme/api:1.4.2",
            "localhost:5000/x/y:z",
            "nginx",
            "grafana/grafana:11.1.0",
            "redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(image(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Postgres:16", "nginx:", "a//b", "nginx:-x"] {
            assert!(image(bad).is_err(), "{bad}");
        }
        assert!(image_is_pinned("postgres:16"));
        assert!(!image_is_pinned("postgres"));
        assert!(!image_is_pinned("localhost:5000/x"));
        assert!(!image_is_pinned("x:latest"));
    }

    #[test]
    fn hosts_and_names() {
        assert!(host("shop.example.com").is_ok());
        assert!(host("*.example.com").is_ok());
        assert!(host("localhost").is_ok());
        assert!(host("Shop.example.com").is_err());
        assert!(host("https://x.com").unwrap_err().help.unwrap().contains("x.com"));
        assert!(name("api").is_ok());
        assert_eq!(name("My_Api").unwrap_err().help.as_deref(), Some("write `my-api`"));
        assert!(name("api-").is_err());
    }

    #[test]
    fn interpolations() {
        let p = interpolation("ghcr.io/x:${image-tag}").unwrap();
        assert_eq!(p, vec![Piece::Text("ghcr.io/x:".into()), Piece::Param("image-tag", 12)]);
        assert_eq!(interpolation("a$$b").unwrap(), vec![Piece::Text("a$b".into())]);
        assert_eq!(interpolation("{{ $labels.x }}").unwrap(), vec![Piece::Text("{{ $labels.x }}".into())]);
        assert!(interpolation("${oops").is_err());
        assert_eq!(
            interpolation("pg://u:${secret:db-pw}@db").unwrap(),
            vec![Piece::Text("pg://u:".into()), Piece::Secret("db-pw", 16), Piece::Text("@db".into())]
        );
        assert!(interpolation("${Bad Name}").is_err());
    }

    #[test]
    fn misc() {
        assert_eq!(rate("10r/s"), Ok((10, 's')));
        assert!(rate("10/s").is_err());
        assert_eq!(cpus_str("500m"), Ok(500));
        assert_eq!(cpus_num(0.25), Ok(250));
        assert!(cpus_num(0.0).is_err());
        assert!(promql("up{job=\"api\"} == 0").is_ok());
        assert!(promql("up{job=").is_err());
    }

    #[test]
    fn promql_errors_point_into_the_expression() {
        let at = |s: &'static str| promql_error_at(s).map(|(i, n)| &s[i..i + n]);
        // The character the lexer stops at.
        assert_eq!(promql_error_at(r#"up{job="api" == 0"#), Some((16, 1)));
        assert_eq!(at("rate(x[5q])"), Some("q"));
        assert_eq!(at("up{job=\"api"), Some("\""));
        // The parenthesis that is never closed, not the first one.
        assert_eq!(promql_error_at("(up) + sum(rate(x[5m])"), Some((10, 1)));
        assert_eq!(promql_error_at(r#"sum(x{a=")"})"#), None, "a quoted `)` closes nothing, and this is valid");
        assert_eq!(promql_error_at(r#"sum(x{a=")"}"#), Some((3, 1)));
        // The grammar's errors: the token that cannot follow (see `promql_position`).
        assert_eq!(at("up == = 0"), Some("="));
        assert_eq!(promql_error_at("up == = 0"), Some((6, 1)));
        assert_eq!(
            promql("up == = 0").unwrap_err().message,
            "the expression is not valid PromQL: `=` cannot come here"
        );
        assert_eq!(
            promql("sum(x) by").unwrap_err().message,
            "the expression is not valid PromQL: it ends after `by`, before it is complete"
        );
        assert!(destination("s3://shop-backups/db").is_ok());
        assert!(destination("backups").is_err());
        assert!(env_name("DATABASE_URL").is_ok());
        assert!(env_name("1X").is_err());
    }
}

// ---------------------------------------------------------------------------------------
// Raw proxy directives (the escape hatch of `site`/`route > nginx`/`caddy`).
// ---------------------------------------------------------------------------------------

/// The configuration language of raw directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Nginx,
    Caddy,
}

/// Raw directives that stay inside the block stackc writes them into: braces balanced
/// outside quotes and comments (a `}` of its own would close stackc's server, location or
/// site block and let the rest land outside it), quotes closed, and for nginx the last
/// directive ended (`;` or `}`), or it would swallow the directive stackc writes next.
pub fn raw_block(s: &str, dialect: Dialect) -> VResult<()> {
    visible(s)?;
    let (target, block) = match dialect {
        Dialect::Nginx => ("nginx", "the server or location block"),
        Dialect::Caddy => ("Caddy", "the site or route block"),
    };
    let bad = |message: String, help: &str| Err(err(Code::InvalidText, message).help(help.to_string()));
    if s.trim().is_empty() {
        return bad(format!("empty raw {target} directives"), "write the directives, or remove the node");
    }
    let mut depth: usize = 0;
    let mut quoted = Quoted::default();
    let mut escaped = false;
    let mut comment = false;
    // nginx's `${name}` is a variable, not a block.
    let mut var_brace = false;
    let mut prev = ' ';
    let mut last = ' ';
    for c in s.chars() {
        if comment {
            comment = c != '\n';
            prev = c;
            continue;
        }
        if quoted.take(c) {
            last = c;
            prev = c;
            continue;
        }
        if escaped {
            escaped = false;
        } else {
            match (c, dialect) {
                ('\\', Dialect::Nginx) => escaped = true,
                ('"' | '\'', Dialect::Nginx) | ('"' | '`', Dialect::Caddy) => quoted.quote = Some(c),
                ('#', _) if prev.is_whitespace() || matches!(prev, ';' | '{' | '}') => comment = true,
                ('{', Dialect::Nginx) if prev == '$' => var_brace = true,
                ('}', Dialect::Nginx) if var_brace => var_brace = false,
                ('{', _) => depth += 1,
                ('}', _) if depth == 0 => {
                    return bad(
                        format!("this `}}` closes {block} that stackc writes the raw {target} directives into"),
                        "balance the braces: raw directives must stay inside their block (quote a literal `}`)",
                    );
                }
                ('}', _) => depth -= 1,
                _ => {}
            }
        }
        if !comment && !c.is_whitespace() {
            last = c;
        }
        prev = c;
    }
    if quoted.quote.is_some() {
        return bad(format!("a quote in the raw {target} directives is not closed"), "close the quoted string");
    }
    if depth > 0 {
        return bad(
            format!("{depth} `{{` in the raw {target} directives not closed"),
            "close every block the directives open: the rest of stackc's configuration would land inside it",
        );
    }
    if dialect == Dialect::Nginx && !matches!(last, ';' | '}') {
        return bad(
            "the last raw nginx directive is not ended by `;`".to_string(),
            "end every nginx directive with `;`: the directive stackc writes next would become its arguments",
        );
    }
    Ok(())
}

#[cfg(test)]
mod raw_block_tests {
    use super::{raw_block, Dialect};

    #[test]
    fn raw_directives_must_stay_inside_their_block() {
        let ok = |s: &str, d| assert!(raw_block(s, d).is_ok(), "{s:?}: {:?}", raw_block(s, d).err().map(|e| e.message));
        let refused = |s: &str, d, part: &str| {
            let e = raw_block(s, d).expect_err(s);
            assert!(e.message.contains(part), "{s:?}: {}", e.message);
        };
        ok("add_header X-A 1;", Dialect::Nginx);
        ok("if ($http_x) { return 403; }\nproxy_set_header X-B \"}\";", Dialect::Nginx);
        ok("set $a \"${host}x\"; # a } in a comment\n", Dialect::Nginx);
        ok("header X-A {host}\n@api path /api/*", Dialect::Caddy);
        ok("handle_errors {\n\trespond \"}\" 500\n}", Dialect::Caddy);
        refused("add_header X-A 1; }\nserver { listen 81;", Dialect::Nginx, "closes the server or location block");
        refused("} header X-A 1 {", Dialect::Caddy, "closes the site or route block");
        refused("location /x {", Dialect::Nginx, "not closed");
        refused("add_header X-A \"1;", Dialect::Nginx, "quote");
        refused("add_header X-A 1", Dialect::Nginx, "not ended by `;`");
        refused("  ", Dialect::Caddy, "empty");
    }
}
