//! The fast path of V8 → `Value`: V8's own `ValueSerializer` walks plain data in C++ in one
//! call, and this module reads its wire format into a `Value`. Only the tags whose meaning is
//! identical to the handle-by-handle walk in `from_v8` are read; anything else (functions,
//! symbols, errors, regexps, wrapper objects, host objects…) makes the serializer throw or this
//! reader answer `Unsupported`, and the caller falls back to the walk. Limits are charged
//! exactly as the walk charges them, so both paths give the same value or the same error.

use crate::config::ConversionLimits;
use crate::error::ConversionError;
use crate::value::Value;

/// Per-node cost, shared with the handle walk.
use super::from_v8::NODE_BYTES;

/// Why the fast path gave up on a value.
pub enum Fast {
    /// A limit, a cycle, or an unrepresentable value: the same error the walk would give.
    Error(ConversionError),
    /// A construct this reader leaves to the walk.
    Unsupported,
}

impl From<ConversionError> for Fast {
    fn from(e: ConversionError) -> Self {
        Fast::Error(e)
    }
}

type Parse<T> = Result<T, Fast>;

/// An object the serializer assigned an id. A back-reference to a finished one (a shared
/// object) is read again from where it starts, so no value is copied unless it is shared.
#[derive(Clone, Copy)]
enum Known {
    InProgress,
    Done { start: usize, bytes: usize, height: usize },
    /// Buffers and views: a view is read together with its buffer, so the walk handles sharing.
    Buffer,
}

/// Serialize `value` with V8 and read it back, or `Unsupported` when the serializer refused.
pub fn serialize<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    value: v8::Local<'s, v8::Value>,
) -> Option<Vec<u8>> {
    struct Refuse;
    impl v8::ValueSerializerImpl for Refuse {
        fn throw_data_clone_error<'s>(&self, scope: &mut v8::PinScope<'s, '_>, message: v8::Local<'s, v8::String>) {
            let error = v8::Exception::error(scope, message);
            scope.throw_exception(error);
        }
    }
    let context = scope.get_current_context();
    let serializer = v8::ValueSerializer::new(scope, Box::new(Refuse));
    match serializer.write_value(context, value) {
        Some(true) => Some(serializer.release()),
        _ => None,
    }
}

pub struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
    limits: ConversionLimits,
    charged: &'b mut usize,
    /// Indexed by the serializer's object id, which counts up from 0.
    known: Vec<Known>,
    next_id: u32,
}

impl<'b> Reader<'b> {
    pub fn new(bytes: &'b [u8], limits: ConversionLimits, charged: &'b mut usize) -> Self {
        Reader { bytes, at: 0, limits, charged, known: Vec::new(), next_id: 0 }
    }

    pub fn read(mut self) -> Parse<Value> {
        let (value, _) = self.value(0)?;
        Ok(value)
    }

    fn charge(&mut self, bytes: usize) -> Parse<()> {
        *self.charged = self.charged.saturating_add(bytes + NODE_BYTES);
        if *self.charged > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        Ok(())
    }

