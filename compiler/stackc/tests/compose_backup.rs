//! Backups in the compose target (`docs/targets/compose.md`, "Backups").
//!
//! The generated step scripts run for real here: the dump script against a PostgreSQL
//! server this test starts on loopback (initdb in a temporary directory, as `nobody` when the
//! test runs as root, since postgres refuses root), restored into a fresh database and
//! compared row by row; a failing dump (wrong password, server down) exits non-zero and
//! leaves no file at all. The encrypt step runs with the host's gpg, the prune step with the
//! host's find, and the host script with a stand-in `docker` that records its calls. The
//! scripts are used as generated: only the environment variables they read with defaults
//! (host, port, directories, secret files, time stamp) are set.
//!
//! Needs PostgreSQL (Debian 12: 15), redis-server, gpg and gzip (shellcheck of the golden
//! scripts is in tests/validators.rs). In CI (`CI` set) a missing tool
//! fails; elsewhere the test prints NOT RUN and passes.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stackc::diagnostics::Diagnostic;
use stackc::emit::EmitOptions;
use stackc::ir::TargetKind;
use stackc::Options;

mod support;
use support::{in_ci, service_block};

const STAMP: &str = "20240102T030405Z";
/// Values a secret would hold at deploy time; none may reach a generated file.
const DB_PASSWORD: &str = "canary-pg-3e7a1d Pa$$ 'q\"";
const PASSPHRASE: &str = "canary-gpg-5b2f90";
const AWS_SECRET: &str = "canary-aws-c41d77";

fn not_run(what: &str, problem: &str) {
    if in_ci() {
        panic!("{what}: {problem}; CI must run it (.ci/install-validators installs the tools)");
    }
    support::report_not_run(&format!("{what}: {problem} (run .ci/install-validators; CI always runs this test)"));
}

fn find(tool: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    if let Some(p) = dirs.iter().map(|d| d.join(tool)).find(|p| p.is_file()) {
        return Some(p);
    }
    let out = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !p.is_empty()).then(|| PathBuf::from(p))
}

/// A fresh directory under the system's temp dir, traversable by `nobody`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("stackc-backup-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    set_mode(&dir, 0o755);
    dir
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn build(src: &str) -> (BTreeMap<String, String>, Vec<Diagnostic>) {
    let emit = EmitOptions { targets: Some(vec![TargetKind::Compose]), ..EmitOptions::default() };
    let built = stackc::build("test.stack.kdl", src, &Options::default(), &emit);
    (built.files.into_iter().map(|f| (f.path, f.contents)).collect(), built.outcome.diagnostics)
}

fn build_ok(src: &str) -> BTreeMap<String, String> {
    let (files, diags) = build(src);
    let errors: Vec<String> =
        diags.iter().filter(|d| d.is_error()).map(|d| format!("{} {}", d.code.as_str(), d.message)).collect();
    assert!(errors.is_empty(), "unexpected errors: {errors:#?}");
    files
}

fn codes(diags: &[Diagnostic]) -> Vec<String> {
    diags.iter().map(|d| format!("{} {}", d.code.as_str(), d.message)).collect()
}

