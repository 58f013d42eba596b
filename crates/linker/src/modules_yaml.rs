//! `node_modules/.modules.yaml`: what layout a modules dir was built with.
//!
//! Despite the name it is JSON (2-space indent, no trailing newline), as pnpm writes it;
//! readers accept JSON only here (pnpm falls back to YAML for files older than tack cares
//! about). On re-install [`check_compat`] compares it with the plan: a different store or
//! virtual store is an error, an older layout is a breaking change, and changed hoisting
//! settings require purging the modules dir.

use crate::error::LinkError;
use crate::plan::{IncludedGroups, LinkPlan};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The layout version pnpm 10–12 write.
pub const LAYOUT_VERSION: u32 = 5;

/// The contents of `.modules.yaml` (fields in pnpm 12's order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModulesYaml {
    /// `{depPath or importerId: {alias: "public"|"private"}}`, in hoisting order.
    #[serde(default)]
    pub hoisted_dependencies: serde_json::Map<String, serde_json::Value>,
    /// `hoistPattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hoist_pattern: Option<Vec<String>>,
    /// `included`.
    pub included: IncludedGroups,
    /// `layoutVersion` (any JSON value on read: old files may hold anything).
    pub layout_version: serde_json::Value,
    /// `nodeLinker`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_linker: Option<String>,
    /// `packageManager`.
    #[serde(default)]
    pub package_manager: String,
    /// `pendingBuilds`.
    #[serde(default)]
    pub pending_builds: Vec<String>,
    /// `ignoredBuilds` (written only when non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_builds: Vec<String>,
    /// `prunedAt` (an HTTP date).
    #[serde(default)]
    pub pruned_at: String,
    /// `publicHoistPattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_hoist_pattern: Option<Vec<String>>,
    /// `skipped`.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// `storeDir`.
    #[serde(default)]
    pub store_dir: String,
    /// `virtualStoreDir`, relative to the modules dir.
    #[serde(default)]
    pub virtual_store_dir: String,
    /// `virtualStoreDirMaxLength`.
    #[serde(default)]
    pub virtual_store_dir_max_length: Option<usize>,
    /// `hoistedLocations` (`nodeLinker: hoisted`): `{depPath: [dir relative to the root]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hoisted_locations: Option<serde_json::Map<String, serde_json::Value>>,
    /// `injectedDeps` (written only when non-empty).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub injected_deps: serde_json::Map<String, serde_json::Value>,
    /// `allowBuilds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_builds: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Reads `<modules_dir>/.modules.yaml`; `None` when absent or unreadable.
pub fn read_modules_yaml(modules_dir: &Path) -> Option<ModulesYaml> {
    let text = std::fs::read(modules_dir.join(".modules.yaml")).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Writes `<modules_dir>/.modules.yaml` atomically.
pub fn write_modules_yaml(modules_dir: &Path, modules: &ModulesYaml) -> Result<(), LinkError> {
    let path = modules_dir.join(".modules.yaml");
    let text = serde_json::to_string_pretty(modules).map_err(|source| LinkError::Serialize {
        path: path.clone(),
        source,
    })?;
    // Not fsynced, like everything else in node_modules: the publish is atomic, and a file
    // a power loss leaves empty or torn fails to parse, which sends the next run down the
    // full path.
    tack_fs::AtomicWrite::new(&path)
        .durable(false)
        .write_bytes(text.as_bytes())
        .map_err(|e| LinkError::fs(".modules.yaml", e))
}

/// What to do with an existing modules dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompatAction {
    /// Install over it.
    Keep,
    /// Remove the modules dirs and install from scratch; the reason names the setting.
    PurgeAndReinstall {
        /// Which setting changed (`hoistPattern`, …).
        reason: String,
    },
}

/// The `virtualStoreDir` text for a plan: relative to the root modules dir.
pub(crate) fn virtual_store_text(plan: &LinkPlan) -> String {
    tack_fs::relative_path(&plan.root_modules_dir(), &plan.virtual_store_dir)
        .to_string_lossy()
        .into_owned()
}

