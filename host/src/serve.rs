//! `sandrun serve`: invocations over HTTP for many tenants — API keys,
//! quotas, fair scheduling, async results in a store any replica can read,
//! Prometheus metrics, and a graceful shutdown that loses nothing.

pub(crate) mod api;
pub mod config;
pub(crate) mod invoke;
pub(crate) mod metrics;
mod results;
mod scheduler;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sandrun_runtime::{CancelHandle, GuestImage};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::api::{ApiError, ApiJson, InvokeRequest};
use self::config::Config;
use self::invoke::{Context, Prepared, SourceCache, Tenant};
use self::metrics::Metrics;
use self::results::ResultStore;
use self::scheduler::{Job, Refused, Scheduler};
use crate::remote::S3Options;
use crate::ssm::clock::rfc3339;

/// The OpenAPI document of `/v1`.
const OPENAPI: &str = include_str!("serve/openapi.json");

/// How often a running async invocation checks the store for a cancel
/// asked of another replica.
const CANCEL_POLL: Duration = Duration::from_millis(200);

/// What `sandrun serve` was given besides the config file.
pub struct ServeOptions {
    pub listen: SocketAddr,
    pub cache_dir: PathBuf,
    pub result_store: String,
    pub image: GuestImage,
}

struct AppState {
    tenants: HashMap<String, Arc<Tenant>>,
    /// sha256 of each API key → tenant id.
    keys: Vec<([u8; 32], String)>,
    scheduler: Arc<Scheduler>,
    store: ResultStore,
    metrics: Metrics,
    sources: SourceCache,
    image: GuestImage,
    cache_dir: PathBuf,
    s3_endpoint: Option<String>,
    github_api_url: String,
    allow_insecure_http: bool,
    /// Invocations running in this process: id → (tenant, cancel).
    running: Mutex<HashMap<String, (String, CancelHandle)>>,
    /// Async invocations accepted and not yet recorded as done.
    open_async: AtomicUsize,
    shutting_down: AtomicBool,
    grace: Duration,
    rules: invoke::SourceRules,
}

type Shared = Arc<AppState>;

/// The sha256 of an API key, as the config stores it.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.trim().as_bytes()))
}

