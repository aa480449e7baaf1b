//! Startup snapshots from Python: building one (`SnapshotBuilder.build`) and checking bytes a
//! `RuntimeConfig` is given before any engine sees them.

use std::time::Duration;

use jscell_host::engine::{build_snapshot, engine_tag, open_snapshot, SnapshotRecipe};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::to_py_err;

/// The engine a backend's snapshots are for.
fn engine_for(backend: &str, jitless: bool) -> PyResult<String> {
    match backend {
        "native" | "hardened" => Ok(engine_tag(jitless)),
        "wasm" => Ok(jscell_wasm::snapshot_engine_tag()),
        other => Err(PyValueError::new_err(format!("no backend {other:?}"))),
    }
}

/// Build a snapshot for `backend` from `scripts` ((name, source) pairs, run in order).
#[pyfunction]
#[pyo3(signature = (backend, scripts, max_heap_size, timeout))]
pub fn build_snapshot_bytes<'py>(
    py: Python<'py>,
    backend: &str,
    scripts: Vec<(String, String)>,
    max_heap_size: Option<usize>,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyBytes>> {
    let recipe = SnapshotRecipe { scripts, max_heap_size, timeout: timeout.map(Duration::from_secs_f64) };
    let built = match backend {
        "native" | "hardened" => py.detach(|| build_snapshot(recipe)),
        "wasm" => py.detach(|| jscell_wasm::build_snapshot(recipe)),
        other => return Err(PyValueError::new_err(format!("no backend {other:?}"))),
    };
    let sealed = built.map_err(|e| to_py_err(py, e))?;
    Ok(PyBytes::new(py, &sealed))
}

/// Refuse `snapshot` (with the reason) unless a runtime of `backend` can start from it.
#[pyfunction]
#[pyo3(signature = (snapshot, backend, jitless, max_heap_size))]
pub fn check_snapshot(snapshot: &[u8], backend: &str, jitless: bool, max_heap_size: Option<usize>) -> PyResult<()> {
    let engine = engine_for(backend, jitless)?;
    open_snapshot(snapshot, &engine, max_heap_size).map(|_| ()).map_err(|e| PyValueError::new_err(format!("snapshot: {e}")))
}
