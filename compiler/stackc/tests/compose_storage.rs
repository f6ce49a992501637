//! Volumes, mounts and networks in compose's long syntax (issue 12): mount options
//! (`selinux=`, `create-host-path=`, `nocopy=`), tmpfs `mode=`, volume drivers and NFS
//! exports, IPAM gateways and IPv6, external networks by name, and fixed addresses. The
//! fixture `tests/compose_storage/media.stack.kdl` builds to the compose file beside it
//! (`UPDATE_GOLDEN=1` rewrites it); the compose file passes the compose spec schema and
//! Docker Compose v2, the manifests `kubernetes-validate --strict`; Kubernetes reports
//! what it has no field for at the setting (W0501); validation refuses the combinations
//! docker refuses.

use std::path::PathBuf;
use std::process::Command;

use stackc::diagnostics::{Code, Diagnostic};
use stackc::emit::{EmitOptions, OutputFile};
use stackc::Options;

mod support;
use support::{file, in_ci, root, service_block, validate_compose};

fn fixture() -> String {
    std::fs::read_to_string(root().join("compiler/stackc/tests/compose_storage/media.stack.kdl")).unwrap()
}

fn build(text: &str) -> (Vec<OutputFile>, Vec<Diagnostic>) {
    let built = stackc::build("media.stack.kdl", text, &Options::default(), &EmitOptions::default());
    (built.files, built.outcome.diagnostics)
}

fn errors(text: &str) -> Vec<(Code, String)> {
    build(text).1.into_iter().filter(Diagnostic::is_error).map(|d| (d.code, d.message)).collect()
}

#[test]
fn the_fixture_builds_to_its_golden_compose_file() {
    let (files, diags) = build(&fixture());
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    let golden = root().join("compiler/stackc/tests/compose_storage/docker-compose.yml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, compose).unwrap();
    }
    assert_eq!(compose, std::fs::read_to_string(&golden).unwrap());
}

#[test]
fn mounts_take_the_long_syntax_for_their_options() {
    let (files, _) = build(&fixture());
    let app = service_block(file(&files, "docker-compose.yml"), "app");
    for want in [
        // `nocopy` and `subpath` are volume options.
        "- type: volume\n  source: media\n  target: /media\n  read_only: true\n  volume:\n    nocopy: true\n",
        "- type: volume\n  source: app-data\n  target: /data\n  volume:\n    nocopy: true\n    subpath: app\n",
        // An SELinux label is a mode of the short syntax, which creates a missing host path.
        "- ./config:/etc/app:ro,z\n",
        "- type: bind\n  source: ./keys\n  target: /run/keys\n  bind:\n    create_host_path: false\n    selinux: Z\n",
        "- type: bind\n  source: ./spool\n  target: /var/spool/app\n  bind:\n    create_host_path: true\n",
        // No option: the short syntax, as before.
        "- cache:/cache\n",
        // Sizes in bytes, modes in octal.
        "tmpfs:\n- /tmp:size=67108864,mode=1777\n- /run/app:mode=700\n",
        // The map form, once one network has an address; the others join with no settings.
        "networks:\n  lan:\n    ipv4_address: \"172.30.0.10\"\n    ipv6_address: fd00:30::10\n  proxy: null\n  v6only: null\n",
    ] {
        assert!(app.contains(want), "{want}\nnot in:\n{app}");
    }
}

#[test]
fn volumes_and_networks_carry_their_driver_settings() {
    let (files, _) = build(&fixture());
    let compose = file(&files, "docker-compose.yml");
    let top = &compose[compose.find("\nnetworks:\n").expect("top-level networks")..];
    for want in [
        "  lan:\n    ipam:\n      config:\n      - subnet: 172.30.0.0/24\n        gateway: \"172.30.0.1\"\n      - subnet: fd00:30::/64\n        gateway: fd00:30::1\n    name: media_lan\n    enable_ipv6: true\n    driver_opts:\n      com.docker.network.bridge.name: br-media\n",
        // An existing network, attached by its name on the host, not created.
        "  proxy:\n    external: true\n    name: traefik_proxy\n",
        "  v6only:\n    enable_ipv6: true\n",
        // NFS: docker's documented local-driver form; the param at its compile-time value.
        "  media:\n    driver: local\n    driver_opts:\n      type: nfs\n      o: addr=10.0.0.5,nfsvers=4,hard\n      device: \":/exports/media\"\n",
        "  cache:\n    driver: local\n    driver_opts:\n      type: tmpfs\n      device: tmpfs\n      o: size=100m\n",
    ] {
        assert!(top.contains(want), "{want}\nnot in:\n{top}");
    }
}

