//! `Value` → V8. Values arriving here were already bounded by whoever built them (the Python
//! converter, the wire decoder), so this side only has to be exact.

use crate::config::ConversionLimits;
use crate::error::ConversionError;
use crate::handles::FunctionTable;
use crate::state::EngineState;
use crate::value::{CallMode, Value};
use crate::web_globals;

/// Recursive on the engine's thread, whose stack is sized for `CEILING_MAX_DEPTH` levels: V8
/// refuses to run on any other stack, so `deep` cannot be used here.
pub fn to_v8<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: &Value,
    functions: &FunctionTable,
) -> Result<v8::Local<'s, v8::Value>, ConversionError> {
    Ok(match value {
        Value::Undefined => v8::undefined(scope).into(),
        Value::Null => v8::null(scope).into(),
        Value::Bool(b) => v8::Boolean::new(scope, *b).into(),
        Value::Int(i) => v8::Number::new(scope, *i as f64).into(),
        Value::Float(f) => v8::Number::new(scope, *f).into(),
        Value::BigInt { negative, words } => v8::BigInt::new_from_words(scope, *negative, words)
            .ok_or_else(|| ConversionError::Unsupported { what: "an integer too large for a JavaScript BigInt".into() })?
            .into(),
        Value::String(s) => new_string(scope, s)?.into(),
        Value::Bytes(bytes) => {
            let store = v8::ArrayBuffer::new_backing_store_from_vec(bytes.clone()).make_shared();
            let buffer = v8::ArrayBuffer::with_backing_store(scope, &store);
            v8::Uint8Array::new(scope, buffer, 0, bytes.len())
                .ok_or_else(|| ConversionError::Unsupported { what: "bytes too long for a Uint8Array".into() })?
                .into()
        }
        Value::Array(items) => {
            let mut elements = Vec::with_capacity(items.len());
            for item in items {
                elements.push(to_v8(scope, item, functions)?);
            }
            v8::Array::new_with_elements(scope, &elements).into()
        }
        Value::Object(entries) => {
            let mut names = Vec::with_capacity(entries.len());
            let mut values = Vec::with_capacity(entries.len());
            for (key, item) in entries {
                names.push(new_string(scope, key)?.into());
                values.push(to_v8(scope, item, functions)?);
            }
            let prototype = object_prototype(scope);
            v8::Object::with_prototype_and_properties(scope, prototype, &names, &values).into()
        }
        Value::Set(items) => {
            let set = v8::Set::new(scope);
            for item in items {
                let item = to_v8(scope, item, functions)?;
                set.add(scope, item);
            }
            set.into()
        }
        Value::Map(entries) => {
            let map = v8::Map::new(scope);
            for (key, item) in entries {
                let key = to_v8(scope, key, functions)?;
                let item = to_v8(scope, item, functions)?;
                map.set(scope, key, item);
            }
            map.into()
        }
        Value::Date(millis) => v8::Date::new(scope, *millis)
            .ok_or_else(|| ConversionError::Unsupported { what: "a date outside the JavaScript Date range".into() })?
            .into(),
        Value::Function(handle) => match functions.get(*handle) {
            Some(function) => v8::Local::new(scope, function).into(),
            None => {
                return Err(ConversionError::Unsupported {
                    what: "a JsFunction that was closed or belongs to another runtime".into(),
                })
            }
        },
        Value::HostFunction { id, mode } => (EngineState::get(scope).wrap_grant)(scope, *id, *mode).into(),
        Value::Stream(handle) => {
            let Some(read) = functions.get(*handle) else {
                return Err(ConversionError::Unsupported { what: "a JsStream that was closed or belongs to another runtime".into() });
            };
            let read = v8::Local::new(scope, read);
            web_globals::bridge(scope).and_then(|streams| streams.stream_of(scope, read)).ok_or_else(streams_missing)?
        }
        Value::HostStream { source, high_water_mark } => {
            let source = (EngineState::get(scope).wrap_grant)(scope, *source, CallMode::Async);
            web_globals::bridge(scope)
                .and_then(|streams| streams.readable_from_host(scope, source, *high_water_mark))
                .ok_or_else(streams_missing)?
        }
        Value::Serialized(_) => {
            let tree = value.clone().expand(ConversionLimits { max_depth: ConversionLimits::CEILING_MAX_DEPTH, max_bytes: usize::MAX })?;
            to_v8(scope, &tree, functions)?
        }
    })
}

fn streams_missing() -> ConversionError {
    ConversionError::Unsupported { what: "a stream: the runtime's ReadableStream could not be set up".into() }
}

fn new_string<'s>(scope: &mut v8::PinScope<'s, '_>, text: &str) -> Result<v8::Local<'s, v8::String>, ConversionError> {
    v8::String::new(scope, text)
        .ok_or_else(|| ConversionError::Unsupported { what: "a string longer than JavaScript allows".into() })
}

/// `Object.prototype` of the current context, so objects built here are ordinary JS objects.
fn object_prototype<'s>(scope: &mut v8::PinScope<'s, '_>) -> v8::Local<'s, v8::Value> {
    let template = v8::Object::new(scope);
    template.get_prototype(scope).unwrap_or_else(|| v8::null(scope).into())
}
