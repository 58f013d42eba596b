//! The `.npmrc` fuzz target's body, shared by the libFuzzer binary (`fuzz_targets/npmrc.rs`)
//! and the stable smoke test (`crates/config/tests/fuzz_regressions.rs`).
//!
//! The ini splitter and the key filter with its `${VAR}` and security rules must never panic,
//! for both trust levels.

use std::collections::BTreeMap;
use std::path::Path;
use tack_config::npmrc::{parse_ini, Npmrc, NpmrcTrust};

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_ini(text);
    let mut env = BTreeMap::new();
    env.insert("TOKEN".to_string(), "secret".to_string());
    env.insert("EMPTY".to_string(), String::new());
    for trust in [NpmrcTrust::User, NpmrcTrust::Project] {
        let mut warnings = Vec::new();
        let _ = Npmrc::from_text(text, Some(Path::new(".npmrc")), trust, &env, &mut warnings);
    }
}
