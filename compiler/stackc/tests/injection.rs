//! No injection through the stack's values (issue 9): a value that would change the meaning
//! of a generated file is refused where it is written, with E0310/E0318/…, and a value that
//! is accepted comes out inert (a comment stays a comment, a literal stays a literal, an
//! invisible character is escaped).

use stackc::emit::{EmitOptions, OutputFile};
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::file;

fn build(src: &str, targets: &[TargetKind]) -> (Vec<OutputFile>, Vec<String>) {
    let emit = EmitOptions { targets: Some(targets.to_vec()), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    let diags = built.outcome.diagnostics.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    (built.files, diags)
}

fn errors(diags: &[String]) -> Vec<&str> {
    diags.iter().filter(|d| d.starts_with('E')).map(String::as_str).collect()
}

/// The codes of the errors a stack gets, and where the first one points.
fn error_codes(src: &str) -> Vec<String> {
    let out = stackc::compile("test.stack.kdl", src, &Options::default());
    out.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.code.as_str().to_string()).collect()
}

/// The byte offset of the primary span of the first error.
fn first_error_at(src: &str) -> usize {
    let out = stackc::compile("test.stack.kdl", src, &Options::default());
    let d = out.diagnostics.iter().find(|d| d.is_error()).expect("an error");
    d.primary.as_ref().expect("a span").span.offset
}

const API: &str = "service \"api\" {\n    image \"ghcr.io/acme/api:1.4.2\"\n    port 3001 name=\"http\"\n    health http=\"/health\"\n";

// 1. `.env.example`

#[test]
fn a_line_break_in_a_param_description_stays_a_comment_in_env_example() {
    let src = "stack \"shop\"\nparam \"tag\" default=\"1.4.2\" env=\"IMAGE_TAG\" description=\"the tag\\nANOTHER=1\\n\\nTHIRD=2\"\nservice \"api\" {\n    image \"ghcr.io/acme/api:${tag}\"\n}\n";
    let (files, diags) = build(src, &[TargetKind::Compose]);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    let env = file(&files, ".env.example");
    let live: Vec<&str> = env.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert_eq!(live, Vec::<&str>::new(), "only comments and blank lines:\n{env}");
    assert!(
        env.contains("# param `tag`: the tag\n# ANOTHER=1\n#\n# THIRD=2 (optional, default shown)\n#IMAGE_TAG=1.4.2\n"),
        "{env}"
    );
}

#[test]
fn a_carriage_return_in_a_description_is_refused_at_its_value() {
    let src = "stack \"shop\"\nparam \"tag\" default=\"1\" env=\"TAG\" description=\"a\\rB=1\"\n";
    assert_eq!(error_codes(src), ["E0318"]);
    assert_eq!(first_error_at(src), src.find("\"a\\r").unwrap());
}

// 2. `:` in mount paths

#[test]
fn a_colon_in_a_mount_or_tmpfs_path_is_refused_at_the_path() {
    for (line, bad) in [
        ("    mount \"./uploads:/etc\" \"/srv/uploads\"\n", "\"./uploads:/etc\""),
        ("    mount \"./uploads\" \"/srv/uploads:/etc\"\n", "\"/srv/uploads:/etc\""),
        ("    mount \"/data:Z\" \"/data\"\n", "\"/data:Z\""),
        ("    tmpfs \"/data:Z\"\n", "\"/data:Z\""),
        ("    secret \"s\" target=\"/run/a:b\"\n", "\"/run/a:b\""),
    ] {
        let src = format!("stack \"shop\"\nsecret \"s\" file=\"./s.txt\"\n{API}{line}}}\n");
        assert_eq!(error_codes(&src), ["E0310"], "{line}");
        assert_eq!(first_error_at(&src), src.find(bad).unwrap(), "{line}");
    }
    // The same paths without `:` are short-syntax mounts as before.
    let src = format!("stack \"shop\"\n{API}    mount \"./uploads\" \"/srv/uploads\" read-only=#true\n    tmpfs \"/data\" size=\"64Mi\"\n}}\n");
    let (files, diags) = build(&src, &[TargetKind::Compose]);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    assert!(compose.contains("- ./uploads:/srv/uploads:ro\n"), "{compose}");
    assert!(compose.contains("- /data:size=67108864\n"), "{compose}");
}

// 3. Values the tools reject or misread

