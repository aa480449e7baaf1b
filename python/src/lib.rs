//! `jscell._jscell`: the native core behind the `jscell` package. The public API, validation
//! and docs live in Python (`python/jscell/`); threads, V8 and conversion live here.

mod convert;
mod errors;
mod handlers;
mod js_function;
mod py_objects;
mod runtime_core;
mod shared;

use pyo3::prelude::*;

#[pymodule(gil_used = true)]
fn _jscell(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<runtime_core::RuntimeCore>()?;
    module.add_class::<js_function::JsFunction>()?;
    module.add("MAX_WARM_GUESTS", jscell_host::MAX_WARM_GUESTS)?;
    module.add("__all__", ["JsFunction", "RuntimeCore", "MAX_WARM_GUESTS"])?;
    Ok(())
}
