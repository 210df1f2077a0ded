use skiff_api::*;

use crate::{load, Diagnostics, Loaded, MemoryLoader, Options};

fn options(files: &[&str]) -> Options {
    let mut o = Options::new(files.iter().map(|f| format!("/app/{f}")));
    o.process_env.insert("HOME".into(), "/home/op".into());
    o
}

fn ok(text: &str) -> Loaded {
    let loader = MemoryLoader::new().with("/app/compose.yaml", text);
    match load(&options(&["compose.yaml"]), &loader) {
        Ok(l) => l,
        Err(d) => panic!("expected a valid app, got:\n{d}"),
    }
}

fn errors_with(options: &Options, loader: &MemoryLoader) -> Vec<String> {
    let diags: Diagnostics = load(options, loader).expect_err("expected errors");
    diags.iter().map(ToString::to_string).collect()
}

fn errors(text: &str) -> Vec<String> {
    let loader = MemoryLoader::new().with("/app/compose.yaml", text);
    errors_with(&options(&["compose.yaml"]), &loader)
}

#[test]
fn a_minimal_service_gets_every_default() {
    let app = ok("services:\n  web:\n    image: nginx:1.25\n");
    assert_eq!(app.spec.name, "app", "named after the project directory");
    assert_eq!(app.spec.environment, "dev");
    let web = &app.spec.services["web"];
    assert_eq!(web.image, "nginx:1.25");
    assert_eq!(web.deploy.mode, ServiceMode::Replicated { replicas: 1 });
    assert_eq!(web.deploy.restart_policy, RestartPolicy::default());
    assert_eq!(web.deploy.update_config, UpdateConfig::default_update());
    assert_eq!(web.stop_signal, "SIGTERM");
    assert_eq!(web.stop_grace_period, Duration::from_secs(10));
    assert_eq!(web.networks.keys().collect::<Vec<_>>(), ["default"]);
    assert_eq!(app.spec.networks["default"].name, "app_default");
    assert!(app.warnings.is_empty(), "{:?}", app.warnings);
}

