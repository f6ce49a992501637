//! Backups in the compose target (`docs/targets/compose.md`, "Backups").
//!
//! Compose has no scheduler, so each `backup` becomes one-shot services in the `backup`
//! profile (`docker compose up -d` does not start them), a host script `backup/<name>.sh`
//! that runs them in order with `docker compose run --rm` and stops at the first failure, and
//! a line in `backup/crontab` (for `/etc/cron.d`). The work inside each container is a
//! generated script mounted read-only (`backup/<name>-<step>.sh`), so shellcheck and the
//! tests can read and run it; every setting it has is an environment variable with the
//! default stackc derived, so the compose file only overrides what depends on params.
//!
//! A file gets its final name (`<name>-<UTC stamp>.<ext>`) only by a rename after the step
//! that wrote it succeeded: a failed dump never leaves a file that looks like a backup, and
//! no step pipes one program into another (so nothing depends on `pipefail`, which dash and
//! busybox `sh` lack).

use super::{
    env_secret, env_text, render_path, render_plain, sh, CBuild, CMount, CService, CServiceSecret, EmitOptions,
    OutputFile, Secrets,
};
use super::{BackupEngine, BackupJob, BACKUP_METRIC, BACKUP_METRICS_DIR, BACKUP_STAMP_FORMAT};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;

/// Small images with a pinned release: busybox `tar`, `gzip`, `find`, `cp` for volume
/// archives, copies and retention.
const ALPINE_IMAGE: &str = "alpine:3.20";
/// An official image that ships GnuPG (Debian 12's 2.2): `buildpack-deps:*-curl` installs
/// `gnupg` for verifying downloads.
const GPG_IMAGE: &str = "buildpack-deps:bookworm-curl";
/// AWS CLI v2 for `aws s3 cp`.
const AWS_IMAGE: &str = "amazon/aws-cli:2.17.0";
/// Where backups whose `to=` is S3 wait for their upload.
pub(super) const SPOOL_VOLUME: &str = "backup-spool";
/// The output directory of the scripts and the crontab.
pub const DIR: &str = "backup";
/// Where the backup directory (`to=` on the host, or the spool) is mounted in the containers.
const MOUNT: &str = "/backup";
/// Where the step scripts are mounted.
const SCRIPTS: &str = "/stackc-backup";

/// Everything about one backup that the services, scripts and checks share.
struct Job<'a> {
    core: BackupJob<'a>,
}

impl<'a> std::ops::Deref for Job<'a> {
    type Target = BackupJob<'a>;

    fn deref(&self) -> &BackupJob<'a> {
        &self.core
    }
}

impl<'a> Job<'a> {
    fn new(stack: &'a Stack, b: &'a Backup) -> Job<'a> {
        Job { core: BackupJob::new(stack, b) }
    }

    fn service(&self, step: &str) -> String {
        format!("backup-{}-{step}", self.b.name)
    }

    fn script(&self, step: &str) -> String {
        format!("{DIR}/{}-{step}.sh", self.b.name)
    }

    /// The final file name, without the directory: `$BACKUP_STAMP` is expanded by the script.
    fn final_name(&self) -> String {
        self.final_name_with("${BACKUP_STAMP}")
    }

    /// The steps, in the order the host script runs them.
    fn steps(&self) -> Vec<&'static str> {
        let mut steps = vec!["dump"];
        if self.b.encrypt_secret.is_some() {
            steps.push("encrypt");
        }
        if self.copy_dir.is_some() {
            steps.push("copy");
        }
        if !self.uploads.is_empty() {
            steps.push("upload");
        }
        if self.prunes() {
            steps.push("prune");
        }
        steps
    }

    /// Retention is applied to a host directory only (S3: a lifecycle rule, see `check`).
    fn prunes(&self) -> bool {
        self.b.retain_ms.is_some() && self.to_dir.is_some()
    }
}

fn jobs(stack: &Stack) -> Vec<Job<'_>> {
    stack.backups.values().map(|b| Job::new(stack, b)).collect()
}

/// The names of the services the backups add, for the clash check.
fn service_names(job: &Job) -> Vec<String> {
    job.steps().iter().map(|s| job.service(s)).collect()
}

// ---------------------------------------------------------------------------------------
// Shell helpers.

