//! Values across the guest boundary. Encoding (host → guest) writes what `guest/codec.c`
//! decodes. Decoding reads the guest's memory as hostile: every length is checked against what
//! is there, and the whole value against the runtime's depth and byte limits, charged as the
//! guest charges them, so an honest guest never trips a check and a compromised one gets no
//! further than a protocol violation.

use jscell_engine::{CallMode, ConversionLimits, FunctionHandle, HostError, HostErrorKind, HostFunctionId, Value};

use crate::abi::{host_error, tag};

/// Bytes charged per node, as the engine's `NODE_BYTES`.
const NODE_BYTES: usize = 8;

pub fn encode(value: &Value, limits: ConversionLimits, out: &mut Vec<u8>) -> Result<(), jscell_engine::ConversionError> {
    match value {
        Value::Undefined => out.push(tag::UNDEFINED),
        Value::Null => out.push(tag::NULL),
        Value::Bool(false) => out.push(tag::FALSE),
        Value::Bool(true) => out.push(tag::TRUE),
        Value::Int(n) => number(out, tag::NUMBER, *n as f64),
        Value::Float(n) => number(out, tag::NUMBER, *n),
        Value::Date(ms) => number(out, tag::DATE, *ms),
        Value::BigInt { negative, words } => {
            out.push(tag::BIGINT);
            out.push(u8::from(*negative));
            text(out, hex_digits(words).as_bytes());
        }
        Value::String(s) => {
            out.push(tag::STRING);
            text(out, s.as_bytes());
        }
        Value::Bytes(bytes) => {
            out.push(tag::BYTES);
            text(out, bytes);
        }
        Value::Array(items) | Value::Set(items) => {
            out.push(if matches!(value, Value::Array(_)) { tag::ARRAY } else { tag::SET });
            length(out, items.len());
            for item in items {
                encode(item, limits, out)?;
            }
        }
        Value::Object(entries) => {
            out.push(tag::OBJECT);
            length(out, entries.len());
            for (key, item) in entries {
                text(out, key.as_bytes());
                encode(item, limits, out)?;
            }
        }
        Value::Map(entries) => {
            out.push(tag::MAP);
            length(out, entries.len());
            for (key, item) in entries {
                encode(key, limits, out)?;
                encode(item, limits, out)?;
            }
        }
        Value::Function(handle) => {
            out.push(tag::FUNCTION);
            out.extend_from_slice(&handle.0.to_le_bytes());
        }
        Value::HostFunction { id, mode } => {
            out.push(tag::HOST_FUNCTION);
            out.extend_from_slice(&id.0.to_le_bytes());
            out.push(u8::from(*mode == CallMode::Async));
        }
        Value::Stream(handle) => {
            out.push(tag::STREAM);
            out.extend_from_slice(&handle.0.to_le_bytes());
        }
        Value::HostStream { source, high_water_mark } => {
            out.push(tag::HOST_STREAM);
            out.extend_from_slice(&source.0.to_le_bytes());
            out.extend_from_slice(&high_water_mark.to_le_bytes());
        }
        Value::Serialized(_) => encode(&value.clone().expand(limits)?, limits, out)?,
    }
    Ok(())
}

fn number(out: &mut Vec<u8>, tag: u8, n: f64) {
    out.push(tag);
    out.extend_from_slice(&n.to_le_bytes());
}

fn length(out: &mut Vec<u8>, n: usize) {
    // Values reaching here are bounded by max_serialization_bytes, far below u32::MAX.
    out.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_le_bytes());
}

