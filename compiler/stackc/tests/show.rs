//! `stackc show` prints KDL that builds to the same files as the stack it shows: every
//! example, its base and each of its environments (`show --env NAME` builds without `--env`
//! to what `build --env NAME` writes). `--service NAME` prints that one service, expanded.

use stackc::emit::{EmitOptions, OutputFile};
use stackc::show::{show, ShowError};
use stackc::Options;

mod support;
use support::examples;

fn files(name: &str, text: &str, env: Option<&str>) -> Vec<OutputFile> {
    let opts = Options { env: env.map(str::to_string), ..Options::default() };
    let built = stackc::build(name, text, &opts, &EmitOptions { base_dir: "../..".into(), ..EmitOptions::default() });
    let errors: Vec<String> =
        built.outcome.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
    assert!(errors.is_empty(), "{name} ({env:?}): {errors:?}");
    built.files
}

#[test]
fn show_of_every_example_builds_to_the_same_files() {
    let mut checked = 0;
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = format!("examples/{}", path.file_name().unwrap().to_string_lossy());
        let envs = stackc::compile(&name, &text, &Options::default()).environments;
        for env in std::iter::once(None).chain(envs.iter().map(|e| Some(e.as_str()))) {
            let opts = Options { env: env.map(str::to_string), ..Options::default() };
            let shown = show(&name, &text, &opts, None).unwrap_or_else(|e| panic!("{name} ({env:?}): {e:?}"));
            assert!(!shown.contains("template ") && !shown.contains("use \""), "{name}: templates left in:\n{shown}");
            let want = files(&name, &text, env);
            let got = files(&name, &shown, None);
            let paths = |fs: &[OutputFile]| fs.iter().map(|f| f.path.clone()).collect::<Vec<_>>();
            assert_eq!(paths(&got), paths(&want), "{name} ({env:?})");
            // An environment's files name it (the headers, UFW's rule and block markers, the
            // DOCKER-USER chain named after stack and environment); the shown stack is that
            // environment as a stack of its own.
            let unnamed = |s: &str| match env {
                Some(e) => s
                    .replace(&format!(" (environment {e})"), "")
                    .replace(&format!("\\.{e}:"), ":")
                    .replace(&format!(".{e}:"), ":")
                    .replace(&format!("\\.{e} docker"), " docker")
                    .replace(&format!(".{e} docker"), " docker"),
                None => s.to_string(),
            };
            let chain_unnamed = |s: &str| {
                s.lines()
                    .map(|l| if l.starts_with("dk_chain='") { "dk_chain=CHAIN" } else { l })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            for (g, w) in got.iter().zip(&want) {
                let want_text = chain_unnamed(&unnamed(&w.contents));
                let got_text = chain_unnamed(&g.contents);
                assert_eq!(got_text, want_text, "{name} ({env:?}): {} differs; shown:\n{shown}", g.path);
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "{checked} stacks checked");
}

#[test]
fn show_service_prints_that_service_with_its_templates_expanded() {
    let text = r#"stack "tpl"
template "worker" {
    image "ghcr.io/acme/worker:1.0"
    env LOG_LEVEL="info" QUEUE="default"
    labels "com.example.team"="jobs"
}
service "mailer" {
    use "worker"
    env QUEUE="mail"
    command "run" "--queue=mail"
    health cmd="pgrep -f \"worker run\""
}
service "other" {
    image "nginx:1.27"
}
"#;
    let shown = show("t.stack.kdl", text, &Options::default(), Some("mailer")).unwrap();
    assert_eq!(
        shown,
        r#"service "mailer" {
    image "ghcr.io/acme/worker:1.0"
    env LOG_LEVEL="info" QUEUE="mail"
    labels com.example.team="jobs"
    command "run" "--queue=mail"
    health cmd="pgrep -f \"worker run\""
}
"#
    );
    match show("t.stack.kdl", text, &Options::default(), Some("mailr")) {
        Err(ShowError::UnknownService { name, services }) => {
            assert_eq!(name, "mailr");
            assert_eq!(services, ["mailer", "other"]);
        }
        other => panic!("{other:?}"),
    }
    // A stack with errors shows nothing: its diagnostics.
    match show("t.stack.kdl", &text.replace("use \"worker\"", "use \"wrker\""), &Options::default(), None) {
        Err(ShowError::Invalid(outcome)) => assert!(outcome.has_errors()),
        other => panic!("{other:?}"),
    }
}
