//! What a runtime's Python objects share: the backend, the owner thread, limits and the asyncio
//! loop async handlers run on.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::ThreadId;
use std::time::Duration;

use jscell_host::engine::Unpoisoned;
use jscell_host::engine::{ConversionLimits, EngineError, HostError, Request, Response, TerminationReason};
use jscell_host::Backend;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::errors::to_py_err;
use crate::py_objects;

pub struct RuntimeShared {
    pub backend: Box<dyn Backend>,
    pub owner: ThreadId,
    pub limits: ConversionLimits,
    pub default_timeout: Option<Duration>,
    /// The loop of the latest async entry point; async handlers are scheduled on it.
    event_loop: Mutex<Option<Py<PyAny>>>,
    /// Blocking calls in flight from the owner thread: its event loop cannot run meanwhile.
    blocking: AtomicUsize,
    closed: AtomicBool,
    /// The runtime's `jscell._streams.StreamCounters`: streams made by conversion report to it,
    /// and a `PyStreamSource` is accepted only by the runtime whose counters it holds.
    pub stream_counters: Py<PyAny>,
}

impl RuntimeShared {
    pub fn new(
        backend: Box<dyn Backend>,
        limits: ConversionLimits,
        default_timeout: Option<Duration>,
        stream_counters: Py<PyAny>,
    ) -> Self {
        RuntimeShared {
            stream_counters,
            backend,
            owner: std::thread::current().id(),
            limits,
            default_timeout,
            event_loop: Mutex::new(None),
            blocking: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// The runtime a handler serves, unless it is gone: handlers hold it weakly (it holds them).
    pub fn upgrade(weak: &Weak<Self>) -> Result<Arc<Self>, HostError> {
        weak.upgrade().ok_or_else(|| HostError::error("the runtime is closing"))
    }

    /// Refuse calls from other threads and re-entrant blocking calls from handlers.
    pub fn check_thread(&self) -> PyResult<()> {
        let current = std::thread::current();
        if self.backend.in_handler() {
            return Err(PyRuntimeError::new_err(
                "re-entrant call: a host function cannot call into its own runtime synchronously \
                 (it would wait for itself); use an async handler with eval_async instead",
            ));
        }
        if current.id() != self.owner {
            return Err(PyRuntimeError::new_err(format!(
                "a Runtime must be used from the thread that created it; this call came from thread {:?}",
                current.name().unwrap_or("<unnamed>")
            )));
        }
        Ok(())
    }

    pub fn check_open(&self, py: Python<'_>) -> PyResult<()> {
        match self.backend.termination() {
            Some(reason) => Err(to_py_err(py, EngineError::Terminated(reason))),
            None if self.closed.load(Ordering::SeqCst) => Err(to_py_err(py, EngineError::Terminated(TerminationReason::Closed))),
            None => Ok(()),
        }
    }

    pub fn timeout(&self, timeout: Option<f64>) -> Option<Duration> {
        timeout.map(Duration::from_secs_f64).or(self.default_timeout)
    }

    /// Send a request and wait for it with the GIL released.
    pub fn request_blocking(&self, py: Python<'_>, request: Request) -> PyResult<Response> {
        self.check_thread()?;
        self.check_open(py)?;
        self.blocking.fetch_add(1, Ordering::SeqCst);
        let result = py.detach(|| self.backend.request_blocking(request));
        self.blocking.fetch_sub(1, Ordering::SeqCst);
        result.map_err(|e| to_py_err(py, e))
    }

    /// The running loop of an async entry point, remembered: async handlers are scheduled on it.
    pub fn enter_loop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = py_objects::get_running_loop(py)?.call0().map_err(|_| {
            PyRuntimeError::new_err("async calls must be awaited inside a running asyncio event loop")
        })?;
        *self.event_loop.locked() = Some(event_loop.clone().unbind());
        Ok(event_loop)
    }

    /// The loop async handlers run on, or why there is none usable now.
    pub fn event_loop(&self, py: Python<'_>) -> Result<Py<PyAny>, &'static str> {
        if self.blocking.load(Ordering::SeqCst) > 0 {
            return Err("the event loop is not running: a synchronous call (eval) blocks it; use eval_async");
        }
        let event_loop = self.event_loop.locked().as_ref().map(|l| l.clone_ref(py));
        let usable = match (&event_loop, py_objects::loop_is_usable(py)) {
            (Some(l), Ok(check)) => check.call1((l,)).and_then(|r| r.is_truthy()).unwrap_or(false),
            _ => false,
        };
        match event_loop {
            Some(l) if usable => Ok(l),
            _ => Err("the event loop is not running: call the runtime through eval_async (or another async entry point) first"),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Stop the backend, with the GIL released so a handler waiting for it can finish.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            Python::attach(|py| py.detach(|| self.backend.close()));
        }
    }
}

impl Drop for RuntimeShared {
    fn drop(&mut self) {
        self.close();
    }
}
