//! Finding the PostgreSQL server binaries on this machine.

use super::EmbeddedError;
use std::path::{Path, PathBuf};

/// The directory holding `initdb` and `pg_ctl`: the first on `PATH` that has both, otherwise the
/// highest version under `/usr/lib/postgresql/*/bin` (Debian/Ubuntu keep them off `PATH`).
pub(super) fn bin_dir() -> Result<PathBuf, EmbeddedError> {
    bin_dir_in(std::env::var_os("PATH"), Path::new("/usr/lib/postgresql"))
}

fn bin_dir_in(
    path: Option<std::ffi::OsString>,
    versions_root: &Path,
) -> Result<PathBuf, EmbeddedError> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = path
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(versions_root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_both(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, dir)| dir)
        .ok_or(EmbeddedError::BinariesNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        let _ = std::fs::create_dir_all(dir);
        for tool in ["initdb", "pg_ctl"] {
            let _ = std::fs::write(dir.join(tool), b"");
        }
    }

    #[test]
    fn path_wins_then_the_highest_installed_version() {
        let tmp = tempfile::tempdir().ok();
        let Some(root) = tmp.as_ref().map(|t| t.path().to_path_buf()) else {
            panic!("no temp dir");
        };
        let versions = root.join("lib");
        for v in ["9", "15", "16"] {
            fake_install(&versions.join(v).join("bin"));
        }
        let _ = std::fs::create_dir_all(versions.join("17/bin")); // no binaries: skipped
        let _ = std::fs::create_dir_all(versions.join("notes")); // not a version: skipped
        assert_eq!(
            bin_dir_in(None, &versions).ok(),
            Some(versions.join("16/bin"))
        );

        let on_path = root.join("bin");
        fake_install(&on_path);
        let path = std::env::join_paths([root.join("empty"), on_path.clone()]).ok();
        assert_eq!(bin_dir_in(path, &versions).ok(), Some(on_path));
    }

    #[test]
    fn no_binaries_is_a_one_line_install_hint() {
        let err = bin_dir_in(Some("/nonexistent".into()), Path::new("/nonexistent/lib"));
        let Err(err) = err else {
            panic!("found binaries in an empty place")
        };
        let text = err.to_string();
        assert!(
            text.contains("apt-get install postgresql") && !text.contains('\n'),
            "{text}"
        );
    }
}
