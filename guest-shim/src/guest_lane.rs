//! The guest's end of the lane (`jscell_host::lane`): blocking requests arrive there, and while
//! one is being answered, the parent's caller serves synchronous host calls there too. Only the
//! engine thread reads or writes it; the wire reader only rings it when it queued a message.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TryRecvError;
use std::sync::Arc;
use std::time::Instant;

use jscell_engine::{EngineError, Inbound, InboxReceiver, Response, Waiter};
use jscell_host::lane::{Lane, Side};
use serde::Serialize;

use jscell_host::wire::{FrameLimit, ToGuest, ToParent, WireError, MAX_FRAME_BYTES};

/// The lane, and whether a request from it is being answered.
#[derive(Clone)]
pub struct GuestLane {
    lane: Arc<Lane>,
    /// While set, the parent's caller waits on the lane and serves synchronous calls there.
    answering: Arc<AtomicBool>,
}

/// The parent is trusted: its frames are bounded only by the wire's own maximum.
const FROM_PARENT: usize = MAX_FRAME_BYTES;

/// The guest waits for its trusted parent as long as it takes (the parent kills it if need be).
fn never() -> bool {
    false
}

impl GuestLane {
    pub fn new(lane: Lane) -> Self {
        GuestLane { lane: Arc::new(lane), answering: Arc::default() }
    }

    /// Wake the engine thread: a message is in its inbox.
    pub fn ring(&self) {
        self.lane.ring(Side::Guest);
    }

    /// Whether the parent's caller waits on the lane (and so serves synchronous calls there).
    pub fn is_answering(&self) -> bool {
        self.answering.load(Ordering::SeqCst)
    }

    /// A frame to the parent's caller on the lane, and its answer.
    pub fn call(&self, frame: &impl Serialize) -> Result<ToGuest, WireError> {
        self.lane.send(Side::Guest, frame, &never)?;
        self.lane.await_turn(Side::Guest, &never)?;
        self.lane.receive(Side::Guest, FrameLimit::new(FROM_PARENT), &never)
    }

    fn has_request(&self) -> bool {
        !self.is_answering() && self.lane.holds(Side::Guest)
    }

    /// The request the parent handed over, with a reply that hands the lane back.
    fn take_request(&self) -> Result<Inbound, WireError> {
        match self.lane.receive(Side::Guest, FrameLimit::new(FROM_PARENT), &never)? {
            ToGuest::Request { id, request } => {
                self.answering.store(true, Ordering::SeqCst);
                let lane = self.clone();
                Ok(Inbound::Request { id: None, request, reply: Box::new(move |result| lane.reply(id, result)) })
            }
            other => Err(WireError::Malformed(format!("{other:?} on the lane, where only requests start"))),
        }
    }

    fn reply(&self, id: u64, result: Result<Response, EngineError>) {
        self.answering.store(false, Ordering::SeqCst);
        if let Err(error) = self.lane.send(Side::Guest, &ToParent::Reply { id, result }, &never) {
            // Only a reply past the wire's maximum fails here; the caller must still hear.
            let result = Err(EngineError::InvalidRequest(format!("the result cannot be sent: {error}")));
            let _ = self.lane.send(Side::Guest, &ToParent::Reply { id, result }, &never);
        }
    }
}

/// The engine's wait in the guest: its inbox (fed by the wire reader) and the lane.
impl Waiter for GuestLane {
    fn next(&mut self, inbox: &InboxReceiver, until: Option<Instant>) -> Option<Inbound> {
        let mut queued = None;
        let mut closed = false;
        loop {
            let timeout = until.map(|until| until.saturating_duration_since(Instant::now()));
            let ready = self.lane.wait(Side::Guest, timeout, || {
                match inbox.try_recv() {
                    Ok(message) => queued = Some(message),
                    Err(TryRecvError::Disconnected) => closed = true,
                    Err(TryRecvError::Empty) => {}
                }
                queued.is_some() || closed || self.has_request()
            });
            if let Some(message) = queued.take() {
                return Some(message);
            }
            if closed {
                return None;
            }
            if self.has_request() {
                // A frame the parent got wrong leaves the engine nothing it can answer.
                return self.take_request().ok();
            }
            if !ready {
                return Some(Inbound::Wake);
            }
        }
    }
}
