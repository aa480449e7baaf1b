//! Startup snapshots of the wasm backend: the guest's linear memory after the build scripts
//! ran, sealed as every jscell snapshot is (`jscell_engine::seal_snapshot`). A runtime made from
//! one starts from that memory instead of the booted image. The memory layout is this exact
//! guest's, so the tag names the guest build (its module and the web globals it booted with).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{mpsc, Arc};

use jscell_engine::{on_engine_thread, seal_snapshot, ConversionLimits, EngineConfig, EngineError, SnapshotRecipe};
use jscell_host::{CapabilityHost, GrantDispatch};

use crate::backend::internal;
use crate::event_loop::EventLoop;
use crate::guest_module::{GuestModule, GUEST_WASM};
use crate::imports::GuestState;
use crate::instance::GuestInstance;
use crate::shared::Shared;

/// The tag of this guest build's snapshots.
pub fn snapshot_engine_tag() -> String {
    let mut hasher = DefaultHasher::new();
    GUEST_WASM.hash(&mut hasher);
    jscell_web::SCRIPT.hash(&mut hasher);
    format!("QuickJS-ng 0.16.2 (jscell wasm guest {:016x})", hasher.finish())
}

/// Run `recipe` in a fresh instance, on a thread with the stack guests run on, and seal its memory.
pub fn build_snapshot(recipe: SnapshotRecipe) -> Result<Vec<u8>, EngineError> {
    let module = GuestModule::get().map_err(internal)?;
    on_engine_thread("jscell-wasm-snapshot", move || {
        let shared = Arc::new(Shared::default());
        let (inbox, receiver) = mpsc::channel();
        let config = EngineConfig { max_heap_size: recipe.max_heap_size, ..Default::default() };
        let capabilities = GrantDispatch(CapabilityHost::new(None, ConversionLimits::default()));
        let state = GuestState::new(capabilities, config.limits, inbox, shared.clone());
        let guest = GuestInstance::new(module, state, &config, 1).map_err(internal)?;
        let (memory, heap_bytes) = EventLoop::new(guest, shared, receiver, config).run_build(&recipe.scripts, recipe.timeout)?;
        Ok(seal_snapshot(&snapshot_engine_tag(), heap_bytes, &pack(&memory)))
    })
}

/// Linear memory is mostly zero (the C stack, free heap): a snapshot keeps only the pages that
/// are not. The payload is the memory's length (u64), then each such page as its index (u32)
/// and its bytes; the last page may be short.
pub const PAGE: usize = 64 << 10;

fn pack(memory: &[u8]) -> Vec<u8> {
    let mut packed = (memory.len() as u64).to_le_bytes().to_vec();
    for (index, page) in memory.chunks(PAGE).enumerate() {
        if page.iter().any(|&byte| byte != 0) {
            packed.extend_from_slice(&(index as u32).to_le_bytes());
            packed.extend_from_slice(page);
        }
    }
    packed
}

/// How long the memory `packed` holds is.
pub fn unpacked_length(packed: &[u8]) -> Result<usize, String> {
    let length = packed.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes);
    length.and_then(|length| usize::try_from(length).ok()).ok_or_else(malformed)
}

fn malformed() -> String {
    "the snapshot's memory is malformed".to_string()
}

/// Write a packed memory over `memory` (at least as long): its pages, and zeros where it has none.
pub fn unpack_into(packed: &[u8], memory: &mut [u8]) -> Result<(), String> {
    let length = unpacked_length(packed)?;
    let memory = memory.get_mut(..length).ok_or_else(malformed)?;
    let mut next = 0;
    let mut rest = &packed[8..];
    while !rest.is_empty() {
        let index = rest.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes).ok_or_else(malformed)? as usize;
        let start = index.checked_mul(PAGE).filter(|&start| start < length && index >= next).ok_or_else(malformed)?;
        let end = (start + PAGE).min(length);
        let page = rest.get(4..4 + end - start).ok_or_else(malformed)?;
        zero(&mut memory[next * PAGE..start]);
        memory[start..end].copy_from_slice(page);
        next = index + 1;
        rest = &rest[4 + page.len()..];
    }
    zero(&mut memory[(next * PAGE).min(length)..]);
    Ok(())
}

/// Zero `bytes`, writing only pages that are not zero already (a write costs a copy-on-write fault).
fn zero(bytes: &mut [u8]) {
    for page in bytes.chunks_mut(PAGE) {
        if page.iter().any(|&byte| byte != 0) {
            page.fill(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_memory_unpacks_to_the_same_bytes() {
        let mut memory = vec![0u8; PAGE * 5 + 100];
        memory[3] = 1;
        memory[PAGE * 3 + 7] = 9;
        memory[PAGE * 5 + 99] = 4;
        let packed = pack(&memory);
        assert!(packed.len() < 4 * PAGE);
        let mut target = vec![0xAA; memory.len() + PAGE];
        unpack_into(&packed, &mut target).unwrap();
        assert_eq!(&target[..memory.len()], &memory[..]);
        assert!(unpack_into(&packed[..packed.len() - 1], &mut target).is_err());
        assert!(unpack_into(&packed, &mut vec![0; PAGE]).is_err());
    }
}