    fn byte(&mut self) -> Parse<u8> {
        let byte = *self.bytes.get(self.at).ok_or(Fast::Unsupported)?;
        self.at += 1;
        Ok(byte)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn varint(&mut self) -> Parse<u64> {
        let mut result = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            result |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(result);
            }
        }
        Err(Fast::Unsupported)
    }

    fn length(&mut self) -> Parse<usize> {
        usize::try_from(self.varint()?).map_err(|_| Fast::Unsupported)
    }

    fn raw(&mut self, length: usize) -> Parse<&'b [u8]> {
        let end = self.at.checked_add(length).filter(|end| *end <= self.bytes.len()).ok_or(Fast::Unsupported)?;
        let raw = &self.bytes[self.at..end];
        self.at = end;
        Ok(raw)
    }

    fn double(&mut self) -> Parse<f64> {
        Ok(f64::from_le_bytes(self.raw(8)?.try_into().expect("8 bytes")))
    }

    /// Skip the alignment padding V8 may put before a tag.
    fn tag(&mut self) -> Parse<u8> {
        loop {
            match self.byte()? {
                b'\0' => continue,
                tag => return Ok(tag),
            }
        }
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

    fn finish_object(&mut self, id: u32, start: usize, bytes: usize, height: usize) {
        self.mark(id, Known::Done { start, bytes, height });
    }

    /// One value at `depth`; returns it with the height of its subtree.
    fn value(&mut self, depth: usize) -> Parse<(Value, usize)> {
        if depth > self.limits.max_depth {
            return Err(ConversionError::TooDeep { limit: self.limits.max_depth }.into());
        }
        let start = self.at;
        let tag = self.tag()?;
        if let Some(text) = self.string_body(tag)? {
            self.charge(text.len())?;
            return Ok((Value::String(text), 0));
        }
        let before = *self.charged;
        self.charge(0)?;
        let primitive = match tag {
            b'_' | b'-' => Some(Value::Undefined),
            b'0' => Some(Value::Null),
            b'T' => Some(Value::Bool(true)),
            b'F' => Some(Value::Bool(false)),
            b'I' => {
                let zigzag = self.varint()? as u32;
                Some(Value::Int(i64::from((zigzag >> 1) as i32 ^ -((zigzag & 1) as i32))))
            }
            b'U' => Some(Value::Int(self.varint()? as u32 as i64)),
            b'N' => Some(Value::from_f64(self.double()?)),
            b'Z' => Some(self.bigint()?),
            _ => None,
        };
        if let Some(value) = primitive {
            return Ok((value, 0));
        }
        if tag == b'^' {
            return self.reference(depth, before);
        }
        let id = self.begin_object();
        let (value, height) = match tag {
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
                (Value::Date(millis), 0)
            }
            b'B' => {
                let length = self.length()?;
                let bytes = self.raw(length)?.to_vec();
                self.mark(id, Known::Buffer);
                return self.buffer(bytes, before);
            }
            _ => return Err(Fast::Unsupported),
        };
        self.finish_object(id, start, *self.charged - before, height);
        Ok((value, height))
    }

    /// `'^'`: an object seen before. A finished one is a shared (DAG) object, copied and
    /// charged again as the walk would; one still being read contains itself.
    fn reference(&mut self, depth: usize, before: usize) -> Parse<(Value, usize)> {
        let id = u32::try_from(self.varint()?).map_err(|_| Fast::Unsupported)?;
        let (start, bytes, height) = match self.known.get(id as usize) {
            Some(Known::Done { start, bytes, height }) => (*start, *bytes, *height),
            Some(Known::InProgress) => return Err(ConversionError::Cycle.into()),
            Some(Known::Buffer) | None => return Err(Fast::Unsupported),
        };
        if depth + height > self.limits.max_depth {
            return Err(ConversionError::TooDeep { limit: self.limits.max_depth }.into());
        }
        // Check the limit before copying; the re-read below charges the same bytes again.
        if (before + bytes) > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        *self.charged = before;
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
    fn buffer(&mut self, buffer: Vec<u8>, before: usize) -> Parse<(Value, usize)> {
        let bytes = if self.peek() == Some(b'V') {
            self.byte()?;
            let view_id = self.begin_object();
            self.mark(view_id, Known::Buffer);
            let _kind = self.varint()?;
            let offset = self.length()?;
            let length = self.length()?;
            let _flags = self.varint()?;
            let end = offset.checked_add(length).filter(|end| *end <= buffer.len()).ok_or(Fast::Unsupported)?;
            buffer[offset..end].to_vec()
        } else {
            buffer
        };
        *self.charged = before;
        self.charge(0)?;
        self.charge(bytes.len())?;
        Ok((Value::Bytes(bytes), 0))
    }

    /// The text of a string tag, or `None` when `tag` is not a string.
    fn string_body(&mut self, tag: u8) -> Parse<Option<String>> {
        Ok(Some(match tag {
            b'"' => {
                let length = self.length()?;
                let latin1 = self.raw(length)?;
                match std::str::from_utf8(latin1) {
                    // ASCII, by far the common case, is already UTF-8.
                    Ok(ascii) if latin1.is_ascii() => ascii.to_owned(),
                    _ => latin1.iter().map(|&b| b as char).collect(),
                }
            }
            b'c' => {
                let length = self.length()?;
                let units: Vec<u16> =
                    self.raw(length)?.chunks_exact(2).map(|pair| u16::from_le_bytes([pair[0], pair[1]])).collect();
                String::from_utf16_lossy(&units)
            }
            b'S' => {
                let length = self.length()?;
                String::from_utf8_lossy(self.raw(length)?).into_owned()
            }
            _ => return Ok(None),
        }))
    }

    fn bigint(&mut self) -> Parse<Value> {
        let bitfield = self.varint()?;
        let negative = bitfield & 1 == 1;
        let length = usize::try_from(bitfield >> 1).map_err(|_| Fast::Unsupported)?;
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
        Ok(Value::BigInt { negative, words })
    }

    /// Property keys: strings, or numbers for array-index keys (named as JS names them).
    fn key(&mut self) -> Parse<String> {
        let tag = self.tag()?;
        let key = match self.string_body(tag)? {
            Some(text) => text,
            None => match tag {
                b'I' => {
                    let zigzag = self.varint()? as u32;
                    ((zigzag >> 1) as i32 ^ -((zigzag & 1) as i32)).to_string()
                }
                b'U' => self.varint()?.to_string(),
                b'N' => match Value::from_f64(self.double()?) {
                    Value::Int(i) => i.to_string(),
                    _ => return Err(Fast::Unsupported),
                },
                _ => return Err(Fast::Unsupported),
            },
        };
        self.charge(key.len())?;
        Ok(key)
    }

    fn object(&mut self, depth: usize) -> Parse<(Value, usize)> {
        let mut entries = Vec::new();
        let mut height = 0;
        while self.peek_tag()? != b'{' {
            let key = self.key()?;
            let (value, h) = self.value(depth + 1)?;
            height = height.max(h + 1);
            entries.push((key, value));
        }
        self.tag()?;
        self.varint()?;
        Ok((Value::Object(entries), height))
    }

    fn peek_tag(&mut self) -> Parse<u8> {
        while self.peek() == Some(b'\0') {
            self.at += 1;
        }
        self.peek().ok_or(Fast::Unsupported)
    }

    fn dense_array(&mut self, depth: usize) -> Parse<(Value, usize)> {
        let length = self.length()?;
        // Bound the allocation by what the limit allows, before reading a single element.
        if length.saturating_mul(NODE_BYTES) > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        let mut items = Vec::with_capacity(length);
        let mut height = 0;
        for _ in 0..length {
            let (value, h) = self.value(depth + 1)?;
            height = height.max(h + 1);
            items.push(value);
        }
        self.skip_extra_properties(b'$')?;
        Ok((Value::Array(items), height))
    }

    fn sparse_array(&mut self, depth: usize) -> Parse<(Value, usize)> {
        let length = self.length()?;
        if length.saturating_mul(NODE_BYTES) > self.limits.max_bytes {
            return Err(ConversionError::TooLarge { limit: self.limits.max_bytes }.into());
        }
        // Holes read as undefined, one node each, as the walk reads them.
        for _ in 0..length {
            self.charge(0)?;
        }
        let mut items = vec![Value::Undefined; length];
        let mut height = if length > 0 { 1 } else { 0 };
        while self.peek_tag()? != b'@' {
            // The walk reads elements by index: keys cost nothing, each present element
            // replaces the node already charged for its hole, other properties are ignored.
            let start = *self.charged;
            let key = self.key()?;
            let index = key.parse::<usize>().ok().filter(|i| *i < length);
            let after_key = *self.charged;
            let (value, h) = self.value(depth + 1)?;
            let value_cost = *self.charged - after_key;
            match index {
                Some(index) => {
                    *self.charged = start + value_cost - NODE_BYTES;
                    items[index] = value;
                    height = height.max(h + 1);
                }
                None => *self.charged = start,
            }
        }
        self.tag()?;
        self.varint()?;
        self.varint()?;
        Ok((Value::Array(items), height))
    }

    /// Arrays may carry named properties after their elements; the walk ignores them.
    fn skip_extra_properties(&mut self, end: u8) -> Parse<()> {
        while self.peek_tag()? != end {
            let saved = *self.charged;
            self.key()?;
            self.value(0)?;
            *self.charged = saved;
        }
        self.tag()?;
        self.varint()?;
        self.varint()?;
        Ok(())
    }

    fn map(&mut self, depth: usize) -> Parse<(Value, usize)> {
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
        Ok((Value::Map(entries), height))
    }

    fn set(&mut self, depth: usize) -> Parse<(Value, usize)> {
        let mut items = Vec::new();
        let mut height = 0;
        while self.peek_tag()? != b',' {
            let (value, h) = self.value(depth + 1)?;
            height = height.max(h + 1);
            items.push(value);
        }
        self.tag()?;
        self.varint()?;
        Ok((Value::Set(items), height))
    }
}