/// A default for a script variable: `: "${VAR:=value}"` when the value needs no quoting,
/// else an `if` with a single-quoted value; `None` (the variable must be set) is `:?`.
fn default_line(var: &str, value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"/:._-@+,=".contains(&b)) => {
            format!(": \"${{{var}:={v}}}\"\n")
        }
        Some(v) => format!("if [ -z \"${{{var}:-}}\" ]; then {var}={}; fi\n", sh(v)),
        None => format!(": \"${{{var}:?{var} must be set}}\"\n"),
    }
}

/// A text's value at build time, or `None` when it depends on a param that has no default
/// (then only the compose file, at deploy time, knows it).
fn script_value(stack: &Stack, t: &Text) -> Option<String> {
    t.0.iter()
        .map(|p| match p {
            Piece::Lit(s) => Some(s.clone()),
            Piece::Secret(_) => None,
            Piece::Param(n) => stack.params.get(n).filter(|p| !p.required).and_then(|_| stack.param_value(n)),
        })
        .collect()
}

fn has_params(t: &Text) -> bool {
    t.0.iter().any(|p| matches!(p, Piece::Param(_)))
}

fn script_header(stack: &Stack, job: &Job, step: &str, what: &str) -> String {
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&super::header("#", stack));
    out.push_str(&format!(
        "# Backup `{}`, {step}: {what}\n# Run by backup/{}.sh as the compose service `{}`; the variables below can be overridden\n# from the environment.\n",
        job.name(),
        job.name(),
        job.service(step),
    ));
    out.push_str("set -eu\numask 077\n");
    out
}

// ---------------------------------------------------------------------------------------
// The step scripts.

fn dump_script(stack: &Stack, job: &Job) -> String {
    let b = job.b;
    let what = match job.engine {
        BackupEngine::Postgres => format!(
            "pg_dump of `{}` in its own image (pg_dump matches the server's major version).",
            b.service.as_deref().unwrap_or_default()
        ),
        BackupEngine::Redis => format!(
            "redis-cli --rdb of `{}` in its own image (a snapshot like the server's own).",
            b.service.as_deref().unwrap_or_default()
        ),
        BackupEngine::Volume => {
            format!("tar of the volume `{}`, mounted read-only.", b.volume.as_deref().unwrap_or_default())
        }
    };
    let mut out = script_header(stack, job, "dump", &what);
    let host = b.service.as_deref().unwrap_or_default();
    match job.engine {
        BackupEngine::Postgres => {
            out.push_str(&default_line("PGHOST", Some(host)));
            out.push_str(&default_line("PGPORT", Some(&job.port().to_string())));
            out.push_str(&default_line("PGUSER", script_value(stack, &job.pg_user()).as_deref()));
            out.push_str(&default_line("PGDATABASE", script_value(stack, &job.pg_database()).as_deref()));
        }
        BackupEngine::Redis => {
            out.push_str(&default_line("REDIS_HOST", Some(host)));
            out.push_str(&default_line("REDIS_PORT", Some(&job.port().to_string())));
            if let Some(u) = &b.user {
                out.push_str(&default_line("REDIS_USER", script_value(stack, &Text::from_default(u)).as_deref()));
            }
        }
        BackupEngine::Volume => out.push_str(&default_line("BACKUP_SOURCE", Some("/data"))),
    }
    out.push_str(&default_line("BACKUP_DIR", Some(MOUNT)));
    let password = job.password();
    if let Some(p) = password {
        out.push_str(&default_line("BACKUP_PASSWORD_FILE", Some(&format!("/run/secrets/{p}"))));
    }
    out.push_str(&format!(": \"${{BACKUP_STAMP:=$(date -u {BACKUP_STAMP_FORMAT})}}\"\n"));
    match job.engine {
        BackupEngine::Postgres => out.push_str("export PGHOST PGPORT PGUSER PGDATABASE\n"),
        BackupEngine::Redis | BackupEngine::Volume => {}
    }
    if password.is_some() {
        // Read from the mounted secret, never from the command line (visible in `ps`).
        let var = if job.engine == BackupEngine::Redis { "REDISCLI_AUTH" } else { "PGPASSWORD" };
        out.push_str(&format!("{var}=$(cat \"$BACKUP_PASSWORD_FILE\")\nexport {var}\n"));
    }
    out.push_str(&job.dump_commands("BACKUP_STAMP"));
    out
}

