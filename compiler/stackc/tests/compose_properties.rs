//! Property test of the compose target: random *valid* stacks, generated as KDL text from a
//! seeded PRNG, must build without errors, deterministically, with a W0501 warning for each
//! construct compose only approximates, into compose files that
//!
//! - pass the compose spec JSON schema (`check-jsonschema`, all files in one run);
//! - parse as YAML 1.1 (PyYAML, as docker-compose v1 reads them) into exactly the values the
//!   stack means: every key of every service is predicted from the stack by an independent
//!   model of the documented mapping (`docs/targets/compose.md`), so a `$` that is not
//!   doubled, a param that is not substituted, or a `yes` that YAML reads as a boolean fails;
//! - read only variables that the generated `.env.example` lists (required ones uncommented,
//!   secrets without a value), and contain no `$` that compose would interpolate by accident;
//! - pass `docker-compose config -q` (v1, on a sample, with the copy adjustments of
//!   `validators.rs`).
//!
//! The external tools are found as in `validators.rs`: `.ci/tools/<venv>/bin/<tool>`, else
//! PATH. In CI (`CI` set) a missing tool fails the test; elsewhere it prints NOT RUN.
//!
//! Knobs: `STACKC_PROPS_COUNT=N` (default 150 stacks), `STACKC_PROPS_SEED=N` (default 0),
//! `STACKC_PROPS_ONLY=i` (build and check stack number `i` only, and print it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Map, Value};
use stackc::diagnostics::{render_human, RenderOptions};
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::{build, Options};

mod support;
use support::{in_ci, require, root, tool};

