//! Tests for `stackc::fmt::format`, the comment-preserving KDL 2 formatter.

use std::path::{Path, PathBuf};

use stackc::fmt::{format, FmtError};

/// Formats `src`, checks the result is stable under a second pass, and returns it.
fn fmt_ok(src: &str) -> String {
    let out = format(src).unwrap_or_else(|e| panic!("format failed for {src:?}: {e:?}"));
    let again = format(&out).unwrap_or_else(|e| panic!("reformat failed for {out:?}: {e:?}"));
    assert_eq!(again, out, "formatting is not idempotent for {src:?}");
    out
}

#[track_caller]
fn check(src: &str, expected: &str) {
    assert_eq!(fmt_ok(src), expected, "input: {src:?}");
}

// The `kdl` crate's `autoformat()` loses every one of these comments.
const COMMENT_CASES: &[(&str, &[&str])] = &[
    ("a 1 // c1\nb 2", &["// c1"]),
    ("a { x 1 // c3\n}", &["// c3"]),
    ("a 1 /* c4 */ 2", &["/* c4 */"]),
    ("a {\n  // c7 inside\n}", &["// c7 inside"]),
    ("// c0 leading\na 1", &["// c0 leading"]),
    ("a 1\n// c8 trailing", &["// c8 trailing"]),
    ("a { b 1 } /* c9 after children */", &["/* c9 after children */"]),
    ("a { b 1 } // c10 after children", &["// c10 after children"]),
    ("a {\n  b 1\n  // c11 before close\n}", &["// c11 before close"]),
    ("a /* outer /* nested */ still outer */ 1", &["/* outer /* nested */ still outer */"]),
    ("a /* multi\n   line */ 1", &["/* multi\n   line */"]),
    ("/-a 1\nb", &["/-a 1"]),
    ("a /-1 2", &["/-1"]),
    ("a 1 /-{ x }", &["/-{"]),
    ("a 1; // c12 after semicolon\nb", &["// c12 after semicolon"]),
    ("a 1 \\ // c13 on continuation\n  2", &["// c13 on continuation"]),
    ("(t /* c14 */)a", &["/* c14 */"]),
    ("a k /* c15 */ = /* c16 */ 1", &["/* c15 */", "/* c16 */"]),
    ("a { /* c17 */ }", &["/* c17 */"]),
];

#[test]
fn comments_are_never_lost() {
    for (src, comments) in COMMENT_CASES {
        let out = fmt_ok(src);
        for comment in *comments {
            assert!(out.contains(comment), "comment {comment:?} lost:\ninput: {src:?}\noutput: {out:?}");
        }
    }
}

#[test]
fn comment_loss_table_exact_output() {
    check("a 1 // c1\nb 2", "a 1 // c1\nb 2\n");
    check("a { x 1 // c3\n}", "a {\n    x 1 // c3\n}\n");
    check("a 1 /* c4 */ 2", "a 1 /* c4 */ 2\n");
    check("a {\n  // c7 inside\n}", "a {\n    // c7 inside\n}\n");
    check("a { /* c */ }", "a { /* c */\n}\n");
    check("a { b } // trailing", "a {\n    b\n} // trailing\n");
}

#[test]
fn messy_indentation_is_normalised() {
    check(
        "  service   web   {\n\t  image    \"nginx\"\n        port 80   \n   env {\n  KEY \"v\"\n       }\n }\n",
        "service web {\n    image \"nginx\"\n    port 80\n    env {\n        KEY \"v\"\n    }\n}\n",
    );
    check("a{b{c}}", "a {\n    b {\n        c\n    }\n}\n");
    check("a key = 1 ( t ) 2", "a key=1 (t)2\n");
    check("(t)a (u) \"x\" k=(v)1", "(t)a (u)\"x\" k=(v)1\n");
}

#[test]
fn blank_lines_trailing_whitespace_and_final_newline() {
    check("a\n\n\n\nb", "a\n\nb\n");
    check("\n\n\na   \t\nb", "a\nb\n");
    check("a {\n\n  b\n\n\n  c\n\n}\n\n\n", "a {\n    b\n\n    c\n}\n");
    check("a // trailing spaces   \t", "a // trailing spaces\n");
    check("a\r\nb\r\n\r\n\r\nc\r\n", "a\nb\n\nc\n");
    check("", "");
    check(" \n\t\n", "");
    check("a {}\nb { }\nc {\n\n}", "a {}\nb {}\nc {}\n");
}

#[test]
fn aligned_trailing_comments_stay_aligned() {
    check(
        "svc {\n    image \"redis:7\"      // pinned\n    port 6379         // internal\n}",
        "svc {\n    image \"redis:7\"      // pinned\n    port 6379         // internal\n}\n",
    );
    // Tabs have no reliable width, so they collapse to one space.
    check("a 1\t\t// c", "a 1 // c\n");
}

#[test]
fn semicolon_separated_nodes_are_split() {
    check("a 1; b 2; c 3;", "a 1\nb 2\nc 3\n");
    check("a { b; c }", "a {\n    b\n    c\n}\n");
    check("a { b { c 1; d 2 } }; e", "a {\n    b {\n        c 1\n        d 2\n    }\n}\ne\n");
    check("a 1; /* c */ b 2", "a 1 /* c */\nb 2\n");
}

