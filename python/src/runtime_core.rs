//! `RuntimeCore`: the native half of `jscell.Runtime`. Arguments arrive validated by the
//! Python layer (`RuntimeConfig`); this side owns threads, blocking and conversion.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jscell_host::engine::{ConversionLimits, EngineConfig, EngineStats, Request, Response, SnapshotBytes, Wait};
use jscell_wasm::WasmBackend;
use jscell_host::{Backend, CapabilityHost, ForkGuarded, GuestOptions, HardenedBackend, Lifetime, ModuleRoot, NativeBackend, StartError};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::calls;
use crate::convert::{self, FromPython};
use crate::errors::{terminated, to_py_err};
use crate::handlers::{self, LoggingSink};
use crate::shared::RuntimeShared;

/// What `RuntimeCore` reads off the `jscell.RuntimeConfig` it is made with (validated there),
/// attribute by attribute.
#[derive(FromPyObject)]
struct RuntimeConfig {
    #[pyo3(attribute)]
    backend: String,
    #[pyo3(attribute)]
    max_heap_size: Option<usize>,
    #[pyo3(attribute)]
    initial_heap_size: Option<usize>,
    #[pyo3(attribute)]
    bootstrap: Option<String>,
    #[pyo3(attribute)]
    enable_console: bool,
    #[pyo3(attribute)]
    max_serialization_depth: usize,
    #[pyo3(attribute)]
    max_serialization_bytes: Option<usize>,
    #[pyo3(attribute("timeout"))]
    default_timeout: Option<f64>,
    #[pyo3(attribute)]
    module_root: Option<PathBuf>,
    #[pyo3(attribute)]
    guest_path: Option<PathBuf>,
    #[pyo3(attribute)]
    max_process_memory: Option<u64>,
    #[pyo3(attribute)]
    jitless: bool,
    #[pyo3(attribute)]
    /// Read as `bytes` (the config stores them so): one copy, not an item at a time.
    snapshot: Option<Py<PyBytes>>,
    #[pyo3(attribute)]
    warm_guests: usize,
}

#[pyclass(module = "jscell._jscell", frozen)]
pub struct RuntimeCore {
    shared: Arc<RuntimeShared>,
}

#[pymethods]
impl RuntimeCore {
    #[new]
    fn new(py: Python<'_>, config: RuntimeConfig, stream_counters: Py<PyAny>) -> PyResult<Self> {
        let limits = ConversionLimits {
            max_depth: config.max_serialization_depth,
            max_bytes: config.max_serialization_bytes.unwrap_or(ConversionLimits::DEFAULT_MAX_BYTES),
        };
        let engine = EngineConfig {
            max_heap_size: config.max_heap_size,
            initial_heap_size: config.initial_heap_size,
            bootstrap: config.bootstrap,
            enable_console: config.enable_console,
            limits,
            snapshot: config.snapshot.map(|bytes| SnapshotBytes(bytes.as_bytes(py).to_vec())),
        };
        let module_root = match config.module_root {
            Some(path) => Some(ModuleRoot::open(&path).map_err(|e| {
                PyValueError::new_err(format!("module_root {}: cannot open the directory: {e}", path.display()))
            })?),
            None => None,
        };
        let capabilities = CapabilityHost::new(module_root, limits);
        capabilities.set_console_sink(Arc::new(LoggingSink));
        let backend: Box<dyn Backend> = match (config.backend.as_str(), config.guest_path) {
            ("native", _) => Box::new(ForkGuarded::new(
                py.detach(|| NativeBackend::start(engine, capabilities, attached_thread)).map_err(|e| to_py_err(py, e))?,
            )),
            ("hardened", Some(guest_path)) => {
                let options = GuestOptions { guest_path, max_process_memory: config.max_process_memory, jitless: config.jitless };
                let started =
                    py.detach(|| HardenedBackend::start(engine, capabilities, options, config.warm_guests, attached_thread));
                Box::new(ForkGuarded::new(started.map_err(|e| match e {
                    StartError::Engine(error) => to_py_err(py, error),
                    StartError::Guest(ref reason) => terminated(py, reason, e.to_string()),
                    StartError::Spawn(error) => PyRuntimeError::new_err(error.to_string()),
                })?))
            }
            ("wasm", _) => Box::new(ForkGuarded::new(
                py.detach(|| WasmBackend::start(engine, capabilities, attached_thread)).map_err(|e| to_py_err(py, e))?,
            )),
            (other, _) => return Err(PyValueError::new_err(format!("no backend {other:?} (or no guest_path for it)"))),
        };
        let shared = RuntimeShared::new(backend, limits, config.default_timeout.map(Duration::from_secs_f64), stream_counters);
        Ok(RuntimeCore { shared: Arc::new(shared) })
    }

