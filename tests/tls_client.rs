//! Installs from a registry behind mutual TLS: the test registry over `https://` asking
//! every client for a certificate signed by its client CA (`crates/test-registry/tls/`).
//! Each case shows which `.npmrc` settings make tack present one, and a test runs pnpm on
//! the same cases: tack presents a certificate exactly when pnpm does. Two tests stand in
//! for nginx: `openssl s_server` ending the handshake, and the page nginx answers with
//! when it lets the handshake through.

use std::time::Duration;

use tack_suite::kill::{self, Finished};
use tack_suite::project::TestProject;
use tack_suite::setup::{basic_project_with_npmrc, clean_basic_tree, https_registry};
use tack_suite::store_check::{assert_nothing_installed, check_all};
use tack_test_registry::{
    test_ca_path, test_tls_file, ClientAuth, Fault, FaultKind, RegistryOptions, TestRegistry,
};

/// A copy of the basic fixture whose `.npmrc` points at `registry` and adds `npmrc`.
fn project(registry: &TestRegistry, npmrc: &str) -> TestProject {
    basic_project_with_npmrc(&registry.url(), npmrc)
}

fn install(project: &TestProject) -> Finished {
    let cmd = kill::install_command(project, &project.store(), &[]);
    kill::run(cmd, Duration::from_secs(60))
}

fn mutual_tls_registry() -> TestRegistry {
    TestRegistry::start_blocking(RegistryOptions {
        tls: true,
        client_auth: ClientAuth::Required,
        ..RegistryOptions::default()
    })
    .expect("start the mutual-TLS registry")
}

/// `//127.0.0.1:PORT/`, the key the registry's settings are filed under.
fn nerf(registry: &TestRegistry) -> String {
    let host = registry
        .url()
        .trim_start_matches("https:")
        .trim_end_matches('/')
        .to_string();
    format!("{host}/")
}

/// A committed PEM file written on one line, as `.npmrc` holds an inline value.
fn inline(name: &str) -> String {
    let text = std::fs::read_to_string(test_tls_file(name)).expect("read the PEM");
    format!("\"{}\"", text.trim().replace('\n', "\\n"))
}

/// The `.npmrc` lines of each case, and whether the registry accepts the client.
fn cases(registry: &TestRegistry) -> Vec<(&'static str, String, bool)> {
    let reg = nerf(registry);
    let ca = test_ca_path();
    let (cert, key) = (test_tls_file("client.pem"), test_tls_file("client.key"));
    let (stranger, stranger_key) = (test_tls_file("stranger.pem"), test_tls_file("stranger.key"));
    let cafile = format!("cafile={}\n", ca.display());
    vec![
        ("no client certificate", cafile.clone(), false),
        (
            "the registry's certfile and keyfile",
            format!(
                "{cafile}{reg}:certfile={}\n{reg}:keyfile={}\n",
                cert.display(),
                key.display()
            ),
            true,
        ),
        (
            "the registry's cert, key and cafile inline and as a file",
            format!(
                "{reg}:cert={}\n{reg}:key={}\n{reg}:cafile={}\n",
                inline("client.pem"),
                inline("client.key"),
                ca.display()
            ),
            true,
        ),
        (
            "cert and key for every registry",
            format!(
                "{cafile}cert={}\nkey={}\n",
                inline("client.pem"),
                inline("client.key")
            ),
            true,
        ),
        (
            "a certificate the registry's client CA did not sign",
            format!(
                "{cafile}{reg}:certfile={}\n{reg}:keyfile={}\n",
                stranger.display(),
                stranger_key.display()
            ),
            false,
        ),
        (
            "certfile and keyfile for another registry",
            format!(
                "{cafile}//other.test/:certfile={}\n//other.test/:keyfile={}\n",
                cert.display(),
                key.display()
            ),
            false,
        ),
        // A registry's own authorities leave `cert` and `key` in force.
        (
            "cert and key for every registry, and a cafile of its own for this one",
            format!(
                "cert={}\nkey={}\n{reg}:cafile={}\n",
                inline("client.pem"),
                inline("client.key"),
                ca.display()
            ),
            true,
        ),
        // A registry's own certificate replaces `cert` and `key`.
        (
            "cert and key for every registry, and a stranger's for this one",
            format!(
                "{cafile}cert={}\nkey={}\n{reg}:certfile={}\n{reg}:keyfile={}\n",
                inline("client.pem"),
                inline("client.key"),
                stranger.display(),
                stranger_key.display()
            ),
            false,
        ),
    ]
}

#[test]
fn a_mutual_tls_registry_gets_the_client_certificate_the_settings_name() {
    let reference = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&reference.url());
    let registry = mutual_tls_registry();
    for (case, npmrc, accepted) in cases(&registry) {
        let project = project(&registry, &npmrc);
        let out = install(&project);
        if accepted {
            assert!(out.success(), "{case}: {npmrc}\n{}", out.describe());
            let problems = check_all(&project, &project.store(), &expected);
            assert!(problems.is_empty(), "{case}: {problems:?}");
            continue;
        }
        assert_eq!(out.code(), Some(1), "{case}: {}", out.describe());
        assert!(
            out.stderr.contains("ERR_TACK_TLS_CLIENT_CERTIFICATE")
                && out.stderr.contains(":certfile"),
            "{case}: the error does not say the registry wants a client certificate and how \
             to give one: {}",
            out.describe()
        );
        assert_nothing_installed(&project, case);
    }
}

