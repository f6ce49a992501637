//! `stackc import`: every compose file under `tests/import/` (the seeds' files, public
//! projects' files with their licenses, a file with every key the importer knows, and
//! generated ones) imports into a stack that checks and is formatted, matches its
//! `expected.stack.kdl`, and round-trips: Docker Compose v2 (`config --format json`) reads
//! the compose file stackc builds from it as the same model as the original, but for the
//! differences `docs/import.md` lists (applied by [`normalise`]).
//!
//! `UPDATE_GOLDEN=1` rewrites the `expected.stack.kdl` files.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Map, Value};
use support::{assert_code, stackc, stderr, stdout, TempDir};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/import")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Docker Compose v2's Go binary, or `None` (outside CI) when it is not installed.
fn compose_v2() -> Option<PathBuf> {
    let dc = root().join(".ci/tools/compose2/real/docker-compose");
    if dc.is_file() {
        return Some(dc);
    }
    assert!(!in_ci(), "Docker Compose v2 is not installed: CI must run .ci/install-validators first");
    eprintln!("NOT RUN: Docker Compose v2 (.ci/tools/compose2) is not installed; run .ci/install-validators");
    if let Some(log) = std::env::var_os("STACKC_NOT_RUN_LOG") {
        use std::io::Write as _;
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(log) {
            let _ = f.write_all(b"NOT RUN: import round trip: Docker Compose v2 is not installed\n");
        }
    }
    None
}

/// Every fixture directory: `docker-compose.yml`, then its overlays `docker-compose.*.yml`.
fn fixtures() -> Vec<(PathBuf, Vec<String>)> {
    let mut out = Vec::new();
    for group in ["seeds", "public", "features"] {
        let dir = fixtures_dir().join(group);
        let mut dirs: Vec<PathBuf> = if dir.join("docker-compose.yml").is_file() {
            vec![dir]
        } else {
            fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect()
        };
        dirs.sort();
        for d in dirs {
            let mut overlays: Vec<String> = fs::read_dir(&d)
                .unwrap()
                .filter_map(|e| e.unwrap().file_name().into_string().ok())
                .filter(|n| n.starts_with("docker-compose.") && n.ends_with(".yml") && n != "docker-compose.yml")
                .collect();
            overlays.sort();
            let mut files = vec!["docker-compose.yml".to_string()];
            files.extend(overlays);
            out.push((d, files));
        }
    }
    out
}

/// The variables a compose file refers to, each set to a value of its own, so that both
/// models interpolate the same way (and a required param is set).
fn variables(texts: &[String]) -> Vec<(String, String)> {
    let mut vars = BTreeSet::new();
    for t in texts {
        let b = t.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'$' && b.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            if b[i] == b'$' {
                let start = if b.get(i + 1) == Some(&b'{') { i + 2 } else { i + 1 };
                let end = (start..b.len()).find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_')).unwrap_or(b.len());
                if end > start {
                    vars.insert(t[start..end].to_string());
                }
                i = end.max(i + 1);
                continue;
            }
            i += 1;
        }
    }
    vars.into_iter().map(|v| (v.clone(), format!("value-{}", v.to_ascii_lowercase().replace('_', "-")))).collect()
}

