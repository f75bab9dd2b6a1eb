//! `sandrun mcp`: the MCP server over stdio, or streamable HTTP with --http.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::cli::{GlobalArgs, McpArgs};
use crate::exit::bad_input;
use crate::loader;
use crate::mcp::{McpConfig, SandrunMcp, Shared};
use crate::progress::Progress;

pub fn run(global: &GlobalArgs, args: &McpArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad_input!("cannot read the config {}: {e}", path.display()))?;
            toml::from_str::<McpConfig>(&text).map_err(|e| bad_input!("{}: {e}", path.display()))?
        }
        None => McpConfig::default(),
    };
    // stdout belongs to the protocol: progress and messages go to stderr.
    let slots = u32::try_from(config.max_sessions + 4).unwrap_or(u32::MAX);
    let (_runtime, image) = loader::open_python(global, &Progress::new(true), slots)?;
    let shared = Shared::new(image, config, loader::cache_dir(global)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the MCP server's runtime")?;
    runtime.block_on(async move {
        match args.http {
            None => {
                let service = SandrunMcp::new(shared)
                    .serve(rmcp::transport::stdio())
                    .await
                    .context("the MCP client did not initialize")?;
                service.waiting().await?;
            }
            Some(address) => {
                let cancel = tokio_util::sync::CancellationToken::new();
                let config = StreamableHttpServerConfig::default()
                    .with_cancellation_token(cancel.child_token());
                let service: StreamableHttpService<SandrunMcp, LocalSessionManager> =
                    StreamableHttpService::new(
                        move || Ok(SandrunMcp::new(Arc::clone(&shared))),
                        LocalSessionManager::default().into(),
                        config,
                    );
                let router = axum::Router::new().nest_service("/mcp", service);
                let listener = tokio::net::TcpListener::bind(address).await?;
                eprintln!(
                    "sandrun: MCP over streamable HTTP at http://{}/mcp",
                    listener.local_addr()?
                );
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        let _ = tokio::signal::ctrl_c().await;
                        cancel.cancel();
                    })
                    .await?;
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