#[test]
fn unusable_client_certificate_settings_are_a_clear_error() {
    let registry = mutual_tls_registry();
    let reg = nerf(&registry);
    let ca = test_ca_path();
    let cases = [
        (
            "a certfile without its keyfile",
            format!(
                "{reg}:certfile={}\n{reg}:cafile={}\n",
                test_tls_file("client.pem").display(),
                ca.display()
            ),
            format!("{reg}:key"),
        ),
        (
            "a certfile that does not exist",
            format!(
                "{reg}:certfile=absent.pem\n{reg}:keyfile={}\n{reg}:cafile={}\n",
                test_tls_file("client.key").display(),
                ca.display()
            ),
            "absent.pem".to_string(),
        ),
        (
            "a key that is not a key",
            format!(
                "cafile={}\ncert={}\nkey=\"not a key\"\n",
                ca.display(),
                inline("client.pem")
            ),
            "private key".to_string(),
        ),
    ];
    for (case, npmrc, named) in cases {
        let project = project(&registry, &npmrc);
        let out = install(&project);
        assert_eq!(out.code(), Some(1), "{case}: {}", out.describe());
        assert!(
            out.stderr.contains("ERR_TACK_CLIENT_CERTIFICATE") && out.stderr.contains(&named),
            "{case}: the error does not name the setting ({named}): {}",
            out.describe()
        );
        assert!(
            !project.dir().join("node_modules/is-odd").exists(),
            "{case}"
        );
    }
}

/// pnpm 12, given the same `.npmrc`, is accepted and refused by the same registry as tack:
/// the cases above are pnpm's rules, not tack's reading of them.
#[test]
fn pnpm_presents_the_same_client_certificates() {
    let registry = mutual_tls_registry();
    for (case, npmrc, accepted) in cases(&registry) {
        let project = project(&registry, &npmrc);
        let mut pnpm = project.command(&tack_suite::pnpm_bin());
        pnpm.args(["install", "--frozen-lockfile", "--store-dir"])
            .arg(project.store());
        let pnpm = kill::run(pnpm, Duration::from_secs(120));
        assert_eq!(
            pnpm.success(),
            accepted,
            "pnpm, {case}: {}",
            pnpm.describe()
        );

        let project = self::project(&registry, &npmrc);
        let tack = install(&project);
        assert_eq!(
            tack.success(),
            accepted,
            "tack, {case}: {}",
            tack.describe()
        );
    }
}

/// A registry that redirects its tarballs to another, whose authority only that other
/// registry's own `:cafile` trusts: each hop goes through the settings of its own URL, as
/// pnpm's JavaScript fetcher picks its agent per URL. (pnpm 12 follows the redirect with
/// the first registry's settings and refuses the second certificate: checked by hand.)
#[test]
fn a_redirect_to_another_registry_takes_that_registrys_settings() {
    let reference = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&reference.url());
    let front = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let back = https_registry();
    front.inject(Fault::new(
        "*.tgz",
        FaultKind::Redirect {
            to: back.url().trim_end_matches('/').to_string(),
        },
    ));
    let npmrc = format!("{}:cafile={}\n", nerf(&back), test_ca_path().display());
    let project = project(&front, &npmrc);
    let out = install(&project);
    assert!(out.success(), "{}", out.describe());
    let problems = check_all(&project, &project.store(), &expected);
    assert!(problems.is_empty(), "{problems:?}");
    let redirected = front.requests().iter().filter(|r| r.status == 302).count();
    assert!(redirected > 0, "no tarball was redirected");
}

/// `openssl s_server` asking for a client certificate under TLS 1.2 only, as nginx does
/// with `ssl_verify_client on`: a client that sends none gets a bare `handshake_failure`
/// alert (TLS 1.3 has `certificate_required` for it; the test registry, on rustls, always
/// sends that one). Killed on drop.
struct OpensslServer {
    child: std::process::Child,
    port: u16,
}