fn config(dc: &Path, dir: &Path, files: &[&str], vars: &[(String, String)]) -> Value {
    let mut cmd = Command::new(dc);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    let out = cmd
        .args(["config", "--format", "json"])
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // 12. Profiles: every service of the stack runs.
        .env("COMPOSE_PROFILES", "*")
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run docker-compose");
    assert!(out.status.success(), "docker compose config in {}:\n{}", dir.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from docker compose config")
}

/// The name a compose name gets in a stack (`my_db` → `my-db`).
fn kebab(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

fn rename_keys(v: &mut Value) {
    if let Some(m) = v.as_object_mut() {
        *m = std::mem::take(m).into_iter().map(|(k, v)| (kebab(&k), v)).collect();
    }
}

/// The documented differences (docs/import.md, "Round trip"), applied to both models.
fn normalise(model: &mut Value, original: bool, implicit_network: &str) {
    let m = model.as_object_mut().unwrap();
    // 1. The project name: the directory's for compose, the stack's name for stackc.
    m.remove("name");
    // Extension fields only carry anchors, resolved where they are used.
    m.retain(|k, _| !k.starts_with("x-"));
    // 2. The implicit network is compose's `default`, and the stack's own name in stackc.
    if let Some(nets) = m.get_mut("networks").and_then(Value::as_object_mut) {
        if let Some(n) = nets.remove(implicit_network) {
            nets.insert("default".into(), n);
        }
        for n in nets.values_mut() {
            if let Some(n) = n.as_object_mut() {
                n.remove("name");
            }
        }
        rename_keys(m.get_mut("networks").unwrap());
    }
    for section in ["volumes", "secrets"] {
        if let Some(items) = m.get_mut(section).and_then(Value::as_object_mut) {
            for item in items.values_mut() {
                if let Some(item) = item.as_object_mut() {
                    item.remove("name");
                }
            }
            rename_keys(m.get_mut(section).unwrap());
        }
    }
    let Some(services) = m.get_mut("services") else { return };
    rename_keys(services);
    for svc in services.as_object_mut().unwrap().values_mut() {
        let svc = svc.as_object_mut().unwrap();
        // 3. Keys the stack language does not have (reported by the import).
        for k in ["container_name", "profiles", "extra_hosts", "env_file"] {
            svc.remove(k);
        }
        // 4. A `CMD` health check test becomes one shell command.
        if let Some(test) = svc.get_mut("healthcheck").and_then(|h| h.get_mut("test")) {
            let words: Vec<String> =
                test.as_array().unwrap().iter().map(|w| w.as_str().unwrap_or_default().to_string()).collect();
            if words.first().map(String::as_str) == Some("CMD") {
                let joined: Vec<String> = words[1..].iter().map(|w| stackc::emit::shell_word(w)).collect();
                *test = json!(["CMD-SHELL", joined.join(" ")]);
            }
        }
        // 13. Service-level `cpus`, `mem_limit`, `mem_reservation`, `pids_limit` and
        // `restart: on-failure:N` are written in `deploy`, and an empty placement dropped.
        for (key, section, item) in [
            ("cpus", "limits", "cpus"),
            ("mem_limit", "limits", "memory"),
            ("mem_reservation", "reservations", "memory"),
            ("pids_limit", "limits", "pids"),
        ] {
            if let Some(v) = svc.remove(key) {
                let deploy = svc.entry("deploy").or_insert_with(|| json!({}));
                let res = deploy.as_object_mut().unwrap().entry("resources").or_insert_with(|| json!({}));
                let sec = res.as_object_mut().unwrap().entry(section).or_insert_with(|| json!({}));
                sec.as_object_mut().unwrap().insert(item.into(), v);
            }
        }
        let attempts = svc.get("restart").and_then(Value::as_str).and_then(|r| r.strip_prefix("on-failure:")).map(str::to_string);
        if let Some(n) = attempts {
            svc.insert("restart".into(), json!("on-failure"));
            let deploy = svc.entry("deploy").or_insert_with(|| json!({}));
            let policy = deploy.as_object_mut().unwrap().entry("restart_policy").or_insert_with(|| json!({}));
            policy["condition"] = json!("on-failure");
            policy["max_attempts"] = json!(n.parse::<u64>().unwrap_or_default());
        }
        if let Some(d) = svc.get_mut("deploy").and_then(Value::as_object_mut) {
            if d.get("placement").is_some_and(|p| p == &json!({})) {
                d.remove("placement");
            }
        }
        // 7. `deploy.restart_policy` without `restart:` also sets `restart:`.
        let condition = svc.get("deploy").and_then(|d| d.get("restart_policy")).map(|r| r.get("condition").and_then(Value::as_str).unwrap_or("any").to_string());
        if let (true, Some(c)) = (svc.get("restart").is_none(), condition) {
            let policy = match c.as_str() {
                "none" => "no",
                "on-failure" => "on-failure",
                _ => "always",
            };
            svc.insert("restart".into(), json!(policy));
        }
        // 8. A tmpfs mount of the long syntax is written in the short one.
        let mut tmpfs: Vec<Value> = Vec::new();
        if let Some(vols) = svc.get_mut("volumes").and_then(Value::as_array_mut) {
            vols.retain(|v| {
                if v.get("type").and_then(Value::as_str) != Some("tmpfs") {
                    return true;
                }
                let target = v["target"].as_str().unwrap_or_default();
                tmpfs.push(match v.get("tmpfs").and_then(|t| t.get("size")) {
                    Some(size) => json!(format!("{target}:size={}", size.as_str().map_or(size.to_string(), str::to_string))),
                    None => json!(target),
                });
                false
            });
            // 9. Defaults made explicit: `volume: {}`, `bind: {create_host_path: true}`.
            for v in vols.iter_mut().filter_map(Value::as_object_mut) {
                if v.get("volume").is_some_and(|x| x == &json!({})) {
                    v.remove("volume");
                }
                if v.get("bind").is_some_and(|x| x == &json!({"create_host_path": true})) {
                    v.remove("bind");
                }
            }
        }
        if !tmpfs.is_empty() {
            let list = svc.entry("tmpfs").or_insert_with(|| json!([]));
            list.as_array_mut().unwrap().extend(tmpfs);
        }
        // 10. A ulimit whose soft and hard limits are equal is written as one number.
        for (_, u) in svc.get_mut("ulimits").and_then(Value::as_object_mut).into_iter().flatten() {
            if u.get("soft").is_some() && u.get("soft") == u.get("hard") {
                *u = u["soft"].clone();
            }
        }
        // 5. Secret values are never copied: the variables whose names look secret are
        // compared by name.
        if let Some(env) = svc.get_mut("environment").and_then(Value::as_object_mut) {
            for (k, v) in env.iter_mut() {
                if stackc::validate::lints::looks_secret(k) {
                    *v = json!("<secret>");
                }
            }
        }
        // 6. Names of services, volumes, networks and secrets are kebab-case.
        for k in ["depends_on", "networks"] {
            if let Some(v) = svc.get_mut(k) {
                rename_keys(v);
            }
        }
        for k in ["volumes", "secrets"] {
            for item in svc.get_mut(k).and_then(Value::as_array_mut).into_iter().flatten() {
                let kind = item.get("type").and_then(Value::as_str).map(str::to_string);
                if let Some(src) = item.get_mut("source") {
                    if k == "secrets" || kind.as_deref() == Some("volume") {
                        *src = json!(kebab(src.as_str().unwrap_or_default()));
                    }
                }
                // 11. A secret's target is an absolute path: the default and a relative
                // target are under /run/secrets.
                if let Some(item) = item.as_object_mut() {
                    if k == "secrets" {
                        let src = item["source"].as_str().unwrap_or_default().to_string();
                        let target = match item.get("target").and_then(Value::as_str) {
                            None => format!("/run/secrets/{src}"),
                            Some(t) if !t.starts_with('/') => format!("/run/secrets/{t}"),
                            Some(t) => t.to_string(),
                        };
                        item.insert("target".into(), json!(target));
                    }
                }
            }
        }
        // 7. The stack writes defaults out: `deploy.placement: {}` and the like are left
        // to compare, so nothing is dropped here that the import lost.
        let _ = original;
    }
}

/// The first difference between two JSON values, as a path and both sides.
fn diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                diff(va, vb, &format!("{path}.{k}"), out);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                diff(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{path}: original {a}, stackc {b}")),
    }
}

fn round_trip(dc: Option<&Path>, fixture: &Path, files: &[String]) -> Vec<String> {
    let tmp = TempDir::new("import");
    let dir = tmp.path().join(fixture.file_name().unwrap());
    fs::create_dir_all(&dir).unwrap();
    let mut texts = Vec::new();
    for f in files {
        let text = fs::read_to_string(fixture.join(f)).unwrap();
        fs::write(dir.join(f), &text).unwrap();
        texts.push(text);
    }
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["-o", "imported.stack.kdl"]);
    let out = stackc(&dir, &args);
    assert_code(&out, 0);
    let imported = fs::read_to_string(dir.join("imported.stack.kdl")).unwrap();

    let expected = fixture.join("expected.stack.kdl");
    let mut problems = Vec::new();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&expected, &imported).unwrap();
    } else if fs::read_to_string(&expected).ok().as_deref() != Some(imported.as_str()) {
        problems.push(format!("{}: differs from the import (UPDATE_GOLDEN=1 rewrites it):\n{imported}", expected.display()));
    }
    let check = stackc(&dir, &["check", "imported.stack.kdl"]);
    if check.status.code() != Some(0) {
        problems.push(format!("stackc check fails:\n{}", stderr(&check)));
    }
    let fmt = stackc(&dir, &["fmt", "--check", "imported.stack.kdl"]);
    if fmt.status.code() != Some(0) {
        problems.push(format!("not formatted as stackc fmt does:\n{}{}", stdout(&fmt), stderr(&fmt)));
    }
    let Some(dc) = dc else { return problems };

    let stack_name = imported
        .lines()
        .find_map(|l| l.strip_prefix("stack \"").and_then(|r| r.split('"').next()))
        .unwrap_or("stack")
        .to_string();
    // The base alone, then each overlay merged over it (as its `env`).
    let mut runs: Vec<(Vec<&str>, Option<String>)> = vec![(vec![files[0].as_str()], None)];
    for (i, f) in files.iter().enumerate().skip(1) {
        let env = imported
            .lines()
            .filter_map(|l| l.strip_prefix("env \"").and_then(|r| r.split('"').next()))
            .nth(i - 1)
            .expect("an env block per overlay")
            .to_string();
        runs.push((files[..=i].iter().map(String::as_str).collect(), Some(env)));
        let _ = f;
    }
    for (compose_files, env) in runs {
        let out_dir = format!("out-{}", env.as_deref().unwrap_or("base"));
        let mut args = vec!["build", "imported.stack.kdl", "--target", "compose", "-o", out_dir.as_str()];
        if let Some(e) = &env {
            args.extend(["--env", e.as_str()]);
        }
        let built = stackc(&dir, &args);
        if built.status.code() != Some(0) {
            problems.push(format!("stackc {}:\n{}", args.join(" "), stderr(&built)));
            continue;
        }
        // With the variables of the built file too: a secret whose value was not copied.
        let mut all = texts.clone();
        all.push(fs::read_to_string(dir.join(&out_dir).join("docker-compose.yml")).unwrap_or_default());
        let vars = variables(&all);
        let mut original = config(dc, &dir, &compose_files, &vars);
        let mut generated = config(dc, &dir.join(&out_dir), &["docker-compose.yml"], &vars);
        let declared = original.get("networks").and_then(Value::as_object).map_or(0, Map::len);
        let implicit = if original.get("networks").and_then(|n| n.get("default")).is_some() && declared == 1 {
            stack_name.clone()
        } else {
            "default".to_string()
        };
        normalise(&mut original, true, "default");
        normalise(&mut generated, false, &implicit);
        let mut d = Vec::new();
        diff(&original, &generated, "", &mut d);
        if !d.is_empty() {
            problems.push(format!("{} ({}): the models differ:\n  {}", fixture.display(), compose_files.join(" + "), d.join("\n  ")));
        }
    }
    problems
}

#[test]
fn imports_check_and_round_trip_through_docker_compose() {
    let dc = compose_v2();
    let mut problems = Vec::new();
    for (fixture, files) in fixtures() {
        problems.extend(round_trip(dc.as_deref(), &fixture, &files));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