fn encrypt_script(stack: &Stack, job: &Job, secret: &str) -> String {
    let mut out = script_header(stack, job, "encrypt", "gpg, symmetric AES-256; only the encrypted file is kept.");
    out.push_str(&default_line("BACKUP_DIR", Some(MOUNT)));
    out.push_str(&default_line("BACKUP_PASSPHRASE_FILE", Some(&format!("/run/secrets/{secret}"))));
    out.push_str(": \"${BACKUP_STAMP:?BACKUP_STAMP must be set to the time stamp of the dump}\"\n");
    out.push_str(&job.encrypt_commands("BACKUP_STAMP"));
    out
}

fn copy_script(stack: &Stack, job: &Job) -> String {
    let mut out = script_header(stack, job, "copy", "the new file to `copy-to=`, under a temporary name first.");
    out.push_str(&default_line("BACKUP_DIR", Some(MOUNT)));
    out.push_str(&default_line("COPY_DIR", Some("/copy")));
    out.push_str(": \"${BACKUP_STAMP:?BACKUP_STAMP must be set to the time stamp of the dump}\"\n");
    out.push_str(&format!("file=\"{}\"\n", job.final_name()));
    out.push_str(
        "tmp=\"$COPY_DIR/.$file.partial\"\ntrap 'rm -f \"$tmp\"' EXIT\ntrap 'exit 1' HUP INT TERM\n\
         cp \"$BACKUP_DIR/$file\" \"$tmp\"\nmv \"$tmp\" \"$COPY_DIR/$file\"\ntrap - EXIT\n",
    );
    out.push_str(&format!("echo \"backup {}: copied\"\n", job.name()));
    out
}

fn upload_script(stack: &Stack, job: &Job) -> String {
    let b = job.b;
    let mut out = script_header(stack, job, "upload", "`aws s3 cp` (an object appears only once it is complete).");
    out.push_str(&default_line("BACKUP_DIR", Some(MOUNT)));
    for (var, url) in &job.uploads {
        out.push_str(&default_line(var, script_value(stack, url).as_deref()));
    }
    out.push_str(": \"${BACKUP_STAMP:?BACKUP_STAMP must be set to the time stamp of the dump}\"\n");
    // File and external secrets are mounted; the AWS CLI reads only variables.
    for (key, value) in &b.env {
        if let EnvValue::Secret(name) = value {
            if !matches!(stack.secrets.get(name).map(|s| &s.source), Some(SecretSource::Env(_))) {
                out.push_str(&format!("{key}=$(cat /run/secrets/{name})\nexport {key}\n"));
            }
        }
    }
    out.push_str(&format!("file=\"{}\"\n", job.final_name()));
    for (var, _) in &job.uploads {
        out.push_str(&format!("aws s3 cp --only-show-errors \"$BACKUP_DIR/$file\" \"${{{var}%/}}/$file\"\n"));
    }
    if job.to_dir.is_none() {
        out.push_str("# `to=` is S3: the spool keeps nothing once it is uploaded.\nrm -f \"$BACKUP_DIR/$file\"\n");
    }
    out.push_str(&format!("echo \"backup {}: uploaded\"\n", b.name));
    out
}

fn prune_script(stack: &Stack, job: &Job, retain_ms: u64) -> String {
    let mut out = script_header(
        stack,
        job,
        "prune",
        &format!("delete this backup's files older than {} in `to=`.", retention(retain_ms)),
    );
    out.push_str(&default_line("BACKUP_DIR", Some(MOUNT)));
    // `-mmin +N` matches files at least N+1 whole minutes old: older than the retention
    // (`-mtime +7` keeps eight days, a mistake of the guides).
    let minutes = (retain_ms / 60_000).max(1) - 1;
    out.push_str(&format!(
        "# Only this backup's own files (its name, a time stamp, its extension): never anything else.\n\
         find \"$BACKUP_DIR\" -maxdepth 1 -type f -name {} -mmin +{minutes} -exec rm -f {{}} \\;\n",
        sh(&job.final_glob())
    ));
    out.push_str(&format!("echo \"backup {}: pruned\"\n", job.name()));
    out
}

