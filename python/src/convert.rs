//! Python ↔ `Value`. Python → `Value` enforces the same depth, size and cycle rules the engine
//! applies in the other direction; callables become host functions granted to this runtime and
//! served here: sync handlers run on the engine thread with the GIL, async handlers on the
//! runtime's asyncio loop.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use jscell_host::engine::{
    deep, AsyncReply, Build, CallMode, ConversionError, HostError, HostFunctionId, ReadError, SerializedReader, Value,
    MAX_SAFE_INTEGER,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMemoryView, PySet, PyString, PyTuple,
};

use jscell_host::Lifetime;

use crate::awaiting::{await_on_loop, OnDone};
use crate::errors::{conversion_error, host_error};
use crate::js_function::JsFunction;
use crate::py_objects;
use crate::shared::RuntimeShared;

/// Fixed cost per node, matching the engine's accounting.
const NODE_BYTES: usize = 8;

pub struct FromPython<'a> {
    runtime: &'a Arc<RuntimeShared>,
    bytes: usize,
    /// Containers on the path from the root (by address), to detect cycles.
    path: HashSet<usize>,
}

impl<'a> FromPython<'a> {
    pub fn new(runtime: &'a Arc<RuntimeShared>) -> Self {
        FromPython { runtime, bytes: 0, path: HashSet::new() }
    }

    pub fn convert(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>) -> PyResult<Value> {
        self.convert_at(py, object, 0)
    }

    fn charge(&mut self, py: Python<'_>, bytes: usize) -> PyResult<()> {
        self.bytes = self.bytes.saturating_add(bytes + NODE_BYTES);
        let limit = self.runtime.limits.max_bytes;
        if self.bytes > limit {
            return Err(conversion_error(py, ConversionError::TooLarge { limit }));
        }
        Ok(())
    }

    fn convert_at(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
        deep(|| self.convert_here(py, object, depth))
    }

    fn convert_here(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
        if depth > self.runtime.limits.max_depth {
            return Err(conversion_error(py, ConversionError::TooDeep { limit: self.runtime.limits.max_depth }));
        }
        if let Ok(text) = object.cast::<PyString>() {
            let text = match text.to_str() {
                Ok(text) => text.to_owned(),
                Err(_) => with_lone_surrogates_replaced(text)?,
            };
            self.charge(py, text.len())?;
            return Ok(Value::String(text));
        }
        self.charge(py, 0)?;
        if object.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(flag) = object.cast::<PyBool>() {
            return Ok(Value::Bool(flag.is_true()));
        }
        if let Ok(int) = object.cast::<PyInt>() {
            return self.convert_int(py, int);
        }
        if let Ok(float) = object.cast::<PyFloat>() {
            return Ok(Value::Float(float.value()));
        }
        if object.is(py_objects::undefined(py)?) {
            return Ok(Value::Undefined);
        }
        if let Ok(bytes) = object.cast::<PyBytes>() {
            self.charge(py, bytes.as_bytes().len())?;
            return Ok(Value::Bytes(bytes.as_bytes().to_vec()));
        }
        if object.is_instance_of::<PyByteArray>() || object.is_instance_of::<PyMemoryView>() {
            let bytes = py.get_type::<PyBytes>().call1((object,))?;
            return self.convert_at(py, &bytes, depth);
        }
        if let Ok(function) = object.cast::<JsFunction>() {
            return function.get().handle_for(py, self.runtime).map(Value::Function);
        }
        if object.is_instance(py_objects::stream_source_type(py)?)? {
            return self.claim_stream_source(py, object);
        }
        if object.is_instance(py_objects::js_stream_type(py)?)? {
            let read = object.getattr("_read")?;
            return read.cast::<JsFunction>()?.get().handle_for(py, self.runtime).map(Value::Stream);
        }
        if object.is_instance(py_objects::datetime_type(py)?)? {
            return self.convert_datetime(py, object);
        }
        let is_container = object.is_instance_of::<PyList>()
            || object.is_instance_of::<PyTuple>()
            || object.is_instance_of::<PyDict>()
            || object.is_instance_of::<PySet>()
            || object.is_instance_of::<PyFrozenSet>();
        if is_container {
            let address = object.as_ptr() as usize;
            if !self.path.insert(address) {
                return Err(conversion_error(py, ConversionError::Cycle));
            }
            let result = self.convert_container(py, object, depth);
            self.path.remove(&address);
            return result;
        }
        if object.is_callable() {
            return self.grant_callable(py, object);
        }
        Err(conversion_error(
            py,
            ConversionError::Unsupported {
                what: format!("Python object of type {} to JavaScript", object.get_type().name()?),
            },
        ))
    }

