//! The JS heap limit. V8 aborts the whole process when a heap is exhausted; the near-limit
//! callback instead stops the script, grants headroom so V8 can unwind, and marks the runtime
//! as terminated.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

/// Headroom granted once the limit is hit, so the allocation in flight can finish while the
/// termination unwinds the stack. Generous because a single allocation can be large.
const UNWIND_HEADROOM: usize = 1 << 30;

pub struct HeapLimit {
    pub limit_bytes: usize,
    isolate: v8::IsolateHandle,
    hit: AtomicBool,
}

impl HeapLimit {
    /// Install on `isolate`. The returned box must outlive the isolate's last allocation.
    pub fn install(isolate: &mut v8::Isolate, limit_bytes: usize) -> Box<HeapLimit> {
        let mut state =
            Box::new(HeapLimit { limit_bytes, isolate: isolate.thread_safe_handle(), hit: AtomicBool::new(false) });
        let data = &mut *state as *mut HeapLimit as *mut c_void;
        isolate.add_near_heap_limit_callback(near_heap_limit, data);
        state
    }

    pub fn was_hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }
}

extern "C" fn near_heap_limit(data: *mut c_void, current_limit: usize, _initial_limit: usize) -> usize {
    // SAFETY: `data` is the `HeapLimit` boxed in `install`, alive as long as the isolate.
    let state = unsafe { &*(data as *const HeapLimit) };
    state.hit.store(true, Ordering::SeqCst);
    state.isolate.terminate_execution();
    current_limit + UNWIND_HEADROOM
}
