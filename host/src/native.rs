//! The native backend: the engine on a dedicated thread of this process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};

use jscell_engine::Unpoisoned;
use jscell_engine::{
    panic_message,     Engine, EngineConfig, EngineError, EngineHandle, FunctionHandle, ProcessStamp, Reply, Request, RequestId, TerminationReason,
    ENGINE_THREAD_STACK,
};

use crate::backend::Backend;
use crate::capability_host::{CapabilityHost, EngineHost};

/// Wraps the whole life of the engine thread, so an embedder can set up per-thread state once
/// (the Python layer keeps the thread registered with the interpreter instead of registering
/// it again for every handler call).
pub type EngineThreadWrapper = fn(&mut (dyn FnMut() + Send));

pub struct NativeBackend {
    engine: EngineHandle,
    capabilities: Arc<CapabilityHost>,
    thread_id: ThreadId,
    thread: Mutex<Option<JoinHandle<()>>>,
    stamp: ProcessStamp,
    next_request: AtomicU64,
}

impl NativeBackend {
    /// Start an engine thread; returns once the isolate exists and `bootstrap` has run.
    pub fn start(
        config: EngineConfig,
        capabilities: Arc<CapabilityHost>,
        wrap_thread: EngineThreadWrapper,
    ) -> Result<Self, EngineError> {
        let stamp = ProcessStamp::current();
        let (started_tx, started_rx) = mpsc::sync_channel(1);
        let host = EngineHost(capabilities.clone());
        let thread = std::thread::Builder::new()
            .name("jscell-engine".into())
            .stack_size(ENGINE_THREAD_STACK)
            .spawn(move || {
                let mut start = Some((config, host, started_tx));
                wrap_thread(&mut || {
                    let Some((config, host, started_tx)) = start.take() else { return };
                    match Engine::new(&config, Box::new(host)) {
                        Ok((engine, handle)) => {
                            if started_tx.send(Ok(handle.clone())).is_ok() {
                                // A bug in the engine must cost this runtime, not the process.
                                let run = std::panic::AssertUnwindSafe(|| engine.run());
                                if let Err(panic) = std::panic::catch_unwind(run) {
                                    let reason = format!("the engine thread panicked: {}", panic_message(&*panic));
                                    handle.terminate(TerminationReason::InternalError(reason));
                                }
                            }
                        }
                        Err(error) => drop(started_tx.send(Err(error))),
                    }
                })
            })
            .map_err(|e| EngineError::Terminated(TerminationReason::InternalError(format!("cannot start a thread: {e}"))))?;
        let thread_id = thread.thread().id();
        let started = started_rx.recv().unwrap_or_else(|_| {
            Err(EngineError::Terminated(TerminationReason::InternalError("the engine thread died while starting".into())))
        });
        match started {
            Ok(engine) => Ok(NativeBackend {
                engine,
                capabilities,
                thread_id,
                thread: Mutex::new(Some(thread)),
                stamp,
                next_request: AtomicU64::new(1),
            }),
            Err(error) => {
                let _ = thread.join();
                Err(error)
            }
        }
    }
}

impl Backend for NativeBackend {
    fn request(&self, request: Request, reply: Reply) -> RequestId {
        let id = RequestId(self.next_request.fetch_add(1, Ordering::Relaxed));
        match self.stamp.elsewhere() {
            Some(reason) => reply(Err(EngineError::Terminated(reason))),
            None => self.engine.send_cancellable(Some(id), request, reply),
        }
        id
    }

    fn cancel(&self, id: RequestId) {
        if self.stamp.is_current() {
            self.engine.cancel(id);
        }
    }

    fn release(&self, function: FunctionHandle) {
        if self.stamp.is_current() {
            self.engine.send(Request::Release { functions: vec![function] }, Box::new(|_| {}));
        }
    }

    fn terminate(&self) {
        if self.stamp.is_current() {
            self.engine.terminate(TerminationReason::Requested);
        }
    }

    fn close(&self) {
        if !self.stamp.is_current() {
            return;
        }
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
        self.stamp.elsewhere().or_else(|| self.engine.termination())
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