/// Runs the server until SIGTERM or Ctrl-C, then drains it.
pub async fn run(config: Config, options: ServeOptions) -> anyhow::Result<()> {
    let s3 = S3Options {
        endpoint: config.server.s3_endpoint.clone(),
    };
    let store = ResultStore::open(&options.result_store, &s3).await?;
    // No tenant reads the bucket that holds every tenant's results.
    let reserved_buckets: Vec<String> = store.bucket().map(str::to_string).into_iter().collect();
    let max_running = config
        .server
        .max_running
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let lanes: Vec<(String, usize, usize)> = config
        .tenants
        .iter()
        .map(|t| (t.id.clone(), t.max_concurrent, t.max_queue))
        .collect();
    let mut keys = Vec::new();
    let mut tenants = HashMap::new();
    for tenant in &config.tenants {
        for hash in &tenant.api_key_sha256 {
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(hash, &mut bytes)?;
            keys.push((bytes, tenant.id.clone()));
        }
        tenants.insert(
            tenant.id.clone(),
            Arc::new(Tenant {
                config: tenant.clone(),
                secrets: Arc::new(tenant.secrets.clone()),
            }),
        );
    }
    let state = Arc::new(AppState {
        tenants,
        keys,
        scheduler: Scheduler::new(max_running, &lanes, Some(tokio::runtime::Handle::current())),
        store,
        metrics: Metrics::default(),
        sources: SourceCache::default(),
        image: options.image,
        cache_dir: options.cache_dir,
        s3_endpoint: config.server.s3_endpoint.clone(),
        github_api_url: config
            .server
            .github_api_url
            .clone()
            .unwrap_or_else(|| "https://api.github.com".into()),
        allow_insecure_http: config.server.allow_insecure_http,
        running: Mutex::new(HashMap::new()),
        open_async: AtomicUsize::new(0),
        shutting_down: AtomicBool::new(false),
        grace: Duration::from_secs(config.server.shutdown_grace_secs),
        rules: invoke::SourceRules {
            allow_insecure_http: config.server.allow_insecure_http,
            reserved_buckets,
        },
    });

    let app = Router::new()
        .route("/v1/invocations", post(create))
        .route("/v1/invocations/{id}", get(read).delete(cancel))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NotFound",
                "no such endpoint; see /v1/openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(config.server.max_body_bytes))
        .with_state(Arc::clone(&state));

    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    let address = listener.local_addr()?;
    // The first line on stdout says where to connect (tests and scripts
    // read it when they asked for port 0).
    println!("sandrun: listening on http://{address}");
    tracing::info!(%address, max_running, tenants = config.tenants.len(), "listening");

    let draining = Arc::clone(&state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            draining.shutting_down.store(true, Ordering::SeqCst);
            tracing::info!(
                grace_secs = draining.grace.as_secs(),
                "shutting down: no new invocations"
            );
            let after_grace = Arc::clone(&draining);
            tokio::spawn(async move {
                tokio::time::sleep(after_grace.grace).await;
                cancel_everything(&after_grace);
            });
        })
        .await?;
    // HTTP requests are answered; async invocations may still run.
    let deadline = Instant::now() + state.grace + Duration::from_secs(5);
    while state.open_async.load(Ordering::SeqCst) > 0 {
        if Instant::now() > deadline {
            cancel_everything(&state);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => {
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}

/// After the grace period: queued work is abandoned (answered as
/// cancelled) and running guests are interrupted.
fn cancel_everything(state: &AppState) {
    for (_, cancel) in state
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
    {
        cancel.cancel();
    }
    // Abandoning records the result, which blocks: off the async threads.
    for job in state.scheduler.close() {
        tokio::task::spawn_blocking(move || (job.work)(false));
    }
}

/// The tenant that the bearer key belongs to.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Arc<Tenant>, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            state.metrics.rejected("", "unauthorized");
            ApiError::unauthorized("no API key: send Authorization: Bearer <key>")
        })?;
    let key = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .ok_or_else(|| ApiError::unauthorized("use Authorization: Bearer <key>"))?;
    let digest: [u8; 32] = Sha256::digest(key.trim().as_bytes()).into();
    // Compare every key in full, so timing does not tell how much matched.
    let mut found = None;
    for (hash, tenant) in &state.keys {
        let same = hash
            .iter()
            .zip(digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same {
            found = Some(tenant);
        }
    }
    let tenant = found.ok_or_else(|| {
        state.metrics.rejected("", "unauthorized");
        ApiError::unauthorized("the API key is not valid")
    })?;
    state
        .tenants
        .get(tenant)
        .cloned()
        .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))
}

fn context(state: &AppState) -> Context<'_> {
    Context {
        image: &state.image,
        cache_dir: &state.cache_dir,
        sources: &state.sources,
        metrics: &state.metrics,
        s3_endpoint: state.s3_endpoint.as_deref(),
        github_api_url: &state.github_api_url,
        allow_insecure_http: state.allow_insecure_http,
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// Runs one prepared invocation on this (blocking) thread; registers it
/// so it can be cancelled, records metrics and the log line.
fn run_now(
    state: &AppState,
    tenant: &Tenant,
    prepared: &Prepared,
    id: &str,
    cancel: &CancelHandle,
    queue: Duration,
) -> Value {
    state
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.to_string(), (tenant.config.id.clone(), cancel.clone()));
    let started = Instant::now();
    let mut result = invoke::execute(&context(state), tenant, prepared, id, cancel);
    let ran = started.elapsed();
    state
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id);
    result["queue_ms"] = json!(millis(queue));
    let status = result["status"].as_str().unwrap_or("error").to_string();
    state.metrics.invocation(
        &tenant.config.id,
        &status,
        queue.as_secs_f64(),
        ran.as_secs_f64(),
    );
    tracing::info!(
        target: "sandrun::invocation",
        tenant = tenant.config.id,
        id,
        source_digest = result["source"]["digest"].as_str().unwrap_or(""),
        status,
        queue_ms = millis(queue),
        run_ms = millis(ran),
        fuel = result["stats"]["fuel_consumed"].as_u64(),
        memory_peak_bytes = result["stats"]["memory_peak_bytes"].as_u64(),
        "invocation"
    );
    result
}

