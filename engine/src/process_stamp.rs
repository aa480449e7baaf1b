//! Which process something was started in. A process forked from it inherits copies of its
//! runtimes but none of their threads (V8's included), and its guests stay the original
//! process's children. Such copies must neither be used (they would hang, abort, or talk to the
//! original's guest) nor torn down (closing would kill the original's guest).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

use crate::error::TerminationReason;

/// Bumped in the child of every fork.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_fork_in_child() {
    FORKS.fetch_add(1, Ordering::SeqCst);
}

#[derive(Debug, Clone, Copy)]
pub struct ProcessStamp {
    forks: u64,
}

impl ProcessStamp {
    /// The current process.
    pub fn current() -> ProcessStamp {
        static WATCH: Once = Once::new();
        // SAFETY: the handler only touches an atomic, which is async-signal-safe.
        WATCH.call_once(|| unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        });
        ProcessStamp { forks: FORKS.load(Ordering::SeqCst) }
    }

    /// Whether this is still the process the stamp was taken in.
    pub fn is_current(&self) -> bool {
        FORKS.load(Ordering::SeqCst) == self.forks
    }

    /// Why a runtime stamped in another process cannot run here, if it cannot.
    pub fn elsewhere(&self) -> Option<TerminationReason> {
        (!self.is_current()).then_some(TerminationReason::Forked)
    }
}
