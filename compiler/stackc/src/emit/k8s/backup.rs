//! Backups in the Kubernetes target (`docs/targets/k8s.md`, "Backups"): a CronJob per
//! `backup`, whose pod runs the steps in order (dump, encrypt, upload, prune) as init
//! containers and a last container, so that a step runs only after the previous one
//! succeeded and a failed dump never gets uploaded or lets old backups be pruned.
//!
//! Each step is a generated script `k8s/backup/<name>-<step>.sh`, packed into the ConfigMap
//! `backup-<name>` by the kustomization's configMapGenerator (so the scripts stay files that
//! shellcheck and the tests read) and run with `sh`. A file gets its final name
//! (`<name>-<UTC stamp>.<ext>`) only by a rename after the step that wrote it succeeded, and
//! no step pipes one program into another (dash and busybox `sh` lack `pipefail`).

use indexmap::IndexMap;

use super::{
    bytes, escape_dollar, header, shell_word, Builder, ClaimRef, ConfigMapGenerator, Container, EmptyDir, EnvVar,
    KeyToPath, NameRef, Object, OutputFile, PodMeta, PodSpec, PodTemplate, PodVolume, PvcResources, PvcSpec,
    SecretVolume, ValueFrom, VolumeMount, DIR, SELECTOR_KEY,
};
use super::{BackupEngine, BackupJob, GeneratorOptions, BACKUP_STAMP_FORMAT};
use crate::diagnostics::{origin_span, Code, Diagnostic};
use crate::ir::*;
use serde::Serialize;

/// Busybox `tar`, `gzip`, `find` for volume archives and retention.
const ALPINE_IMAGE: &str = "alpine:3.20";
/// An official image that ships GnuPG.
const GPG_IMAGE: &str = "buildpack-deps:bookworm-curl";
/// AWS CLI v2 for `aws s3 cp`.
const AWS_IMAGE: &str = "amazon/aws-cli:2.17.0";
/// Where the backup directory (a claim, or a spool for S3) is mounted in every step.
const MOUNT: &str = "/backup";
/// Where the step scripts are mounted.
const SCRIPTS: &str = "/stackc-backup";
/// Where the steps share the run's time stamp.
const STATE: &str = "/stackc-state";
/// Where the encryption passphrase is mounted.
const PASSPHRASE: &str = "/stackc-secrets/passphrase";
/// The claim of a backup whose `to=` is a directory (there is no host on Kubernetes).
const DEFAULT_BACKUP_CLAIM: u64 = 10 << 30;
/// CronJob names are limited to 52 characters (the Job name gets a suffix).
const MAX_CRONJOB_NAME: usize = 52;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CronJobSpec {
    schedule: String,
    time_zone: &'static str,
    concurrency_policy: &'static str,
    job_template: JobTemplate,
}

#[derive(Serialize)]
struct JobTemplate {
    spec: BackupJobSpec,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BackupJobSpec {
    backoff_limit: u32,
    template: PodTemplate,
}

pub(super) struct Job<'a> {
    core: BackupJob<'a>,
}

impl<'a> std::ops::Deref for Job<'a> {
    type Target = BackupJob<'a>;

    fn deref(&self) -> &BackupJob<'a> {
        &self.core
    }
}

impl<'a> Job<'a> {
    pub(super) fn new(stack: &'a Stack, b: &'a Backup) -> Job<'a> {
        Job { core: BackupJob::new(stack, b) }
    }

    pub(super) fn object(&self) -> String {
        format!("backup-{}", self.b.name)
    }

    fn final_name(&self) -> String {
        self.final_name_with("${stamp}")
    }
}

fn script_header(stack: &Stack, job: &Job, step: &str, what: &str) -> String {
    let mut out = String::from("#!/bin/sh\n");
    out.push_str(&header("#", stack));
    out.push_str(&format!(
        "# Backup `{}`, {step}: {what}\n# Run as a step of the CronJob `{}` (k8s/cronjob-{}.yaml); its settings are environment\n# variables of the step's container.\n",
        job.name(),
        job.object(),
        job.object(),
    ));
    out.push_str("set -eu\numask 077\n");
    out
}

/// Reads the run's stamp, which the dump step wrote.
const READ_STAMP: &str = "stamp=$(cat \"$STACKC_STATE/stamp\")\n";