/// A shop database with a plain dump (user and database given) and a custom-format,
/// encrypted one (user and database taken from the service's environment).
const STACK: &str = r#"
secret "db-password" file="./secrets/db-password.txt"
secret "backup-passphrase" env="BACKUP_PASSPHRASE"
secret "aws-key-id" env="AWS_ACCESS_KEY_ID"
secret "aws-secret" file="./secrets/aws-secret.txt"
volume "pgdata"
volume "uploads"
service "postgres" {
    image "postgres:15-alpine"
    port 5432
    env POSTGRES_USER="shop" POSTGRES_DB="shop"
    env POSTGRES_PASSWORD=(secret)"db-password"
    mount "pgdata" "/var/lib/postgresql/data"
}
backup "db" service="postgres" schedule="0 3 * * *" retain="7d" to="/var/backups/shop" database="shop" user="shop" password=(secret)"db-password" format="plain" no-owner=#true no-privileges=#true
backup "db-custom" service="postgres" schedule="30 3 * * *" to="/var/backups/shop" format="custom" encrypt=(secret)"backup-passphrase" copy-to="s3://shop-backups/db" {
    env AWS_ACCESS_KEY_ID=(secret)"aws-key-id" AWS_SECRET_ACCESS_KEY=(secret)"aws-secret" AWS_DEFAULT_REGION="eu-west-1"
}
backup "uploads" volume="uploads" schedule="@daily" retain="30d" to="s3://shop-backups/uploads" {
    env AWS_ACCESS_KEY_ID=(secret)"aws-key-id" AWS_SECRET_ACCESS_KEY=(secret)"aws-secret"
}
targets { compose }
"#;

// ---------------------------------------------------------------------------------------
// What the compose file and the scripts say.

#[test]
fn backups_are_one_shot_services_in_the_backup_profile() {
    let (files, diags) = build(STACK);
    assert!(diags.iter().all(|d| !d.is_error()), "{:#?}", codes(&diags));
    let c = &files["docker-compose.yml"];
    let dump = service_block(c, "backup-db-dump");
    // The database's own image: pg_dump matches the server's major version.
    assert!(dump.contains("image: postgres:15-alpine"), "{dump}");
    assert!(dump.contains("profiles:\n- backup"), "{dump}");
    assert!(dump.contains("- /bin/sh\n- /stackc-backup/db-dump.sh"), "{dump}");
    assert!(dump.contains("- source: db-password"), "{dump}");
    assert!(dump.contains("- /var/backups/shop:/backup\n"), "{dump}");
    assert!(dump.contains("- ./backup/db-dump.sh:/stackc-backup/db-dump.sh:ro"), "{dump}");
    assert!(!dump.contains("restart:") && !dump.contains("depends_on"), "{dump}");
    // Encrypt and copy steps for db-custom, an S3 upload through the spool for uploads.
    let enc = service_block(c, "backup-db-custom-encrypt");
    assert!(
        enc.contains("image: buildpack-deps:bookworm-curl") && enc.contains("- source: backup-passphrase"),
        "{enc}"
    );
    assert!(enc.contains("network_mode: none"), "{enc}");
    let up = service_block(c, "backup-db-custom-upload");
    assert!(up.contains("image: amazon/aws-cli:2.17.0"), "{up}");
    assert!(up.contains("AWS_ACCESS_KEY_ID: ${AWS_ACCESS_KEY_ID:?secret aws-key-id must be set}"), "{up}");
    assert!(up.contains("- source: aws-secret") && up.contains("AWS_DEFAULT_REGION: eu-west-1"), "{up}");
    assert!(up.contains("- /var/backups/shop:/backup:ro"), "the upload only reads a host directory: {up}");
    let vol = service_block(c, "backup-uploads-dump");
    assert!(vol.contains("image: alpine:3.20") && vol.contains("- uploads:/data:ro"), "{vol}");
    assert!(vol.contains("- backup-spool:/backup\n"), "{vol}");
    assert!(c.contains("\n  backup-spool: {}\n"), "{c}");
    // No prune step where `to=` is S3 or there is no `retain=`.
    assert!(
        c.contains("  backup-db-prune:")
            && !c.contains("backup-db-custom-prune")
            && !c.contains("backup-uploads-prune")
    );
    // Every step has its script; the host script runs them in order.
    let host = &files["backup/db-custom.sh"];
    let steps: Vec<&str> = host.lines().filter_map(|l| l.strip_prefix("step ")).collect();
    assert_eq!(steps, ["backup-db-custom-dump", "backup-db-custom-encrypt", "backup-db-custom-upload"]);
    for s in steps {
        let step = s.trim_start_matches("backup-db-custom-");
        assert!(files.contains_key(&format!("backup/db-custom-{step}.sh")), "{s}");
        assert!(c.contains(&format!("  {s}:\n")), "{s}");
    }
    // The secrets the backups read are in .env.example, without values.
    let env = &files[".env.example"];
    assert!(env.contains("\nBACKUP_PASSPHRASE=\n") && env.contains("\nAWS_ACCESS_KEY_ID=\n"), "{env}");
}

