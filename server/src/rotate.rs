//! `server rotate-key`: re-encrypts every stored WhatsApp credential and key from the current
//! `SESSION_ENCRYPTION_KEY` (or the key file in `DATA_DIR`) to `NEW_SESSION_ENCRYPTION_KEY`, one
//! transaction per account. Run it with the server stopped. It is safe to run again: rows
//! already under the new key are skipped, so an interrupted rotation is finished by a second run.
//! Afterwards set `SESSION_ENCRYPTION_KEY` to the new key; when the old key came from the key
//! file, the file is replaced with the new key (atomically, mode 0600).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use store::{RotationReport, SessionCipher};

use crate::config::{self, Config, KEY_FILE_NAME, parse};
use crate::startup::{StartupError, connect_store, open_database};

/// Why a rotation could not run.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(
        "NEW_SESSION_ENCRYPTION_KEY is not set: put the new key there (`openssl rand -hex 32`)"
    )]
    NoNewKey,
    #[error("{0}")]
    BadNewKey(String),
    #[error(
        "there is no current key: set SESSION_ENCRYPTION_KEY, or keep {KEY_FILE_NAME} in DATA_DIR"
    )]
    NoCurrentKey,
    #[error("the new key is the current key; nothing to do")]
    SameKey,
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("rotation failed: {0}")]
    Store(#[from] store::StoreError),
    #[error(
        "the sessions were re-encrypted, but {path} could not be replaced: {source}; set SESSION_ENCRYPTION_KEY to the new key"
    )]
    KeyFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Runs the rotation; `new_key` is the raw `NEW_SESSION_ENCRYPTION_KEY`.
pub async fn rotate_key(
    config: &Config,
    new_key: Option<&str>,
) -> Result<RotationReport, RotateError> {
    let raw = new_key
        .filter(|k| !k.trim().is_empty())
        .ok_or(RotateError::NoNewKey)?;
    let new = parse::key32("NEW_SESSION_ENCRYPTION_KEY", raw).map_err(RotateError::BadNewKey)?;
    let key_file = config.data_dir.join(KEY_FILE_NAME);
    let (old, from_file) = match &config.session_encryption_key {
        Some(key) => (*key.bytes(), false),
        None if key_file.exists() => {
            let (key, _, _) =
                config::load_or_create(&config.data_dir).map_err(StartupError::from)?;
            (*key.bytes(), true)
        }
        None => return Err(RotateError::NoCurrentKey),
    };
    if old == new {
        return Err(RotateError::SameKey);
    }
    let (embedded, url) = open_database(config).await?;
    let result = async {
        let store = connect_store(config, url).await?;
        let report = store
            .rotate_encryption_key(&SessionCipher::new(old), &SessionCipher::new(new))
            .await;
        store.close().await;
        Ok::<_, RotateError>(report?)
    }
    .await;
    if let Some(pg) = embedded
        && let Err(e) = pg.stop().await
    {
        tracing::error!(error = %e, "stopping the embedded PostgreSQL failed");
    }
    let report = result?;
    if from_file {
        replace_key_file(&key_file, &new)?;
    }
    Ok(report)
}

/// Writes the new key next to the old file and renames it over, so a crash leaves one whole key.
fn replace_key_file(path: &Path, key: &[u8; 32]) -> Result<(), RotateError> {
    let tmp = path.with_extension("new");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(format!("{}\n", parse::hex_encode(key)).as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| RotateError::KeyFile {
        path: path.to_owned(),
        source,
    })
}
