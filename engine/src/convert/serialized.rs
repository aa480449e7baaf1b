//! Plain data in V8's structured-clone wire format. V8's own `ValueSerializer` walks plain data
//! in C++ in one call; `SerializedReader` reads that format into whatever a `Build` makes: the
//! engine validates limits with a builder that makes nothing (the value then travels as bytes,
//! `Value::Serialized`), and the Python layer builds Python objects straight from the bytes.
//!
//! Only tags whose meaning is identical to the handle-by-handle walk in `from_v8` are read;
//! anything else (functions, symbols, errors, regexps, wrapper objects, host objects…) makes the
//! serializer throw or the reader answer `Unsupported`, and the engine falls back to the walk.
//! Limits are charged exactly as the walk charges them, so both paths give the same value or the
//! same error. The reader trusts nothing in the bytes: every length is bounds-checked, depth
//! and size are limited, and back-references are charged again on every use.

use std::borrow::Cow;
use std::convert::Infallible;
use std::rc::Rc;

use crate::config::{deep, ConversionLimits, NODE_BYTES};
use crate::error::ConversionError;
use crate::value::Value;
use crate::stream_bridge::StreamBridge;

/// Why reading stopped.
pub enum ReadError<E> {
    /// A limit, a cycle, or an unrepresentable value: the same error the walk would give.
    Conversion(ConversionError),
    /// A construct this reader leaves to the walk (or bytes that are not valid).
    Unsupported,
    /// The builder failed.
    Build(E),
    /// JS run while serializing (a getter) was terminated.
    Terminated,
}

impl<E> From<ConversionError> for ReadError<E> {
    fn from(e: ConversionError) -> Self {
        ReadError::Conversion(e)
    }
}

