//! The object store: a local directory or an S3 bucket, behind one type.
//!
//! Keys are paths relative to the store's root (`file://DIR` → `DIR/KEY`,
//! `s3://BUCKET/PREFIX` → `PREFIX/KEY`). Writes are atomic: a local write goes
//! to a temporary file that is renamed into place; an S3 put is atomic itself.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("'{0}' is not a valid object key")]
    InvalidKey(String),
    #[error("'{0}' is not a valid store URL: use file://DIR or s3://BUCKET/PREFIX")]
    InvalidUrl(String),
    #[error("the object store failed: {0}")]
    Backend(String),
    #[error("local store I/O failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("'{key}' is {size} bytes, more than the limit of {limit}")]
    TooLarge { key: String, size: u64, limit: u64 },
    /// A directory, a link leading outside the store, a FIFO, a device.
    #[error("'{0}' is not a regular file inside the store")]
    NotAFile(String),
}

/// Explicit S3 settings; anything unset comes from the usual `AWS_*` variables.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Path-style addressing, which S3-compatible servers usually need.
    pub force_path_style: Option<bool>,
}

#[derive(Clone, Debug)]
pub enum Storage {
    Local {
        root: PathBuf,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
}

/// The longest file name local file systems take.
const MAX_NAME_BYTES: usize = 255;

/// Refuse keys that could escape the root or mean different things on different stores.
pub fn check_key(key: &str) -> Result<(), StorageError> {
    let bad = key.is_empty()
        || key.len() > 1024
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key.split('/').any(|part| {
            part.is_empty() || part == "." || part == ".." || part.len() > MAX_NAME_BYTES
        });
    if bad {
        Err(StorageError::InvalidKey(key.to_owned()))
    } else {
        Ok(())
    }
}

impl Storage {
    pub async fn from_url(url: &str, s3: &S3Settings) -> Result<Storage, StorageError> {
        if let Some(dir) = url.strip_prefix("file://") {
            let root = PathBuf::from(dir);
            std::fs::create_dir_all(&root)?;
            return Ok(Storage::Local { root });
        }
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(StorageError::InvalidUrl(url.to_owned()));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StorageError::InvalidUrl(url.to_owned()));
        }
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(endpoint) = &s3.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(region) = &s3.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "sceneflow",
            ));
        }
        let shared = loader.load().await;
        let path_style = s3
            .force_path_style
            .unwrap_or(shared.endpoint_url().is_some());
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(path_style)
            .build();
        Ok(Storage::S3 {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Storage::Local { root } => format!("file://{}", root.display()),
            Storage::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
        }
    }

    fn s3_key(prefix: &str, key: &str) -> String {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}/{key}")
        }
    }

    pub async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        check_key(key)?;
        match self {
            Storage::Local { root } => {
                let path = root.join(key);
                let dir = path.parent().unwrap_or(root).to_owned();
                tokio::task::spawn_blocking(move || write_atomic(&dir, &path, &bytes))
                    .await
                    .map_err(|e| StorageError::Backend(e.to_string()))?
            }
            Storage::S3 {
                client,
                bucket,
                prefix,
            } => {
                client
                    .put_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .content_type(content_type)
                    .body(ByteStream::from(bytes))
                    .send()
                    .await
                    .map_err(|e| {
                        StorageError::Backend(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
                    })?;
                Ok(())
            }
        }
    }

    /// The object's bytes, `None` when there is no such key. A local key is
    /// read as [`Storage::get_limited`] reads it (a regular file inside the
    /// root, opened non-blocking), with no size limit.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        match self {
            Storage::Local { root } => read_local(root, key, u64::MAX).await,
            Storage::S3 {
                client,
                bucket,
                prefix,
            } => {
                match client
                    .get_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .send()
                    .await
                {
                    Ok(out) => {
                        let data = out
                            .body
                            .collect()
                            .await
                            .map_err(|e| StorageError::Backend(e.to_string()))?;
                        Ok(Some(data.into_bytes().to_vec()))
                    }
                    Err(e) => {
                        if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                            Ok(None)
                        } else {
                            Err(StorageError::Backend(
                                aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                            ))
                        }
                    }
                }
            }
        }
    }

    /// The object's bytes when it is at most `limit` bytes, checked before
    /// anything is read; `None` when there is no such key. A local key must
    /// name a regular file inside the root: links out of it, directories and
    /// FIFOs are refused without being opened for reading.
    pub async fn get_limited(
        &self,
        key: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        match self {
            Storage::Local { root } => read_local(root, key, limit).await,
            Storage::S3 {
                client,
                bucket,
                prefix,
            } => {
                let head = client
                    .head_object()
                    .bucket(bucket)
                    .key(Self::s3_key(prefix, key))
                    .send()
                    .await;
                let size = match head {
                    Ok(out) => out.content_length().unwrap_or(0).max(0) as u64,
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                        return Ok(None);
                    }
                    Err(e) => {
                        return Err(StorageError::Backend(
                            aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
                        ));
                    }
                };
                if size > limit {
                    return Err(StorageError::TooLarge {
                        key: key.to_owned(),
                        size,
                        limit,
                    });
                }
                let bytes = self.get(key).await?;
                // The object may have been replaced between the two calls.
                if let Some(b) = &bytes
                    && b.len() as u64 > limit
                {
                    return Err(StorageError::TooLarge {
                        key: key.to_owned(),
                        size: b.len() as u64,
                        limit,
                    });
                }
                Ok(bytes)
            }
        }
    }

    /// Keys under a prefix (`inbox/`), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        match self {
            Storage::Local { root } => {
                let root = root.clone();
                let prefix = prefix.to_owned();
                tokio::task::spawn_blocking(move || {
                    let mut keys = Vec::new();
                    list_dir(&root, &root.join(&prefix), &mut keys)?;
                    keys.sort();
                    Ok(keys)
                })
                .await
                .map_err(|e| StorageError::Backend(e.to_string()))?
            }
            Storage::S3 {
                client,
                bucket,
                prefix: root,
            } => {
                let mut keys = Vec::new();
                let mut pages = client
                    .list_objects_v2()
                    .bucket(bucket)
                    .prefix(Self::s3_key(root, prefix))
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| {
                        StorageError::Backend(aws_sdk_s3::error::DisplayErrorContext(e).to_string())
                    })?;
                    for object in page.contents() {
                        if let Some(key) = object.key() {
                            let relative = if root.is_empty() {
                                key
                            } else {
                                key.strip_prefix(&format!("{root}/")).unwrap_or(key)
                            };
                            keys.push(relative.to_owned());
                        }
                    }
                }
                keys.sort();
                Ok(keys)
            }
        }
    }
}

fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|e| StorageError::Backend(e.to_string()))?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(suffix)));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// [`read_regular`] on a blocking thread.
async fn read_local(root: &Path, key: &str, limit: u64) -> Result<Option<Vec<u8>>, StorageError> {
    let (root, key) = (root.to_owned(), key.to_owned());
    tokio::task::spawn_blocking(move || read_regular(&root, &key, limit))
        .await
        .map_err(|e| StorageError::Backend(e.to_string()))?
}

fn read_regular(root: &Path, key: &str, limit: u64) -> Result<Option<Vec<u8>>, StorageError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let not_a_file = || StorageError::NotAFile(key.to_owned());
    let real_root = std::fs::canonicalize(root)?;
    let real = match std::fs::canonicalize(root.join(key)) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => return Err(not_a_file()),
        Err(e) => return Err(e.into()),
    };
    if !real.starts_with(&real_root) || !std::fs::metadata(&real)?.is_file() {
        return Err(not_a_file());
    }
    // Non-blocking, so a FIFO swapped in since the check cannot hang the
    // open; the opened file itself is checked again.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_a_file());
    }
    if meta.len() > limit {
        return Err(StorageError::TooLarge {
            key: key.to_owned(),
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(StorageError::TooLarge {
            key: key.to_owned(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(Some(bytes))
}

fn list_dir(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            list_dir(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            if !rel
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with(".tmp-"))
            {
                out.push(rel);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        assert!(check_key("inbox/book.xlsx").is_ok());
        assert!(check_key("inbox/オンボーディング.xlsx").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "inbox/../../x",
            "a//b",
            "a\\b",
            "inbox/",
            &format!("inbox/{}.xlsx", "a".repeat(300)),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
