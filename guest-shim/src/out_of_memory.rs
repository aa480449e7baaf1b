//! The guest's allocator: the system's, except that a failed allocation ends the process with
//! `OUT_OF_MEMORY_EXIT` rather than an abort, so the parent can tell a guest that reached its
//! memory cap (the rlimit makes allocations fail) from one that crashed.

use std::alloc::{GlobalAlloc, Layout, System};

use jscell_host::OUT_OF_MEMORY_EXIT;

struct ExitOnOutOfMemory;

#[global_allocator]
static ALLOCATOR: ExitOnOutOfMemory = ExitOnOutOfMemory;

fn checked(pointer: *mut u8) -> *mut u8 {
    if pointer.is_null() {
        // SAFETY: ends the process at once; nothing runs after an allocation failed.
        unsafe { libc::_exit(OUT_OF_MEMORY_EXIT) };
    }
    pointer
}

// SAFETY: every call is the system allocator's, with its own contract; only a null result
// (which callers would have to handle as a failure anyway) is turned into an exit.
unsafe impl GlobalAlloc for ExitOnOutOfMemory {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for this call, passed on unchanged.
        checked(unsafe { System.alloc(layout) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for this call, passed on unchanged.
        checked(unsafe { System.alloc_zeroed(layout) })
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for this call, passed on unchanged.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for this call, passed on unchanged.
        checked(unsafe { System.realloc(pointer, layout, size) })
    }
}
