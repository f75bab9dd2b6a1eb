//! Where async invocations are recorded, so that any replica can answer
//! for them: a local folder, or an S3 bucket shared by a fleet.
//!
//! ```text
//! <root>/invocations/<id>.json   the record: state, times, result
//! <root>/cancel/<id>             present once a cancel was asked for
//! ```

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::Value;

use crate::remote::s3::{Bucket, S3Options};

/// A result store.
pub enum ResultStore {
    Dir(PathBuf),
    S3 { bucket: Bucket, prefix: String },
}

impl ResultStore {
    /// `s3://BUCKET/PREFIX` or a folder.
    pub async fn open(location: &str, s3: &S3Options) -> anyhow::Result<ResultStore> {
        if let Some(rest) = location.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                anyhow::bail!("--result-store {location}: name the bucket, s3://BUCKET/PREFIX");
            }
            return Ok(ResultStore::S3 {
                bucket: Bucket::connect(bucket, None, s3).await,
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        let dir = PathBuf::from(location);
        for sub in ["invocations", "cancel"] {
            std::fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create the result store {}", dir.display()))?;
        }
        Ok(ResultStore::Dir(dir))
    }

    /// The S3 bucket the store writes to, if it is one.
    pub fn bucket(&self) -> Option<&str> {
        match self {
            ResultStore::Dir(_) => None,
            ResultStore::S3 { bucket, .. } => Some(bucket.name()),
        }
    }

    fn key(prefix: &str, path: &str) -> String {
        if prefix.is_empty() {
            path.to_string()
        } else {
            format!("{prefix}/{path}")
        }
    }

    /// Writes an invocation's record.
    pub async fn put(&self, id: &str, record: &Value) -> anyhow::Result<()> {
        let body = serde_json::to_vec(record)?;
        let path = format!("invocations/{id}.json");
        match self {
            ResultStore::Dir(dir) => {
                // Written beside and renamed, so a reader never sees half.
                let target = dir.join(&path);
                let temp = dir.join(format!("invocations/.{id}.{}.tmp", std::process::id()));
                tokio::fs::write(&temp, body).await?;
                tokio::fs::rename(&temp, &target).await?;
                Ok(())
            }
            ResultStore::S3 { bucket, prefix } => {
                bucket
                    .put(&Self::key(prefix, &path), body, "application/json")
                    .await
            }
        }
    }

    /// Reads an invocation's record, if there is one. A record caught
    /// half-written (some S3-compatible stores write in place, so a read
    /// can fail its checksum) is read again.
    pub async fn get(&self, id: &str) -> anyhow::Result<Option<Value>> {
        let mut attempt = 0;
        loop {
            match self.get_once(id).await {
                // Half-written records and broken-off reads are retried.
                Err(_) if attempt < 3 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                other => return other,
            }
        }
    }

    async fn get_once(&self, id: &str) -> anyhow::Result<Option<Value>> {
        if !valid_id(id) {
            return Ok(None);
        }
        let path = format!("invocations/{id}.json");
        let bytes = match self {
            ResultStore::Dir(dir) => match tokio::fs::read(dir.join(&path)).await {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.into()),
            },
            ResultStore::S3 { bucket, prefix } => {
                match bucket.get(&Self::key(prefix, &path)).await? {
                    Some(bytes) => bytes,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(serde_json::from_slice(&bytes)?))
    }

    /// Removes a record (of an invocation that was refused after all).
    pub async fn delete(&self, id: &str) -> anyhow::Result<()> {
        let path = format!("invocations/{id}.json");
        match self {
            ResultStore::Dir(dir) => match tokio::fs::remove_file(dir.join(path)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            },
            ResultStore::S3 { bucket, prefix } => bucket.delete(&Self::key(prefix, &path)).await,
        }
    }

    /// Asks whichever replica runs `id` to cancel it.
    pub async fn request_cancel(&self, id: &str) -> anyhow::Result<()> {
        let path = format!("cancel/{id}");
        match self {
            ResultStore::Dir(dir) => Ok(tokio::fs::write(dir.join(path), b"").await?),
            ResultStore::S3 { bucket, prefix } => {
                bucket
                    .put(&Self::key(prefix, &path), Vec::new(), "text/plain")
                    .await
            }
        }
    }

    /// Whether a cancel was asked for.
    pub async fn cancel_requested(&self, id: &str) -> bool {
        let path = format!("cancel/{id}");
        match self {
            ResultStore::Dir(dir) => tokio::fs::try_exists(dir.join(path)).await.unwrap_or(false),
            ResultStore::S3 { bucket, prefix } => {
                matches!(bucket.get(&Self::key(prefix, &path)).await, Ok(Some(_)))
            }
        }
    }
}

/// Ids are ours (UUIDs); anything else cannot name a record.
pub fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}
