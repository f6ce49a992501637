//! "Did you mean" costs the same however long the names in a (broken or hostile) file
//! are: names far longer than any real one are not compared at all, and one suggestion
//! looks at a bounded number of candidates.

use std::time::{Duration, Instant};

use stackc::diagnostics::did_you_mean;

#[test]
fn suggestions_have_bounded_cost() {
    // The mutation test's case: a name that is `${image-tag}` repeated many times.
    let huge = "${image-tag}".repeat(100_000);
    let started = Instant::now();
    assert_eq!(did_you_mean("image-tag", [huge.as_str()]), None);
    assert_eq!(did_you_mean(&huge, ["image-tag", huge.as_str()]), None);
    let many: Vec<String> = (0..100_000).map(|i| format!("service-{i}")).collect();
    for _ in 0..10 {
        assert_eq!(did_you_mean("servise-7", many.iter().map(String::as_str)), Some("service-7"));
    }
    // Without the bounds, comparing `huge` with itself alone would take many minutes.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}
