//! Config::load against real files in temp dirs, with a hermetic env and an injected npm probe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tack_config::{CliOverrides, Config, ConfigInputs, FrozenMode, NodeLinker, TrustPolicy};

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
}

fn setup() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let root = tmp.path().join("ws");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(root.join("packages/a")).unwrap();
    Env {
        home,
        root,
        _tmp: tmp,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn inputs(env: &Env, vars: &[(&str, &str)], cli: CliOverrides) -> ConfigInputs {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    map.insert("HOME".into(), env.home.display().to_string());
    for (k, v) in vars {
        map.insert(k.to_string(), v.to_string());
    }
    ConfigInputs {
        cwd: env.root.clone(),
        workspace_root: None,
        env: map,
        cli,
        npm_registry_probe: Some(Box::new(|| Some("http://npm-probe.test".to_string()))),
        update_config: None,
    }
}

fn load(env: &Env, vars: &[(&str, &str)], cli: CliOverrides) -> Config {
    Config::load(inputs(env, vars, cli)).unwrap().0
}

#[test]
fn defaults() {
    let env = setup();
    let config = load(&env, &[], CliOverrides::default());
    assert_eq!(config.node_linker, NodeLinker::Isolated);
    assert!(config.hoist);
    assert_eq!(config.hoist_pattern, vec!["*"]);
    assert_eq!(config.public_hoist_pattern, Some(Vec::new()));
    assert_eq!(
        config.virtual_store_dir,
        env.root.join("node_modules/.pnpm")
    );
    assert_eq!(config.virtual_store_dir_max_length, 120);
    assert_eq!(config.network_concurrency, 16);
    assert_eq!(config.fetch_retries, 2);
    assert_eq!(config.minimum_release_age, 1440);
    assert!(config.strict_dep_builds);
    assert!(config.auto_install_peers);
    assert_eq!(config.store_dir, None);
    assert_eq!(config.frozen, FrozenMode::Prefer);
    assert_eq!(config.registries.default, "http://npm-probe.test/");
}

#[test]
fn settings_precedence_workspace_env_cli() {
    let env = setup();
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "packages: ['packages/*']\nstoreDir: ./ws-store\nnodeLinker: hoisted\nnetworkConcurrency: 4\nhoist: false\n",
    );
    write(
        &env.home.join(".config/pnpm/config.yaml"),
        "storeDir: ~/global-store\nnetworkConcurrency: 2\nchildConcurrency: 3\n",
    );
    // workspace beats global config
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.store_dir, Some(env.root.join("./ws-store")));
    assert_eq!(c.node_linker, NodeLinker::Hoisted);
    assert_eq!(c.network_concurrency, 4);
    assert_eq!(c.child_concurrency, 3);
    assert!(!c.hoist);
    // env beats workspace
    let c = load(
        &env,
        &[
            ("PNPM_CONFIG_STORE_DIR", "/env-store"),
            ("pnpm_config_network_concurrency", "7"),
        ],
        CliOverrides::default(),
    );
    assert_eq!(c.store_dir, Some(PathBuf::from("/env-store")));
    assert_eq!(c.network_concurrency, 7);
    // CLI beats env
    let cli = CliOverrides {
        store_dir: Some(PathBuf::from("/cli-store")),
        node_linker: Some("isolated".into()),
        ..Default::default()
    };
    let c = load(&env, &[("PNPM_CONFIG_STORE_DIR", "/env-store")], cli);
    assert_eq!(c.store_dir, Some(PathBuf::from("/cli-store")));
    assert_eq!(c.node_linker, NodeLinker::Isolated);
    // workspace found from a subdirectory
    let mut i = inputs(&env, &[], CliOverrides::default());
    i.cwd = env.root.join("packages/a");
    let c = Config::load(i).unwrap().0;
    assert_eq!(c.workspace_root, env.root);
}

#[test]
fn global_config_store_dir_expands_home() {
    let env = setup();
    write(
        &env.home.join(".config/pnpm/config.yaml"),
        "storeDir: ~/s\n",
    );
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.store_dir, Some(env.home.join("s")));
}

#[test]
fn npmrc_ignores_non_auth_settings() {
    let env = setup();
    write(
        &env.root.join(".npmrc"),
        "node-linker=hoisted\nstore-dir=/x\n",
    );
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.node_linker, NodeLinker::Isolated);
    assert_eq!(c.store_dir, None);
}

