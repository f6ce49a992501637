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
    for group in ["seeds", "public", "features", "extends"] {
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
                let end =
                    (start..b.len()).find(|&j| !(b[j].is_ascii_alphanumeric() || b[j] == b'_')).unwrap_or(b.len());
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
        // Profiles: every service of the stack runs.
        .env("COMPOSE_PROFILES", "*")
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run docker-compose");
    assert!(
        out.status.success(),
        "docker compose config in {}:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
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
fn normalise(model: &mut Value, implicit_network: &str) {
    let m = model.as_object_mut().unwrap();
    // The project name: the directory's for compose, the stack's name for stackc.
    m.remove("name");
    // Extension fields only carry anchors, resolved where they are used.
    m.retain(|k, _| !k.starts_with("x-"));
    // The implicit network is compose's `default`, and the stack's own name in stackc.
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
        // A key the stack language does not have (reported by the import).
        svc.remove("extra_hosts");
        // stackc's secure default (`docs/targets/compose.md`): every service gets
        // `no-new-privileges:true` unless the stack opts out.
        if let Some(opts) = svc.get_mut("security_opt").and_then(Value::as_array_mut) {
            opts.retain(|o| o != "no-new-privileges:true");
            if opts.is_empty() {
                svc.remove("security_opt");
            }
        }
        // A `CMD` health check test becomes one shell command.
        if let Some(test) = svc.get_mut("healthcheck").and_then(|h| h.get_mut("test")) {
            let words: Vec<String> =
                test.as_array().unwrap().iter().map(|w| w.as_str().unwrap_or_default().to_string()).collect();
            if words.first().map(String::as_str) == Some("CMD") {
                let joined: Vec<String> = words[1..].iter().map(|w| stackc::emit::shell_word(w)).collect();
                *test = json!(["CMD-SHELL", joined.join(" ")]);
            }
        }
        // Service-level `cpus`, `mem_limit`, `mem_reservation`, `pids_limit` and
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
        let attempts =
            svc.get("restart").and_then(Value::as_str).and_then(|r| r.strip_prefix("on-failure:")).map(str::to_string);
        if let Some(n) = attempts {
            svc.insert("restart".into(), json!("on-failure"));
            let deploy = svc.entry("deploy").or_insert_with(|| json!({}));
            let policy = deploy.as_object_mut().unwrap().entry("restart_policy").or_insert_with(|| json!({}));
            policy["condition"] = json!("on-failure");
            policy["max_attempts"] = json!(n.parse::<u64>().unwrap_or_default());
        }
        // `replicas: 1` is the default, which the stack leaves out.
        if let Some(d) = svc.get_mut("deploy").and_then(Value::as_object_mut) {
            if d.get("placement").is_some_and(|p| p == &json!({})) {
                d.remove("placement");
            }
            if d.get("replicas") == Some(&json!(1)) {
                d.remove("replicas");
            }
        }
        if svc.get("deploy").is_some_and(|d| d == &json!({})) {
            svc.remove("deploy");
        }
        // `deploy.restart_policy` without `restart:` also sets `restart:`.
        let condition = svc
            .get("deploy")
            .and_then(|d| d.get("restart_policy"))
            .map(|r| r.get("condition").and_then(Value::as_str).unwrap_or("any").to_string());
        if let (true, Some(c)) = (svc.get("restart").is_none(), condition) {
            let policy = match c.as_str() {
                "none" => "no",
                "on-failure" => "on-failure",
                _ => "always",
            };
            svc.insert("restart".into(), json!(policy));
        }
        // A tmpfs mount of the long syntax is written in the short one.
        let mut tmpfs: Vec<Value> = Vec::new();
        if let Some(vols) = svc.get_mut("volumes").and_then(Value::as_array_mut) {
            vols.retain(|v| {
                if v.get("type").and_then(Value::as_str) != Some("tmpfs") {
                    return true;
                }
                let target = v["target"].as_str().unwrap_or_default();
                tmpfs.push(match v.get("tmpfs").and_then(|t| t.get("size")) {
                    Some(size) => {
                        json!(format!("{target}:size={}", size.as_str().map_or(size.to_string(), str::to_string)))
                    }
                    None => json!(target),
                });
                false
            });
            // Defaults made explicit: `volume: {}`, `bind: {create_host_path: true}`.
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
        // A ulimit whose soft and hard limits are equal is written as one number.
        for (_, u) in svc.get_mut("ulimits").and_then(Value::as_object_mut).into_iter().flatten() {
            if u.get("soft").is_some() && u.get("soft") == u.get("hard") {
                *u = u["soft"].clone();
            }
        }
        // Secret values are never copied: the variables whose names look secret are
        // compared by name.
        if let Some(env) = svc.get_mut("environment").and_then(Value::as_object_mut) {
            for (k, v) in env.iter_mut() {
                if stackc::validate::lints::looks_secret(k) {
                    *v = json!("<secret>");
                }
            }
        }
        // Names of services, volumes, networks and secrets are kebab-case.
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
                // A secret's target is an absolute path: the default and a relative
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

/// Imports the compose files of `fixture`, checks the stack (and, with `golden`, compares it
/// with `expected.stack.kdl`), builds it and compares the models.
fn round_trip(dc: Option<&Path>, fixture: &Path, files: &[String], golden: bool) -> Vec<String> {
    let tmp = TempDir::new("import");
    let dir = tmp.path().join(fixture.file_name().unwrap());
    fs::create_dir_all(&dir).unwrap();
    let mut texts = Vec::new();
    for f in files {
        let text = fs::read_to_string(fixture.join(f)).unwrap();
        fs::write(dir.join(f), &text).unwrap();
        texts.push(text);
    }
    // The files `extends: {file: …}` reads, beside the compose file.
    for e in fs::read_dir(fixture).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yml") && !files.contains(&name) {
            fs::copy(fixture.join(&name), dir.join(&name)).unwrap();
        }
    }
    let mut args = vec!["import"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["-o", "imported.stack.kdl"]);
    let out = stackc(&dir, &args);
    assert_code(&out, 0);
    let imported = fs::read_to_string(dir.join("imported.stack.kdl")).unwrap();

    let expected = fixture.join("expected.stack.kdl");
    let mut problems = Vec::new();
    if !golden {
    } else if std::env::var_os("UPDATE_GOLDEN").is_some() {
        fs::write(&expected, &imported).unwrap();
    } else if fs::read_to_string(&expected).ok().as_deref() != Some(imported.as_str()) {
        problems.push(format!(
            "{}: differs from the import (UPDATE_GOLDEN=1 rewrites it):\n{imported}",
            expected.display()
        ));
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
        normalise(&mut original, "default");
        normalise(&mut generated, &implicit);
        let mut d = Vec::new();
        diff(&original, &generated, "", &mut d);
        if !d.is_empty() {
            problems.push(format!(
                "{} ({}): the models differ:\n  {}",
                fixture.display(),
                compose_files.join(" + "),
                d.join("\n  ")
            ));
        }
    }
    problems
}

#[test]
fn imports_check_and_round_trip_through_docker_compose() {
    let dc = compose_v2();
    let mut problems = Vec::new();
    for (fixture, files) in fixtures() {
        problems.extend(round_trip(dc.as_deref(), &fixture, &files, true));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A small deterministic generator (xorshift), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A compose file of 1-4 services that uses the keys the importer translates, in their
/// different spellings (list and map environments, short and long ports and volumes, `CMD`
/// and `CMD-SHELL` tests, variables with and without defaults).
fn generated(seed: u64) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let n = 1 + r.below(4);
    let mut y = format!("# generated compose file, seed {seed}\nservices:\n");
    let mut volumes = Vec::new();
    let mut healthy = Vec::new();
    for i in 0..n {
        let name = format!("{}{}", r.pick(&["api", "web", "worker", "cache", "db"]), i);
        y += &format!("  {name}:\n");
        let image = r.pick(&["nginx:1.27", "redis:7-alpine", "ghcr.io/acme/app:${APP_TAG:-1.2.3}", "busybox:1.36"]);
        y += &format!("    image: \"{image}\"\n");
        if r.chance(50) {
            y += &format!(
                "    command: {}\n",
                r.pick(&["[\"sleep\", \"infinity\"]", "serve --port 8080", "'sh -c \"echo $$HOME\"'"])
            );
        }
        if r.chance(70) {
            if r.chance(50) {
                y += "    environment:\n      - MODE=production\n      - LEVEL=${LOG_LEVEL:-info}\n";
            } else {
                y += "    environment:\n      MODE: production\n      RETRIES: 3\n      ADMIN_PASSWORD: changeme\n";
            }
        }
        if r.chance(60) {
            let port = 8000 + i;
            match r.below(3) {
                0 => y += &format!("    ports:\n      - \"{port}:80\"\n"),
                1 => y += &format!("    ports:\n      - \"127.0.0.1:{port}:{port}\"\n"),
                _ => {
                    y += &format!(
                        "    ports:\n      - target: 80\n        published: \"{port}\"\n        host_ip: 127.0.0.1\n"
                    )
                }
            }
        }
        if r.chance(60) {
            let vol = format!("data_{i}");
            if r.chance(50) {
                y += &format!("    volumes:\n      - {vol}:/data\n      - ./conf:/etc/conf:ro\n");
            } else {
                y += &format!("    volumes:\n      - type: volume\n        source: {vol}\n        target: /data\n");
            }
            volumes.push(vol);
        }
        if i > 0 && r.chance(60) {
            let dep = r.below(i);
            let dep_name = y
                .lines()
                .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.ends_with(':'))
                .nth(dep as usize)
                .unwrap()
                .trim()
                .trim_end_matches(':')
                .to_string();
            if healthy.contains(&dep_name) && r.chance(70) {
                y += &format!("    depends_on:\n      {dep_name}:\n        condition: service_healthy\n");
            } else {
                y += &format!("    depends_on:\n      - {dep_name}\n");
            }
        }
        if r.chance(50) {
            if r.chance(50) {
                y += "    healthcheck:\n      test: [\"CMD\", \"wget\", \"-q\", \"-O\", \"-\", \"http://localhost/\"]\n      interval: 15s\n      retries: 4\n";
            } else {
                y += "    healthcheck:\n      test: [\"CMD-SHELL\", \"pidof sleep || exit 1\"]\n      timeout: 2s\n      start_period: 1m\n";
            }
            healthy.push(name.clone());
        }
        if r.chance(60) {
            y += &format!("    restart: {}\n", r.pick(&["always", "unless-stopped", "\"no\"", "on-failure"]));
        }
        if r.chance(40) {
            y += "    labels:\n      com.example.tier: backend\n";
        }
        if r.chance(40) {
            y += &format!(
                "    deploy:\n      replicas: {}\n      resources:\n        limits:\n          memory: {}\n          cpus: \"{}\"\n",
                1 + r.below(3),
                r.pick(&["256m", "1g", "512M"]),
                r.pick(&["0.5", "1", "2"])
            );
        }
        if r.chance(30) {
            y += "    logging:\n      driver: json-file\n      options:\n        max-size: 10m\n        max-file: \"5\"\n";
        }
        if r.chance(30) {
            y +=
                "    user: \"1000\"\n    working_dir: /srv\n    read_only: true\n    init: true\n    cap_drop: [ALL]\n";
        }
    }
    if !volumes.is_empty() {
        y += "volumes:\n";
        for v in volumes {
            y += &format!("  {v}:\n");
        }
    }
    y
}

#[test]
fn generated_compose_files_round_trip() {
    let dc = compose_v2();
    let tmp = TempDir::new("generated");
    let mut problems = Vec::new();
    for seed in 1..=24 {
        let dir = tmp.path().join(format!("gen-{seed}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("docker-compose.yml"), generated(seed)).unwrap();
        problems.extend(round_trip(dc.as_deref(), &dir, &["docker-compose.yml".to_string()], false));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The comparison sees a changed port, variable and health check: the normalisation only
/// removes the documented differences.
#[test]
fn the_round_trip_comparison_sees_real_differences() {
    let Some(dc) = compose_v2() else { return };
    let tmp = TempDir::new("compare");
    let a = "services:\n  web:\n    image: nginx:1.27\n    ports: ['8080:80']\n    environment: {A: '1'}\n    healthcheck: {test: [CMD, curl, -f, 'http://x/'], interval: 10s}\n";
    let b = a.replace("8080:80", "8081:80").replace("'1'", "'2'").replace("10s", "20s");
    fs::write(tmp.path().join("a.yml"), a).unwrap();
    fs::write(tmp.path().join("b.yml"), b).unwrap();
    let mut ma = config(&dc, tmp.path(), &["a.yml"], &[]);
    let mut mb = config(&dc, tmp.path(), &["b.yml"], &[]);
    normalise(&mut ma, "default");
    normalise(&mut mb, "default");
    let mut d = Vec::new();
    diff(&ma, &mb, "", &mut d);
    let paths: Vec<&str> = d.iter().map(|l| l.split(':').next().unwrap()).collect();
    assert_eq!(
        paths,
        [".services.web.environment.A", ".services.web.healthcheck.interval", ".services.web.ports[0].published"],
        "{d:?}"
    );
}

#[test]
fn the_command_prints_notes_refuses_to_overwrite_and_reports_bad_yaml() {
    let tmp = TempDir::new("import-cli");
    let dir = tmp.path();
    fs::write(dir.join("docker-compose.yml"), "services:\n  web:\n    image: nginx:1.27\n    stdin_open: true\n")
        .unwrap();
    let out = stackc(dir, &["import", "docker-compose.yml"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("service \"web\" {\n    image \"nginx:1.27\""), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("warning: docker-compose.yml:4:5: `services.web.stdin_open`: not imported:"),
        "{}",
        stderr(&out)
    );

    fs::write(dir.join("app.stack.kdl"), "// mine\n").unwrap();
    let out = stackc(dir, &["import", "docker-compose.yml", "-o", "app.stack.kdl"]);
    assert_code(&out, 2);
    assert_eq!(fs::read_to_string(dir.join("app.stack.kdl")).unwrap(), "// mine\n");
    let out = stackc(dir, &["import", "docker-compose.yml", "-o", "app.stack.kdl", "--force"]);
    assert_code(&out, 0);
    assert!(fs::read_to_string(dir.join("app.stack.kdl")).unwrap().contains("service \"web\""));

    fs::write(dir.join("bad.yml"), "services:\n  web: [\n").unwrap();
    let out = stackc(dir, &["import", "bad.yml"]);
    assert_code(&out, 1);
    assert!(stderr(&out).starts_with("error: bad.yml:"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

// --- Anchors, merge keys and `extends` as templates -----------------------------------------

/// The service block `name` of a stack text, its lines trimmed.
fn service_block(text: &str, head: &str) -> Vec<String> {
    let body = text.split(&format!("{head} {{\n")).nth(1).unwrap_or_default();
    body.split("\n}").next().unwrap_or_default().lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn anchors_merge_keys_and_extends_become_templates() {
    // Airflow's `x-airflow-common: &airflow-common` merged into five services with `<<:`; one
    // of them (`airflow-init`) overrides the anchor's `user` and `volumes`.
    let dir = fixtures_dir().join("public/airflow");
    let out = stackc(&dir, &["import", "docker-compose.yml"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    let template = service_block(&text, "template \"airflow-common\"");
    for want in [
        "image \"${airflow-image-name}\"",
        "env AIRFLOW__CORE__EXECUTOR=\"CeleryExecutor\"",
        "user \"${airflow-uid}:0\"",
        "depends-on \"redis\" healthy=#true",
    ] {
        assert!(template.iter().any(|l| l == want), "{want:?} in the template of\n{text}");
    }
    // The mounts are not in it: `airflow-init` replaces the anchor's whole `volumes` list.
    assert!(!template.iter().any(|l| l.starts_with("mount")), "{text}");
    for svc in ["airflow-webserver", "airflow-scheduler", "airflow-worker", "airflow-triggerer"] {
        let lines = service_block(&text, &format!("service \"{svc}\""));
        assert_eq!(lines[0], "use \"airflow-common\" \"common\"", "{svc} in\n{text}");
        assert!(!lines.iter().any(|l| l.starts_with("image")), "{svc} in\n{text}");
    }
    let init = service_block(&text, "service \"airflow-init\"");
    assert_eq!(init[0], "use \"airflow-common\"", "{text}");
    assert!(init.iter().any(|l| l == "user \"0:0\""), "its own user wins:\n{text}");
    assert!(init.iter().any(|l| l == "mount \".\" \"/sources\""), "{text}");

    // `x-logging: &logging` and `x-common-env: &common-env` (merged into `environment:`), and
    // `extends: migrate`, in the features fixture.
    let dir = fixtures_dir().join("features");
    let text = stdout(&stackc(&dir, &["import", "docker-compose.yml"]));
    assert_eq!(
        service_block(&text, "template \"logging\""),
        ["logging driver=\"json-file\" max-size=\"10Mi\" max-file=3"],
        "{text}"
    );
    assert_eq!(
        service_block(&text, "template \"common-env\""),
        ["env NODE_ENV=\"production\"", "env LOG_LEVEL=\"${log-level}\""],
        "{text}"
    );
    assert!(
        text.contains(
            "// guess: what `extends: migrate` gives migrate, migrate-status, as a template\ntemplate \"migrate\" {"
        ),
        "{text}"
    );
    assert!(
        service_block(&text, "service \"migrate-status\"").contains(&"use \"common-env\" \"migrate\"".to_string()),
        "{text}"
    );
    assert_eq!(service_block(&text, "service \"postgres\"")[0], "use \"logging\"", "{text}");
    // `migrate-status` overrides the command `extends: migrate` gives.
    assert_eq!(
        service_block(&text, "service \"migrate-status\"")[1..],
        ["use \"common-env\" \"migrate\"", "command \"status\""],
        "{text}"
    );

    // `extends: {file: common-services.yml, service: app-base}`: the file beside the compose
    // file is read, and what it gives is a template named after the service; `scheduler`
    // extends `worker`, which extends `app-base`, and overrides `restart`.
    let dir = fixtures_dir().join("extends");
    let out = stackc(&dir, &["import", "docker-compose.yml"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(!stderr(&out).contains("extends"), "{}", stderr(&out));
    assert_eq!(
        service_block(&text, "template \"app-base\""),
        [
            "image \"ghcr.io/acme/shop:3.1.0\"",
            "env LOG_FORMAT=\"json\"",
            "env TZ=\"UTC\"",
            "logging driver=\"json-file\" max-size=\"5Mi\" max-file=2",
            "restart \"unless-stopped\""
        ],
        "{text}"
    );
    assert_eq!(
        service_block(&text, "template \"worker\""),
        ["command \"shop\" \"worker\"", "env QUEUES=\"default,mail\""],
        "{text}"
    );
    assert_eq!(service_block(&text, "service \"worker\"")[1..], ["use \"app-base\" \"worker\""], "{text}");
    assert_eq!(
        service_block(&text, "service \"scheduler\"")[1..],
        ["use \"app-base\" \"worker\"", "command \"shop\" \"scheduler\"", "restart \"always\""],
        "{text}"
    );
}
