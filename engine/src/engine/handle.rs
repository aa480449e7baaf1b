//! The owner's side of a running engine: requests go in through its inbox; cancelling,
//! terminating and closing work from any thread.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use crate::error::{EngineError, TerminationReason};
use crate::inbox::{Inbound, InboxSender, Reply, Request, RequestId};
use crate::sync::Unpoisoned;

/// State shared with the engine's owner on other threads.
#[derive(Default)]
pub(super) struct Shared {
    pub(super) termination: Mutex<Option<TerminationReason>>,
    pub(super) watchdog_fired: Arc<AtomicBool>,
    pub(super) running: Mutex<Running>,
}

/// The request whose JS runs now, and whether its caller cancelled it. One lock, so a cancel
/// can only ever terminate the JS of the request it names.
#[derive(Default)]
pub(super) struct Running {
    pub(super) id: Option<RequestId>,
    pub(super) cancelled: bool,
}

/// The owner's side of a running engine. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) inbox: InboxSender,
    pub(super) isolate: v8::IsolateHandle,
    pub(super) shared: Arc<Shared>,
}

impl EngineHandle {
    /// Queue a request; if the engine is gone the reply is answered at once.
    pub fn send(&self, request: Request, reply: Reply) {
        self.send_cancellable(None, request, reply);
    }

    /// `send`, with an id by which `cancel` can stop it.
    pub fn send_cancellable(&self, id: Option<RequestId>, request: Request, reply: Reply) {
        if let Err(failed) = self.inbox.send(Inbound::Request { id, request, reply }) {
            if let Inbound::Request { reply, .. } = failed.0 {
                reply(Err(EngineError::Terminated(self.termination().unwrap_or(TerminationReason::Closed))));
            }
        }
    }

    /// The caller of request `id` gave up on it: terminate its JS if it runs now (the runtime
    /// stays usable), or stop waiting for its promise. Its reply, if any, is `Cancelled`.
    pub fn cancel(&self, id: RequestId) {
        let mut running = self.shared.running.locked();
        if running.id == Some(id) {
            running.cancelled = true;
            self.isolate.terminate_execution();
        }
        drop(running);
        let _ = self.inbox.send(Inbound::Cancel { id });
    }

    /// Stop running JS now and refuse all further work.
    pub fn terminate(&self, reason: TerminationReason) {
        self.shared.termination.locked().get_or_insert(reason);
        self.isolate.terminate_execution();
        let _ = self.inbox.send(Inbound::Wake);
    }

    pub fn termination(&self) -> Option<TerminationReason> {
        self.shared.termination.locked().clone()
    }

    /// Ask the loop to finish; pending requests fail with `Terminated(Closed)`.
    pub fn close(&self) {
        let _ = self.inbox.send(Inbound::Close);
    }
}
