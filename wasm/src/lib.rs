//! jscell's wasm backend: QuickJS-ng compiled to WebAssembly (`guest/`), run by wasmtime in
//! this process. The guest's only imports are its capability host's grants and a clock; its
//! memory is bounded by its linear memory, its CPU by QuickJS's interrupt check with wasmtime's
//! epoch as the backstop, and a trap costs its runtime, never the process.

mod abi;
mod backend;
mod codec;
mod event_loop;
mod exception;
mod guest_module;
mod imports;
mod instance;
mod memory_image;
mod module_cache;
mod shared;
mod snapshot;

pub use backend::WasmBackend;
pub use snapshot::{build_snapshot, snapshot_engine_tag};

#[cfg(test)]
mod evil_guest_tests;
