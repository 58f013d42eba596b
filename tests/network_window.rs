//! How many downloads tack keeps in flight: 16 while the registry answers quickly, all of
//! `network-concurrency` (128) once its answers show a distant one (the first ones all
//! late, or a few very late ones), and exactly the configured number when the user set
//! `networkConcurrency`. The test registry counts the requests it is answering at once; its
//! delays stand in for the distance. The supply-chain check's metadata reads share the
//! window, so the counts are of both.

use std::time::Duration;

use tack_suite::kill::{self, Finished};
use tack_suite::project::TestProject;
use tack_test_registry::{Fault, FaultKind, PackageDef, RegistryOptions, TestRegistry};

/// Packages a few requests at a time can never all be asked for at once.
const QUICK: usize = 8;
const SLOW: usize = 40;

/// The project: `quick-NN` and `slow-NN` packages, all direct dependencies, locked.
fn wide_project(registry: &TestRegistry) -> (TestProject, Vec<String>) {
    wide_project_from(registry, None)
}

/// [`wide_project`], with the `slow-NN` packages locked to `far`'s tarballs when given
/// (the lockfile names their tarball URLs, as pnpm's does for a registry other than the
/// default one).
fn wide_project_from(
    registry: &TestRegistry,
    far: Option<&TestRegistry>,
) -> (TestProject, Vec<String>) {
    let names: Vec<String> = (0..QUICK)
        .map(|i| format!("quick-{i:02}"))
        .chain((0..SLOW).map(|i| format!("slow-{i:02}")))
        .collect();
    let mut deps = serde_json::Map::new();
    let mut importer = String::new();
    let mut packages = String::new();
    let mut snapshots = String::new();
    for name in &names {
        let (from, tarball) = match far {
            Some(far) if name.starts_with("slow-") => (
                far,
                format!(", tarball: '{}'", far.tarball_url(name, "1.0.0")),
            ),
            _ => (registry, String::new()),
        };
        from.add_package(PackageDef::new(name.as_str(), "1.0.0").file(
            "index.js",
            format!("module.exports = '{name}';\n"),
            0o644,
        ));
        let integrity = from.integrity(name, "1.0.0").expect("integrity");
        deps.insert(name.clone(), "1.0.0".into());
        importer.push_str(&format!(
            "      {name}:\n        specifier: 1.0.0\n        version: 1.0.0\n"
        ));
        packages.push_str(&format!(
            "  {name}@1.0.0:\n    resolution: {{integrity: {integrity}{tarball}}}\n\n"
        ));
        snapshots.push_str(&format!("  {name}@1.0.0: {{}}\n\n"));
    }
    let project = TestProject::new();
    project.write(".npmrc", &format!("registry={}/\n", registry.url()));
    project.write(
        "package.json",
        &serde_json::json!({"name": "window", "version": "1.0.0", "dependencies": deps})
            .to_string(),
    );
    project.write(
        "pnpm-lock.yaml",
        &format!(
            "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  excludeLinksFromLockfile: false\n\nimporters:\n\n  .:\n    dependencies:\n{importer}\npackages:\n\n{packages}snapshots:\n\n{snapshots}"
        ),
    );
    (project, names)
}

fn install(project: &TestProject, env: &[(&str, &str)]) -> Finished {
    let mut cmd = kill::install_command(project, &project.store(), &[]);
    cmd.envs(env.iter().copied());
    kill::run(cmd, Duration::from_secs(120))
}

fn assert_installed(project: &TestProject, names: &[String], out: &Finished) {
    assert!(out.success(), "{}", out.describe());
    for name in names {
        let marker = project
            .dir()
            .join("node_modules")
            .join(name)
            .join("index.js");
        assert!(marker.is_file(), "{name} is not installed");
    }
}

/// Installs with the registry answering every request at once but sending the slow
/// packages' bodies 256 bytes at a time (about 16 pieces), `every` so often; the most requests it
/// answered at once. The answers are all quick, so the registry is near; the slow bodies pile up
/// behind the window.
fn peak_behind_quick_answers(env: &[(&str, &str)], every: Duration) -> usize {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    registry.inject(Fault::new(
        "slow-",
        FaultKind::SlowDrip { bytes: 256, every },
    ));
    let (project, names) = wide_project(&registry);
    let out = install(&project, env);
    assert_installed(&project, &names, &out);
    registry.peak_in_flight()
}

