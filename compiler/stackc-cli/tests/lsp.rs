//! `stackc lsp` driven over JSON-RPC on stdio, as an editor drives it: initialize, open a
//! document with a mistake (diagnostics with the code, range, help and related location of
//! `stackc check`), fix it (diagnostics cleared), format, close, shut down.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stackc"))
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stackc lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server { child, stdin, stdout }
    }

    fn send(&mut self, msg: Value) {
        let body = msg.to_string();
        write!(self.stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).unwrap();
        self.stdin.flush().unwrap();
    }

    fn receive(&mut self) -> Value {
        let mut len = 0;
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "the server closed its output");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(n) = line.strip_prefix("Content-Length: ") {
                len = n.parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        self.stdout.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    /// The next message with this method (a notification) or id (a response).
    fn wait_for(&mut self, method_or_id: Value) -> Value {
        loop {
            let msg = self.receive();
            if msg.get("method") == Some(&method_or_id)
                || (msg.get("method").is_none() && msg.get("id") == Some(&method_or_id))
            {
                return msg;
            }
        }
    }
}

const URI: &str = "file:///work/shop.stack.kdl";

/// The labels of a completion response.
fn labels(r: &Value) -> Vec<String> {
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|i| i["label"].as_str().unwrap().to_string())
        .collect()
}

/// A server after the handshake, with `text` open at [`URI`]; and its capabilities.
fn opened(text: &str) -> (Server, Value) {
    let mut s = Server::start();
    s.send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}));
    let caps = s.wait_for(json!(1))["result"]["capabilities"].clone();
    s.send(json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}));
    s.send(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": URI, "languageId": "kdl", "version": 1, "text": text}}}));
    (s, caps)
}

