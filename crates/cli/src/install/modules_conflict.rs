//! A filtered install over a modules directory that another layout made.
//!
//! A full install purges such a directory and starts again (`check_compat`), but a filtered
//! one (`--filter`) would take every other project's dependencies with it, so pnpm 12 stops
//! instead, with one error per setting that changed, before anything is written. tack stops
//! with the same codes and says which install recreates the directory.

use std::path::Path;

use tack_linker::{LinkPlan, ModulesYaml};

use crate::error::CliError;

/// The error for `reason` (the setting [`tack_linker::check_compat`] found changed) when a
/// filtered install meets the modules directory the `existing` state describes.
pub fn filtered_install_refused(reason: &str, existing: &ModulesYaml, plan: &LinkPlan) -> CliError {
    let modules_dir = plan.root_modules_dir();
    let recreate = "Run \"tack install\" without --filter (or \"pnpm install\") to recreate the \
                    modules directory. Nothing was changed.";
    let differs = |code: &str, setting: &str| {
        CliError::new(
            code,
            format!(
                "This modules directory ({}) was created using a different {setting} value.",
                modules_dir.display()
            ),
        )
        .with_help(recreate)
    };
    match reason {
        "nodeLinker" => differs("ERR_PNPM_NODE_LINKER_DIFF", "node-linker"),
        "virtualStoreDirMaxLength" => differs(
            "ERR_PNPM_VIRTUAL_STORE_DIR_MAX_LENGTH_DIFF",
            "virtual-store-dir-max-length",
        ),
        "publicHoistPattern" => {
            differs("ERR_PNPM_PUBLIC_HOIST_PATTERN_DIFF", "public-hoist-pattern")
        }
        "hoistPattern" => differs("ERR_PNPM_HOIST_PATTERN_DIFF", "hoist-pattern"),
        "storeDir" => CliError::new("ERR_PNPM_UNEXPECTED_STORE", "Unexpected store location")
            .with_help(format!(
                "The dependencies at \"{}\" are currently linked from the store at \"{}\".\n\
                 tack now wants to use the store at \"{}\" to link dependencies.\n\
                 If you want to use the new store location, reinstall your dependencies with \
                 \"tack install\" without --filter. Nothing was changed.",
                modules_dir.display(),
                existing.store_dir,
                plan.modules_state.store_dir.display()
            )),
        "virtualStoreDir" => CliError::new(
            "ERR_PNPM_UNEXPECTED_VIRTUAL_STORE",
            "Unexpected virtual store location",
        )
        .with_help(format!(
            "The dependencies at \"{}\" are currently symlinked from the virtual store directory \
             at \"{}\".\ntack now wants to use the virtual store at \"{}\" to link dependencies \
             from the store.\nIf you want to use the new virtual store location, reinstall your \
             dependencies with \"tack install\" without --filter. Nothing was changed.",
            modules_dir.display(),
            recorded_virtual_store(&modules_dir, existing).display(),
            plan.virtual_store_dir.display()
        )),
        // A setting `check_compat` learns to compare later, before it gets its own arm.
        other => CliError::new(
            "ERR_TACK_MODULES_DIR_CONFLICT",
            format!(
                "This modules directory ({}) was created using a different {other} value.",
                modules_dir.display()
            ),
        )
        .with_help(recreate),
    }
}

/// The virtual store the existing state names, absolute (it is recorded relative to the
/// modules directory).
fn recorded_virtual_store(modules_dir: &Path, existing: &ModulesYaml) -> std::path::PathBuf {
    super::plan::normalize(&modules_dir.join(&existing.virtual_store_dir))
}
