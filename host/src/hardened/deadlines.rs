//! When the parent stops waiting for a guest: each request's deadline (its timeout plus the
//! grace, or a fixed one), held off while the parent itself serves a frame the guest asked for.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jscell_engine::{Request, Unpoisoned};

use crate::guest_bounds::{CONTROL_DEADLINE, GRACE};

/// When a caller stops waiting for the guest.
#[derive(Clone, Copy)]
pub(super) struct Deadline {
    at: Instant,
    /// What the caller allowed: its timeout plus the grace, or a fixed deadline.
    pub(super) allowed: Duration,
}

impl Deadline {
    pub(super) fn after(allowed: Duration) -> Deadline {
        Deadline { at: Instant::now() + allowed, allowed }
    }

    pub(super) fn passed(&self, serving: &ServingClock) -> bool {
        let now = Instant::now();
        now >= self.at && !serving.holds_off(self.at, now)
    }
}

/// The parent's own time serving the guest's frames. While the parent runs a handler the guest
/// asked for (a user function, the resolver, the loader), the guest cannot answer; so a deadline
/// that passes during a handler asked for before it moves to that handler's end plus the grace,
/// as on native, where a timeout takes effect once the running handler returns. What the guest
/// asks after a deadline moves nothing.
#[derive(Default)]
pub(super) struct ServingClock(Mutex<ServedFrames>);

#[derive(Default)]
struct ServedFrames {
    /// When each frame being served now began (the I/O thread and a lane caller may both serve).
    active: Vec<Instant>,
    /// The last few frames served: when each began and ended.
    recent: VecDeque<(Instant, Instant)>,
}

impl ServingClock {
    const RECENT: usize = 4;

    pub(super) fn time<R>(&self, serve: impl FnOnce() -> R) -> R {
        let began = Instant::now();
        self.0.locked().active.push(began);
        let result = serve();
        let mut served = self.0.locked();
        if let Some(index) = served.active.iter().position(|start| *start == began) {
            served.active.swap_remove(index);
        }
        served.recent.push_back((began, Instant::now()));
        if served.recent.len() > Self::RECENT {
            served.recent.pop_front();
        }
        result
    }

    /// Whether a deadline at `at` waits still, at `now`, for a handler begun before it.
    fn holds_off(&self, at: Instant, now: Instant) -> bool {
        let served = self.0.locked();
        served.active.iter().any(|began| *began < at)
            || served.recent.iter().any(|(began, ended)| *began < at && *ended > at && now < *ended + GRACE)
    }
}

/// How long the guest may take to answer `request`: its timeout plus the grace; a fixed
/// deadline for requests that take no timeout and run no JS; none for JS run without a timeout.
pub(super) fn allowed_time(request: &Request) -> Option<Duration> {
    match request {
        Request::Eval { timeout, .. } | Request::EvalModule { timeout, .. } | Request::Call { timeout, .. } => {
            timeout.map(|timeout| timeout + GRACE)
        }
        Request::SetGlobal { .. } | Request::Stats | Request::Release { .. } => Some(CONTROL_DEADLINE),
    }
}