#[test]
fn an_ipv6_server_is_written_without_brackets() {
    let text = fixture().replace("\"${nfs-server}:/exports/media\"", "\"[fd00::5]:/exports/media\"");
    let (files, diags) = build(&text);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    assert!(file(&files, "docker-compose.yml").contains("o: addr=fd00::5,nfsvers=4,hard\n"));
}

#[test]
fn the_compose_file_passes_the_schema_and_docker_compose_v2() {
    let (files, _) = build(&fixture());
    validate_compose("storage", file(&files, "docker-compose.yml"), &[], Vec::new());
}

#[test]
fn kubernetes_reports_what_it_has_no_field_for_at_the_setting() {
    let text = fixture();
    let (_, diags) = build(&text);
    let at = |needle: &str| -> Diagnostic {
        diags
            .iter()
            .find(|d| d.code == Code::TargetApproximation && d.message.contains(needle))
            .unwrap_or_else(|| panic!("no W0501 with {needle:?}: {diags:#?}"))
            .clone()
    };
    let starts = |d: &Diagnostic, what: &str| {
        let span = d.primary.as_ref().unwrap().span;
        assert!(text[span.offset..].starts_with(what), "{}: at {:?}", d.message, &text[span.offset..][..40]);
    };
    starts(&at("volume `cache`: `driver=` and `driver-opts`"), "volume \"cache\"");
    starts(&at("the fixed address on network `lan`"), "address \"lan\"");
    assert!(at("the tmpfs at `/tmp` has `mode=`").message.contains("Kubernetes emptyDir"));
    assert!(at("the tmpfs at `/run/app` has `mode=`").message.contains("Kubernetes"));
}

#[test]
fn kubernetes_mounts_an_nfs_export_through_a_persistent_volume_bound_to_the_claim() {
    let (files, diags) = build(&fixture());
    assert!(!diags.iter().any(|d| d.message.contains("NFS")), "{diags:#?}");
    assert_eq!(
        file(&files, "k8s/persistentvolume-media-media.yaml").split_once("spec:\n").unwrap().1,
        "  capacity:\n    storage: 1Ti\n  accessModes:\n  - ReadWriteOnce\n  persistentVolumeReclaimPolicy: Retain\n  \
         storageClassName: \"\"\n  mountOptions:\n  - nfsvers=4\n  - hard\n  nfs:\n    server: \"10.0.0.5\"\n    \
         path: /exports/media\n  claimRef:\n    namespace: media\n    name: media\n"
    );
    let claim = file(&files, "k8s/persistentvolumeclaim-media.yaml");
    assert!(claim.contains("  storageClassName: \"\"\n") && claim.ends_with("  volumeName: media-media\n"), "{claim}");
    // A PersistentVolume is cluster-wide: no namespace.
    assert!(!file(&files, "k8s/persistentvolume-media-media.yaml").contains("namespace: media\n  labels"));
    assert!(file(&files, "k8s/kustomization.yaml").contains("- persistentvolume-media-media.yaml\n"));

    // With `class=`, the class provisions the claim; the export is reported, not mounted.
    let text = fixture().replace("size=\"1Ti\"", "size=\"1Ti\" class=\"nfs-client\"");
    let (files, diags) = build(&text);
    assert!(!files.iter().any(|f| f.path.contains("persistentvolume-")), "a PersistentVolume with class=");
    let d = diags.iter().find(|d| d.message.contains("NFS")).expect("a W0501 for the export");
    assert_eq!(d.code, Code::TargetApproximation);
    assert_eq!(
        d.message,
        "volume `media`: the NFS export `10.0.0.5:/exports/media` (`nfs=`) does not back the Kubernetes claim, \
         which `class=` has provisioned instead"
    );
}

