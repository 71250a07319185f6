//! Where media files live: the local disk (default, `DATA_DIR/media`) or S3-compatible object
//! storage (AWS S3, MinIO, R2 …), both through the `object_store` crate's one trait, chosen by
//! configuration (`MEDIA_S3_BUCKET`).
//!
//! Content-addressed per user: a file is `<user id>/<first two hex digits>/<sha256>`, so the same
//! brochure sent to 500 leads is one object, and one user's files never mix with another's (no
//! cross-tenant "does anyone have this file" probe, and erasing a user's media touches only
//! theirs). Nothing is ever written under a name that is not the hash of what it holds: a file is
//! verified (and hashed) before it is put here.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// How the storage is configured.
#[derive(Clone, Debug)]
pub enum StorageConfig {
    /// A directory on local disk.
    Local(PathBuf),
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        /// For MinIO and other S3-compatible services; `None` = AWS.
        endpoint: Option<String>,
        region: String,
        /// Credentials for this bucket (`MEDIA_S3_ACCESS_KEY_ID` / `MEDIA_S3_SECRET_ACCESS_KEY`);
        /// `None` = the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` or the instance's
        /// role.
        credentials: Option<(String, secrecy::SecretString)>,
    },
}

impl StorageConfig {
    pub fn describe(&self) -> String {
        match self {
            Self::Local(dir) => format!("local disk at {}", dir.display()),
            Self::S3 {
                bucket, endpoint, ..
            } => match endpoint {
                Some(e) => format!("S3 bucket {bucket} at {e}"),
                None => format!("S3 bucket {bucket}"),
            },
        }
    }
}

/// The media storage. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MediaStorage {
    store: Arc<dyn ObjectStore>,
}

/// Files up to this size are put in one request; bigger ones stream in parts (S3's minimum part
/// is 5 MiB).
const SINGLE_PUT: u64 = 8 * 1024 * 1024;
const PART: usize = 8 * 1024 * 1024;

/// A stored file's bytes, streamed.
pub struct StoredFile {
    pub size: u64,
    /// The byte range served (the whole file unless a range was asked for).
    pub range: Range<u64>,
    pub stream: BoxStream<'static, object_store::Result<Bytes>>,
}

fn key(user_id: Uuid, sha256: &str) -> Path {
    Path::from(format!(
        "{user_id}/{}/{sha256}",
        &sha256[..2.min(sha256.len())]
    ))
}

impl MediaStorage {
    pub fn open(config: &StorageConfig) -> Result<Self, object_store::Error> {
        let store: Arc<dyn ObjectStore> = match config {
            StorageConfig::Local(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })?;
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir)?)
            }
            StorageConfig::S3 {
                bucket,
                endpoint,
                region,
                credentials,
            } => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some((key_id, secret)) = credentials {
                    use secrecy::ExposeSecret as _;
                    builder = builder
                        .with_access_key_id(key_id)
                        .with_secret_access_key(secret.expose_secret());
                }
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        // MinIO and most S3-compatibles address buckets by path.
                        .with_virtual_hosted_style_request(false);
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Self { store })
    }

    /// Whether the user's file is stored (with `size` bytes, when given).
    pub async fn has(
        &self,
        user_id: Uuid,
        sha256: &str,
        size: Option<u64>,
    ) -> Result<bool, object_store::Error> {
        match self.store.head(&key(user_id, sha256)).await {
            Ok(meta) => Ok(size.is_none_or(|s| meta.size == s)),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores a local file (already verified to hash to `sha256`) unless it is there already.
    /// A put replaces atomically: a reader never sees half a file.
    pub async fn put_file(
        &self,
        user_id: Uuid,
        sha256: &str,
        file: &FsPath,
    ) -> Result<(), object_store::Error> {
        let size = tokio::fs::metadata(file).await.map_err(io)?.len();
        if self.has(user_id, sha256, Some(size)).await? {
            return Ok(());
        }
        let location = key(user_id, sha256);
        if size <= SINGLE_PUT {
            let bytes = tokio::fs::read(file).await.map_err(io)?;
            self.store.put(&location, PutPayload::from(bytes)).await?;
            return Ok(());
        }
        let upload = self.store.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match f.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(io(e));
                }
            };
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(4).await?;
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        Ok(())
    }

    /// The user's file, whole or the byte `range` of it (clamped to the file).
    pub async fn get(
        &self,
        user_id: Uuid,
        sha256: &str,
        range: Option<Range<u64>>,
    ) -> Result<StoredFile, object_store::Error> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let got = self.store.get_opts(&key(user_id, sha256), options).await?;
        let size = got.meta.size;
        let range = got.range.clone();
        Ok(StoredFile {
            size,
            range,
            stream: got.into_stream(),
        })
    }

    /// Deletes the user's file; a file already gone is fine.
    pub async fn delete(&self, user_id: Uuid, sha256: &str) -> Result<(), object_store::Error> {
        match self.store.delete(&key(user_id, sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn io(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "media",
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn read_all(mut f: StoredFile) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = f.stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn local_files_are_put_once_read_in_ranges_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let storage = MediaStorage::open(&StorageConfig::Local(dir.path().join("media"))).unwrap();
        let user = Uuid::new_v4();
        let sha = "ab".repeat(32);
        let src = dir.path().join("src.bin");
        // Bigger than one put: goes in parts.
        let data: Vec<u8> = (0..(SINGLE_PUT as usize + 12_345))
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&src, &data).unwrap();
        assert!(!storage.has(user, &sha, None).await.unwrap());
        storage.put_file(user, &sha, &src).await.unwrap();
        assert!(
            storage
                .has(user, &sha, Some(data.len() as u64))
                .await
                .unwrap()
        );
        assert!(!storage.has(Uuid::new_v4(), &sha, None).await.unwrap());
        let whole = storage.get(user, &sha, None).await.unwrap();
        assert_eq!(whole.size, data.len() as u64);
        assert_eq!(read_all(whole).await, data);
        let part = storage.get(user, &sha, Some(10..20)).await.unwrap();
        assert_eq!(part.range, 10..20);
        assert_eq!(read_all(part).await, &data[10..20]);
        // Stored once: a second put of the same file does nothing.
        storage.put_file(user, &sha, &src).await.unwrap();
        storage.delete(user, &sha).await.unwrap();
        assert!(!storage.has(user, &sha, None).await.unwrap());
        storage.delete(user, &sha).await.unwrap();
        assert!(matches!(
            storage.get(user, &sha, None).await,
            Err(object_store::Error::NotFound { .. })
        ));
    }
}