#[test]
fn a_full_service_normalizes() {
    let app = ok(r#"
name: shop
services:
  web:
    image: registry.local:5000/shop/web:2
    entrypoint: /bin/sh -c
    command: ["echo", "hi"]
    environment:
      MODE: prod
      FROM_SHELL:
    hostname: web1
    user: "1000:1000"
    working_dir: /srv
    labels: [tier=front]
    healthcheck:
      test: ["CMD", "wget", "-q", "localhost"]
      interval: 10s
      retries: 5
    restart: on-failure:3
    depends_on:
      db: {condition: service_healthy}
    cap_add: [net_admin]
    cap_drop: [CAP_MKNOD]
    read_only: true
    ulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 512}
    sysctls: {net.core.somaxconn: "1024"}
    stop_signal: QUIT
    stop_grace_period: 1m30s
    init: true
    extra_hosts: ["gw:10.0.0.1", "v6=::1"]
    dns: 10.0.0.53
    secrets: [token, {source: token, target: alt, mode: 0400}]
    networks:
      front: {aliases: [www]}
      back:
    deploy:
      replicas: 3
      resources:
        limits: {cpus: "0.5", memory: 512m, pids: 100}
        reservations: {cpus: "0.25", memory: 128M}
      placement:
        constraints: ["node.labels.zone == east", "node.role!=manager"]
        preferences: [{spread: node.labels.rack}]
        max_replicas_per_node: 2
      update_config: {parallelism: 2, order: start-first, failure_action: rollback, max_failure_ratio: 0.1}
      endpoint_mode: dnsrr
  db:
    image: postgres:16
    healthcheck: {test: pg_isready, start_period: 30s}
    networks: [back]
    deploy: {mode: global}
networks: {front: {}, back: {internal: true}}
secrets:
  token: {file: ./token.txt}
"#);
    let web = &app.spec.services["web"];
    assert_eq!(app.spec.name, "shop");
    assert_eq!(
        web.entrypoint.as_deref(),
        Some(&["/bin/sh".to_owned(), "-c".to_owned()][..])
    );
    assert_eq!(
        web.command.as_deref(),
        Some(&["echo".to_owned(), "hi".to_owned()][..])
    );
    assert_eq!(
        web.environment.get("MODE").map(String::as_str),
        Some("prod")
    );
    assert!(
        !web.environment.contains_key("FROM_SHELL"),
        "unset in the shell: left out"
    );
    assert_eq!(web.labels["tier"], "front");
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(
        hc.test,
        HealthTest::Exec(vec!["wget".into(), "-q".into(), "localhost".into()])
    );
    assert_eq!(
        (hc.interval, hc.timeout, hc.retries),
        (Duration::from_secs(10), Duration::from_secs(30), 5)
    );
    assert_eq!(
        web.deploy.restart_policy,
        RestartPolicy {
            condition: RestartCondition::OnFailure,
            max_attempts: Some(3),
            ..RestartPolicy::default()
        }
    );
    assert_eq!(
        web.depends_on["db"].condition,
        DependencyCondition::ServiceHealthy
    );
    assert_eq!(web.cap_add, ["NET_ADMIN"]);
    assert_eq!(web.cap_drop, ["MKNOD"]);
    assert!(web.read_only && web.init);
    assert_eq!(
        web.ulimits["nofile"],
        Ulimit {
            soft: 1024,
            hard: 2048
        }
    );
    assert_eq!(
        web.ulimits["nproc"],
        Ulimit {
            soft: 512,
            hard: 512
        }
    );
    assert_eq!(web.stop_signal, "SIGQUIT");
    assert_eq!(web.stop_grace_period, Duration::from_secs(90));
    assert_eq!(web.extra_hosts["gw"].to_string(), "10.0.0.1");
    assert_eq!(web.extra_hosts["v6"].to_string(), "::1");
    assert_eq!(web.dns.len(), 1);
    assert_eq!(
        web.secrets[0],
        FileGrant {
            source: "token".into(),
            target: "/run/secrets/token".into(),
            uid: None,
            gid: None,
            mode: 0o444
        }
    );
    assert_eq!(web.secrets[1].target, "/run/secrets/alt");
    assert_eq!(web.secrets[1].mode, 0o400);
    assert_eq!(web.networks["front"].aliases, ["www"]);
    let d = &web.deploy;
    assert_eq!(d.mode, ServiceMode::Replicated { replicas: 3 });
    assert_eq!(d.resources.limits.cpus, Some(Cpus::from_millis(500)));
    assert_eq!(d.resources.limits.memory, Some(ByteSize(512 << 20)));
    assert_eq!(d.resources.limits.pids, Some(100));
    assert_eq!(d.resources.reservations.memory, Some(ByteSize(128 << 20)));
    assert_eq!(
        d.placement.constraints[1],
        Constraint {
            attribute: "node.role".into(),
            operator: ConstraintOp::Ne,
            value: "manager".into()
        }
    );
    assert_eq!(d.placement.preferences[0].spread, "node.labels.rack");
    assert_eq!(d.update_config.parallelism, 2);
    assert_eq!(d.update_config.order, UpdateOrder::StartFirst);
    assert_eq!(d.update_config.failure_action, FailureAction::Rollback);
    assert_eq!(d.endpoint_mode, EndpointMode::Dnsrr);
    let db = &app.spec.services["db"];
    assert_eq!(db.deploy.mode, ServiceMode::Global);
    assert_eq!(
        db.healthcheck.as_ref().unwrap().test,
        HealthTest::Shell("pg_isready".into())
    );
    assert_eq!(
        app.spec.secrets["token"].source,
        PayloadSource::File("/app/token.txt".into())
    );
    assert_eq!(app.spec.secrets["token"].name, "shop_token");
    assert!(app.spec.networks["back"].internal);
    assert!(
        !app.spec.networks.contains_key("default"),
        "no service uses it"
    );
}

