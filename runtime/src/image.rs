//! Guest images: an interpreter compiled to WebAssembly plus the files it
//! mounts, described by `image.json`, compiled once per engine and cached.

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker as ComponentLinker};
use wasmtime::{Linker as ModuleLinker, Module};

use crate::error::RuntimeError;
use crate::runtime::Runtime;
use crate::sandbox::{P1State, P2State, Prepared};

/// The `image.json` of an image folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// Manifest format; this runtime reads format 1.
    pub format: u32,
    /// The image's name, such as `python`.
    pub name: String,
    /// The interpreter's language version, such as `3.14`.
    pub language_version: String,
    /// How the guest is entered.
    pub kind: ImageKind,
    /// The WebAssembly file, relative to the image folder.
    pub module: String,
    /// Read-only folders of the image mounted into every guest: guest path →
    /// folder relative to the image folder (a standard library, say).
    #[serde(default)]
    pub mounts: BTreeMap<String, String>,
    /// For `command` images: arguments placed before the script's argv
    /// (`["python"]` for an interpreter that reads its script from argv).
    #[serde(default)]
    pub argv_prefix: Vec<String>,
    /// `sha256:<hex>` over the module and every mounted file.
    pub digest: String,
}

/// The two ways a guest can be entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageKind {
    /// A WASI 0.2 component exporting sandrun's `run` function
    /// (`guest-images/wit/sandrun.wit`): handler and command calls,
    /// pre-initialised, so an invocation costs one instantiation.
    Component,
    /// A WASI preview-1 command module (`_start`): command calls only, the
    /// interpreter starts anew on every invocation.
    Command,
}

/// A loaded, compiled image, ready to run invocations. Cheap to clone,
/// `Send` and `Sync`: share one per process and call
/// [`run`](GuestImage::run) from as many threads as you like.
#[derive(Clone)]
pub struct GuestImage {
    pub(crate) inner: Arc<ImageInner>,
}

pub(crate) struct ImageInner {
    pub(crate) runtime: Runtime,
    pub(crate) dir: PathBuf,
    pub(crate) manifest: ImageManifest,
    plain: Arc<Prepared>,
    /// Compiled for the fuel-metering engine on first use.
    metered: Mutex<Option<Arc<Prepared>>>,
}

impl GuestImage {
    pub(crate) fn load(runtime: Runtime, dir: &Path) -> Result<GuestImage, RuntimeError> {
        let manifest = read_manifest(dir)?;
        for host in manifest.mounts.values() {
            let path = dir.join(host);
            if !path.is_dir() {
                return Err(RuntimeError::InvalidImage {
                    path: dir.to_path_buf(),
                    reason: format!("its mount folder {host} is missing"),
                });
            }
        }
        let plain = Arc::new(prepare(
            &runtime.inner.plain,
            dir,
            &manifest,
            runtime.inner.cache_dir.as_deref(),
        )?);
        Ok(GuestImage {
            inner: Arc::new(ImageInner {
                runtime,
                dir: dir.to_path_buf(),
                manifest,
                plain,
                metered: Mutex::new(None),
            }),
        })
    }

    /// The image's manifest.
    pub fn manifest(&self) -> &ImageManifest {
        &self.inner.manifest
    }

    /// The image's digest, as results report it.
    pub fn digest(&self) -> &str {
        &self.inner.manifest.digest
    }

    /// The image folder.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The image prepared for the plain or the fuel-metering engine.
    pub(crate) fn prepared(&self, metered: bool) -> Result<Arc<Prepared>, RuntimeError> {
        if !metered {
            return Ok(self.inner.plain.clone());
        }
        let mut slot = self
            .inner
            .metered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(prepared) = &*slot {
            return Ok(prepared.clone());
        }
        let runtime = &self.inner.runtime.inner;
        let prepared = Arc::new(prepare(
            &runtime.metered,
            &self.inner.dir,
            &self.inner.manifest,
            runtime.cache_dir.as_deref(),
        )?);
        *slot = Some(prepared.clone());
        Ok(prepared)
    }
}

fn read_manifest(dir: &Path) -> Result<ImageManifest, RuntimeError> {
    let path = dir.join("image.json");
    let invalid = |reason: String| RuntimeError::InvalidImage {
        path: dir.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| invalid(format!("cannot read {}: {e}", path.display())))?;
    let manifest: ImageManifest =
        serde_json::from_str(&text).map_err(|e| invalid(format!("image.json: {e}")))?;
    if manifest.format != 1 {
        return Err(invalid(format!(
            "image format {} is not supported by this sandrun (it reads format 1); rebuild the image",
            manifest.format
        )));
    }
    Ok(manifest)
}