    fn convert_int(&mut self, py: Python<'_>, int: &Bound<'_, PyInt>) -> PyResult<Value> {
        if let Ok(small) = int.extract::<i64>() {
            if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&small) {
                return Ok(Value::Int(small));
            }
        }
        // Beyond 2**53 - 1: a BigInt, carried as the magnitude's little-endian 64-bit words.
        let negative = int.lt(0)?;
        let magnitude = int.call_method0("__abs__")?;
        let bits: usize = magnitude.call_method0("bit_length")?.extract()?;
        let word_count = bits.div_ceil(64);
        self.charge(py, word_count * 8)?;
        let bytes = magnitude.call_method1("to_bytes", (word_count * 8, "little"))?;
        let words = bytes
            .cast::<PyBytes>()?
            .as_bytes()
            .chunks_exact(8)
            .map(|chunk| u64::from_le_bytes(chunk.try_into().expect("chunks of 8")))
            .collect();
        Ok(Value::BigInt { negative, words })
    }

    fn convert_datetime(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>) -> PyResult<Value> {
        let aware = if object.getattr("tzinfo")?.is_none() {
            let utc = py_objects::timezone(py)?.getattr("utc")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("tzinfo", utc)?;
            object.call_method("replace", (), Some(&kwargs))?
        } else {
            object.clone()
        };
        let seconds: f64 = aware.call_method0("timestamp")?.extract()?;
        Ok(Value::Date((seconds * 1000.0).round()))
    }

    fn convert_container(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
        if let Ok(dict) = object.cast::<PyDict>() {
            let string_keys = dict.keys().iter().all(|k| k.is_instance_of::<PyString>());
            if string_keys {
                let mut entries = Vec::with_capacity(dict.len());
                for (key, item) in dict.iter() {
                    let Value::String(key) = self.convert_at(py, &key, depth + 1)? else { unreachable!("checked str") };
                    entries.push((key, self.convert_at(py, &item, depth + 1)?));
                }
                return Ok(Value::Object(entries));
            }
            // Other keys have no place in a plain object: a Map keeps them.
            let mut entries = Vec::with_capacity(dict.len());
            for (key, item) in dict.iter() {
                entries.push((self.convert_at(py, &key, depth + 1)?, self.convert_at(py, &item, depth + 1)?));
            }
            return Ok(Value::Map(entries));
        }
        let mut items = Vec::new();
        for item in object.try_iter()? {
            items.push(self.convert_at(py, &item?, depth + 1)?);
        }
        if object.is_instance_of::<PySet>() || object.is_instance_of::<PyFrozenSet>() {
            Ok(Value::Set(items))
        } else {
            Ok(Value::Array(items))
        }
    }

    /// A `PyStreamSource` becomes a `ReadableStream` pulling from it through an async grant.
    fn claim_stream_source(&mut self, py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<Value> {
        if !source.getattr("_counters")?.is(self.runtime.stream_counters.bind(py)) {
            return Err(PyValueError::new_err(
                "a PyStreamSource can only be passed to the runtime whose stream_from_async_iterable made it",
            ));
        }
        let high_water_mark = source.getattr("high_water_mark")?.extract::<u32>()?;
        let serve = source.call_method0("_claim")?;
        let id = grant(self.runtime, "stream source".into(), serve.unbind(), true, Lifetime::WhileWrapped);
        Ok(Value::HostStream { source: id, high_water_mark })
    }

    fn grant_callable(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>) -> PyResult<Value> {
        let is_async = py_objects::is_async_callable(py)?.call1((object,))?.is_truthy()?;
        let name = object
            .getattr("__name__")
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "<callable>".into());
        let id = grant(self.runtime, name, object.clone().unbind(), is_async, Lifetime::WhileWrapped);
        let mode = if is_async { CallMode::Async } else { CallMode::Sync };
        Ok(Value::HostFunction { id, mode })
    }
}

/// Grant `handler` to the runtime's JS and return its id. It lives beside the conversions because
/// it is one: converting a callable grants it, and each call converts its arguments to Python and
/// the handler's answer back.
pub fn grant(
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
    let runtime = RuntimeShared::upgrade(weak)?;
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
        let runtime = RuntimeShared::upgrade(weak)?;
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
        let value = RuntimeShared::upgrade(&weak).and_then(|runtime| match result {
            Ok(value) => js_value(py, &runtime, &value),
            Err(error) => Err(host_error(py, &error)),
        });
        resolve(py, reply, value);
    });
    await_on_loop(py, event_loop, awaitable, on_done);
}