fn dump_script(stack: &Stack, job: &Job) -> String {
    let b = job.b;
    let what = match job.engine {
        BackupEngine::Postgres => format!(
            "pg_dump of `{}` in its own image (pg_dump matches the server's major version).",
            b.service.as_deref().unwrap_or_default()
        ),
        BackupEngine::Redis => {
            format!("redis-cli --rdb of `{}` in its own image.", b.service.as_deref().unwrap_or_default())
        }
        BackupEngine::Volume => {
            format!("tar of the volume `{}`, mounted read-only.", b.volume.as_deref().unwrap_or_default())
        }
    };
    let mut out = script_header(stack, job, "dump", &what);
    out.push_str(&format!(
        "stamp=$(date -u {BACKUP_STAMP_FORMAT})\nprintf '%s\\n' \"$stamp\" >\"$STACKC_STATE/stamp\"\n"
    ));
    out.push_str(&job.dump_commands("stamp"));
    out
}

fn encrypt_script(stack: &Stack, job: &Job) -> String {
    let mut out = script_header(stack, job, "encrypt", "gpg, symmetric AES-256; only the encrypted file is kept.");
    out.push_str(READ_STAMP);
    out.push_str(&job.encrypt_commands("stamp"));
    out
}

fn upload_script(stack: &Stack, job: &Job) -> String {
    let mut out = script_header(stack, job, "upload", "`aws s3 cp` (an object appears only once it is complete).");
    for (var, _) in &job.uploads {
        out.push_str(&format!(": \"${{{var}:?{var} must be set}}\"\n"));
    }
    out.push_str(READ_STAMP);
    out.push_str(&format!("file=\"{}\"\n", job.final_name()));
    for (var, _) in &job.uploads {
        out.push_str(&format!("aws s3 cp --only-show-errors \"$BACKUP_DIR/$file\" \"${{{var}%/}}/$file\"\n"));
    }
    out.push_str(&format!("echo \"backup {}: uploaded\"\n", job.name()));
    out
}

fn prune_script(stack: &Stack, job: &Job, retain_ms: u64) -> String {
    let mut out = script_header(stack, job, "prune", "delete this backup's files older than the retention.");
    // `-mmin +N` matches files at least N+1 whole minutes old: older than the retention.
    let minutes = (retain_ms / 60_000).max(1) - 1;
    out.push_str(&format!(
        "# Only this backup's own files (its name, a time stamp, its extension): never anything else.\n\
         find \"$BACKUP_DIR\" -maxdepth 1 -type f -name {} -mmin +{minutes} -exec rm -f {{}} \\;\n",
        shell_word(&job.final_glob())
    ));
    out.push_str(&format!("echo \"backup {}: pruned\"\n", job.name()));
    out
}

/// A literal env value: Kubernetes would expand a `$(VAR)` in it (compose keeps it as
/// written), so it is escaped as in the services' env.
fn plain(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.to_string(), value: Some(escape_dollar(&value.into())), value_from: None }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        sub_path: None,
        read_only: read_only.then_some(true),
        mount_propagation: None,
    }
}

fn volume(name: &str) -> PodVolume {
    PodVolume {
        name: name.into(),
        persistent_volume_claim: None,
        empty_dir: None,
        secret: None,
        config_map: None,
        host_path: None,
    }
}

