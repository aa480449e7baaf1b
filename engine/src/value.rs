//! The one value model that crosses every boundary: V8 ↔ Rust ↔ Python, and (hardened) the
//! process boundary. Each variant is a row of the API's value mapping table (Python ↔ JS).

use serde::{Deserialize, Serialize};


/// Largest integer a JS number represents exactly; beyond it integers travel as BigInt.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Id of a JS function kept alive by the engine on behalf of the caller (a `JsFunction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunctionHandle(pub u64);

/// Id of a callable granted by the host (an op, a bound function, a callable argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostFunctionId(pub u32);

/// Whether JS calls a host function synchronously or gets a promise back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CallMode {
    Sync,
    Async,
}

/// Decoded by hand (`value_decoding`): bounded by the runtime's limits when it comes from a peer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    /// A JS number that is integral and within ±`MAX_SAFE_INTEGER` (never `-0`).
    Int(i64),
    /// Any other JS number, including NaN and ±Infinity.
    Float(f64),
    /// Magnitude as little-endian 64-bit words, sign kept apart (as V8 stores it).
    BigInt { negative: bool, words: Vec<u64> },
    String(String),
    Bytes(#[serde(serialize_with = "byte_string")] Vec<u8>),
    Array(Vec<Value>),
    /// A plain object: own enumerable string-keyed properties, in JS order.
    Object(Vec<(String, Value)>),
    Set(Vec<Value>),
    Map(Vec<(Value, Value)>),
    /// Milliseconds since the Unix epoch, UTC.
    Date(f64),
    /// A JS function held by the engine.
    Function(FunctionHandle),
    /// A host callable; becomes a JS function that calls back into the host.
    HostFunction { id: HostFunctionId, mode: CallMode },
    /// A JS `ReadableStream` held by the engine, read through the function `handle` names
    /// (`web/src/lib.rs`: `toHost`); a `JsStream` in Python.
    Stream(FunctionHandle),
    /// A host stream (a Python async iterable); becomes a `ReadableStream` that pulls from the
    /// async host function `source`, keeping up to `high_water_mark` chunks ahead of its reader.
    HostStream { source: HostFunctionId, high_water_mark: u32 },
    /// Plain data in V8's structured-clone format, already checked against the limits it was
    /// read with. Readers build their own representation from it in one pass
    /// (`SerializedReader`); `Value::expand` builds the `Value` tree.
    Serialized(#[serde(serialize_with = "byte_string")] Vec<u8>),
}

/// Bytes written as one slice (on the wire the same as a sequence of `u8`, without a call per
/// byte); `value_decoding` reads them back so.
fn byte_string<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_bytes(bytes)
}

impl Value {
    /// The number as the engine would hand it over: `Int` when exactly representable.
    pub fn from_f64(number: f64) -> Value {
        let fits = number.fract() == 0.0
            && number.abs() <= MAX_SAFE_INTEGER as f64
            && !(number == 0.0 && number.is_sign_negative());
        if fits {
            Value::Int(number as i64)
        } else {
            Value::Float(number)
        }
    }

    /// Name of the JS type for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Undefined => "undefined",
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) | Value::Float(_) => "number",
            Value::BigInt { .. } => "bigint",
            Value::String(_) => "string",
            Value::Bytes(_) => "Uint8Array",
            Value::Array(_) => "Array",
            Value::Object(_) => "object",
            Value::Set(_) => "Set",
            Value::Map(_) => "Map",
            Value::Date(_) => "Date",
            Value::Function(_) | Value::HostFunction { .. } => "function",
            Value::Stream(_) | Value::HostStream { .. } => "ReadableStream",
            Value::Serialized(_) => "object",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_numbers_become_ints_within_the_safe_range() {
        assert_eq!(Value::from_f64(3.0), Value::Int(3));
        assert_eq!(Value::from_f64(MAX_SAFE_INTEGER as f64), Value::Int(MAX_SAFE_INTEGER));
        assert_eq!(Value::from_f64(2f64.powi(53)), Value::Float(2f64.powi(53)));
        assert_eq!(Value::from_f64(0.5), Value::Float(0.5));
        assert!(matches!(Value::from_f64(-0.0), Value::Float(z) if z.is_sign_negative()));
        assert!(matches!(Value::from_f64(f64::NAN), Value::Float(n) if n.is_nan()));
    }
}