fn text(out: &mut Vec<u8>, bytes: &[u8]) {
    length(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// A host error as the guest reads it: u8 kind, u32+message.
pub fn host_error_body(error: &HostError) -> Vec<u8> {
    let kind = match error.name {
        HostErrorKind::Error => host_error::ERROR,
        HostErrorKind::TypeError => host_error::TYPE_ERROR,
        HostErrorKind::RangeError => host_error::RANGE_ERROR,
    };
    let mut body = vec![kind];
    text(&mut body, error.message.as_bytes());
    body
}

/// The magnitude as hex digits, most significant first; empty for zero.
fn hex_digits(words: &[u64]) -> String {
    let mut digits = String::new();
    for word in words.iter().rev() {
        if digits.is_empty() {
            if *word != 0 {
                digits = format!("{word:x}");
            }
        } else {
            digits.push_str(&format!("{word:016x}"));
        }
    }
    digits
}

/// Why the guest's bytes are not a value an honest guest would write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

pub struct Decoder<'a> {
    data: &'a [u8],
    at: usize,
    limits: ConversionLimits,
    charged: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(data: &'a [u8], limits: ConversionLimits) -> Self {
        Decoder { data, at: 0, limits, charged: 0 }
    }

    pub fn finished(&self) -> bool {
        self.at == self.data.len()
    }

    fn bad(&self, what: &str) -> Malformed {
        Malformed(format!("{what} at byte {} of a {}-byte value", self.at, self.data.len()))
    }

    pub fn bytes(&mut self, count: usize) -> Result<&'a [u8], Malformed> {
        if self.data.len() - self.at < count {
            return Err(self.bad("a length past the end"));
        }
        let bytes = &self.data[self.at..self.at + count];
        self.at += count;
        Ok(bytes)
    }

    pub fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.bytes(1)?[0])
    }

    pub fn u32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.bytes(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let mut word = [0; 8];
        word.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(word))
    }

    fn f64(&mut self) -> Result<f64, Malformed> {
        Ok(f64::from_bits(self.u64()?))
    }

    pub fn text(&mut self) -> Result<&'a [u8], Malformed> {
        let length = self.u32()? as usize;
        self.bytes(length)
    }

    /// UTF-8 text, where a lone surrogate (which QuickJS writes as its three-byte WTF-8 form)
    /// becomes U+FFFD, as V8 converts it. Anything else that is not UTF-8 is refused.
    pub fn string(&mut self) -> Result<String, Malformed> {
        let mut rest = self.text()?;
        let mut text = String::with_capacity(rest.len());
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    return Ok(text);
                }
                Err(error) => {
                    let (valid, invalid) = rest.split_at(error.valid_up_to());
                    text.push_str(std::str::from_utf8(valid).map_err(|_| self.bad("text that is not UTF-8"))?);
                    match invalid {
                        [0xed, 0xa0..=0xbf, 0x80..=0xbf, after @ ..] => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = after;
                        }
                        _ => return Err(self.bad("text that is not UTF-8")),
                    }
                }
            }
        }
    }

    fn charge(&mut self, bytes: usize) -> Result<(), Malformed> {
        self.charged = self.charged.saturating_add(bytes + NODE_BYTES);
        if self.charged > self.limits.max_bytes {
            return Err(self.bad("a value larger than max_serialization_bytes"));
        }
        Ok(())
    }

    /// A count of items that each take at least one byte: never more than the bytes left.
    fn count(&mut self) -> Result<usize, Malformed> {
        let count = self.u32()? as usize;
        if count > self.data.len() - self.at {
            return Err(self.bad("a count larger than the bytes that follow"));
        }
        Ok(count)
    }

    pub fn value(&mut self) -> Result<Value, Malformed> {
        self.value_at(0)
    }

    fn value_at(&mut self, depth: usize) -> Result<Value, Malformed> {
        if depth > self.limits.max_depth {
            return Err(self.bad("a value nested deeper than max_serialization_depth"));
        }
        let tag = self.u8()?;
        if tag != tag::STRING {
            self.charge(0)?;
        }
        Ok(match tag {
            tag::UNDEFINED => Value::Undefined,
            tag::NULL => Value::Null,
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::NUMBER => Value::from_f64(self.f64()?),
            tag::DATE => Value::Date(self.f64()?),
            tag::BIGINT => {
                let negative = self.u8()? != 0;
                let digits = self.text()?;
                let words = words_of(digits).ok_or_else(|| self.bad("a BigInt whose digits are not hex"))?;
                self.charge(words.len() * 8)?;
                Value::BigInt { negative: negative && !words.is_empty(), words }
            }
            tag::STRING => {
                let text = self.string()?;
                self.charge(text.len())?;
                Value::String(text)
            }
            tag::BYTES => {
                let bytes = self.text()?;
                self.charge(bytes.len())?;
                Value::Bytes(bytes.to_vec())
            }
            tag::ARRAY | tag::SET => {
                let count = self.count()?;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.value_at(depth + 1)?);
                }
                if tag == tag::ARRAY {
                    Value::Array(items)
                } else {
                    Value::Set(items)
                }
            }
            tag::OBJECT => {
                let count = self.count()?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = self.string()?;
                    self.charge(key.len())?;
                    entries.push((key, self.value_at(depth + 1)?));
                }
                Value::Object(entries)
            }
            tag::MAP => {
                let count = self.count()?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    let key = self.value_at(depth + 1)?;
                    entries.push((key, self.value_at(depth + 1)?));
                }
                Value::Map(entries)
            }
            tag::FUNCTION => Value::Function(FunctionHandle(self.u64()?)),
            tag::HOST_FUNCTION => {
                let id = HostFunctionId(self.u32()?);
                let mode = if self.u8()? != 0 { CallMode::Async } else { CallMode::Sync };
                Value::HostFunction { id, mode }
            }
            tag::STREAM => Value::Stream(FunctionHandle(self.u64()?)),
            // Host streams are the host's to hand out; no guest sends one back.
            tag::HOST_STREAM => return Err(self.bad("a host stream in a value from the guest")),
            other => return Err(self.bad(&format!("unknown value tag {other}"))),
        })
    }
}

