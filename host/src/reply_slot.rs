//! Where a blocking caller waits for its reply: one slot per request, polled briefly and then
//! parked on. Cheaper than a channel per request, whose set-up, teardown and shared state cost
//! more than a small `eval` itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::Thread;

use jscell_engine::Unpoisoned;
use jscell_engine::{poll_briefly, AnswerOnce, Deliver, EngineError, Reply, Response};

type Outcome = Result<Response, EngineError>;

struct Slot {
    filled: AtomicBool,
    /// `None` once filled means the reply was dropped unanswered (the engine is gone).
    outcome: Mutex<Option<Outcome>>,
    waiter: Thread,
}

/// The waiting side.
pub struct ReplySlot(Arc<Slot>);

/// The answering side, given to the engine as its `Reply`; dropping it unanswered wakes the
/// waiter too, with nothing.
struct Answer(Arc<Slot>);

impl Deliver<Option<Outcome>> for Answer {
    fn deliver(self, outcome: Option<Outcome>) {
        *self.0.outcome.locked() = outcome;
        self.0.filled.store(true, Ordering::Release);
        self.0.waiter.unpark();
    }

    fn unanswered(&self) -> Option<Outcome> {
        None
    }
}

impl ReplySlot {
    /// A slot for the current thread to wait on, and the reply that fills it.
    pub fn new() -> (ReplySlot, Reply) {
        let slot = Arc::new(Slot { filled: AtomicBool::new(false), outcome: Mutex::new(None), waiter: std::thread::current() });
        let answer = AnswerOnce::to(Answer(slot.clone()));
        (ReplySlot(slot), Box::new(move |outcome| answer.resolve(Some(outcome))))
    }

    /// Wait for the reply; `None` when it was dropped unanswered.
    pub fn wait(self) -> Option<Outcome> {
        let filled = || self.0.filled.load(Ordering::Acquire);
        if !poll_briefly(filled) {
            while !filled() {
                // Spurious wake-ups are fine: the flag is checked again.
                std::thread::park();
            }
        }
        self.0.outcome.locked().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_reply_from_another_thread_wakes_a_parked_waiter() {
        let (slot, reply) = ReplySlot::new();
        let answering = std::thread::spawn(move || {
            // Long enough for the waiter to stop polling and park.
            std::thread::sleep(Duration::from_millis(50));
            reply(Ok(Response::Done));
        });
        assert_eq!(slot.wait(), Some(Ok(Response::Done)));
        answering.join().unwrap();
    }

    #[test]
    fn a_reply_dropped_unanswered_wakes_the_waiter_with_nothing() {
        let (slot, reply) = ReplySlot::new();
        let dropping = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(reply);
        });
        assert_eq!(slot.wait(), None);
        dropping.join().unwrap();
    }
}