/// Answer an async host call without the GIL: a hardened runtime's queue of answers is bounded,
/// and waiting for room there must not stop every other Python thread.
fn resolve(py: Python<'_>, reply: AsyncReply, result: Result<Value, HostError>) {
    py.detach(move || reply.resolve(result));
}

pub struct ToPython<'a> {
    runtime: &'a Arc<RuntimeShared>,
    keys: KeyCache,
}

impl<'a> ToPython<'a> {
    pub fn new(runtime: &'a Arc<RuntimeShared>) -> Self {
        ToPython { runtime, keys: KeyCache::default() }
    }

    pub fn convert<'py>(&mut self, py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        deep(|| self.convert_here(py, value))
    }

    fn convert_here<'py>(&mut self, py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        Ok(match value {
            Value::Undefined => py_objects::undefined(py)?.clone(),
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Int(i) => i.into_pyobject(py)?.into_any(),
            Value::Float(f) => PyFloat::new(py, *f).into_any(),
            Value::BigInt { negative, words } => bigint(py, *negative, words)?,
            Value::String(s) => PyString::new(py, s).into_any(),
            Value::Bytes(bytes) => PyBytes::new(py, bytes).into_any(),
            Value::Array(items) => {
                let items = items.iter().map(|item| self.convert(py, item)).collect::<PyResult<Vec<_>>>()?;
                PyList::new(py, items)?.into_any()
            }
            Value::Object(entries) => {
                let dict = PyDict::new(py);
                for (key, item) in entries {
                    let key = self.keys.get(py, key);
                    dict.set_item(key, self.convert(py, item)?)?;
                }
                dict.into_any()
            }
            Value::Set(items) => {
                let items = items.iter().map(|item| self.convert(py, item)).collect::<PyResult<Vec<_>>>()?;
                set(py, items)?
            }
            Value::Map(entries) => {
                let mut pairs = Vec::with_capacity(entries.len());
                for (key, item) in entries {
                    pairs.push((self.convert(py, key)?, self.convert(py, item)?));
                }
                map(py, pairs)?
            }
            Value::Date(millis) => date(py, *millis)?,
            Value::Function(handle) => Bound::new(py, JsFunction::new(self.runtime.clone(), *handle))?.into_any(),
            Value::Stream(handle) => {
                let read = Bound::new(py, JsFunction::new(self.runtime.clone(), *handle))?;
                py_objects::js_stream_type(py)?.call1((read, self.runtime.stream_counters.bind(py)))?
            }
            Value::HostFunction { .. } | Value::HostStream { .. } => {
                return Err(conversion_error(py, ConversionError::Unsupported { what: format!("a host {} back to Python", value.kind()) }))
            }
            Value::Serialized(bytes) => {
                let mut build = PyBuild { py, keys: &mut self.keys };
                let read = without_cyclic_gc(|| SerializedReader::new(bytes, self.runtime.limits, 0, &mut build).read());
                match read {
                    Ok(object) => object,
                    Err(ReadError::Build(e)) => return Err(e),
                    Err(ReadError::Conversion(e)) => return Err(conversion_error(py, e)),
                    Err(ReadError::Unsupported | ReadError::Terminated) => {
                        return Err(conversion_error(py, ConversionError::Unsupported { what: "malformed serialized data".into() }))
                    }
                }
            }
        })
    }
}

/// One Python string per distinct object key: records repeat their keys. The keys are chosen by
/// JavaScript (on hardened, by a guest that may be compromised), so the map hashes with the
/// standard library's keyed hasher: with an unkeyed one, keys made to collide turn each lookup
/// into a scan of all of them.
#[derive(Default)]
struct KeyCache(HashMap<String, Py<PyString>>);

impl KeyCache {
    fn get<'py>(&mut self, py: Python<'py>, key: &str) -> Bound<'py, PyString> {
        match self.0.get(key) {
            Some(cached) => cached.bind(py).clone(),
            None => {
                let fresh = PyString::new(py, key);
                self.0.insert(key.to_owned(), fresh.clone().unbind());
                fresh
            }
        }
    }
}

/// Python objects straight from V8's serialized bytes, without a `Value` tree in between.
struct PyBuild<'py, 'c> {
    py: Python<'py>,
    keys: &'c mut KeyCache,
}

