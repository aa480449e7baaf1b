//! Python callables served to JS through the capability host: sync handlers run on the engine
//! thread with the GIL; async handlers run on the runtime's asyncio loop.

use std::sync::{Arc, Mutex, Weak};

use jscell_host::engine::{AsyncReply, ConsoleLevel, HostError, HostFunctionId, JsException, Value};
use jscell_host::ConsoleSink;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::{FromPython, ToPython};
use crate::errors::host_error;
use crate::py_objects;
use crate::shared::RuntimeShared;

/// Grant `handler` to the runtime's JS and return its id.
pub fn grant(_py: Python<'_>, runtime: &Arc<RuntimeShared>, name: String, handler: Py<PyAny>, is_async: bool) -> HostFunctionId {
    // Handlers live inside the runtime they serve: a weak reference avoids a cycle.
    let weak = Arc::downgrade(runtime);
    let capabilities = runtime.backend.capabilities();
    if is_async {
        let name_for_errors = name.clone();
        capabilities.grant_async(
            name,
            Box::new(move |args, reply| Python::attach(|py| call_async(py, &weak, &name_for_errors, &handler, args, reply))),
        )
    } else {
        capabilities.grant_sync(name, Box::new(move |args| Python::attach(|py| call_sync(py, &weak, &handler, args))))
    }
}

fn runtime(weak: &Weak<RuntimeShared>) -> Result<Arc<RuntimeShared>, HostError> {
    weak.upgrade().ok_or_else(|| HostError::error("the runtime is closing"))
}

fn python_args<'py>(py: Python<'py>, runtime: &Arc<RuntimeShared>, args: &[Value]) -> Result<Bound<'py, PyTuple>, HostError> {
    let mut converter = ToPython::new(runtime);
    let args = args.iter().map(|a| converter.convert(py, a)).collect::<PyResult<Vec<_>>>();
    args.and_then(|args| PyTuple::new(py, args)).map_err(|e| host_error(py, &e))
}

fn js_value(py: Python<'_>, runtime: &Arc<RuntimeShared>, value: &Bound<'_, PyAny>) -> Result<Value, HostError> {
    FromPython::new(runtime).convert(py, value).map_err(|e| {
        let mut error = host_error(py, &e);
        error.message = format!("the handler's return value cannot be converted: {}", error.message);
        error
    })
}

fn call_sync(py: Python<'_>, weak: &Weak<RuntimeShared>, handler: &Py<PyAny>, args: Vec<Value>) -> Result<Value, HostError> {
    let runtime = runtime(weak)?;
    let args = python_args(py, &runtime, &args)?;
    let result = handler.bind(py).call1(args).map_err(|e| host_error(py, &e))?;
    if result.hasattr("__await__").unwrap_or(false) {
        return Err(HostError::type_error(
            "a synchronous handler returned an awaitable; register it as async (mode=\"async\" or an async def)",
        ));
    }
    js_value(py, &runtime, &result)
}

fn call_async(
    py: Python<'_>,
    weak: &Weak<RuntimeShared>,
    name: &str,
    handler: &Py<PyAny>,
    args: Vec<Value>,
    reply: AsyncReply,
) {
    let started = (|| {
        let runtime = runtime(weak)?;
        let event_loop = runtime
            .event_loop(py)
            .map_err(|why| HostError::error(format!("async handler '{name}' cannot run: {why}")))?;
        let args = python_args(py, &runtime, &args)?;
        let awaitable = handler.bind(py).call1(args).map_err(|e| host_error(py, &e))?;
        Ok((runtime, event_loop, awaitable))
    })();
    let (runtime, event_loop, awaitable) = match started {
        Ok(started) => started,
        Err(error) => return reply.resolve(Err(error)),
    };
    if !awaitable.hasattr("__await__").unwrap_or(false) {
        // An async-registered handler that answered at once.
        return reply.resolve(js_value(py, &runtime, &awaitable));
    }
    let done = AsyncDone { runtime: Arc::downgrade(&runtime), reply: Mutex::new(Some(reply)) };
    let done = match Bound::new(py, done) {
        Ok(done) => done,
        Err(e) => return e.write_unraisable(py, None),
    };
    let scheduled = py_objects::schedule_awaitable(py).and_then(|schedule| schedule.call1((event_loop, awaitable, &done)));
    if let Err(e) = scheduled {
        if let Some(reply) = done.get().reply.lock().unwrap().take() {
            reply.resolve(Err(host_error(py, &e)));
        }
    }
}

/// Called by asyncio with the finished future of an async handler.
#[pyclass(frozen)]
struct AsyncDone {
    runtime: Weak<RuntimeShared>,
    reply: Mutex<Option<AsyncReply>>,
}

#[pymethods]
impl AsyncDone {
    fn __call__(&self, py: Python<'_>, future: Bound<'_, PyAny>) {
        let Some(reply) = self.reply.lock().unwrap().take() else { return };
        let result = (|| {
            let runtime = runtime(&self.runtime)?;
            if future.call_method0("cancelled").and_then(|c| c.is_truthy()).unwrap_or(false) {
                return Err(HostError::error("the async handler was cancelled"));
            }
            let value = future.call_method0("result").map_err(|e| host_error(py, &e))?;
            js_value(py, &runtime, &value)
        })();
        reply.resolve(result);
    }
}

/// Console output and uncaught errors go to Python `logging`.
pub struct LoggingSink;

impl ConsoleSink for LoggingSink {
    fn console(&self, level: ConsoleLevel, message: String) {
        let level = match level {
            ConsoleLevel::Debug => 10,
            ConsoleLevel::Info | ConsoleLevel::Log => 20,
            ConsoleLevel::Warn => 30,
            ConsoleLevel::Error => 40,
        };
        log("jscell.console", level, message);
    }

    fn uncaught_exception(&self, exception: JsException) {
        log("jscell", 30, format!("uncaught exception in a JavaScript timer or task: {exception}"));
    }
}

fn log(logger: &str, level: i32, message: String) {
    Python::attach(|py| {
        let logged = py_objects::get_logger(py)
            .and_then(|get| get.call1((logger,)))
            .and_then(|logger| logger.call_method1("log", (level, "%s", message)));
        if let Err(e) = logged {
            e.write_unraisable(py, None);
        }
    });
}
