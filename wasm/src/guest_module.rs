//! The guest module, compiled once per process: QuickJS-ng built to WebAssembly by
//! `build.rs`, linked against the imports of `imports.rs` and nothing else (every WASI
//! function it names is a deny stub, but the clock). One instance is booted here and its memory
//! becomes the image every runtime starts from (`memory_image`); instances come from a pooling
//! allocator that maps that image copy-on-write, so a new runtime costs a few page faults.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use jscell_engine::{ConversionLimits, Unpoisoned};
use jscell_host::{CapabilityHost, GrantDispatch};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, PoolingAllocationConfig, Store};

use crate::imports::{self, GuestState};
use crate::memory_image;
use crate::module_cache;
use crate::shared::Shared;

/// The QuickJS-ng reactor module `build.rs` compiled.
pub static GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/jscell-guest.wasm"));

/// Instances that may exist at once in this process (one per wasm runtime).
pub const MAX_INSTANCES: u32 = 1000;
/// The most linear memory one instance may have: all of wasm32's address space.
pub const MAX_LINEAR_MEMORY: u64 = 4 << 30;
/// Native stack the guest's compiled code may use; the guest's own stack check (in linear
/// memory) stops deep JS recursion long before.
pub const MAX_NATIVE_STACK: usize = 48 << 20;
/// How often the epoch backstop looks at running guests.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

pub struct GuestModule {
    pub engine: Engine,
    pub pre: InstancePre<GuestState>,
}

impl GuestModule {
    /// The process's compiled guest, made on first use.
    pub fn get() -> Result<&'static GuestModule, String> {
        static MODULE: OnceLock<Result<GuestModule, String>> = OnceLock::new();
        MODULE.get_or_init(|| GuestModule::compile(GUEST_WASM, true).map_err(|e| format!("cannot load the wasm guest: {e:#}"))).as_ref().map_err(Clone::clone)
    }

    /// Compile `wasm`; `boot` makes its booted memory the image instances start from (and
    /// keeps the result in the cache), else they start from its own data.
    pub fn compile(wasm: &[u8], boot: bool) -> wasmtime::Result<GuestModule> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_memories(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES)
            .total_tables(MAX_INSTANCES)
            .max_memory_size(MAX_LINEAR_MEMORY as usize);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .memory_init_cow(true)
            .epoch_interruption(true)
            // wasmtime checks this against the stack of async fibers, which this backend never
            // runs on: guests run on the runtime's own thread (ENGINE_THREAD_STACK).
            .async_stack_size(MAX_NATIVE_STACK + (1 << 20))
            .max_wasm_stack(MAX_NATIVE_STACK);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        imports::define(&mut linker)?;
        let module = if boot {
            module_cache::load_or_make(&engine, wasm, || {
                let fresh = linker.instantiate_pre(&Module::new(&engine, wasm)?)?;
                let image = memory_image::with_memory(wasm, &booted_memory(&engine, &fresh)?).map_err(wasmtime::Error::msg)?;
                Module::new(&engine, &image)
            })?
        } else {
            Module::new(&engine, wasm)?
        };
        let pre = linker.instantiate_pre(&module)?;
        start_epoch_ticker(engine.clone());
        Ok(GuestModule { engine, pre })
    }
}

/// The linear memory of a guest that has run its C initialisers and booted QuickJS (before any
/// runtime's own settings: those are applied per instance, seed first).
fn booted_memory(engine: &Engine, fresh: &InstancePre<GuestState>) -> wasmtime::Result<Vec<u8>> {
    let capabilities = CapabilityHost::new(None, ConversionLimits::default());
    let (inbox, _) = std::sync::mpsc::channel();
    let state = GuestState::new(GrantDispatch(capabilities), ConversionLimits::default(), inbox, Arc::new(Shared::default()));
    let mut store = Store::new(engine, state);
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = fresh.instantiate(&mut store)?;
    instance.get_typed_func::<(), ()>(&mut store, "_initialize")?.call(&mut store, ())?;
    let booted = instance.get_typed_func::<(), i32>(&mut store, "jscell_boot")?.call(&mut store, ())?;
    if booted != 0 {
        return Err(wasmtime::Error::msg(format!("the guest failed to boot (outcome {booted})")));
    }
    let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| wasmtime::Error::msg("the guest exports no memory"))?;
    // The web globals are part of the image: installed once here, never per instance.
    let script = jscell_web::SCRIPT.as_bytes();
    let length = u32::try_from(script.len()).map_err(|_| wasmtime::Error::msg("the web globals script is too long"))?;
    let at = instance.get_typed_func::<u32, u32>(&mut store, "jscell_alloc")?.call(&mut store, length + 1)?;
    memory.write(&mut store, at as usize, script)?;
    memory.write(&mut store, at as usize + script.len(), &[0])?;
    let installed = instance.get_typed_func::<(u32, u32), i32>(&mut store, "jscell_install_web")?.call(&mut store, (at, length))?;
    instance.get_typed_func::<u32, ()>(&mut store, "jscell_free")?.call(&mut store, at)?;
    if installed != 0 {
        return Err(wasmtime::Error::msg(format!("the guest failed to install the web globals (outcome {installed})")));
    }
    Ok(memory.data(&store).to_vec())
}

/// Instances alive in this process: the epoch ticker sleeps while there are none.
static LIVE_INSTANCES: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

/// Held by each instance for its life, so the ticker runs while any exists.
pub struct Ticking(());

impl Ticking {
    pub fn start() -> Ticking {
        *LIVE_INSTANCES.0.locked() += 1;
        LIVE_INSTANCES.1.notify_all();
        Ticking(())
    }
}

impl Drop for Ticking {
    fn drop(&mut self) {
        *LIVE_INSTANCES.0.locked() -= 1;
    }
}

/// Advance the engine's epoch while instances exist: each running guest checks it at loop
/// back-edges and function entries, which is how one stuck outside QuickJS's interrupt checks
/// is still stopped.
fn start_epoch_ticker(engine: Engine) {
    let _ = std::thread::Builder::new().name("jscell-wasm-epoch".into()).spawn(move || loop {
        let live = LIVE_INSTANCES.0.locked();
        drop(LIVE_INSTANCES.1.wait_while(live, |count| *count == 0).unwrap_or_else(|poisoned| poisoned.into_inner()));
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
    });
}
