//! Conversion between V8 values and the `Value` model, in both directions.

mod from_v8;
mod serialized;
mod to_v8;

pub use from_v8::{FromV8, ReadFailure};
pub use serialized::{Build, ReadError, SerializedReader, Validate};
pub use to_v8::to_v8;
