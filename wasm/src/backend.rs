//! The wasm backend: a QuickJS-ng guest in wasmtime, on a dedicated thread of this process.
//! Requests reach its event loop through the inbox, as on the native backend; what the guest
//! may do is what its capability host grants.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};

use jscell_engine::{
    panic_message, EngineConfig, EngineError, EngineThreadWrapper, FunctionHandle, Inbound, InboxSender, Reply, Request, RequestId,
    TerminationReason, Unpoisoned, ENGINE_THREAD_STACK,
};
use jscell_host::{Backend, CapabilityHost, GrantDispatch};

use crate::event_loop::EventLoop;
use crate::guest_module::GuestModule;
use crate::imports::GuestState;
use crate::instance::GuestInstance;
use crate::shared::Shared;

pub struct WasmBackend {
    inbox: InboxSender,
    shared: Arc<Shared>,
    capabilities: Arc<CapabilityHost>,
    thread_id: ThreadId,
    thread: Mutex<Option<JoinHandle<()>>>,
    next_request: AtomicU64,
}

fn internal(what: String) -> EngineError {
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
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let mut start = Some((config, capabilities.clone(), shared.clone(), inbox.clone(), receiver, started_tx));
        let thread = std::thread::Builder::new()
            .name("jscell-wasm".into())
            .stack_size(ENGINE_THREAD_STACK)
            .spawn(move || {
                wrap_thread(&mut || {
                    let Some((config, capabilities, shared, inbox, receiver, started_tx)) = start.take() else { return };
                    let state = GuestState::new(GrantDispatch(capabilities), config.limits, inbox, shared.clone());
                    let started = GuestInstance::new(module, state, &config, fresh_seed()).map_err(internal).and_then(|guest| {
                        let mut event_loop = EventLoop::new(guest, shared.clone(), receiver, config);
                        event_loop.bootstrap().map(|()| event_loop)
                    });
                    match started {
                        Ok(event_loop) => {
                            if started_tx.send(Ok(())).is_ok() {
                                let run = std::panic::AssertUnwindSafe(|| event_loop.run_forever());
                                if let Err(panic) = std::panic::catch_unwind(run) {
                                    shared.terminate(TerminationReason::InternalError(format!(
                                        "the wasm runtime's thread panicked: {}",
                                        panic_message(&*panic)
                                    )));
                                }
                            }
                        }
                        Err(error) => drop(started_tx.send(Err(error))),
                    }
                })
            })
            .map_err(|e| internal(format!("cannot start a thread: {e}")))?;
        let started = started_rx.recv().unwrap_or_else(|_| Err(internal("the wasm runtime's thread died while starting".into())));
        if let Err(error) = started {
            let _ = thread.join();
            return Err(error);
        }
        Ok(WasmBackend {
            inbox,
            shared,
            capabilities,
            thread_id: thread.thread().id(),
            thread: Mutex::new(Some(thread)),
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
        let Some(thread) = self.thread.locked().take() else { return };
        self.shared.terminate(TerminationReason::Closed);
        let _ = self.inbox.send(Inbound::Close);
        // From inside a handler the thread finishes on its own once the handler returns.
        if std::thread::current().id() != self.thread_id {
            let _ = thread.join();
            self.capabilities.revoke_all();
        }
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.shared.termination()
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.capabilities
    }

    fn in_handler(&self) -> bool {
        std::thread::current().id() == self.thread_id
    }
}

impl Drop for WasmBackend {
    fn drop(&mut self) {
        self.close();
    }
}