#[test]
fn every_problem_is_reported_at_once_with_its_place() {
    let errs = errors(
        "services:\n  web:\n    image: nginx\n    deploy:\n      replica: 2\n      resources:\n        limits:\n          memory: 12 parsecs\n    build: .\n  api:\n    image: api\n    deploy: {replicas: -1}\n",
    );
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:5:7: error: services.web.deploy.replica: unknown key `replica`; did you mean `replicas`?",
            "/app/compose.yaml:8:19: error: services.web.deploy.resources.limits.memory: `12 parsecs` is not a size: use a number with an optional unit, such as `512m`, `1.5GiB` or `64k` (units: b, k, m, g, t, p)",
            "/app/compose.yaml:9:5: error: services.web.build: Skiff does not support `build`: Skiff runs images and does not build them; build and push the image, then refer to it with `image:`",
            "/app/compose.yaml:12:24: error: services.api.deploy.replicas: -1 is negative; use 0 or more",
        ]
    );
}

#[test]
fn unknown_references_are_caught() {
    let errs = errors(
        "services:\n  web:\n    image: a\n    networks: [frontend]\n    volumes: [data:/data]\n    secrets: [pw]\n    depends_on: [dbb]\n  db:\n    image: b\nnetworks: {front: {}}\n",
    );
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:4:16: error: services.web.networks[0]: network `frontend` is not defined; did you mean `front`?",
            "/app/compose.yaml:5:15: error: services.web.volumes[0]: volume `data` is not defined; declare it under the top-level `volumes:`",
            "/app/compose.yaml:6:15: error: services.web.secrets[0]: secret `pw` is not defined; declare it under the top-level `secrets:`",
            "/app/compose.yaml:7:18: error: services.web.depends_on[0]: service `dbb` is not defined; did you mean `db`?",
        ]
    );
}

#[test]
fn dependency_cycles_are_named() {
    let errs = errors(
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [c]}\n  c: {image: x, depends_on: [a]}\n  d: {image: x, depends_on: [d]}\n",
    );
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:4:30: error: services.c.depends_on[0]: dependency cycle: a → b → c → a; remove one of these dependencies",
            "/app/compose.yaml:5:30: error: services.d.depends_on[0]: service `d` cannot depend on itself",
        ]
    );
}

#[test]
fn global_mode_and_replicas_exclude_each_other_and_container_name_needs_one_replica() {
    let errs = errors(
        "services:\n  a:\n    image: x\n    deploy: {mode: global, replicas: 2}\n  b:\n    image: x\n    container_name: bee\n    deploy: {replicas: 2}\n",
    );
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].contains("services.a.deploy.mode: `replicas` does not apply to a global service"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].contains("services.b.container_name: `container_name` names one container"),
        "{}",
        errs[1]
    );
}

#[test]
fn legacy_keys_fold_into_deploy_and_must_agree() {
    let app = ok("services:\n  a:\n    image: x\n    scale: 2\n    mem_limit: 1g\n    cpus: 1.5\n");
    let d = &app.spec.services["a"].deploy;
    assert_eq!(d.mode, ServiceMode::Replicated { replicas: 2 });
    assert_eq!(d.resources.limits.memory, Some(ByteSize(1 << 30)));
    assert_eq!(d.resources.limits.cpus, Some(Cpus::from_millis(1500)));
    let errs = errors("services:\n  a:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n");
    assert_eq!(
        errs,
        ["/app/compose.yaml:4:12: error: services.a.scale: `scale: 2` disagrees with `deploy.replicas: 3`; keep only `deploy.replicas`"]
    );
}

#[test]
fn service_names_must_be_dns_labels() {
    let errs = errors("services:\n  My_Web:\n    image: x\n");
    assert_eq!(
        errs,
        ["/app/compose.yaml:2:3: error: services.My_Web: service name `My_Web` is not a DNS label (Skiff resolves services by name): use 1-63 lower-case letters, digits and `-`, such as `my-web`"]
    );
}

