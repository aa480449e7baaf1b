//! The JS heap limit. V8 aborts the whole process when its heap is exhausted, and it can do so
//! in the middle of a collection where no callback can intervene. So V8's own limit is set well
//! above the user's, and after every collection an interrupt (a safe point, unlike the GC
//! callback itself) compares the used heap with the user's limit; past it, the script is
//! stopped and the runtime marked terminated. The near-limit
//! callback remains as a last line, granting headroom so V8 can unwind instead of aborting.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};

/// Headroom granted if V8's own limit is reached anyway, so the allocation in flight can
/// finish while the termination unwinds the stack.
const UNWIND_HEADROOM: usize = 1 << 30;

pub struct HeapLimit {
    pub limit_bytes: usize,
    isolate: v8::IsolateHandle,
    hit: AtomicBool,
}

impl HeapLimit {
    /// The limit to configure V8 with for a user limit of `limit_bytes`.
    pub fn engine_limit(limit_bytes: usize) -> usize {
        limit_bytes.saturating_mul(2).saturating_add(64 << 20)
    }

    /// Install on `isolate`. The returned box must outlive the isolate.
    pub fn install(isolate: &mut v8::Isolate, limit_bytes: usize) -> Box<HeapLimit> {
        let mut state = Box::new(HeapLimit {
            limit_bytes,
            isolate: isolate.thread_safe_handle(),
            hit: AtomicBool::new(false),
        });
        let data = &mut *state as *mut HeapLimit as *mut c_void;
        isolate.add_gc_epilogue_callback(after_gc, data, v8::GCType::kGCTypeAll);
        isolate.add_near_heap_limit_callback(near_heap_limit, data);
        state
    }

    pub fn was_hit(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }

    fn stop(&self) {
        self.hit.store(true, Ordering::SeqCst);
        self.isolate.terminate_execution();
    }
}

unsafe extern "C" fn after_gc(_: v8::UnsafeRawIsolatePtr, _: v8::GCType, _: v8::GCCallbackFlags, data: *mut c_void) {
    // SAFETY: `data` is the `HeapLimit` boxed in `install`, alive as long as the isolate.
    let state = unsafe { &*(data as *const HeapLimit) };
    state.isolate.request_interrupt(check_usage, data);
}

unsafe extern "C" fn check_usage(isolate: v8::UnsafeRawIsolatePtr, data: *mut c_void) {
    // SAFETY: as in `after_gc`; interrupts run on the isolate's thread at a safe point, with
    // the isolate V8 passes in.
    let state = unsafe { &*(data as *const HeapLimit) };
    // SAFETY: the isolate V8 passes in, on its own thread.
    let mut isolate = unsafe { v8::Isolate::from_raw_isolate_ptr(isolate) };
    let used = isolate.get_heap_statistics().used_heap_size();
    if used > state.limit_bytes {
        state.stop();
    }
}

extern "C" fn near_heap_limit(data: *mut c_void, current_limit: usize, _initial_limit: usize) -> usize {
    // SAFETY: as in `after_gc`.
    let state = unsafe { &*(data as *const HeapLimit) };
    state.stop();
    current_limit + UNWIND_HEADROOM
}