/// Compares an existing `.modules.yaml` with the plan, as pnpm does before installing. pnpm 12
/// purges and reinstalls, without asking and without an error, when the store, the virtual
/// store or a hoisting setting changed (pnpm 11 asked, and older versions refused a different
/// store with `ERR_PNPM_UNEXPECTED_STORE`); only an older layout version is an error.
pub fn check_compat(existing: &ModulesYaml, plan: &LinkPlan) -> Result<CompatAction, LinkError> {
    let modules_dir = plan.root_modules_dir();
    if existing.layout_version != serde_json::json!(LAYOUT_VERSION) {
        return Err(LinkError::ModulesBreakingChange {
            modules_dir,
            found: existing.layout_version.to_string(),
            expected: LAYOUT_VERSION,
        });
    }
    let linker = if plan.hoisted.is_some() {
        "hoisted"
    } else {
        "isolated"
    };
    if existing.node_linker.as_deref().unwrap_or("isolated") != linker {
        return Ok(purge("nodeLinker"));
    }
    let store = plan.modules_state.store_dir.to_string_lossy();
    if !existing.store_dir.is_empty() && existing.store_dir != store {
        return Ok(purge("storeDir"));
    }
    let vs = virtual_store_text(plan);
    if !existing.virtual_store_dir.is_empty() {
        let recorded = modules_dir.join(&existing.virtual_store_dir);
        if tack_fs::relative_path(&modules_dir, &recorded) != Path::new(&vs) {
            return Ok(purge("virtualStoreDir"));
        }
    }
    if existing
        .virtual_store_dir_max_length
        .unwrap_or(plan.virtual_store_dir_max_length)
        != plan.virtual_store_dir_max_length
    {
        return Ok(purge("virtualStoreDirMaxLength"));
    }
    if existing.public_hoist_pattern.as_deref().unwrap_or(&[])
        != plan.public_hoist_pattern.as_deref().unwrap_or(&[])
    {
        return Ok(purge("publicHoistPattern"));
    }
    if existing.hoist_pattern.as_deref().unwrap_or(&[]) != plan.hoist_pattern.as_slice() {
        return Ok(purge("hoistPattern"));
    }
    Ok(CompatAction::Keep)
}

fn purge(reason: &str) -> CompatAction {
    CompatAction::PurgeAndReinstall {
        reason: reason.to_string(),
    }
}

/// `SystemTime` as an HTTP date (`Sat, 21 Nov 2026 14:37:17 GMT`), what `prunedAt` holds.
pub(crate) fn http_date(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WD[days.rem_euclid(7) as usize];
    let mo = MO[(month - 1).clamp(0, 11) as usize];
    format!("{wd}, {d:02} {mo} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// The time an HTTP date (`Sat, 21 Nov 2026 14:37:17 GMT`) names; `None` for any other text.
pub(crate) fn parse_http_date(text: &str) -> Option<std::time::SystemTime> {
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = text.split_ascii_whitespace();
    let (_weekday, day, month, year, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if zone != "GMT" || parts.next().is_some() {
        return None;
    }
    let day: i64 = day.parse().ok()?;
    let month = MO.iter().position(|m| *m == month)? as i64 + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|n| n.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || hms.next().is_some() {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_read_back() {
        for secs in [0, 951_782_400, 1_795_276_927, 4_102_444_799] {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{secs}");
        }
        assert_eq!(parse_http_date(""), None);
        assert_eq!(parse_http_date("2026-11-21T14:37:17Z"), None);
        assert_eq!(parse_http_date("Sat, 21 Nov 2026 14:37:17 UTC"), None);
        assert_eq!(parse_http_date("Sat, 21 Foo 2026 14:37:17 GMT"), None);
    }

    #[test]
    fn http_dates() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_276_927);
        assert_eq!(http_date(t), "Sat, 21 Nov 2026 16:02:07 GMT");
        assert_eq!(
            http_date(std::time::UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
    }
}
