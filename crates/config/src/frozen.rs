//! Frozen-lockfile checks (§5.2).