#[test]
fn registry_precedence() {
    let env = setup();
    write(&env.home.join(".npmrc"), "registry=http://user.test\n@a:registry=http://user-a.test/\n//user.test/:_authToken=${TOKEN}\n");
    let c = load(&env, &[("TOKEN", "t1")], CliOverrides::default());
    assert_eq!(c.registries.default, "http://user.test/");
    assert_eq!(c.registries.scopes["@a"], "http://user-a.test/");
    assert_eq!(c.raw_npmrc["//user.test/:_authToken"], "t1");

    write(
        &env.home.join(".config/pnpm/auth.ini"),
        "registry=http://auth-ini.test/\n",
    );
    assert_eq!(
        load(&env, &[], CliOverrides::default()).registries.default,
        "http://auth-ini.test/"
    );

    write(&env.root.join(".npmrc"), "registry=http://project.test/\n");
    assert_eq!(
        load(&env, &[], CliOverrides::default()).registries.default,
        "http://project.test/"
    );

    // npm's `npm_config_registry` is not pnpm 12's: only its URL-scoped variables count.
    let c = load(
        &env,
        &[
            ("npm_config_registry", "http://npm-env.test/"),
            ("NPM_CONFIG_STRICT_SSL", "false"),
        ],
        CliOverrides::default(),
    );
    assert_eq!(c.registries.default, "http://project.test/");
    assert!(c.strict_ssl);
    let c = load(
        &env,
        &[
            ("npm_config_registry", "http://npm-env.test/"),
            ("PNPM_CONFIG_REGISTRY", "http://pnpm-env.test/"),
        ],
        CliOverrides::default(),
    );
    assert_eq!(c.registries.default, "http://pnpm-env.test/");

    let cli = CliOverrides {
        registry: Some("http://cli.test".into()),
        ..Default::default()
    };
    let c = load(
        &env,
        &[("PNPM_CONFIG_REGISTRY", "http://pnpm-env.test/")],
        cli,
    );
    assert_eq!(c.registries.default, "http://cli.test/");
    assert_eq!(c.registries.for_package("@a/x"), "http://user-a.test/");
    assert_eq!(c.registries.for_package("@b/x"), "http://cli.test/");

    // Custom user config location replaces ~/.npmrc.
    let other = env.home.join("other.npmrc");
    write(&other, "registry=http://other.test/\n");
    std::fs::remove_file(env.root.join(".npmrc")).unwrap();
    std::fs::remove_file(env.home.join(".config/pnpm/auth.ini")).unwrap();
    let c = load(
        &env,
        &[("NPM_CONFIG_USERCONFIG", other.to_str().unwrap())],
        CliOverrides::default(),
    );
    assert_eq!(c.registries.default, "http://other.test/");
}

#[test]
fn env_auth_tokens_and_project_security_rule() {
    let env = setup();
    write(
        &env.root.join(".npmrc"),
        "//r.test/:_authToken=${TOKEN}\n@s:registry=${URL}\nregistry=http://r.test/\n",
    );
    let (c, warnings) = Config::load(inputs(
        &env,
        &[("TOKEN", "secret"), ("URL", "http://evil.test/")],
        CliOverrides::default(),
    ))
    .unwrap();
    assert!(!c.raw_npmrc.contains_key("//r.test/:_authToken"));
    assert!(!c.registries.scopes.contains_key("@s"));
    assert_eq!(
        warnings
            .iter()
            .filter(|w| w.code == "ERR_PNPM_ENV_VAR_IN_PROJECT_NPMRC")
            .count(),
        2
    );
    let c = load(
        &env,
        &[("npm_config_//r.test/:_authToken", "from-env")],
        CliOverrides::default(),
    );
    assert_eq!(c.raw_npmrc["//r.test/:_authToken"], "from-env");
}