#[test]
fn a_missing_file_and_an_empty_one_are_errors() {
    let loader = MemoryLoader::new().with("/app/empty.yaml", "");
    let errs = errors_with(&options(&["missing.yaml", "empty.yaml"]), &loader);
    assert_eq!(
        errs,
        [
            "/app/empty.yaml: error: the file is empty; a compose file has at least `services:`",
            "/app/missing.yaml: error: no such file",
        ]
    );
}

#[test]
fn version_is_obsolete_but_accepted() {
    let app = ok("version: '3.8'\nservices:\n  a: {image: x}\n");
    let w: Vec<String> = app.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w, ["/app/compose.yaml:1:1: warning: version: `version` is obsolete and ignored, as in Docker Compose; remove it"]);
}

#[test]
fn yaml_syntax_errors_are_located() {
    let errs = errors("services:\n  web:\n    image: [a\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("/app/compose.yaml:4:"), "{}", errs[0]);
    assert!(errs[0].contains("not valid YAML"), "{}", errs[0]);
}

#[test]
fn profiles_leave_services_out_unless_enabled() {
    let text = "services:\n  web: {image: x}\n  debug: {image: y, profiles: [debug]}\n";
    let app = ok(text);
    assert_eq!(app.spec.services.keys().collect::<Vec<_>>(), ["web"]);
    let loader = MemoryLoader::new().with("/app/compose.yaml", text);
    let mut o = options(&["compose.yaml"]);
    o.profiles = vec!["debug".into()];
    let app = load(&o, &loader).unwrap();
    assert_eq!(
        app.spec.services.keys().collect::<Vec<_>>(),
        ["debug", "web"]
    );
}

#[test]
fn bad_environment_and_app_names_are_refused() {
    let loader = MemoryLoader::new().with(
        "/app/compose.yaml",
        "name: Shop\nservices:\n  a: {image: x}\n",
    );
    let mut o = options(&["compose.yaml"]);
    o.environment = "Prod".into();
    let errs = errors_with(&o, &loader);
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:1:7: error: name: app name `Shop` is not a DNS label (Skiff resolves apps by name): use 1-63 lower-case letters, digits and `-`, such as `shop`",
            "command line: error: --env: environment name `Prod` is not a DNS label (Skiff resolves environments by name): use 1-63 lower-case letters, digits and `-`, such as `prod`",
        ]
    );
}

const MULTI_ENV: &str = r#"
name: shop
x-common: &common
  image: shop/web:${TAG:-1.0}
  restart: always
services:
  web:
    <<: *common
    deploy: {replicas: 1}
x-skiff:
  environments:
    qa:
      services:
        web: {deploy: {replicas: 2}}
    prod:
      services:
        web:
          deploy:
            replicas: 5
            resources: {limits: {memory: 1g}}
          environment: {MODE: prod}
"#;

#[test]
fn environment_overrides_merge_last() {
    let loader = MemoryLoader::new()
        .with("/app/compose.yaml", MULTI_ENV)
        .with("/app/.env", "TAG=2.1\n");
    let mut o = options(&["compose.yaml"]);
    o.environment = "prod".into();
    let app = load(&o, &loader).unwrap();
    let web = &app.spec.services["web"];
    assert_eq!(app.spec.environment, "prod");
    assert_eq!(web.image, "shop/web:2.1", "from .env");
    assert_eq!(web.deploy.mode, ServiceMode::Replicated { replicas: 5 });
    assert_eq!(web.deploy.resources.limits.memory, Some(ByteSize(1 << 30)));
    assert_eq!(web.environment["MODE"], "prod");

    o.environment = "dev".into();
    o.process_env.insert("TAG".into(), "3".into());
    let app = load(&o, &loader).unwrap();
    let web = &app.spec.services["web"];
    assert_eq!(
        web.image, "shop/web:3",
        "the process environment wins over .env"
    );
    assert_eq!(web.deploy.mode, ServiceMode::Replicated { replicas: 1 });
    let w: Vec<String> = app.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        ["/app/compose.yaml:10:1: warning: x-skiff.environments: no overrides for environment `dev` (there are: prod, qa); the base file applies as it is"]
    );
}