#[test]
fn slashdash_is_kept() {
    check("/- a 1\nb", "/- a 1\nb\n");
    check("/-a 1\nb", "/-a 1\nb\n");
    check("a /-1 2 /- k=v", "a /-1 2 /- k=v\n");
    check("a /-{ x } {\n y\n} /-{ z }", "a /-{\n    x\n} {\n    y\n} /-{\n    z\n}\n");
    check("  /-server {\n  port 1\n  }\nb", "/-server {\n    port 1\n}\nb\n");
    check("a 1 /-\n2 3", "a 1 /-\n    2 3\n");
}

#[test]
fn strings_and_numbers_keep_their_spelling() {
    check(
        "a #\"raw \\ // not a comment\"# ##\"x\"#y\"## \"q\" bare",
        "a #\"raw \\ // not a comment\"# ##\"x\"#y\"## \"q\" bare\n",
    );
    check(
        "a 0x1F 1_000 1.5e10 0o17 0b1010 -0.0 #true #-inf #null",
        "a 0x1F 1_000 1.5e10 0o17 0b1010 -0.0 #true #-inf #null\n",
    );
    check("a \"a;b{c}/*d*/\"", "a \"a;b{c}/*d*/\"\n");
}

#[test]
fn multi_line_strings_are_untouched() {
    // Content and closing lines of `"""` strings are kept byte for byte, even where
    // their indentation differs from the surrounding node's.
    let src = "outer {\n  script \"\"\"\n      echo hi   \n    done\n    \"\"\" 2\n}\n";
    check(src, "outer {\n    script \"\"\"\n      echo hi   \n    done\n    \"\"\" 2\n}\n");

    let raw = "  a #\"\"\"\n  raw /* not a comment\n\n  \"\"\"# b\n";
    check(raw, "a #\"\"\"\n  raw /* not a comment\n\n  \"\"\"# b\n");

    let escaped = "   a \"foo \\\n     bar\"";
    check(escaped, "a \"foo \\\n     bar\"\n");
}

#[test]
fn line_continuations_are_kept() {
    check("a 1 \\\n      2 \\ // why\n 3\nb", "a 1 \\\n    2 \\ // why\n    3\nb\n");
    check("x {\n  a \\\n  k=v\n}", "x {\n    a \\\n        k=v\n}\n");
    // An empty line after `\` ends the node; it must survive formatting.
    check("a \\\n\nb", "a \\\n\nb\n");
}

#[test]
fn block_comment_interiors_are_untouched() {
    check("a {\n  /*\n   * doc\n   */\n  b\n}", "a {\n    /*\n   * doc\n   */\n    b\n}\n");
}

#[test]
fn byte_order_mark_is_preserved() {
    check("\u{FEFF}  a 1", "\u{FEFF}a 1\n");
}

#[test]
fn invalid_input_is_an_error_with_a_byte_offset() {
    let cases: &[(&str, usize)] = &[("a {\n  b 1\n", 2), ("a 1 ]", 4), ("a b=1=2", 5), ("{ a }", 0)];
    for (src, offset) in cases {
        let err: FmtError = format(src).expect_err(src);
        assert_eq!(err.offset, *offset, "{src:?}: {err:?}");
        assert!(err.offset + err.len <= src.len(), "{src:?}: {err:?}");
        assert!(!err.message.is_empty(), "{src:?}: {err:?}");
    }
}

fn stack_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        if path.is_dir() {
            stack_files(&path, found);
        } else if path.to_string_lossy().ends_with(".stack.kdl") {
            found.push(path);
        }
    }
}

#[test]
fn formatting_is_idempotent() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files = Vec::new();
    stack_files(&dir, &mut files);
    files.sort();
    for file in &files {
        let src = std::fs::read_to_string(file).expect("readable example");
        let out = format(&src).unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
        let again = format(&out).unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
        assert_eq!(again, out, "{} is not stable", file.display());
    }
    for (src, _) in COMMENT_CASES {
        fmt_ok(src);
    }
    fmt_ok(MESSY_STACK);
    fmt_ok(TRICKY);
}

const MESSY_STACK: &str = r##"// Demo stack: web + db.
   /* Block comment before the first node */
stack "demo" version=2 {
  // Services
      service web {
     image "nginx:1.27"; replicas 3
        ports   80   443   // http + https
    env   {
            LOG_LEVEL "info"
        /-DEBUG #true
    }
  }



  service db {
    image   #"postgres:16"#
      volume "data" path="/var/lib/postgresql"  /* persistent */
    /-backup schedule="0 3 * * *" {
      target "s3://bucket"
    }
  }
}
"##;

const TRICKY: &str = "deploy   {\n\
    \tscript \"\"\"\n\
    \t\techo \"start\"   \n\
    \t\t/* not a comment */ // neither\n\
    \t\t\"\"\" \\\n\
    \t\t\ttimeout=\"30s\"\n\
    \t(duration)retry 0x1F 1_000; limits { cpu 2;mem \"1Gi\" }\n\
    \t/-(disabled)canary {\n\
    \t\tweight 5 /* nested /* block */ comment */\n\
    \t}\n\
    }\n";

#[test]
fn snapshot_messy_stack() {
    insta::with_settings!({ description => MESSY_STACK, omit_expression => true }, {
        insta::assert_snapshot!(fmt_ok(MESSY_STACK));
    });
}

#[test]
fn snapshot_tricky_tokens() {
    insta::with_settings!({ description => TRICKY, omit_expression => true }, {
        insta::assert_snapshot!(fmt_ok(TRICKY));
    });
}
