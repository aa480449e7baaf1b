//! `setTimeout` / `setInterval` bookkeeping. Timers only fire while a caller is waiting on the
//! runtime, so every line of JS runs under some caller's timeout.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Browsers cap delays at a signed 32-bit count of milliseconds.
const MAX_DELAY_MS: f64 = 2_147_483_647.0;

pub struct Timer {
    pub callback: v8::Global<v8::Function>,
    pub args: Vec<v8::Global<v8::Value>>,
    pub interval: Option<Duration>,
}

#[derive(Default)]
pub struct Timers {
    next_id: u32,
    due: BTreeMap<(Instant, u32), ()>,
    entries: HashMap<u32, (Instant, Timer)>,
}

impl Timers {
    /// Delay in milliseconds as JS passes it: NaN, negative and absurd values are clamped.
    pub fn delay(ms: f64) -> Duration {
        let ms = if ms.is_nan() { 0.0 } else { ms.clamp(0.0, MAX_DELAY_MS) };
        Duration::from_secs_f64(ms / 1000.0)
    }

    pub fn add(&mut self, delay: Duration, timer: Timer) -> u32 {
        self.next_id = self.next_id.checked_add(1).unwrap_or(1);
        let id = self.next_id;
        let at = Instant::now() + delay;
        self.due.insert((at, id), ());
        self.entries.insert(id, (at, timer));
        id
    }

    pub fn clear(&mut self, id: u32) {
        if let Some((at, _)) = self.entries.remove(&id) {
            self.due.remove(&(at, id));
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.due.keys().next().map(|(at, _)| *at)
    }

    /// The earliest timer due by `now`: a timeout is removed, an interval stays registered
    /// until `reschedule` or `clear`.
    pub fn take_due(&mut self, now: Instant) -> Option<(u32, v8::Global<v8::Function>, Vec<v8::Global<v8::Value>>)> {
        let (&(at, id), _) = self.due.iter().next().filter(|((at, _), _)| *at <= now)?;
        self.due.remove(&(at, id));
        let (_, timer) = self.entries.get(&id)?;
        let fired = (id, timer.callback.clone(), timer.args.clone());
        if timer.interval.is_none() {
            self.entries.remove(&id);
        }
        Some(fired)
    }

    /// Queue the next run of interval `id`, unless its callback cleared it.
    pub fn reschedule(&mut self, id: u32) {
        if let Some((at, timer)) = self.entries.get_mut(&id) {
            if let Some(interval) = timer.interval {
                *at = Instant::now() + interval;
                self.due.insert((*at, id), ());
            }
        }
    }

    pub fn counts(&self) -> (usize, usize) {
        let intervals = self.entries.values().filter(|(_, t)| t.interval.is_some()).count();
        (self.entries.len() - intervals, intervals)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
