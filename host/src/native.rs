//! The native backend: the engine on a dedicated thread of this process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use jscell_engine::{
    start_engine_thread, EngineConfig, EngineError, EngineHandle, EngineThreadWrapper, FunctionHandle, InboxWaiter, Reply,
    Request, RequestId, TerminationReason,
};

use crate::backend::Backend;
use crate::backend_thread::BackendThread;
use crate::capability_host::CapabilityHost;
use crate::grant_dispatch::GrantDispatch;

pub struct NativeBackend {
    engine: EngineHandle,
    capabilities: Arc<CapabilityHost>,
    thread: BackendThread,
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
            thread: BackendThread::new(thread),
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
        let stop = || {
            self.engine.terminate(TerminationReason::Closed);
            self.engine.close();
        };
        self.thread.close(stop, &self.capabilities);
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.engine.termination()
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.capabilities
    }

    fn in_handler(&self) -> bool {
        self.thread.is_current()
    }
}

impl Drop for NativeBackend {
    fn drop(&mut self) {
        self.close();
    }
}
