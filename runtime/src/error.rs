//! Errors of the runtime's own API.
//!
//! A script that fails, or that a limit stops, is not an error here: it is a
//! [`RunResult`](crate::RunResult) with a status. These errors mean the
//! sandbox could not be set up or the image could not be used.

use std::path::PathBuf;

/// Why the runtime could not load an image or start an invocation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The wasmtime engine could not be configured.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),

    /// The image folder has no readable, valid `image.json`.
    #[error("{path}: not a sandrun guest image: {reason}")]
    InvalidImage {
        /// The image folder or manifest.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The image's WebAssembly could not be compiled or linked.
    #[error("cannot compile the guest image {path}: {reason}")]
    Compile {
        /// The module or component file.
        path: PathBuf,
        /// The compiler's message.
        reason: String,
    },

    /// A policy value is out of range or inconsistent.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),

    /// A mount names a host folder that cannot be opened, or a guest path
    /// that is reserved or not absolute.
    #[error("cannot mount {host} at {guest}: {reason}")]
    Mount {
        /// The host folder.
        host: PathBuf,
        /// The path inside the guest.
        guest: String,
        /// What went wrong.
        reason: String,
    },

    /// The invocation asks for something this image cannot do.
    #[error("invalid invocation: {0}")]
    InvalidInvocation(String),

    /// A host I/O operation (scratch folder, cache file) failed.
    #[error("{context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        RuntimeError::Io {
            context: context.into(),
            source,
        }
    }
}
