//! `pnpm-lock.yaml` (lockfileVersion 9.0): parsing, dep paths, package ids and the
//! virtual-store directory names that pnpm derives from them.