#[test]
fn external_volumes_take_no_creation_settings() {
    let text =
        fixture().replace("volume \"app-data\" size=\"5Gi\"", "volume \"app-data\" external=#true driver=\"local\"");
    assert_eq!(errors(&text), [(Code::Conflicting, "volume `app-data`: `driver` on an external volume".to_string())]);
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate_strict() {
    let (files, _) = build(&fixture());
    let tool = root().join(".ci/tools/k8s/bin/kubernetes-validate");
    if !tool.is_file() {
        assert!(!in_ci(), "kubernetes-validate is not installed: CI must run .ci/install-validators first");
        support::report_not_run("kubernetes-validate (.ci/tools/k8s) is not installed; run .ci/install-validators");
        return;
    }
    let dir = std::env::temp_dir().join(format!("stackc-storage-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    for f in files.iter().filter(|f| f.path.starts_with("k8s/") && f.path.ends_with(".yaml")) {
        if f.path.ends_with("kustomization.yaml") {
            continue;
        }
        let p = dir.join(f.path.trim_start_matches("k8s/"));
        std::fs::write(&p, &f.contents).unwrap();
        paths.push(p);
    }
    assert!(paths.len() >= 4, "{paths:?}");
    let out = Command::new(&tool).args(["--strict", "-k", "1.30.0"]).args(&paths).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && !report.contains("WARN"), "{report}");
}

#[test]
fn mount_options_belong_to_one_kind_of_mount() {
    let text = fixture()
        .replace("mount \"media\" \"/media\" nocopy=#true", "mount \"media\" \"/media\" selinux=\"shared\"")
        .replace("create-host-path=#true", "nocopy=#true");
    assert_eq!(
        errors(&text),
        [
            (
                Code::Conflicting,
                "`selinux=` on a named volume (`media`) mounted by `app`: it is an option of bind mounts".to_string()
            ),
            (
                Code::Conflicting,
                "`nocopy=` on a host path (`./spool`) mounted by `app`: it is an option of named volumes".to_string()
            ),
        ]
    );
}

#[test]
fn nfs_exports_are_checked() {
    let bad = fixture().replace("\"${nfs-server}:/exports/media\"", "\"nas/exports\"");
    assert_eq!(errors(&bad), [(Code::InvalidPath, "`nfs=\"nas/exports\"` of volume `media`".to_string())]);
    let addr = fixture().replace("nfs-options=\"nfsvers=4,hard\"", "nfs-options=\"addr=10.0.0.6,hard\"");
    assert_eq!(errors(&addr), [(Code::Conflicting, "volume `media`: `addr=` in `nfs-options=`".to_string())]);
    let alone = fixture().replace("nfs=\"${nfs-server}:/exports/media\" ", "");
    assert_eq!(errors(&alone), [(Code::Conflicting, "volume `media`: `nfs-options=` without `nfs=`".to_string())]);
    let both = fixture().replace("nfs-options=\"nfsvers=4,hard\"", "driver=\"local\"");
    assert_eq!(
        errors(&both),
        [(Code::Conflicting, "volume `media`: `nfs=` with `driver=` or `driver-opts`".to_string())]
    );
}

#[test]
fn gateways_and_subnets_are_checked() {
    let outside = fixture().replace("gateway=\"172.30.0.1\"", "gateway=\"172.31.0.1\"");
    assert_eq!(
        errors(&outside),
        [(
            Code::Conflicting,
            "network `lan`: `gateway=\"172.31.0.1\"` is not in `subnet=\"172.30.0.0/24\"`".to_string()
        )]
    );
    let alone = fixture().replace("network \"v6only\" ipv6=#true", "network \"v6only\" gateway=\"10.1.0.1\"");
    assert_eq!(errors(&alone), [(Code::Conflicting, "network `v6only`: `gateway=` without `subnet=`".to_string())]);
    let family = fixture().replace("ipv6-subnet=\"fd00:30::/64\"", "ipv6-subnet=\"10.9.0.0/16\"");
    assert!(errors(&family).contains(&(Code::InvalidCidr, "network `lan`: `ipv6-subnet=\"10.9.0.0/16\"`".to_string())));
    let off = fixture().replace("ipv6-gateway=\"fd00:30::1\"", "ipv6-gateway=\"fd00:30::1\" ipv6=#false");
    assert_eq!(errors(&off), [(Code::Conflicting, "network `lan`: `ipv6=#false` with `ipv6-subnet=`".to_string())]);
}

#[test]
fn fixed_addresses_are_checked() {
    let foreign = fixture().replace("address \"lan\"", "address \"v6only\"");
    let errs = errors(&foreign);
    assert_eq!(
        errs[0],
        (
            Code::Conflicting,
            "service `app`: a fixed ipv4 address on network `v6only`, which has no `subnet=`".to_string()
        )
    );
    let not_joined = fixture().replace("networks \"lan\" \"proxy\" \"v6only\"", "networks \"proxy\" \"v6only\"");
    assert_eq!(
        errors(&not_joined),
        [(Code::Conflicting, "service `app` has an address on network `lan`, which it does not join".to_string())]
    );
    let outside = fixture().replace("ipv4=\"172.30.0.10\"", "ipv4=\"172.31.0.10\"");
    assert_eq!(
        errors(&outside),
        [(
            Code::Conflicting,
            "service `app`: `ipv4=\"172.31.0.10\"` is not in network `lan`'s `subnet=\"172.30.0.0/24\"`".to_string()
        )]
    );
    let family = fixture().replace("ipv4=\"172.30.0.10\"", "ipv4=\"fd00:30::11\"");
    assert_eq!(errors(&family), [(Code::InvalidAddress, "`ipv4=\"fd00:30::11\"` of `app`".to_string())]);
    let twice = fixture().replace(
        "targets {",
        "service \"backup\" {\n    image \"busybox:1.36\"\n    health cmd=\"true\"\n    networks \"lan\"\n    \
         address \"lan\" ipv4=\"172.30.0.10\"\n}\ntargets {",
    );
    assert_eq!(
        errors(&twice),
        [(
            Code::Conflicting,
            "services `app` and `backup` both take the address 172.30.0.10 on network `lan`".to_string()
        )]
    );
    let empty = fixture().replace(" ipv4=\"172.30.0.10\" ipv6=\"fd00:30::10\"", "");
    assert_eq!(errors(&empty), [(Code::MissingRequired, "`address \"lan\"` of `app` gives no address".to_string())]);
}

#[test]
fn init_steps_do_not_take_the_services_addresses() {
    let text = fixture().replace(
        "    tmpfs \"/run/app\" mode=0o700\n",
        "    tmpfs \"/run/app\" mode=0o700\n    init-step \"migrate\" {\n        command \"app\" \"migrate\"\n    }\n",
    );
    let (files, diags) = build(&text);
    assert!(!diags.iter().any(Diagnostic::is_error), "{diags:#?}");
    let compose = file(&files, "docker-compose.yml");
    let step = compose.split("\n  app:\n").next().unwrap();
    assert!(step.contains("app-init-migrate") || step.contains("migrate"), "{compose}");
    assert_eq!(compose.matches("ipv4_address").count(), 1, "{compose}");
}

#[test]
fn kubernetes_maps_rslave_propagation_of_a_node_path_to_host_to_container() {
    let stack = |propagation: &str| {
        format!(
            r#"stack "nodes"
service "agent" {{
    image "prom/node-exporter:v1.8.2"
    health tcp=9100
    mode "global"
    mount "/" "/host" read-only=#true propagation="{propagation}"
}}
targets {{
    k8s
}}
"#
        )
    };
    let (files, diags) = build(&stack("rslave"));
    assert!(!diags.iter().any(|d| d.message.contains("propagation")), "{diags:#?}");
    let ds = file(&files, "k8s/daemonset-agent.yaml");
    assert!(
        ds.contains("- name: host-1\n          mountPath: /host\n          readOnly: true\n          mountPropagation: HostToContainer\n"),
        "{ds}"
    );
    // Bidirectional needs a privileged container: reported, and not written.
    let (files, diags) = build(&stack("rshared"));
    assert!(!file(&files, "k8s/daemonset-agent.yaml").contains("mountPropagation"));
    let d = diags.iter().find(|d| d.message.contains("propagation=\"rshared\"")).expect("a W0501");
    assert_eq!(d.code, Code::TargetApproximation);
    // `rprivate` is Kubernetes' default: nothing to write, nothing lost.
    let (files, diags) = build(&stack("rprivate"));
    assert!(!file(&files, "k8s/daemonset-agent.yaml").contains("mountPropagation"));
    assert!(!diags.iter().any(|d| d.message.contains("propagation")), "{diags:#?}");
}
