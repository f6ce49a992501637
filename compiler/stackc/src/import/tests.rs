use super::*;

fn run(files: &[(&str, &str)]) -> Imported {
    let inputs: Vec<Input> = files.iter().map(|(name, text)| Input { name, text }).collect();
    import(&inputs, "app").expect("imports")
}

fn note_keys(i: &Imported) -> Vec<String> {
    i.notes.iter().map(|n| format!("{}:{}:{}:{}", n.file, n.line, n.column, n.key)).collect()
}

#[test]
fn secret_values_are_never_copied() {
    let i = run(&[(
        "c.yml",
        "services:\n  db:\n    image: postgres:16\n    environment:\n      POSTGRES_PASSWORD: hunter2\n      API_TOKEN: ${API_TOKEN:-dev-token}\n      DATABASE_URL: postgres://u:${DB_PASSWORD}@db/x\n",
    )]);
    assert!(!i.text.contains("hunter2") && !i.text.contains("dev-token"), "{}", i.text);
    assert!(i.text.contains("secret \"postgres-password\" env=\"POSTGRES_PASSWORD\"\n"), "{}", i.text);
    assert!(i.text.contains("env POSTGRES_PASSWORD=(secret)\"postgres-password\""), "{}", i.text);
    assert!(i.text.contains("secret \"api-token\" env=\"API_TOKEN\" optional=#true"), "{}", i.text);
    assert!(i.text.contains("env DATABASE_URL=\"postgres://u:${secret:db-password}@db/x\""), "{}", i.text);
    assert!(
        note_keys(&i).contains(&"c.yml:5:26:services.db.environment.POSTGRES_PASSWORD".to_string()),
        "{:?}",
        i.notes
    );
}

#[test]
fn variables_become_params_and_dollars_stay_literal() {
    let i = run(&[(
        "c.yml",
        "services:\n  web:\n    image: nginx:${TAG:-1.27}\n    command: [\"sh\", \"-c\", \"echo $$HOME ${GREETING:?set it} $NAME\"]\n",
    )]);
    assert!(i.text.contains("param \"tag\" default=\"1.27\" env=\"TAG\""), "{}", i.text);
    assert!(i.text.contains("param \"greeting\" env=\"GREETING\" required=#true"), "{}", i.text);
    assert!(i.text.contains("param \"name\" env=\"NAME\" required=#true"), "{}", i.text);
    assert!(i.text.contains("command \"sh\" \"-c\" \"echo $$HOME ${greeting} ${name}\""), "{}", i.text);
    assert!(i.text.contains("image \"nginx:${tag}\""), "{}", i.text);
}

#[test]
fn what_cannot_be_said_is_reported_with_file_line_and_key_and_kept_as_a_comment() {
    let i =
        run(&[("base.yml", "services:\n  web:\n    image: nginx:1.27\n    privileged: true\n    env_file: .env\n")]);
    assert_eq!(
        note_keys(&i),
        ["base.yml:4:5:services.web.privileged", "base.yml:5:5:services.web.env_file"],
        "{:?}",
        i.notes
    );
    assert!(
        i.text.contains(
            "// not imported (base.yml:4): privileged: true (the stack language has no such service setting)"
        ),
        "{}",
        i.text
    );
    assert!(i.text.contains("// not imported (base.yml:5): env_file: \".env\""), "{}", i.text);
}

#[test]
fn sizes_durations_and_ports_in_compose_spellings() {
    let i = run(&[(
        "c.yml",
        "services:\n  web:\n    image: nginx:1.27\n    ports: [\"8080:80\", \"127.0.0.1:8443:443/tcp\", \"53:53/udp\", \"9000-9001:9000-9001\"]\n    shm_size: 1gb\n    stop_grace_period: 1.5s\n    deploy:\n      resources:\n        limits: {memory: 512m, cpus: '0.5'}\n",
    )]);
    for want in [
        "publish 8080 target=80\n",
        "publish 8443 target=443 host=\"127.0.0.1\"\n",
        "publish 53 protocol=\"udp\"\n",
        "publish 9000\n",
        "publish 9001\n",
        "shm-size \"1Gi\"\n",
        "stop-grace-period \"1s500ms\"\n",
        "resources memory=\"512Mi\" cpus=0.5\n",
    ] {
        assert!(i.text.contains(want), "{want:?} in\n{}", i.text);
    }
}

#[test]
fn overlays_become_environments_with_only_what_they_change() {
    let i = run(&[
        (
            "docker-compose.yml",
            "services:\n  api:\n    image: api:1.0.0\n    environment: [A=1, B=2]\n    ports: ['8080:80']\n",
        ),
        (
            "docker-compose.staging.yml",
            "services:\n  api:\n    environment:\n      B: '3'\n  debug:\n    image: busybox:1.36\n",
        ),
    ]);
    let env = i.text.split("env \"staging\" {").nth(1).expect("an env block");
    assert!(env.contains("    service \"api\" {\n        env B=\"3\"\n    }"), "{}", i.text);
    assert!(!env.contains("env A="), "{}", i.text);
    assert!(!env.contains("publish"), "{}", i.text);
    assert!(env.contains("service \"debug\" {\n        image \"busybox:1.36\""), "{}", i.text);
}

#[test]
fn names_are_made_kebab_case_everywhere_they_are_used() {
    let i = run(&[(
        "c.yml",
        "services:\n  my_api:\n    image: api:1.0.0\n    depends_on: [my_db]\n    volumes: ['app_data:/data']\n  my_db:\n    image: postgres:16\nvolumes:\n  app_data:\n",
    )]);
    assert!(i.text.contains("service \"my-api\""), "{}", i.text);
    assert!(i.text.contains("depends-on \"my-db\""), "{}", i.text);
    assert!(i.text.contains("mount \"app-data\" \"/data\""), "{}", i.text);
    assert!(i.text.contains("volume \"app-data\""), "{}", i.text);
}

#[test]
fn the_output_checks_and_is_formatted() {
    let i = run(&[("c.yml", "services:\n  db:\n    image: postgres:16\n    ports: ['5432:5432']\n")]);
    let out = crate::check("i.stack.kdl", &i.text, &crate::Options::default());
    assert!(!out.has_errors(), "{}", i.text);
    assert_eq!(crate::fmt::format(&i.text).as_deref().ok(), Some(i.text.as_str()));
    // A database published on every address: an error by default, lowered with a reason.
    assert!(i.text.contains("warn \"public-database\" reason="), "{}", i.text);
}

#[test]
fn invalid_yaml_is_an_error_at_its_line() {
    let inputs = [Input { name: "bad.yml", text: "services:\n  web:\n    image: [\n" }];
    let err = import(&inputs, "app").err().expect("an error");
    assert_eq!(err.file, "bad.yml");
    assert!(err.line >= 3, "{err}");
    let inputs = [Input { name: "list.yml", text: "- a\n- b\n" }];
    assert!(import(&inputs, "app").is_err());
}

#[test]
fn a_stack_that_does_not_check_is_reported() {
    // Compose refuses this too: two services publish host port 8080.
    let i = run(&[(
        "c.yml",
        "services:\n  a:\n    image: nginx:1.27\n    ports: ['8080:80']\n  b:\n    image: nginx:1.27\n    ports: ['8080:80']\n",
    )]);
    let clash: Vec<&Note> = i.notes.iter().filter(|n| n.file == "imported stack").collect();
    assert_eq!(clash.len(), 1, "{:?}", i.notes);
    assert_eq!(clash[0].key, "E0404");
    assert!(clash[0].message.starts_with("the stack imported from c.yml does not check:"), "{:?}", clash[0]);
}
