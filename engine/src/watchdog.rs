//! Wall-clock limits. One process-wide thread sleeps until the earliest armed deadline and then
//! stops that isolate's JavaScript with `TerminateExecution`; the engine turns that into a
//! timeout error and cancels the termination, so the runtime keeps working.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use crate::sync::Unpoisoned;

struct Armed {
    isolate: v8::IsolateHandle,
    fired: Arc<AtomicBool>,
}

#[derive(Default)]
struct Deadlines {
    next_id: u64,
    armed: BTreeMap<(Instant, u64), Armed>,
}

pub struct Watchdog {
    deadlines: Mutex<Deadlines>,
    changed: Condvar,
}

/// Disarms its deadline when dropped.
pub struct WatchdogGuard {
    key: (Instant, u64),
}

impl Watchdog {
    fn global() -> &'static Watchdog {
        static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            let watchdog: &'static Watchdog =
                Box::leak(Box::new(Watchdog { deadlines: Mutex::default(), changed: Condvar::new() }));
            std::thread::Builder::new()
                .name("jscell-watchdog".into())
                .spawn(move || watchdog.serve())
                .expect("spawning the watchdog thread");
            watchdog
        })
    }

    /// Terminate `isolate`'s JavaScript at `deadline` unless the guard is dropped first.
    pub fn arm(deadline: Instant, isolate: v8::IsolateHandle, fired: Arc<AtomicBool>) -> WatchdogGuard {
        let watchdog = Self::global();
        let mut deadlines = watchdog.deadlines.locked();
        deadlines.next_id += 1;
        let key = (deadline, deadlines.next_id);
        deadlines.armed.insert(key, Armed { isolate, fired });
        watchdog.changed.notify_one();
        WatchdogGuard { key }
    }

    fn serve(&self) {
        let mut deadlines = self.deadlines.locked();
        loop {
            let now = Instant::now();
            while let Some(entry) = deadlines.armed.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let armed = entry.remove();
                armed.fired.store(true, Ordering::SeqCst);
                armed.isolate.terminate_execution();
            }
            deadlines = match deadlines.armed.keys().next() {
                Some(&(deadline, _)) => self.changed.wait_timeout(deadlines, deadline - now).unwrap_or_else(PoisonError::into_inner).0,
                None => self.changed.wait(deadlines).unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

impl Drop for WatchdogGuard {
    fn drop(&mut self) {
        Watchdog::global().deadlines.locked().armed.remove(&self.key);
    }
}
