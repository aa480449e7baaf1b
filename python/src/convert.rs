//! Python ↔ `Value`. Python → `Value` enforces the same depth, size and cycle rules the engine
//! applies in the other direction; callables become host functions granted to this runtime.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use jscell_host::engine::{CallMode, ConversionError, Value, MAX_SAFE_INTEGER};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMemoryView, PySet, PyString, PyTuple,
};

use crate::errors::conversion_error;
use crate::handlers;
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
        if depth > self.runtime.limits.max_depth {
            return Err(conversion_error(py, ConversionError::TooDeep { limit: self.runtime.limits.max_depth }));
        }
        if let Ok(text) = object.cast::<PyString>() {
            let text = match text.to_str() {
                Ok(text) => text.to_owned(),
                // Lone surrogates have no UTF-8 form; they become U+FFFD, as documented.
                Err(_) => text.to_string_lossy().into_owned(),
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
            if small.abs() <= MAX_SAFE_INTEGER {
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

    fn grant_callable(&mut self, py: Python<'_>, object: &Bound<'_, PyAny>) -> PyResult<Value> {
        let is_async = py_objects::is_async_callable(py)?.call1((object,))?.is_truthy()?;
        let name = object
            .getattr("__name__")
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "<callable>".into());
        let id = handlers::grant(py, self.runtime, name, object.clone().unbind(), is_async);
        let mode = if is_async { CallMode::Async } else { CallMode::Sync };
        Ok(Value::HostFunction { id, mode })
    }
}

pub struct ToPython<'a> {
    runtime: &'a Arc<RuntimeShared>,
    /// Object keys repeat across arrays of records; one Python string per distinct key.
    keys: HashMap<String, Py<PyString>>,
}

impl<'a> ToPython<'a> {
    pub fn new(runtime: &'a Arc<RuntimeShared>) -> Self {
        ToPython { runtime, keys: HashMap::new() }
    }

    pub fn convert<'py>(&mut self, py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
        Ok(match value {
            Value::Undefined => py_objects::undefined(py)?.clone(),
            Value::Null => py.None().into_bound(py),
            Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
            Value::Int(i) => i.into_pyobject(py)?.into_any(),
            Value::Float(f) => PyFloat::new(py, *f).into_any(),
            Value::BigInt { negative, words } => {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                let magnitude = py.get_type::<PyInt>().call_method1("from_bytes", (PyBytes::new(py, &bytes), "little"))?;
                if *negative {
                    magnitude.neg()?
                } else {
                    magnitude
                }
            }
            Value::String(s) => PyString::new(py, s).into_any(),
            Value::Bytes(bytes) => PyBytes::new(py, bytes).into_any(),
            Value::Array(items) => {
                let list = PyList::empty(py);
                for item in items {
                    list.append(self.convert(py, item)?)?;
                }
                list.into_any()
            }
            Value::Object(entries) => {
                let dict = PyDict::new(py);
                for (key, item) in entries {
                    let key = match self.keys.get(key) {
                        Some(cached) => cached.bind(py).clone(),
                        None => {
                            let fresh = PyString::new(py, key);
                            self.keys.insert(key.clone(), fresh.clone().unbind());
                            fresh
                        }
                    };
                    dict.set_item(key, self.convert(py, item)?)?;
                }
                dict.into_any()
            }
            Value::Set(items) => {
                let set = PySet::empty(py)?;
                for item in items {
                    let item = self.convert(py, item)?;
                    set.add(&item).map_err(|_| unhashable(py, "a Set", &item))?;
                }
                set.into_any()
            }
            Value::Map(entries) => {
                let dict = PyDict::new(py);
                for (key, item) in entries {
                    let key = self.convert(py, key)?;
                    let item = self.convert(py, item)?;
                    dict.set_item(&key, item).map_err(|_| unhashable(py, "a Map", &key))?;
                }
                dict.into_any()
            }
            Value::Date(millis) => {
                let utc = py_objects::timezone(py)?.getattr("utc")?;
                py_objects::datetime_type(py)?
                    .call_method1("fromtimestamp", (millis / 1000.0, utc))
                    .map_err(|_| {
                        conversion_error(
                            py,
                            ConversionError::Unsupported { what: format!("the Date {millis} ms to a Python datetime (out of range)") },
                        )
                    })?
            }
            Value::Function(handle) => Bound::new(py, JsFunction::new(self.runtime.clone(), *handle))?.into_any(),
            Value::HostFunction { .. } => {
                return Err(conversion_error(py, ConversionError::Unsupported { what: "a host function back to Python".into() }))
            }
        })
    }
}

fn unhashable(py: Python<'_>, container: &str, item: &Bound<'_, PyAny>) -> PyErr {
    let kind = item.get_type().name().map(|n| n.to_string()).unwrap_or_default();
    conversion_error(
        py,
        ConversionError::Unsupported { what: format!("{container} holding an unhashable {kind} to a Python set or dict key") },
    )
}