impl<'b, 'py> Build<'b> for PyBuild<'py, '_> {
    type Node = Bound<'py, PyAny>;
    type Key = Bound<'py, PyString>;
    type Error = PyErr;

    fn undefined(&mut self) -> PyResult<Self::Node> {
        Ok(py_objects::undefined(self.py)?.clone())
    }
    fn null(&mut self) -> PyResult<Self::Node> {
        Ok(self.py.None().into_bound(self.py))
    }
    fn boolean(&mut self, value: bool) -> PyResult<Self::Node> {
        Ok(PyBool::new(self.py, value).to_owned().into_any())
    }
    fn number(&mut self, value: Value) -> PyResult<Self::Node> {
        match value {
            Value::Int(i) => Ok(i.into_pyobject(self.py)?.into_any()),
            Value::Float(f) => Ok(PyFloat::new(self.py, f).into_any()),
            _ => unreachable!("the reader hands over numbers only"),
        }
    }
    fn bigint(&mut self, negative: bool, words: Vec<u64>) -> PyResult<Self::Node> {
        bigint(self.py, negative, &words)
    }
    fn string(&mut self, text: Cow<'b, str>) -> PyResult<Self::Node> {
        Ok(PyString::new(self.py, &text).into_any())
    }
    fn bytes(&mut self, bytes: &[u8]) -> PyResult<Self::Node> {
        Ok(PyBytes::new(self.py, bytes).into_any())
    }
    fn date(&mut self, millis: f64) -> PyResult<Self::Node> {
        date(self.py, millis)
    }
    fn key(&mut self, text: Cow<'b, str>) -> PyResult<Self::Key> {
        Ok(self.keys.get(self.py, &text))
    }
    fn array(&mut self, items: Vec<Self::Node>) -> PyResult<Self::Node> {
        Ok(PyList::new(self.py, items)?.into_any())
    }
    fn object(&mut self, entries: Vec<(Self::Key, Self::Node)>) -> PyResult<Self::Node> {
        let dict = PyDict::new(self.py);
        for (key, value) in entries {
            dict.set_item(key, value)?;
        }
        Ok(dict.into_any())
    }
    fn map(&mut self, entries: Vec<(Self::Node, Self::Node)>) -> PyResult<Self::Node> {
        map(self.py, entries)
    }
    fn set(&mut self, items: Vec<Self::Node>) -> PyResult<Self::Node> {
        set(self.py, items)
    }
}

/// Building a large value allocates many containers at once, and the cyclic collector would
/// scan the growing tree again and again although nothing in it can be garbage yet; it is
/// paused for the build.
fn without_cyclic_gc<R>(build: impl FnOnce() -> R) -> R {
    // SAFETY: called with the GIL held (every caller holds a `Python` token).
    let was_enabled = unsafe { pyo3::ffi::PyGC_Disable() } == 1;
    let result = build();
    if was_enabled {
        // SAFETY: as above.
        unsafe { pyo3::ffi::PyGC_Enable() };
    }
    result
}

fn bigint<'py>(py: Python<'py>, negative: bool, words: &[u64]) -> PyResult<Bound<'py, PyAny>> {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let magnitude = py.get_type::<PyInt>().call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))?;
    if negative {
        magnitude.neg()
    } else {
        Ok(magnitude)
    }
}

fn date(py: Python<'_>, millis: f64) -> PyResult<Bound<'_, PyAny>> {
    let utc = py_objects::timezone(py)?.getattr("utc")?;
    py_objects::datetime_type(py)?.call_method1("fromtimestamp", (millis / 1000.0, utc)).map_err(|_| {
        conversion_error(
            py,
            ConversionError::Unsupported { what: format!("the Date {millis} ms to a Python datetime (out of range)") },
        )
    })
}

fn set<'py>(py: Python<'py>, items: Vec<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
    let set = PySet::empty(py)?;
    for item in items {
        set.add(&item).map_err(|_| unhashable(py, "a Set", &item))?;
    }
    Ok(set.into_any())
}

fn map<'py>(py: Python<'py>, entries: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>) -> PyResult<Bound<'py, PyAny>> {
    let dict = PyDict::new(py);
    for (key, item) in entries {
        dict.set_item(&key, item).map_err(|_| unhashable(py, "a Map", &key))?;
    }
    Ok(dict.into_any())
}

/// Lone surrogates have no UTF-8 form: each becomes one U+FFFD, as JS → Python does too.
fn with_lone_surrogates_replaced(text: &Bound<'_, PyString>) -> PyResult<String> {
    let utf16 = text.call_method1("encode", ("utf-16-le", "surrogatepass"))?;
    let units: Vec<u16> =
        utf16.cast::<PyBytes>()?.as_bytes().chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
    Ok(String::from_utf16_lossy(&units))
}

fn unhashable(py: Python<'_>, container: &str, item: &Bound<'_, PyAny>) -> PyErr {
    let kind = item.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    conversion_error(
        py,
        ConversionError::Unsupported { what: format!("{container} holding an unhashable {kind} to a Python set or dict key") },
    )
}