/// A retention for people: `30 days`, else compose's duration spelling.
fn retention(ms: u64) -> String {
    match ms / 86_400_000 {
        1 if ms == 86_400_000 => "1 day".into(),
        d if d > 0 && ms.is_multiple_of(86_400_000) => format!("{d} days"),
        _ => super::duration(ms),
    }
}

/// `backup/<name>.sh`: the steps in order, on the host, from cron or by hand.
fn host_script(stack: &Stack, job: &Job, compose_file: &str) -> String {
    let b = job.b;
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&super::header("#", stack));
    out.push_str(&format!(
        "# Backup `{}` ({}): runs each step as a one-shot compose service and stops at the first\n\
         # failure, so old backups are pruned only after a new one was written. Run by backup/crontab;\n\
         # run it by hand the same way. The compose services read `.env` next to the compose file.\n",
        b.name, b.schedule
    ));
    out.push_str("set -eu\ncd \"$(dirname \"$0\")/..\"\n");
    out.push_str(&format!(
        "report() {{\n    rc=$?\n    if [ \"$rc\" -ne 0 ]; then\n        echo \"backup {}: FAILED (exit $rc)\" >&2\n    fi\n}}\ntrap report EXIT\n",
        b.name
    ));
    out.push_str(&format!("BACKUP_STAMP=$(date -u {BACKUP_STAMP_FORMAT})\n"));
    out.push_str(&format!(
        "step() {{\n    docker compose -f {} run --rm -T -e \"BACKUP_STAMP=$BACKUP_STAMP\" \"$1\"\n}}\n",
        sh(compose_file)
    ));
    for s in job.steps() {
        out.push_str(&format!("step {}\n", job.service(s)));
    }
    // The last success as a node-exporter textfile: written to a temporary file and renamed,
    // so that the exporter never reads half a file.
    let metrics = format!("{}/{}.prom", BACKUP_METRICS_DIR, b.name);
    let tmp = sh(&format!("{metrics}.tmp"));
    out.push_str(&format!("mkdir -p {}\n", sh(BACKUP_METRICS_DIR)));
    out.push_str(&format!(
        "printf '# HELP {m} When backup %s last succeeded.\\n# TYPE {m} gauge\\n{m}{{backup=\"%s\"}} %s\\n' {name} {name} \"$(date -u +%s)\" > {tmp}\n",
        m = BACKUP_METRIC,
        name = sh(&b.name),
    ));
    out.push_str(&format!("mv {tmp} {}\n", sh(&metrics)));
    out.push_str(&format!("echo \"backup {}: done ($BACKUP_STAMP)\"\n", b.name));
    out
}

