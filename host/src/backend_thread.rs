//! The thread an in-process backend's engine runs on (native, wasm): joined when the backend
//! closes, and the one thread whose handlers must not block on their own engine.

use std::sync::Mutex;
use std::thread::{JoinHandle, ThreadId};

use jscell_engine::Unpoisoned;

use crate::capability_host::CapabilityHost;

pub struct BackendThread {
    id: ThreadId,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl BackendThread {
    pub fn new(handle: JoinHandle<()>) -> Self {
        BackendThread { id: handle.thread().id(), handle: Mutex::new(Some(handle)) }
    }

    /// Whether the caller runs on this thread (inside one of the engine's host handlers).
    pub fn is_current(&self) -> bool {
        std::thread::current().id() == self.id
    }

    /// `stop` the engine, then wait for its thread and revoke `capabilities`. Idempotent. From
    /// inside a handler the thread finishes on its own once the handler returns.
    pub fn close(&self, stop: impl FnOnce(), capabilities: &CapabilityHost) {
        let Some(handle) = self.handle.locked().take() else { return };
        stop();
        if !self.is_current() {
            let _ = handle.join();
            capabilities.revoke_all();
        }
    }
}
