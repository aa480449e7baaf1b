//! The embedder's other handlers: the module resolver and loader (an async loader runs on the
//! runtime's asyncio loop), and the console sink, which logs.

use std::sync::Arc;

use jscell_host::engine::{ConsoleLevel, HostError, JsException, ModuleReply};
use jscell_host::{ConsoleSink, ModuleLoader, ModuleResolver};
use pyo3::prelude::*;

use crate::awaiting::{await_on_loop, OnDone};
use crate::errors::host_error;
use crate::py_objects;
use crate::shared::RuntimeShared;

/// Answer a module fetch without the GIL: a hardened runtime's queue of answers is bounded, and
/// waiting for room there must not stop every other Python thread.
fn resolve_module(py: Python<'_>, reply: ModuleReply, source: Result<String, HostError>) {
    py.detach(move || reply.resolve(source));
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
            let event_loop = match RuntimeShared::upgrade(&weak).and_then(|rt| {
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
