//! `SESSION_ENCRYPTION_KEY`: the AES-256 key that will encrypt WhatsApp credentials at rest.
//!
//! When the variable is unset we generate a key once and keep it in `DATA_DIR/session-encryption.key`
//! (mode 0600) so the two-command start works; losing that file makes stored WhatsApp sessions
//! unreadable, which is why production should set the variable explicitly.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use super::parse;

pub const KEY_FILE_NAME: &str = "session-encryption.key";

/// 32 secret bytes. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// Whether the key came from an existing file or was generated just now (worth a louder warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    ExistingFile,
    Generated,
}

/// Reads `DATA_DIR/session-encryption.key`, creating it with a fresh random key if it is missing.
pub fn load_or_create(data_dir: &Path) -> Result<(SessionKey, PathBuf, KeyOrigin), KeyFileError> {
    let path = data_dir.join(KEY_FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes =
                parse::key32(KEY_FILE_NAME, &text).map_err(|message| KeyFileError::Corrupt {
                    path: path.clone(),
                    message,
                })?;
            Ok((SessionKey(bytes), path, KeyOrigin::ExistingFile))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(|source| KeyFileError::CreateDir {
                path: data_dir.to_owned(),
                source,
            })?;
            let bytes: [u8; 32] = rand::random();
            // create_new: never overwrite a key another process wrote a moment ago.
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| KeyFileError::Write {
                    path: path.clone(),
                    source,
                })?;
            file.write_all(format!("{}\n", parse::hex_encode(&bytes)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|source| KeyFileError::Write {
                    path: path.clone(),
                    source,
                })?;
            Ok((SessionKey(bytes), path, KeyOrigin::Generated))
        }
        Err(source) => Err(KeyFileError::Read { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn generates_once_with_owner_only_permissions_then_reuses() {
        let dir = std::env::temp_dir().join(format!("rl-key-{}", uuid::Uuid::new_v4()));
        let (first, path, origin) = load_or_create(&dir).unwrap();
        assert_eq!(origin, KeyOrigin::Generated);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, _, origin) = load_or_create(&dir).unwrap();
        assert_eq!(origin, KeyOrigin::ExistingFile);
        assert_eq!(first, second);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn debug_hides_the_bytes() {
        let key = SessionKey::new([0xab; 32]);
        assert!(!format!("{key:?}").contains("ab"));
    }
}
