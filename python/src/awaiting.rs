//! Running a Python awaitable on an asyncio loop, for async host functions and module loaders.

use std::sync::Mutex;

use jscell_host::engine::{panic_message, Unpoisoned};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::py_objects;

/// What to do with an awaitable's outcome, on the loop's thread with the GIL held.
pub type OnDone = Box<dyn FnOnce(Python<'_>, PyResult<Bound<'_, PyAny>>) + Send>;

/// Run `awaitable` on `event_loop` and hand its outcome to `on_done`, exactly once.
pub fn await_on_loop(py: Python<'_>, event_loop: Py<PyAny>, awaitable: Bound<'_, PyAny>, on_done: OnDone) {
    let done = match Bound::new(py, AsyncDone { on_done: Mutex::new(Some(on_done)) }) {
        Ok(done) => done,
        Err(e) => return e.write_unraisable(py, None),
    };
    let scheduled = py_objects::schedule_awaitable(py).and_then(|schedule| schedule.call1((event_loop, awaitable, &done)));
    if let Err(error) = scheduled {
        if let Some(on_done) = done.get().on_done.locked().take() {
            on_done(py, Err(error));
        }
    }
}

/// Called by asyncio with the finished future of an awaitable started by `await_on_loop`.
#[pyclass(frozen)]
struct AsyncDone {
    on_done: Mutex<Option<OnDone>>,
}

#[pymethods]
impl AsyncDone {
    fn __call__(&self, py: Python<'_>, future: Bound<'_, PyAny>) {
        let Some(on_done) = self.on_done.locked().take() else { return };
        let cancelled = future.call_method0("cancelled").and_then(|c| c.is_truthy()).unwrap_or(false);
        let result = if cancelled {
            Err(PyRuntimeError::new_err("the awaitable was cancelled"))
        } else {
            // Reading a PanicException raised by the awaitable panics here: it costs this call.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.call_method0("result"))).unwrap_or_else(|panic| {
                Err(PyRuntimeError::new_err(format!("internal error: the async handler panicked: {}", panic_message(&*panic))))
            })
        };
        on_done(py, result);
    }
}