impl OpensslServer {
    fn start_tls12_requiring_client_certificates() -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("openssl")
            .arg("s_server")
            .args(["-accept", "127.0.0.1:0", "-tls1_2", "-www", "-Verify", "1"])
            .arg("-cert")
            .arg(test_tls_file("server.pem"))
            .arg("-key")
            .arg(test_tls_file("server.key"))
            .arg("-CAfile")
            .arg(test_tls_file("client-ca.pem"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run openssl s_server (.ci/run installs openssl)");
        let stdout = child.stdout.take().expect("its output");
        // OpenSSL 3 says `ACCEPT 127.0.0.1:PORT` once it listens. The reader keeps
        // draining the output afterwards, so that the server never writes into a closed
        // pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.strip_prefix("ACCEPT") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.rsplit(':').next().unwrap_or_default().parse());
                    }
                }
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(port)) => port,
            outcome => {
                let _ = child.kill();
                panic!(
                    "openssl s_server did not say which port it listens on ({outcome:?}): \
                     the test needs OpenSSL 3's s_server"
                );
            }
        };
        Self { child, port }
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare `handshake_failure` is not a network hiccup: the install fails at once, with
/// `ERR_TACK_TLS_HANDSHAKE` and what to check, instead of retrying as a network error.
/// With the client certificate set, the same server lets the handshake through.
#[test]
fn a_registry_that_ends_the_handshake_is_a_clear_error_not_retried() {
    let server = OpensslServer::start_tls12_requiring_client_certificates();
    let registry = format!("https://127.0.0.1:{}/", server.port);
    let ca = format!("cafile={}\n", test_ca_path().display());
    let project = basic_project_with_npmrc(&registry, &ca);
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("ERR_TACK_TLS_HANDSHAKE") && out.stderr.contains("certfile"),
        "the error does not say the registry ended the handshake, and what to set: {}",
        out.describe()
    );
    assert!(
        !format!("{}{}", out.stdout, out.stderr).contains("retry 1 of"),
        "retried: {}",
        out.describe()
    );
    assert_nothing_installed(&project, "handshake refused");

    // The server's `-www` page is no tarball, so this install fails too, but past the
    // handshake: on the page's checksum.
    let with_cert = format!(
        "{ca}cert={}\nkey={}\n",
        inline("client.pem"),
        inline("client.key")
    );
    let project = basic_project_with_npmrc(&registry, &with_cert);
    // Past the handshake, the page is no packument either: the tarball is what is checked.
    project.add_settings("trustLockfile: true\n");
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("ERR_PNPM_TARBALL_INTEGRITY")
            && !out.stderr.contains("ERR_TACK_TLS_HANDSHAKE"),
        "the handshake failed with a client certificate: {}",
        out.describe()
    );
}

/// nginx with `ssl_verify_client optional` lets the handshake through and answers 400
/// with a page of its own; the error says what that page means. (Over plain `http://`:
/// the page is what counts, and the test registry serves it either way.)
#[test]
fn an_nginx_page_asking_for_a_client_certificate_gets_the_certificate_hint() {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let page = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n\
                <body>\r\n<center><h1>400 Bad Request</h1></center>\r\n\
                <center>No required SSL certificate was sent</center>\r\n\
                <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
    registry.inject(Fault::new(
        "*.tgz",
        FaultKind::Page {
            code: 400,
            html: page.to_string(),
        },
    ));
    let project = basic_project_with_npmrc(&registry.url(), "");
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        one_line(&out.stderr).contains("failed with 400")
            && one_line(&out.stderr).contains("wants a client certificate"),
        "the error does not say the registry wants a client certificate: {}",
        out.describe()
    );
    assert_nothing_installed(&project, "nginx certificate page");

    // Any other 400 keeps the plain hint.
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    registry.inject(Fault::new(
        "*.tgz",
        FaultKind::Page {
            code: 400,
            html: "<html><body>400 Bad Request</body></html>".to_string(),
        },
    ));
    let project = basic_project_with_npmrc(&registry.url(), "");
    let out = install(&project);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        !one_line(&out.stderr).contains("client certificate")
            && one_line(&out.stderr).contains("The registry refused the request"),
        "not the plain hint of a 400: {}",
        out.describe()
    );
}

/// `text` with the reporter's line wrapping and box drawing undone: words separated by
/// single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

/// A redirect from an https registry to an http one carries no credentials: they would
/// travel in clear. (Followed hop by hop, as redirects are once some registry has TLS
/// settings of its own, the http host's token went along; reqwest, following redirects
/// itself, drops it on any such change.)
#[test]
fn credentials_do_not_follow_a_redirect_from_https_to_http() {
    let back = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let expected = clean_basic_tree(&back.url());
    let front = https_registry();
    front.inject(Fault::new(
        "*.tgz",
        FaultKind::Redirect {
            to: back.url().trim_end_matches('/').to_string(),
        },
    ));
    let back_nerf = back.url().trim_start_matches("http:").to_string();
    let npmrc = format!(
        "{front}:cafile={ca}\n{front}:_authToken=front-secret\n{back_nerf}:_authToken=back-secret\n",
        front = nerf(&front),
        ca = test_ca_path().display()
    );
    let project = project(&front, &npmrc);
    let out = install(&project);
    assert!(out.success(), "{}", out.describe());
    let problems = check_all(&project, &project.store(), &expected);
    assert!(problems.is_empty(), "{problems:?}");
    let tarballs: Vec<_> = back
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(".tgz"))
        .collect();
    assert!(!tarballs.is_empty(), "no tarball was redirected");
    assert!(
        tarballs.iter().all(|r| r.authorization.is_none()),
        "{:?}",
        tarballs
            .iter()
            .map(|r| &r.authorization)
            .collect::<Vec<_>>()
    );
}
