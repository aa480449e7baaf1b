//! `JsFunction`: a JS function handed to Python, called through its runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jscell_host::engine::{FunctionHandle, Request};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::py_objects;
use crate::shared::RuntimeShared;

#[pyclass(module = "jscell", frozen)]
pub struct JsFunction {
    runtime: Arc<RuntimeShared>,
    handle: FunctionHandle,
    closed: AtomicBool,
}

impl JsFunction {
    pub fn new(runtime: Arc<RuntimeShared>, handle: FunctionHandle) -> Self {
        JsFunction { runtime, handle, closed: AtomicBool::new(false) }
    }

    /// The handle to pass this function back into `runtime`'s JS.
    pub fn handle_for(&self, _py: Python<'_>, runtime: &Arc<RuntimeShared>) -> PyResult<FunctionHandle> {
        if !Arc::ptr_eq(&self.runtime, runtime) {
            return Err(PyValueError::new_err("a JsFunction can only be passed back to the runtime it came from"));
        }
        self.check_open()?;
        Ok(self.handle)
    }

    fn check_open(&self) -> PyResult<()> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(PyRuntimeError::new_err("this JsFunction was closed; it can no longer be called"));
        }
        Ok(())
    }

    fn request(&self, py: Python<'_>, args: &Bound<'_, PyTuple>, timeout: Option<&Bound<'_, PyAny>>, blocking: bool) -> PyResult<Request> {
        self.check_open()?;
        let timeout = match timeout {
            Some(timeout) => py_objects::seconds(py)?.call1((timeout,))?.extract::<Option<f64>>()?,
            None => None,
        };
        Ok(Request::Call {
            function: self.handle,
            args: self.runtime.value_args(py, args)?,
            timeout: self.runtime.timeout(timeout),
            wait: self.runtime.wait(blocking),
        })
    }
}

#[pymethods]
impl JsFunction {
    #[pyo3(signature = (*args, timeout=None))]
    fn __call__<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.runtime.check_thread()?;
        let request = self.request(py, args, timeout, true)?;
        self.runtime.value_blocking(py, request)
    }

    /// Call without blocking the event loop; returns an awaitable of the result.
    #[pyo3(signature = (*args, timeout=None))]
    fn call_async<'py>(&self, py: Python<'py>, args: &Bound<'py, PyTuple>, timeout: Option<&Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
        self.runtime.check_thread()?;
        let request = self.request(py, args, timeout, false)?;
        self.runtime.value_async(py, request)
    }

    /// Release the function; calling it afterwards raises. Idempotent.
    fn close(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.runtime.backend.release(self.handle);
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    fn __repr__(&self) -> String {
        format!("<jscell.JsFunction #{}{}>", self.handle.0, if self.is_closed() { " closed" } else { "" })
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(PyRuntimeError::new_err("a JsFunction lives in its runtime and cannot be pickled"))
    }
}

impl Drop for JsFunction {
    fn drop(&mut self) {
        self.close();
    }
}
