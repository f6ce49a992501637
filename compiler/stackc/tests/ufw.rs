//! The UFW target (`docs/targets/ufw.md`): how the rules are derived from the stack, the
//! script's quoting of hostile strings (run with a stand-in `ufw` that records its
//! arguments), shellcheck on a hostile script (tests/validators.rs checks the golden ones),
//! agreement with the ports compose
//! publishes, and the golden scripts run against the real `ufw` in a sandbox (below).

use std::path::{Path, PathBuf};
use std::process::Command;

use stackc::emit::ufw::{self, Rule, Source};
use stackc::emit::EmitOptions;
use stackc::ir::{Piece, Protocol, Stack, TargetKind, Text};
use stackc::Options;

mod support;
use support::{in_ci, root};

fn find(tool: &str) -> Option<PathBuf> {
    for d in ["/usr/sbin", "/sbin", "/usr/local/sbin"] {
        let p = Path::new(d).join(tool);
        if p.is_file() {
            return Some(p);
        }
    }
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
}

/// The tool, or `None` with a loud NOT RUN outside CI; in CI a missing tool fails.
fn require(tool: &str, what: &str) -> Option<PathBuf> {
    match find(tool) {
        Some(p) => Some(p),
        None if in_ci() => panic!("{what}: {tool} is not installed; CI must run .ci/install-validators first"),
        None => {
            support::report_not_run(&format!(
                "{what}: {tool} is not installed; run .ci/install-validators (CI always runs it)"
            ));
            None
        }
    }
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stackc-ufw-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn compile(src: &str) -> Stack {
    let out = stackc::compile("t.stack.kdl", src, &Options::default());
    let errors: Vec<_> = out.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{src}");
    out.stack.expect("a stack")
}

/// Builds only the ufw target: (script, diagnostics as `CODE message`).
fn build(src: &str) -> (Option<String>, Vec<String>) {
    let emit = EmitOptions { targets: Some(vec![TargetKind::Ufw]), ..EmitOptions::default() };
    let built = stackc::build("t.stack.kdl", src, &Options::default(), &emit);
    let diags = built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    let script = built.files.iter().find(|f| f.path == ufw::SCRIPT).map(|f| {
        assert!(f.executable, "the script is executable");
        f.contents.clone()
    });
    (script, diags)
}

fn specs(rules: &[Rule]) -> Vec<String> {
    rules.iter().map(|r| format!("{} # {}", r.spec(), r.comment)).collect()
}

const SERVICE: &str = r#"
service "web" {
    image "nginx:1.27"
    port 8080 name="http"
    health http="/"
}
"#;

#[test]
fn sites_open_80_and_443_for_nginx() {
    let stack = compile(&format!(
        "stack \"s\"\n{SERVICE}site \"example.com\" {{\n    route \"/\" to=\"web\"\n}}\nfirewall {{\n    allow 22 protocol=\"tcp\" comment=\"ssh\"\n}}\ntargets {{\n    compose\n    nginx\n    ufw\n}}\n"
    ));
    assert_eq!(
        specs(&ufw::rules(&stack)),
        [
            "allow 22/tcp # ssh",
            "allow 80/tcp # sites via nginx: http (ACME, redirect to https)",
            "allow 443/tcp # sites via nginx: https",
        ]
    );
}

#[test]
fn caddy_also_opens_443_udp_and_plain_http_only_80() {
    let caddy = compile(&format!(
        "stack \"s\"\n{SERVICE}site \"example.com\" {{\n    route \"/\" to=\"web\"\n}}\nfirewall {{\n}}\ntargets {{\n    compose\n    caddy\n    ufw\n}}\n"
    ));
    let got: Vec<String> = ufw::rules(&caddy).iter().map(Rule::spec).collect();
    assert_eq!(got, ["allow 80/tcp", "allow 443/tcp", "allow 443/udp"]);
    let plain = compile(&format!(
        "stack \"s\"\n{SERVICE}proxy {{\n    tls certificates=\"none\"\n}}\nsite \"example.com\" {{\n    route \"/\" to=\"web\"\n}}\nfirewall {{\n}}\ntargets {{\n    compose\n    caddy\n    ufw\n}}\n"
    ));
    let got: Vec<String> = ufw::rules(&plain).iter().map(Rule::spec).collect();
    assert_eq!(got, ["allow 80/tcp"]);
}

#[test]
fn publishes_on_all_addresses_are_opened_in_order_after_the_stack_rules() {
    let stack = compile(
        r#"stack "s"
service "a" {
    image "nginx:1.27"
    health cmd="true"
    publish 8080 target=80
    publish 5353 protocol="udp"
    publish 9000 host="127.0.0.1"
    publish 9001 host="10.0.0.5"
}
service "b" {
    image "nginx:1.27"
    health cmd="true"
    publish 7000 host="0.0.0.0"
}
firewall {
    limit 2222 protocol="tcp"
    allow 51820 protocol="udp" comment="wireguard"
    deny 25
}
targets {
    compose
    ufw
}
"#,
    );
    let rules = ufw::rules(&stack);
    assert_eq!(
        specs(&rules),
        [
            "limit 2222/tcp # firewall limit 2222/tcp",
            "allow 51820/udp # wireguard",
            "deny 25 # firewall deny 25",
            "allow 8080/tcp # publish of service a",
            "allow 5353/udp # publish of service a",
            "allow 7000/tcp # publish of service b",
        ]
    );
    assert_eq!(rules[3].source, Source::Publish { service: "a".into(), target: 80 });
    assert_eq!(rules[0].source, Source::Firewall(0));
    let (script, _) = build(&stack_text_with_firewall());
    let script = script.unwrap();
    assert!(script.contains("#   8080/tcp   service web (container port 80)\n"), "{script}");
}

fn stack_text_with_firewall() -> String {
    "stack \"s\"\nservice \"web\" {\n    image \"nginx:1.27\"\n    health cmd=\"true\"\n    publish 8080 target=80\n}\nfirewall {\n    allow 22\n}\ntargets {\n    ufw\n}\n".into()
}

#[test]
fn a_deny_is_never_replaced_by_a_derived_allow_and_warns() {
    let src = r#"stack "s"
service "db" {
    image "ghcr.io/acme/queue:1.0"
    health cmd="true"
    publish 8443
}
firewall {
    deny 8443 protocol="tcp" comment="no"
    limit 8443 protocol="tcp" from="10.0.0.0/8"
    allow 8443 from="192.168.0.0/16"
    allow 22 protocol="tcp"
}
targets {
    compose
    ufw
}
"#;
    let rules = ufw::rules(&compile(src));
    assert_eq!(
        specs(&rules),
        [
            "deny 8443/tcp # no",
            "limit from 10.0.0.0/8 to any port 8443 proto tcp # firewall limit 8443/tcp",
            "allow from 192.168.0.0/16 to any port 8443 # firewall allow 8443",
            "allow 22/tcp # firewall allow 22/tcp",
        ],
        "the publish of 8443/tcp has the deny's key: not added"
    );
    // Docker's publish of 8443 obeys the same rules (DOCKER-USER): nothing to warn about.
    let (script, diags) = build(src);
    assert!(!diags.iter().any(|d| d.starts_with("W0501")), "{diags:#?}");
    let ports = ufw::docker_ports(&compile(src));
    assert_eq!(ports.len(), 1);
    assert_eq!((ports[0].port, ports[0].protocol, ports[0].open), (8443, Protocol::Tcp, false));
    assert_eq!(specs(&ports[0].rules), ["deny 8443/tcp # no"], "the first rule for every source decides");
    let script = script.unwrap();
    assert!(
        script.contains("    echo \"-A $dk_chain -p tcp -m conntrack --ctstate DNAT --ctdir ORIGINAL --ctorigdstport 8443 -j DROP\"\n    echo 'COMMIT'"),
        "{script}"
    );
}

/// `allow PORT from=` restricts a published port: the publish's own `allow` for everyone is
/// not added, and Docker's port gets the same source, then the incoming default.
#[test]
fn an_allow_from_restricts_a_published_port() {
    let src = r#"stack "s"
service "api" {
    image "ghcr.io/acme/api:1.0"
    health cmd="true"
    publish 8443
    publish 9100 protocol="udp"
}
firewall {
    default incoming="reject"
    allow 8443 from="10.0.0.0/8"
    allow 8443 from="2001:db8::/32"
    limit 9100
}
targets {
    compose
    ufw
}
"#;
    let stack = compile(src);
    assert_eq!(
        specs(&ufw::rules(&stack)),
        [
            "allow from 10.0.0.0/8 to any port 8443 # firewall allow 8443",
            "allow from 2001:db8::/32 to any port 8443 # firewall allow 8443",
            "limit 9100 # firewall limit 9100",
        ]
    );
    let (script, _) = build(src);
    let script = script.unwrap();
    let m = |port: u16, proto: &str| {
        format!("-p {proto} -m conntrack --ctstate DNAT --ctdir ORIGINAL --ctorigdstport {port}")
    };
    for want in [
        format!("    dk_s1='10.0.0.0/8'\n    if dk_src \"$1\" \"$dk_s1\"; then\n        echo \"-A $dk_chain {} -s $dk_s1 -j RETURN\"\n    fi\n", m(8443, "tcp")),
        "    dk_s2='2001:db8::/32'\n    if dk_src \"$1\" \"$dk_s2\"; then\n".to_string(),
        format!("    echo \"-A $dk_chain {} -j REJECT --reject-with tcp-reset\"\n", m(8443, "tcp")),
        format!("    echo \"-A $dk_chain {} -m recent --name $dk_chain-9100-udp --update --seconds 30 --hitcount 6 -j DROP\"\n    echo \"-A $dk_chain {} -j RETURN\"\n", m(9100, "udp"), m(9100, "udp")),
    ] {
        assert!(script.contains(&want), "{want}\n{script}");
    }
    assert!(!script.contains(&format!("{} -j REJECT", m(9100, "udp"))), "a limit for everyone ends the port's rules");
}

#[test]
fn a_deny_of_a_loopback_publish_does_not_warn() {
    let src = "stack \"s\"\nservice \"db\" {\n    image \"postgres:16\"\n    health cmd=\"pg_isready\"\n    publish 5432 host=\"127.0.0.1\"\n}\nfirewall {\n    deny 5432\n}\ntargets {\n    ufw\n}\n";
    let (script, diags) = build(src);
    assert!(!diags.iter().any(|d| d.starts_with("W0501")), "{diags:#?}");
    assert!(script.unwrap().contains("# No container port is published on all addresses.\n"));
}

#[test]
fn a_rule_of_the_same_key_replaces_the_earlier_one_with_a_warning() {
    let src = "stack \"s\"\nfirewall {\n    allow 22 protocol=\"tcp\" comment=\"first\"\n    allow 80 protocol=\"tcp\"\n    deny 22 protocol=\"tcp\" comment=\"second\"\n    allow 22 comment=\"both protocols: another rule\"\n}\ntargets {\n    ufw\n}\n";
    assert_eq!(
        specs(&ufw::rules(&compile(src))),
        ["deny 22/tcp # second", "allow 80/tcp # firewall allow 80/tcp", "allow 22 # both protocols: another rule"]
    );
    let (_, diags) = build(src);
    assert_eq!(
        diags.iter().filter(|d| d.contains("UFW holds one rule per port, protocol and source")).count(),
        1,
        "{diags:#?}"
    );
}

#[test]
fn no_firewall_block_no_script() {
    let (script, diags) = build(&format!("stack \"s\"\n{SERVICE}targets {{\n    ufw\n}}\n"));
    assert!(script.is_none());
    assert!(!diags.iter().any(|d| d.starts_with('E')), "{diags:#?}");
}

#[test]
fn defaults_and_routed_only_when_given() {
    let (s, _) =
        build("stack \"s\"\nfirewall {\n    default incoming=\"reject\" outgoing=\"deny\"\n}\ntargets {\n    ufw\n}\n");
    let s = s.unwrap();
    assert!(s.contains("ufw default reject incoming\nufw default deny outgoing\n\n# Docker's"), "{s}");
    assert!(s.contains("\nufw --force enable\nif [ -n \"$dk_changed\" ]; then\n    ufw reload\nfi\n"), "{s}");
    assert!(!s.contains("routed"));
    let (s, _) = build("stack \"s\"\nfirewall {\n    default routed=\"deny\"\n}\ntargets {\n    ufw\n}\n");
    let s = s.unwrap();
    assert!(s.contains("ufw default deny incoming\nufw default allow outgoing\nufw default deny routed\n"), "{s}");
}

#[test]
fn the_rules_come_before_enable() {
    let (s, _) = build(&stack_text_with_firewall());
    let s = s.unwrap();
    let enable = s.find("ufw --force enable").unwrap();
    for needle in
        ["ufw allow 22 comment", "ufw allow 8080/tcp comment", "ufw default deny incoming", "ufw --force delete"]
    {
        assert!(s.find(needle).unwrap() < enable, "{needle}");
    }
    assert!(s.find("ufw status verbose").unwrap() > enable);
}

/// Comments UFW cannot hold are refused at the rule; params' defaults are checked too.
#[test]
fn comments_with_quotes_or_line_breaks_are_refused() {
    for comment in [r#"don't"#, r#"two\nlines"#, r#"tab\there"#, r#"cr\r"#] {
        let src =
            format!("stack \"s\"\nfirewall {{\n    allow 22 comment=\"{comment}\"\n}}\ntargets {{\n    ufw\n}}\n");
        let (script, diags) = build(&src);
        assert!(script.is_none(), "{comment}");
        // A line break or carriage return is refused by the front end already (E0318).
        let refused = |d: &String| d.starts_with("E0501 UFW cannot store this comment") || d.starts_with("E0318 ");
        assert!(diags.iter().any(refused), "{comment}: {diags:#?}");
    }
    let src = "stack \"s\"\nparam \"who\" default=\"the team's\"\nfirewall {\n    allow 22 comment=\"ssh for ${who}\"\n}\ntargets {\n    ufw\n}\n";
    let (_, diags) = build(src);
    assert!(diags.iter().any(|d| d.contains("E0501") && d.contains("param `who`")), "{diags:#?}");
}

/// A stand-in for `ufw` and `id` on PATH: each `ufw` call appends its arguments, one per
/// line, then an empty line, to `$UFW_LOG`; `ufw show added` prints `$UFW_ADDED`.
fn fake_bin(dir: &Path, uid: u32) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ufw = "#!/bin/sh\nif [ \"$1 ${2-}\" = 'show added' ]; then\n    cat \"$UFW_ADDED\" 2>/dev/null || true\n    exit 0\nfi\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >>\"$UFW_LOG\"\nprintf '\\n' >>\"$UFW_LOG\"\n";
    std::fs::write(bin.join("ufw"), ufw).unwrap();
    std::fs::write(bin.join("id"), format!("#!/bin/sh\necho {uid}\n")).unwrap();
    // The script rewrites /etc/ufw/after.rules only when `cmp` finds it changed: a stand-in
    // run (as root, for the stand-in `id`) must never write the machine's file.
    std::fs::write(bin.join("cmp"), "#!/bin/sh\nexit 0\n").unwrap();
    for f in ["ufw", "id", "cmp"] {
        Command::new("chmod").arg("+x").arg(bin.join(f)).status().unwrap();
    }
    bin
}