/// Compiles the image for `engine`, or reuses the compiled artifact cached
/// under the image digest and the engine's compatibility hash (which covers
/// the wasmtime version and every setting that affects code generation).
fn prepare(
    engine: &Engine,
    dir: &Path,
    manifest: &ImageManifest,
    cache_dir: Option<&Path>,
) -> Result<Prepared, RuntimeError> {
    let wasm = dir.join(&manifest.module);
    let compile_error = |e: wasmtime::Error| RuntimeError::Compile {
        path: wasm.clone(),
        reason: format!("{e:#}"),
    };
    let artifact = cache_dir.map(|cache| {
        cache
            .join("compiled")
            .join(format!("{}.cwasm", artifact_key(engine, manifest)))
    });
    match manifest.kind {
        ImageKind::Component => {
            let component = compile_cached(
                artifact.as_deref(),
                // SAFETY: the file is one this runtime serialized into its own
                // cache folder for this exact engine configuration.
                |path| unsafe { Component::deserialize_file(engine, path) },
                || Component::from_file(engine, &wasm),
                Component::serialize,
            )
            .map_err(compile_error)?;
            let mut linker = ComponentLinker::<P2State>::new(engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(compile_error)?;
            linker
                .root()
                .func_wrap(
                    "call-tool",
                    |mut store: wasmtime::StoreContextMut<'_, P2State>,
                     (name, arguments): (String, String)| {
                        Ok((store.data_mut().call_tool(&name, &arguments),))
                    },
                )
                .map_err(compile_error)?;
            let pre = linker.instantiate_pre(&component).map_err(compile_error)?;
            Ok(Prepared::Component(pre))
        }
        ImageKind::Command => {
            let module = compile_cached(
                artifact.as_deref(),
                // SAFETY: as above, our own artifact for this engine.
                |path| unsafe { Module::deserialize_file(engine, path) },
                || Module::from_file(engine, &wasm),
                Module::serialize,
            )
            .map_err(compile_error)?;
            let mut linker = ModuleLinker::<P1State>::new(engine);
            wasmtime_wasi::p1::add_to_linker_async(&mut linker, |state: &mut P1State| {
                &mut state.wasi
            })
            .map_err(compile_error)?;
            let pre = linker.instantiate_pre(&module).map_err(compile_error)?;
            Ok(Prepared::Command(pre))
        }
    }
}

/// The cached artifact if it loads, otherwise a fresh compile that is then
/// cached. A stale or damaged artifact is simply compiled again.
fn compile_cached<T>(
    artifact: Option<&Path>,
    deserialize: impl FnOnce(&Path) -> wasmtime::Result<T>,
    compile: impl FnOnce() -> wasmtime::Result<T>,
    serialize: impl FnOnce(&T) -> wasmtime::Result<Vec<u8>>,
) -> wasmtime::Result<T> {
    if let Some(cached) = artifact
        .filter(|path| path.exists())
        .and_then(|path| deserialize(path).ok())
    {
        return Ok(cached);
    }
    let compiled = compile()?;
    store_cached(artifact, || serialize(&compiled));
    Ok(compiled)
}

/// Writes the artifact beside its final name and renames it into place, so
/// concurrent processes never read a partial file. Caching is best-effort:
/// a read-only cache folder only costs the next process a compile.
fn store_cached(artifact: Option<&Path>, serialize: impl FnOnce() -> wasmtime::Result<Vec<u8>>) {
    let Some(path) = artifact else { return };
    let Some(parent) = path.parent() else { return };
    let Ok(bytes) = serialize() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    if let Ok(mut temp) = tempfile::NamedTempFile::new_in(parent) {
        use std::io::Write;
        if temp.write_all(&bytes).is_ok() {
            let _ = temp.persist(path);
        }
    }
}

/// `sha256(image digest, module, engine compatibility hash)`, hex.
fn artifact_key(engine: &Engine, manifest: &ImageManifest) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut hasher = ShaHasher(Sha256::new());
    hasher.write(manifest.digest.as_bytes());
    hasher.write(manifest.module.as_bytes());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut hasher);
    hex::encode(hasher.0.finalize())
}