#[test]
fn a_mistake_in_another_environment_is_reported_too() {
    let text = "services:\n  web: {image: x}\nx-skiff:\n  environments:\n    dev: {}\n    prod:\n      services:\n        web: {deploy: {replicas: lots}}\n      servics: {}\n";
    let errs = errors(text);
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:8:34: error: services.web.deploy.replicas: expected a whole number, found `lots` (in environment `prod`)",
            "/app/compose.yaml:9:7: error: x-skiff.environments.prod.servics: unknown key `servics`; did you mean `services`?",
        ]
    );
}

#[test]
fn later_files_override_earlier_ones() {
    let loader = MemoryLoader::new()
        .with("/app/base.yaml", "services:\n  web:\n    image: web:1\n    environment: {A: '1', B: '1'}\n    ports: ['8080:80']\n")
        .with("/app/prod.yaml", "services:\n  web:\n    image: web:2\n    environment: [B=2]\n    ports: ['8443:443']\n");
    let app = load(&options(&["base.yaml", "prod.yaml"]), &loader).unwrap();
    let web = &app.spec.services["web"];
    assert_eq!(web.image, "web:2");
    assert_eq!(
        (web.environment["A"].as_str(), web.environment["B"].as_str()),
        ("1", "2")
    );
    let published: Vec<Option<u16>> = web.ports.iter().map(|p| p.published).collect();
    assert_eq!(published, [Some(8080), Some(8443)]);
}

#[test]
fn includes_add_their_resources_and_conflicts_are_errors() {
    let loader = MemoryLoader::new()
        .with("/app/compose.yaml", "include: [db/compose.yaml]\nservices:\n  web: {image: web, depends_on: [db]}\n")
        .with("/app/db/compose.yaml", "services:\n  db:\n    image: postgres\n    env_file: db.env\n    volumes: ['./init:/docker-entrypoint-initdb.d']\n")
        .with("/app/db/db.env", "POSTGRES_DB=shop\n");
    let app = load(&options(&["compose.yaml"]), &loader).unwrap();
    let db = &app.spec.services["db"];
    assert_eq!(
        db.environment["POSTGRES_DB"], "shop",
        "env_file is relative to the included project"
    );
    assert!(matches!(&db.mounts[0], MountSpec::Bind { source, .. } if source == "/app/db/init"));

    let loader = MemoryLoader::new()
        .with(
            "/app/compose.yaml",
            "include: [other.yaml]\nservices:\n  web: {image: web}\n",
        )
        .with("/app/other.yaml", "services:\n  web: {image: other}\n");
    let errs = errors_with(&options(&["compose.yaml"]), &loader);
    assert_eq!(errs, ["/app/compose.yaml:3:3: error: services.web: service `web` is also defined by the included /app/other.yaml; rename one of them"]);
}

#[test]
fn an_include_cycle_is_refused() {
    let loader = MemoryLoader::new()
        .with(
            "/app/compose.yaml",
            "include: [a.yaml]\nservices:\n  web: {image: web}\n",
        )
        .with("/app/a.yaml", "include: [compose.yaml]\n");
    let errs = errors_with(&options(&["compose.yaml"]), &loader);
    assert_eq!(
        errs,
        ["/app/compose.yaml: error: include cycle: /app/compose.yaml → /app/a.yaml → /app/compose.yaml; remove one of these includes"]
    );
}

#[test]
fn unset_required_variables_and_secrets_from_the_environment() {
    let text = "services:\n  web:\n    image: ${IMAGE:?set IMAGE to the image to run}\n    secrets: [key]\nsecrets:\n  key: {environment: API_KEY}\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("/app/compose.yaml:3:12: error: services.web.image: "),
        "{}",
        errs[0]
    );
    assert!(
        errs[0].contains("set IMAGE to the image to run"),
        "{}",
        errs[0]
    );
    assert_eq!(errs[1], "/app/compose.yaml:6:22: error: secrets.key.environment: environment variable `API_KEY` is not set; set it in the shell or in .env");
}