struct Run {
    code: i32,
    stderr: String,
    /// Each `ufw` call's arguments.
    calls: Vec<Vec<String>>,
}

fn run_fake(dir: &Path, script: &str, uid: u32, with_ufw: bool, env: &[(&str, &str)], args: &[&str]) -> Run {
    let bin = fake_bin(dir, uid);
    if !with_ufw {
        std::fs::remove_file(bin.join("ufw")).unwrap();
    }
    let path = dir.join("ufw.sh");
    std::fs::write(&path, script).unwrap();
    let log = dir.join("log");
    let _ = std::fs::remove_file(&log);
    let mut cmd = Command::new("sh");
    cmd.arg(&path).args(args).env_clear().env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    cmd.env("UFW_LOG", &log).env("UFW_ADDED", dir.join("added"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let calls =
        text.split("\n\n").filter(|c| !c.is_empty()).map(|c| c.split('\n').map(str::to_string).collect()).collect();
    Run { code: out.status.code().unwrap_or(-1), stderr: String::from_utf8_lossy(&out.stderr).into_owned(), calls }
}

/// Hostile comment values reach `ufw` as one argument each, byte for byte, and nothing in
/// them runs.
#[test]
fn hostile_comments_reach_ufw_verbatim() {
    let dir = scratch("hostile");
    let canary = dir.join("pwned");
    let hostile = [
        format!("$(touch {})", canary.display()),
        format!("`touch {}`", canary.display()),
        r#"dq " and \ backslash \"#.to_string(),
        "; touch x | y & z > w < v * ? [a] ~ # !".to_string(),
        "$HOME $$ $1 $@ $(".to_string(),
        "ünïcødé — ’".to_string(),
    ];
    let mut src = String::from("stack \"s\"\nfirewall {\n");
    for (i, h) in hostile.iter().enumerate() {
        // KDL raw strings hold the text as it is.
        src.push_str(&format!("    allow {} protocol=\"tcp\" comment=#\"{h}\"#\n", 1000 + i));
    }
    src.push_str("}\ntargets {\n    ufw\n}\n");
    let (script, diags) = build(&src);
    let script = script.unwrap_or_else(|| panic!("{diags:#?}"));
    let run = run_fake(&dir, &script, 0, true, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!canary.exists(), "a comment ran a command");
    for (i, h) in hostile.iter().enumerate() {
        // In a KDL string `$$` is a literal `$`; the rest is the text as written.
        let want = format!("stackc:s:1 {}", h.replace("$$", "$"));
        let call = run.calls.iter().find(|c| c.get(1).map(String::as_str) == Some(&format!("{}/tcp", 1000 + i)));
        let call = call.unwrap_or_else(|| panic!("no rule for {h}: {:#?}", run.calls));
        assert_eq!(call[2..], ["comment".to_string(), want], "{h}");
    }
    if let Some(sc) = require("shellcheck", "shellcheck on a hostile script") {
        let out = Command::new(sc).arg(dir.join("ufw.sh")).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Params are read from the environment at run time, else the default; a required one
/// stops the script before any change.
#[test]
fn params_are_read_at_run_time() {
    let src = r#"stack "s"
param "office" default="203.0.113.0/24" env="OFFICE"
param "site" default="office ${office}"
param "token" env="TOKEN" required=#true
firewall {
    allow 22 from="${office}" protocol="tcp" comment="ssh from ${site}"
    allow 23 comment="${token}"
}
targets {
    ufw
}
"#;
    let (script, diags) = build(src);
    let script = script.unwrap_or_else(|| panic!("{diags:#?}"));
    let dir = scratch("params");
    let run = run_fake(&dir, &script, 0, true, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("set TOKEN (param token is required)"), "{}", run.stderr);
    assert!(run.calls.is_empty(), "changed something before failing: {:#?}", run.calls);

    let run = run_fake(&dir, &script, 0, true, &[("TOKEN", "t")], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.calls[0],
        [
            "allow",
            "from",
            "203.0.113.0/24",
            "to",
            "any",
            "port",
            "22",
            "proto",
            "tcp",
            "comment",
            "stackc:s:1 ssh from office 203.0.113.0/24"
        ]
    );
    let run = run_fake(&dir, &script, 0, true, &[("TOKEN", "t"), ("OFFICE", "198.51.100.7")], &[]);
    assert_eq!(run.calls[0][2], "198.51.100.7");
    assert_eq!(run.calls[0][10], "stackc:s:1 ssh from office 198.51.100.7");
    // A value UFW cannot hold in a comment stops the script before any change.
    let run = run_fake(&dir, &script, 0, true, &[("TOKEN", "it's")], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("param token holds a quote or a line break"), "{}", run.stderr);
    assert!(run.calls.is_empty());
    let run = run_fake(&dir, &script, 0, true, &[("TOKEN", "a\nb")], &[]);
    assert_eq!(run.code, 1);
}

#[test]
fn refuses_without_root_or_ufw_and_checks_its_arguments() {
    let (script, _) = build(&stack_text_with_firewall());
    let script = script.unwrap();
    let dir = scratch("refuse");
    let run = run_fake(&dir, &script, 1000, true, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("run it as root"), "{}", run.stderr);
    assert!(run.calls.is_empty());
    let run = run_fake(&dir, &script, 0, false, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("ufw is not installed"), "{}", run.stderr);
    for bad in [&["--bogus"][..], &["--reset", "x"][..]] {
        let run = run_fake(&dir, &script, 0, true, &[], bad);
        assert_eq!(run.code, 2, "{bad:?}");
        assert!(run.calls.is_empty());
    }
    let run = run_fake(&dir, &script, 0, true, &[], &["--reset"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.calls[0], ["--force", "reset"]);
}

/// The clean-up deletes this stack's rules of older runs, and nothing else (here with a
/// stand-in `ufw show added`; the sandbox test below does it with the real ufw).
#[test]
fn the_clean_up_deletes_only_this_stacks_older_rules() {
    let (script, _) = build(&stack_text_with_firewall());
    let script = script.unwrap();
    let dir = scratch("cleanup");
    std::fs::write(
        dir.join("added"),
        "Added user rules (see 'ufw status' for running firewall):\n\
         ufw allow 22 comment 'stackc:s:4 firewall allow 22'\n\
         ufw allow 3000/tcp comment 'stackc:s:4 gone | with a pipe'\n\
         ufw allow from 10.0.0.0/8 to any port 25 proto tcp comment 'stackc:s:3 older'\n\
         ufw allow 4000/tcp comment 'stackc:other:1 another stack'\n\
         ufw allow 4001/tcp comment 'stackc:s-2:1 a stack whose name starts the same'\n\
         ufw allow 4002/tcp comment 'by hand'\n\
         ufw allow 4003/tcp\n",
    )
    .unwrap();
    let run = run_fake(&dir, &script, 0, true, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let deletes: Vec<&Vec<String>> =
        run.calls.iter().filter(|c| c.first().map(String::as_str) == Some("--force") && c[1] == "delete").collect();
    assert_eq!(
        deletes,
        [
            &["--force", "delete", "allow", "22", "comment", "stackc:s:4 firewall allow 22"].map(String::from).to_vec(),
            &["--force", "delete", "allow", "3000/tcp", "comment", "stackc:s:4 gone | with a pipe"]
                .map(String::from)
                .to_vec(),
            &[
                "--force",
                "delete",
                "allow",
                "from",
                "10.0.0.0/8",
                "to",
                "any",
                "port",
                "25",
                "proto",
                "tcp",
                "comment",
                "stackc:s:3 older"
            ]
            .map(String::from)
            .to_vec(),
        ]
    );
    // This run is number 5 (the stand-in does not update what `show added` prints, so the
    // run-4 rules it lists count as older).
    assert_eq!(run.calls[0], ["allow", "22", "comment", "stackc:s:5 firewall allow 22"]);
}

/// (golden directory name, script path) of every golden ufw script.
fn golden_scripts() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(root().join("golden")).unwrap().flatten() {
        let p = d.path().join("ufw/ufw.sh");
        if p.is_file() {
            out.push((d.file_name().to_string_lossy().into_owned(), p));
        }
    }
    out.sort();
    assert!(out.len() >= 4, "every example with a firewall and the ufw target has a golden script: {out:?}");
    out
}

/// The example and environment of a golden directory, compiled.
fn golden_stack(dir_name: &str) -> Stack {
    let (stem, env) = match dir_name.split_once('.') {
        Some((s, e)) => (s, Some(e.to_string())),
        None => (dir_name, None),
    };
    let text = std::fs::read_to_string(root().join("examples").join(format!("{stem}.stack.kdl"))).unwrap();
    let out = stackc::compile("x", &text, &Options { env, ..Options::default() });
    out.stack.expect("the example compiles")
}

/// The ports a compose file publishes on all addresses, as `port/proto`.
fn compose_public_ports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_ports = false;
    for line in text.lines() {
        let t = line.trim();
        if t == "ports:" {
            in_ports = true;
            continue;
        }
        if in_ports {
            let Some(item) = t.strip_prefix("- ") else {
                in_ports = false;
                continue;
            };
            let item = item.trim_matches('"');
            let (mapping, proto) = item.split_once('/').unwrap_or((item, "tcp"));
            let parts: Vec<&str> = mapping.split(':').collect();
            if parts.len() == 2 {
                out.push(format!("{}/{proto}", parts[0]));
            }
        }
    }
    out
}

/// What compose publishes on all addresses and what the script opens agree: every such port
/// has a rule, and every rule derived from sites or publishes is such a port.
#[test]
fn the_script_opens_what_compose_publishes() {
    for (dir_name, _) in golden_scripts() {
        let stack = golden_stack(&dir_name);
        let dir = root().join("golden").join(&dir_name);
        let compose = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "yml" || e == "yaml")
                    && std::fs::read_to_string(p).unwrap_or_default().lines().any(|l| l == "services:")
            })
            .unwrap_or_else(|| panic!("{dir_name}: no compose file"));
        let public = compose_public_ports(&std::fs::read_to_string(compose).unwrap());
        let rules = ufw::rules(&stack);
        for port in &public {
            let (n, proto) = port.split_once('/').unwrap();
            let proto = if proto == "udp" { Protocol::Udp } else { Protocol::Tcp };
            assert!(
                rules.iter().any(|r| r.port.to_string() == n && r.protocol.is_none_or(|p| p == proto)),
                "{dir_name}: compose publishes {port} but the script has no rule for it"
            );
        }
        // Host mode: the host's proxy, not compose, listens on the sites' ports.
        let host_mode = stack.proxy_plan.as_ref().is_some_and(|p| p.host_mode);
        let from_compose = |r: &&ufw::Rule| !(host_mode && matches!(r.source, Source::Sites));
        for r in rules.iter().filter(|r| !matches!(r.source, Source::Firewall(_))).filter(from_compose) {
            let p = format!("{}/{}", r.port, if r.protocol == Some(Protocol::Udp) { "udp" } else { "tcp" });
            assert!(
                public.contains(&p),
                "{dir_name}: the script opens {p}, which compose does not publish on all addresses"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The real ufw, in a sandbox.
//
// `unshare -m -n`: a private network namespace (its own, empty iptables: the machine's
// firewall is never touched) and a private mount namespace in which private copies of
// /etc/ufw, /lib/ufw, /etc/default/ufw (and /var/lib/ufw where it exists) are bind-mounted
// over the real ones. /etc/ufw is built from the package's pristine files in
// /usr/share/ufw, so the machine's own rules do not leak in. One change to UFW's setup:
// /etc/default/ufw's IPT_SYSCTL names an empty file, because some of the sysctls UFW sets
// are not per network namespace and would change the machine.
//
// Proven: the scripts run to the end under `set -eu` with the real ufw 0.36 and iptables
// (nft backend on Debian 12); `ufw show added` then lists exactly the expected rules, in
// order, with their comments byte for byte; the defaults are set; UFW is active and the
// rules are loaded into iptables; a re-run converges (same rules, nothing doubled), removed
// rules go, hand-added rules stay, `--reset` starts over, a param read at run time changes
// a rule. Not proven here: that traffic is filtered as the rules say (that is UFW's and the
// kernel's job, and the sandbox has no traffic), nor anything about Docker's own rules.
// ---------------------------------------------------------------------------------------

/// The sandbox's tools, or `None` with NOT RUN (outside CI).
fn require_sandbox() -> bool {
    let mut missing: Vec<&str> = Vec::new();
    for tool in ["ufw", "iptables", "ip6tables", "unshare", "mount"] {
        if find(tool).is_none() {
            missing.push(tool);
        }
    }
    let problem = if !missing.is_empty() {
        format!("missing {} (run .ci/install-validators)", missing.join(", "))
    } else if !Command::new("unshare").args(["-m", "-n", "true"]).output().is_ok_and(|o| o.status.success()) {
        "`unshare -m -n` failed: the sandbox needs root".to_string()
    } else if !Path::new("/usr/share/ufw/iptables/user.rules").is_file() {
        "/usr/share/ufw/iptables is missing: not Debian's ufw package".to_string()
    } else {
        return true;
    };
    if in_ci() {
        panic!("ufw sandbox test: {problem}; CI must run it");
    }
    support::report_not_run(&format!("ufw sandbox test: {problem} (CI always runs it)"));
    false
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Private, pristine copies of UFW's files in `dir`.
fn prepare_sandbox(dir: &Path) {
    let etc = dir.join("etc-ufw");
    copy_dir(Path::new("/usr/share/ufw/iptables"), &etc);
    for f in ["before.init", "after.init", "ufw.conf"] {
        std::fs::copy(Path::new("/usr/share/ufw").join(f), etc.join(f)).unwrap();
    }
    std::fs::create_dir_all(etc.join("applications.d")).unwrap();
    std::fs::write(etc.join("sysctl.conf"), "").unwrap();
    copy_dir(Path::new("/lib/ufw"), &dir.join("lib-ufw"));
    std::fs::create_dir_all(dir.join("var-lib-ufw")).unwrap();
    std::fs::write(dir.join("empty-sysctl"), "").unwrap();
    let default = std::fs::read_to_string("/etc/default/ufw").unwrap();
    let default: String = default
        .lines()
        .map(|l| {
            if l.starts_with("IPT_SYSCTL=") {
                format!("IPT_SYSCTL={}\n", dir.join("empty-sysctl").display())
            } else if l.starts_with("IPV6=") {
                "IPV6=yes\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(dir.join("default-ufw"), default).unwrap();
}

/// Runs `body` (sh) in the sandbox over `dir`'s private copies; `$D` is `dir`.
fn in_sandbox(dir: &Path, body: &str) {
    let script = format!(
        "set -eu\nD='{}'\nmount --bind \"$D/etc-ufw\" /etc/ufw\nmount --bind \"$D/lib-ufw\" /lib/ufw\nmount --bind \"$D/default-ufw\" /etc/default/ufw\nif [ -d /var/lib/ufw ]; then mount --bind \"$D/var-lib-ufw\" /var/lib/ufw; fi\n{body}\n",
        dir.display()
    );
    let out = Command::new("unshare")
        .args(["-m", "-n", "sh", "-c", &script])
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sandbox run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rule lines of `ufw show added` saved in `file`.
fn added(dir: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(file))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ufw "))
        .map(str::to_string)
        .collect()
}

/// What `ufw show added` prints for the stack's rules on run number `run`: v6-only rules
/// (an IPv6 `from=`) after the others, as UFW keeps them in its own file.
fn expected_added(stack: &Stack, run: u32) -> Vec<String> {
    let marker = match &stack.environment {
        Some(e) => format!("stackc:{}.{e}", stack.name),
        None => format!("stackc:{}", stack.name),
    };
    let line = |r: &Rule| {
        let mut spec = r.spec();
        if let Some(from) = &r.from {
            spec = spec.replace(&format!("from {from} "), &format!("from {} ", with_defaults(stack, from)));
        }
        format!("ufw {spec} comment '{marker}:{run} {}'", with_defaults(stack, &r.comment))
    };
    let rules = ufw::rules(stack);
    let v6 = |r: &&Rule| r.from.as_deref().is_some_and(|f| with_defaults(stack, f).contains(':'));
    rules.iter().filter(|r| !v6(r)).chain(rules.iter().filter(v6)).map(line).collect()
}

/// Every golden script on the real ufw: the rules, the defaults, UFW active and the rules
/// in iptables. The first one runs twice: the second run changes nothing but the run number
/// (a run takes seconds, and `re_runs_converge_on_the_real_ufw` covers re-runs in depth).
#[test]
fn golden_scripts_run_on_the_real_ufw() {
    if !require_sandbox() {
        return;
    }
    for (i, (dir_name, script)) in golden_scripts().into_iter().enumerate() {
        let stack = golden_stack(&dir_name);
        let fw = stack.firewall.clone().unwrap();
        let dir = scratch(&format!("real-{dir_name}"));
        prepare_sandbox(&dir);
        in_sandbox(
            &dir,
            &format!(
                "sh '{}' >\"$D/run1.log\" 2>&1\nufw show added >\"$D/added1\"\nufw status verbose >\"$D/status\"\niptables -S >\"$D/iptables\"\nip6tables -S >\"$D/ip6tables\"\nif [ {} = 0 ]; then sh '{}' >\"$D/run2.log\" 2>&1; ufw show added >\"$D/added2\"; fi",
                script.display(),
                i,
                script.display()
            ),
        );
        let log = std::fs::read_to_string(dir.join("run1.log")).unwrap();
        assert_eq!(added(&dir, "added1"), expected_added(&stack, 1), "{dir_name}:\n{log}");
        if i == 0 {
            assert_eq!(added(&dir, "added2"), expected_added(&stack, 2), "{dir_name}: the second run");
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap();
        assert!(status.starts_with("Status: active\n"), "{dir_name}: {status}");
        assert!(
            status.contains(&format!("Default: {} (incoming), {} (outgoing)", fw.incoming, fw.outgoing)),
            "{dir_name}: {status}"
        );
        assert!(log.ends_with(&status), "{dir_name}: the script ends with `ufw status verbose`:\n{log}");
        let v4 = std::fs::read_to_string(dir.join("iptables")).unwrap();
        let v6 = std::fs::read_to_string(dir.join("ip6tables")).unwrap();
        for r in ufw::rules(&stack) {
            let target = match r.action.as_str() {
                "allow" => "-j ACCEPT",
                "deny" => "-j DROP",
                _ => "-j ufw-user-limit",
            };
            let protos: Vec<&str> = match r.protocol {
                Some(Protocol::Tcp) => vec!["tcp"],
                Some(Protocol::Udp) => vec!["udp"],
                None => vec!["tcp", "udp"],
            };
            for proto in protos {
                let from = r.from.as_ref().map(|f| format!("-s {} ", with_defaults(&stack, f))).unwrap_or_default();
                let want = format!("-A ufw-user-input {from}-p {proto} -m {proto} --dport {} ", r.port);
                let rules = if from.contains(':') { &v6 } else { &v4 };
                assert!(
                    rules.lines().any(|l| l.starts_with(&want) && l.ends_with(target)),
                    "{dir_name}: no iptables rule `{want}… {target}`:\n{rules}"
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

const CONVERGE_A: &str = r##"stack "conv"
param "office" default="203.0.113.0/24" env="OFFICE"
service "app" {
    image "ghcr.io/acme/app:1.0"
    health cmd="true"
    publish 8080
    publish 9000 host="127.0.0.1"
}
firewall {
    default incoming="deny" outgoing="allow" routed="deny"
    allow 22 from="${office}" protocol="tcp" comment="ssh from ${office}"
    limit 2222 protocol="tcp"
    allow 51820 protocol="udp" comment=#"wireguard $(touch CANARY) `touch CANARY` "dq" \ | ; & ünï"#
    deny 25
}
targets {
    compose
    ufw
}
"##;

const CONVERGE_B: &str = r#"stack "conv"
param "office" default="203.0.113.0/24" env="OFFICE"
service "app" {
    image "ghcr.io/acme/app:1.0"
    health cmd="true"
    publish 9000 host="127.0.0.1"
}
firewall {
    default incoming="reject" outgoing="allow" routed="allow"
    allow 22 from="${office}" protocol="tcp" comment="ssh from ${office}"
    deny 25
    allow 443 protocol="tcp" comment="https"
}
targets {
    compose
    ufw
}
"#;

/// Re-runs converge on the real ufw: nothing doubles, rules removed from the stack go,
/// hand-added rules stay, a param's run-time value replaces the rule it is in, and
/// `--reset` starts over. Hostile comment text arrives intact and runs nothing.
#[test]
fn re_runs_converge_on_the_real_ufw() {
    if !require_sandbox() {
        return;
    }
    let dir = scratch("converge");
    prepare_sandbox(&dir);
    let canary = dir.join("pwned");
    let a_src = CONVERGE_A.replace("CANARY", &canary.display().to_string());
    let (a, diags) = build(&a_src);
    let a = a.unwrap_or_else(|| panic!("{diags:#?}"));
    let (b, diags) = build(CONVERGE_B);
    let b = b.unwrap_or_else(|| panic!("{diags:#?}"));
    std::fs::write(dir.join("a.sh"), a).unwrap();
    std::fs::write(dir.join("b.sh"), b).unwrap();
    in_sandbox(
        &dir,
        "step() { ufw show added >\"$D/added$1\"; grep '^DEFAULT_' /etc/default/ufw >\"$D/defaults$1\"; ufw status >\"$D/status$1\"; }\n\
         sh \"$D/a.sh\" >\"$D/log\" 2>&1; step 1\n\
         sh \"$D/a.sh\" >>\"$D/log\" 2>&1; step 2\n\
         ufw allow 9999/tcp comment 'by hand' >/dev/null; ufw allow 9998/tcp >/dev/null\n\
         sh \"$D/b.sh\" >>\"$D/log\" 2>&1; step 3\n\
         OFFICE=198.51.100.0/24 sh \"$D/b.sh\" >>\"$D/log\" 2>&1; step 4\n\
         sh \"$D/b.sh\" --reset >>\"$D/log\" 2>&1; step 5",
    );
    assert!(!canary.exists(), "a comment ran a command");
    let a_stack = compile(&a_src);
    assert_eq!(added(&dir, "added1"), expected_added(&a_stack, 1));
    let hostile = format!("wireguard $(touch {0}) `touch {0}` \"dq\" \\ | ; & ünï", canary.display());
    assert!(added(&dir, "added1").contains(&format!("ufw allow 51820/udp comment 'stackc:conv:1 {hostile}'")));
    assert_eq!(added(&dir, "added2"), expected_added(&a_stack, 2), "a re-run changes only the run number");
    let ssh = |run: u32, net: &str| {
        format!("ufw allow from {net} to any port 22 proto tcp comment 'stackc:conv:{run} ssh from {net}'")
    };
    let deny = |run: u32| format!("ufw deny 25 comment 'stackc:conv:{run} firewall deny 25'");
    let https = |run: u32| format!("ufw allow 443/tcp comment 'stackc:conv:{run} https'");
    let by_hand = ["ufw allow 9999/tcp comment 'by hand'".to_string(), "ufw allow 9998/tcp".to_string()];
    // B: the limit, the wireguard rule and the publish of 8080 are gone; rules already there
    // keep their place, hand-added rules stay, the new rule goes last.
    let mut want = vec![ssh(3, "203.0.113.0/24"), deny(3)];
    want.extend(by_hand.clone());
    want.push(https(3));
    assert_eq!(added(&dir, "added3"), want);
    // A param's new value: the rule with the old value goes, the new one goes last.
    let mut want = vec![deny(4)];
    want.extend(by_hand.clone());
    want.extend([https(4), ssh(4, "198.51.100.0/24")]);
    assert_eq!(added(&dir, "added4"), want);
    // --reset: only the stack's rules, in the stack's order, run 1 again.
    assert_eq!(added(&dir, "added5"), [ssh(1, "203.0.113.0/24"), deny(1), https(1)]);
    let defaults = |n: u32| std::fs::read_to_string(dir.join(format!("defaults{n}"))).unwrap();
    assert!(
        defaults(1).contains("DEFAULT_INPUT_POLICY=\"DROP\"")
            && defaults(1).contains("DEFAULT_FORWARD_POLICY=\"DROP\""),
        "{}",
        defaults(1)
    );
    assert!(
        defaults(3).contains("DEFAULT_INPUT_POLICY=\"REJECT\"")
            && defaults(3).contains("DEFAULT_FORWARD_POLICY=\"ACCEPT\""),
        "{}",
        defaults(3)
    );
    for n in 1..=5 {
        let status = std::fs::read_to_string(dir.join(format!("status{n}"))).unwrap();
        assert!(status.starts_with("Status: active\n"), "step {n}: {status}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A text with params rendered with their defaults (the sandbox sets no variable).
fn with_defaults(stack: &Stack, s: &str) -> String {
    Text::from_default(s)
        .0
        .iter()
        .map(|p| match p {
            Piece::Lit(l) => l.clone(),
            Piece::Param(n) => {
                with_defaults(stack, stack.params.get(n).and_then(|p| p.default.as_deref()).unwrap_or(""))
            }
            Piece::Secret(_) => String::new(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Docker's published ports, with real packets.
//
// Inside the sandbox above (its own network namespace, private /etc/ufw), two more network
// namespaces are the test's hosts: `client`, with two addresses (one the stack allows, one
// it does not), and `ctr`, the "container", behind a veth pair of its own. The sandbox's
// iptables get Docker's shape for published ports (nat PREROUTING → DOCKER → DNAT to the
// container; FORWARD → DOCKER-USER first, then Docker's ACCEPT for the container), and the
// generated script runs with the real ufw. Then TCP connections from each client address
// show which published ports let whom in. /run is a tmpfs inside the sandbox, so
// `ip netns` leaves nothing on the machine; the machine's own rules are compared before
// and after.
// ---------------------------------------------------------------------------------------

const DOCKER_STACK: &str = r#"stack "dk"
param "office" default="192.0.2.10" env="OFFICE"
service "app" {
    image "ghcr.io/acme/app:1.0"
    health cmd="true"
    publish 8080 target=80
    publish 9090 target=90
    publish 7000 target=70
    publish 2222 target=22
}
firewall {
    default incoming="deny" outgoing="allow"
    allow 22 protocol="tcp"
    allow 8080 from="${office}" protocol="tcp" comment="app from the office"
    deny 7000
    limit 2222 protocol="tcp"
}
targets {
    compose
    ufw
}
"#;

const DOCKER_SHAPE: &str = r#"
mount -t tmpfs tmpfs /run
sysctl -qw net.ipv4.ip_forward=1
ip link set lo up
ip netns add client
ip netns add ctr
ip link add h-c type veth peer name c0 netns client
ip link add h-k type veth peer name k0 netns ctr
ip addr add 192.0.2.1/24 dev h-c
ip link set h-c up
ip addr add 172.30.0.1/24 dev h-k
ip link set h-k up
ip -n client addr add 192.0.2.10/24 dev c0
ip -n client addr add 192.0.2.20/24 dev c0
ip -n client link set c0 up
ip -n client link set lo up
ip -n ctr addr add 172.30.0.2/24 dev k0
ip -n ctr link set k0 up
ip -n ctr link set lo up
ip -n ctr route add default via 172.30.0.1
# Docker's chains, as dockerd sets them up for a bridge network (h-k) and its publishes.
iptables -N DOCKER
iptables -N DOCKER-USER
iptables -A FORWARD -j DOCKER-USER
iptables -A FORWARD -o h-k -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -A FORWARD -o h-k -j DOCKER
iptables -A FORWARD -i h-k ! -o h-k -j ACCEPT
iptables -t nat -N DOCKER
iptables -t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
for pt in 8080:80 9090:90 7000:70 2222:22; do
    iptables -t nat -A DOCKER ! -i h-k -p tcp --dport "${pt%%:*}" -j DNAT --to-destination "172.30.0.2:${pt#*:}"
    iptables -A DOCKER -d 172.30.0.2 ! -i h-k -o h-k -p tcp --dport "${pt#*:}" -j ACCEPT
done
ip netns exec ctr python3 -c '
import socket, threading, sys
def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    ready.release()
    while True:
        c, _ = s.accept()
        c.sendall(b"open")
        c.close()
ready = threading.Semaphore(0)
for p in (80, 90, 70, 22):
    threading.Thread(target=serve, args=(p,), daemon=True).start()
for _ in range(4):
    ready.acquire()
open(sys.argv[1], "w").write("ready")
threading.Event().wait()
' "$D/ready" &
server=$!
trap 'kill $server' EXIT
while [ ! -e "$D/ready" ]; do sleep 0.1; done
# probe NAME: one line per (source, port): `SRC PORT open|closed`.
probe() {
    ip netns exec client python3 -c '
import socket, sys
for src in ("192.0.2.10", "192.0.2.20"):
    for port in (8080, 9090, 7000):
        s = socket.socket()
        s.settimeout(1.5)
        s.bind((src, 0))
        try:
            s.connect(("192.0.2.1", port))
            got = s.recv(8).decode() or "empty"
        except OSError:
            got = "closed"
        s.close()
        print(src, port, got)
' >"$D/$1"
}
# limit NAME: ten connections to 2222 from one address in a row.
limit() {
    ip netns exec client python3 -c '
import socket
out = []
for _ in range(10):
    s = socket.socket()
    s.settimeout(1.5)
    s.bind(("192.0.2.10", 0))
    try:
        s.connect(("192.0.2.1", 2222))
        out.append(s.recv(8).decode() or "empty")
    except OSError:
        out.append("closed")
    s.close()
print(" ".join(out))
' >"$D/$1"
}
"#;

fn probe(dir: &Path, file: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(file)).unwrap().lines().map(str::to_string).collect()
}

/// The machine's own rules, to show the test leaves them as they were.
fn host_rules() -> String {
    ["iptables-save", "ip6tables-save"]
        .iter()
        .map(|t| {
            let out = Command::new(find(t).unwrap()).output().unwrap();
            // The save's header and footer carry the time of the save.
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.starts_with('#')).collect::<Vec<_>>().join("\n")
        })
        .collect()
}

/// The stack's firewall governs Docker's published ports: before the script, every client
/// reaches every published port (Docker's bypass); after it, `allow … from=` lets only
/// that source in, `deny` and the incoming default drop, a port the firewall says nothing
/// about stays open, and `limit` cuts a burst off. A re-run changes nothing, `--no-docker`
/// restores Docker's behaviour and UFW's pristine after.rules, and the machine's rules
/// are untouched.
#[test]
fn docker_published_ports_obey_the_firewall_with_real_packets() {
    if !require_sandbox() {
        return;
    }
    for tool in ["ip", "python3", "iptables-save", "ip6tables-save", "sysctl"] {
        if find(tool).is_none() {
            if in_ci() {
                panic!("docker firewall test: {tool} is missing; CI must run .ci/install-validators");
            }
            support::report_not_run(&format!("docker firewall test: {tool} is missing"));
            return;
        }
    }
    let host_before = host_rules();
    let dir = scratch("docker");
    prepare_sandbox(&dir);
    let pristine = std::fs::read_to_string(dir.join("etc-ufw/after.rules")).unwrap();
    let (script, diags) = build(DOCKER_STACK);
    std::fs::write(dir.join("ufw.sh"), script.unwrap_or_else(|| panic!("{diags:#?}"))).unwrap();
    in_sandbox(
        &dir,
        &format!(
            "{DOCKER_SHAPE}
probe before
sh \"$D/ufw.sh\" >\"$D/run1.log\" 2>&1
probe after
cp /etc/ufw/after.rules \"$D/after1\"
iptables -S >\"$D/iptables1\"
sh \"$D/ufw.sh\" >\"$D/run2.log\" 2>&1
cp /etc/ufw/after.rules \"$D/after2\"
iptables -S >\"$D/iptables2\"
limit burst
OFFICE=192.0.2.20 sh \"$D/ufw.sh\" >\"$D/run3.log\" 2>&1
probe office
sh \"$D/ufw.sh\" --no-docker >\"$D/run4.log\" 2>&1
probe removed
cp /etc/ufw/after.rules \"$D/after4\"
"
        ),
    );
    let all_open = [
        "192.0.2.10 8080 open",
        "192.0.2.10 9090 open",
        "192.0.2.10 7000 open",
        "192.0.2.20 8080 open",
        "192.0.2.20 9090 open",
        "192.0.2.20 7000 open",
    ];
    assert_eq!(probe(&dir, "before"), all_open, "Docker's shape: published ports bypass the host firewall");
    let log = std::fs::read_to_string(dir.join("run1.log")).unwrap();
    assert_eq!(
        probe(&dir, "after"),
        [
            "192.0.2.10 8080 open",
            "192.0.2.10 9090 open",
            "192.0.2.10 7000 closed",
            "192.0.2.20 8080 closed",
            "192.0.2.20 9090 open",
            "192.0.2.20 7000 closed",
        ],
        "{log}"
    );
    let after1 = std::fs::read_to_string(dir.join("after1")).unwrap();
    assert!(after1.starts_with(&pristine), "UFW's own rules are kept:\n{after1}");
    assert_eq!(after1.matches("# BEGIN stackc docker-user").count(), 1, "{after1}");
    assert_eq!(after1.matches("# BEGIN stackc:dk docker").count(), 1, "{after1}");
    assert_eq!(after1, std::fs::read_to_string(dir.join("after2")).unwrap(), "a re-run rewrites nothing");
    let ipt = |n: u32| std::fs::read_to_string(dir.join(format!("iptables{n}"))).unwrap();
    assert_eq!(ipt(1), ipt(2), "a re-run adds no rule twice");
    assert!(ipt(1).contains("-A DOCKER-USER -j stackc-docker\n") && ipt(1).contains("-A stackc-docker -j stackc-dk\n"));
    assert!(!std::fs::read_to_string(dir.join("run2.log")).unwrap().contains("reloaded"), "nothing changed");
    let burst = std::fs::read_to_string(dir.join("burst")).unwrap();
    let burst: Vec<&str> = burst.split_whitespace().collect();
    assert_eq!(burst[0], "open", "{burst:?}");
    assert!(burst.contains(&"closed"), "`limit` cuts off a burst: {burst:?}");
    // The param read at run time moves the allowed source.
    assert_eq!(
        &probe(&dir, "office")[..4],
        ["192.0.2.10 8080 closed", "192.0.2.10 9090 open", "192.0.2.10 7000 closed", "192.0.2.20 8080 open"]
    );
    assert_eq!(probe(&dir, "removed"), all_open, "--no-docker removes the block");
    assert_eq!(std::fs::read_to_string(dir.join("after4")).unwrap(), pristine);
    assert_eq!(host_rules(), host_before, "the machine's own rules are untouched");
    let _ = std::fs::remove_dir_all(&dir);
}