#[test]
fn alert_label_names_are_prometheus_label_names() {
    let alert = |labels: &str| {
        format!("stack \"shop\"\nalerts \"api\" {{\n    alert \"ApiDown\" expr=\"up == 0\" {{\n        labels {labels}\n    }}\n}}\n")
    };
    assert_eq!(error_codes(&alert("\"bad label\"=\"x\"")), ["E0201"]);
    assert_eq!(error_codes(&alert("__name__=\"x\"")), ["E0201"]);
    assert_eq!(error_codes(&alert("\"1team\"=\"x\"")), ["E0201"]);
    assert_eq!(error_codes(&alert("team=\"shop\" _private=\"x\"")), Vec::<String>::new());
}

#[test]
fn proxy_versions_are_image_tags() {
    for (target, bad) in [("nginx", "1.27 AS evil"), ("nginx", "1.27\\n"), ("caddy", "-2.8"), ("caddy", "2.8:x")] {
        let src = format!("stack \"shop\"\ntargets {{\n    {target} version=\"{bad}\"\n}}\n");
        assert_eq!(error_codes(&src), ["E0308"], "{target} {bad}");
    }
    let ok = "stack \"shop\"\ntargets {\n    nginx version=\"1.27-alpine\"\n    caddy version=\"2.8.4\"\n}\n";
    assert_eq!(error_codes(ok), Vec::<String>::new());
}

#[test]
fn k8s_classes_are_object_names() {
    for prop in ["ingress-class", "storage-class", "cluster-issuer"] {
        let src = format!("stack \"shop\"\ntargets {{\n    k8s {prop}=\"nginx\\nx: y\"\n}}\n");
        assert_eq!(error_codes(&src), ["E0201"], "{prop}");
        let src = format!("stack \"shop\"\ntargets {{\n    k8s {prop}=\"fast-ssd.example.com\"\n}}\n");
        assert_eq!(error_codes(&src), Vec::<String>::new(), "{prop}");
    }
    assert_eq!(error_codes("stack \"shop\"\nvolume \"data\" class=\"Fast SSD\"\n"), ["E0201"]);
}