#[test]
fn a_quick_registry_gets_sixteen_requests_at_once() {
    // Whether the answers count as quick is measured, and a machine busy enough (this suite
    // runs on two cores) can delay all of the first eight past 10 ms: then the window opens,
    // as it would for a distant registry. So up to three tries; a window that always opened
    // fails all three. (17: the registry counts a request until its last write returns, and
    // by then the client may have read the body and sent the next one.)
    let mut peaks = Vec::new();
    for _ in 0..3 {
        let peak = peak_behind_quick_answers(&[], Duration::from_millis(10));
        assert!(peak >= QUICK, "only {peak} requests were answered at once");
        if peak <= 17 {
            return;
        }
        peaks.push(peak);
    }
    panic!("{peaks:?} requests were answered at once; the window is 16 near the registry");
}

/// Installs with the registry holding back the answers to requests whose path contains
/// `pattern` for `delay`; the most requests it answered at once.
fn peak_behind_late_answers(pattern: &str, delay: Duration, env: &[(&str, &str)]) -> usize {
    let registry = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    registry.inject(Fault::new(pattern, FaultKind::Delay(delay)));
    let (project, names) = wide_project(&registry);
    let out = install(&project, env);
    assert_installed(&project, &names, &out);
    registry.peak_in_flight()
}

#[test]
fn a_distant_registry_gets_more_than_sixteen_at_once() {
    // Every answer waits 25 ms, as a registry that far away would: all of the first ones
    // are late, none very late. Its metadata too: the supply-chain check reads it through
    // the same window while the downloads run. (The delay is per request, so that
    // connections being opened do not hide requests from the count.)
    let peak = peak_behind_late_answers("/", Duration::from_millis(25), &[]);
    assert!(
        peak > 17,
        "only {peak} requests were answered at once from a registry 25 ms away"
    );
}

#[test]
fn a_distant_registry_behind_a_near_one_gets_more_than_sixteen_at_once() {
    // The quick packages come from the default registry, next door, and are asked for
    // first; the slow ones from another that answers every request 15 ms late. Counted
    // together, the near one's quick first answers would keep the window at 16. (15 ms is
    // well short of the 50 ms that opens the window from any host, which a busy machine
    // must not reach instead.)
    let near = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    let far = TestRegistry::start_blocking(RegistryOptions::default()).expect("registry");
    far.inject(Fault::new(
        ".tgz",
        FaultKind::Delay(Duration::from_millis(15)),
    ));
    let (project, names) = wide_project_from(&near, Some(&far));
    let out = install(&project, &[]);
    assert_installed(&project, &names, &out);
    assert_eq!(near.request_count("/quick-00/-/quick-00-1.0.0.tgz"), 1);
    let peak = far.peak_in_flight();
    assert!(
        peak > 17,
        "only {peak} requests were answered at once by the registry 15 ms away"
    );
}

#[test]
fn quick_answers_with_slow_ones_among_them_open_the_window() {
    // A cache's edge: the first answers quick, then some that wait 100 ms on the origin.
    let peak = peak_behind_late_answers("slow-", Duration::from_millis(100), &[]);
    assert!(
        peak > 17,
        "only {peak} requests were answered at once, though some answers took 100 ms"
    );
}

#[test]
fn a_configured_network_concurrency_is_kept_exactly() {
    // More than the window near the registry... (one more at most: see above; and the slow
    // bodies take about two seconds, long enough for a loaded machine to send all 24.)
    let peak = peak_behind_quick_answers(
        &[("pnpm_config_network_concurrency", "24")],
        Duration::from_millis(120),
    );
    assert!(
        (17..=25).contains(&peak),
        "networkConcurrency: 24, {peak} at once"
    );
    // ...and fewer than the window far from it.
    let peak = peak_behind_late_answers(
        "/",
        Duration::from_millis(100),
        &[("pnpm_config_network_concurrency", "4")],
    );
    assert!(
        (4..=5).contains(&peak),
        "networkConcurrency: 4, {peak} at once"
    );
}
