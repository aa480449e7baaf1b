//! Warm guests: prepared ahead (spawned, sandboxed, V8 started), so a runtime that takes one
//! only creates its engine. Asked for with `RuntimeConfig(warm_guests=n)`: once a runtime with
//! it is up, the pool for its options is topped back up to `n` in the background.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, OnceLock};

use jscell_engine::Unpoisoned;
use jscell_engine::ProcessStamp;

use crate::guest_process::{GuestOptions, PreparedGuest};

/// Most warm guests kept for one set of options: each is a process holding memory.
pub const MAX_WARM_GUESTS: usize = 16;

struct GuestPool {
    /// A forked child sees a copy of the pool: guests that are not its children and no thread
    /// to refill it. It uses no pool.
    stamp: ProcessStamp,
    idle: Mutex<HashMap<GuestOptions, Vec<PreparedGuest>>>,
    /// To the refilling thread: keep this many guests warm for these options.
    refill: Mutex<Sender<(GuestOptions, usize)>>,
}

static POOL: OnceLock<GuestPool> = OnceLock::new();

fn pool() -> &'static GuestPool {
    POOL.get_or_init(|| {
        let (refill, requests) = mpsc::channel::<(GuestOptions, usize)>();
        // Guests die with the thread that spawned them (PR_SET_PDEATHSIG), so they are spawned
        // by this thread, which lives as long as the process. Should it fail to start, refill
        // requests go nowhere and every runtime spawns its own guest.
        let _ = std::thread::Builder::new().name("jscell-guest-pool".into()).spawn(move || {
            for (options, warm) in requests {
                while pool().count(&options) < warm {
                    match PreparedGuest::spawn(&options) {
                        Ok(guest) => pool().idle.locked().entry(options.clone()).or_default().push(guest),
                        // The caller's own spawn reports why; the pool just stays cold.
                        Err(_) => break,
                    }
                }
            }
        });
        GuestPool { stamp: ProcessStamp::current(), idle: Mutex::default(), refill: Mutex::new(refill) }
    })
}

impl GuestPool {
    fn count(&self, options: &GuestOptions) -> usize {
        self.idle.locked().get(options).map_or(0, Vec::len)
    }

    fn take_alive(&self, options: &GuestOptions) -> Option<PreparedGuest> {
        let mut idle = self.idle.locked();
        let waiting = idle.get_mut(options)?;
        while let Some(mut guest) = waiting.pop() {
            if guest.is_alive() {
                return Some(guest);
            }
            guest.discard();
        }
        None
    }
}

/// A warm guest for `options`, if one is waiting and alive.
pub fn take(options: &GuestOptions) -> Option<PreparedGuest> {
    POOL.get().filter(|pool| pool.stamp.is_current())?.take_alive(options)
}

/// Keep `warm` guests for `options` ready from now on, starting them in the background. Called
/// once a runtime is up: spawning forks this process, which would slow a start in progress.
pub fn refill(options: &GuestOptions, warm: usize) {
    if warm == 0 {
        return;
    }
    let pool = pool();
    if pool.stamp.is_current() {
        let _ = pool.refill.locked().send((options.clone(), warm.min(MAX_WARM_GUESTS)));
    }
}
