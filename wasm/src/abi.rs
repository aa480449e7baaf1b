//! The host's side of the guest boundary (`guest/abi.h` is the other; the two agree on every
//! number here): value tags, the outcomes an export leaves, and the answers imports give.

/// Value encoding tags, one byte per node (layout in `guest/abi.h`).
pub mod tag {
    pub const UNDEFINED: u8 = 0;
    pub const NULL: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const TRUE: u8 = 3;
    pub const NUMBER: u8 = 4;
    pub const BIGINT: u8 = 5;
    pub const STRING: u8 = 6;
    pub const BYTES: u8 = 7;
    pub const ARRAY: u8 = 8;
    pub const OBJECT: u8 = 9;
    pub const SET: u8 = 10;
    pub const MAP: u8 = 11;
    pub const DATE: u8 = 12;
    pub const FUNCTION: u8 = 13;
    pub const HOST_FUNCTION: u8 = 14;
    pub const STREAM: u8 = 15;
    pub const HOST_STREAM: u8 = 16;
}

/// What an export that ran JS left in the guest's result buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An encoded value.
    Value,
    /// name, message, has_stack, [stack]
    Exception,
    /// u32 id of a promise the guest keeps until it settles.
    Pending,
    /// u8 conversion kind, [u32+text].
    Conversion,
    /// The interrupt check said stop.
    Interrupted,
    /// The heap limit was reached: the instance is done.
    HeapLimit,
    /// u32+text: the request itself was wrong.
    Invalid,
}

impl Outcome {
    pub fn from_code(code: i32) -> Option<Outcome> {
        Some(match code {
            0 => Outcome::Value,
            1 => Outcome::Exception,
            2 => Outcome::Pending,
            3 => Outcome::Conversion,
            4 => Outcome::Interrupted,
            5 => Outcome::HeapLimit,
            6 => Outcome::Invalid,
            _ => return None,
        })
    }
}

pub mod conversion {
    pub const CYCLE: u8 = 0;
    pub const TOO_DEEP: u8 = 1;
    pub const TOO_LARGE: u8 = 2;
    pub const UNSUPPORTED: u8 = 3;
}

/// Host error classes, as the guest throws them.
pub mod host_error {
    pub const ERROR: u8 = 0;
    pub const TYPE_ERROR: u8 = 1;
    pub const RANGE_ERROR: u8 = 2;
}

/// The first byte of every answer an import leaves for the guest.
pub mod answer {
    pub const OK: u8 = 0;
    pub const ERROR: u8 = 1;
}

/// What a module load asks for.
pub mod module_kind {
    pub const JAVASCRIPT: u32 = 0;
    pub const JSON: u32 = 1;
}
