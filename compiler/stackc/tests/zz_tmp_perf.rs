#[test]
fn perf() {
    for n in [250usize, 500, 1000] {
        let name = "${image-tag}".repeat(n);
        let text = format!("param \"{name}\" default=\"1.4.2\"\nservice \"api\" {{\n    image \"ghcr.io/acme/api:${{imge-tag}}\"\n}}\n");
        let t = std::time::Instant::now();
        let out = stackc::compile("x", &text, &stackc::Options::default());
        eprintln!("n={n} compile {:?} diags {}", t.elapsed(), out.diagnostics.len());
        for d in out.diagnostics.iter().take(3) {
            eprintln!("  {} {}", d.code.as_str(), d.message.chars().take(100).collect::<String>());
        }
        let name = "x".repeat(n * 12);
        let text = format!("param \"{name}\" default=\"1.4.2\"\nservice \"api\" {{\n    image \"ghcr.io/acme/api:${{imge-tag}}\"\n}}\n");
        let t = std::time::Instant::now();
        let out = stackc::compile("x", &text, &stackc::Options::default());
        eprintln!("  plain long name n={n} compile {:?} diags {}", t.elapsed(), out.diagnostics.len());
    }
}
