//! What the owner's threads share with the runtime's thread: why it stopped, which request's
//! JS runs, and the one flag the guest's interrupt check reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use jscell_engine::{RequestId, TerminationReason, Unpoisoned};

#[derive(Default)]
pub struct Shared {
    pub termination: Mutex<Option<TerminationReason>>,
    pub running: Mutex<Running>,
    /// Set to stop the JS running now (terminate, or a cancel of the running request).
    pub stop: AtomicBool,
    /// When `stop` was set, for the epoch backstop's grace period.
    stopped_at: Mutex<Option<Instant>>,
}

/// The request whose JS runs now, and whether its caller cancelled it: one lock, so a cancel
/// only ever stops the JS of the request it names.
#[derive(Default)]
pub struct Running {
    pub id: Option<RequestId>,
    pub cancelled: bool,
}

impl Shared {
    pub fn termination(&self) -> Option<TerminationReason> {
        self.termination.locked().clone()
    }

    /// Record why the runtime stops (the first reason wins) and stop its JS.
    pub fn terminate(&self, reason: TerminationReason) {
        self.termination.locked().get_or_insert(reason);
        self.stop_now();
    }

    fn stop_now(&self) {
        self.stopped_at.locked().get_or_insert_with(Instant::now);
        self.stop.store(true, Ordering::Release);
    }

    pub fn stop_since(&self) -> Option<Instant> {
        *self.stopped_at.locked()
    }

    pub fn cancel(&self, id: RequestId) {
        let mut running = self.running.locked();
        if running.id == Some(id) {
            running.cancelled = true;
            self.stop_now();
        }
    }

    /// Mark request `id`'s JS as running (or, `None`, as done); a cancel of the last one no
    /// longer stops anything.
    pub fn run_as(&self, id: Option<RequestId>) {
        let mut running = self.running.locked();
        *running = Running { id, cancelled: false };
        if self.termination.locked().is_none() {
            *self.stopped_at.locked() = None;
            self.stop.store(false, Ordering::Release);
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.running.locked().cancelled
    }
}
