//! One-character typos in the example stacks (a node name, a property, a reference, a
//! value): the first new diagnostic is the root cause with the right suggestion, and
//! nothing else follows from the typo (no "unknown service" for a misspelt declaration, no
//! "needs `image`" for a misspelt `image`, no "no health check" for a misspelt `health`).

mod support;

use stackc::diagnostics::Diagnostic;
use support::root;

/// A typo: the example, the text changed (its first occurrence), what it becomes, and the
/// code, a part of the message and a part of the help of the first diagnostic expected.
type Typo = (&'static str, &'static str, &'static str, &'static str, &'static str, &'static str);

const TYPOS: &[Typo] = &[
    // Node names.
    (
        "fullstack",
        "service \"redis\" {",
        "servce \"redis\" {",
        "E0102",
        "unknown node `servce`",
        "did you mean `service`?",
    ),
    (
        "contravento",
        "\nnetwork \"contravento-network\"",
        "\nnetwrok \"contravento-network\"",
        "E0102",
        "unknown node `netwrok`",
        "did you mean `network`?",
    ),
    (
        "freshtrack",
        "secret \"minio-user\" file=",
        "secrt \"minio-user\" file=",
        "E0102",
        "unknown node `secrt`",
        "did you mean `secret`?",
    ),
    (
        "fullstack",
        "image \"redis:7-alpine\"",
        "imge \"redis:7-alpine\"",
        "E0102",
        "unknown node `imge`",
        "did you mean `image`?",
    ),
    ("cobalt", "    health ", "    helth ", "E0102", "unknown node `helth`", "did you mean `health`?"),
    ("fullstack", "env \"staging\" {", "evn \"staging\" {", "E0102", "unknown node `evn`", "did you mean `env`?"),
    // Property names.
    (
        "fullstack",
        "port 3000 name=\"http\"",
        "port 3000 nmae=\"http\"",
        "E0103",
        "no property `nmae`",
        "did you mean `name`?",
    ),
    (
        "fullstack",
        "scale-down percent=50 period=",
        "scale-down percent=50 perod=",
        "E0103",
        "no property `perod`",
        "did you mean `period`?",
    ),
    (
        "fullstack",
        "depends-on \"postgres\" healthy=",
        "depends-on \"postgres\" helthy=",
        "E0103",
        "no property `helthy`",
        "did you mean `healthy`?",
    ),
    (
        "freshtrack",
        "secret \"jwt-secret\" file=",
        "secret \"jwt-secret\" flie=",
        "E0103",
        "no property `flie`",
        "did you mean `file`?",
    ),
    // References.
    (
        "fullstack",
        "route \"/\" to=\"web\"",
        "route \"/\" to=\"wbe\"",
        "E0203",
        "unknown service `wbe`",
        "did you mean `web`?",
    ),
    (
        "cobalt",
        "depends-on \"postgres\"",
        "depends-on \"postgers\"",
        "E0203",
        "unknown service `postgers`",
        "did you mean `postgres`?",
    ),
    ("cobalt", "${image-tag}", "${image-tga}", "E0207", "`${image-tga}` names no param", "did you mean `image-tag`?"),
    (
        "cashstage",
        "env-from \"mustache-config\"",
        "env-from \"mustache-confg\"",
        "E0212",
        "`mustache-confg`",
        "did you mean `mustache-config`?",
    ),
    (
        "cashstage",
        "(secret)\"jwt-secret\"",
        "(secert)\"jwt-secret\"",
        "E0111",
        "`(secert)`",
        "did you mean `(secret)`?",
    ),
    // An overlay of a service the base does not declare.
    (
        "fullstack",
        "    service \"api\" {\n        // the compose",
        "    service \"apii\" {\n        // the compose",
        "E0203",
        "changes service `apii`",
        "did you mean `api`?",
    ),
];

fn check(text: &str) -> Vec<Diagnostic> {
    stackc::compile("t.stack.kdl", text, &stackc::Options::default()).diagnostics
}

/// A diagnostic without its position: a typo of a different length moves the ones after it.
fn key(d: &Diagnostic) -> (String, String, Option<String>) {
    (d.code.as_str().to_string(), d.message.clone(), d.help.clone())
}

#[test]
fn the_first_diagnostic_of_a_typo_is_its_root_cause() {
    assert!(TYPOS.len() >= 10);
    let mut problems = Vec::new();
    for &(example, from, to, code, message, help) in TYPOS {
        let path = root().join("examples").join(format!("{example}.stack.kdl"));
        let original = std::fs::read_to_string(&path).expect("the example is readable");
        assert!(original.contains(from), "{example}: no {from:?}");
        let before: Vec<_> = check(&original).iter().map(key).collect();
        assert!(before.iter().all(|k| k.0.starts_with('W')), "{example}: the example has errors: {before:?}");
        let text = original.replacen(from, to, 1);
        let new: Vec<Diagnostic> = check(&text).into_iter().filter(|d| !before.contains(&key(d))).collect();
        let what = format!("{example} {from:?} -> {to:?}");
        let Some(first) = new.first() else {
            problems.push(format!("{what}: no diagnostic"));
            continue;
        };
        let first_help = first.help.clone().unwrap_or_default();
        if first.code.as_str() != code || !first.message.contains(message) || !first_help.contains(help) {
            problems.push(format!(
                "{what}: first is {} {:?} (help {first_help:?})",
                first.code.as_str(),
                first.message
            ));
        }
        if new.len() > 1 {
            let rest: Vec<String> = new[1..].iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
            problems.push(format!("{what}: cascade {rest:?}"));
        }
    }
    assert!(problems.is_empty(), "{} problem(s):\n{}", problems.len(), problems.join("\n"));
}