/// What a reader makes of each node, children before parents.
pub trait Build<'b> {
    type Node;
    type Key;
    type Error;
    fn undefined(&mut self) -> Result<Self::Node, Self::Error>;
    fn null(&mut self) -> Result<Self::Node, Self::Error>;
    fn boolean(&mut self, value: bool) -> Result<Self::Node, Self::Error>;
    /// A number, exactly as `Value::from_f64` classifies it.
    fn number(&mut self, value: Value) -> Result<Self::Node, Self::Error>;
    fn bigint(&mut self, negative: bool, words: Vec<u64>) -> Result<Self::Node, Self::Error>;
    fn string(&mut self, text: Cow<'b, str>) -> Result<Self::Node, Self::Error>;
    fn bytes(&mut self, bytes: &[u8]) -> Result<Self::Node, Self::Error>;
    fn date(&mut self, millis: f64) -> Result<Self::Node, Self::Error>;
    fn key(&mut self, text: Cow<'b, str>) -> Result<Self::Key, Self::Error>;
    fn array(&mut self, items: Vec<Self::Node>) -> Result<Self::Node, Self::Error>;
    fn object(&mut self, entries: Vec<(Self::Key, Self::Node)>) -> Result<Self::Node, Self::Error>;
    fn map(&mut self, entries: Vec<(Self::Node, Self::Node)>) -> Result<Self::Node, Self::Error>;
    fn set(&mut self, items: Vec<Self::Node>) -> Result<Self::Node, Self::Error>;
}

/// Builds nothing: reading with it checks limits and support.
pub struct Validate;

impl<'b> Build<'b> for Validate {
    type Node = ();
    type Key = ();
    type Error = Infallible;
    fn undefined(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn null(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
    fn boolean(&mut self, _: bool) -> Result<(), Infallible> {
        Ok(())
    }
    fn number(&mut self, _: Value) -> Result<(), Infallible> {
        Ok(())
    }
    fn bigint(&mut self, _: bool, _: Vec<u64>) -> Result<(), Infallible> {
        Ok(())
    }
    fn string(&mut self, _: Cow<'b, str>) -> Result<(), Infallible> {
        Ok(())
    }
    fn bytes(&mut self, _: &[u8]) -> Result<(), Infallible> {
        Ok(())
    }
    fn date(&mut self, _: f64) -> Result<(), Infallible> {
        Ok(())
    }
    fn key(&mut self, _: Cow<'b, str>) -> Result<(), Infallible> {
        Ok(())
    }
    fn array(&mut self, _: Vec<()>) -> Result<(), Infallible> {
        Ok(())
    }
    fn object(&mut self, _: Vec<((), ())>) -> Result<(), Infallible> {
        Ok(())
    }
    fn map(&mut self, _: Vec<((), ())>) -> Result<(), Infallible> {
        Ok(())
    }
    fn set(&mut self, _: Vec<()>) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Builds the `Value` tree.
pub struct ValueTree;

impl<'b> Build<'b> for ValueTree {
    type Node = Value;
    type Key = String;
    type Error = Infallible;
    fn undefined(&mut self) -> Result<Value, Infallible> {
        Ok(Value::Undefined)
    }
    fn null(&mut self) -> Result<Value, Infallible> {
        Ok(Value::Null)
    }
    fn boolean(&mut self, value: bool) -> Result<Value, Infallible> {
        Ok(Value::Bool(value))
    }
    fn number(&mut self, value: Value) -> Result<Value, Infallible> {
        Ok(value)
    }
    fn bigint(&mut self, negative: bool, words: Vec<u64>) -> Result<Value, Infallible> {
        Ok(Value::BigInt { negative, words })
    }
    fn string(&mut self, text: Cow<'b, str>) -> Result<Value, Infallible> {
        Ok(Value::String(text.into_owned()))
    }
    fn bytes(&mut self, bytes: &[u8]) -> Result<Value, Infallible> {
        Ok(Value::Bytes(bytes.to_vec()))
    }
    fn date(&mut self, millis: f64) -> Result<Value, Infallible> {
        Ok(Value::Date(millis))
    }
    fn key(&mut self, text: Cow<'b, str>) -> Result<String, Infallible> {
        Ok(text.into_owned())
    }
    fn array(&mut self, items: Vec<Value>) -> Result<Value, Infallible> {
        Ok(Value::Array(items))
    }
    fn object(&mut self, entries: Vec<(String, Value)>) -> Result<Value, Infallible> {
        Ok(Value::Object(entries))
    }
    fn map(&mut self, entries: Vec<(Value, Value)>) -> Result<Value, Infallible> {
        Ok(Value::Map(entries))
    }
    fn set(&mut self, items: Vec<Value>) -> Result<Value, Infallible> {
        Ok(Value::Set(items))
    }
}

/// An object the serializer assigned an id. A back-reference to a finished one (a shared
/// object) is read again from where it starts, so nothing is copied unless it is shared.
#[derive(Clone, Copy)]
enum Known {
    InProgress,
    Done { start: usize, bytes: usize, height: usize },
    /// Buffers and views: a shared one is left to the walk.
    Buffer,
}

type Read<T, E> = Result<T, ReadError<E>>;

pub struct SerializedReader<'b, 'k, B: Build<'b>> {
    bytes: &'b [u8],
    at: usize,
    limits: ConversionLimits,
    /// Bytes charged so far, continuing any count the caller started.
    pub charged: usize,
    /// Indexed by the serializer's object id, which counts up from 0.
    known: Vec<Known>,
    next_id: u32,
    build: &'k mut B,
}

impl<'b, 'k, B: Build<'b>> SerializedReader<'b, 'k, B> {
    pub fn new(bytes: &'b [u8], limits: ConversionLimits, charged: usize, build: &'k mut B) -> Self {
        SerializedReader { bytes, at: 0, limits, charged, known: Vec::new(), next_id: 0, build }
    }

    /// Read the one value the bytes hold; trailing bytes are invalid.
    pub fn read(&mut self) -> Read<B::Node, B::Error> {
        let (node, _) = self.value(0)?;
        if self.at != self.bytes.len() {
            return Err(ReadError::Unsupported);
        }
        Ok(node)
    }

    fn charge(&mut self, bytes: usize) -> Read<(), B::Error> {
        self.charged = self.charged.saturating_add(bytes).saturating_add(NODE_BYTES);
        if self.charged > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        Ok(())
    }

    fn byte(&mut self) -> Read<u8, B::Error> {
        let byte = *self.bytes.get(self.at).ok_or(ReadError::Unsupported)?;
        self.at += 1;
        Ok(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn varint(&mut self) -> Read<u64, B::Error> {
        let mut result = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            result |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(result);
            }
        }
        Err(ReadError::Unsupported)
    }

    fn length(&mut self) -> Read<usize, B::Error> {
        usize::try_from(self.varint()?).map_err(|_| ReadError::Unsupported)
    }

    fn raw(&mut self, length: usize) -> Read<&'b [u8], B::Error> {
        let end = self.at.checked_add(length).filter(|end| *end <= self.bytes.len()).ok_or(ReadError::Unsupported)?;
        let raw = &self.bytes[self.at..end];
        self.at = end;
        Ok(raw)
    }

    fn double(&mut self) -> Read<f64, B::Error> {
        Ok(f64::from_le_bytes(self.raw(8)?.try_into().expect("8 bytes")))
    }

    fn int32(&mut self) -> Read<i32, B::Error> {
        let zigzag = u32::try_from(self.varint()?).map_err(|_| ReadError::Unsupported)?;
        Ok((zigzag >> 1) as i32 ^ -((zigzag & 1) as i32))
    }

    fn uint32(&mut self) -> Read<u32, B::Error> {
        u32::try_from(self.varint()?).map_err(|_| ReadError::Unsupported)
    }

    /// Skip the alignment padding V8 may put before a tag.
    fn tag(&mut self) -> Read<u8, B::Error> {
        loop {
            match self.byte()? {
                b'\0' => continue,
                tag => return Ok(tag),
            }
        }
    }

    fn peek_tag(&mut self) -> Read<u8, B::Error> {
        while self.peek() == Some(b'\0') {
            self.at += 1;
        }
        self.peek().ok_or(ReadError::Unsupported)
    }

    fn begin_object(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.mark(id, Known::InProgress);
        id
    }

    fn mark(&mut self, id: u32, state: Known) {
        let index = id as usize;
        if index >= self.known.len() {
            self.known.resize(index + 1, Known::InProgress);
        }
        self.known[index] = state;
    }

    fn built<T>(result: Result<T, B::Error>) -> Read<T, B::Error> {
        result.map_err(ReadError::Build)
    }

    /// One value at `depth`; returns it with the height of its subtree.
    fn value(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        deep(|| self.value_here(depth))
    }

    fn value_here(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        if depth > self.limits.max_depth {
            return Err(ConversionError::TooDeep { limit: self.limits.max_depth }.into());
        }
        let start = self.at;
        let tag = self.tag()?;
        if let Some(text) = self.string_body(tag)? {
            self.charge(text.len())?;
            return Ok((Self::built(self.build.string(text))?, 0));
        }
        let before = self.charged;
        self.charge(0)?;
        let node = match tag {
            b'_' | b'-' => Some(self.build.undefined()),
            b'0' => Some(self.build.null()),
            b'T' => Some(self.build.boolean(true)),
            b'F' => Some(self.build.boolean(false)),
            b'I' => {
                let value = Value::Int(i64::from(self.int32()?));
                Some(self.build.number(value))
            }
            b'U' => {
                let value = Value::Int(i64::from(self.uint32()?));
                Some(self.build.number(value))
            }
            b'N' => {
                let value = Value::from_f64(self.double()?);
                Some(self.build.number(value))
            }
            b'Z' => {
                let (negative, words) = self.bigint()?;
                Some(self.build.bigint(negative, words))
            }
            _ => None,
        };
        if let Some(node) = node {
            return Ok((Self::built(node)?, 0));
        }
        if tag == b'^' {
            return self.reference(depth, before);
        }
        let id = self.begin_object();
        let (node, height) = match tag {
            b'o' => self.object(depth)?,
            b'A' => self.dense_array(depth)?,
            b'a' => self.sparse_array(depth)?,
            b';' => self.map(depth)?,
            b'\'' => self.set(depth)?,
            b'D' => {
                let millis = self.double()?;
                if millis.is_nan() {
                    return Err(ConversionError::Unsupported { what: "an invalid Date to a host value".into() }.into());
                }
                (Self::built(self.build.date(millis))?, 0)
            }
            b'B' => {
                let length = self.length()?;
                let bytes = self.raw(length)?;
                self.mark(id, Known::Buffer);
                return self.buffer(bytes, before);
            }
            _ => return Err(ReadError::Unsupported),
        };
        self.mark(id, Known::Done { start, bytes: self.charged.saturating_sub(before), height });
        Ok((node, height))
    }

    /// `'^'`: an object seen before. A finished one is a shared (DAG) object, read again and
    /// charged again as the walk would; one still being read contains itself.
    fn reference(&mut self, depth: usize, before: usize) -> Read<(B::Node, usize), B::Error> {
        let id = self.uint32()?;
        let (start, bytes, height) = match self.known.get(id as usize) {
            Some(Known::Done { start, bytes, height }) => (*start, *bytes, *height),
            Some(Known::InProgress) => return Err(ConversionError::Cycle.into()),
            Some(Known::Buffer) | None => return Err(ReadError::Unsupported),
        };
        if depth + height > self.limits.max_depth {
            return Err(ConversionError::TooDeep { limit: self.limits.max_depth }.into());
        }
        if before.saturating_add(bytes) > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        self.charged = before;
        let (resume_at, resume_id) = (self.at, self.next_id);
        self.at = start;
        self.next_id = id;
        let copy = self.value(depth);
        self.at = resume_at;
        self.next_id = resume_id;
        copy
    }

    /// An ArrayBuffer, which a typed array view (`'V'`) right after it may narrow. Either is
    /// charged as the walk charges it: one node, then its bytes.
    fn buffer(&mut self, buffer: &'b [u8], before: usize) -> Read<(B::Node, usize), B::Error> {
        let bytes = if self.peek() == Some(b'V') {
            self.byte()?;
            let view_id = self.begin_object();
            self.mark(view_id, Known::Buffer);
            let _kind = self.varint()?;
            let offset = self.length()?;
            let length = self.length()?;
            let _flags = self.varint()?;
            let end = offset.checked_add(length).filter(|end| *end <= buffer.len()).ok_or(ReadError::Unsupported)?;
            &buffer[offset..end]
        } else {
            buffer
        };
        self.charged = before;
        self.charge(0)?;
        self.charge(bytes.len())?;
        Ok((Self::built(self.build.bytes(bytes))?, 0))
    }

    /// The text of a string tag, or `None` when `tag` is not a string.
    fn string_body(&mut self, tag: u8) -> Read<Option<Cow<'b, str>>, B::Error> {
        Ok(Some(match tag {
            b'"' => {
                let length = self.length()?;
                let latin1 = self.raw(length)?;
                if latin1.is_ascii() {
                    // SAFETY: ASCII, by far the common case, is valid UTF-8 as it is.
                    Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(latin1) })
                } else {
                    Cow::Owned(latin1.iter().map(|&b| b as char).collect())
                }
            }
            b'c' => {
                let length = self.length()?;
                let units: Vec<u16> =
                    self.raw(length)?.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
                Cow::Owned(String::from_utf16_lossy(&units))
            }
            b'S' => {
                let length = self.length()?;
                String::from_utf8_lossy(self.raw(length)?)
            }
            _ => return Ok(None),
        }))
    }

    fn bigint(&mut self) -> Read<(bool, Vec<u64>), B::Error> {
        let bitfield = self.varint()?;
        let negative = bitfield & 1 == 1;
        let length = usize::try_from(bitfield >> 1).map_err(|_| ReadError::Unsupported)?;
        let digits = self.raw(length)?;
        let words: Vec<u64> = digits
            .chunks(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        self.charge(words.len() * 8)?;
        Ok((negative, words))
    }

    /// Property keys: strings, or numbers for array-index keys, named as JS names them. The
    /// caller charges for them: a sparse array's index keys cost the walk nothing.
    fn key_text(&mut self) -> Read<Cow<'b, str>, B::Error> {
        let tag = self.tag()?;
        let key = match self.string_body(tag)? {
            Some(text) => text,
            None => match tag {
                b'I' => Cow::Owned(self.int32()?.to_string()),
                b'U' => Cow::Owned(self.uint32()?.to_string()),
                b'N' => match Value::from_f64(self.double()?) {
                    Value::Int(i) => Cow::Owned(i.to_string()),
                    _ => return Err(ReadError::Unsupported),
                },
                _ => return Err(ReadError::Unsupported),
            },
        };
        Ok(key)
    }

    fn object(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        let mut entries = Vec::new();
        let mut height = 0;
        while self.peek_tag()? != b'{' {
            let key = self.key_text()?;
            self.charge(key.len())?;
            let key = Self::built(self.build.key(key))?;
            let (value, h) = self.value(depth + 1)?;
            height = height.max(h + 1);
            entries.push((key, value));
        }
        self.tag()?;
        self.varint()?;
        Ok((Self::built(self.build.object(entries))?, height))
    }

    /// Refuse lengths the byte limit rules out before allocating for them.
    fn check_length(&self, length: usize) -> Read<(), B::Error> {
        if length.saturating_mul(NODE_BYTES) > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        Ok(())
    }

    fn dense_array(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        let length = self.length()?;
        self.check_length(length)?;
        // Grown as elements arrive: the length is only a claim.
        let mut items = Vec::new();
        let mut height = 0;
        for _ in 0..length {
            let (value, h) = self.value(depth + 1)?;
            height = height.max(h + 1);
            items.push(value);
        }
        self.end_of_array(b'$')?;
        Ok((Self::built(self.build.array(items))?, height))
    }

    fn sparse_array(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        let length = self.length()?;
        self.check_length(length)?;
        // The walk reads every index: holes are undefined, one node each.
        let mut items = Vec::new();
        for _ in 0..length {
            self.charge(0)?;
            items.push(Self::built(self.build.undefined())?);
        }
        let mut height = usize::from(length > 0);
        let mut next = 0;
        while self.peek_tag()? != b'@' {
            // Keys cost the walk nothing, and a present element replaces its hole's node. V8
            // writes each index once, ascending: anything else is left to the walk.
            let key = self.key_text()?;
            let Some(index) = key.parse::<usize>().ok().filter(|i| (next..length).contains(i)) else {
                return Err(ReadError::Unsupported);
            };
            next = index + 1;
            self.charged -= NODE_BYTES;
            let (value, h) = self.value(depth + 1)?;
            items[index] = value;
            height = height.max(h + 1);
        }
        self.tag()?;
        self.varint()?;
        self.varint()?;
        Ok((Self::built(self.build.array(items))?, height))
    }

    /// The end of an array's elements. Arrays may carry named properties after them, which the
    /// walk ignores; reading them here would be work the limits do not count (a shared object
    /// in one is expanded without bound), so such arrays are left to the walk.
    fn end_of_array(&mut self, end: u8) -> Read<(), B::Error> {
        if self.peek_tag()? != end {
            return Err(ReadError::Unsupported);
        }
        self.tag()?;
        self.varint()?;
        self.varint()?;
        Ok(())
    }

    fn map(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        let mut entries = Vec::new();
        let mut height = 0;
        while self.peek_tag()? != b':' {
            let (key, hk) = self.value(depth + 1)?;
            let (value, hv) = self.value(depth + 1)?;
            height = height.max(hk.max(hv) + 1);
            entries.push((key, value));
        }
        self.tag()?;
        self.varint()?;
        Ok((Self::built(self.build.map(entries))?, height))
    }

    fn set(&mut self, depth: usize) -> Read<(B::Node, usize), B::Error> {
        let mut items = Vec::new();
        let mut height = 0;
        while self.peek_tag()? != b',' {
            let (value, h) = self.value(depth + 1)?;
            height = height.max(h + 1);
            items.push(value);
        }
        self.tag()?;
        self.varint()?;
        Ok((Self::built(self.build.set(items))?, height))
    }
}

