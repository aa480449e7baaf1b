//! `JsFunction`: a JS function handed to Python, called through its runtime. Conversion makes
//! and unwraps these; calling one converts values both ways, so its Python methods sit above
//! conversion, in `calls`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use jscell_host::engine::FunctionHandle;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::shared::RuntimeShared;

#[pyclass(module = "jscell", frozen)]
pub struct JsFunction {
    pub runtime: Arc<RuntimeShared>,
    pub handle: FunctionHandle,
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

    pub fn check_open(&self) -> PyResult<()> {
        if self.is_released() {
            return Err(PyRuntimeError::new_err("this JsFunction was closed; it can no longer be called"));
        }
        Ok(())
    }

    /// Release the function in its runtime; calling it afterwards raises. Idempotent.
    pub fn release(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) {
            self.runtime.backend.release(self.handle);
        }
    }

    pub fn is_released(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl Drop for JsFunction {
    fn drop(&mut self) {
        self.release();
    }
}