#[test]
fn the_crontab_runs_each_host_script_on_its_schedule() {
    let files = build_ok(STACK);
    let cron = &files["backup/crontab"];
    assert!(cron.contains("/etc/cron.d/") && cron.contains("time zone"), "{cron}");
    let jobs: Vec<&str> = cron.lines().filter(|l| !l.starts_with('#') && l.contains(" root ")).collect();
    assert_eq!(
        jobs,
        [
            "0 3 * * * root /bin/sh \"$STACK_DIR/backup/db.sh\" 2>&1 | logger -t stack-backup-db",
            "30 3 * * * root /bin/sh \"$STACK_DIR/backup/db-custom.sh\" 2>&1 | logger -t stack-backup-db-custom",
            "@daily root /bin/sh \"$STACK_DIR/backup/uploads.sh\" 2>&1 | logger -t stack-backup-uploads",
        ]
    );
    // `%` is a newline to cron.
    assert!(!jobs.iter().any(|j| j.contains('%')));
    for name in ["db", "db-custom", "uploads"] {
        assert!(files.contains_key(&format!("backup/{name}.sh")), "{name}");
    }
    assert!(cron.lines().any(|l| l == "STACK_DIR=/srv/stack"), "{cron}");
}

#[test]
fn what_compose_cannot_do_is_reported() {
    let (_, diags) = build(STACK);
    let w = codes(&diags);
    assert!(
        w.iter().any(|m| m.starts_with("W0501") && m.contains("does not delete backup `uploads`'s old files in S3")),
        "{w:#?}"
    );
    assert_eq!(w.iter().filter(|m| m.contains("backup")).count(), 1, "{w:#?}");
    let clash = STACK.replace("volume \"uploads\"\n", "volume \"uploads\"\nvolume \"backup-spool\"\n").replace(
        "targets { compose }",
        "service \"backup-db-dump\" {\n    image \"alpine:3.20\"\n}\ntargets { compose }",
    );
    let (_, diags) = build(&clash);
    let e = codes(&diags);
    assert!(e.iter().any(|m| m.starts_with("E0501") && m.contains("service `backup-db-dump` clashes")), "{e:#?}");
    assert!(e.iter().any(|m| m.starts_with("E0501") && m.contains("volume `backup-spool` clashes")), "{e:#?}");
}

/// No secret value can reach a generated file: the library never reads them (it has no I/O),
/// and this checks it with canary values in the deploy environment and the secret files.
#[test]
fn no_secret_value_reaches_any_backup_output() {
    let work = scratch("canary");
    std::fs::create_dir_all(work.join("secrets")).unwrap();
    std::fs::write(work.join("secrets/db-password.txt"), DB_PASSWORD).unwrap();
    std::fs::write(work.join("secrets/aws-secret.txt"), AWS_SECRET).unwrap();
    std::env::set_var("BACKUP_PASSPHRASE", PASSPHRASE);
    std::env::set_var("AWS_ACCESS_KEY_ID", "canary-akid-77aa01");
    let src = STACK.replace("./secrets/", &format!("{}/secrets/", work.display()));
    let files = build_ok(&src);
    // Not vacuous: the secrets are referenced, by file or variable name.
    assert!(files["backup/db-dump.sh"].contains("/run/secrets/db-password"));
    assert!(files["backup/db-custom-encrypt.sh"].contains("/run/secrets/backup-passphrase"));
    assert!(files["backup/db-custom-upload.sh"].contains("AWS_SECRET_ACCESS_KEY=$(cat /run/secrets/aws-secret)"));
    for (path, text) in &files {
        for canary in [DB_PASSWORD, PASSPHRASE, AWS_SECRET, "canary-akid-77aa01", "canary-"] {
            assert!(!text.contains(canary), "{path} contains a secret value");
        }
    }
    let _ = std::fs::remove_dir_all(&work);
}