/// V8's serialization of `value`, or `None` when the serializer refused it (the exception
/// it threw stays in the caller's TryCatch). A `ReadableStream` (once `streams` exists) is
/// refused, so that the walk hands it over as a stream rather than as its fields.
pub fn serialize<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
    streams: Option<Rc<StreamBridge>>,
) -> Option<Vec<u8>> {
    struct Refuse {
        streams: Option<Rc<StreamBridge>>,
    }
    impl v8::ValueSerializerImpl for Refuse {
        fn throw_data_clone_error<'s>(&self, scope: &mut v8::PinScope<'s, '_>, message: v8::Local<'s, v8::String>) {
            let error = v8::Exception::error(scope, message);
            scope.throw_exception(error);
        }
        fn has_custom_host_object(&self, _isolate: &v8::Isolate) -> bool {
            self.streams.is_some()
        }
        fn is_host_object<'s>(&self, scope: &mut v8::PinScope<'s, '_>, object: v8::Local<'s, v8::Object>) -> Option<bool> {
            Some(self.streams.as_ref().is_some_and(|streams| streams.is_stream(scope, object)))
        }
    }
    let context = scope.get_current_context();
    let serializer = v8::ValueSerializer::new(scope, Box::new(Refuse { streams }));
    match serializer.write_value(context, value) {
        Some(true) => Some(serializer.release()),
        _ => None,
    }
}

