//! pnpm's NDJSON log stream (`--reporter=ndjson`): one JSON object per line with pnpm's event
//! names and payload fields, so tools that parse pnpm's logs can parse tack's.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::{Event, ScriptLine, Verification};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Maps one event to pnpm's log record(s), or nothing when pnpm has no equivalent.
pub(crate) fn records(event: &Event) -> Vec<Value> {
    let time = now_ms();
    let progress = |status: &str, id: &str| json!({"name": "pnpm:progress", "level": "debug", "status": status, "packageId": id, "requester": ".", "time": time});
    match event {
        Event::Context {
            store_dir,
            virtual_store_dir,
        } => vec![
            json!({"name": "pnpm:context", "level": "debug", "currentLockfileExists": false, "storeDir": store_dir, "virtualStoreDir": virtual_store_dir, "time": time}),
        ],
        Event::LockfileUpToDate
        | Event::Scope { .. }
        | Event::ScopeNone { .. }
        | Event::ScopeSelected { .. } => vec![],
        Event::Resolved { package_id } => vec![progress("resolved", package_id)],
        Event::FoundInStore { package_id } => vec![progress("found_in_store", package_id)],
        Event::Fetched { package_id } => vec![progress("fetched", package_id)],
        Event::Imported { package_id } => vec![progress("imported", package_id)],
        Event::Retry {
            package_id,
            attempt,
            reason,
        } => vec![
            json!({"name": "pnpm:request-retry", "level": "debug", "attempt": attempt, "packageId": package_id, "error": {"message": reason}, "time": time}),
        ],
        Event::SkippedOptional { package_id, reason } => vec![
            json!({"name": "pnpm:skipped-optional-dependency", "level": "debug", "package": {"id": package_id}, "reason": reason, "prefix": ".", "time": time}),
        ],
        Event::SkippedOptionalBuild {
            dir,
            name,
            version,
            details,
        } => vec![
            json!({"name": "pnpm:skipped-optional-dependency", "level": "debug", "details": details, "package": {"id": dir, "name": name, "version": version}, "prefix": ".", "reason": "build_failure", "time": time}),
        ],
        Event::Warning(message) | Event::EarlyWarning(message) => vec![
            json!({"name": "pnpm", "level": "warn", "message": message, "prefix": ".", "time": time}),
        ],
        Event::LockfileVerification {
            lockfile_path,
            status,
        } => {
            let mut record = json!({"name": "pnpm:lockfile-verification", "level": "debug", "lockfilePath": lockfile_path, "time": time});
            let extra = match status {
                Verification::Started { entries } => {
                    json!({"status": "started", "entries": entries})
                }
                Verification::Passed { entries, elapsed } => {
                    json!({"status": "done", "entries": entries, "elapsedMs": elapsed.as_millis() as u64})
                }
                Verification::Failed { entries, elapsed } => {
                    json!({"status": "failed", "entries": entries, "elapsedMs": elapsed.as_millis() as u64})
                }
                Verification::Cached { verified_at, .. } => {
                    json!({"status": "cached", "verifiedAt": verified_at})
                }
            };
            if let (Some(r), Some(e)) = (record.as_object_mut(), extra.as_object()) {
                r.extend(e.clone());
            }
            vec![record]
        }
        Event::Info(message) => vec![
            json!({"name": "pnpm", "level": "info", "message": message, "prefix": ".", "time": time}),
        ],
        Event::Script {
            prefix,
            stage,
            line,
        } => {
            let mut record = json!({"name": "pnpm:lifecycle", "level": "debug", "depPath": prefix, "stage": stage, "wd": prefix, "time": time});
            let extra = match line {
                ScriptLine::Started(script) => json!({"script": script}),
                ScriptLine::Output { line, stderr } => {
                    json!({"line": line, "stdio": if *stderr { "stderr" } else { "stdout" }})
                }
                ScriptLine::Finished { exit_code, .. } => {
                    json!({"exitCode": exit_code, "optional": false})
                }
                ScriptLine::Patched(file) => json!({"patchFile": file}),
            };
            if let (Some(r), Some(e)) = (record.as_object_mut(), extra.as_object()) {
                r.extend(e.clone());
            }
            vec![record]
        }
        Event::ImportingDone { added, removed } => vec![
            json!({"name": "pnpm:stage", "level": "debug", "stage": "importing_done", "prefix": ".", "time": time}),
            json!({"name": "pnpm:stats", "level": "debug", "added": added, "prefix": ".", "time": time}),
            json!({"name": "pnpm:stats", "level": "debug", "removed": removed, "prefix": ".", "time": time}),
        ],
        Event::Summary(_) => {
            vec![json!({"name": "pnpm:summary", "level": "debug", "prefix": ".", "time": time})]
        }
        Event::AlreadyUpToDate => vec![],
        Event::Done { elapsed } => vec![
            json!({"name": "pnpm:execution-time", "level": "debug", "startedAt": time.saturating_sub(elapsed.as_millis() as u64), "endedAt": time, "time": time}),
        ],
    }
}

/// Writes `event`'s records to stderr, where pnpm 12 writes its log: stdout stays for
/// what the scripts print.
pub(super) fn emit(event: &Event) {
    let stderr = std::io::stderr();
    let mut out = stderr.lock();
    for record in records(event) {
        // A closed stream (e.g. `2>&1 | head`) must not abort the install.
        let _ = writeln!(out, "{record}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_events_use_pnpm_names() {
        let records = records(&Event::Fetched {
            package_id: "is-odd@3.0.1".into(),
        });
        assert_eq!(records[0]["name"], "pnpm:progress");
        assert_eq!(records[0]["status"], "fetched");
        assert_eq!(records[0]["packageId"], "is-odd@3.0.1");
    }
}