#[test]
fn scrape_targets_are_host_and_port() {
    let scrape = |t: &str| format!("stack \"shop\"\nmonitoring {{\n    scrape \"legacy\" target=\"{t}\"\n}}\n");
    for bad in ["legacy.internal", "bad host:9100", "legacy:0", "legacy:x", "[::1:9100", "*.x.com:1", "a\\nb:1"] {
        let codes = error_codes(&scrape(bad));
        assert!(codes == ["E0307"] || codes == ["E0301"], "{bad}: {codes:?}");
    }
    for ok in ["legacy.internal:9100", "10.0.0.5:9100", "[2001:db8::1]:9100", "localhost:9090"] {
        assert_eq!(error_codes(&scrape(ok)), Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn control_characters_are_refused_in_env_values_and_strings() {
    // NUL, a carriage return, an escape, DEL and a C1 control: in an env value…
    for c in ["\\u{0}", "\\r", "\\u{1b}", "\\u{7f}", "\\u{85}"] {
        let src = format!("stack \"shop\"\n{API}    env A=\"x{c}y\"\n}}\n");
        assert_eq!(error_codes(&src), ["E0318"], "{c}");
    }
    // … but a tab and a line break are data there (a PEM certificate, say).
    let src = format!("stack \"shop\"\n{API}    env A=\"x\\ty\\nz\"\n}}\n");
    assert_eq!(error_codes(&src), Vec::<String>::new());
    // Single-line strings refuse the line break too: a basic-auth user, a log tag, a label.
    for line in [
        "    user \"app\\nroot\"\n",
        "    logging driver=\"syslog\" tag=\"a\\nb\"\n",
        "    labels team=\"a\\nb\"\n",
        "    labels \"te\\nam\"=\"a\"\n",
        "    labels team=\"a\\u{2028}b\"\n",
        "    env A=\"a\\u{0}${x}\"\n",
    ] {
        let src = format!("stack \"shop\"\nparam \"x\" default=\"1\"\n{API}{line}}}\n");
        assert_eq!(error_codes(&src), ["E0318"], "{line}");
    }
}

#[test]
fn header_names_are_tokens_and_values_are_bounded() {
    let site = |header: &str| {
        format!("stack \"shop\"\n{API}}}\nsite \"shop.example.com\" {{\n    {header}\n    route \"/\" to=\"api\"\n}}\n")
    };
    assert_eq!(error_codes(&site("header \"X Team\" \"a\"")), ["E0318"]);
    assert_eq!(error_codes(&site("header \"X-Team:\" \"a\"")), ["E0318"]);
    assert_eq!(error_codes(&site("header \"X-Team\" \"a\\nadd_header X-Evil 1\"")), ["E0318"]);
    let big = "a".repeat(1 << 20);
    assert_eq!(error_codes(&site(&format!("header \"X-Big\" \"{big}\""))), ["E0318"]);
    let fits = "a".repeat(4096);
    assert_eq!(error_codes(&site(&format!("header \"X-Big\" \"{fits}\""))), Vec::<String>::new());
    // A basic-auth user cannot hold htpasswd's separator.
    let src = site("basic-auth \"ad:min\" password-hash=(secret)\"h\"").replacen(
        "stack \"shop\"\n",
        "stack \"shop\"\nsecret \"h\" env=\"H\"\n",
        1,
    );
    assert_eq!(error_codes(&src), ["E0318"]);
    // A param default is checked once substituted, in free `KEY=value` properties too.
    let label = format!("stack \"shop\"\nparam \"team\" default=\"a\\nb\"\n{API}    labels team=\"${{team}}\"\n}}\n");
    assert_eq!(error_codes(&label), ["E0318"]);
    // A param default is checked once substituted.
    let src = site("header \"X-Team\" \"${team}\"").replacen(
        "stack \"shop\"\n",
        "stack \"shop\"\nparam \"team\" default=\"a\\nb\"\n",
        1,
    );
    assert_eq!(error_codes(&src), ["E0318"]);
}

// 4. `$(` in the Kubernetes backup CronJob

#[test]
fn backup_env_values_are_the_same_literal_in_compose_and_kubernetes() {
    let src = "stack \"shop\"\nsecret \"db-password\" env=\"DB_PASSWORD\"\nservice \"db\" {\n    image \"postgres:16-alpine\"\n    port 5432\n    env POSTGRES_PASSWORD=(secret)\"db-password\"\n}\nbackup \"db\" service=\"db\" schedule=\"0 3 * * *\" to=\"/var/backups/db\" user=\"u$(id)\" database=\"d$$x\"\n";
    let (files, diags) = build(src, &[TargetKind::Compose, TargetKind::K8s]);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    // compose: the dump script sets them as quoted sh words; sh reads the literal.
    let script = file(&files, "backup/db-dump.sh");
    let sh_value = |var: &str| {
        let at = script.find(&format!("then {var}=")).unwrap_or_else(|| panic!("{var} in {script}"));
        let assignment = script[at + 5..].split("; fi").next().unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("{assignment}; printf %s \"${var}\"")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(sh_value("PGUSER"), "u$(id)", "{script}");
    assert_eq!(sh_value("PGDATABASE"), "d$x", "{script}");
    // Kubernetes expands `$(VAR)` and reads `$$` as `$`, so a `$` before `(` or `$` is
    // doubled; a lone `$` is literal there already.
    let cron = file(&files, "k8s/cronjob-backup-db.yaml");
    let value_of = |var: &str| {
        let at = cron.find(&format!("- name: {var}\n")).unwrap_or_else(|| panic!("{var} in {cron}"));
        let line = cron[at..].lines().nth(1).unwrap().trim();
        line.strip_prefix("value: ").unwrap().to_string()
    };
    assert_eq!(value_of("PGUSER"), "u$$(id)");
    assert_eq!(value_of("PGDATABASE"), "d$x");
    // What the container gets: Kubernetes turns `$$` into `$` and leaves other `$` alone.
    for var in ["PGUSER", "PGDATABASE"] {
        assert_eq!(value_of(var).replace("$$", "$"), sh_value(var), "{var}");
    }
}

// 5. Invisible characters

#[test]
fn invisible_characters_are_escaped_in_yaml_and_refused_elsewhere() {
    let src = format!("stack \"shop\"\n{API}    env GREETING=\"hi \\u{{202E}}txt.exe\" Z=\"a\\u{{200B}}b\"\n}}\n");
    let (files, diags) = build(&src, &[TargetKind::Compose, TargetKind::K8s]);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    for path in ["docker-compose.yml", "k8s/deployment-api.yaml"] {
        let text = file(&files, path);
        assert!(!text.chars().any(stackc::ir::is_hidden), "{path} holds a raw invisible character:\n{text}");
        assert!(text.contains("\"hi \\u202Etxt.exe\""), "{path}:\n{text}");
        assert!(text.contains("\"a\\u200Bb\""), "{path}:\n{text}");
    }
    // Where no escape exists (nginx, Caddy, shell), the value is refused.
    let site = format!("stack \"shop\"\n{API}}}\nsite \"shop.example.com\" {{\n    header \"X-A\" \"a\\u{{202E}}b\"\n    route \"/\" to=\"api\"\n}}\n");
    assert_eq!(error_codes(&site), ["E0318"]);
    let fw = "stack \"shop\"\nfirewall {\n    allow 22 comment=\"ssh\\u{2066}\"\n}\n";
    assert_eq!(error_codes(fw), ["E0318"]);
    // A param's default reaches `.env.example`, which has no escape either (also with an
    // environment, where the rule runs once per merged stack: still one error).
    let param = "stack \"shop\"\nparam \"p\" default=\"a\\u{202E}b\" env=\"P\"\nenv \"dev\" {\n}\n";
    assert_eq!(error_codes(param), ["E0318"]);
    assert_eq!(first_error_at(param), param.find("\"a\\u").unwrap());
}

#[test]
fn free_text_and_promql_may_span_lines() {
    let src = "stack \"shop\"\nalerts \"api\" {\n    alert \"ApiDown\" expr=\"sum(up)\\n  == 0\" {\n        summary \"down\\nfor real \\u{200D}\"\n        description \"line one\\nline two\"\n    }\n}\n";
    assert_eq!(error_codes(src), Vec::<String>::new());
}

#[test]
fn the_yaml_writer_escapes_invisible_characters_in_every_scalar_style() {
    use std::collections::BTreeMap;
    let tricky = [
        "plain \u{202E}x",
        "it's \u{202E}",
        "quote \" and \\ \u{2066}",
        "line\nbreak \u{200B}",
        "colon: \u{FEFF}",
        "- dash \u{200D}",
        "\u{202E}",
        "#hash \u{061C}",
        "a long value with spaces that goes on and on, well past any folding column, to see that it stays on one line \u{202E} and more words after it",
        "a long value with a quote ' and a line break \n that goes on and on, well past any folding column, on one line \u{202E} and more",
    ];
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, t) in tricky.iter().enumerate() {
        map.insert(format!("k{i} \u{202E}"), vec![t.to_string(), "plain".into()]);
        map.insert((*t).to_string(), vec![]);
    }
    let text = stackc::emit::yaml(&map);
    assert!(!text.chars().any(stackc::ir::is_hidden), "{text}");
    // Read back by PyYAML (stackc has no YAML reader): the same strings.
    let Some(back) = yaml_as_json(&text) else { return };
    assert_eq!(back, serde_json::to_value(&map).unwrap(), "{text}");
}

/// `text` read by PyYAML (the compose venv's Python), as JSON; `None` when it is missing
/// outside CI.
fn yaml_as_json(text: &str) -> Option<serde_json::Value> {
    use std::io::Write;
    let py = support::root().join(".ci/tools/compose/bin/python");
    if !py.is_file() {
        assert!(!support::in_ci(), "the compose venv is not installed: CI must run .ci/install-validators first");
        support::report_not_run("the compose venv (PyYAML) is not installed; run .ci/install-validators");
        return None;
    }
    let mut child = std::process::Command::new(py)
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "PyYAML cannot read:\n{text}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

// 6. One shell quoting

#[test]
fn a_health_url_with_shell_characters_is_one_quoted_word() {
    let src = "stack \"shop\"\nservice \"api\" {\n    image \"ghcr.io/acme/api:1.4.2\"\n    port 3001\n    health http=\"/h?a=1&b=2\"\n}\n";
    let (files, diags) = build(src, &[TargetKind::Compose]);
    assert!(errors(&diags).is_empty(), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    // Bare, `&` ended the command and `?` was a glob.
    assert!(compose.contains("wget -q -O /dev/null 'http://127.0.0.1:3001/h?a=1&b=2' ||"), "{compose}");
}

#[test]
fn a_bad_character_next_to_a_param_is_reported_once() {
    let src = "stack \"shop\"\nparam \"x\" default=\"1\"\nfirewall {\n    allow 22 comment=\"a\\u{0}${x}\"\n}\n";
    assert_eq!(error_codes(src), ["E0318"]);
}
