//! The fork check, once for every backend. A process forked from the one that started a runtime
//! inherits a copy of it but none of its threads, and its guest stays the original's child: in
//! the copy, requests fail with `Terminated(Forked)`, everything else does nothing, and
//! dropping it leaves alone what belongs to the original process.

use std::mem::ManuallyDrop;
use std::sync::Arc;

use jscell_engine::{EngineError, FunctionHandle, ProcessStamp, Reply, Request, RequestId, Response, TerminationReason};

use crate::backend::{Backend, GuestReport};
use crate::capability_host::CapabilityHost;

pub struct ForkGuarded<B: Backend> {
    backend: ManuallyDrop<B>,
    stamp: ProcessStamp,
}

impl<B: Backend> ForkGuarded<B> {
    pub fn new(backend: B) -> Self {
        ForkGuarded { backend: ManuallyDrop::new(backend), stamp: ProcessStamp::current() }
    }

    /// The backend, in the process that started it.
    fn here(&self) -> Option<&B> {
        self.stamp.is_current().then_some(&*self.backend)
    }
}

impl<B: Backend> Backend for ForkGuarded<B> {
    fn request(&self, request: Request, reply: Reply) -> RequestId {
        match self.here() {
            Some(backend) => backend.request(request, reply),
            None => {
                reply(Err(EngineError::Terminated(TerminationReason::Forked)));
                RequestId(0)
            }
        }
    }

    fn cancel(&self, id: RequestId) {
        if let Some(backend) = self.here() {
            backend.cancel(id);
        }
    }

    fn release(&self, function: FunctionHandle) {
        if let Some(backend) = self.here() {
            backend.release(function);
        }
    }

    fn terminate(&self) {
        if let Some(backend) = self.here() {
            backend.terminate();
        }
    }

    fn close(&self) {
        if let Some(backend) = self.here() {
            backend.close();
        }
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.stamp.elsewhere().or_else(|| self.backend.termination())
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        self.backend.capabilities()
    }

    fn in_handler(&self) -> bool {
        self.here().is_some_and(|backend| backend.in_handler())
    }

    fn guest(&self) -> Option<GuestReport> {
        self.here().and_then(|backend| backend.guest())
    }

    fn request_blocking(&self, request: Request) -> Result<Response, EngineError> {
        match self.here() {
            Some(backend) => backend.request_blocking(request),
            None => Err(EngineError::Terminated(TerminationReason::Forked)),
        }
    }
}

impl<B: Backend> Drop for ForkGuarded<B> {
    fn drop(&mut self) {
        if self.stamp.is_current() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.backend) };
        }
    }
}
