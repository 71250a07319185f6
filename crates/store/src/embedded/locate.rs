//! Finding the PostgreSQL server binaries on this machine.

use super::EmbeddedError;
use std::path::{Path, PathBuf};

/// The directory holding `initdb` and `pg_ctl`: the first on `PATH` that has both, otherwise the
/// highest version under `/usr/lib/postgresql/*/bin` (Debian/Ubuntu keep them off `PATH`).
pub(super) fn bin_dir() -> Result<PathBuf, EmbeddedError> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d))
    {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
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
