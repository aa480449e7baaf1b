//! Decoding a `Value` from a peer's bytes (a hardened guest's frames). Decoding recurses per
//! container level, so nesting is limited as it goes and each level may move to a fresh stack
//! segment: a deep value is an error, never a stack overflow.
//!
//! Under `charged` (how the parent decodes everything a guest sends), every node decoded is
//! charged against the runtime's limits exactly as the engine's walk charges the same value
//! (`NODE_BYTES` a node, plus the bytes of strings, keys, byte arrays and BigInt words), once
//! for the whole reply; serialized data is read against what remains. So a reply an honest
//! engine would have refused to send is refused here, and what one reply can grow into is
//! bounded by the limit, not by how compactly the peer encoded it. Nothing is reserved from a
//! length the peer claims: containers grow as their elements arrive.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserialize;

use crate::config::{deep, ConversionLimits, NODE_BYTES};
use crate::convert::{ReadError, SerializedReader, Validate};
use crate::error::ConversionError;
use crate::byte_string::ByteString;
use crate::value::{CallMode, FunctionHandle, HostFunctionId, Value};

/// Nesting allowed where no budget applies (frames from a trusted peer): the deepest limit a
/// runtime accepts, and a little room for the frame around the value.
const MAX_DECODE_DEPTH: usize = ConversionLimits::CEILING_MAX_DEPTH + 8;

#[derive(Clone, Copy)]
struct Budget {
    limits: ConversionLimits,
    charged: usize,
}

#[derive(Clone, Copy, Default)]
struct Decoding {
    /// Containers enclosing the value being decoded.
    depth: usize,
    budget: Option<Budget>,
}

thread_local! {
    static DECODING: Cell<Decoding> = const { Cell::new(Decoding { depth: 0, budget: None }) };
}

/// Run `decode` with every `Value` it decodes charged against `limits`; its result and the
/// bytes charged.
pub fn charged<R>(limits: ConversionLimits, decode: impl FnOnce() -> R) -> (R, usize) {
    struct Restore(Decoding);
    impl Drop for Restore {
        fn drop(&mut self) {
            DECODING.with(|decoding| decoding.set(self.0));
        }
    }
    let outer = Restore(DECODING.with(|decoding| decoding.replace(Decoding { depth: 0, budget: Some(Budget { limits, charged: 0 }) })));
    let result = decode();
    let spent = DECODING.with(|decoding| decoding.get().budget.map_or(0, |budget| budget.charged));
    drop(outer);
    (result, spent)
}

fn budget() -> Option<Budget> {
    DECODING.with(|decoding| decoding.get().budget)
}

fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    DECODING.with(|decoding| {
        let mut state = decoding.get();
        let Some(mut budget) = state.budget else { return Ok(()) };
        budget.charged = budget.charged.saturating_add(bytes);
        state.budget = Some(budget);
        decoding.set(state);
        if budget.charged > budget.limits.max_bytes {
            return Err(E::custom(ConversionError::TooLarge { limit: budget.limits.max_bytes }));
        }
        Ok(())
    })
}

/// Decode one element of a container: one level deeper, with the stack that needs.
fn nested<T, E: de::Error>(decode: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let depth = DECODING.with(|decoding| {
        let mut state = decoding.get();
        state.depth += 1;
        decoding.set(state);
        state.depth
    });
    let result = match budget() {
        Some(budget) if depth > budget.limits.max_depth => {
            Err(E::custom(ConversionError::TooDeep { limit: budget.limits.max_depth }))
        }
        None if depth > MAX_DECODE_DEPTH => Err(E::custom(format!("a value nested deeper than {MAX_DECODE_DEPTH} levels"))),
        _ => deep(decode),
    };
    DECODING.with(|decoding| {
        let mut state = decoding.get();
        state.depth -= 1;
        decoding.set(state);
    });
    result
}

/// The variants in declaration order: the index each is encoded with.
const VARIANTS: &[&str] = &[
    "Undefined", "Null", "Bool", "Int", "Float", "BigInt", "String", "Bytes", "Array", "Object", "Set", "Map", "Date",
    "Function", "HostFunction", "Stream", "HostStream", "Serialized",
];

