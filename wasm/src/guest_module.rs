//! The guest module, compiled once per process: QuickJS-ng built to WebAssembly by
//! `build.rs`, linked against the imports of `imports.rs` and nothing else (every WASI
//! function it names is a deny stub, but the clock). Instances come from a pooling allocator
//! with copy-on-write memory images, so a new runtime costs little more than a page fault.

use std::sync::OnceLock;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Module, PoolingAllocationConfig};

use crate::imports::{self, GuestState};

/// The QuickJS-ng reactor module `build.rs` compiled.
static GUEST_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/jscell-guest.wasm"));

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
        MODULE.get_or_init(|| GuestModule::compile().map_err(|e| format!("cannot load the wasm guest: {e:#}"))).as_ref().map_err(Clone::clone)
    }

    fn compile() -> wasmtime::Result<GuestModule> {
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
        let module = Module::new(&engine, GUEST_WASM)?;
        let mut linker = Linker::new(&engine);
        imports::define(&mut linker)?;
        let pre = linker.instantiate_pre(&module)?;
        start_epoch_ticker(engine.clone());
        Ok(GuestModule { engine, pre })
    }
}

/// Advance the engine's epoch forever: each running guest checks it at loop back-edges and
/// function entries, which is how one stuck outside QuickJS's interrupt checks is still stopped.
fn start_epoch_ticker(engine: Engine) {
    let _ = std::thread::Builder::new().name("jscell-wasm-epoch".into()).spawn(move || loop {
        std::thread::sleep(EPOCH_TICK);
        engine.increment_epoch();
    });
}