impl Builder<'_> {
    pub(super) fn backups(&mut self) {
        let stack = self.stack;
        for b in stack.backups.values() {
            let job = Job::new(stack, b);
            self.backup(&job);
        }
    }

    fn backup(&mut self, job: &Job) {
        let stack = self.stack;
        let b = job.b;
        let object = job.object();
        if object.len() > MAX_CRONJOB_NAME {
            self.diags.push(
                Diagnostic::error(
                    Code::TargetCannotExpress,
                    format!(
                        "the CronJob of backup `{}` would be named `{object}`, longer than Kubernetes allows (52)",
                        b.name
                    ),
                )
                .at(origin_span(b.origin), "backup")
                .help("give the backup a shorter name"),
            );
            return;
        }
        let origin = b.origin;
        if let Some(c) = &b.copy_to {
            if !stack.compile_time(&Text::from_default(c)).starts_with("s3://") {
                self.warn(
                    origin,
                    format!("backup `{}`: `copy-to=\"{c}\"` is a directory of a host; Kubernetes has none, so the copy is not made", b.name),
                    "copy-to",
                    "copy to S3 (`copy-to=\"s3://…\"`)",
                );
            }
        }
        if job.b.retain_ms.is_some() && job.to_dir.is_none() {
            self.warn(
                origin,
                format!("Kubernetes does not delete backup `{}`'s old files in S3", b.name),
                "retain",
                "expire them with a lifecycle rule on the bucket",
            );
        }

        // The backup directory: a claim for `to=` directories, a spool for S3.
        let mut volumes = vec![
            PodVolume { config_map: Some(NameRef { name: object.clone() }), ..volume("scripts") },
            PodVolume { empty_dir: Some(EmptyDir { medium: None, size_limit: None }), ..volume("state") },
        ];
        let dir_volume = if job.to_dir.is_some() {
            let claim = object.clone();
            self.warn(
                origin,
                format!(
                    "backup `{}`: `to=\"{}\"` is a directory of a host; on Kubernetes the files go to the claim `{claim}` ({})",
                    b.name,
                    b.to,
                    bytes(DEFAULT_BACKUP_CLAIM)
                ),
                "to",
                "back up to S3 (`to=\"s3://…\"`), or read the files from the claim",
            );
            let mut requests = IndexMap::new();
            requests.insert("storage", bytes(DEFAULT_BACKUP_CLAIM));
            let metadata = self.meta(&claim, &[]);
            self.push(Object {
                api_version: "v1",
                kind: "PersistentVolumeClaim",
                metadata,
                spec: Some(PvcSpec {
                    access_modes: vec!["ReadWriteOnce"],
                    storage_class_name: super::option(stack, "storage-class"),
                    resources: PvcResources { requests },
                    volume_name: None,
                }),
                data: None,
            });
            PodVolume { persistent_volume_claim: Some(ClaimRef { claim_name: claim }), ..volume("backup") }
        } else {
            PodVolume { empty_dir: Some(EmptyDir { medium: None, size_limit: None }), ..volume("backup") }
        };
        volumes.push(dir_volume);

        let common = |step: &str| -> Container {
            Container {
                name: step.to_string(),
                command: Some(vec!["sh".into(), format!("{SCRIPTS}/{step}.sh")]),
                env: vec![plain("BACKUP_DIR", MOUNT), plain("STACKC_STATE", STATE)],
                volume_mounts: vec![
                    mount("scripts", SCRIPTS, true),
                    mount("state", STATE, false),
                    mount("backup", MOUNT, false),
                ],
                security_context: Some(super::security::step_security(&[])),
                ..Container::default()
            }
        };
        let mut steps: Vec<Container> = Vec::new();
        let mut scripts: Vec<(String, String)> = Vec::new();

        // dump
        let mut dump = common("dump");
        let host = b.service.clone().unwrap_or_default();
        match job.engine {
            BackupEngine::Postgres | BackupEngine::Redis => {
                let Some(db) = job.db else { return };
                dump.image = match &db.image {
                    Some(i) => self.text(i, origin, "the database image"),
                    None => return,
                };
                if job.engine == BackupEngine::Postgres {
                    let user = self.text(&job.pg_user(), origin, "the backup's user");
                    let database = self.text(&job.pg_database(), origin, "the backup's database");
                    dump.env.push(plain("PGHOST", host.clone()));
                    dump.env.push(plain("PGPORT", self.service_port(&db.name, job.port()).to_string()));
                    dump.env.push(plain("PGUSER", user));
                    dump.env.push(plain("PGDATABASE", database));
                } else {
                    dump.env.push(plain("REDIS_HOST", host.clone()));
                    dump.env.push(plain("REDIS_PORT", self.service_port(&db.name, job.port()).to_string()));
                    if let Some(u) = &b.user {
                        let u = self.text(&Text::from_default(u), origin, "the backup's user");
                        dump.env.push(plain("REDIS_USER", u));
                    }
                }
                if let Some(p) = job.password() {
                    if let Some(r) = self.secret_ref(p) {
                        let var = if job.engine == BackupEngine::Redis { "REDISCLI_AUTH" } else { "PGPASSWORD" };
                        dump.env.push(EnvVar {
                            name: var.into(),
                            value: None,
                            value_from: Some(ValueFrom::SecretKeyRef(r)),
                        });
                    }
                }
            }
            BackupEngine::Volume => {
                dump.image = ALPINE_IMAGE.into();
                let v = b.volume.clone().unwrap_or_default();
                // A volume of a StatefulSet is the first replica's claim.
                let claim = stack
                    .services
                    .values()
                    .find(|s| s.stateful && s.mounts.iter().any(|m| m.source == MountSource::Volume(v.clone())))
                    .map_or_else(|| v.clone(), |s| format!("{v}-{}-0", s.name));
                self.warn(
                    origin,
                    format!(
                        "backup `{}` mounts the claim `{claim}` read-only next to the pods that use it: a ReadWriteOnce claim \
                         lets the backup run only on the node that holds it",
                        b.name
                    ),
                    "volume backup",
                    "give the volume a class that supports ReadWriteMany, or snapshot it with VolumeSnapshots",
                );
                volumes.push(PodVolume {
                    persistent_volume_claim: Some(ClaimRef { claim_name: claim }),
                    ..volume("data")
                });
                dump.env.push(plain("BACKUP_SOURCE", "/data"));
                dump.volume_mounts.push(mount("data", "/data", true));
                // Root without capabilities reads only what root owns: the volume's files
                // belong to whichever user its service runs as.
                dump.security_context = Some(super::security::step_security(&["DAC_READ_SEARCH"]));
            }
        }
        scripts.push(("dump".into(), dump_script(stack, job)));
        steps.push(dump);

        // encrypt
        if let Some(secret) = &b.encrypt_secret {
            let mut c = common("encrypt");
            c.image = GPG_IMAGE.into();
            if let Some(r) = self.secret_ref(secret) {
                volumes.push(PodVolume {
                    secret: Some(SecretVolume {
                        secret_name: r.name,
                        items: vec![KeyToPath { key: r.key, path: "passphrase".into(), mode: Some(0o400) }],
                        optional: None,
                    }),
                    ..volume("passphrase")
                });
                c.env.push(plain("BACKUP_PASSPHRASE_FILE", PASSPHRASE));
                c.volume_mounts.push(mount("passphrase", "/stackc-secrets", true));
            }
            scripts.push(("encrypt".into(), encrypt_script(stack, job)));
            steps.push(c);
        }

        // upload: the backup's `env` (the AWS credentials) only here.
        if !job.uploads.is_empty() {
            let mut c = common("upload");
            c.image = AWS_IMAGE.into();
            for (var, url) in &job.uploads {
                let url = self.text(url, origin, "an S3 destination");
                c.env.push(plain(var, url));
            }
            let extra = self.env_list(&b.env, &IndexMap::new(), origin);
            c.env.extend(extra);
            scripts.push(("upload".into(), upload_script(stack, job)));
            steps.push(c);
        } else if !b.env.is_empty() {
            self.warn(
                origin,
                format!("backup `{}` uploads nothing, so its `env` is not used", b.name),
                "env",
                "remove the `env` block, or upload with `to=\"s3://…\"` or `copy-to=\"s3://…\"`",
            );
        }

        // prune
        if let (Some(ms), true) = (b.retain_ms, job.to_dir.is_some()) {
            let mut c = common("prune");
            c.image = ALPINE_IMAGE.into();
            scripts.push(("prune".into(), prune_script(stack, job, ms)));
            steps.push(c);
        }

        // The scripts, packed by kustomize.
        let mut files = Vec::new();
        for (step, text) in scripts {
            let rel = format!("backup/{}-{step}.sh", b.name);
            files.push(format!("{step}.sh={rel}"));
            self.extra_files.push(OutputFile { executable: true, ..OutputFile::new(format!("{DIR}/{rel}"), text) });
        }
        let options = Some(GeneratorOptions { labels: self.stack_labels() });
        self.generators.push(ConfigMapGenerator { name: object.clone(), namespace: self.ns.clone(), files, options });

        let Some(last) = steps.pop() else { return };
        let mut labels = self.stack_labels();
        labels.insert(SELECTOR_KEY.to_string(), object.clone());
        let labels = self.clean_labels(labels, origin);
        let mut pod = PodSpec {
            restart_policy: Some("Never"),
            init_containers: steps,
            containers: vec![last],
            volumes,
            ..PodSpec::default()
        };
        self.pod_identity(&mut pod, &object, super::security::default_pod_security(), false);
        let metadata = self.meta(&object, &[(SELECTOR_KEY, &object)]);
        self.push(Object {
            api_version: "batch/v1",
            kind: "CronJob",
            metadata,
            spec: Some(CronJobSpec {
                schedule: b.schedule.clone(),
                time_zone: "Etc/UTC",
                // A run that overlaps the previous one would dump twice and prune under it.
                concurrency_policy: "Forbid",
                job_template: JobTemplate {
                    spec: BackupJobSpec {
                        // A failed backup is reported (the Job fails), not silently retried.
                        backoff_limit: 0,
                        template: PodTemplate { metadata: PodMeta { labels, annotations: IndexMap::new() }, spec: pod },
                    },
                },
            }),
            data: None,
        });
    }
}