#[derive(Deserialize)]
#[serde(variant_identifier)]
enum Tag {
    Undefined,
    Null,
    Bool,
    Int,
    Float,
    BigInt,
    String,
    Bytes,
    Array,
    Object,
    Set,
    Map,
    Date,
    Function,
    HostFunction,
    Stream,
    HostStream,
    Serialized,
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_enum("Value", VARIANTS, ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a jscell value")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant) = data.variant::<Tag>()?;
        if !matches!(tag, Tag::Serialized) {
            charge(NODE_BYTES)?;
        }
        Ok(match tag {
            Tag::Undefined => variant.unit_variant().map(|()| Value::Undefined)?,
            Tag::Null => variant.unit_variant().map(|()| Value::Null)?,
            Tag::Bool => Value::Bool(variant.newtype_variant()?),
            Tag::Int => Value::Int(variant.newtype_variant()?),
            Tag::Float => Value::Float(variant.newtype_variant()?),
            Tag::BigInt => {
                let (negative, words): (bool, Vec<u64>) = variant.struct_variant(&["negative", "words"], Fields::new())?;
                charge(NODE_BYTES.saturating_add(words.len().saturating_mul(8)))?;
                Value::BigInt { negative, words }
            }
            Tag::String => {
                let text: String = variant.newtype_variant()?;
                charge(text.len())?;
                Value::String(text)
            }
            Tag::Bytes => {
                let bytes = variant.newtype_variant_seed(ByteString)?;
                charge(NODE_BYTES.saturating_add(bytes.len()))?;
                Value::Bytes(bytes)
            }
            Tag::Array => Value::Array(variant.newtype_variant_seed(Elements(Single))?),
            Tag::Set => Value::Set(variant.newtype_variant_seed(Elements(Single))?),
            Tag::Object => Value::Object(variant.newtype_variant_seed(Elements(Entry))?),
            Tag::Map => Value::Map(variant.newtype_variant_seed(Elements(Pair))?),
            Tag::Date => Value::Date(variant.newtype_variant()?),
            Tag::Function => Value::Function(variant.newtype_variant::<FunctionHandle>()?),
            Tag::HostFunction => {
                if budget().is_some() {
                    // Grants are the parent's to hand out; no peer sends one back as a value.
                    return Err(de::Error::custom("a host function in a value from the guest"));
                }
                let (id, mode): (HostFunctionId, CallMode) = variant.struct_variant(&["id", "mode"], Fields::new())?;
                Value::HostFunction { id, mode }
            }
            Tag::Stream => Value::Stream(variant.newtype_variant::<FunctionHandle>()?),
            Tag::HostStream => {
                if budget().is_some() {
                    return Err(de::Error::custom("a host stream in a value from the guest"));
                }
                let (source, high_water_mark): (HostFunctionId, u32) =
                    variant.struct_variant(&["source", "high_water_mark"], Fields::new())?;
                Value::HostStream { source, high_water_mark }
            }
            Tag::Serialized => Value::Serialized(serialized(variant.newtype_variant_seed(ByteString)?)?),
        })
    }
}

/// Serialized data, read (building nothing) against what remains of the budget. Honest
/// engines send it only as a whole value, never inside a tree.
fn serialized<E: de::Error>(bytes: Vec<u8>) -> Result<Vec<u8>, E> {
    let Some(budget) = budget() else { return Ok(bytes) };
    if DECODING.with(|decoding| decoding.get().depth) > 0 {
        return Err(E::custom("serialized data inside a value from the guest"));
    }
    let mut validate = Validate;
    let mut reader = SerializedReader::new(&bytes, budget.limits, budget.charged, &mut validate);
    let read = reader.read();
    let spent = reader.charged.saturating_sub(budget.charged);
    match read {
        Ok(()) => charge(spent).map(|()| bytes),
        Err(ReadError::Conversion(error)) => Err(E::custom(error)),
        Err(_) => Err(E::custom("malformed serialized data")),
    }
}


/// How one element of a container is decoded.
trait Element: Copy {
    type Item;
    fn decode<'de, A: SeqAccess<'de>>(self, seq: &mut A) -> Result<Option<Self::Item>, A::Error>;
}

/// Containers of `E`, one level deeper, grown as elements arrive.
#[derive(Clone, Copy)]
struct Elements<E>(E);

impl<'de, E: Element> DeserializeSeed<'de> for Elements<E> {
    type Value = Vec<E::Item>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, E: Element> Visitor<'de> for Elements<E> {
    type Value = Vec<E::Item>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the elements of a container")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = nested(|| self.0.decode(&mut seq))? {
            items.push(item);
        }
        Ok(items)
    }
}

/// An array or set element.
#[derive(Clone, Copy)]
struct Single;

impl Element for Single {
    type Item = Value;
    fn decode<'de, A: SeqAccess<'de>>(self, seq: &mut A) -> Result<Option<Value>, A::Error> {
        seq.next_element()
    }
}

/// An object entry: its key is charged as the walk charges a key.
#[derive(Clone, Copy)]
struct Entry;

impl Element for Entry {
    type Item = (String, Value);
    fn decode<'de, A: SeqAccess<'de>>(self, seq: &mut A) -> Result<Option<(String, Value)>, A::Error> {
        seq.next_element_seed(EntrySeed)
    }
}

struct EntrySeed;

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = (String, Value);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = (String, Value);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object entry")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let key: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        charge(NODE_BYTES.saturating_add(key.len()))?;
        let value = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
        Ok((key, value))
    }
}

/// A map entry.
#[derive(Clone, Copy)]
struct Pair;

impl Element for Pair {
    type Item = (Value, Value);
    fn decode<'de, A: SeqAccess<'de>>(self, seq: &mut A) -> Result<Option<(Value, Value)>, A::Error> {
        seq.next_element()
    }
}

/// The two fields of a struct variant, in order.
struct Fields<T, U>(PhantomData<fn() -> (T, U)>);

impl<T, U> Fields<T, U> {
    fn new() -> Self {
        Fields(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>, U: Deserialize<'de>> Visitor<'de> for Fields<T, U> {
    type Value = (T, U);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("two fields")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(T, U), A::Error> {
        let first = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &"two fields"))?;
        let second = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &"two fields"))?;
        Ok((first, second))
    }
}

