//! Installability (§6.1).
