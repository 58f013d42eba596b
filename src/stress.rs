//! The knobs of the reliability suite: how many iterations a scenario runs (a short form in CI,
//! a long one when `TACK_STRESS=1`), a seeded random source whose seed is printed so a failing
//! run can be replayed (`TACK_SEED=<n>`), and the results file `just stress` prints as a table.

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// True under `just stress` (`TACK_STRESS=1`).
pub fn long_mode() -> bool {
    std::env::var("TACK_STRESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `quick` in CI, `long` under stress.
pub fn iterations(quick: usize, long: usize) -> usize {
    if long_mode() {
        long
    } else {
        quick
    }
}

/// A small deterministic generator (splitmix64): enough for drawing delays and choices, and
/// with no dependency to keep in step.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
    seed: u64,
}

impl Rng {
    /// Seeded from `TACK_SEED` when set, else from the clock. The seed is printed.
    pub fn from_env(scenario: &str) -> Rng {
        let seed = std::env::var("TACK_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x5eed)
            });
        eprintln!("{scenario}: seed {seed} (replay with TACK_SEED={seed})");
        Rng::new(seed)
    }

    pub fn new(seed: u64) -> Rng {
        Rng { state: seed, seed }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// One scenario's figures, as a row of the stress table.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub runs: usize,
    pub passes: usize,
    pub seed: Option<u64>,
}

impl Outcome {
    pub fn failures(&self) -> usize {
        self.runs - self.passes
    }
}

/// Where results go: `TACK_STRESS_RESULTS`, else `<target>/stress/results.tsv` next to the
/// test executable's profile dir.
pub fn results_path() -> PathBuf {
    if let Ok(path) = std::env::var("TACK_STRESS_RESULTS") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test> → target/stress/results.tsv
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    target.join("stress").join("results.tsv")
}

/// Appends one row (`scenario runs passes failures seed`, tab-separated) to the results
/// file and prints it.
pub fn record(outcome: &Outcome) {
    let seed = outcome
        .seed
        .map(|s| s.to_string())
        .unwrap_or_else(|| "-".into());
    let line = format!(
        "{}\t{}\t{}\t{}\t{}\n",
        outcome.scenario,
        outcome.runs,
        outcome.passes,
        outcome.failures(),
        seed
    );
    eprint!("result: {line}");
    let path = results_path();
    if let Some(parent) = path.parent() {
        let _ = fs_err::create_dir_all(parent);
    }
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// Records the outcome, then fails the test with the collected failure reports if any.
pub fn finish(outcome: Outcome, failures: &[String]) {
    record(&outcome);
    assert!(
        failures.is_empty(),
        "{}: {} of {} runs failed (seed {:?}):\n{}",
        outcome.scenario,
        outcome.failures(),
        outcome.runs,
        outcome.seed,
        failures.join("\n---\n")
    );
}