#[test]
fn default_registry_fallback_order() {
    let env = setup();
    // 1. npm's global config beats the probe.
    let global = env.home.join("global-npmrc");
    write(&global, "registry=http://global.test/\n");
    let c = load(
        &env,
        &[("npm_config_globalconfig", global.to_str().unwrap())],
        CliOverrides::default(),
    );
    assert_eq!(c.registries.default, "http://global.test/");

    // 2. The probe is asked once, then its answer is cached in the state dir.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let mut i = inputs(&env, &[], CliOverrides::default());
    i.npm_registry_probe = Some(Box::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Some("http://probed.test".to_string())
    }));
    assert_eq!(
        Config::load(i).unwrap().0.registries.default,
        "http://probed.test/"
    );
    let cached = std::fs::read_to_string(env.home.join(".local/state/tack/npm-registry")).unwrap();
    assert_eq!(cached.trim(), "http://probed.test/");
    let counter = calls.clone();
    let mut i = inputs(&env, &[], CliOverrides::default());
    i.npm_registry_probe = Some(Box::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        Some("http://changed.test".to_string())
    }));
    assert_eq!(
        Config::load(i).unwrap().0.registries.default,
        "http://probed.test/"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // 3. No answer anywhere: a clear error.
    let env = setup();
    let mut i = inputs(&env, &[], CliOverrides::default());
    i.npm_registry_probe = Some(Box::new(|| None));
    let err = Config::load(i).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_NO_REGISTRY");
}

#[test]
fn frozen_mode_and_ci() {
    let env = setup();
    let c = load(&env, &[("CI", "true")], CliOverrides::default());
    assert_eq!(c.frozen, FrozenMode::IfLockfileExists);
    assert!(c.is_frozen(true));
    assert!(!c.is_frozen(false));
    let c = load(&env, &[("CI", "false")], CliOverrides::default());
    assert_eq!(c.frozen, FrozenMode::Prefer);
    let cli = CliOverrides {
        frozen_lockfile: Some(false),
        ..Default::default()
    };
    assert_eq!(load(&env, &[("CI", "1")], cli).frozen, FrozenMode::Prefer);
    let cli = CliOverrides {
        frozen_lockfile: Some(true),
        ..Default::default()
    };
    let c = load(&env, &[], cli);
    assert!(c.is_frozen(false));
    let c = load(
        &env,
        &[("PNPM_CONFIG_FROZEN_LOCKFILE", "true")],
        CliOverrides::default(),
    );
    assert_eq!(c.frozen, FrozenMode::Frozen);
}

#[test]
fn included_groups_and_arch_flags() {
    let env = setup();
    let cli = CliOverrides {
        prod: true,
        no_optional: true,
        os: vec!["darwin".into()],
        ..Default::default()
    };
    let c = load(&env, &[], cli);
    assert!(c.include.dependencies);
    assert!(!c.include.dev_dependencies);
    assert!(!c.include.optional_dependencies);
    assert_eq!(
        c.supported_architectures.os,
        Some(vec!["darwin".to_string()])
    );
    assert_eq!(c.supported_architectures.cpu, None);
}

#[test]
fn unknown_workspace_key_warns_and_bad_value_errors() {
    let env = setup();
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "nodeLinkr: hoisted\ncatalog:\n  react: 18.3.1\n",
    );
    let (c, warnings) = Config::load(inputs(&env, &[], CliOverrides::default())).unwrap();
    assert!(warnings.iter().any(|w| w.message.contains("nodeLinkr")));
    assert_eq!(c.catalogs["default"]["react"], "18.3.1");
    write(&env.root.join("pnpm-workspace.yaml"), "nodeLinker: flat\n");
    let err = Config::load(inputs(&env, &[], CliOverrides::default())).unwrap_err();
    assert!(err.to_string().contains("nodeLinker"), "{err}");
}

#[test]
fn trust_policy_is_parsed_once_and_a_misspelt_one_is_refused() {
    let env = setup();
    assert_eq!(
        load(&env, &[], CliOverrides::default()).trust_policy,
        TrustPolicy::Off
    );
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "trustPolicy: no-downgrade\n",
    );
    assert_eq!(
        load(&env, &[], CliOverrides::default()).trust_policy,
        TrustPolicy::NoDowngrade
    );
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "trustPolicy: no-downgrades\n",
    );
    let err = Config::load(inputs(&env, &[], CliOverrides::default())).unwrap_err();
    assert!(err.to_string().contains("trustPolicy"), "{err}");
}

