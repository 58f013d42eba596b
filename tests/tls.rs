//! Installs from the test registry over `https://`. Its certificate is signed by a CA of its
//! own (`crates/test-registry/tls/`), which no client trusts unless told to, so each case
//! shows which settings make tack trust it: the same ones that make Node, and so pnpm, trust
//! it (`cafile`, `ca`, `NODE_EXTRA_CA_CERTS`, `strict-ssl=false`), and not the others.

use std::path::Path;
use std::time::Duration;

use tack_suite::kill::{self, Finished};
use tack_suite::project::TestProject;
use tack_suite::setup::{basic_project_with_npmrc, clean_basic_tree, https_registry};
use tack_suite::store_check::{assert_nothing_installed, check_all};
use tack_test_registry::{test_ca_path, test_ca_pem, RegistryOptions, TestRegistry};

/// A copy of the basic fixture whose `.npmrc` points at `registry` and adds `npmrc`.
fn project(registry: &TestRegistry, npmrc: &str) -> TestProject {
    basic_project_with_npmrc(&registry.url(), npmrc)
}

/// A case: its name, the lines it adds to `.npmrc`, and the variables it sets.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a Path)>);

fn install(project: &TestProject, env: &[(&str, &Path)]) -> Finished {
    let mut cmd = kill::install_command(project, &project.store(), &[]);
    for (key, value) in env {
        cmd.env(key, value);
    }
    kill::run(cmd, Duration::from_secs(60))
}

/// The certificate of the registry itself: a valid certificate, but not its issuer.
fn server_cert_path() -> std::path::PathBuf {
    test_ca_path().with_file_name("server.pem")
}

#[test]
fn an_https_registry_is_trusted_through_the_settings_node_honours() {
    let reference = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&reference.url());
    let registry = https_registry();
    assert!(registry.url().starts_with("https://"), "{}", registry.url());
    let ca_path = test_ca_path();
    let server_cert = server_cert_path();
    let ca_inline = format!("ca=\"{}\"\n", test_ca_pem().trim().replace('\n', "\\n"));
    let trusted: Vec<Case> = vec![
        ("cafile", format!("cafile={}\n", ca_path.display()), vec![]),
        ("ca inline", ca_inline, vec![]),
        (
            "NODE_EXTRA_CA_CERTS",
            String::new(),
            vec![("NODE_EXTRA_CA_CERTS", &ca_path)],
        ),
        // The extra authorities are kept beside a `cafile`, as pnpm keeps them.
        (
            "cafile without the issuer, NODE_EXTRA_CA_CERTS with it",
            format!("cafile={}\n", server_cert.display()),
            vec![("NODE_EXTRA_CA_CERTS", &ca_path)],
        ),
        ("strict-ssl=false", "strict-ssl=false\n".to_string(), vec![]),
    ];
    for (case, npmrc, env) in trusted {
        let project = project(&registry, &npmrc);
        let out = install(&project, &env);
        assert!(out.success(), "{case}: {}", out.describe());
        let problems = check_all(&project, &project.store(), &expected);
        assert!(problems.is_empty(), "{case}: {problems:?}");
    }
}

#[test]
fn an_https_registry_signed_by_an_unknown_authority_is_refused() {
    let registry = https_registry();
    let server_cert = server_cert_path();
    let refused: Vec<Case> = vec![
        ("no settings", String::new(), vec![]),
        // The operating system's store does not hold the test CA either.
        (
            "NODE_USE_SYSTEM_CA",
            String::new(),
            vec![("NODE_USE_SYSTEM_CA", Path::new("1"))],
        ),
        // `cafile` replaces the built-in list; a certificate that is not the issuer does
        // not help.
        (
            "cafile without the issuer",
            format!("cafile={}\n", server_cert.display()),
            vec![],
        ),
    ];
    for (case, npmrc, env) in refused {
        let project = project(&registry, &npmrc);
        let out = install(&project, &env);
        assert_eq!(out.code(), Some(1), "{case}: {}", out.describe());
        assert!(
            // The first request is the supply-chain check's metadata read.
            out.stderr.contains("ERR_PNPM_META_FETCH_FAIL") && out.stderr.contains("cafile"),
            "{case}: the error does not say the certificate was refused and what to do: {}",
            out.describe()
        );
        assert_nothing_installed(&project, case);
    }
}

#[test]
fn a_cafile_without_certificates_is_a_clear_error() {
    let registry = https_registry();
    let project = project(&registry, "cafile=broken.pem\n");
    project.write("broken.pem", "this is not a certificate\n");
    let out = install(&project, &[]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("ERR_TACK_CA_CERTIFICATES"),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("broken.pem"), "{}", out.describe());
    assert!(!project.dir().join("node_modules/is-odd").exists());
}

/// pnpm 12, on Node, given the same `.npmrc` and variables, trusts and refuses the same
/// https registry as tack: the cases above are Node's rules, not tack's reading of them.
#[test]
fn pnpm_trusts_and_refuses_the_same_https_registry() {
    let registry = https_registry();
    let ca_path = test_ca_path();
    let server_cert = server_cert_path();
    let cases: Vec<(Case, bool)> = vec![
        (("no settings", String::new(), vec![]), false),
        (
            ("cafile", format!("cafile={}\n", ca_path.display()), vec![]),
            true,
        ),
        (
            (
                "NODE_EXTRA_CA_CERTS",
                String::new(),
                vec![("NODE_EXTRA_CA_CERTS", ca_path.as_path())],
            ),
            true,
        ),
        (
            (
                "cafile without the issuer",
                format!("cafile={}\n", server_cert.display()),
                vec![],
            ),
            false,
        ),
        (
            (
                "cafile without the issuer, NODE_EXTRA_CA_CERTS with it",
                format!("cafile={}\n", server_cert.display()),
                vec![("NODE_EXTRA_CA_CERTS", ca_path.as_path())],
            ),
            true,
        ),
        (
            ("strict-ssl=false", "strict-ssl=false\n".to_string(), vec![]),
            true,
        ),
    ];
    for ((case, npmrc, env), trusted) in cases {
        let project = project(&registry, &npmrc);
        let mut pnpm = project.command(&tack_suite::pnpm_bin());
        pnpm.args(["install", "--frozen-lockfile", "--store-dir"])
            .arg(project.store());
        for (key, value) in &env {
            pnpm.env(key, value);
        }
        let pnpm = kill::run(pnpm, Duration::from_secs(120));
        assert_eq!(pnpm.success(), trusted, "pnpm, {case}: {}", pnpm.describe());

        let project = self::project(&registry, &npmrc);
        let tack = install(&project, &env);
        assert_eq!(tack.success(), trusted, "tack, {case}: {}", tack.describe());
    }
}
