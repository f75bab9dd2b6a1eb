//! S3 through `aws-sdk-s3`: the standard credential chain (environment,
//! profile, web identity, instance metadata) and region resolution, with
//! `--s3-endpoint` / `AWS_ENDPOINT_URL` and path-style addressing for
//! S3-compatible stores.

use std::io::Write;
use std::path::Path;

use anyhow::Context as _;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sha2::{Digest, Sha256};

use crate::exit::bad_input;
use crate::progress::Progress;

/// Where S3 is.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// An S3-compatible endpoint; implies path-style addressing.
    pub endpoint: Option<String>,
}

/// One object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// A client for one bucket.
pub struct Bucket {
    client: Client,
    name: String,
}

impl Bucket {
    /// Connects with the standard configuration chain.
    pub async fn connect(name: &str, region: Option<&str>, options: &S3Options) -> Bucket {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared);
        if shared.region().is_none() {
            // S3 needs some region to sign with; us-east-1 is its global default.
            config = config.region(aws_config::Region::new("us-east-1"));
        }
        if let Some(endpoint) = &options.endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        } else if shared.endpoint_url().is_some() {
            config = config.force_path_style(true);
        }
        Bucket {
            client: Client::from_conf(config.build()),
            name: name.to_string(),
        }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn explain<E, R>(&self, key: &str, error: SdkError<E, R>) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let location = format!("s3://{}/{key}", self.name);
        let code = match &error {
            SdkError::ServiceError(service) => service.err().code().map(str::to_string),
            _ => None,
        };
        let status = match &error {
            SdkError::ServiceError(service) => Some(format!("{:?}", service.raw())),
            _ => None,
        };
        let is_404 = status.as_deref().is_some_and(|s| s.contains("404"));
        let missing =
            matches!(code.as_deref(), Some("NoSuchKey" | "NotFound")) || (is_404 && code.is_none());
        if missing {
            return bad_input!("{location}: no such object; check the bucket and key");
        }
        match code.as_deref() {
            Some("NoSuchBucket") => {
                bad_input!("{location}: the bucket {} does not exist", self.name)
            }
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AccessDenied"
                | "Forbidden"
                | "InvalidToken"
                | "ExpiredToken",
            ) => bad_input!(
                "{location}: S3 refused the credentials ({}); check AWS_ACCESS_KEY_ID / \
                 AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance role",
                code.unwrap_or_default()
            ),
            _ if status.as_deref().is_some_and(|s| s.contains("403")) => bad_input!(
                "{location}: S3 refused access (403); check the credentials and the bucket policy"
            ),
            _ => bad_input!("{location}: {}", DisplayErrorContext(&error)),
        }
    }

    /// The object's ETag.
    pub async fn etag(&self, key: &str) -> anyhow::Result<String> {
        let head = self
            .client
            .head_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| self.explain(key, e))?;
        Ok(head.e_tag().unwrap_or_default().to_string())
    }

    /// Writes `body` to `key` (command output uploads).
    pub async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        self.client
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(body.into())
            .send()
            .await
            .map_err(|e| self.explain(key, e))?;
        Ok(())
    }

    /// Deletes an object.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        self.client
            .delete_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| self.explain(key, e))?;
        Ok(())
    }

    /// A small object's bytes (result records), or `None` if it does not exist.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let object = match self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(object) => object,
            Err(error) => {
                let missing = error.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || error
                        .raw_response()
                        .is_some_and(|r| r.status().as_u16() == 404);
                if missing {
                    return Ok(None);
                }
                return Err(self.explain(key, error));
            }
        };
        let bytes = object
            .body
            .collect()
            .await
            .with_context(|| format!("s3://{}/{key}: the download broke off", self.name))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// Every object under `prefix`, sorted by key.
    pub async fn list(&self, prefix: &str) -> anyhow::Result<Vec<Listed>> {
        let mut listed = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.name)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.explain(prefix, e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if key.ends_with('/') {
                    continue; // a "folder" marker object
                }
                listed.push(Listed {
                    key: key.to_string(),
                    etag: object.e_tag().unwrap_or_default().to_string(),
                    size: u64::try_from(object.size().unwrap_or(0)).unwrap_or(0),
                });
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        listed.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(listed)
    }

    /// Streams one object into `out` under `max_bytes`; returns its sha256
    /// and ETag.
    pub async fn download(
        &self,
        key: &str,
        out: &mut impl Write,
        max_bytes: u64,
        progress: &Progress,
    ) -> anyhow::Result<(String, String)> {
        let object = self
            .client
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
            .map_err(|e| self.explain(key, e))?;
        let location = format!("s3://{}/{key}", self.name);
        let too_large = || {
            bad_input!(
                "{location}: larger than the download limit of {max_bytes} bytes (raise it with --max-download)"
            )
        };
        let length = object.content_length().and_then(|l| u64::try_from(l).ok());
        if length.is_some_and(|l| l > max_bytes) {
            return Err(too_large());
        }
        let etag = object.e_tag().unwrap_or_default().to_string();
        progress.start_bytes(key.rsplit('/').next().unwrap_or(key), length);
        let mut body = object.body;
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .with_context(|| format!("{location}: the download broke off"))?
        {
            received += chunk.len() as u64;
            if received > max_bytes {
                return Err(too_large());
            }
            hasher.update(&chunk);
            out.write_all(&chunk)?;
            progress.advance(chunk.len() as u64);
        }
        progress.finish_bytes();
        Ok((hex::encode(hasher.finalize()), etag))
    }

    /// Downloads every listed object under `prefix` into `dest`, keeping
    /// the layout below the prefix.
    pub async fn download_all(
        &self,
        prefix: &str,
        listed: &[Listed],
        dest: &Path,
        max_bytes: u64,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let total: u64 = listed.iter().map(|o| o.size).sum();
        if total > max_bytes {
            return Err(bad_input!(
                "s3://{}/{prefix}: {total} bytes under the prefix, more than the download limit of {max_bytes} (raise it with --max-download)",
                self.name
            ));
        }
        for object in listed {
            let relative = object.key.strip_prefix(prefix).unwrap_or(&object.key);
            let target = super::safe_join(dest, relative)?;
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut file = std::fs::File::create(&target)?;
            self.download(&object.key, &mut file, max_bytes, progress)
                .await?;
        }
        Ok(())
    }
}