#[test]
fn env_files_feed_the_environment_and_environment_wins() {
    let loader = MemoryLoader::new()
        .with("/app/compose.yaml", "services:\n  web:\n    image: x\n    env_file: [web.env, {path: opt.env, required: false}]\n    environment: {B: from-compose}\n")
        .with("/app/web.env", "# comment\nA=1\nB=from-file\n");
    let app = load(&options(&["compose.yaml"]), &loader).unwrap();
    let env = &app.spec.services["web"].environment;
    assert_eq!(
        (env["A"].as_str(), env["B"].as_str()),
        ("1", "from-compose")
    );
    let loader = MemoryLoader::new().with(
        "/app/compose.yaml",
        "services:\n  web: {image: x, env_file: nope.env}\n",
    );
    let errs = errors_with(&options(&["compose.yaml"]), &loader);
    assert_eq!(errs, ["/app/compose.yaml:2:29: error: services.web.env_file: cannot read env file /app/nope.env: no such file"]);
}

#[test]
fn duplicate_published_ports_across_services_are_refused() {
    let errs = errors(
        "services:\n  a: {image: x, ports: ['8080:80']}\n  b: {image: x, ports: ['8080:8080']}\n",
    );
    assert_eq!(errs, ["/app/compose.yaml:3:25: error: services.b.ports[0]: published port 8080/tcp is already published by service `a`; pick another port"]);
}

#[test]
fn too_many_environments_are_refused() {
    let envs: String = (0..17).map(|i| format!("    e{i}: {{}}\n")).collect();
    let errs = errors(&format!(
        "services:\n  web: {{image: x}}\nx-skiff:\n  environments:\n{envs}"
    ));
    assert_eq!(errs[1], "/app/compose.yaml:21:5: error: x-skiff.environments.e16: more than 16 environments; a file may describe at most 16");
}

#[test]
fn reset_and_override_work_in_environment_fragments() {
    let text = "services:\n  web:\n    image: x\n    ports: ['80:80']\n    environment: {A: '1'}\nx-skiff:\n  environments:\n    prod:\n      services:\n        web: {ports: !reset [], environment: !override {B: '2'}}\n";
    let loader = MemoryLoader::new().with("/app/compose.yaml", text);
    let mut o = options(&["compose.yaml"]);
    o.environment = "prod".into();
    let web = load(&o, &loader)
        .unwrap()
        .spec
        .services
        .remove("web")
        .unwrap();
    assert!(web.ports.is_empty());
    assert_eq!(web.environment.keys().collect::<Vec<_>>(), ["B"]);
}

#[test]
fn another_environment_needing_its_own_variables_does_not_block_this_one() {
    let text = "services:\n  web: {image: x}\nx-skiff:\n  environments:\n    prod:\n      services:\n        web:\n          image: x:${PROD_TAG:?set PROD_TAG}\n          secrets: [tls]\n      secrets:\n        tls: {environment: PROD_TLS}\n";
    let app = ok(text);
    assert_eq!(app.spec.services["web"].image, "x");
    let loader = MemoryLoader::new().with("/app/compose.yaml", text);
    let mut o = options(&["compose.yaml"]);
    o.environment = "prod".into();
    let errs = errors_with(&o, &loader);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].contains("required variable `PROD_TAG` is not set"),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].contains("environment variable `PROD_TLS` is not set"),
        "{}",
        errs[1]
    );
}

#[test]
fn includes_cannot_fan_out_without_bound() {
    // Each level includes the next one five times: 5^8 loads without a bound on files.
    let mut loader = MemoryLoader::new().with(
        "/app/compose.yaml",
        "include: [l0.yaml]\nservices:\n  web: {image: x}\n",
    );
    for level in 0..8 {
        let next = vec![format!("l{}.yaml", level + 1); 5].join(", ");
        loader = loader.with(
            format!("/app/l{level}.yaml"),
            format!("include: [{next}]\n"),
        );
    }
    loader = loader.with("/app/l8.yaml", "services: {}\n");
    let start = std::time::Instant::now();
    let errs = errors_with(&options(&["compose.yaml"]), &loader);
    assert!(
        errs.iter().any(|e| e.contains("more than 64 files")),
        "{errs:#?}"
    );
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
}

