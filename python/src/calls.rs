//! Calls into JS answered with Python values: `eval`s, and calls of a `JsFunction`, whose Python
//! methods live here because a call converts its arguments to JS and its result back.

use std::sync::{Arc, Weak};

use jscell_host::engine::{Request, RequestId, Response, Wait};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::{FromPython, ToPython};
use crate::errors::to_py_err;
use crate::js_function::JsFunction;
use crate::py_objects;
use crate::shared::RuntimeShared;

/// Run `request` for a value, blocking.
pub fn value_blocking<'py>(py: Python<'py>, runtime: &Arc<RuntimeShared>, request: Request) -> PyResult<Bound<'py, PyAny>> {
    match runtime.request_blocking(py, request)? {
        Response::Value(value) => ToPython::new(runtime).convert(py, &value),
        other => Err(PyRuntimeError::new_err(format!("unexpected engine response {other:?}"))),
    }
}

/// Start `request` and return an asyncio future of its value on the running loop.
pub fn value_async<'py>(py: Python<'py>, runtime: &Arc<RuntimeShared>, request: Request) -> PyResult<Bound<'py, PyAny>> {
    runtime.check_thread()?;
    runtime.check_open(py)?;
    let event_loop = runtime.enter_loop(py)?;
    let future = event_loop.call_method0("create_future")?;
    let (loop_ref, future_ref) = (event_loop.unbind(), future.clone().unbind());
    let shared = runtime.clone();
    // A hardened backend writes the request to its guest, which may not read: never with
    // the GIL held.
    let backend = &runtime.backend;
    let id = py.detach(move || backend.request(
        request,
        Box::new(move |result| {
            Python::attach(|py| {
                let (value, error) = match result {
                    Ok(Response::Value(value)) => match ToPython::new(&shared).convert(py, &value) {
                        Ok(value) => (value, None),
                        Err(e) => (py.None().into_bound(py), Some(e)),
                    },
                    Ok(other) => (py.None().into_bound(py), Some(PyRuntimeError::new_err(format!("unexpected {other:?}")))),
                    Err(e) => (py.None().into_bound(py), Some(to_py_err(py, e))),
                };
                let error = error.map(|e| e.into_value(py).into_any());
                let settle = py_objects::settle_future(py).cloned();
                let scheduled = settle.and_then(|settle| {
                    loop_ref.call_method1(py, "call_soon_threadsafe", (settle, future_ref, value, error))
                });
                // The loop may be closed already: nobody awaits the result any more.
                drop(scheduled);
            });
        }),
    ));
    // A caller that stops awaiting (a cancelled task, a `wait_for` timeout) stops the JS.
    future.call_method1("add_done_callback", (CancelOnDone { runtime: Arc::downgrade(runtime), id },))?;
    Ok(future)
}

/// Called by asyncio when an async call's future is done: a cancelled one cancels its request.
#[pyclass(frozen)]
struct CancelOnDone {
    runtime: Weak<RuntimeShared>,
    id: RequestId,
}

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, py: Python<'_>, future: Bound<'_, PyAny>) {
        let cancelled = future.call_method0("cancelled").and_then(|c| c.is_truthy()).unwrap_or(false);
        if let (true, Some(runtime)) = (cancelled, self.runtime.upgrade()) {
            let id = self.id;
            py.detach(|| runtime.backend.cancel(id));
        }
    }
}

fn call_request(
    py: Python<'_>,
    function: &JsFunction,
    args: &Bound<'_, PyTuple>,
    timeout: Option<&Bound<'_, PyAny>>,
    blocking: bool,
) -> PyResult<Request> {
    function.check_open()?;
    let timeout = match timeout {
        Some(timeout) => py_objects::seconds(py)?.call1((timeout,))?.extract::<Option<f64>>()?,
        None => None,
    };
    let runtime = &function.runtime;
    let mut converter = FromPython::new(runtime);
    let args = args.iter().map(|arg| converter.convert(py, &arg)).collect::<PyResult<Vec<_>>>()?;
    Ok(Request::Call { function: function.handle, args, timeout: runtime.timeout(timeout), wait: if blocking { Wait::Blocking } else { Wait::Async } })
}

#[pymethods]
impl JsFunction {
    #[pyo3(signature = (*args, timeout=None))]
    fn __call__<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.runtime.check_thread()?;
        let request = call_request(py, self, args, timeout, true)?;
        value_blocking(py, &self.runtime, request)
    }

    /// Call without blocking the event loop; returns an awaitable of the result.
    #[pyo3(signature = (*args, timeout=None))]
    fn call_async<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.runtime.check_thread()?;
        let request = call_request(py, self, args, timeout, false)?;
        value_async(py, &self.runtime, request)
    }

    /// Release the function; calling it afterwards raises. Idempotent.
    fn close(&self) {
        self.release();
    }

    fn is_closed(&self) -> bool {
        self.is_released()
    }

    fn __repr__(&self) -> String {
        format!("<jscell.JsFunction #{}{}>", self.handle.0, if self.is_released() { " closed" } else { "" })
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyRuntimeError::new_err("a JsFunction lives in its runtime and cannot be pickled"))
    }
}