/// An unscoped token stays with the registry of the source that gave it: `~/.npmrc` with
/// `_authToken=…` and no `registry` pins it to npm's default registry, so a checked-in
/// project `.npmrc` naming another registry does not receive it (it did: the token went to
/// whatever registry the merged configuration ended with). The environment's own unscoped
/// token goes to the environment's registry (its default port left out of the key).
#[test]
fn unscoped_credentials_stay_with_their_own_source_s_registry() {
    let env = setup();
    write(&env.home.join(".npmrc"), "_authToken=user-secret\n");
    write(
        &env.root.join(".npmrc"),
        "registry=https://elsewhere.test/\n",
    );
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.registries.default, "https://elsewhere.test/");
    assert_eq!(c.raw_npmrc["//npm-probe.test/:_authToken"], "user-secret");
    assert!(
        !c.raw_npmrc.contains_key("_authToken"),
        "{:?}",
        c.raw_npmrc.keys()
    );
    assert!(
        !c.raw_npmrc
            .keys()
            .any(|k| k.starts_with("//elsewhere.test/")),
        "{:?}",
        c.raw_npmrc.keys()
    );

    let c = load(
        &env,
        &[
            ("PNPM_CONFIG__AUTHTOKEN", "env-secret"),
            ("PNPM_CONFIG_REGISTRY", "https://Env.test:443/"),
        ],
        CliOverrides::default(),
    );
    assert_eq!(c.raw_npmrc["//env.test/:_authToken"], "env-secret");
}

/// CI is detected by pnpm 12's rule: `CI=false` says no whatever else is set; any variable a
/// CI service sets says yes, `CI=0` included. (tack took `CI=0` for no CI, and knew a dozen
/// services.) In CI a frozen install is the default.
#[test]
fn ci_is_detected_like_pnpm() {
    let env = setup();
    let frozen = |vars: &[(&str, &str)]| load(&env, vars, CliOverrides::default()).frozen;
    assert_eq!(frozen(&[]), FrozenMode::Prefer);
    assert_eq!(frozen(&[("CI", "0")]), FrozenMode::IfLockfileExists);
    assert_eq!(
        frozen(&[("TEAMCITY_VERSION", "2026.1")]),
        FrozenMode::IfLockfileExists
    );
    assert_eq!(
        frozen(&[("CI", ""), ("GITHUB_ACTIONS", "true")]),
        FrozenMode::IfLockfileExists
    );
    assert_eq!(
        frozen(&[("CI", "false"), ("GITHUB_ACTIONS", "true")]),
        FrozenMode::Prefer
    );
}

/// In a workspace, only the root's `.npmrc` is read, as in pnpm 12: a workspace project's own
/// `.npmrc` names no registry and no token for an install run from that project.
#[test]
fn a_workspace_project_s_own_npmrc_is_not_read() {
    let env = setup();
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "packages:\n  - packages/*\n",
    );
    write(&env.root.join(".npmrc"), "registry=http://root.test/\n");
    write(
        &env.root.join("packages/a/.npmrc"),
        "registry=http://project.test/\n//project.test/:_authToken=secret\n",
    );
    let mut inputs = inputs(&env, &[], CliOverrides::default());
    inputs.cwd = env.root.join("packages/a");
    let config = Config::load(inputs).unwrap().0;
    assert_eq!(config.registries.default, "http://root.test/");
    assert!(!config.raw_npmrc.contains_key("//project.test/:_authToken"));
}

#[test]
fn network_settings_in_pnpm_workspace_yaml_override_the_npmrc_files() {
    let env = setup();
    write(
        &env.root.join(".npmrc"),
        "registry=http://project.test/\nstrict-ssl=true\nproxy=http://rc-proxy.test/\n\
         no-proxy=rc.test\n",
    );
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "registry: http://yaml.test/\nstrictSsl: false\nhttpsProxy: http://yaml-proxy.test/\n\
         noProxy: [a.test, b.test]\nlocalAddress: 127.0.0.2\n",
    );
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.registries.default, "http://yaml.test/");
    assert!(!c.strict_ssl);
    assert_eq!(c.raw_npmrc["https-proxy"], "http://yaml-proxy.test/");
    assert_eq!(c.raw_npmrc["proxy"], "http://rc-proxy.test/");
    assert_eq!(c.raw_npmrc["no-proxy"], "a.test,b.test");
    assert_eq!(c.raw_npmrc["local-address"], "127.0.0.2");

    // The environment and the command line still come first.
    let c = load(
        &env,
        &[("PNPM_CONFIG_REGISTRY", "http://pnpm-env.test/")],
        CliOverrides::default(),
    );
    assert_eq!(c.registries.default, "http://pnpm-env.test/");
    let cli = CliOverrides {
        settings: vec![
            ("strictSsl".into(), "true".into()),
            ("registry".into(), "http://cli.test/".into()),
        ],
        ..Default::default()
    };
    let c = load(
        &env,
        &[
            ("PNPM_CONFIG_STRICT_SSL", "false"),
            ("PNPM_CONFIG_REGISTRY", "http://pnpm-env.test/"),
        ],
        cli,
    );
    assert!(c.strict_ssl, "--config.strict-ssl beats the environment");
    assert_eq!(c.registries.default, "http://cli.test/");
    // A value the environment gives wrong is left out of every layer.
    let c = load(
        &env,
        &[("PNPM_CONFIG_STRICT_SSL", "0")],
        CliOverrides::default(),
    );
    assert!(!c.strict_ssl, "the yaml's strictSsl: false stands");
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "registry: http://yaml.test/\n",
    );
    let c = load(
        &env,
        &[("PNPM_CONFIG_STRICT_SSL", "0")],
        CliOverrides::default(),
    );
    assert!(c.strict_ssl, "the .npmrc's strict-ssl=true stands");
    assert_eq!(c.raw_npmrc["no-proxy"], "rc.test");
}

