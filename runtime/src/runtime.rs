//! The configured wasmtime engines, shared by every image and invocation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Config, Engine, EngineWeak};

use crate::error::RuntimeError;
use crate::image::GuestImage;

/// How often the epoch ticker advances the engines' epoch; a guest stops at
/// most about this long after its deadline.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The sandbox runtime: configured once, then shared (it is cheap to clone,
/// `Send` and `Sync`) by every image and invocation of a process.
///
/// It holds two wasmtime engines that differ only in fuel metering, because
/// fuel slows CPU-bound guests by about 1.4×: invocations without a fuel
/// limit run on the unmetered engine. A background thread advances both
/// engines' epoch every 10 ms to enforce deadlines; it ends when the last
/// clone of the runtime is dropped.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) plain: Engine,
    pub(crate) metered: Engine,
    pub(crate) cache_dir: Option<PathBuf>,
    pub(crate) scratch_root: PathBuf,
}

/// Configures a [`Runtime`].
///
/// ```no_run
/// let runtime = sandrun_runtime::Runtime::builder()
///     .cache_dir("/var/cache/sandrun")
///     .build()?;
/// # Ok::<(), sandrun_runtime::RuntimeError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct RuntimeBuilder {
    cache_dir: Option<PathBuf>,
    scratch_root: Option<PathBuf>,
    max_instances: Option<u32>,
    keep_resident: Option<usize>,
}

/// How many sandboxes (fresh ones and live sessions) may exist at once by
/// default, per engine.
pub const DEFAULT_MAX_INSTANCES: u32 = 128;

/// How much of each memory slot stays resident between invocations by
/// default.
pub const DEFAULT_KEEP_RESIDENT: usize = 64 << 20;

/// The most linear memory a guest may have: all a 32-bit guest addresses.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;

impl RuntimeBuilder {
    /// Where compiled images are kept (`<dir>/compiled/*.cwasm`) and reused
    /// by later processes. Default: none, every process compiles (seconds).
    pub fn cache_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Where per-invocation scratch folders are created. Default: the
    /// system's temporary folder.
    pub fn scratch_root(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.scratch_root = Some(dir.into());
        self
    }

    /// How many sandboxes (fresh invocations and open sessions) may exist at
    /// once; each has a pre-reserved slot. Default:
    /// [`DEFAULT_MAX_INSTANCES`]. One more fails to start with an error.
    pub fn max_instances(&mut self, count: u32) -> &mut Self {
        self.max_instances = Some(count);
        self
    }

    /// How many bytes of each sandbox slot stay resident between
    /// invocations, reset in place. Default: [`DEFAULT_KEEP_RESIDENT`],
    /// which suits a process that runs many invocations (about 4 ms each
    /// instead of paying the page faults again). A process that runs one
    /// invocation and exits should pass 0: resetting a resident slot costs
    /// it some 20 ms at the end.
    pub fn keep_resident(&mut self, bytes: usize) -> &mut Self {
        self.keep_resident = Some(bytes);
        self
    }

    /// Creates the engines and starts the epoch ticker.
    pub fn build(&self) -> Result<Runtime, RuntimeError> {
        let max_instances = self.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES).max(1);
        let keep = self.keep_resident.unwrap_or(DEFAULT_KEEP_RESIDENT);
        let plain = new_engine(false, max_instances, keep)?;
        let metered = new_engine(true, max_instances, keep)?;
        start_epoch_ticker(vec![plain.weak(), metered.weak()])?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                plain,
                metered,
                cache_dir: self.cache_dir.clone(),
                scratch_root: self.scratch_root.clone().unwrap_or_else(std::env::temp_dir),
            }),
        })
    }
}

impl Runtime {
    /// A builder with the defaults.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Loads a guest image folder (one holding `image.json`), compiling it
    /// or reusing its compiled artifact from the cache.
    pub fn load_image(&self, dir: impl AsRef<Path>) -> Result<GuestImage, RuntimeError> {
        GuestImage::load(self.clone(), dir.as_ref())
    }
}

fn new_engine(
    fuel: bool,
    max_instances: u32,
    keep_resident: usize,
) -> Result<Engine, RuntimeError> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.consume_fuel(fuel);
    config.wasm_component_model(true);
    // Python recursion can run deep before it raises RecursionError.
    config.max_wasm_stack(4 * 1024 * 1024);
    config.async_stack_size(5 * 1024 * 1024);
    // Instances come from a pool whose slots stay mapped and resident
    // between invocations and are reset in place. Without it every
    // invocation maps and unmaps its memories and stacks, and two sandboxes
    // running at once in one process stall each other on the kernel's
    // address-space lock and TLB shootdowns: measured on 2 cores, 141
    // trivial invocations/s with two in flight against 444/s pooled.
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(max_instances)
        .total_core_instances(max_instances * 16)
        .total_memories(max_instances * 4)
        .total_tables(max_instances * 8)
        .total_stacks(max_instances)
        .max_memory_size(MAX_MEMORY_BYTES as usize)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_core_instances_per_component(64)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .table_elements(100_000)
        // Slots are reset by zeroing up to this much in place instead of
        // being faulted in again by the next invocation (CPython touches
        // about 26 MiB).
        .linear_memory_keep_resident(keep_resident)
        .table_keep_resident(keep_resident.min(1 << 20))
        .async_stack_keep_resident(keep_resident.min(1 << 20));
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(|e| RuntimeError::Engine(e.to_string()))
}

/// One thread for the process's runtime: advances each engine's epoch every
/// tick and ends once every engine is gone (it holds weak references only).
fn start_epoch_ticker(engines: Vec<EngineWeak>) -> Result<(), RuntimeError> {
    std::thread::Builder::new()
        .name("sandrun-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                let mut alive = false;
                for weak in &engines {
                    if let Some(engine) = weak.upgrade() {
                        engine.increment_epoch();
                        alive = true;
                    }
                }
                if !alive {
                    break;
                }
            }
        })
        .map(drop)
        .map_err(|e| RuntimeError::io("cannot start the epoch ticker thread", e))
}