// ---------------------------------------------------------------------------------------
// PRNG: xorshift64*, seeded per stack through splitmix64.
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct` percent.
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------
// The language's interpolation rules and the documented compose rendering, written
// independently of the compiler: this is the oracle.
// ---------------------------------------------------------------------------------------

/// Messages of compose's `${VAR:?message}` for required params and env secrets.
fn required_param_message(name: &str) -> String {
    format!("param {name} must be set")
}

fn required_secret_message(name: &str) -> String {
    format!("secret {name} must be set")
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Param(String),
    Secret(String),
}

/// A string as the language reads it: `$$` is a literal `$`, `${name}` a param,
/// `${secret:name}` a secret, any other `$` a literal `$`.
fn interpolate(src: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = src;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("$$") {
            lit.push('$');
            rest = r;
        } else if let Some((inner, r)) = rest.strip_prefix("${").and_then(|r| r.split_once('}')) {
            if !lit.is_empty() {
                out.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            out.push(match inner.strip_prefix("secret:") {
                Some(s) => Piece::Secret(s.to_string()),
                None => Piece::Param(inner.to_string()),
            });
            rest = r;
        } else {
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// A literal `$` is written `$$` in compose.
fn esc(s: &str) -> String {
    s.replace('$', "$$")
}

/// A stack-relative path as seen from the output directory (`EmitOptions::base_dir`).
fn rebase(base: &str, path: &str) -> String {
    if path.starts_with('/') || base == "." {
        return path.to_string();
    }
    let rest = path.strip_prefix("./").unwrap_or(path);
    if rest == "." || rest.is_empty() {
        return base.to_string();
    }
    format!("{base}/{rest}")
}

/// Docker's binary units: the largest exact unit, else bytes.
fn docker_bytes(b: u64) -> String {
    for (unit, size) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if b >= size && b.is_multiple_of(size) {
            return format!("{}{unit}", b / size);
        }
    }
    b.to_string()
}

/// A KDL 2 quoted string (the library's one quoting).
fn q(s: &str) -> String {
    stackc::syntax::quote(s)
}

// ---------------------------------------------------------------------------------------
// Value pools.
// ---------------------------------------------------------------------------------------

/// Literal strings that YAML 1.1 or 1.2 would read as something else unless quoted, and
/// other awkward text.
const PLAIN: &[&str] = &[
    "yes",
    "on",
    "off",
    "NO",
    "0755",
    "1e3",
    "a: b",
    "#x",
    "x #y",
    "true",
    "null",
    "~",
    "",
    "1:30",
    "12:30:45",
    "-",
    "'q'",
    "say \"hi\"",
    "back\\slash",
    "line1\nline2",
    "ünïcödé",
    "[x]",
    "{x}",
    "*x",
    "&x",
    "!x",
    "%x",
    "@x",
    "?",
    "- x",
    "0x1F",
    "1_000",
    "=",
    "<<",
    ".inf",
    "2001-12-14",
    " lead",
    "trail ",
    "plain-word",
    "https://example.com/a?b=c&d",
];

/// Literal `$` in every spelling the language allows (none ends in a lone `$`, so that
/// concatenating them never forms a `${`).
const DOLLARS: &[&str] = &["$HOME", "$$HOME", "$${x}", "$1", "$$", "5$ ", "$ {x}", "$$$$", "a$b$c", "$(id -u)", "$-"];

/// Environment variable names, some of which YAML 1.1 reads as booleans or null unquoted.
const ENV_KEYS: &[&str] = &[
    "APP_MODE",
    "LOG_LEVEL",
    "ON",
    "NO",
    "Y",
    "N",
    "TRUE",
    "NULL",
    "PORT",
    "FEATURE_X",
    "_UNDER",
    "lower_case",
    "OFF",
];

/// (KDL source, compose spelling) of durations.
const DURATIONS: &[(&str, &str)] = &[
    ("30s", "30s"),
    ("90s", "1m30s"),
    ("1m30s", "1m30s"),
    ("500ms", "500ms"),
    ("2m", "2m"),
    ("1h", "1h"),
    ("10s", "10s"),
];

/// (KDL source, bytes) of sizes.
const SIZES: &[(&str, u64)] = &[
    ("512Mi", 512 << 20),
    ("1G", 1_000_000_000),
    ("2Gi", 2 << 30),
    ("64M", 64_000_000),
    ("256Mi", 256 << 20),
    ("10M", 10_000_000),
    ("64KiB", 64 << 10),
];

/// (KDL source, compose spelling) of CPU amounts.
const CPUS: &[(&str, &str)] = &[
    ("0.5", "0.5"),
    ("\"500m\"", "0.5"),
    ("2", "2"),
    ("\"250m\"", "0.25"),
    ("1.5", "1.5"),
    ("\"0.25\"", "0.25"),
    ("\"1500m\"", "1.5"),
];

/// Images whose entrypoints read `KEY_FILE` (or grafana's `KEY__FILE`): (image, key, file key).
const FILE_IMAGES: &[(&str, &str, &str)] = &[
    ("postgres:16-alpine", "POSTGRES_PASSWORD", "POSTGRES_PASSWORD_FILE"),
    ("mysql:8.4", "MYSQL_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD_FILE"),
    ("mariadb:11", "MARIADB_ROOT_PASSWORD", "MARIADB_ROOT_PASSWORD_FILE"),
    ("mongo:7", "MONGO_INITDB_ROOT_PASSWORD", "MONGO_INITDB_ROOT_PASSWORD_FILE"),
    ("minio/minio:RELEASE.2024-06-13T22-53-53Z", "MINIO_ROOT_PASSWORD", "MINIO_ROOT_PASSWORD_FILE"),
    ("grafana/grafana:11.1.0", "GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE"),
];

/// Other images; the last two ship no HTTP client (an `http=` check warns).
const OTHER_IMAGES: &[&str] = &[
    "redis:7-alpine",
    "busybox:1.36",
    "nginx:1.27-alpine",
    "localhost:5000/team/app:dev",
    "python:3.12-slim",
    "gcr.io/distroless/static:nonroot",
];

/// Container ports that must not be published on all addresses (`public-database`).
const DB_PORTS: &[u16] = &[5432, 3306, 27017, 6379, 11211, 9200, 9042, 5984, 8123, 9000, 8086, 7687, 5672];

fn is_database(image: &str) -> bool {
    ["postgres", "mysql", "mariadb", "mongo", "redis", "minio"].iter().any(|d| image.contains(d))
}

fn lacks_http_client(image: &str) -> bool {
    image.contains("distroless") || image.ends_with("-slim")
}

// ---------------------------------------------------------------------------------------
// The generator: KDL text plus the compose document it must become.
// ---------------------------------------------------------------------------------------

struct Param {
    name: String,
    env: Option<String>,
    required: bool,
    default: Option<String>,
}

enum SecretKind {
    Env { var: String, optional: bool },
    File(String),
    External,
}

struct Secret {
    name: String,
    kind: SecretKind,
}

/// What each generated service offers to later ones (for `depends-on`).
struct Known {
    name: String,
    has_health: bool,
    restart_no: bool,
}

/// How much of the language the generator uses.
#[derive(Clone, Copy)]
struct Mode {
    /// `$` characters and `${param}` in *every* string field (labels, user, paths, logging
    /// options, …), not only in env values and commands. See
    /// `dollar_and_params_in_every_string_field` below.
    everywhere: bool,
}

/// One generated stack and what it must compile to.
struct Case {
    index: usize,
    text: String,
    base_dir: String,
    file: String,
    /// The whole compose document the stack means.
    expected: Value,
    /// Variables of env secrets: `.env.example` must list them without a value.
    secret_vars: Vec<String>,
    /// Names that some W0501 warning must mention.
    approximations: Vec<String>,
}

struct Gen {
    rng: Rng,
    mode: Mode,
    base_dir: String,
    name: String,
    kdl: String,
    params: Vec<Param>,
    secrets: Vec<Secret>,
    volumes: Vec<String>,
    networks: Vec<String>,
    groups: Vec<(String, Vec<(String, String)>)>,
    stack_labels: Vec<(String, String)>,
    default_restart: Option<(String, Option<Value>)>,
    default_logging: Option<Value>,
    default_labels: Vec<(String, String)>,
    known: Vec<Known>,
    next_host_port: u16,
    used_secrets: Map<String, Value>,
    approximations: Vec<String>,
}

impl Gen {
    fn param(&self, name: &str) -> &Param {
        self.params.iter().find(|p| p.name == name).expect("generated param")
    }

    fn secret(&self, name: &str) -> &Secret {
        self.secrets.iter().find(|s| s.name == name).expect("generated secret")
    }

    /// The compose rendering of a string of the stack (documented in compose.md).
    fn render(&self, src: &str) -> String {
        interpolate(src)
            .into_iter()
            .map(|p| match p {
                Piece::Lit(s) => esc(&s),
                Piece::Param(n) => self.param_ref(&n),
                Piece::Secret(n) => self.secret_ref(&n),
            })
            .collect()
    }

    fn param_ref(&self, name: &str) -> String {
        let p = self.param(name);
        let default = || self.render(p.default.as_deref().unwrap_or(""));
        match (&p.env, p.required) {
            (Some(var), true) => format!("${{{var}:?{}}}", required_param_message(name)),
            (Some(var), false) => format!("${{{var}:-{}}}", default()),
            (None, _) => default(),
        }
    }

    fn secret_ref(&self, name: &str) -> String {
        match &self.secret(name).kind {
            SecretKind::Env { var, optional: true } => format!("${{{var}:-}}"),
            SecretKind::Env { var, optional: false } => format!("${{{var}:?{}}}", required_secret_message(name)),
            _ => panic!("generator bug: only env secrets are rendered into values"),
        }
    }

    fn env_secrets(&self) -> Vec<String> {
        self.secrets.iter().filter(|s| matches!(s.kind, SecretKind::Env { .. })).map(|s| s.name.clone()).collect()
    }

    /// A user string (KDL source): literals, `$` in its spellings, params and (in env
    /// values) `${secret:…}` of env secrets, concatenated.
    fn text(&mut self, params: bool, secrets: bool) -> String {
        let env_secrets = self.env_secrets();
        let mut out = String::new();
        for _ in 0..self.rng.range(1, 3) {
            let roll = self.rng.below(100);
            if roll < 40 {
                let s: &&str = self.rng.pick(PLAIN);
                out.push_str(s);
            } else if roll < 75 {
                let s: &&str = self.rng.pick(DOLLARS);
                out.push_str(s);
            } else if roll < 90 && params && !self.params.is_empty() {
                let p = self.rng.below(self.params.len());
                out.push_str(&format!("${{{}}}", self.params[p].name));
            } else if secrets && !env_secrets.is_empty() {
                out.push_str(&format!("${{secret:{}}}", self.rng.pick(&env_secrets)));
            } else {
                out.push('w');
            }
        }
        if self.rng.chance(5) {
            out.push('$');
        }
        out
    }

    /// A string for a field that the compose target renders as plain text; in `everywhere`
    /// mode it also holds `$` and params.
    fn field(&mut self, safe: &[&str]) -> String {
        let base = self.rng.pick(safe).to_string();
        if !self.mode.everywhere || self.rng.chance(40) {
            return base;
        }
        match self.rng.below(3) {
            0 => format!("{base}{}", self.rng.pick(&["$x", "$$y", "a$"])),
            _ if self.params.iter().any(|p| p.name == "dir") => format!("{base}-${{dir}}"),
            _ => format!("{base}$z"),
        }
    }

    /// An absolute path: `/base` or, in `everywhere` mode, with `$` or `${dir}` in it.
    fn path(&mut self, base: &str) -> String {
        if !self.mode.everywhere || self.rng.chance(40) {
            return base.to_string();
        }
        if self.rng.chance(50) && self.params.iter().any(|p| p.name == "dir") {
            format!("{base}/${{dir}}")
        } else {
            format!("{base}/a$b")
        }
    }

    fn line(&mut self, indent: usize, s: &str) {
        for _ in 0..indent {
            self.kdl.push_str("    ");
        }
        self.kdl.push_str(s);
        self.kdl.push('\n');
    }

    fn duration(&mut self) -> (&'static str, &'static str) {
        *self.rng.pick(DURATIONS)
    }

    fn size(&mut self) -> (&'static str, u64) {
        *self.rng.pick(SIZES)
    }

    fn host_port(&mut self) -> u16 {
        self.next_host_port += 1 + self.rng.below(50) as u16;
        self.next_host_port
    }
}

fn generate(index: usize, seed: u64, mode: Mode) -> Case {
    let mut g = Gen {
        rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9)),
        mode,
        base_dir: String::new(),
        name: String::new(),
        kdl: String::new(),
        params: Vec::new(),
        secrets: Vec::new(),
        volumes: Vec::new(),
        networks: Vec::new(),
        groups: Vec::new(),
        stack_labels: Vec::new(),
        default_restart: None,
        default_logging: None,
        default_labels: Vec::new(),
        known: Vec::new(),
        next_host_port: 20000,
        used_secrets: Map::new(),
        approximations: Vec::new(),
    };
    g.base_dir = g.rng.pick(&[".", "../..", "../deploy"]).to_string();
    g.name = format!("s{index}-{}", g.rng.pick(&["shop", "blog", "api", "x"]));

    // stack
    let name = g.name.clone();
    g.line(0, &format!("stack {} {{", q(&name)));
    if g.rng.chance(50) {
        g.line(1, &format!("description {}", q("generated: $x 'y' \"z\"")));
    }
    if g.rng.chance(40) {
        let labels = [("team", "core"), ("environment", "production"), ("on", "yes"), ("com.example.v", "0755")];
        for _ in 0..g.rng.range(1, 2) {
            let (k, v) = *g.rng.pick(&labels);
            if !g.stack_labels.iter().any(|(x, _)| x == k) {
                g.stack_labels.push((k.into(), v.into()));
            }
        }
        let props: Vec<String> = g.stack_labels.iter().map(|(k, v)| format!("{}={}", q(k), q(v))).collect();
        g.line(1, &format!("labels {}", props.join(" ")));
    }
    g.line(0, "}");

    // params
    if g.rng.chance(60) {
        let (env, required) = match g.rng.below(3) {
            0 => (None, false),
            1 => (Some("IMAGE_TAG".to_string()), false),
            _ => (Some("IMAGE_TAG".to_string()), g.rng.chance(50)),
        };
        let default = (!required).then(|| g.rng.pick(&["1.4.2", "2024.06", "v3", "16-alpine"]).to_string());
        g.params.push(Param { name: "image-tag".into(), env, required, default });
    }
    if mode.everywhere {
        let env = g.rng.chance(50).then(|| "DATA_DIR".to_string());
        g.params.push(Param { name: "dir".into(), env, required: false, default: Some("data".into()) });
    }
    for i in 0..g.rng.range(0, 4) {
        let name = format!("p{i}-{}", g.rng.pick(&["mode", "domain", "level", "url"]));
        let env = g.rng.chance(70).then(|| if g.rng.chance(15) { format!("p{i}_lower") } else { format!("P{i}_VAR") });
        let required = env.is_some() && g.rng.chance(20);
        let default = (!required).then(|| {
            let lit =
                g.rng.pick(&["info", "yes", "0755", "a: b", "#x", "p$ss", "$$HOME", "https://x.example", "", "1e3"]);
            let earlier: Vec<String> = g.params.iter().filter(|p| p.name != "dir").map(|p| p.name.clone()).collect();
            if !earlier.is_empty() && g.rng.chance(40) {
                format!("{lit}-${{{}}}/z", g.rng.pick(&earlier))
            } else {
                lit.to_string()
            }
        });
        g.params.push(Param { name, env, required, default });
    }
    for i in 0..g.params.len() {
        let p = &g.params[i];
        let mut s = format!("param {}", q(&p.name));
        if let Some(d) = &p.default {
            s.push_str(&format!(" default={}", q(d)));
        }
        if let Some(e) = &p.env {
            s.push_str(&format!(" env={}", q(e)));
        }
        if p.required {
            s.push_str(" required=#true");
        }
        if i % 2 == 1 {
            s.push_str(&format!(" description={}", q("what it is: $x")));
        }
        g.line(0, &s);
    }

    // networks, volumes, secrets
    let mut networks = Map::new();
    for i in 0..g.rng.range(0, 3) {
        let name = format!("n{i}-{}", g.rng.pick(&["front", "back", "db"]));
        let mut s = format!("network {}", q(&name));
        let mut n = Map::new();
        if g.rng.chance(10) {
            s.push_str(" external=#true");
            n.insert("external".into(), json!(true));
        } else {
            if g.rng.chance(20) {
                s.push_str(" driver=\"bridge\"");
                n.insert("driver".into(), json!("bridge"));
            }
            if g.rng.chance(30) {
                s.push_str(" internal=#true");
                n.insert("internal".into(), json!(true));
            }
            if g.rng.chance(50) {
                let subnet = if g.rng.chance(50) { format!("172.{}.0.0/16", 20 + i) } else { format!("10.{i}.8.0/24") };
                s.push_str(&format!(" subnet={}", q(&subnet)));
                n.insert("ipam".into(), json!({"config": [{"subnet": subnet}]}));
            }
        }
        g.line(0, &s);
        networks.insert(name.clone(), Value::Object(n));
        g.networks.push(name);
    }
    if g.networks.is_empty() {
        networks.insert(g.name.clone(), json!({}));
    }
    let mut volumes = Map::new();
    for i in 0..g.rng.range(0, 3) {
        let name = format!("v{i}-data");
        let mut s = format!("volume {}", q(&name));
        let mut warn = false;
        if g.rng.chance(20) {
            s.push_str(" size=\"10Gi\"");
            warn = true;
        }
        if g.rng.chance(10) {
            s.push_str(" class=\"fast-ssd\"");
            warn = true;
        }
        let external = g.rng.chance(15);
        if external {
            s.push_str(" external=#true");
        }
        if warn {
            g.approximations.push(name.clone());
        }
        g.line(0, &s);
        volumes.insert(name.clone(), if external { json!({"external": true}) } else { json!({}) });
        g.volumes.push(name);
    }
    for i in 0..g.rng.range(0, 5) {
        let name = format!("s{i}-{}", g.rng.pick(&["db-pw", "jwt", "api-key", "smtp"]));
        let (kind, s) = match g.rng.below(20) {
            0..=8 => {
                let var = format!("CANARY_SECRET_{i}");
                let optional = g.rng.chance(30);
                let opt = if optional { " optional=#true" } else { "" };
                (SecretKind::Env { var: var.clone(), optional }, format!("env={}{opt}", q(&var)))
            }
            9..=14 => {
                let path = match g.rng.below(3) {
                    0 => format!("./secrets/s{i}.txt"),
                    1 => format!("secrets/s{i}.txt"),
                    _ => format!("/etc/stack/s{i}"),
                };
                let path = if mode.everywhere && g.rng.chance(50) { format!("./secrets/$s{i}.txt") } else { path };
                (SecretKind::File(path.clone()), format!("file={}", q(&path)))
            }
            _ => (SecretKind::External, "external=#true".to_string()),
        };
        g.line(0, &format!("secret {} {s}", q(&name)));
        g.secrets.push(Secret { name, kind });
    }

    // env groups: plain values and params, never secrets
    for i in 0..g.rng.range(0, 2) {
        let name = format!("g{i}");
        let mut vars: Vec<(String, String)> = Vec::new();
        for _ in 0..g.rng.range(1, 3) {
            let key = g.rng.pick(ENV_KEYS).to_string();
            if vars.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let v = g.text(true, false);
            vars.push((key, v));
        }
        let props: Vec<String> = vars.iter().map(|(k, v)| format!("{}={}", q(k), q(v))).collect();
        g.line(0, &format!("env-group {} {}", q(&name), props.join(" ")));
        g.groups.push((name, vars));
    }

    // defaults
    if g.rng.chance(30) {
        g.line(0, "defaults {");
        if g.rng.chance(60) {
            let policy = g.rng.pick(&["unless-stopped", "always", "on-failure"]).to_string();
            // docker takes a retry count only with `on-failure` (E0110 otherwise)
            let with_attempts = policy == "on-failure" && g.rng.chance(40);
            let attempts = if with_attempts { " max-attempts=5" } else { "" };
            g.line(1, &format!("restart {}{attempts}", q(&policy)));
            let condition = if policy == "on-failure" { "on-failure" } else { "any" };
            g.default_restart =
                Some((policy, with_attempts.then(|| json!({"condition": condition, "max_attempts": 5}))));
        }
        if g.rng.chance(60) {
            g.line(1, "logging driver=\"json-file\" max-size=\"10M\" max-file=3");
            g.default_logging =
                Some(json!({"driver": "json-file", "options": {"max-size": "10000000", "max-file": "3"}}));
        }
        if g.rng.chance(40) {
            g.default_labels.push(("com.example.team".into(), "platform".into()));
            g.line(1, "labels \"com.example.team\"=\"platform\"");
        }
        g.line(0, "}");
    }

    // services
    let mut services = Map::new();
    for i in 0..g.rng.range(1, 8) {
        let (name, svc) = service(&mut g, i);
        services.insert(name, Value::Object(svc));
    }

    // targets
    let file =
        g.rng.pick(&["docker-compose.yml", "compose.yaml", "docker-compose.prod.yml", "compose.production.yaml"]);
    let project = g.rng.chance(30).then(|| format!("proj-{index}"));
    let mut t = String::from("compose");
    if *file != "docker-compose.yml" || g.rng.chance(30) {
        t.push_str(&format!(" file={}", q(file)));
    }
    if let Some(p) = &project {
        t.push_str(&format!(" project={}", q(p)));
    }
    g.line(0, "targets {");
    g.line(1, &t);
    g.line(0, "}");

    let mut doc = Map::new();
    doc.insert("name".into(), json!(project.unwrap_or_else(|| g.name.clone())));
    doc.insert("services".into(), Value::Object(services));
    doc.insert("networks".into(), Value::Object(networks));
    if !volumes.is_empty() {
        doc.insert("volumes".into(), Value::Object(volumes));
    }
    if !g.used_secrets.is_empty() {
        doc.insert("secrets".into(), Value::Object(std::mem::take(&mut g.used_secrets)));
    }
    let secret_vars = g
        .secrets
        .iter()
        .filter_map(|s| match &s.kind {
            SecretKind::Env { var, .. } => Some(var.clone()),
            _ => None,
        })
        .collect();
    Case {
        index,
        text: g.kdl,
        base_dir: g.base_dir,
        file: file.to_string(),
        expected: Value::Object(doc),
        secret_vars,
        approximations: g.approximations,
    }
}

/// Declares a used secret at the top level (first use wins).
fn use_secret(g: &mut Gen, name: &str) {
    if g.used_secrets.contains_key(name) {
        return;
    }
    let v = match &g.secret(name).kind {
        SecretKind::File(f) => json!({"file": g.render(&rebase(&g.base_dir, f))}),
        SecretKind::Env { var, .. } => json!({"environment": var}),
        SecretKind::External => json!({"external": true}),
    };
    g.used_secrets.insert(name.to_string(), v);
}

fn service(g: &mut Gen, i: usize) -> (String, Map<String, Value>) {
    let name = format!("{}-{i}", g.rng.pick(&["api", "web", "worker", "db", "cache", "migrate", "queue", "mail"]));
    let mut c = Map::new();
    g.line(0, &format!("service {} {{", q(&name)));
    if g.rng.chance(20) {
        g.line(1, &format!("description {}", q("does $things")));
        c.insert("x-description".into(), json!("does $$things"));
    }

    // image and build
    let roll = g.rng.below(100);
    let mut file_image = None;
    let image: Option<String> = if roll < 35 {
        let tag = if g.params.iter().any(|p| p.name == "image-tag") { "${image-tag}" } else { "1.0.0" };
        Some(format!("ghcr.io/acme/{name}:{tag}"))
    } else if roll < 60 {
        let f = *g.rng.pick(FILE_IMAGES);
        file_image = Some(f);
        Some(f.0.to_string())
    } else if roll < 90 {
        Some(g.rng.pick(OTHER_IMAGES).to_string())
    } else {
        None
    };
    let image_lit = image.clone().unwrap_or_default();
    if let Some(img) = &image {
        g.line(1, &format!("image {}", q(img)));
        c.insert("image".into(), json!(g.render(img)));
    }
    if image.is_none() || (roll < 35 && g.rng.chance(40)) {
        let context = g.rng.pick(&[".", "./", "./app", "../src/app", "/srv/build", "app"]).to_string();
        let context = if g.mode.everywhere && g.rng.chance(50) { "./ctx-$c".to_string() } else { context };
        let mut s = format!("build context={}", q(&context));
        let mut b = Map::new();
        b.insert("context".into(), json!(g.render(&rebase(&g.base_dir, &context))));
        if g.rng.chance(50) {
            let d = g.field(&["Dockerfile.prod", "docker/Dockerfile", "Dockerfile"]);
            s.push_str(&format!(" dockerfile={}", q(&d)));
            b.insert("dockerfile".into(), json!(g.render(&d)));
        }
        if g.rng.chance(40) {
            let t = g.field(&["production", "runtime"]);
            s.push_str(&format!(" target={}", q(&t)));
            b.insert("target".into(), json!(g.render(&t)));
        }
        if g.rng.chance(50) {
            let mut args = Map::new();
            let mut props = Vec::new();
            for key in ["VERSION", "NEXT_PUBLIC_URL", "ON"].iter().take(g.rng.range(1, 3)) {
                let v = g.text(true, false);
                props.push(format!("{}={}", q(key), q(&v)));
                args.insert(key.to_string(), json!(g.render(&v)));
            }
            g.line(1, &format!("{s} {{"));
            g.line(2, &format!("arg {}", props.join(" ")));
            g.line(1, "}");
            b.insert("args".into(), Value::Object(args));
        } else {
            g.line(1, &s);
        }
        c.insert("build".into(), Value::Object(b));
    }
    let database = is_database(&image_lit);

    // replicas and autoscale (without `replicas`, compose runs the autoscaler's `min`)
    let own_replicas = g.rng.chance(30).then(|| g.rng.range(0, 5) as u32);
    if let Some(r) = own_replicas {
        g.line(1, &format!("replicas {r}"));
    }
    let autoscale = g.rng.chance(6);
    if autoscale {
        g.line(1, "autoscale min=2 max=6 memory=80");
        g.approximations.push(name.clone());
    }
    let replicas = own_replicas.unwrap_or(if autoscale { 2 } else { 1 });

    // command and entrypoint
    if g.rng.chance(40) {
        let words: Vec<String> = if g.rng.chance(40) {
            vec!["sh".into(), "-c".into(), format!("exec serve --token \"$$TOKEN\" {}", g.text(true, false))]
        } else {
            (0..g.rng.range(1, 4)).map(|_| g.text(true, false)).collect()
        };
        let kdl: Vec<String> = words.iter().map(|w| q(w)).collect();
        g.line(1, &format!("command {}", kdl.join(" ")));
        c.insert("command".into(), json!(words.iter().map(|w| g.render(w)).collect::<Vec<_>>()));
    }
    if g.rng.chance(15) {
        let words: Vec<String> = (0..g.rng.range(1, 2)).map(|_| g.text(true, false)).collect();
        let kdl: Vec<String> = words.iter().map(|w| q(w)).collect();
        g.line(1, &format!("entrypoint {}", kdl.join(" ")));
        c.insert("entrypoint".into(), json!(words.iter().map(|w| g.render(w)).collect::<Vec<_>>()));
    }

    // ports
    let mut ports: Vec<(u16, Option<String>, bool)> = Vec::new();
    let pool: &[u16] = if database { &[5432, 6379, 8080] } else { &[80, 3000, 8080, 9090, 5000, 53, 8443] };
    for j in 0..g.rng.range(0, 3) {
        let port = *g.rng.pick(pool);
        if ports.iter().any(|p| p.0 == port) {
            continue;
        }
        let udp = port == 53 && g.rng.chance(70);
        let pname = match j {
            0 if !udp && g.rng.chance(60) => Some("http".to_string()),
            _ if g.rng.chance(50) => Some(format!("p{port}")),
            _ => None,
        };
        let mut s = format!("port {port}");
        if let Some(n) = &pname {
            s.push_str(&format!(" name={}", q(n)));
        }
        if udp {
            s.push_str(" protocol=\"udp\"");
        }
        g.line(1, &s);
        ports.push((port, pname, udp));
    }
    if !ports.is_empty() {
        let expose: Vec<String> =
            ports.iter().map(|(p, _, udp)| if *udp { format!("{p}/udp") } else { p.to_string() }).collect();
        c.insert("expose".into(), json!(expose));
    }

    // publish
    let mut published = Vec::new();
    for _ in 0..g.rng.range(0, 2) {
        let host_port = g.host_port();
        let target = if !ports.is_empty() && g.rng.chance(70) { Some(g.rng.pick(&ports).0) } else { None };
        let container = target.unwrap_or(host_port);
        let risky = database || DB_PORTS.contains(&container);
        let host: Option<&str> = if risky {
            Some(*g.rng.pick(&["127.0.0.1", "::1"]))
        } else {
            *g.rng.pick(&[None, Some("127.0.0.1"), Some("::1"), Some("0.0.0.0"), Some("10.0.0.5")])
        };
        let udp = g.rng.chance(20);
        let mut s = format!("publish {host_port}");
        if let Some(t) = target {
            s.push_str(&format!(" target={t}"));
        }
        if let Some(h) = host {
            s.push_str(&format!(" host={}", q(h)));
        }
        if udp {
            s.push_str(" protocol=\"udp\"");
        }
        g.line(1, &s);
        let addr = match host {
            // the unspecified address says "public on purpose": all addresses, as without `host=`
            Some("0.0.0.0") => String::new(),
            Some(h) if h.contains(':') => format!("[{h}]:"),
            Some(h) => format!("{h}:"),
            None => String::new(),
        };
        published.push(format!("{addr}{host_port}:{container}{}", if udp { "/udp" } else { "" }));
    }
    if !published.is_empty() {
        c.insert("ports".into(), json!(published));
    }

    // env-from and env
    let mut env = Map::new();
    let mut secrets_list: Vec<Value> = Vec::new();
    if !g.groups.is_empty() && g.rng.chance(50) {
        let n = g.rng.range(1, g.groups.len());
        let chosen: Vec<usize> = (0..g.groups.len()).rev().take(n).collect();
        let names: Vec<String> = chosen.iter().map(|&k| q(&g.groups[k].0)).collect();
        g.line(1, &format!("env-from {}", names.join(" ")));
        for &k in &chosen {
            for (key, v) in g.groups[k].1.clone() {
                env.insert(key, json!(g.render(&v)));
            }
        }
    }
    let mut own: Vec<String> = Vec::new();
    let env_secrets = g.env_secrets();
    let mut file_key_used = false;
    for _ in 0..g.rng.range(0, 6) {
        let roll = g.rng.below(100);
        if let (Some((_, key, file_key)), true) = (file_image, roll < 25 && !file_key_used) {
            // a file (or external) secret that the image reads from `KEY_FILE`; any secret
            // kind works here
            if g.secrets.is_empty() {
                continue;
            }
            let s = g.rng.below(g.secrets.len());
            let sname = g.secrets[s].name.clone();
            file_key_used = true;
            own.push(format!("{}=(secret){}", q(key), q(&sname)));
            match &g.secrets[s].kind {
                SecretKind::Env { .. } => {
                    env.insert(key.into(), json!(g.secret_ref(&sname)));
                }
                _ => {
                    env.insert(file_key.into(), json!(format!("/run/secrets/{sname}")));
                    secrets_list.push(json!({"source": sname}));
                    use_secret(g, &sname);
                }
            }
            continue;
        }
        let key = g.rng.pick(ENV_KEYS).to_string();
        if own.iter().any(|o| o.starts_with(&format!("{}=", q(&key)))) {
            continue;
        }
        let (kdl, value) = if roll < 45 && !env_secrets.is_empty() {
            let s = g.rng.pick(&env_secrets).clone();
            (format!("(secret){}", q(&s)), g.secret_ref(&s))
        } else if roll < 55 {
            let (k, v) = *g.rng.pick(&[("3", "3"), ("#true", "true"), ("#false", "false"), ("1.5", "1.5"), ("0", "0")]);
            (k.to_string(), v.to_string())
        } else if roll < 70 && !env_secrets.is_empty() {
            let s = g.rng.pick(&env_secrets).clone();
            let src = format!("postgresql://u:${{secret:{s}}}@db:5432/x?a=$b");
            (q(&src), g.render(&src))
        } else {
            let src = g.text(true, true);
            (q(&src), g.render(&src))
        };
        own.push(format!("{}={kdl}", q(&key)));
        env.insert(key, json!(value));
    }
    // several `env` lines add up
    for chunk in own.chunks(3) {
        g.line(1, &format!("env {}", chunk.join(" ")));
    }
    if !env.is_empty() {
        c.insert("environment".into(), Value::Object(env));
    }

    // mounts
    let mut mounts = Vec::new();
    for j in 0..g.rng.range(0, 3) {
        let bind = g.volumes.is_empty() || g.rng.chance(50);
        let source = if bind {
            let s = g.rng.pick(&["./data", "./config/app.toml", "../shared", "/var/run/docker.sock", ".", "./data/x"]);
            if g.mode.everywhere && g.rng.chance(40) {
                format!("./$m{j}")
            } else {
                s.to_string()
            }
        } else {
            g.rng.pick(&g.volumes).clone()
        };
        let target = g.path(&format!("/mnt/m{j}"));
        let ro = g.rng.chance(40);
        let mut propagation = None;
        // only bind mounts propagate: `propagation=` on a volume is E0110 (see
        // `propagation_on_a_volume_and_retries_without_on_failure_are_refused`)
        if bind && g.rng.chance(25) {
            propagation = Some(g.rng.pick(&["rslave", "rprivate", "shared"]).to_string());
        }
        let mut s = format!("mount {} {}", q(&source), q(&target));
        if ro {
            s.push_str(" read-only=#true");
        }
        if let Some(p) = &propagation {
            s.push_str(&format!(" propagation={}", q(p)));
        }
        g.line(1, &s);
        let src = if bind { g.render(&rebase(&g.base_dir, &source)) } else { source.clone() };
        let tgt = g.render(&target);
        mounts.push(match (&propagation, bind) {
            (Some(p), true) => {
                let mut m = json!({"type": "bind", "source": src, "target": tgt, "bind": {"propagation": p}});
                if ro {
                    m["read_only"] = json!(true);
                }
                m
            }
            (Some(_), false) => unreachable!("propagation= is generated on bind mounts only"),
            (None, _) => json!(format!("{src}:{tgt}{}", if ro { ":ro" } else { "" })),
        });
    }
    if !mounts.is_empty() {
        c.insert("volumes".into(), json!(mounts));
    }

    // depends-on: only earlier services, so no cycles
    let mut deps = Map::new();
    let earlier: Vec<usize> = (0..g.known.len()).collect();
    for _ in 0..g.rng.range(0, 2.min(earlier.len())) {
        let k = *g.rng.pick(&earlier);
        let target = g.known[k].name.clone();
        if deps.contains_key(&target) {
            continue;
        }
        let (prop, condition) = if g.known[k].has_health && g.rng.chance(60) {
            (" healthy=#true", "service_healthy")
        } else if g.known[k].restart_no && g.rng.chance(70) {
            (" completed=#true", "service_completed_successfully")
        } else if g.rng.chance(20) {
            (" healthy=#false", "service_started")
        } else {
            ("", "service_started")
        };
        g.line(1, &format!("depends-on {}{prop}", q(&target)));
        deps.insert(target, json!({"condition": condition}));
    }
    if !deps.is_empty() {
        c.insert("depends_on".into(), Value::Object(deps));
    }

    // health
    let tcp_ports: Vec<&(u16, Option<String>, bool)> = ports.iter().filter(|p| !p.2).collect();
    let mut health_test: Option<(String, String)> = None;
    if g.rng.chance(55) {
        let mut s = String::from("health");
        let kind = g.rng.below(3);
        if kind == 0 && !tcp_ports.is_empty() {
            let p = *g.rng.pick(&tcp_ports);
            let path = g.rng.pick(&["/health", "/api/v1/health", "/h?x=1&y=2", "/it's", "/a$b"]).to_string();
            let path = if g.mode.everywhere && g.rng.chance(30) { "/${dir}".to_string() } else { path };
            s.push_str(&format!(" http={}", q(&path)));
            let implicit = tcp_ports.len() == 1 && ports.len() == 1 || p.1.as_deref() == Some("http");
            if !implicit || g.rng.chance(50) {
                match &p.1 {
                    Some(n) if g.rng.chance(50) => s.push_str(&format!(" port={}", q(n))),
                    _ => s.push_str(&format!(" port={}", p.0)),
                }
            }
            let resolved = interpolate(&path)
                .into_iter()
                .map(|piece| match piece {
                    Piece::Lit(l) => l,
                    Piece::Param(n) => g.param(&n).default.clone().unwrap_or_default(),
                    Piece::Secret(_) => unreachable!(),
                })
                .collect::<String>();
            health_test = Some(("http".into(), format!("127.0.0.1:{}{}", p.0, resolved)));
            if lacks_http_client(&image_lit) {
                g.approximations.push(name.clone());
            }
        } else if kind == 1 && !tcp_ports.is_empty() {
            let p = *g.rng.pick(&tcp_ports);
            match &p.1 {
                Some(n) if g.rng.chance(50) => s.push_str(&format!(" tcp={}", q(n))),
                _ => s.push_str(&format!(" tcp={}", p.0)),
            }
            health_test = Some(("tcp".into(), format!("127.0.0.1 {}", p.0)));
        } else {
            let cmd = format!("test -e /tmp/ready && {}", g.text(true, false));
            s.push_str(&format!(" cmd={}", q(&cmd)));
            health_test = Some(("cmd".into(), g.render(&cmd)));
        }
        let mut h = Map::new();
        if g.rng.chance(60) {
            let (k, v) = g.duration();
            s.push_str(&format!(" interval={}", q(k)));
            h.insert("interval".into(), json!(v));
        }
        if g.rng.chance(40) {
            let (k, v) = g.duration();
            s.push_str(&format!(" timeout={}", q(k)));
            h.insert("timeout".into(), json!(v));
        }
        if g.rng.chance(40) {
            let r = g.rng.range(1, 10);
            s.push_str(&format!(" retries={r}"));
            h.insert("retries".into(), json!(r));
        }
        if g.rng.chance(30) {
            let (k, v) = g.duration();
            s.push_str(&format!(" start-period={}", q(k)));
            h.insert("start_period".into(), json!(v));
        }
        g.line(1, &s);
        c.insert("healthcheck".into(), Value::Object(h));
    }
    if g.rng.chance(8) && !tcp_ports.is_empty() {
        g.line(1, &format!("readiness tcp={} interval=\"5s\"", tcp_ports[0].0));
        g.approximations.push(name.clone());
    }

    // deploy
    let mut deploy = Map::new();
    if replicas != 1 {
        deploy.insert("replicas".into(), json!(replicas));
    }
    if g.rng.chance(40) {
        let mut s = String::from("resources");
        let mut limits = Map::new();
        let mut reservations = Map::new();
        if g.rng.chance(60) {
            let (k, v) = *g.rng.pick(CPUS);
            s.push_str(&format!(" cpus={k}"));
            limits.insert("cpus".into(), json!(v));
        }
        if g.rng.chance(60) {
            let (k, v) = g.size();
            s.push_str(&format!(" memory={}", q(k)));
            limits.insert("memory".into(), json!(docker_bytes(v)));
        }
        if g.rng.chance(30) {
            s.push_str(" pids=512");
            limits.insert("pids".into(), json!(512));
        }
        if g.rng.chance(40) {
            let (k, v) = *g.rng.pick(CPUS);
            s.push_str(&format!(" reserve-cpus={k}"));
            reservations.insert("cpus".into(), json!(v));
        }
        if g.rng.chance(40) {
            let (k, v) = g.size();
            s.push_str(&format!(" reserve-memory={}", q(k)));
            reservations.insert("memory".into(), json!(docker_bytes(v)));
        }
        if s != "resources" {
            g.line(1, &s);
            let mut r = Map::new();
            if !limits.is_empty() {
                r.insert("limits".into(), Value::Object(limits));
            }
            if !reservations.is_empty() {
                r.insert("reservations".into(), Value::Object(reservations));
            }
            deploy.insert("resources".into(), Value::Object(r));
        }
    }

    // restart
    let mut restart: Option<String> = g.default_restart.as_ref().map(|r| r.0.clone());
    let mut restart_policy: Option<Value> = g.default_restart.as_ref().and_then(|r| r.1.clone());
    if g.rng.chance(50) {
        let policy = g.rng.pick(&["no", "always", "on-failure", "unless-stopped"]).to_string();
        let mut s = format!("restart {}", q(&policy));
        let mut rp = Map::new();
        if policy == "on-failure" && g.rng.chance(30) {
            s.push_str(" max-attempts=3");
            rp.insert("max_attempts".into(), json!(3));
        }
        if g.rng.chance(20) {
            let (k, v) = g.duration();
            s.push_str(&format!(" delay={}", q(k)));
            rp.insert("delay".into(), json!(v));
        }
        if g.rng.chance(20) {
            let (k, v) = g.duration();
            s.push_str(&format!(" window={}", q(k)));
            rp.insert("window".into(), json!(v));
        }
        g.line(1, &s);
        restart_policy = (!rp.is_empty()).then(|| {
            let condition = match policy.as_str() {
                "no" => "none",
                "on-failure" => "on-failure",
                _ => "any",
            };
            rp.insert("condition".into(), json!(condition));
            Value::Object(rp)
        });
        restart = Some(policy);
    }
    if let Some(r) = &restart {
        c.insert("restart".into(), json!(r));
    }
    if let Some(rp) = restart_policy {
        deploy.insert("restart_policy".into(), rp);
    }

    // update, rollback, placement
    if g.rng.chance(25) {
        let mut s = String::from("update");
        let mut u = Map::new();
        if g.rng.chance(60) {
            s.push_str(" parallelism=2");
            u.insert("parallelism".into(), json!(2));
        }
        if g.rng.chance(50) {
            let (k, v) = g.duration();
            s.push_str(&format!(" delay={}", q(k)));
            u.insert("delay".into(), json!(v));
        }
        if g.rng.chance(40) {
            let a = *g.rng.pick(&["continue", "rollback", "pause"]);
            s.push_str(&format!(" failure-action={}", q(a)));
            u.insert("failure_action".into(), json!(a));
        }
        if g.rng.chance(30) {
            let (k, v) = g.duration();
            s.push_str(&format!(" monitor={}", q(k)));
            u.insert("monitor".into(), json!(v));
        }
        if g.rng.chance(30) {
            s.push_str(" max-failure-ratio=0.25");
            u.insert("max_failure_ratio".into(), json!(0.25));
        }
        if g.rng.chance(30) {
            // compose's update_config has no surge: W0501
            s.push_str(" max-surge=1 max-unavailable=0");
            g.approximations.push(name.clone());
        }
        if g.rng.chance(40) {
            let o = *g.rng.pick(&["stop-first", "start-first"]);
            s.push_str(&format!(" order={}", q(o)));
            u.insert("order".into(), json!(o));
        }
        g.line(1, &s);
        if !u.is_empty() {
            deploy.insert("update_config".into(), Value::Object(u));
        }
    }
    if g.rng.chance(15) {
        g.line(1, "rollback parallelism=1 delay=\"10s\" failure-action=\"pause\" order=\"stop-first\"");
        deploy.insert(
            "rollback_config".into(),
            json!({"parallelism": 1, "delay": "10s", "failure_action": "pause", "order": "stop-first"}),
        );
    }
    if g.rng.chance(15) {
        g.line(1, "placement max-replicas-per-node=2");
        deploy.insert("placement".into(), json!({"max_replicas_per_node": 2}));
    }
    if !deploy.is_empty() {
        c.insert("deploy".into(), Value::Object(deploy));
    }

    // logging
    let mut logging = g.default_logging.clone();
    if g.rng.chance(35) {
        let driver = *g.rng.pick(&["json-file", "local", "journald", "syslog", "none", ""]);
        let mut s = String::from("logging");
        let mut options = Map::new();
        if !driver.is_empty() {
            s.push_str(&format!(" driver={}", q(driver)));
        }
        let driver = if driver.is_empty() { "json-file" } else { driver };
        if matches!(driver, "json-file" | "local") && g.rng.chance(70) {
            let (k, v) = g.size();
            s.push_str(&format!(" max-size={}", q(k)));
            options.insert("max-size".into(), json!(docker_bytes(v)));
            s.push_str(" max-file=3");
            options.insert("max-file".into(), json!("3"));
        }
        if driver == "syslog" {
            if g.rng.chance(60) {
                let a = g.field(&["tcp://loghost:514", "udp://10.0.0.1:514"]);
                s.push_str(&format!(" address={}", q(&a)));
                options.insert("syslog-address".into(), json!(g.render(&a)));
            }
            if g.rng.chance(60) {
                let t = g.field(&["worker", "{{.Name}}", "yes"]);
                s.push_str(&format!(" tag={}", q(&t)));
                options.insert("tag".into(), json!(g.render(&t)));
            }
        }
        g.line(1, &s);
        let mut l = Map::new();
        l.insert("driver".into(), json!(driver));
        if !options.is_empty() {
            l.insert("options".into(), Value::Object(options));
        }
        logging = Some(Value::Object(l));
    }
    if let Some(l) = logging {
        c.insert("logging".into(), l);
    }

    // labels: the stack's, the defaults' (for keys the service does not set), the service's
    let mut labels: BTreeMap<String, String> = g.stack_labels.iter().cloned().collect();
    let mut own_labels: Vec<(String, String)> = Vec::new();
    if g.rng.chance(35) {
        for _ in 0..g.rng.range(1, 3) {
            let k = g.rng.pick(&["app", "com.example.team", "app.kubernetes.io/name", "on", "version"]).to_string();
            if own_labels.iter().any(|(x, _)| *x == k) {
                continue;
            }
            let v = g.field(&["web", "yes", "0755", "a: b", "#x", "1.0", ""]);
            own_labels.push((k, v));
        }
        let props: Vec<String> = own_labels.iter().map(|(k, v)| format!("{}={}", q(k), q(v))).collect();
        g.line(1, &format!("labels {}", props.join(" ")));
    }
    for (k, v) in &g.default_labels {
        if !own_labels.iter().any(|(x, _)| x == k) {
            labels.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in own_labels {
        labels.insert(k, v);
    }
    if !labels.is_empty() {
        let m: Map<String, Value> = labels.iter().map(|(k, v)| (k.clone(), json!(g.render(v)))).collect();
        c.insert("labels".into(), Value::Object(m));
    }

    // secret files
    if !g.secrets.is_empty() && g.rng.chance(35) {
        let mut mounted: Vec<String> = Vec::new();
        for _ in 0..g.rng.range(1, 2) {
            let sname = g.rng.pick(&g.secrets).name.clone();
            if mounted.contains(&sname) {
                continue;
            }
            mounted.push(sname.clone());
            let mut s = format!("secret {}", q(&sname));
            let mut e = Map::new();
            e.insert("source".into(), json!(sname));
            if g.rng.chance(50) {
                let file = *g.rng.pick(&["y", "app.key", "pw"]);
                let t = g.path(&format!("/run/secrets/{file}"));
                s.push_str(&format!(" target={}", q(&t)));
                e.insert("target".into(), json!(g.render(&t)));
            }
            if g.rng.chance(50) {
                let (k, v) = *g.rng.pick(&[("0o440", 0o440), ("0o400", 0o400), ("292", 292)]);
                s.push_str(&format!(" mode={k}"));
                e.insert("mode".into(), json!(v));
            }
            g.line(1, &s);
            let e = Value::Object(e);
            let duplicate =
                secrets_list.iter().any(|x| x["source"] == e["source"] && x.get("target") == e.get("target"));
            if !duplicate {
                secrets_list.push(e);
            }
            use_secret(g, &sname);
        }
    }
    if !secrets_list.is_empty() {
        c.insert("secrets".into(), json!(secrets_list));
    }

    // networks
    if g.networks.is_empty() {
        c.insert("networks".into(), json!([g.name.clone()]));
    } else if g.rng.chance(80) {
        let mut chosen: Vec<String> = g.networks.iter().filter(|_| g.rng.chance(60)).cloned().collect();
        if chosen.is_empty() {
            chosen.push(g.networks[0].clone());
        }
        let kdl: Vec<String> = chosen.iter().map(|n| q(n)).collect();
        g.line(1, &format!("networks {}", kdl.join(" ")));
        c.insert("networks".into(), json!(chosen));
    }

    // the rest of the service settings
    if g.rng.chance(20) {
        let u = g.field(&["1000:1000", "node", "65534", "0"]);
        g.line(1, &format!("user {}", q(&u)));
        c.insert("user".into(), json!(g.render(&u)));
    }
    if g.rng.chance(20) {
        let w = g.path("/app");
        g.line(1, &format!("working-dir {}", q(&w)));
        c.insert("working_dir".into(), json!(g.render(&w)));
    }
    if g.rng.chance(10) {
        g.line(1, &format!("hostname {}", q(&format!("{name}.internal"))));
        c.insert("hostname".into(), json!(format!("{name}.internal")));
    }
    if g.rng.chance(15) {
        let (k, v) = g.duration();
        g.line(1, &format!("stop-grace-period {}", q(k)));
        c.insert("stop_grace_period".into(), json!(v));
    }
    if g.rng.chance(15) {
        g.line(1, "read-only #true");
        c.insert("read_only".into(), json!(true));
    } else if g.rng.chance(5) {
        g.line(1, "read-only #false");
    }
    if g.rng.chance(20) {
        let mut t = Vec::new();
        let tmp = g.path("/tmp");
        if g.rng.chance(50) {
            let (k, v) = g.size();
            g.line(1, &format!("tmpfs {} size={}", q(&tmp), q(k)));
            t.push(format!("{}:size={v}", g.render(&tmp)));
        } else {
            g.line(1, &format!("tmpfs {}", q(&tmp)));
            t.push(g.render(&tmp));
        }
        if g.rng.chance(30) {
            g.line(1, "tmpfs \"/run\"");
            t.push("/run".into());
        }
        c.insert("tmpfs".into(), json!(t));
    }
    if g.rng.chance(15) {
        g.line(1, "cap-drop \"ALL\"");
        c.insert("cap_drop".into(), json!(["ALL"]));
        if g.rng.chance(50) {
            g.line(1, "cap-add \"NET_BIND_SERVICE\" \"CHOWN\"");
            c.insert("cap_add".into(), json!(["NET_BIND_SERVICE", "CHOWN"]));
        }
    }
    if g.rng.chance(15) {
        let o = g.field(&["no-new-privileges:true", "label=disable"]);
        g.line(1, &format!("security-opt {}", q(&o)));
        c.insert("security_opt".into(), json!([g.render(&o)]));
    }
    // Every service gets `no-new-privileges:true` unless its options already say either way.
    let says = c
        .get("security_opt")
        .and_then(Value::as_array)
        .is_some_and(|o| o.iter().any(|o| o.as_str().is_some_and(|o| o.starts_with("no-new-privileges"))));
    if !says {
        let mut opts = c.get("security_opt").and_then(Value::as_array).cloned().unwrap_or_default();
        opts.push(json!("no-new-privileges:true"));
        c.insert("security_opt".into(), Value::Array(opts));
    }
    if g.rng.chance(15) {
        let mut u = Map::new();
        g.line(1, "ulimit \"nofile\" soft=65535 hard=65535");
        u.insert("nofile".into(), json!(65535));
        if g.rng.chance(50) {
            g.line(1, "ulimit \"nproc\" soft=1024 hard=2048");
            u.insert("nproc".into(), json!({"soft": 1024, "hard": 2048}));
        }
        if g.rng.chance(30) {
            g.line(1, "ulimit \"core\" hard=0");
            u.insert("core".into(), json!(0));
        }
        c.insert("ulimits".into(), Value::Object(u));
    }
    if g.rng.chance(15) {
        g.line(1, "init #true");
        c.insert("init".into(), json!(true));
    }
    if g.rng.chance(10) {
        let (k, v) = g.size();
        g.line(1, &format!("shm-size {}", q(k)));
        c.insert("shm_size".into(), json!(docker_bytes(v)));
    }
    if g.rng.chance(8) {
        g.line(1, "platform \"linux/amd64\"");
        c.insert("platform".into(), json!("linux/amd64"));
    }
    if g.rng.chance(5) {
        g.line(1, "pid \"host\"");
        c.insert("pid".into(), json!("host"));
    }
    if g.rng.chance(5) {
        g.line(1, "stateful #true");
        if replicas > 1 {
            g.approximations.push(name.clone());
        }
    }
    g.line(0, "}");

    if let Some((kind, needle)) = health_test {
        let h = c.get_mut("healthcheck").and_then(Value::as_object_mut).expect("health map");
        // The probe's exact shell text is the emitter's choice; the test checks what it
        // must contain (`cmd=` exactly, rendered).
        h.insert("test".into(), json!({"__kind": kind, "__needle": needle}));
    }
    g.known.push(Known {
        name: name.clone(),
        has_health: c.contains_key("healthcheck"),
        restart_no: restart.as_deref() == Some("no"),
    });
    (name, c)
}

// ---------------------------------------------------------------------------------------
// Checks.
// ---------------------------------------------------------------------------------------

fn not_run(what: &str) {
    if in_ci() {
        panic!("{what} is not installed: CI must run .ci/install-validators first");
    }
    support::report_not_run(&format!(
        "{what} is not installed; run .ci/install-validators (CI always runs this check)"
    ));
}

/// A Python with PyYAML: the compose venv's, else `python3` from PATH.
fn python_with_yaml() -> Option<PathBuf> {
    let candidates = [tool("compose", "python"), tool("compose", "python3")];
    for py in candidates.into_iter().flatten() {
        let ok = Command::new(&py).args(["-c", "import yaml"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
    }
    not_run("python3 with PyYAML");
    None
}

/// A temp directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("stackc-compose-props-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One built stack.
struct Built {
    case: Case,
    compose: String,
    env_example: String,
    path: PathBuf,
}

fn env_knob(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The variables a compose value reads, with whether each is required (`:?`); an error
/// for a `$` that compose would read as the start of an interpolation by accident.
fn variables(s: &str, out: &mut Vec<(String, bool)>) -> Result<(), String> {
    fn expr(b: &[u8], i: &mut usize, out: &mut Vec<(String, bool)>) -> Result<(), String> {
        // at `${`
        *i += 2;
        let start = *i;
        while *i < b.len() && (b[*i].is_ascii_alphanumeric() || b[*i] == b'_') {
            *i += 1;
        }
        let name = String::from_utf8_lossy(&b[start..*i]).into_owned();
        if name.is_empty() || b[start].is_ascii_digit() {
            return Err(format!("`${{` without a variable name at byte {start}"));
        }
        let rest = &b[*i..];
        let required = rest.starts_with(b":?") || rest.starts_with(b"?");
        out.push((name, required));
        if rest.starts_with(b"}") {
            *i += 1;
            return Ok(());
        }
        let op = if rest.starts_with(b":-") || rest.starts_with(b":?") {
            2
        } else if rest.starts_with(b"-") || rest.starts_with(b"?") {
            1
        } else {
            return Err(format!("unexpected text after `${{{}` at byte {}", out.last().unwrap().0, *i));
        };
        *i += op;
        while *i < b.len() {
            if b[*i..].starts_with(b"$$") {
                *i += 2;
            } else if b[*i..].starts_with(b"${") {
                expr(b, i, out)?;
            } else if b[*i] == b'$' {
                return Err(format!("a single `$` at byte {} inside a default", *i));
            } else if b[*i] == b'}' {
                *i += 1;
                return Ok(());
            } else {
                *i += 1;
            }
        }
        Err("`${` without its `}`".into())
    }
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"$$") {
            i += 2;
        } else if b[i..].starts_with(b"${") {
            expr(b, &mut i, out)?;
        } else if b[i] == b'$' {
            return Err(format!("a single `$` at byte {i}: compose would interpolate it"));
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The variables `.env.example` lists: (name, uncommented, value).
fn env_example_vars(text: &str) -> Vec<(String, bool, String)> {
    text.lines()
        .filter_map(|l| {
            let commented = l.starts_with('#');
            let (k, v) = l.trim_start_matches('#').split_once('=')?;
            let ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            ok.then(|| (k.to_string(), !commented, v.to_string()))
        })
        .collect()
}

/// Properties of the text alone (no YAML parser needed).
fn check_text(b: &Built, failures: &mut Vec<String>) {
    let listed = env_example_vars(&b.env_example);
    let mut vars = Vec::new();
    for (n, line) in b.compose.lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if let Err(e) = variables(line, &mut vars) {
            failures.push(format!("line {}: {e}: `{line}`", n + 1));
        }
    }
    for (var, required) in vars {
        match listed.iter().find(|(k, ..)| *k == var) {
            None => failures.push(format!("the compose file reads `{var}`, which .env.example does not list")),
            Some((_, uncommented, _)) if required && !uncommented => {
                failures.push(format!("`{var}` is required but commented out in .env.example"))
            }
            _ => {}
        }
    }
    for var in &b.case.secret_vars {
        if let Some((_, _, value)) = listed.iter().find(|(k, ..)| k == var) {
            if !value.is_empty() {
                failures.push(format!("secret variable `{var}` has a value in .env.example: `{value}`"));
            }
        }
    }
}

/// Compares the parsed compose document with the model.
fn check_document(expected: &Value, actual: &Value, failures: &mut Vec<String>) {
    let (Some(exp), Some(act)) = (expected.as_object(), actual.as_object()) else {
        failures.push(format!("the compose file is not a mapping: {actual}"));
        return;
    };
    let keys = |m: &Map<String, Value>| m.keys().cloned().collect::<BTreeSet<_>>();
    if keys(exp) != keys(act) {
        failures.push(format!("top-level keys: expected {:?}, got {:?}", keys(exp), keys(act)));
    }
    for (k, e) in exp {
        let Some(a) = act.get(k) else { continue };
        if k != "services" {
            if e != a {
                failures.push(format!("`{k}`:\n  expected {e}\n  got      {a}"));
            }
            continue;
        }
        let (Some(es), Some(as_)) = (e.as_object(), a.as_object()) else {
            failures.push(format!("services: not a mapping: {a}"));
            continue;
        };
        if keys(es) != keys(as_) {
            failures.push(format!("services: expected {:?}, got {:?}", keys(es), keys(as_)));
        }
        for (name, esvc) in es {
            let (Some(esvc), Some(asvc)) = (esvc.as_object(), as_.get(name).and_then(Value::as_object)) else {
                continue;
            };
            if keys(esvc) != keys(asvc) {
                failures.push(format!("service `{name}`: keys: expected {:?}, got {:?}", keys(esvc), keys(asvc)));
            }
            for (key, ev) in esvc {
                let Some(av) = asvc.get(key) else { continue };
                if key == "healthcheck" {
                    check_health(name, ev, av, failures);
                } else if ev != av {
                    failures.push(format!("service `{name}` `{key}`:\n  expected {ev}\n  got      {av}"));
                }
            }
        }
    }
}

fn check_health(service: &str, expected: &Value, actual: &Value, failures: &mut Vec<String>) {
    let mut e = expected.clone();
    let mut a = actual.clone();
    let spec = e.as_object_mut().and_then(|m| m.remove("test")).unwrap_or(Value::Null);
    let test = a.as_object_mut().and_then(|m| m.remove("test")).unwrap_or(Value::Null);
    if e != a {
        failures.push(format!("service `{service}` healthcheck:\n  expected {e}\n  got      {a}"));
    }
    let words: Vec<&str> = test.as_array().map(|t| t.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let needle = spec["__needle"].as_str().unwrap_or_default();
    let ok = match (spec["__kind"].as_str(), words.as_slice()) {
        (Some("cmd"), ["CMD-SHELL", cmd]) => *cmd == needle,
        // `http=`: an HTTP client inside the container; the URL is shell-quoted and its `$`
        // doubled for compose
        (Some("http"), ["CMD-SHELL", cmd]) => {
            // (single-quoted, `'` as `'\''`; or double-quoted, `$` as `\$`).
            let shell = cmd.replace("$$", "$");
            let single = needle.replace('\'', r"'\''");
            let double = needle.replace('$', r"\$");
            (cmd.contains("wget") || cmd.contains("curl"))
                && [needle, &single, &double].iter().any(|n| shell.contains(*n))
        }
        (Some("tcp"), ["CMD-SHELL", cmd]) => cmd.contains(needle),
        _ => false,
    };
    if !ok {
        failures.push(format!("service `{service}` healthcheck test {test} does not do {spec}"));
    }
}

/// docker-compose v1 validates a copy without what it predates (see `validators.rs`):
/// the top-level `name:`, environment-sourced secrets (declared external instead), and
/// build contexts that do not exist here (built from `.`). Also, v1's schema has no
/// `deploy.resources.limits.pids` (added to the compose spec later; the schema test checks
/// it), so the copy drops it, and the `limits:` (and `resources:`, `deploy:`) it leaves empty.
fn v1_copy(text: &str) -> String {
    let copy: String = text
        .split_inclusive('\n')
        .scan(false, |in_secrets, line| {
            if line.starts_with("secrets:") {
                *in_secrets = true;
            } else if !line.starts_with(' ') {
                *in_secrets = false;
            }
            let drop = *in_secrets && line.starts_with("    environment: ");
            Some(if drop {
                "    external: true\n".to_string()
            } else if line.starts_with("name: ") || line.starts_with("          pids: ") {
                String::new()
            } else if let Some(indent) = line
                .strip_suffix('\n')
                .and_then(|l| l.split("context: ").next())
                .filter(|i| line.trim_start().starts_with("context: ") && i.chars().all(|c| c == ' '))
            {
                format!("{indent}context: .\n")
            } else {
                line.to_string()
            })
        })
        .collect();
    drop_empty_keys(&copy)
}

/// Removes `key:` lines without a value or children, repeatedly (a block list's items may
/// sit at the key's own indentation).
fn drop_empty_keys(text: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut lines: Vec<&str> = text.lines().collect();
    loop {
        let empty = (0..lines.len()).find(|&i| {
            let l = lines[i];
            let has_child = lines
                .get(i + 1)
                .is_some_and(|n| indent(n) > indent(l) || (indent(n) == indent(l) && n.trim_start().starts_with("- ")));
            !l.trim_start().starts_with('#') && l.ends_with(':') && !has_child
        });
        match empty {
            Some(i) => {
                lines.remove(i);
            }
            None => break,
        }
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn show(b: &Built) -> String {
    format!(
        "--- stack #{} (base_dir {}) ---\n{}--- {} ---\n{}--- .env.example ---\n{}",
        b.case.index, b.case.base_dir, b.case.text, b.case.file, b.compose, b.env_example
    )
}

fn build_case(case: Case, dir: &Path, failures: &mut Vec<String>) -> Option<Built> {
    let opts = EmitOptions {
        targets: Some(vec![TargetKind::Compose]),
        base_dir: case.base_dir.clone(),
        ..EmitOptions::default()
    };
    let name = format!("s{}.stack.kdl", case.index);
    let first = build(&name, &case.text, &Options::default(), &opts);
    let errors: Vec<String> = first
        .outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| render_human(d, &first.outcome.sources, RenderOptions::default()))
        .collect();
    if !errors.is_empty() {
        failures.push(format!(
            "stack #{} was rejected (a generator bug if it is really invalid, else a compiler bug):\n{}\n{}",
            case.index,
            case.text,
            errors.join("\n")
        ));
        return None;
    }
    let second = build(&name, &case.text, &Options::default(), &opts);
    if first.files != second.files {
        failures.push(format!("stack #{}: two builds differ:\n{}", case.index, case.text));
    }
    for who in &case.approximations {
        let warned = first
            .outcome
            .diagnostics
            .iter()
            .any(|d| d.code.as_str() == "W0501" && d.message.contains(&format!("`{who}`")));
        if !warned {
            failures.push(format!("stack #{}: no W0501 warning about `{who}`:\n{}", case.index, case.text));
        }
    }
    let get = |path: &str| first.files.iter().find(|f| f.path == path).map(|f| f.contents.clone());
    let (Some(compose), Some(env_example)) = (get(&case.file), get(".env.example")) else {
        let paths: Vec<&str> = first.files.iter().map(|f| f.path.as_str()).collect();
        failures.push(format!("stack #{}: expected {} and .env.example, got {paths:?}", case.index, case.file));
        return None;
    };
    let sub = dir.join(format!("{:03}", case.index));
    std::fs::create_dir_all(&sub).unwrap();
    let path = sub.join(&case.file);
    std::fs::write(&path, &compose).unwrap();
    std::fs::write(sub.join(".env.example"), &env_example).unwrap();
    let built = Built { case, compose, env_example, path };
    let mut f = Vec::new();
    check_text(&built, &mut f);
    if !f.is_empty() {
        failures.push(format!("{}\n{}", f.join("\n"), show(&built)));
    }
    Some(built)
}

/// Fails with a summary line per failure, then the first three in full.
fn report(failures: &[String]) {
    if failures.is_empty() {
        return;
    }
    let summary: Vec<&str> = failures.iter().filter_map(|f| f.lines().next()).collect();
    panic!(
        "{} failures:\n{}\n\nThe first:\n\n{}",
        failures.len(),
        summary.join("\n"),
        failures[..failures.len().min(3)].join("\n\n")
    );
}

fn run(mode: Mode) {
    let count = env_knob("STACKC_PROPS_COUNT").unwrap_or(150) as usize;
    let seed = env_knob("STACKC_PROPS_SEED").unwrap_or(0);
    let only = env_knob("STACKC_PROPS_ONLY").map(|i| i as usize);
    let dir = TempDir::new();
    let mut failures = Vec::new();
    let mut built = Vec::new();
    for index in 0..count {
        if only.is_some_and(|o| o != index) {
            continue;
        }
        let case = generate(index, seed, mode);
        if only.is_some() {
            eprintln!("{}", case.text);
        }
        if let Some(b) = build_case(case, &dir.0, &mut failures) {
            built.push(b);
        }
    }
    report(&failures);
    let files: Vec<&Path> = built.iter().map(|b| b.path.as_path()).collect();

    // YAML 1.1 (PyYAML) reads exactly what the stack means.
    if let Some(py) = python_with_yaml() {
        let script = r#"
import json, sys, yaml
def keys(v):
    if isinstance(v, dict):
        return {(k if isinstance(k, str) else "__non_string_key__" + repr(k)): keys(x) for k, x in v.items()}
    if isinstance(v, list):
        return [keys(x) for x in v]
    return v
out = {}
for f in sys.argv[1:]:
    with open(f, encoding="utf-8") as fh:
        out[f] = keys(yaml.safe_load(fh))
json.dump(out, sys.stdout, default=lambda o: "__non_json__" + repr(o))
"#;
        let out = Command::new(&py).arg("-c").arg(script).args(&files).output().expect("run python");
        assert!(
            out.status.success(),
            "PyYAML cannot load the compose files:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Value = serde_json::from_slice(&out.stdout).expect("JSON from python");
        for b in &built {
            let actual = &docs[b.path.to_string_lossy().as_ref()];
            let mut f = Vec::new();
            check_document(&b.case.expected, actual, &mut f);
            if !f.is_empty() {
                failures.push(format!("{}\n{}", f.join("\n"), show(b)));
            }
        }
    }
    report(&failures);

    // The compose spec schema, on every file in one run per schema.
    if let Some(check) = require("jsonschema", "check-jsonschema") {
        let vendored = root().join("../shared/schemas/compose-spec.json");
        let mut schemas = vec![vec!["--builtin-schema".to_string(), "vendor.compose-spec".to_string()]];
        if vendored.is_file() {
            schemas.push(vec!["--schemafile".to_string(), vendored.to_string_lossy().into_owned()]);
        }
        for schema in schemas {
            let out = Command::new(&check).args(&schema).args(&files).output().expect("run check-jsonschema");
            if !out.status.success() {
                let report = String::from_utf8_lossy(&out.stdout).into_owned();
                let shown: Vec<String> =
                    built.iter().filter(|b| report.contains(&*b.path.to_string_lossy())).take(2).map(show).collect();
                failures.push(format!(
                    "check-jsonschema {}:\n{report}{}\n{}",
                    schema.join(" "),
                    String::from_utf8_lossy(&out.stderr),
                    shown.join("\n")
                ));
            }
        }
    }
    report(&failures);

    // docker-compose v1 on a sample.
    if let Some(dc) = require("compose", "docker-compose") {
        let step = (built.len() / 10).max(1);
        for b in built.iter().step_by(step).take(10) {
            let copy = b.path.with_file_name(".v1-check.yml");
            std::fs::write(&copy, v1_copy(&b.compose)).unwrap();
            let env: Vec<(String, String)> =
                env_example_vars(&b.env_example).into_iter().map(|(k, ..)| (k, "placeholder".to_string())).collect();
            let out = Command::new(&dc)
                .arg("-f")
                .arg(&copy)
                .args(["config", "-q"])
                .current_dir(b.path.parent().unwrap())
                .envs(env)
                .output()
                .expect("run docker-compose");
            if !out.status.success() {
                failures.push(format!(
                    "docker-compose config -q:\n{}\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    show(b)
                ));
            }
        }
    }
    report(&failures);
}

#[test]
fn random_stacks_compile_to_valid_compose_files() {
    run(Mode { everywhere: false });
}

/// The same, with `$` and `${param}` in every string field: labels, `user`, logging
/// options, the `health http=` path, paths (`working-dir`, mounts, `tmpfs`, secret targets
/// and files, build context, `dockerfile`, `target`) and `security-opt`. Once a bug
/// (`known_bugs_dollar_and_params_in_every_string_field`, ignored until fixed).
#[test]
fn dollar_and_params_in_every_string_field() {
    run(Mode { everywhere: true });
}

/// What docker refuses is refused before anything is written: bind options on a volume, a
/// retry count with a policy other than `on-failure`, and a `}` in a deploy-time param's
/// default (compose ends `${VAR:-…}` at the first `}`).
#[test]
fn propagation_on_a_volume_and_retries_without_on_failure_are_refused() {
    let cases = [
        ("volume \"v\"\nservice \"a\" {\n    image \"x:1\"\n    mount \"v\" \"/d\" propagation=\"rslave\"\n}\n", "E0110"),
        ("service \"a\" {\n    image \"x:1\"\n    restart \"always\" max-attempts=3\n}\n", "E0110"),
        ("param \"p\" default=\"a}b\" env=\"P\"\nservice \"a\" {\n    image \"x:${p}\"\n}\n", "E0311"),
        (
            "param \"q\" default=\"}\"\nparam \"p\" default=\"a${q}\" env=\"P\"\nservice \"a\" {\n    image \"x:1\"\n    env A=\"${p}\"\n}\n",
            "E0311",
        ),
    ];
    for (text, code) in cases {
        let text = format!("stack \"s\"\n{text}");
        let out = stackc::compile("t.stack.kdl", &text, &stackc::Options::default());
        assert!(
            out.diagnostics.iter().any(|d| d.code.as_str() == code),
            "expected {code} for\n{text}\ngot {:?}",
            out.diagnostics.iter().map(|d| (d.code.as_str(), d.message.clone())).collect::<Vec<_>>()
        );
    }
    // The same without the offending part compiles.
    let ok = "stack \"s\"\nparam \"q\" default=\"}\"\nvolume \"v\"\nservice \"a\" {\n    image \"x:1\"\n    env A=\"${q}\"\n    mount \"./d\" \"/d\" propagation=\"rslave\"\n    mount \"v\" \"/v\"\n    restart \"on-failure\" max-attempts=3\n}\n";
    let out = stackc::compile("t.stack.kdl", ok, &stackc::Options::default());
    assert!(
        !out.diagnostics.iter().any(|d| d.severity == stackc::diagnostics::Severity::Error),
        "{:?}",
        out.diagnostics.iter().map(|d| d.message.clone()).collect::<Vec<_>>()
    );
}

#[test]
fn the_oracle_reads_strings_as_the_language_does() {
    assert_eq!(interpolate("a$$b"), vec![Piece::Lit("a$b".into())]);
    assert_eq!(interpolate("$${x}"), vec![Piece::Lit("${x}".into())]);
    assert_eq!(
        interpolate("u:${secret:pw}@${host}$"),
        vec![
            Piece::Lit("u:".into()),
            Piece::Secret("pw".into()),
            Piece::Lit("@".into()),
            Piece::Param("host".into()),
            Piece::Lit("$".into())
        ]
    );
    let mut vars = Vec::new();
    assert!(variables("$$HOME ${A:-x${B:?m}y} ${C}", &mut vars).is_ok());
    assert_eq!(vars, vec![("A".into(), false), ("B".into(), true), ("C".into(), false)]);
    assert!(variables("/srv/$x", &mut Vec::new()).is_err());
    assert!(variables("${A:-a$b}", &mut Vec::new()).is_err());
    assert_eq!(rebase("../..", "./data"), "../../data");
    assert_eq!(rebase("../..", "."), "../..");
    assert_eq!(rebase("../..", "/abs"), "/abs");
    assert_eq!(docker_bytes(64_000_000), "62500k");
    assert_eq!(q("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    let limits =
        "services:\n  a:\n    command:\n    - x\n    deploy:\n      resources:\n        limits:\n          pids: 5\n";
    assert_eq!(v1_copy(limits), "services:\n  a:\n    command:\n    - x\n");
}

/// A `publish` bound to a param's address stays bound to it. Lowering once dropped an
/// address it could not parse as an IP, so `host="${private-ip}"` became "all addresses" and
/// published cashstage's PostgreSQL and Redis to the internet (and the UFW script opened them).
#[test]
fn a_publish_bound_to_a_param_address_is_never_public() {
    let text = r#"stack "s"
param "private-ip" default="10.0.0.1" env="PRIVATE_IP"
param "v6" default="fd00::1"
service "db" {
    image "postgres:16-alpine"
    publish 5432 host="${private-ip}"
    publish 5433 target=5432 host="${v6}"
    publish 5434 target=5432 host="::1"
}
service "replica" {
    image "postgres:16-alpine"
    publish 5432 host="127.0.0.1"
}
targets {
    compose
}
"#;
    let emit = stackc::emit::EmitOptions::default();
    let built = stackc::build("t.stack.kdl", text, &stackc::Options::default(), &emit);
    let codes: Vec<&str> = built.outcome.diagnostics.iter().map(|d| d.code.as_str()).collect();
    // Not public to the lints either; the param the deploy environment sets (`env=`) is
    // `public-port`'s one warning: `PRIVATE_IP=0.0.0.0` would publish on all addresses.
    assert!(!codes.contains(&"W0101"), "{codes:?}");
    let w0107: Vec<&str> =
        built.outcome.diagnostics.iter().filter(|d| d.code.as_str() == "W0107").map(|d| d.message.as_str()).collect();
    assert_eq!(
        w0107,
        ["`db` binds port 5432 to param `private-ip`, which the deploy environment sets (`PRIVATE_IP`)"],
        "{codes:?}"
    );
    let compose = &built.files.iter().find(|f| f.path.ends_with(".yml") || f.path.ends_with(".yaml")).unwrap().contents;
    let ports: Vec<&str> =
        compose.lines().filter_map(|l| l.trim().strip_prefix("- ")).filter(|l| l.contains(":543")).collect();
    assert_eq!(
        ports,
        [
            "${PRIVATE_IP:-10.0.0.1}:5432:5432",
            r#""[fd00::1]:5433:5432""#,
            r#""[::1]:5434:5432""#,
            "127.0.0.1:5432:5432"
        ],
        "{compose}"
    );
    let stack = built.outcome.stack.as_ref().unwrap();
    assert!(stack.services["db"].publish.iter().all(|p| p.host.is_some()));
    // The same param twice on one port clashes; a param and another address do not (above).
    let twice = text.replace(r#"publish 5432 host="127.0.0.1""#, r#"publish 5432 host="${private-ip}""#);
    let out = stackc::compile("t.stack.kdl", &twice, &stackc::Options::default());
    let clash: Vec<&str> =
        out.diagnostics.iter().filter(|d| d.code.as_str() == "E0404").map(|d| d.message.as_str()).collect();
    assert_eq!(clash, ["host port 5432/tcp is published twice on ${private-ip}"]);
}