#[test]
fn a_null_command_keeps_the_images_and_an_empty_one_clears_it() {
    let app = ok("services:\n  a: {image: x, command: , entrypoint: []}\n");
    let a = &app.spec.services["a"];
    assert_eq!(a.command, None);
    assert_eq!(a.entrypoint, Some(Vec::new()));
}

#[test]
fn a_bare_environment_key_unset_in_the_shell_keeps_the_env_files_value() {
    let loader = MemoryLoader::new()
        .with(
            "/app/compose.yaml",
            "services:\n  a: {image: x, env_file: a.env, environment: [B]}\n",
        )
        .with("/app/a.env", "B=from-file\n");
    let app = load(&options(&["compose.yaml"]), &loader).unwrap();
    assert_eq!(app.spec.services["a"].environment["B"], "from-file");
}

#[test]
fn legacy_resource_keys_get_the_same_checks_and_pids_minus_one_is_unlimited() {
    let errs = errors("services:\n  a:\n    image: x\n    cpus: 0\n    mem_limit: 1k\n  b:\n    image: x\n    mem_limit: 64m\n    mem_reservation: 1g\n");
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:4:11: error: services.a.cpus: a CPU limit of 0 would stop the container from running; leave it out for no limit",
            "/app/compose.yaml:5:16: error: services.a.mem_limit: 1KiB is below the minimum memory limit of 6MiB",
            "/app/compose.yaml:9:22: error: services.b.mem_reservation: the memory reservation is above the memory limit; a task could never get what it reserves",
        ]
    );
    let app = ok("services:\n  a: {image: x, pids_limit: -1}\n  b: {image: x, deploy: {resources: {limits: {pids: -1}}}}\n");
    assert_eq!(app.spec.services["a"].deploy.resources.limits.pids, None);
    assert_eq!(app.spec.services["b"].deploy.resources.limits.pids, None);
}

#[test]
fn restart_no_stands_when_deploy_restart_policy_is_null() {
    let app = ok(
        "services:\n  a:\n    image: x\n    restart: \"no\"\n    deploy:\n      restart_policy:\n",
    );
    assert_eq!(
        app.spec.services["a"].deploy.restart_policy.condition,
        RestartCondition::None
    );
}

#[test]
fn an_optional_dependency_on_a_disabled_service_is_dropped() {
    let app = ok("services:\n  a: {image: x, depends_on: {dbg: {required: false}}}\n  dbg: {image: y, profiles: [debug]}\n");
    assert!(app.spec.services["a"].depends_on.is_empty());
}

#[test]
fn a_reservation_above_its_limit_points_at_the_reservation() {
    let errs = errors("services:\n  a:\n    image: x\n    deploy:\n      resources:\n        limits: {memory: 64m}\n        reservations: {memory: 1g}\n");
    assert_eq!(
        errs,
        ["/app/compose.yaml:7:32: error: services.a.deploy.resources.reservations.memory: the memory reservation is above the memory limit; a task could never get what it reserves"]
    );
}

#[test]
fn list_items_are_located_one_by_one() {
    let errs = errors("services:\n  a:\n    image: x\n    dns: [1.1.1.1, nope]\n    extra_hosts: ['ok:10.0.0.1', 'bad:x']\n");
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:4:20: error: services.a.dns[1]: `nope` is not an IP address of a DNS server",
            "/app/compose.yaml:5:34: error: services.a.extra_hosts[1]: `bad`: `x` is not an IP address; write `host:1.2.3.4` or `host=1.2.3.4`",
        ]
    );
}