    #[pyo3(signature = (code, timeout))]
    fn eval<'py>(&self, py: Python<'py>, code: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let request = Request::Eval { source: code, timeout: self.shared.timeout(timeout), wait: Wait::Blocking };
        calls::value_blocking(py, &self.shared, request)
    }

    #[pyo3(signature = (code, timeout))]
    fn eval_async<'py>(&self, py: Python<'py>, code: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let request = Request::Eval { source: code, timeout: self.shared.timeout(timeout), wait: Wait::Async };
        calls::value_async(py, &self.shared, request)
    }

    #[pyo3(signature = (specifier, timeout))]
    fn eval_module<'py>(&self, py: Python<'py>, specifier: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let request = Request::EvalModule { specifier, timeout: self.shared.timeout(timeout), wait: Wait::Blocking };
        calls::value_blocking(py, &self.shared, request)
    }

    #[pyo3(signature = (specifier, timeout))]
    fn eval_module_async<'py>(&self, py: Python<'py>, specifier: String, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let request = Request::EvalModule { specifier, timeout: self.shared.timeout(timeout), wait: Wait::Async };
        calls::value_async(py, &self.shared, request)
    }

    fn add_static_module(&self, py: Python<'_>, name: String, source: String) -> PyResult<()> {
        self.shared.check_thread()?;
        self.shared.check_open(py)?;
        self.shared.backend.capabilities().modules.add_static(name, source);
        Ok(())
    }

    fn set_module_resolver(&self, py: Python<'_>, resolver: Py<PyAny>) -> PyResult<()> {
        self.shared.check_thread()?;
        self.shared.check_open(py)?;
        self.shared.backend.capabilities().modules.set_resolver(handlers::module_resolver(resolver));
        Ok(())
    }

    fn set_module_loader(&self, py: Python<'_>, loader: Py<PyAny>) -> PyResult<()> {
        self.shared.check_thread()?;
        self.shared.check_open(py)?;
        self.shared.backend.capabilities().modules.set_loader(handlers::module_loader(&self.shared, loader));
        Ok(())
    }

    fn register_op(&self, py: Python<'_>, name: String, handler: Py<PyAny>, is_async: bool) -> PyResult<u32> {
        self.shared.check_thread()?;
        self.shared.check_open(py)?;
        Ok(convert::grant(&self.shared, name, handler, is_async, Lifetime::Runtime).0)
    }

    /// `globalThis[name] = value`, callables inside `value` granted as host functions.
    fn bind(&self, py: Python<'_>, name: String, value: Bound<'_, PyAny>) -> PyResult<()> {
        self.shared.check_thread()?;
        self.shared.check_open(py)?;
        let value = FromPython::new(&self.shared).convert(py, &value)?;
        self.shared.request_blocking(py, Request::SetGlobal { name, value })?;
        Ok(())
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = match self.shared.request_blocking(py, Request::Stats)? {
            Response::Stats(stats) => stats_dict(py, &stats)?,
            other => return Err(PyRuntimeError::new_err(format!("unexpected engine response {other:?}"))),
        };
        dict.set_item("live_grants", self.shared.backend.capabilities().live_grants())?;
        if let Some(guest) = self.shared.backend.guest() {
            dict.set_item("guest_pid", guest.pid)?;
            dict.set_item("guest_rss_bytes", guest.rss_bytes)?;
            let layers = PyDict::new(py);
            for (name, active) in guest.sandbox_layers {
                layers.set_item(name, active)?;
            }
            dict.set_item("sandbox_layers", layers)?;
        }
        Ok(dict)
    }

    fn check_open(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.check_thread()?;
        self.shared.check_open(py)
    }

    fn is_closed(&self) -> bool {
        self.shared.is_closed()
    }

    /// Any thread may stop a runaway script.
    fn terminate(&self) {
        self.shared.backend.terminate();
    }

    fn close(&self) -> PyResult<()> {
        if self.shared.backend.in_handler() {
            return Err(PyRuntimeError::new_err("a runtime cannot be closed from inside one of its own handlers"));
        }
        self.shared.close();
        Ok(())
    }
}

/// Register the engine thread with the interpreter once for its whole life; handlers then only
/// take the GIL instead of creating and destroying a thread state on every call.
fn attached_thread(run: &mut (dyn FnMut() + Send)) {
    Python::attach(|py| py.detach(run));
}

impl Drop for RuntimeCore {
    fn drop(&mut self) {
        self.shared.close();
    }
}

fn stats_dict<'py>(py: Python<'py>, stats: &EngineStats) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("heap_total_bytes", stats.heap_total_bytes)?;
    dict.set_item("heap_used_bytes", stats.heap_used_bytes)?;
    dict.set_item("heap_limit_bytes", stats.heap_limit_bytes)?;
    dict.set_item("external_memory_bytes", stats.external_memory_bytes)?;
    dict.set_item("physical_total_bytes", stats.physical_total_bytes)?;
    dict.set_item("total_execution_time", stats.total_execution_time.as_secs_f64())?;
    dict.set_item("last_execution_time", stats.last_execution_time.as_secs_f64())?;
    let kind = (!stats.last_execution_kind.is_empty()).then_some(stats.last_execution_kind.as_str());
    dict.set_item("last_execution_kind", kind)?;
    dict.set_item("eval_sync_count", stats.eval_sync_count)?;
    dict.set_item("eval_async_count", stats.eval_async_count)?;
    dict.set_item("call_sync_count", stats.call_sync_count)?;
    dict.set_item("call_async_count", stats.call_async_count)?;
    dict.set_item("host_call_sync_count", stats.host_call_sync_count)?;
    dict.set_item("host_call_async_count", stats.host_call_async_count)?;
    dict.set_item("active_async_ops", stats.active_async_ops)?;
    dict.set_item("active_timers", stats.active_timers)?;
    dict.set_item("active_intervals", stats.active_intervals)?;
    Ok(dict)
}