impl Value {
    /// The same value with `Serialized` data built into the tree.
    pub fn expand(self, limits: ConversionLimits) -> Result<Value, ConversionError> {
        match self {
            Value::Serialized(bytes) => match SerializedReader::new(&bytes, limits, 0, &mut ValueTree).read() {
                Ok(value) => Ok(value),
                Err(ReadError::Conversion(e)) => Err(e),
                Err(ReadError::Unsupported | ReadError::Terminated) => {
                    Err(ConversionError::Unsupported { what: "malformed serialized data".into() })
                }
                Err(ReadError::Build(never)) => match never {},
            },
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMITS: ConversionLimits = ConversionLimits { max_depth: 32, max_bytes: 4096 };

    fn read(bytes: &[u8], limits: ConversionLimits) -> Result<Value, ReadError<Infallible>> {
        SerializedReader::new(bytes, limits, 0, &mut ValueTree).read()
    }

    fn validate(bytes: &[u8], limits: ConversionLimits) -> Result<usize, ReadError<Infallible>> {
        let mut validate = Validate;
        let mut reader = SerializedReader::new(bytes, limits, 0, &mut validate);
        reader.read().map(|()| reader.charged)
    }

    /// Samples of what V8's serializer writes (no header: the engine serializes without one).
    fn samples() -> Vec<Vec<u8>> {
        vec![
            b"o\"\x01aI\x02\"\x01b\"\x02hi{\x02".to_vec(),
            b"A\x02\"\x01xo{\x00$\x00\x02".to_vec(),
            b"A\x02o\"\x01kT{\x01^\x01$\x00\x02".to_vec(),
            b"a\x03I\x04I\x04@\x01\x03".to_vec(),
            b"Z\x10\x01\x02\x03\x04\x05\x06\x07\x08".to_vec(),
            b"B\x03abcV\x00\x00\x03\x00".to_vec(),
        ]
    }

    #[test]
    fn samples_read_as_the_values_they_are() {
        let object = Value::Object(vec![("a".into(), Value::Int(1)), ("b".into(), Value::String("hi".into()))]);
        assert_eq!(read(&samples()[0], LIMITS).ok(), Some(object));
        let shared = Value::Object(vec![("k".into(), Value::Bool(true))]);
        assert_eq!(read(&samples()[2], LIMITS).ok(), Some(Value::Array(vec![shared.clone(), shared])));
        assert_eq!(read(&samples()[3], LIMITS).ok(), Some(Value::Array(vec![Value::Undefined, Value::Undefined, Value::Int(2)])));
        assert_eq!(read(&samples()[5], LIMITS).ok(), Some(Value::Bytes(b"abc".to_vec())));
    }

    /// Building and validating charge the same, so what the engine let through, the parent
    /// lets through, and a byte less of budget refuses it.
    #[test]
    fn validating_charges_what_reading_charges_and_the_budget_is_exact() {
        for sample in samples() {
            let charged = validate(&sample, LIMITS).ok().expect("a valid sample");
            assert!(read(&sample, LIMITS).is_ok());
            let tight = ConversionLimits { max_bytes: charged, ..LIMITS };
            assert!(validate(&sample, tight).is_ok(), "{sample:?} charged {charged}");
            let short = ConversionLimits { max_bytes: charged - 1, ..LIMITS };
            assert!(matches!(validate(&sample, short), Err(ReadError::Conversion(ConversionError::TooLarge { .. }))));
        }
    }

    /// Named properties on an array (which the walk ignores) are left to the walk: reading them
    /// here expanded shared objects without bound.
    #[test]
    fn an_array_with_named_properties_is_left_to_the_walk() {
        assert!(matches!(read(b"A\x01I\x02\"\x01xT$\x01\x01", LIMITS), Err(ReadError::Unsupported)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Arbitrary bytes: a value, or an error; never a panic, and never more nodes than the
        /// budget pays for.
        #[test]
        fn arbitrary_bytes_never_break_the_reader(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = validate(&bytes, LIMITS);
            let _ = read(&bytes, LIMITS);
        }

        /// Samples with one byte changed, or cut short: still a value or an error.
        #[test]
        fn corrupted_samples_never_break_the_reader(index in 0usize..6, position in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
            let mut sample = samples()[index].clone();
            let at = position % sample.len();
            if cut { sample.truncate(at) } else { sample[at] = byte }
            let _ = validate(&sample, LIMITS);
            let _ = read(&sample, LIMITS);
        }

        /// A claimed length of any size costs at most the budget: reading ends, and never
        /// reserves what was claimed (a sparse array's holes are nodes, each one charged).
        #[test]
        fn claimed_lengths_cost_at_most_the_budget(tag in proptest::sample::select(b"AaBc\"SZ".to_vec()), claim in any::<u64>()) {
            let mut bytes = vec![tag];
            let mut rest = claim;
            loop {
                let low = (rest & 0x7f) as u8;
                rest >>= 7;
                if rest == 0 { bytes.push(low); break }
                bytes.push(low | 0x80);
            }
            let generous = ConversionLimits { max_depth: 32, max_bytes: 1 << 20 };
            let _ = validate(&bytes, generous);
            let _ = read(&bytes, generous);
        }
    }
}
