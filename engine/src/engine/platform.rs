//! V8 in this process: its flags, its platform, and the settings that must be made before the
//! first engine exists (jitless, a memory cap held from inside).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Once, OnceLock};

use crate::process_stamp::ProcessStamp;

/// Process-wide V8 flags. Concurrent on-stack replacement installs optimized loop code that
/// in this V8 no longer honours `TerminateExecution` (an allocating `for (;;)` could not be
/// stopped by a timeout or the heap limit), so OSR compiles on the isolate's own thread.
const V8_FLAGS: &str = "--no-concurrent-osr";

/// Run V8 without JIT compilers (interpreter only). Process-wide, so it must be called before
/// the first engine is created; the hardened guest calls it when its runtime asks.
pub fn set_jitless() {
    JITLESS.store(true, Ordering::SeqCst);
    v8::V8::set_flags_from_string("--jitless");
}

static JITLESS: AtomicBool = AtomicBool::new(false);

/// Whether this process's V8 runs jitless (its snapshots are tagged so).
pub fn is_jitless() -> bool {
    JITLESS.load(Ordering::SeqCst)
}

/// How a process whose memory is capped from inside sizes its engines: V8's code range at
/// its minimum (it reserves 512 MB of writable memory otherwise, which an rlimit counts), and
/// an exit with `code`, rather than an abort, when V8 runs out of memory.
pub(super) static MEMORY_CAPPED: OnceLock<i32> = OnceLock::new();
pub(super) const MINIMUM_CODE_RANGE: usize = 64 << 20;

/// Process-wide, before the first engine (the hardened guest under an rlimit calls it).
pub fn set_memory_capped(out_of_memory_exit: i32) {
    let _ = MEMORY_CAPPED.set(out_of_memory_exit);
}

pub(super) unsafe extern "C" fn out_of_memory(_location: *const std::ffi::c_char, _details: &v8::OomDetails) {
    if let Some(code) = MEMORY_CAPPED.get() {
        // SAFETY: ends the process at once; nothing may run after V8 ran out of memory.
        unsafe { libc::_exit(*code) };
    }
}

/// The process V8 was started in: its worker threads do not survive a fork, and an isolate
/// created in a forked child aborts the child.
pub(super) static V8_STARTED_IN: OnceLock<ProcessStamp> = OnceLock::new();

/// The platform V8 runs its tasks on; each engine runs the ones posted for its isolate.
pub(super) static PLATFORM: OnceLock<v8::SharedRef<v8::Platform>> = OnceLock::new();

/// Initialise V8 for this process now rather than with the first engine (a hardened guest
/// waiting in a pool does it ahead). Later calls do nothing.
pub fn init_v8() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = V8_STARTED_IN.set(ProcessStamp::current());
        v8::V8::set_flags_from_string(V8_FLAGS);
        let platform = PLATFORM.get_or_init(|| v8::new_default_platform(0, false).make_shared());
        v8::V8::initialize_platform(platform.clone());
        v8::V8::initialize();
    });
}
