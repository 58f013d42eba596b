//! Installs through a forward proxy on loopback (`tack_test_registry::TestProxy`): which
//! settings send the downloads through it (`proxy`, `https-proxy`, `http-proxy`,
//! `no-proxy`, the variables), that the install is whole when they do, and that pnpm 12
//! takes the proxy in the same cases.

use std::time::Duration;

use tack_suite::kill::{self, Finished};
use tack_suite::project::TestProject;
use tack_suite::setup::{basic_project_with_npmrc, clean_basic_tree, https_registry};
use tack_suite::store_check::{assert_nothing_installed, check_all};
use tack_test_registry::{test_ca_path, RegistryOptions, TestProxy, TestRegistry};

/// One case: its name, the `.npmrc` lines (`{proxy}` stands for the proxy's URL), the
/// variables (the same), and whether the downloads go through the proxy.
struct Case {
    name: &'static str,
    npmrc: &'static str,
    env: &'static [(&'static str, &'static str)],
    proxied: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "no settings",
        npmrc: "",
        env: &[],
        proxied: false,
    },
    Case {
        name: "proxy",
        npmrc: "proxy={proxy}\n",
        env: &[],
        proxied: true,
    },
    Case {
        name: "https-proxy, which http:// URLs take too",
        npmrc: "https-proxy={proxy}\n",
        env: &[],
        proxied: true,
    },
    Case {
        name: "http-proxy",
        npmrc: "http-proxy={proxy}\n",
        env: &[],
        proxied: true,
    },
    Case {
        name: "https-proxy with the registry's host in no-proxy",
        npmrc: "https-proxy={proxy}\nno-proxy=example.test,127.0.0.1\n",
        env: &[],
        proxied: false,
    },
    Case {
        name: "HTTP_PROXY",
        npmrc: "",
        env: &[("HTTP_PROXY", "{proxy}")],
        proxied: true,
    },
    Case {
        name: "http_proxy with NO_PROXY",
        npmrc: "",
        env: &[("http_proxy", "{proxy}"), ("NO_PROXY", "127.0.0.1")],
        proxied: false,
    },
    Case {
        name: "proxy=false with HTTP_PROXY set",
        npmrc: "proxy=false\n",
        env: &[("HTTP_PROXY", "{proxy}")],
        proxied: false,
    },
    Case {
        name: "https-proxy=false with HTTP_PROXY set",
        npmrc: "https-proxy=false\n",
        env: &[("HTTP_PROXY", "{proxy}")],
        proxied: true,
    },
    // An entry names hosts by their labels: `*` is not a wildcard.
    Case {
        name: "proxy with no-proxy=*",
        npmrc: "proxy={proxy}\nno-proxy=*\n",
        env: &[],
        proxied: true,
    },
];

/// tack's install of `project`, with a deadline.
fn install(project: &TestProject) -> Finished {
    kill::run(
        kill::install_command(project, &project.store(), &[]),
        Duration::from_secs(120),
    )
}

fn fill(text: &str, proxy: &TestProxy) -> String {
    text.replace("{proxy}", &proxy.url())
}

/// Runs `program`'s install of a fresh project for `case` through a fresh proxy; returns
/// the outcome, the project and whether the proxy carried a connection to the registry.
fn run_case(
    registry: &TestRegistry,
    case: &Case,
    extra_npmrc: &str,
    pnpm: bool,
) -> (Finished, TestProject, bool) {
    let proxy = TestProxy::start_blocking().expect("start the proxy");
    let npmrc = format!("{extra_npmrc}{}", fill(case.npmrc, &proxy));
    let project = basic_project_with_npmrc(&registry.url(), &npmrc);
    let mut cmd = if pnpm {
        let mut cmd = project.command(&tack_suite::pnpm_bin());
        cmd.args(["install", "--frozen-lockfile", "--store-dir"])
            .arg(project.store());
        cmd
    } else {
        kill::install_command(&project, &project.store(), &[])
    };
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "PROXY",
    ] {
        cmd.env_remove(name).env_remove(name.to_lowercase());
    }
    for (name, value) in case.env {
        cmd.env(name, fill(value, &proxy));
    }
    let out = kill::run(cmd, Duration::from_secs(120));
    let port = registry
        .url()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .map(str::to_string);
    let proxied = proxy
        .connections()
        .iter()
        .any(|c| Some(c.origin.rsplit(':').next().unwrap_or_default().to_string()) == port);
    (out, project, proxied)
}

#[test]
fn downloads_go_through_the_proxy_the_settings_name() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&registry.url());
    for case in CASES {
        let (out, project, proxied) = run_case(&registry, case, "", false);
        assert!(out.success(), "{}: {}", case.name, out.describe());
        assert_eq!(proxied, case.proxied, "{}: through the proxy", case.name);
        let problems = check_all(&project, &project.store(), &expected);
        assert!(problems.is_empty(), "{}: {problems:?}", case.name);
    }
}