/// [`run_now`], but a panic inside it becomes an `InternalError` result
/// (logged with an incident id) instead of a lost answer, and an internal
/// error's detail goes to the log, not to the caller.
fn guarded_run(
    state: &AppState,
    tenant: &Tenant,
    prepared: &Prepared,
    id: &str,
    cancel: &CancelHandle,
    queue: Duration,
) -> Value {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_now(state, tenant, prepared, id, cancel, queue)
    }));
    let mut result = outcome.unwrap_or_else(|panic| {
        state.running.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        let detail = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        json!({"id": id, "status": "error", "payload": null,
               "error": {"type": "InternalError", "message": format!("panic: {detail}"), "traceback": ""},
               "exit_code": null, "stdout": "", "stderr": ""})
    });
    if result["status"] == "error" && result["error"]["type"] == "InternalError" {
        let detail = result["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let generic = ApiError::internal("invocation", &anyhow::anyhow!(detail));
        result["error"]["message"] = json!(generic.message);
    }
    result
}

/// The answer for an invocation that never ran.
fn cancelled_result(id: &str, why: &str) -> Value {
    json!({
        "id": id,
        "status": "cancelled",
        "payload": null,
        "error": {"type": "Cancelled", "message": why, "traceback": ""},
        "exit_code": null,
        "stdout": "",
        "stderr": "",
    })
}

