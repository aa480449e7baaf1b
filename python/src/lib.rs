//! `jscell._jscell`: the native core behind the `jscell` package. The public API, validation
//! and docs live in Python (`python/jscell/`); threads, V8 and conversion live here.
//!
//! The modules, bottom-up (each uses only modules before it): `py_objects`, `errors`, `shared`
//! (the state a runtime's objects share), `awaiting`, `handlers` (module loading, console),
//! `js_function`, `convert` (values both ways, and Python callables served as host functions),
//! `calls` (requests answered with Python values; `JsFunction`'s methods), `runtime_core`.

mod awaiting;
mod calls;
mod convert;
mod errors;
mod handlers;
mod js_function;
mod py_objects;
mod runtime_core;
mod shared;
mod snapshots;

use jscell_host::Shown;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

#[pymodule(gil_used = true)]
fn _jscell(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<runtime_core::RuntimeCore>()?;
    module.add_class::<js_function::JsFunction>()?;
    module.add("MAX_WARM_GUESTS", jscell_host::MAX_WARM_GUESTS)?;
    module.add("GUEST_BOUNDS", guest_bounds(module.py())?)?;
    // The script every engine installs its web globals with, for the suite to check under Node.
    module.add("WEB_GLOBALS_SCRIPT", jscell_web::SCRIPT)?;
    module.add_function(wrap_pyfunction!(process_memory_floor, module)?)?;
    module.add_function(wrap_pyfunction!(snapshots::build_snapshot_bytes, module)?)?;
    module.add_function(wrap_pyfunction!(snapshots::check_snapshot, module)?)?;
    let exported = "JsFunction RuntimeCore MAX_WARM_GUESTS GUEST_BOUNDS WEB_GLOBALS_SCRIPT build_snapshot_bytes check_snapshot process_memory_floor";
    module.add("__all__", exported.split(' ').collect::<Vec<_>>())?;
    Ok(())
}

/// The smallest `max_process_memory` this machine can hold a guest to, and how: a memory cgroup
/// of the guest's own (what it commits), or the rlimit (what it reserves, which V8 makes large).
#[pyfunction]
fn process_memory_floor() -> (u64, &'static str) {
    let floor = jscell_host::process_memory_floor();
    (floor, if floor == jscell_host::PROCESS_MEMORY_FLOOR { "rlimit" } else { "cgroup" })
}

/// The hardened parent's bounds on its guest as rows `(name, value as text, value as a number
/// (seconds, bytes or a count; None when it follows the config), why)`.
fn guest_bounds(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyTuple>>> {
    jscell_host::guest_bounds()
        .into_iter()
        .map(|bound| {
            let number = match bound.value {
                Shown::Seconds(duration) => duration.as_secs_f64().into_pyobject(py)?.into_any(),
                Shown::Bytes(count) | Shown::Count(count) => count.into_pyobject(py)?.into_any(),
                Shown::Config(_) => py.None().into_bound(py),
            };
            PyTuple::new(py, [bound.name.into_pyobject(py)?.into_any(), bound.value.to_string().into_pyobject(py)?.into_any(), number, bound.why.into_pyobject(py)?.into_any()])
        })
        .collect()
}