/// `backup/crontab`, for `/etc/cron.d`.
fn crontab(stack: &Stack, project: &str, jobs: &[Job]) -> String {
    // The project name goes into a file name (cron.d skips names with dots), a path and a
    // syslog tag, all unquoted: letters, digits and `-` only.
    let project: String =
        project.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    let file = format!("{project}-backup");
    let mut out = super::header("#", stack);
    out.push_str(&format!(
        "# The backup schedule, for /etc/cron.d (compose has no scheduler). Install as root, from the\n\
         # directory this build is deployed to (STACK_DIR below is that directory):\n\
         #   sed \"s|^STACK_DIR=.*|STACK_DIR=$PWD|\" backup/crontab > /etc/cron.d/{file} && chmod 0644 /etc/cron.d/{file}\n\
         # Times are in the host's time zone (`timedatectl` shows it): cron.d has no time zone of its own.\n\
         # Cron starts the scripts with an empty environment: the variables the compose file reads\n\
         # (secrets included) must be in `.env` next to it. Output goes to syslog (`journalctl -t {project}-backup-NAME`).\n"
    ));
    out.push_str("SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    out.push_str(&format!("STACK_DIR=/srv/{project}\n"));
    for j in jobs {
        out.push_str(&format!(
            "{} root /bin/sh \"$STACK_DIR/{DIR}/{}.sh\" 2>&1 | logger -t {project}-backup-{}\n",
            j.b.schedule, j.b.name, j.b.name
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------
// The services.

fn script_mount(job: &Job, step: &str) -> CMount {
    CMount::Short(format!("./{}:{SCRIPTS}/{}-{step}.sh:ro", job.script(step), job.name()))
}

fn entrypoint(job: &Job, step: &str) -> Option<Vec<String>> {
    Some(vec!["/bin/sh".into(), format!("{SCRIPTS}/{}-{step}.sh", job.name())])
}

fn backup_mount(stack: &Stack, opts: &EmitOptions, job: &Job, read_only: bool) -> CMount {
    let ro = if read_only { ":ro" } else { "" };
    match &job.to_dir {
        Some(d) => CMount::Short(format!("{}:{MOUNT}{ro}", render_path(stack, opts, d))),
        None => CMount::Short(format!("{SPOOL_VOLUME}:{MOUNT}{ro}")),
    }
}

fn mount_secret(c: &mut CService, secrets: &mut Secrets, name: &str) {
    secrets.declare(name);
    if !c.secrets.iter().any(|s| s.source == name) {
        c.secrets.push(CServiceSecret { source: name.to_string(), target: None, mode: None });
    }
}

fn base_service(image: Option<String>) -> CService {
    // The stack's labels and logging are added with every generated service's. The scripts
    // write only to the backup directory and to /tmp (mktemp, gpg's home): a read-only root.
    CService {
        image,
        profiles: vec!["backup".into()],
        read_only: Some(true),
        tmpfs: vec!["/tmp".into()],
        ..CService::default()
    }
}

fn dump_service(stack: &Stack, opts: &EmitOptions, job: &Job, secrets: &mut Secrets) -> CService {
    let b = job.b;
    let (image, build) = match (job.engine, job.db) {
        (BackupEngine::Volume, _) => (Some(ALPINE_IMAGE.to_string()), None),
        (_, Some(db)) => (
            db.image.as_ref().map(|t| render_plain(stack, t)),
            db.build.as_ref().filter(|_| db.image.is_none()).map(|bd| CBuild {
                context: render_path(stack, opts, &bd.context),
                dockerfile: bd.dockerfile.as_ref().map(|t| render_plain(stack, t)),
                target: bd.target.as_ref().map(|t| render_plain(stack, t)),
                args: bd.args.iter().map(|(k, v)| (k.clone(), render_plain(stack, v))).collect(),
            }),
        ),
        (BackupEngine::Postgres, None) => (Some("postgres".into()), None),
        (BackupEngine::Redis, None) => (Some("redis".into()), None),
    };
    let mut c = base_service(image);
    c.build = build;
    c.entrypoint = entrypoint(job, "dump");
    // What depends on params is set here, so that deploy-time values apply; the script's
    // own defaults are the rest.
    match job.engine {
        BackupEngine::Postgres => {
            let user = job.pg_user();
            let database = job.pg_database();
            // Taken from the service's environment, a value may hold env secrets.
            for (key, t) in [("PGUSER", &user), ("PGDATABASE", &database)] {
                if has_params(t) || t.secrets().next().is_some() {
                    c.environment.insert(key.to_string(), env_text(stack, t));
                }
            }
        }
        BackupEngine::Redis => {
            let user = b.user.as_deref().map(Text::from_default).filter(has_params);
            if let Some(u) = user {
                c.environment.insert("REDIS_USER".into(), render_plain(stack, &u));
            }
        }
        BackupEngine::Volume => {}
    }
    if let Some(p) = job.password() {
        mount_secret(&mut c, secrets, p);
    }
    c.volumes.push(backup_mount(stack, opts, job, false));
    if let Some(v) = &b.volume {
        c.volumes.push(CMount::Short(format!("{v}:/data:ro")));
    }
    c.volumes.push(script_mount(job, "dump"));
    if let Some(db) = job.db {
        c.networks.clone_from(&db.networks);
    } else {
        // A volume archive talks to nothing.
        c.network_mode = Some("none".into());
    }
    c
}

fn encrypt_service(stack: &Stack, opts: &EmitOptions, job: &Job, secret: &str, secrets: &mut Secrets) -> CService {
    let mut c = base_service(Some(GPG_IMAGE.into()));
    c.entrypoint = entrypoint(job, "encrypt");
    mount_secret(&mut c, secrets, secret);
    c.volumes.push(backup_mount(stack, opts, job, false));
    c.volumes.push(script_mount(job, "encrypt"));
    c.network_mode = Some("none".into());
    c
}

fn copy_service(stack: &Stack, opts: &EmitOptions, job: &Job, dir: &Text) -> CService {
    let mut c = base_service(Some(ALPINE_IMAGE.into()));
    c.entrypoint = entrypoint(job, "copy");
    c.volumes.push(backup_mount(stack, opts, job, true));
    c.volumes.push(CMount::Short(format!("{}:/copy", render_path(stack, opts, dir))));
    c.volumes.push(script_mount(job, "copy"));
    c.network_mode = Some("none".into());
    c
}

fn upload_service(stack: &Stack, opts: &EmitOptions, job: &Job, secrets: &mut Secrets) -> CService {
    let mut c = base_service(Some(AWS_IMAGE.into()));
    c.entrypoint = entrypoint(job, "upload");
    for (var, url) in &job.uploads {
        if has_params(url) {
            c.environment.insert((*var).to_string(), render_plain(stack, url));
        }
    }
    for (key, value) in &job.b.env {
        match value {
            EnvValue::Text(t) => {
                c.environment.insert(key.clone(), env_text(stack, t));
            }
            EnvValue::Secret(name) => match stack.secrets.get(name) {
                Some(s @ Secret { source: SecretSource::Env(var), .. }) => {
                    c.environment.insert(key.clone(), env_secret(s, var));
                }
                // The script exports it from the mounted file.
                Some(_) => mount_secret(&mut c, secrets, name),
                None => {}
            },
        }
    }
    // The spool is emptied after the upload; a host directory is only read.
    c.volumes.push(backup_mount(stack, opts, job, job.to_dir.is_some()));
    c.volumes.push(script_mount(job, "upload"));
    c
}

fn prune_service(stack: &Stack, opts: &EmitOptions, job: &Job) -> CService {
    let mut c = base_service(Some(ALPINE_IMAGE.into()));
    c.entrypoint = entrypoint(job, "prune");
    c.volumes.push(backup_mount(stack, opts, job, false));
    c.volumes.push(script_mount(job, "prune"));
    c.network_mode = Some("none".into());
    c
}

/// The services, volumes and files of every backup.
pub(super) struct BackupPlan {
    pub services: Vec<(String, CService)>,
    pub volumes: Vec<String>,
    pub files: Vec<OutputFile>,
}

pub(super) fn plan(stack: &Stack, opts: &EmitOptions, secrets: &mut Secrets, project: &str) -> Option<BackupPlan> {
    let jobs = jobs(stack);
    if jobs.is_empty() {
        return None;
    }
    let compose_file = super::file_name(stack);
    let mut services = Vec::new();
    let mut files = Vec::new();
    let mut volumes = Vec::new();
    let script = |path: String, text: String| OutputFile { executable: true, ..OutputFile::new(path, text) };
    for job in &jobs {
        services.push((job.service("dump"), dump_service(stack, opts, job, secrets)));
        files.push(script(job.script("dump"), dump_script(stack, job)));
        if let Some(secret) = &job.b.encrypt_secret {
            services.push((job.service("encrypt"), encrypt_service(stack, opts, job, secret, secrets)));
            files.push(script(job.script("encrypt"), encrypt_script(stack, job, secret)));
        }
        if let Some(dir) = &job.copy_dir {
            services.push((job.service("copy"), copy_service(stack, opts, job, dir)));
            files.push(script(job.script("copy"), copy_script(stack, job)));
        }
        if !job.uploads.is_empty() {
            services.push((job.service("upload"), upload_service(stack, opts, job, secrets)));
            files.push(script(job.script("upload"), upload_script(stack, job)));
        }
        if let (true, Some(ms)) = (job.prunes(), job.b.retain_ms) {
            services.push((job.service("prune"), prune_service(stack, opts, job)));
            files.push(script(job.script("prune"), prune_script(stack, job, ms)));
        }
        files.push(script(format!("{DIR}/{}.sh", job.name()), host_script(stack, job, &compose_file)));
        if job.to_dir.is_none() && !volumes.iter().any(|v| v == SPOOL_VOLUME) {
            volumes.push(SPOOL_VOLUME.to_string());
        }
    }
    files.push(OutputFile::new(format!("{DIR}/crontab"), crontab(stack, project, &jobs)));
    // The directory the scripts write their last success to exists from the start, so that
    // the node exporter's bind mount of it is of the build's own directory.
    let mut readme = super::header("#", stack);
    readme.push_str(
        "# backup/<name>.sh writes <name>.prom here when the backup succeeded: the node exporter's\n\
         # textfile collector reads it (stackc_backup_last_success_timestamp_seconds), and the\n\
         # Prometheus target alerts when it gets old. Only *.prom files are read.\n",
    );
    files.push(OutputFile::new(format!("{BACKUP_METRICS_DIR}/README"), readme));
    Some(BackupPlan { services, volumes, files })
}

/// Secrets the backup services read (for `.env.example`).
pub(super) fn secrets(stack: &Stack) -> Vec<&str> {
    let mut out = Vec::new();
    for job in jobs(stack) {
        out.extend(job.password());
        out.extend(job.b.encrypt_secret.as_deref());
        if !job.uploads.is_empty() {
            for v in job.b.env.values() {
                match v {
                    EnvValue::Secret(n) => out.push(n.as_str()),
                    EnvValue::Text(t) => out.extend(t.secrets()),
                }
            }
        }
    }
    out
}

/// What the backup services cannot do for this stack.
pub(super) fn check(stack: &Stack) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let jobs = jobs(stack);
    for job in &jobs {
        let b = job.b;
        let span = origin_span(b.origin);
        for name in service_names(job) {
            if let Some(svc) = stack.services.get(&name) {
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!(
                            "service `{name}` clashes with the `{name}` service that compose generates for backup `{}`",
                            b.name
                        ),
                    )
                    .at(origin_span(svc.origin), "declared here")
                    .label(span, "this backup runs as compose services named `backup-<name>-<step>`")
                    .help("rename the service or the backup"),
                );
            }
        }
        if job.to_dir.is_none() {
            if let Some(ms) = b.retain_ms {
                out.push(
                    Diagnostic::warning(
                        Code::TargetApproximation,
                        format!("compose does not delete backup `{}`'s old files in S3", b.name),
                    )
                    .at(span, "`retain=` with `to=\"s3://…\"`")
                    .help(format!(
                        "give the bucket a lifecycle rule that expires the prefix's objects after {} days (deleting from a scheduled job needs list and delete rights on the bucket, which a backup job should not have)",
                        ms.div_ceil(86_400_000)
                    )),
                );
            }
        }
        if job.engine == BackupEngine::Redis {
            let ignored: Vec<&str> = [
                ("database", b.database.is_some()),
                ("format", b.format.is_some()),
                ("no-owner", b.no_owner),
                ("no-privileges", b.no_privileges),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if !ignored.is_empty() {
                out.push(
                    Diagnostic::warning(
                        Code::TargetApproximation,
                        format!("backup `{}` dumps Redis, which has no {}", b.name, ignored.join(", ")),
                    )
                    .at(span, "ignored for redis")
                    .help("redis-cli --rdb copies the whole data set; remove these properties"),
                );
            }
        }
        // Text values in `env` can hold only secrets compose reads from the environment.
        for (key, value) in &b.env {
            let EnvValue::Text(t) = value else { continue };
            for name in t.secrets() {
                if matches!(stack.secrets.get(name).map(|s| &s.source), Some(SecretSource::Env(_)) | None) {
                    continue;
                }
                out.push(
                    Diagnostic::error(
                        Code::TargetCannotExpress,
                        format!("compose cannot put the file secret `{name}` into `{key}` of backup `{}`", b.name),
                    )
                    .at(span, "in this backup's env")
                    .help(format!("set `{key}=(secret)\"{name}\"` (the whole value), or declare `{name}` with `env=`")),
                );
            }
        }
        if job.uploads.is_empty() && !b.env.is_empty() {
            out.push(
                Diagnostic::warning(
                    Code::TargetApproximation,
                    format!("backup `{}` uploads nothing, so no compose service uses its `env`", b.name),
                )
                .at(span, "no s3:// destination")
                .help("`env` is for the upload to S3 (credentials, region)"),
            );
        }
    }
    if jobs.iter().any(|j| j.to_dir.is_none()) {
        if let Some(v) = stack.volumes.get(SPOOL_VOLUME) {
            out.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!("volume `{SPOOL_VOLUME}` clashes with the volume compose generates for backups to S3"),
                )
                .at(origin_span(v.origin), "declared here")
                .help("rename the volume: backups to S3 wait for their upload in a volume of this name"),
            );
        }
    }
    out
}