#[test]
fn diagnostics_as_you_type_formatting_and_shutdown() {
    // `imagee` on line 2 (0-based 1), after four spaces.
    let (mut s, caps) = opened("service \"api\" {\n    imagee \"nginx:1.27\"\n}\n");
    assert_eq!(caps["documentFormattingProvider"], json!(true), "{caps}");
    let pub1 = s.wait_for(json!("textDocument/publishDiagnostics"));
    assert_eq!(pub1["params"]["uri"], json!(URI));
    let diags = pub1["params"]["diagnostics"].as_array().unwrap();
    let unknown = diags.iter().find(|d| d["code"] == json!("E0102")).unwrap_or_else(|| panic!("{pub1}"));
    assert_eq!(
        unknown["range"],
        json!({"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 10}}),
        "{unknown}"
    );
    assert_eq!(unknown["severity"], json!(1));
    assert_eq!(unknown["source"], json!("stackc"));
    assert!(unknown["message"].as_str().unwrap().contains("help: "), "{unknown}");
    assert!(unknown["message"].as_str().unwrap().contains("`image`"), "{unknown}");

    // Fixed, but badly indented, with another mistake after characters outside the BMP.
    let fixed = "service \"api\" {\n  description \"fast\"\n        image \"nginx:1.27\"\n  labels a=\"🚀🚀\" b=3\n}\n";
    s.send(json!({"jsonrpc": "2.0", "method": "textDocument/didChange", "params": {
        "textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": fixed}]}}));
    let pub2 = s.wait_for(json!("textDocument/publishDiagnostics"));
    let diags = pub2["params"]["diagnostics"].as_array().unwrap();
    let bad = diags.iter().find(|d| d["code"] == json!("E0106")).unwrap_or_else(|| panic!("{pub2}"));
    // The value `3` is at UTF-16 column 20: each 🚀 is two units (it is character 18).
    assert_eq!(bad["range"]["start"], json!({"line": 3, "character": 20}), "{bad}");
    assert!(diags.iter().all(|d| d["code"] != json!("E0102")), "{pub2}");

    s.send(json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/formatting", "params": {
        "textDocument": {"uri": URI}, "options": {"tabSize": 4, "insertSpaces": true}}}));
    let fmt = s.wait_for(json!(2));
    let edits = fmt["result"].as_array().unwrap_or_else(|| panic!("{fmt}"));
    assert_eq!(edits.len(), 1, "{fmt}");
    assert_eq!(
        edits[0]["newText"],
        json!("service \"api\" {\n    description \"fast\"\n    image \"nginx:1.27\"\n    labels a=\"🚀🚀\" b=3\n}\n")
    );
    assert_eq!(edits[0]["range"]["end"], json!({"line": 5, "character": 0}));

    s.send(json!({"jsonrpc": "2.0", "method": "textDocument/didClose", "params": {"textDocument": {"uri": URI}}}));
    let pub3 = s.wait_for(json!("textDocument/publishDiagnostics"));
    assert_eq!(pub3["params"]["diagnostics"], json!([]));

    s.send(json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/semanticTokens/full", "params": {}}));
    let unknown_method = s.wait_for(json!(3));
    assert_eq!(unknown_method["error"]["code"], json!(-32601), "{unknown_method}");

    s.send(json!({"jsonrpc": "2.0", "id": 4, "method": "shutdown"}));
    let down = s.wait_for(json!(4));
    assert_eq!(down["result"], Value::Null, "{down}");
    s.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn hover_and_completion_come_from_the_schema() {
    let (mut s, caps) = opened("service \"api\" {\n    health cmd=\"true\" interval=\"5s\"\n    \n}\n");
    assert_eq!(caps["hoverProvider"], json!(true), "{caps}");
    let at = |line: u32, character: u32| json!({"textDocument": {"uri": URI}, "position": {"line": line, "character": character}});

    // On the node name `health`: path, summary, usage and its properties.
    s.send(json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/hover", "params": at(1, 6)}));
    let h = s.wait_for(json!(2));
    let md = h["result"]["contents"]["value"].as_str().unwrap_or_else(|| panic!("{h}"));
    assert!(md.starts_with("**`service > health`**: "), "{md}");
    assert!(md.contains("```kdl\nhealth [http=…]"), "{md}");
    assert!(md.contains("- `retries=`: an integer from 1 to 100"), "{md}");
    // On the property `interval="5s"`: its kind.
    s.send(json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/hover", "params": at(1, 25)}));
    let h = s.wait_for(json!(3));
    let md = h["result"]["contents"]["value"].as_str().unwrap_or_else(|| panic!("{h}"));
    assert!(md.starts_with("**`interval=`** of `service > health`: "), "{md}");

    // Inside the service block: the nodes a service takes.
    s.send(json!({"jsonrpc": "2.0", "id": 4, "method": "textDocument/completion", "params": at(2, 4)}));
    let inside = labels(&s.wait_for(json!(4)));
    assert!(inside.contains(&"image".to_string()) && inside.contains(&"depends-on".to_string()), "{inside:?}");
    assert!(!inside.contains(&"service".to_string()), "{inside:?}");
    // On the health line: the properties it does not have yet.
    s.send(json!({"jsonrpc": "2.0", "id": 5, "method": "textDocument/completion", "params": at(1, 40)}));
    let props = labels(&s.wait_for(json!(5)));
    assert!(props.contains(&"retries=".to_string()) && !props.contains(&"interval=".to_string()), "{props:?}");
    // After the service: the top-level nodes.
    s.send(json!({"jsonrpc": "2.0", "id": 6, "method": "textDocument/completion", "params": at(4, 0)}));
    let top = labels(&s.wait_for(json!(6)));
    assert!(top.contains(&"service".to_string()) && top.contains(&"targets".to_string()), "{top:?}");

    s.send(json!({"jsonrpc": "2.0", "id": 7, "method": "shutdown"}));
    s.wait_for(json!(7));
    s.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert!(s.child.wait().unwrap().success());
}

/// Names across the file: definition, references, rename (and its refusals), the completion
/// of references and enum values, and the quick fix of a "did you mean".
#[test]
fn names_go_to_their_definition_rename_everywhere_and_typos_get_a_quick_fix() {
    let text = "stack \"shop\"\nparam \"tag\" default=\"1\"\nservice \"db\" {\n    image \"postgres:16\"\n}\nservice \"api\" {\n    image \"acme/api:${tag}\"\n    depends-on \"db\"\n    restart \"\"\n}\nservice \"web\" {\n    image \"acme/web:1\"\n    depends-on \"dbb\"\n}\n";
    let (mut s, caps) = opened(text);
    for cap in ["definitionProvider", "referencesProvider", "renameProvider", "codeActionProvider"] {
        assert!(caps.get(cap).is_some_and(|c| c != &json!(false)), "{cap}: {caps}");
    }
    let at = |line: u32, character: u32| json!({"textDocument": {"uri": URI}, "position": {"line": line, "character": character}});
    let range = |l1: u32, c1: u32, l2: u32, c2: u32| json!({"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}});

    // `depends-on "db"` (line 7) → `service "db"` (line 2), the name's own characters.
    s.send(json!({"jsonrpc": "2.0", "id": 2, "method": "textDocument/definition", "params": at(7, 17)}));
    let d = s.wait_for(json!(2));
    assert_eq!(d["result"], json!({"uri": URI, "range": range(2, 9, 2, 11)}), "{d}");
    // `${tag}` inside a string → `param "tag"`.
    s.send(json!({"jsonrpc": "2.0", "id": 3, "method": "textDocument/definition", "params": at(6, 23)}));
    let d = s.wait_for(json!(3));
    assert_eq!(d["result"]["range"], range(1, 7, 1, 10), "{d}");

    // References of `db` from its declaration, with and without it.
    let mut refs = |id: u64, with: bool| {
        let mut p = at(2, 10);
        p["context"] = json!({"includeDeclaration": with});
        s.send(json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/references", "params": p}));
        s.wait_for(json!(id))["result"].as_array().unwrap().iter().map(|l| l["range"].clone()).collect::<Vec<_>>()
    };
    assert_eq!(refs(4, true), [range(2, 9, 2, 11), range(7, 16, 7, 18)]);
    assert_eq!(refs(5, false), [range(7, 16, 7, 18)]);

    // Rename `db` → `database`: the declaration and the use; `dbb` (another name) untouched.
    s.send(json!({"jsonrpc": "2.0", "id": 6, "method": "textDocument/prepareRename", "params": at(7, 17)}));
    assert_eq!(s.wait_for(json!(6))["result"], range(7, 16, 7, 18));
    let mut p = at(7, 17);
    p["newName"] = json!("database");
    s.send(json!({"jsonrpc": "2.0", "id": 7, "method": "textDocument/rename", "params": p}));
    let r = s.wait_for(json!(7));
    assert_eq!(
        r["result"]["changes"][URI],
        json!([{"range": range(2, 9, 2, 11), "newText": "database"}, {"range": range(7, 16, 7, 18), "newText": "database"}]),
        "{r}"
    );
    // Refused: a name stackc does not accept, and one taken by another service.
    for (id, name, why) in [(8, "Bad_Name", "cannot name a service"), (9, "api", "exists already")] {
        let mut p = at(7, 17);
        p["newName"] = json!(name);
        s.send(json!({"jsonrpc": "2.0", "id": id, "method": "textDocument/rename", "params": p}));
        let r = s.wait_for(json!(id));
        assert!(r["error"]["message"].as_str().is_some_and(|m| m.contains(why)), "{r}");
    }
    // Not on a name: nothing to rename.
    s.send(json!({"jsonrpc": "2.0", "id": 10, "method": "textDocument/prepareRename", "params": at(3, 6)}));
    assert_eq!(s.wait_for(json!(10))["result"], Value::Null);

    // Completion inside `restart ""`: its values; inside `depends-on "dbb"`: the services.
    s.send(json!({"jsonrpc": "2.0", "id": 11, "method": "textDocument/completion", "params": at(8, 13)}));
    let restart = labels(&s.wait_for(json!(11)));
    assert!(restart.contains(&"unless-stopped".to_string()) && restart.contains(&"always".to_string()), "{restart:?}");
    s.send(json!({"jsonrpc": "2.0", "id": 12, "method": "textDocument/completion", "params": at(12, 17)}));
    assert_eq!(labels(&s.wait_for(json!(12))), ["db", "api", "web"]);

    // The quick fix of `dbb`: did you mean `db`.
    s.send(json!({"jsonrpc": "2.0", "id": 13, "method": "textDocument/codeAction", "params": {
        "textDocument": {"uri": URI}, "range": range(12, 17, 12, 17), "context": {"diagnostics": []}}}));
    let a = s.wait_for(json!(13));
    let action = &a["result"][0];
    assert_eq!(action["kind"], json!("quickfix"), "{a}");
    assert_eq!(action["edit"]["changes"][URI], json!([{"range": range(12, 15, 12, 20), "newText": "\"db\""}]), "{a}");

    s.send(json!({"jsonrpc": "2.0", "id": 14, "method": "shutdown"}));
    s.wait_for(json!(14));
    s.send(json!({"jsonrpc": "2.0", "method": "exit"}));
    assert!(s.child.wait().unwrap().success());
}

/// A real client: Neovim's built-in LSP client, headless, shows `stackc lsp`'s diagnostics
/// and hover.
#[test]
fn neovim_shows_the_diagnostics() {
    let Some(nvim) = ["/usr/bin/nvim", "/usr/local/bin/nvim"].iter().map(std::path::Path::new).find(|p| p.is_file())
    else {
        let in_ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        assert!(!in_ci, "Neovim is not installed: CI must run .ci/install-validators first");
        eprintln!("NOT RUN: Neovim is not installed; run .ci/install-validators");
        if let Some(log) = std::env::var_os("STACKC_NOT_RUN_LOG") {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
                let _ = f.write_all(b"NOT RUN: neovim_shows_the_diagnostics: Neovim is not installed\n");
            }
        }
        return;
    };
    let dir = std::env::temp_dir().join(format!("stackc-lsp-nvim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack = dir.join("shop.stack.kdl");
    std::fs::write(&stack, "service \"api\" {\n    imagee \"nginx:1.27\"\n}\n").unwrap();
    let out = dir.join("diagnostics.txt");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lsp-smoke.lua");
    let status = Command::new(nvim)
        .args(["--headless", "--clean", "-c"])
        .arg(format!("luafile {}", script.display()))
        .current_dir(&dir)
        .env("STACKC_BIN", env!("CARGO_BIN_EXE_stackc"))
        .env("STACK_FILE", &stack)
        .env("NVIM_OUT", &out)
        .env("HOME", &dir)
        .stdin(Stdio::null())
        .status()
        .expect("run nvim");
    assert!(status.success(), "{status:?}");
    let lines = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(lines.lines().any(|l| l == "1:4 E0102 unknown node `imagee`"), "{lines}");
    assert!(lines.lines().any(|l| l.starts_with("hover **`service`**: ")), "{lines}");
}
