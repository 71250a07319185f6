//! Media files: where they are kept ([`storage`]), what an upload really is ([`inspect`]), and
//! the eager downloader of received ones ([`download`]). The REST side is `api::media`.

pub mod download;
pub mod inspect;
pub mod storage;

use std::path::PathBuf;

pub use storage::{MediaStorage, StorageConfig};

/// What request handlers need for media.
#[derive(Clone, Debug)]
pub struct Media {
    pub storage: MediaStorage,
    /// Temporary files (uploads being checked, downloads being verified), on the same disk as
    /// `DATA_DIR`.
    pub tmp: PathBuf,
}

impl Media {
    /// Opens the configured storage and makes the temporary directory (emptied: anything in it
    /// is a leftover of a crash).
    pub fn open(config: &StorageConfig, data_dir: &std::path::Path) -> std::io::Result<Media> {
        let storage = MediaStorage::open(config).map_err(std::io::Error::other)?;
        let tmp = data_dir.join("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        Ok(Media { storage, tmp })
    }
}
