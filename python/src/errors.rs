//! The one boundary where engine errors become Python exceptions.

use jscell_host::engine::{ConversionError, EngineError, HostError, JsException, TerminationReason};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::py_objects;

pub fn to_py_err(py: Python<'_>, error: EngineError) -> PyErr {
    let class = match &error {
        EngineError::JavaScript(exception) => return javascript_error(py, exception),
        EngineError::Timeout(timeout) => {
            let built = py_objects::execution_timeout(py).and_then(|class| class.call1((error.to_string(), timeout.as_secs_f64())));
            return built.map_or_else(|failed| failed, PyErr::from_value);
        }
        EngineError::Terminated(reason) => return terminated(py, reason, error.to_string()),
        EngineError::Conversion(_) => py_objects::serialization_error(py),
        EngineError::Cancelled => py_objects::cancelled_error(py),
        EngineError::Stalled | EngineError::InvalidRequest(_) => return PyRuntimeError::new_err(error.to_string()),
    };
    match class {
        Ok(class) => PyErr::from_type(class.clone(), error.to_string()),
        Err(import_failed) => import_failed,
    }
}

/// `RuntimeTerminated(message)` carrying `reason` as data: its name, and the signal or exit
/// code of a guest that died.
pub fn terminated(py: Python<'_>, reason: &TerminationReason, message: String) -> PyErr {
    let (signal, exit_code) = match reason {
        TerminationReason::GuestCrashed { signal } => (Some(*signal), None),
        TerminationReason::GuestExited { code } => (None, Some(*code)),
        _ => (None, None),
    };
    let built = py_objects::runtime_terminated(py).and_then(|class| class.call1((message, reason.name(), signal, exit_code)));
    match built {
        Ok(instance) => PyErr::from_value(instance),
        Err(failed) => failed,
    }
}

pub fn conversion_error(py: Python<'_>, error: ConversionError) -> PyErr {
    to_py_err(py, EngineError::Conversion(error))
}

fn javascript_error(py: Python<'_>, exception: &JsException) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let frames = exception
            .frames
            .iter()
            .map(|frame| {
                let dict = PyDict::new(py);
                dict.set_item("function_name", &frame.function_name)?;
                dict.set_item("file_name", &frame.file_name)?;
                dict.set_item("line_number", frame.line_number)?;
                dict.set_item("column_number", frame.column_number)?;
                Ok(dict)
            })
            .collect::<PyResult<Vec<_>>>()?;
        let args = (&exception.name, &exception.message, &exception.stack, frames);
        let instance = py_objects::javascript_error(py)?.call1(args)?;
        Ok(PyErr::from_value(instance))
    };
    build().unwrap_or_else(|e| e)
}

/// A Python exception raised by a handler, as the JS error JS code can catch: its message
/// names the Python exception type and text.
pub fn host_error(py: Python<'_>, error: &PyErr) -> HostError {
    let kind = error.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let text = error.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    HostError::error(if text.is_empty() { kind } else { format!("{kind}: {text}") })
}
