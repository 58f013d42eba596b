//! Finding a program on a PATH-style search list, as a shell does, without running it.
//! Used for `node` (its version, and the `NODE` variable scripts get).

use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The first `program` in the directories of `path` that is an executable file.
pub fn find_executable(path: &OsStr, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_executable_file_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).unwrap();
            d
        };
        let (plain, folder, exe, later) = (dir("plain"), dir("folder"), dir("exe"), dir("later"));
        std::fs::write(plain.join("tool"), "not executable").unwrap();
        std::fs::create_dir(folder.join("tool")).unwrap();
        for d in [&exe, &later] {
            std::fs::write(d.join("tool"), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(d.join("tool"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let path = std::env::join_paths([&plain, &folder, &exe, &later]).unwrap();
        assert_eq!(find_executable(&path, "tool"), Some(exe.join("tool")));
        assert_eq!(find_executable(&path, "missing"), None);
    }
}
