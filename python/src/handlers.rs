//! Python callables served to JS through the capability host: sync handlers run on the engine
//! thread with the GIL; async handlers run on the runtime's asyncio loop.

use std::sync::{Arc, Mutex, Weak};

use jscell_host::engine::Unpoisoned;
use jscell_host::engine::{panic_message, AsyncReply, ConsoleLevel, HostError, HostFunctionId, JsException, ModuleReply, Value};
use jscell_host::{ConsoleSink, Lifetime, ModuleLoader, ModuleResolver};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::convert::{FromPython, ToPython};
use crate::errors::host_error;
use crate::py_objects;
use crate::shared::RuntimeShared;

/// Grant `handler` to the runtime's JS and return its id.
pub fn grant(
    _py: Python<'_>,
    runtime: &Arc<RuntimeShared>,
    name: String,
    handler: Py<PyAny>,
    is_async: bool,
    lifetime: Lifetime,
) -> HostFunctionId {
    // Handlers live inside the runtime they serve: a weak reference avoids a cycle.
    let weak = Arc::downgrade(runtime);
    let capabilities = runtime.backend.capabilities();
    if is_async {
        let name_for_errors = name.clone();
        capabilities.grant_async(
            name,
            lifetime,
            Box::new(move |args, reply| Python::attach(|py| call_async(py, &weak, &name_for_errors, &handler, args, reply))),
        )
    } else {
        capabilities.grant_sync(name, lifetime, Box::new(move |args| Python::attach(|py| call_sync(py, &weak, &handler, args))))
    }
}

fn runtime_of(weak: &Weak<RuntimeShared>) -> Result<Arc<RuntimeShared>, HostError> {
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
    let runtime = runtime_of(weak)?;
    let args = python_args(py, &runtime, &args)?;
    let result = handler.bind(py).call1(args).map_err(|e| host_error(py, &e))?;
    if result.hasattr("__await__").unwrap_or(false) {
        // Never awaited: close it so Python does not warn about it later.
        let _ = result.call_method0("close");
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
        let runtime = runtime_of(weak)?;
        let event_loop = runtime
            .event_loop(py)
            .map_err(|why| HostError::error(format!("async handler '{name}' cannot run: {why}")))?;
        let args = python_args(py, &runtime, &args)?;
        let awaitable = handler.bind(py).call1(args).map_err(|e| host_error(py, &e))?;
        Ok((runtime, event_loop, awaitable))
    })();
    let (runtime, event_loop, awaitable) = match started {
        Ok(started) => started,
        Err(error) => return resolve(py, reply, Err(error)),
    };
    if !awaitable.hasattr("__await__").unwrap_or(false) {
        // An async-registered handler that answered at once.
        return resolve(py, reply, js_value(py, &runtime, &awaitable));
    }
    let weak = Arc::downgrade(&runtime);
    let on_done: OnDone = Box::new(move |py, result| {
        let value = runtime_of(&weak).and_then(|runtime| match result {
            Ok(value) => js_value(py, &runtime, &value),
            Err(error) => Err(host_error(py, &error)),
        });
        resolve(py, reply, value);
    });
    await_on_loop(py, event_loop, awaitable, on_done);
}

type OnDone = Box<dyn FnOnce(Python<'_>, PyResult<Bound<'_, PyAny>>) + Send>;

/// Answer an async host call without the GIL: a hardened runtime's queue of answers is bounded,
/// and waiting for room there must not stop every other Python thread.
fn resolve(py: Python<'_>, reply: AsyncReply, result: Result<Value, HostError>) {
    py.detach(move || reply.resolve(result));
}

/// Answer a module fetch without the GIL, for the same reason.
fn resolve_module(py: Python<'_>, reply: ModuleReply, source: Result<String, HostError>) {
    py.detach(move || reply.resolve(source));
}

/// Run `awaitable` on `event_loop` and hand its outcome to `on_done`, exactly once.
fn await_on_loop(py: Python<'_>, event_loop: Py<PyAny>, awaitable: Bound<'_, PyAny>, on_done: OnDone) {
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

/// The embedder's module resolver: `fn(specifier, referrer) -> url | None`.
pub fn module_resolver(resolver: Py<PyAny>) -> ModuleResolver {
    Box::new(move |specifier, referrer| {
        Python::attach(|py| {
            let url = resolver.bind(py).call1((specifier, referrer)).map_err(|e| host_error(py, &e))?;
            if url.is_none() {
                return Ok(None);
            }
            url.extract::<String>().map(Some).map_err(|_| {
                let kind = url.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                HostError::type_error(format!("the module resolver must return a str or None, not {kind}"))
            })
        })
    })
}

/// The embedder's module loader: `fn(specifier) -> source | awaitable of source`.
pub fn module_loader(runtime: &Arc<RuntimeShared>, loader: Py<PyAny>) -> ModuleLoader {
    let weak = Arc::downgrade(runtime);
    Box::new(move |url, reply| {
        Python::attach(|py| {
            let source = match loader.bind(py).call1((url,)) {
                Ok(source) => source,
                Err(error) => return resolve_module(py, reply, Err(host_error(py, &error))),
            };
            if !source.hasattr("__await__").unwrap_or(false) {
                return resolve_module(py, reply, module_source(&source));
            }
            let event_loop = match runtime_of(&weak).and_then(|rt| {
                rt.event_loop(py).map_err(|why| HostError::error(format!("async module loader cannot run: {why}")))
            }) {
                Ok(event_loop) => event_loop,
                Err(error) => {
                    // Never awaited: close it so Python does not warn about it later.
                    let _ = source.call_method0("close");
                    return resolve_module(py, reply, Err(error));
                }
            };
            let on_done: OnDone = Box::new(move |py, result| {
                let source = result.map_err(|e| host_error(py, &e)).and_then(|source| module_source(&source));
                resolve_module(py, reply, source);
            });
            await_on_loop(py, event_loop, source, on_done);
        })
    })
}

fn module_source(source: &Bound<'_, PyAny>) -> Result<String, HostError> {
    source.extract::<String>().map_err(|_| {
        let kind = source.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        HostError::type_error(format!("the module loader must return the module source as a str, not {kind}"))
    })
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