#[test]
fn a_broken_deploy_does_not_hide_the_services_other_problems() {
    let errs = errors("services:\n  web:\n    image: x\n    deploy: {replica: 2}\n    networks: [frontend]\n    cap_add: [NET_ADMN]\n");
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:4:14: error: services.web.deploy.replica: unknown key `replica`; did you mean `replicas`?",
            "/app/compose.yaml:5:16: error: services.web.networks[0]: network `frontend` is not defined; declare it under the top-level `networks:`",
            "/app/compose.yaml:6:15: error: services.web.cap_add[0]: unknown capability `NET_ADMN`; did you mean `NET_ADMIN`?",
        ]
    );
}

#[test]
fn secret_targets_and_working_dirs_stay_inside_the_container_paths_they_name() {
    let errs = errors("services:\n  web:\n    image: x\n    working_dir: /srv/../..\n    secrets: [{source: s, target: ../../etc/shadow}]\nsecrets:\n  s: {file: s.txt}\n");
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:4:18: error: services.web.working_dir: `/srv/../..` is not an absolute path in the container without `..`; write one such as `/srv`",
            "/app/compose.yaml:5:15: error: services.web.secrets[0]: `/run/secrets/../../etc/shadow` has a `..` component: write the container path without it, such as `/etc/shadow`",
        ]
    );
}

#[test]
fn paths_above_the_root_stay_at_the_root() {
    assert_eq!(
        crate::load::resolve(std::path::Path::new("/app"), "../../../etc/hosts"),
        std::path::PathBuf::from("/etc/hosts")
    );
    assert_eq!(
        crate::load::resolve(std::path::Path::new("/app/x"), "./a/../b"),
        std::path::PathBuf::from("/app/x/b")
    );
}

#[test]
fn an_included_files_top_level_is_checked() {
    let loader = MemoryLoader::new()
        .with(
            "/app/compose.yaml",
            "include: [db.yaml]\nservices:\n  web: {image: x}\n",
        )
        .with("/app/db.yaml", "servces:\n  db: {image: y}\n");
    let errs = errors_with(&options(&["compose.yaml"]), &loader);
    assert_eq!(
        errs,
        ["/app/db.yaml:1:1: error: servces: unknown key `servces`; did you mean `services`?"]
    );
}

#[test]
fn override_files_merge_ports_and_volumes_by_their_normalized_keys() {
    let loader = MemoryLoader::new()
        .with("/app/base.yaml", "services:\n  web:\n    image: x\n    ports: ['8080:80/UDP']\n    volumes: ['/a:/data/']\n")
        .with("/app/over.yaml", "services:\n  web:\n    ports: [{target: 80, published: 8080, protocol: udp}]\n    volumes: ['/b:/data']\n");
    let app = load(&options(&["base.yaml", "over.yaml"]), &loader).unwrap();
    let web = &app.spec.services["web"];
    assert_eq!(web.ports.len(), 1);
    assert!(matches!(&web.mounts[..], [MountSpec::Bind { source, .. }] if source == "/b"));
}

#[test]
fn network_address_pools_are_read_and_checked() {
    let app = ok("services:\n  a: {image: x, networks: [n]}\nnetworks:\n  n:\n    ipam:\n      config: [{subnet: 10.20.0.0/24, gateway: 10.20.0.1}]\n");
    assert_eq!(
        app.spec.networks["n"].subnets,
        [Subnet {
            subnet: "10.20.0.0/24".into(),
            gateway: Some("10.20.0.1".parse().unwrap())
        }]
    );
    let errs = errors("services:\n  a: {image: x, networks: [n]}\nnetworks:\n  n:\n    ipam:\n      driver: calico\n      config: [{subnet: 10.20.0.0}, {subnet: 10.0.0.0/8, gateway: nope}]\n");
    assert_eq!(
        errs,
        [
            "/app/compose.yaml:6:7: error: networks.n.ipam.driver: IPAM driver `calico` is not supported; leave it out",
            "/app/compose.yaml:7:16: error: networks.n.ipam.config[0].subnet: `10.20.0.0` is not an IPv4 CIDR such as 10.20.0.0/24",
            "/app/compose.yaml:7:67: error: networks.n.ipam.config[1].gateway: `nope` is not an IP address",
        ]
    );
}
