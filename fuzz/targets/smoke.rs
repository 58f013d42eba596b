//! The stable-toolchain smoke path of the fuzz targets, included by each owning crate's
//! `tests/fuzz_regressions.rs`: replays `fuzz/seeds/<target>` and a few thousand inputs
//! mutated from it by a seeded RNG, so CI exercises every target without nightly.

use std::path::PathBuf;

/// How many mutated inputs each smoke test runs.
pub const MUTATIONS: usize = 3000;

/// `fuzz/seeds/<target>`, resolved from the owning crate's manifest dir.
fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target)
}

/// The committed corpus of `target`, sorted by file name.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

/// splitmix64: tiny, seedable, no dependency. Public for other seeded tests that include
/// this file (the lockfile's fast-reader differential test).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes the mutator likes to insert: structure characters of every format fuzzed.
const INTERESTING: &[u8] = b"\0\x7f\xff\xfe\xc0\xd4\x72\x40:-/\\.{}[]()'\"#;=\n\r\t $@";

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let b = INTERESTING[rng.below(INTERESTING.len())];
                input.insert(rng.below(len + 1), b);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                input.drain(start..end);
            }
            4 if len > 0 => input.truncate(rng.below(len)),
            5 if len > 0 => {
                // Duplicate a slice in place.
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let chunk = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            _ => {
                // Splice in a piece of another corpus entry.
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(128)).min(other.len());
                    let at = rng.below(input.len() + 1);
                    input.splice(at..at, other[start..end].iter().copied());
                }
            }
        }
    }
}

/// Runs `run` over the corpus of `target`, then over [`MUTATIONS`] mutants from `seed`.
pub fn smoke(target: &str, seed: u64, run: fn(&[u8])) {
    let pool = corpus(target);
    assert!(!pool.is_empty(), "the {target} corpus is empty");
    for input in &pool {
        run(input);
    }
    let mut rng = Rng(seed);
    for _ in 0..MUTATIONS {
        let mut input = pool[rng.below(pool.len())].clone();
        mutate(&mut rng, &mut input, &pool);
        let outcome = std::panic::catch_unwind(|| run(&input));
        if let Err(panic) = outcome {
            eprintln!("{target} smoke input that failed (seed {seed}): {input:?}");
            std::panic::resume_unwind(panic);
        }
    }
}