// ---------------------------------------------------------------------------------------
// Running the scripts.

/// A script from the build, written to `dir`, run by `/bin/sh` with only `env` (and PATH).
fn run_script(files: &BTreeMap<String, String>, name: &str, dir: &Path, path: &str, env: &[(&str, String)]) -> Output {
    let script = dir.join(name.rsplit('/').next().unwrap());
    std::fs::write(&script, &files[name]).unwrap();
    Command::new("/bin/sh")
        .arg(&script)
        .env_clear()
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run the script")
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

struct Pg {
    bin: PathBuf,
}

fn require_pg(what: &str) -> Option<Pg> {
    let mut dirs = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    let initdb = find("initdb", &dirs);
    let Some(bin) = initdb.as_ref().and_then(|p| p.parent()).map(Path::to_path_buf) else {
        not_run(what, "PostgreSQL (initdb) is not installed");
        return None;
    };
    let mut missing = Vec::new();
    for t in ["pg_ctl", "pg_dump", "pg_restore", "psql", "postgres"] {
        if !bin.join(t).is_file() {
            missing.push(t);
        }
    }
    for t in ["gzip", "gpg"] {
        if find(t, &[]).is_none() {
            missing.push(t);
        }
    }
    if is_root() && find("runuser", &[PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")]).is_none() {
        missing.push("runuser");
    }
    if !missing.is_empty() {
        not_run(what, &format!("missing {}", missing.join(", ")));
        return None;
    }
    Some(Pg { bin })
}

/// A PostgreSQL server on 127.0.0.1, stopped when dropped (also when an assertion fails).
struct Server {
    pg: PathBuf,
    data: PathBuf,
    port: u16,
    password_file: PathBuf,
}

impl Server {
    /// As `nobody` when running as root: postgres refuses to run as root.
    fn as_server_user(&self, program: &Path) -> Command {
        if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn start(pg: &Pg, work: &Path) -> Server {
        let home = work.join("pg");
        std::fs::create_dir_all(&home).unwrap();
        let password_file = work.join("db-password");
        std::fs::write(&password_file, format!("{DB_PASSWORD}\n")).unwrap();
        set_mode(&password_file, 0o644);
        if is_root() {
            let ok = Command::new("chown").args(["-R", "nobody:"]).arg(&home).status().unwrap().success();
            assert!(ok, "chown nobody");
        }
        let server = Server { pg: pg.bin.clone(), data: home.join("data"), port: free_port(), password_file };
        let out = server
            .as_server_user(&pg.bin.join("initdb"))
            .arg("-D")
            .arg(&server.data)
            .args(["-U", "shop", "-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--pwfile"])
            .arg(&server.password_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let opts = format!("-k {} -h 127.0.0.1 -p {}", home.display(), server.port);
        let out = server
            .as_server_user(&pg.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(home.join("log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(home.join("log")).unwrap_or_default()
        );
        server
    }

    fn client(&self, tool: &str) -> Command {
        let mut c = Command::new(self.pg.join(tool));
        c.env_clear()
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", "shop")
            .env("PGPASSWORD", DB_PASSWORD)
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        c
    }

    fn psql(&self, db: &str, sql: &str) -> String {
        let out = self
            .client("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", db, "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn table(&self, db: &str) -> String {
        self.psql(db, "COPY (SELECT * FROM items ORDER BY id) TO STDOUT")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self
            .as_server_user(&self.pg.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

const DATA: &str = "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[]);
INSERT INTO items VALUES (1, 'plain', 1.50, '{a,b}'), (2, 'quote''s \"and\" tab	here', NULL, '{}'),
    (3, 'ünïcødé ✓', 99999999.99, NULL);
INSERT INTO items SELECT g, 'row ' || g, g / 7.0, ARRAY['x' || g] FROM generate_series(4, 2000) g;";

#[test]
fn the_dump_script_backs_up_a_real_postgres_that_restores() {
    let what = "backup against a real PostgreSQL";
    let Some(pg) = require_pg(what) else { return };
    let files = build_ok(STACK);
    let work = scratch("pg");
    let server = Server::start(&pg, &work);
    server.psql("postgres", "CREATE DATABASE shop");
    server.psql("shop", DATA);
    let before = server.table("shop");
    assert_eq!(before.lines().count(), 2000);

    let path = format!("{}:{}", pg.bin.display(), std::env::var("PATH").unwrap_or_default());
    let out_dir = work.join("backups");
    std::fs::create_dir_all(&out_dir).unwrap();
    let env = |dir: &Path, port: u16, password: &Path| {
        vec![
            ("PGHOST", "127.0.0.1".to_string()),
            ("PGPORT", port.to_string()),
            ("BACKUP_DIR", dir.display().to_string()),
            ("BACKUP_PASSWORD_FILE", password.display().to_string()),
            ("BACKUP_STAMP", STAMP.to_string()),
        ]
    };

    // Plain, gzip-compressed dump: user and database are the script's defaults.
    let out = run_script(&files, "backup/db-dump.sh", &work, &path, &env(&out_dir, server.port, &server.password_file));
    assert!(out.status.success(), "dump failed: {}", String::from_utf8_lossy(&out.stderr));
    let name = format!("db-{STAMP}.sql.gz");
    assert_eq!(listing(&out_dir), std::slice::from_ref(&name), "exactly the final file, no temporary left");
    assert_eq!(mode(&out_dir.join(&name)), 0o600, "backups are readable by their owner only");
    let all_output = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all_output.contains("canary-pg"), "the password was printed");
    server.psql("postgres", "CREATE DATABASE restored");
    let sql = Command::new("gzip").arg("-dc").arg(out_dir.join(&name)).output().unwrap();
    assert!(sql.status.success());
    let text = String::from_utf8_lossy(&sql.stdout);
    assert!(!text.contains("OWNER TO") && !text.contains("GRANT "), "--no-owner --no-privileges");
    let mut restore = server
        .client("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "restored"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(restore.stdin.as_mut().unwrap(), &sql.stdout).unwrap();
    let r = restore.wait_with_output().unwrap();
    assert!(r.status.success(), "restore: {}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(server.table("restored"), before, "the restored table differs");

    // Custom format, encrypted: the dump leaves only a hidden clear file, which the encrypt
    // step replaces with the final `.gpg` file.
    let enc_dir = work.join("encrypted");
    std::fs::create_dir_all(&enc_dir).unwrap();
    let out = run_script(
        &files,
        "backup/db-custom-dump.sh",
        &work,
        &path,
        &env(&enc_dir, server.port, &server.password_file),
    );
    assert!(out.status.success(), "custom dump failed: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(listing(&enc_dir), [format!(".db-custom-{STAMP}.dump.clear")], "no clear file under a backup's name");
    let passphrase = work.join("passphrase");
    std::fs::write(&passphrase, format!("{PASSPHRASE}\n")).unwrap();
    let out = run_script(
        &files,
        "backup/db-custom-encrypt.sh",
        &work,
        &path,
        &[
            ("BACKUP_DIR", enc_dir.display().to_string()),
            ("BACKUP_PASSPHRASE_FILE", passphrase.display().to_string()),
            ("BACKUP_STAMP", STAMP.to_string()),
        ],
    );
    assert!(out.status.success(), "encrypt failed: {}", String::from_utf8_lossy(&out.stderr));
    let gpg_name = format!("db-custom-{STAMP}.dump.gpg");
    assert_eq!(listing(&enc_dir), std::slice::from_ref(&gpg_name), "only the encrypted file is kept");
    let encrypted = std::fs::read(enc_dir.join(&gpg_name)).unwrap();
    assert!(!encrypted.windows(5).any(|w| w == b"items"), "the file is not encrypted");
    let home = work.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    set_mode(&home, 0o700);
    let clear = work.join("restore.dump");
    let out = Command::new("gpg")
        .env("GNUPGHOME", &home)
        .args(["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase-file"])
        .arg(&passphrase)
        .arg("--output")
        .arg(&clear)
        .arg("--decrypt")
        .arg(enc_dir.join(&gpg_name))
        .output()
        .unwrap();
    assert!(out.status.success(), "gpg --decrypt: {}", String::from_utf8_lossy(&out.stderr));
    server.psql("postgres", "CREATE DATABASE restored_custom");
    let out =
        server.client("pg_restore").args(["--exit-on-error", "-d", "restored_custom"]).arg(&clear).output().unwrap();
    assert!(out.status.success(), "pg_restore: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(server.table("restored_custom"), before, "the custom archive restores to a different table");

    // A wrong password, a missing password file, a server that is down: non-zero, and no
    // file at all (no final name, no temporary).
    let wrong = work.join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let down = free_port();
    for (case, port, password) in [
        ("wrong password", server.port, wrong.clone()),
        ("missing password file", server.port, work.join("no-such-file")),
        ("server down", down, server.password_file.clone()),
    ] {
        for script in ["backup/db-dump.sh", "backup/db-custom-dump.sh"] {
            let dir = work.join(format!("fail-{}", case.replace(' ', "-")));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let out = run_script(&files, script, &work, &path, &env(&dir, port, &password));
            assert!(!out.status.success(), "{script} with {case}: exit 0");
            assert_eq!(listing(&dir), Vec::<String>::new(), "{script} with {case} left files");
            let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(!all.contains("canary-pg"), "{script} with {case} printed the password: {all}");
        }
    }
    // The encrypt step of a failed dump fails too, and writes nothing.
    let dir = work.join("fail-encrypt");
    std::fs::create_dir_all(&dir).unwrap();
    let out = run_script(
        &files,
        "backup/db-custom-encrypt.sh",
        &work,
        &path,
        &[
            ("BACKUP_DIR", dir.display().to_string()),
            ("BACKUP_PASSPHRASE_FILE", passphrase.display().to_string()),
            ("BACKUP_STAMP", STAMP.to_string()),
        ],
    );
    assert!(!out.status.success());
    assert_eq!(listing(&dir), Vec::<String>::new());

    drop(server);
    let _ = std::fs::remove_dir_all(&work);
}

/// Retention deletes this backup's own files older than `retain=`, and nothing else.
#[test]
fn the_prune_script_deletes_only_this_backups_old_files() {
    if find("find", &[]).is_none() || find("touch", &[]).is_none() {
        return not_run("prune script", "no find or touch");
    }
    let files = build_ok(STACK);
    let work = scratch("prune");
    let dir = work.join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let made = [
        ("db-20200101T000000Z.sql.gz", "8 days ago", false),
        ("db-20200102T000000Z.sql.gz", "7 days ago", false),
        ("db-20200103T000000Z.sql.gz", "6 days ago", true),
        ("db-20200104T000000Z.sql.gz", "1 hour ago", true),
        // Another backup's files in the same directory (`db-hourly-…` also starts with `db-`).
        ("db-hourly-20200101T000000Z.sql.gz", "30 days ago", true),
        ("db-custom-20200101T000000Z.dump.gpg", "30 days ago", true),
        // Not a backup: other extensions, other names, hidden files, directories.
        ("db-20200101T000000Z.sql", "30 days ago", true),
        ("db-latest.sql.gz", "30 days ago", true),
        ("notes.txt", "30 days ago", true),
        (".db-20200101T000000Z.sql.partial", "30 days ago", true),
    ];
    for (name, age, _) in made {
        std::fs::write(dir.join(name), "x").unwrap();
        assert!(Command::new("touch").arg("-d").arg(age).arg(dir.join(name)).status().unwrap().success());
    }
    std::fs::create_dir(dir.join("db-20200105T000000Z.sql.gz")).unwrap();
    assert!(Command::new("touch")
        .args(["-d", "30 days ago"])
        .arg(dir.join("db-20200105T000000Z.sql.gz"))
        .status()
        .unwrap()
        .success());
    let out = run_script(
        &files,
        "backup/db-prune.sh",
        &work,
        &std::env::var("PATH").unwrap_or_default(),
        &[("BACKUP_DIR", dir.display().to_string())],
    );
    assert!(out.status.success(), "prune: {}", String::from_utf8_lossy(&out.stderr));
    let mut expected: Vec<String> = made.iter().filter(|m| m.2).map(|m| m.0.to_string()).collect();
    expected.push("db-20200105T000000Z.sql.gz".into());
    expected.sort();
    assert_eq!(listing(&dir), expected);
    let _ = std::fs::remove_dir_all(&work);
}

/// The host script runs the steps in order with `docker compose run --rm`, passes one time
/// stamp to all of them, and stops with a non-zero exit at the first failing step (so a
/// failed dump is never followed by the prune).
#[test]
fn the_host_script_stops_at_the_first_failing_step() {
    let files = build_ok(STACK);
    let work = scratch("host");
    let out_dir = work.join("build");
    std::fs::create_dir_all(out_dir.join("backup")).unwrap();
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = work.join("docker.log");
    std::fs::write(
        bin.join("docker"),
        format!(
            "#!/bin/sh\necho \"$PWD|$*\" >>'{}'\nfor a in \"$@\"; do last=$a; done\n[ \"$last\" != \"${{FAIL_ON:-}}\" ]\n",
            log.display()
        ),
    )
    .unwrap();
    set_mode(&bin.join("docker"), 0o755);
    let script = out_dir.join("backup/db.sh");
    std::fs::write(&script, &files["backup/db.sh"]).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let run = |fail_on: &str| {
        let _ = std::fs::remove_file(&log);
        let out = Command::new("/bin/sh")
            .arg(&script)
            .env_clear()
            .env("PATH", &path)
            .env("FAIL_ON", fail_on)
            .output()
            .unwrap();
        (out, std::fs::read_to_string(&log).unwrap_or_default())
    };
    let (out, calls) = run("");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    let stamp = calls[0].split("BACKUP_STAMP=").nth(1).unwrap().split(' ').next().unwrap().to_string();
    assert_eq!(stamp.len(), STAMP.len(), "{stamp}");
    for (call, service) in calls.iter().zip(["backup-db-dump", "backup-db-prune"]) {
        let dir = out_dir.canonicalize().unwrap();
        assert_eq!(
            *call,
            format!("{}|compose -f docker-compose.yml run --rm -T -e BACKUP_STAMP={stamp} {service}", dir.display()),
            "run from the output directory, where the compose file is"
        );
    }
    let (out, calls) = run("backup-db-dump");
    assert!(!out.status.success());
    assert_eq!(calls.lines().count(), 1, "nothing runs after a failed dump: {calls}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("backup db: FAILED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&work);
}

/// A redis-server on 127.0.0.1, killed when dropped.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start(dir: &Path, password: Option<&str>) -> Redis {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let mut c = Command::new("redis-server");
        c.args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = password {
            c.args(["--requirepass", p]);
        }
        let server = Redis { child: c.spawn().expect("start redis-server"), port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("redis-server did not start on port {port}");
    }

    fn cli(&self, password: &str, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .env("REDISCLI_AUTH", password)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const REDIS_STACK: &str = r#"
secret "redis-password" file="./secrets/redis-password.txt"
volume "redis-data"
service "redis" {
    image "redis:7-alpine"
    port 6379
    mount "redis-data" "/data"
}
backup "cache" service="redis" schedule="0 2 * * *" retain="30d" to="/var/backups/redis" password=(secret)"redis-password"
targets { compose }
"#;

/// The Redis dump script against a real redis-server: the snapshot loads into a fresh server
/// with the same keys; a wrong password or a server that is down exits non-zero and leaves
/// no file.
#[test]
fn the_redis_dump_script_snapshots_a_real_server_that_loads() {
    let what = "backup against a real Redis";
    let (Some(_), Some(_), Some(_)) = (find("redis-server", &[]), find("redis-cli", &[]), find("gzip", &[])) else {
        return not_run(what, "missing redis-server, redis-cli or gzip");
    };
    let files = build_ok(REDIS_STACK);
    let work = scratch("redis");
    const PASSWORD: &str = "canary-redis-9d04e2";
    let server = Redis::start(&work.join("server"), Some(PASSWORD));
    server.cli(PASSWORD, &["SET", "greeting", "hello wörld"]);
    server.cli(PASSWORD, &["RPUSH", "queue", "a", "b", "c"]);
    server.cli(PASSWORD, &["HSET", "user:1", "name", "Ada", "role", "admin"]);
    let password_file = work.join("redis-password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    let env = |dir: &Path, port: u16, password: &Path| {
        vec![
            ("REDIS_HOST", "127.0.0.1".to_string()),
            ("REDIS_PORT", port.to_string()),
            ("BACKUP_DIR", dir.display().to_string()),
            ("BACKUP_PASSWORD_FILE", password.display().to_string()),
            ("BACKUP_STAMP", STAMP.to_string()),
        ]
    };
    let out_dir = work.join("backups");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = run_script(&files, "backup/cache-dump.sh", &work, &path, &env(&out_dir, server.port, &password_file));
    assert!(out.status.success(), "redis dump failed: {}", String::from_utf8_lossy(&out.stderr));
    let name = format!("cache-{STAMP}.rdb.gz");
    assert_eq!(listing(&out_dir), std::slice::from_ref(&name));
    assert_eq!(mode(&out_dir.join(&name)), 0o600);
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains(PASSWORD), "the password was printed");

    // Load the snapshot into a fresh server.
    let restore_dir = work.join("restore");
    std::fs::create_dir_all(&restore_dir).unwrap();
    let rdb = Command::new("gzip").arg("-dc").arg(out_dir.join(&name)).output().unwrap();
    assert!(rdb.status.success() && rdb.stdout.starts_with(b"REDIS"), "not an RDB file");
    std::fs::write(restore_dir.join("dump.rdb"), &rdb.stdout).unwrap();
    let restored = Redis::start(&restore_dir, None);
    assert_eq!(restored.cli("", &["GET", "greeting"]).trim(), "hello wörld");
    assert_eq!(restored.cli("", &["LRANGE", "queue", "0", "-1"]), "a\nb\nc\n");
    assert_eq!(restored.cli("", &["HGET", "user:1", "role"]).trim(), "admin");
    assert_eq!(restored.cli("", &["DBSIZE"]).trim(), "3");
    drop(restored);

    let wrong = work.join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let down = free_port();
    for (case, port, password) in [("wrong password", server.port, &wrong), ("server down", down, &password_file)] {
        let dir = work.join(format!("fail-{}", case.replace(' ', "-")));
        std::fs::create_dir_all(&dir).unwrap();
        let out = run_script(&files, "backup/cache-dump.sh", &work, &path, &env(&dir, port, password));
        assert!(!out.status.success(), "redis dump with {case}: exit 0");
        assert_eq!(listing(&dir), Vec::<String>::new(), "redis dump with {case} left files");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&work);
}
