//! V8 → `Value`. Walks the value once, charging every node against the depth and byte limits.
//! A cycle makes the walk unboundedly deep, so it always ends at a limit; only then is the path
//! from the root inspected for an object that contains itself (by identity: identity hash to
//! find candidates, `==` on the handles to confirm), and the error names the cycle. A DAG that
//! shares an object is copied. This keeps the per-object cost of the common case at a push.

use std::collections::HashMap;
use std::rc::Rc;

use super::serialized::{serialize, ReadError, SerializedReader, Validate};
use crate::config::{ConversionLimits, NODE_BYTES};
use crate::error::ConversionError;
use crate::state::EngineState;
use crate::value::{FunctionHandle, Value};
use crate::stream_bridge::StreamBridge;

/// Why a conversion stopped.
pub enum ReadFailure {
    Conversion(ConversionError),
    /// JS threw (a getter, a proxy trap); the caller's TryCatch holds the exception.
    Threw,
}

impl From<ConversionError> for ReadFailure {
    fn from(e: ConversionError) -> Self {
        ReadFailure::Conversion(e)
    }
}


pub struct FromV8<'s, 'a> {
    limits: ConversionLimits,
    bytes: usize,
    /// Objects on the path from the root to the node being read.
    path: Vec<v8::Local<'s, v8::Object>>,
    keep_function: &'a mut dyn FnMut(v8::Global<v8::Function>) -> FunctionHandle,
    /// Present once the web globals are installed: before, no value can be a stream.
    streams: Option<Rc<StreamBridge>>,
}

type Read<T> = Result<T, ReadFailure>;

impl<'s, 'a> FromV8<'s, 'a> {
    pub fn new(
        limits: ConversionLimits,
        keep_function: &'a mut dyn FnMut(v8::Global<v8::Function>) -> FunctionHandle,
    ) -> Self {
        FromV8 { limits, bytes: 0, path: Vec::new(), keep_function, streams: None }
    }

    /// Bytes charged so far, for every value read.
    pub fn charged(&self) -> usize {
        self.bytes
    }

    pub fn read(&mut self, scope: &mut v8::PinScope<'s, '_>, value: v8::Local<'s, v8::Value>) -> Read<Value> {
        self.streams = EngineState::get(scope).web_globals.borrow().bridge();
        if value.is_object() && !value.is_function() {
            match self.read_serialized(scope, value) {
                Ok(value) => return Ok(value),
                Err(ReadError::Conversion(e)) => return Err(e.into()),
                // JS (a getter) was stopped mid-read: the walk must not run it again.
                Err(ReadError::Terminated) => return Err(ReadFailure::Threw),
                Err(_) => {}
            }
        }
        self.read_at(scope, value, 0)
    }

    /// The fast path: V8 serializes, the bytes are checked against the limits and travel as
    /// they are. On failure the charge is left as it was for the walk.
    fn read_serialized(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        value: v8::Local<'s, v8::Value>,
    ) -> Result<Value, ReadError<std::convert::Infallible>> {
        let (bytes, terminated) = {
            v8::tc_scope!(let tc, scope);
            let bytes = serialize(tc, value, self.streams.clone());
            (bytes, tc.has_terminated())
        };
        if terminated {
            return Err(ReadError::Terminated);
        }
        let bytes = bytes.ok_or(ReadError::Unsupported)?;
        let mut validate = Validate;
        let mut reader = SerializedReader::new(&bytes, self.limits, self.bytes, &mut validate);
        reader.read()?;
        self.bytes = reader.charged;
        Ok(Value::Serialized(bytes))
    }

    fn charge(&mut self, bytes: usize) -> Read<()> {
        self.bytes = self.bytes.saturating_add(bytes + NODE_BYTES);
        if self.bytes > self.limits.max_bytes {
            return Err(self.limit_hit(ConversionError::TooLarge { limit: self.limits.max_bytes }));
        }
        Ok(())
    }

    /// A limit was reached: report the cycle instead if the path holds one.
    fn limit_hit(&self, limit: ConversionError) -> ReadFailure {
        let mut seen: HashMap<i32, Vec<v8::Local<'s, v8::Object>>> = HashMap::new();
        for object in &self.path {
            let same_hash = seen.entry(object.get_identity_hash().get()).or_default();
            if same_hash.iter().any(|other| other == object) {
                return ConversionError::Cycle.into();
            }
            same_hash.push(*object);
        }
        limit.into()
    }

    fn read_at(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        value: v8::Local<'s, v8::Value>,
        depth: usize,
    ) -> Read<Value> {
        if depth > self.limits.max_depth {
            return Err(self.limit_hit(ConversionError::TooDeep { limit: self.limits.max_depth }));
        }
        if value.is_string() {
            let text = value.cast::<v8::String>().to_rust_string_lossy(scope);
            self.charge(text.len())?;
            return Ok(Value::String(text));
        }
        self.charge(0)?;
        if value.is_number() {
            return Ok(Value::from_f64(value.number_value(scope).unwrap_or(f64::NAN)));
        }
        if value.is_undefined() {
            return Ok(Value::Undefined);
        }
        if value.is_null() {
            return Ok(Value::Null);
        }
        if value.is_boolean() {
            return Ok(Value::Bool(value.is_true()));
        }
        if value.is_big_int() {
            let bigint = value.cast::<v8::BigInt>();
            let mut words = vec![0u64; bigint.word_count()];
            let (negative, _) = bigint.to_words_array(&mut words);
            self.charge(words.len() * 8)?;
            return Ok(Value::BigInt { negative, words });
        }
        if value.is_symbol() {
            return Err(unsupported("a Symbol"));
        }
        if value.is_function() {
            let function = v8::Global::new(scope, value.cast::<v8::Function>());
            return Ok(Value::Function((self.keep_function)(function)));
        }
        if !value.is_object() {
            return Err(unsupported("an unknown kind of JavaScript value"));
        }
        self.read_object(scope, value, depth)
    }