#[test]
fn environment_values_pnpm_12_would_not_take_are_left_out_with_a_warning() {
    let env = setup();
    let vars = [
        ("PNPM_CONFIG_PUBLIC_HOIST_PATTERN", "*eslint*"),
        ("PNPM_CONFIG_HOIST_PATTERN", r#"["*types*"]"#),
        ("PNPM_CONFIG_HOIST", "maybe"),
        ("PNPM_CONFIG_CHILD_CONCURRENCY", "3"),
        ("PNPM_CONFIG_STORE_DIR", "/123"),
        ("PNPM_CONFIG_NODE_VERSION", "20"),
    ];
    let (c, warnings) = Config::load(inputs(&env, &vars, CliOverrides::default())).unwrap();
    assert!(
        c.public_hoist_pattern.as_ref().is_some_and(Vec::is_empty),
        "{:?}",
        c.public_hoist_pattern
    );
    assert_eq!(c.hoist_pattern, vec!["*types*"]);
    assert!(c.hoist);
    assert_eq!(c.child_concurrency, 3);
    assert_eq!(
        c.node_version.as_deref(),
        Some("20"),
        "text that reads as a number"
    );
    let messages: Vec<&str> = warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages
        .iter()
        .any(|m| m.starts_with("PNPM_CONFIG_PUBLIC_HOIST_PATTERN is ignored")));
    assert!(messages
        .iter()
        .any(|m| m.contains("`hoist`") && m.contains("ignored")));
}

#[test]
fn a_relative_store_dir_is_of_the_workspace_root_on_the_command_line_and_of_the_cwd_in_the_env() {
    let env = setup();
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "packages: [packages/*]\n",
    );
    let project = env.root.join("packages/a");
    let cli = CliOverrides {
        store_dir: Some(PathBuf::from("cli-store")),
        ..Default::default()
    };
    let mut from_project = inputs(&env, &[], cli);
    from_project.cwd = project.clone();
    let c = Config::load(from_project).unwrap().0;
    assert_eq!(c.store_dir, Some(env.root.join("cli-store")));

    let mut from_project = inputs(
        &env,
        &[("PNPM_CONFIG_STORE_DIR", "env-store")],
        CliOverrides::default(),
    );
    from_project.cwd = project.clone();
    let c = Config::load(from_project).unwrap().0;
    assert_eq!(c.store_dir, Some(project.join("env-store")));
}

#[test]
fn npmrc_auth_file_of_the_global_config_names_the_user_npmrc() {
    let env = setup();
    write(
        &env.home.join(".npmrc"),
        "registry=http://home-npmrc.test/\n",
    );
    write(
        &env.home.join("auth/npmrc"),
        "registry=http://auth-file.test/\n",
    );
    write(
        &env.home.join(".config/pnpm/config.yaml"),
        "npmrcAuthFile: ~/auth/npmrc\n",
    );
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.registries.default, "http://auth-file.test/");

    // A project cannot set it.
    write(&env.home.join(".config/pnpm/config.yaml"), "");
    write(
        &env.root.join("pnpm-workspace.yaml"),
        "npmrcAuthFile: ~/auth/npmrc\n",
    );
    let c = load(&env, &[], CliOverrides::default());
    assert_eq!(c.registries.default, "http://home-npmrc.test/");
}
