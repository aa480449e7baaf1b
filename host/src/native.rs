//! The native backend: the engine on a dedicated thread of this process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};

use jscell_engine::{
    start_engine_thread, EngineConfig, EngineError, EngineHandle, EngineThreadWrapper, FunctionHandle, InboxWaiter, Reply,
    Request, RequestId, TerminationReason, Unpoisoned,
};

use crate::backend::Backend;
use crate::capability_host::CapabilityHost;
use crate::grant_dispatch::GrantDispatch;

pub struct NativeBackend {
    engine: EngineHandle,
    capabilities: Arc<CapabilityHost>,
    thread_id: ThreadId,
    thread: Mutex<Option<JoinHandle<()>>>,
    next_request: AtomicU64,
}

impl NativeBackend {
    /// Start an engine thread; returns once the isolate exists and `bootstrap` has run.
    pub fn start(config: EngineConfig, capabilities: Arc<CapabilityHost>, wrap_thread: EngineThreadWrapper) -> Result<Self, EngineError> {
        let host = Box::new(GrantDispatch(capabilities.clone()));
        let (engine, thread) = start_engine_thread("jscell-engine", config, host, InboxWaiter, wrap_thread)?;
        Ok(NativeBackend {
            engine,
            capabilities,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
            next_request: AtomicU64::new(1),
        })
    }
}

impl Backend for NativeBackend {
    fn request(&self, request: Request, reply: Reply) -> RequestId {
        let id = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed));
        self.engine.send_cancellable(Some(id), request, reply);
        id
    }

    fn cancel(&self, id: RequestId) {
        self.engine.cancel(id);
    }

    fn release(&self, function: FunctionHandle) {
        self.engine.send(Request::Release { functions: vec![function] }, Box::new(|_| {}));
    }

    fn terminate(&self) {
        self.engine.terminate(TerminationReason::Requested);
    }

    fn close(&self) {
        let Some(thread) = self.thread.locked().take() else { return };
        self.engine.terminate(TerminationReason::Closed);
        self.engine.close();
        // From inside a handler the engine thread finishes on its own once the handler returns.
        if std::thread::current().id() != self.thread_id {
            let _ = thread.join();
            self.capabilities.revoke_all();
        }
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.engine.termination()
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.capabilities
    }

    fn in_handler(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }
}

impl Drop for NativeBackend {
    fn drop(&mut self) {
        self.close();
    }
}