    fn read_object(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        value: v8::Local<'s, v8::Value>,
        depth: usize,
    ) -> Read<Value> {
        if value.is_promise() {
            return Err(unsupported("a Promise (await it before returning it)"));
        }
        if value.is_proxy() {
            return Err(unsupported("a Proxy"));
        }
        if let Some(streams) = self.streams.clone() {
            let object = value.cast::<v8::Object>();
            if streams.is_stream(scope, object) {
                let read = streams.reader_for_host(scope, object).ok_or(ReadFailure::Threw)?;
                let read = v8::Global::new(scope, read);
                return Ok(Value::Stream((self.keep_function)(read)));
            }
        }
        if value.is_weak_map() || value.is_weak_set() {
            return Err(unsupported("a WeakMap or WeakSet"));
        }
        if value.is_array_buffer_view() {
            let view = value.cast::<v8::ArrayBufferView>();
            let mut bytes = vec![0u8; view.byte_length()];
            self.charge(bytes.len())?;
            view.copy_contents(&mut bytes);
            return Ok(Value::Bytes(bytes));
        }
        if value.is_array_buffer() || value.is_shared_array_buffer() {
            let store = if value.is_array_buffer() {
                value.cast::<v8::ArrayBuffer>().get_backing_store()
            } else {
                value.cast::<v8::SharedArrayBuffer>().get_backing_store()
            };
            self.charge(store.byte_length())?;
            let bytes = match store.data() {
                // SAFETY: the backing store stays alive while `store` is held.
                Some(data) => unsafe {
                    std::slice::from_raw_parts(data.as_ptr() as *const u8, store.byte_length()).to_vec()
                },
                None => Vec::new(),
            };
            return Ok(Value::Bytes(bytes));
        }
        if value.is_date() {
            let millis = value.cast::<v8::Date>().value_of();
            if millis.is_nan() {
                return Err(unsupported("an invalid Date"));
            }
            return Ok(Value::Date(millis));
        }

        let object = value.cast::<v8::Object>();
        self.path.push(object);
        let result = self.read_container(scope, object, depth);
        self.path.pop();
        result
    }

    fn read_container(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        object: v8::Local<'s, v8::Object>,
        depth: usize,
    ) -> Read<Value> {
        if object.is_array() {
            let array = object.cast::<v8::Array>();
            let items = self.read_items(scope, array, depth)?;
            return Ok(Value::Array(items));
        }
        if object.is_set() {
            let items = object.cast::<v8::Set>().as_array(scope);
            return Ok(Value::Set(self.read_items(scope, items, depth)?));
        }
        if object.is_map() {
            let flat = object.cast::<v8::Map>().as_array(scope);
            let mut flat = self.read_items(scope, flat, depth)?.into_iter();
            let mut entries = Vec::with_capacity(flat.len() / 2);
            while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                entries.push((key, value));
            }
            return Ok(Value::Map(entries));
        }
        let args = v8::GetPropertyNamesArgs {
            mode: v8::KeyCollectionMode::OwnOnly,
            property_filter: v8::PropertyFilter::ONLY_ENUMERABLE | v8::PropertyFilter::SKIP_SYMBOLS,
            index_filter: v8::IndexFilter::IncludeIndices,
            key_conversion: v8::KeyConversionMode::ConvertToString,
        };
        let keys = object.get_own_property_names(scope, args).ok_or(ReadFailure::Threw)?;
        let mut entries = Vec::with_capacity(keys.length() as usize);
        for index in 0..keys.length() {
            let key = keys.get_index(scope, index).ok_or(ReadFailure::Threw)?;
            let name = key.to_rust_string_lossy(scope);
            self.charge(name.len())?;
            let item = object.get(scope, key).ok_or(ReadFailure::Threw)?;
            entries.push((name, self.read_at(scope, item, depth + 1)?));
        }
        Ok(Value::Object(entries))
    }

    fn read_items(
        &mut self,
        scope: &mut v8::PinScope<'s, '_>,
        array: v8::Local<'s, v8::Array>,
        depth: usize,
    ) -> Read<Vec<Value>> {
        let length = array.length();
        let mut items = Vec::with_capacity((length as usize).min(1 << 16));
        for index in 0..length {
            let item = array.get_index(scope, index).ok_or(ReadFailure::Threw)?;
            items.push(self.read_at(scope, item, depth + 1)?);
        }
        Ok(items)
    }
}

fn unsupported(what: &str) -> ReadFailure {
    ReadFailure::Conversion(ConversionError::Unsupported { what: format!("{what} to a host value") })
}