async fn create(
    State(state): State<Shared>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<InvokeRequest>,
) -> Result<Response, ApiError> {
    let tenant = authenticate(&state, &headers)?;
    if state.shutting_down.load(Ordering::SeqCst) {
        return Err(ApiError::unavailable());
    }
    let run_async = request.run_async;
    let prepared = invoke::prepare(&tenant, &state.rules, request).inspect_err(|e| {
        state.metrics.rejected(
            &tenant.config.id,
            if e.status == StatusCode::FORBIDDEN {
                "forbidden"
            } else {
                "bad_request"
            },
        );
    })?;
    let id = crate::id::new_uuid();
    let cancel = CancelHandle::new();
    let submitted = Instant::now();
    let submitted_at = rfc3339(SystemTime::now());
    let refused = |refusal: Refused| {
        state.metrics.rejected(&tenant.config.id, "queue_full");
        match refusal {
            Refused::QueueFull { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    format!(
                        "tenant {}'s queue is full ({} waiting); retry after {retry_after_secs} s",
                        tenant.config.id, tenant.config.max_queue
                    ),
                )
            },
            Refused::ShuttingDown => ApiError::unavailable(),
        }
    };

    if !run_async {
        let (send, receive) = tokio::sync::oneshot::channel::<Value>();
        let job_state = Arc::clone(&state);
        let job_tenant = Arc::clone(&tenant);
        let job_id = id.clone();
        let job = Job {
            id: id.clone(),
            work: Box::new(move |run| {
                let result = if run {
                    guarded_run(
                        &job_state,
                        &job_tenant,
                        &prepared,
                        &job_id,
                        &cancel,
                        submitted.elapsed(),
                    )
                } else {
                    cancelled_result(
                        &job_id,
                        "the server shut down before the invocation started",
                    )
                };
                let _ = send.send(result);
            }),
        };
        state
            .scheduler
            .submit(&tenant.config.id, job)
            .map_err(refused)?;
        let result = receive.await.map_err(|_| {
            ApiError::internal(
                "invocation",
                &anyhow::anyhow!("the invocation {id} was dropped"),
            )
        })?;
        let status = match result["error"]["type"].as_str() {
            Some("BadInput") if result["status"] == "error" => StatusCode::BAD_REQUEST,
            Some("InternalError") if result["status"] == "error" => {
                // The detail was logged; the caller gets the incident id.
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::OK,
        };
        return Ok((status, axum::Json(result)).into_response());
    }

    let record = json!({
        "id": id, "tenant": tenant.config.id, "state": "queued",
        "submitted_at": submitted_at, "started_at": null, "finished_at": null, "result": null,
    });
    state
        .store
        .put(&id, &record)
        .await
        .map_err(|e| ApiError::internal("result store", &e))?;
    state.open_async.fetch_add(1, Ordering::SeqCst);
    let job_state = Arc::clone(&state);
    let job_tenant = Arc::clone(&tenant);
    let job_id = id.clone();
    let runtime = tokio::runtime::Handle::current();
    let job = Job {
        id: id.clone(),
        work: Box::new(move |run| {
            let mut record = record;
            // A DELETE through another replica while this one was queued.
            let cancelled_early =
                run && runtime.block_on(job_state.store.cancel_requested(&job_id));
            let result = if run && !cancelled_early {
                record["state"] = json!("running");
                record["started_at"] = json!(rfc3339(SystemTime::now()));
                let _ = runtime.block_on(job_state.store.put(&job_id, &record));
                let done = Arc::new(AtomicBool::new(false));
                spawn_cancel_watch(&runtime, &job_state, &job_id, &cancel, &done);
                let result = guarded_run(
                    &job_state,
                    &job_tenant,
                    &prepared,
                    &job_id,
                    &cancel,
                    submitted.elapsed(),
                );
                done.store(true, Ordering::SeqCst);
                result
            } else {
                cancelled_result(&job_id, "cancelled before it started")
            };
            record["state"] = json!("done");
            record["finished_at"] = json!(rfc3339(SystemTime::now()));
            record["result"] = result;
            if let Err(error) = runtime.block_on(job_state.store.put(&job_id, &record)) {
                tracing::error!(
                    id = job_id,
                    error = format!("{error:#}"),
                    "cannot record the result"
                );
            }
            job_state.open_async.fetch_sub(1, Ordering::SeqCst);
        }),
    };
    if let Err(refusal) = state.scheduler.submit(&tenant.config.id, job) {
        state.open_async.fetch_sub(1, Ordering::SeqCst);
        // Not accepted after all: no record of it stays behind.
        let _ = state.store.delete(&id).await;
        return Err(refused(refusal));
    }
    let body = json!({"id": id, "state": "queued", "href": format!("/v1/invocations/{id}")});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Cancels a running async invocation when another replica asked the
/// store to.
fn spawn_cancel_watch(
    runtime: &tokio::runtime::Handle,
    state: &Shared,
    id: &str,
    cancel: &CancelHandle,
    done: &Arc<AtomicBool>,
) {
    let (state, id, cancel, done) = (
        Arc::clone(state),
        id.to_string(),
        cancel.clone(),
        Arc::clone(done),
    );
    runtime.spawn(async move {
        while !done.load(Ordering::SeqCst) {
            if state.store.cancel_requested(&id).await {
                cancel.cancel();
                return;
            }
            tokio::time::sleep(CANCEL_POLL).await;
        }
    });
}

/// The record of an invocation of the caller's tenant.
async fn own_record(state: &AppState, tenant: &Tenant, id: &str) -> Result<Value, ApiError> {
    let record = state
        .store
        .get(id)
        .await
        .map_err(|e| ApiError::internal("result store", &e))?
        .ok_or_else(|| ApiError::not_found(id))?;
    if record["tenant"] != tenant.config.id.as_str() {
        // Another tenant's invocation does not exist for this one.
        return Err(ApiError::not_found(id));
    }
    Ok(record)
}

async fn read(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = authenticate(&state, &headers)?;
    let record = own_record(&state, &tenant, &id).await?;
    Ok(axum::Json(record).into_response())
}

async fn cancel(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = authenticate(&state, &headers)?;
    let record = own_record(&state, &tenant, &id).await?;
    if record["state"] == "done" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "AlreadyFinished",
            format!("invocation {id} has already finished"),
        ));
    }
    if let Some(job) = state.scheduler.remove_queued(&tenant.config.id, &id) {
        // Still queued here: answer it as cancelled at once.
        tokio::task::spawn_blocking(move || (job.work)(false))
            .await
            .map_err(|e| ApiError::internal("cancel", &anyhow::anyhow!("{e}")))?;
    } else if let Some((_, handle)) = state
        .running
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
    {
        handle.cancel();
    } else {
        // Queued or running on another replica: it polls the store.
        state
            .store
            .request_cancel(&id)
            .await
            .map_err(|e| ApiError::internal("result store", &e))?;
    }
    let body = json!({"id": id, "state": "cancelling", "href": format!("/v1/invocations/{id}")});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

async fn ready(State(state): State<Shared>) -> Response {
    if state.shutting_down.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics(State(state): State<Shared>) -> Response {
    let (depths, running) = state.scheduler.depths();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&depths, running),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