#[test]
fn an_https_registry_is_reached_through_a_tunnel() {
    let reference = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&reference.url());
    let registry = https_registry();
    let case = Case {
        name: "https-proxy to an https registry",
        npmrc: "https-proxy={proxy}\n",
        env: &[],
        proxied: true,
    };
    let cafile = format!("cafile={}\n", test_ca_path().display());
    let (out, project, proxied) = run_case(&registry, &case, &cafile, false);
    assert!(out.success(), "{}", out.describe());
    assert!(proxied, "the download did not go through the proxy");
    let problems = check_all(&project, &project.store(), &expected);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn a_proxy_that_cannot_be_reached_fails_the_install_cleanly() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    // A port nothing listens on: bound, then released.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}", dead.local_addr().expect("addr"));
    drop(dead);
    let project = basic_project_with_npmrc(&registry.url(), &format!("proxy={dead_url}\n"));
    // The tarball's download is what this case is about (`supply_chain.rs` reads metadata).
    project.add_settings("trustLockfile: true\n");
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("ERR_PNPM_TARBALL_FETCH_TARBALL")
            && out.stderr.contains("through the proxy"),
        "the error does not say the download went through a proxy: {}",
        out.describe()
    );
    assert_nothing_installed(&project, "unreachable proxy");

    // The proxy is up but cannot reach the registry: it answers the tunnel's CONNECT with
    // 502, and the error says so.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let gone_registry = format!("https://{}/", gone.local_addr().expect("addr"));
    drop(gone);
    let proxy = TestProxy::start_blocking().expect("proxy");
    let project = basic_project_with_npmrc(
        &gone_registry,
        &format!(
            "https-proxy={}\ncafile={}\n",
            proxy.url(),
            test_ca_path().display()
        ),
    );
    project.add_settings("trustLockfile: true\n");
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("ERR_PNPM_TARBALL_FETCH_TARBALL")
            && out.stderr.contains("would not open a tunnel to 127.0.0.1:"),
        "the error does not say the proxy refused the tunnel: {}",
        out.describe()
    );
    assert_nothing_installed(&project, "tunnel refused");

    let project = basic_project_with_npmrc(&registry.url(), "https-proxy=http://[bad\n");
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("ERR_TACK_PROXY_URL") && out.stderr.contains("https-proxy"),
        "{}",
        out.describe()
    );
    assert_nothing_installed(&project, "proxy URL that does not parse");
}

/// pnpm 12, given the same settings, goes through the proxy in the same cases.
#[test]
fn pnpm_takes_the_proxy_in_the_same_cases() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    for case in CASES {
        let (pnpm, _, pnpm_proxied) = run_case(&registry, case, "", true);
        assert!(pnpm.success(), "pnpm, {}: {}", case.name, pnpm.describe());
        assert_eq!(
            pnpm_proxied, case.proxied,
            "pnpm, {}: through the proxy",
            case.name
        );
    }
}

/// A proxy that asks for credentials gets them from the proxy URL, for an `http://`
/// registry (the header on each request) and an `https://` one (on the tunnel's CONNECT);
/// without them the install fails, saying where they go.
#[test]
fn proxy_credentials_travel_in_the_proxy_url() {
    let reference = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&reference.url());
    let plain = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let https = https_registry();
    let cafile = format!("cafile={}\n", test_ca_path().display());
    for (registry, extra) in [(&plain, String::new()), (&https, cafile)] {
        let proxy = TestProxy::start_with_credentials("ci", "p@ss/word").expect("proxy");
        let with = format!("{extra}https-proxy={}\n", proxy.url_with_credentials());
        let project = basic_project_with_npmrc(&registry.url(), &with);
        let out = install(&project);
        assert!(out.success(), "{}: {}", registry.url(), out.describe());
        assert!(!proxy.connections().is_empty(), "not through the proxy");
        let problems = check_all(&project, &project.store(), &expected);
        assert!(problems.is_empty(), "{problems:?}");

        let without = format!("{extra}https-proxy={}\n", proxy.url());
        let project = basic_project_with_npmrc(&registry.url(), &without);
        let out = install(&project);
        assert_eq!(out.code(), Some(1), "{}", out.describe());
        assert!(
            out.stderr.contains("ERR_TACK_PROXY_AUTH") && out.stderr.contains("credentials"),
            "{}: the error does not say the proxy wants credentials: {}",
            registry.url(),
            out.describe()
        );
        assert!(!out.stderr.contains("p@ss"), "a password in the output");
        assert_nothing_installed(&project, "proxy without credentials");
    }
}
