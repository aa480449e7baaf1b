//! The wasm backend: a QuickJS-ng guest in wasmtime, on a dedicated thread of this process.
//! Requests reach its event loop through the inbox, as on the native backend; what the guest
//! may do is what its capability host grants.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use jscell_engine::{
    start_thread, EngineConfig, EngineError, EngineThreadWrapper, FunctionHandle, Inbound, InboxSender, Reply, Request, RequestId,
    TerminationReason,
};
use jscell_host::{Backend, BackendThread, CapabilityHost, GrantDispatch};

use crate::event_loop::EventLoop;
use crate::guest_module::GuestModule;
use crate::imports::GuestState;
use crate::instance::GuestInstance;
use crate::shared::Shared;

pub struct WasmBackend {
    inbox: InboxSender,
    shared: Arc<Shared>,
    capabilities: Arc<CapabilityHost>,
    thread: BackendThread,
    next_request: AtomicU64,
}

pub(crate) fn internal(what: String) -> EngineError {
    EngineError::Terminated(TerminationReason::InternalError(what))
}

/// A seed of its own for each instance's Math.random() and hash tables.
fn fresh_seed() -> u64 {
    RandomState::new().build_hasher().finish()
}

impl WasmBackend {
    /// Start a guest on its own thread; returns once it has booted and `bootstrap` has run.
    pub fn start(config: EngineConfig, capabilities: Arc<CapabilityHost>, wrap_thread: EngineThreadWrapper) -> Result<Self, EngineError> {
        WasmBackend::start_on(GuestModule::get().map_err(internal)?, config, capabilities, wrap_thread)
    }

    /// `start`, on an instance of `module`.
    pub(crate) fn start_on(
        module: &'static GuestModule,
        config: EngineConfig,
        capabilities: Arc<CapabilityHost>,
        wrap_thread: EngineThreadWrapper,
    ) -> Result<Self, EngineError> {
        let shared = Arc::new(Shared::default());
        let (inbox, receiver) = mpsc::channel();
        let (dispatch, guest_inbox, guest_shared) = (GrantDispatch(capabilities.clone()), inbox.clone(), shared.clone());
        let ((), thread) = start_thread("jscell-wasm", wrap_thread, move || {
            let state = GuestState::new(dispatch, config.limits, guest_inbox, guest_shared.clone());
            let guest = GuestInstance::new(module, state, &config, fresh_seed()).map_err(internal)?;
            let mut event_loop = EventLoop::new(guest, guest_shared.clone(), receiver, config);
            event_loop.bootstrap()?;
            let on_panic = move |panic: &str| {
                guest_shared.terminate(TerminationReason::InternalError(format!("the wasm runtime's thread panicked: {panic}")))
            };
            Ok(((), move || event_loop.run_forever(), on_panic))
        })?;
        Ok(WasmBackend {
            inbox,
            shared,
            capabilities,
            thread: BackendThread::new(thread),
            next_request: AtomicU64::new(1),
        })
    }

    fn send(&self, id: Option<RequestId>, request: Request, reply: Reply) {
        if let Err(failed) = self.inbox.send(Inbound::Request { id, request, reply }) {
            if let Inbound::Request { reply, .. } = failed.0 {
                reply(Err(EngineError::Terminated(self.termination().unwrap_or(TerminationReason::Closed))));
            }
        }
    }
}

impl Backend for WasmBackend {
    fn request(&self, request: Request, reply: Reply) -> RequestId {
        let id = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed));
        self.send(Some(id), request, reply);
        id
    }

    fn cancel(&self, id: RequestId) {
        self.shared.cancel(id);
        let _ = self.inbox.send(Inbound::Cancel { id });
    }

    fn release(&self, function: FunctionHandle) {
        self.send(None, Request::Release { functions: vec![function] }, Box::new(|_| {}));
    }

    fn terminate(&self) {
        self.shared.terminate(TerminationReason::Requested);
        let _ = self.inbox.send(Inbound::Wake);
    }

    fn close(&self) {
        let stop = || {
            self.shared.terminate(TerminationReason::Closed);
            let _ = self.inbox.send(Inbound::Close);
        };
        self.thread.close(stop, &self.capabilities);
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.shared.termination()
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.capabilities
    }

    fn in_handler(&self) -> bool {
        self.thread.is_current()
    }
}

impl Drop for WasmBackend {
    fn drop(&mut self) {
        self.close();
    }
}
