//! Python objects the native core needs, imported once per interpreter.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

macro_rules! cached {
    ($(#[$doc:meta])* $name:ident: $ty:ty = $module:literal . $attr:literal) => {
        $(#[$doc])*
        pub fn $name(py: Python<'_>) -> PyResult<&Bound<'_, $ty>> {
            static CELL: PyOnceLock<Py<$ty>> = PyOnceLock::new();
            CELL.import(py, $module, $attr)
        }
    };
}

cached!(javascript_error: PyType = "jscell._errors"."JavaScriptError");
cached!(runtime_terminated: PyType = "jscell._errors"."RuntimeTerminated");
cached!(execution_timeout: PyType = "jscell._errors"."ExecutionTimeout");
cached!(serialization_error: PyType = "jscell._errors"."SerializationError");
cached!(
    /// The `jscell.undefined` singleton, compared by identity.
    undefined: PyAny = "jscell._values"."undefined"
);
cached!(is_async_callable: PyAny = "jscell._runtime"."is_async_callable");
cached!(stream_source_type: PyType = "jscell._streams"."PyStreamSource");
cached!(js_stream_type: PyType = "jscell._streams"."JsStream");
cached!(seconds: PyAny = "jscell._config"."seconds");
cached!(settle_future: PyAny = "jscell._async"."settle");
cached!(schedule_awaitable: PyAny = "jscell._async"."schedule");
cached!(loop_is_usable: PyAny = "jscell._async"."loop_is_usable");
cached!(get_running_loop: PyAny = "asyncio"."get_running_loop");
cached!(cancelled_error: PyType = "asyncio"."CancelledError");
cached!(datetime_type: PyType = "datetime"."datetime");
cached!(timezone: PyAny = "datetime"."timezone");
cached!(get_logger: PyAny = "logging"."getLogger");
