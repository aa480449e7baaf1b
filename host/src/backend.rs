use std::sync::Arc;

use jscell_engine::{EngineError, FunctionHandle, Reply, Request, RequestId, Response, TerminationReason};

use crate::capability_host::CapabilityHost;
use crate::reply_slot::ReplySlot;

/// What the parent knows of a guest, for `get_stats()`.
#[derive(Debug, Clone)]
pub struct GuestReport {
    pub pid: u32,
    pub rss_bytes: Option<u64>,
    pub sandbox_layers: Vec<(String, bool)>,
}

/// A running engine, wherever it runs. Every method may be called from any thread.
pub trait Backend: Send + Sync {
    /// Queue `request`; `reply` is called exactly once, on the backend's own thread. The id
    /// names the request for `cancel`.
    fn request(&self, request: Request, reply: Reply) -> RequestId;

    /// The caller of request `id` gave up on it: stop its JS if it runs, and its wait for a
    /// promise or module graph if it waits. Its reply, if it still comes, is `Cancelled`.
    fn cancel(&self, id: RequestId);

    /// The owner dropped its handle to a JS function: the engine may forget it. May be passed
    /// on later, gathered with others; never blocks.
    fn release(&self, function: FunctionHandle);

    /// Stop running JS now; every later request fails with `Terminated(Requested)`.
    fn terminate(&self);

    /// Stop the engine and release its resources. Idempotent; returns once it is gone.
    fn close(&self);

    /// Why the engine no longer runs code, if it doesn't.
    fn termination(&self) -> Option<TerminationReason>;

    /// The grants this engine is served from.
    fn capabilities(&self) -> &Arc<CapabilityHost>;

    /// Whether the current thread is running one of this engine's host handlers, so callers
    /// can refuse re-entrant blocking calls (they would wait for themselves).
    fn in_handler(&self) -> bool;

    /// The guest process behind this backend, for backends that run one.
    fn guest(&self) -> Option<GuestReport> {
        None
    }

    /// Send `request` and wait for its reply on this thread.
    fn request_blocking(&self, request: Request) -> Result<Response, EngineError> {
        request_and_wait(self, request)
    }
}

/// `request`, then wait for its reply on this thread.
pub fn request_and_wait<B: Backend + ?Sized>(backend: &B, request: Request) -> Result<Response, EngineError> {
    let (slot, reply) = ReplySlot::new();
    backend.request(request, reply);
    slot.wait().unwrap_or_else(|| Err(EngineError::Terminated(backend.termination().unwrap_or(TerminationReason::Closed))))
}