/// Hex digits (most significant first) as little-endian 64-bit words, without leading zeros.
fn words_of(digits: &[u8]) -> Option<Vec<u64>> {
    let mut words = Vec::with_capacity(digits.len().div_ceil(16));
    let mut end = digits.len();
    while end > 0 {
        let start = end.saturating_sub(16);
        let chunk = std::str::from_utf8(&digits[start..end]).ok()?;
        words.push(u64::from_str_radix(chunk, 16).ok()?);
        end = start;
    }
    while words.last() == Some(&0) {
        words.pop();
    }
    Some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) -> Value {
        let mut bytes = Vec::new();
        encode(&value, ConversionLimits::default(), &mut bytes).unwrap();
        let mut decoder = Decoder::new(&bytes, ConversionLimits::default());
        let back = decoder.value().unwrap();
        assert!(decoder.finished());
        back
    }

    #[test]
    fn values_survive_the_encoding() {
        let value = Value::Object(vec![
            ("n".into(), Value::Int(-3)),
            ("f".into(), Value::Float(0.5)),
            ("big".into(), Value::BigInt { negative: true, words: vec![0, 1] }),
            ("s".into(), Value::String("héllo".into())),
            ("b".into(), Value::Bytes(vec![0, 255])),
            ("m".into(), Value::Map(vec![(Value::Null, Value::Set(vec![Value::Bool(true)]))])),
            ("d".into(), Value::Date(1.5e12)),
            ("h".into(), Value::HostFunction { id: HostFunctionId(7), mode: CallMode::Async }),
        ]);
        assert_eq!(round_trip(value.clone()), value);
    }

    #[test]
    fn hostile_bytes_are_refused_not_trusted() {
        let limits = ConversionLimits { max_depth: 3, max_bytes: 64 };
        let cases: [&[u8]; 5] = [
            &[tag::STRING, 0xff, 0xff, 0xff, 0xff],
            &[tag::ARRAY, 0xff, 0xff, 0xff, 0x7f, tag::NULL],
            &[tag::ARRAY, 1, 0, 0, 0, tag::ARRAY, 1, 0, 0, 0, tag::ARRAY, 1, 0, 0, 0, tag::ARRAY, 1, 0, 0, 0, tag::NULL],
            &[tag::STRING, 2, 0, 0, 0, 0xc3, 0x28],
            &[99],
        ];
        for bytes in cases {
            assert!(Decoder::new(bytes, limits).value().is_err(), "{bytes:?} was accepted");
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let bytes = [tag::STRING, 5, 0, 0, 0, b'a', 0xed, 0xa0, 0x80, b'b'];
        let value = Decoder::new(&bytes, ConversionLimits::default()).value().unwrap();
        assert_eq!(value, Value::String("a\u{fffd}b".into()));
    }

    #[test]
    fn bigint_digits_become_words() {
        assert_eq!(words_of(b"1ffffffffffffffff"), Some(vec![u64::MAX, 1]));
        assert_eq!(words_of(b""), Some(vec![]));
        assert_eq!(hex_digits(&[u64::MAX, 1]), "1ffffffffffffffff");
        assert_eq!(words_of(b"xyz"), None);
    }
}
