//! What an engine is created with. Validation of user input happens in the layer that receives
//! it (Python); these values are trusted and already checked.

use serde::{Deserialize, Serialize};

use crate::byte_string::ByteString;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Hard cap of the JS heap; reaching it terminates the runtime instead of the process.
    pub max_heap_size: Option<usize>,
    pub initial_heap_size: Option<usize>,
    /// JS run once before the first request.
    pub bootstrap: Option<String>,
    pub enable_console: bool,
    pub limits: ConversionLimits,
    /// A sealed startup snapshot (`snapshot`) the context starts from.
    pub snapshot: Option<SnapshotBytes>,
}

/// A snapshot's bytes, on the wire as one byte string (not a sequence of a call per byte: a
/// snapshot is megabytes, and it travels with every hardened runtime's start).
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotBytes(pub Vec<u8>);

impl Serialize for SnapshotBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for SnapshotBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::DeserializeSeed::deserialize(ByteString, deserializer).map(SnapshotBytes)
    }
}

/// Bounds on every value that crosses a boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionLimits {
    pub max_depth: usize,
    pub max_bytes: usize,
}

/// Fixed cost charged per node so that huge arrays of tiny values are bounded too.
pub const NODE_BYTES: usize = 8;

impl ConversionLimits {
    pub const DEFAULT_MAX_DEPTH: usize = 1_000;
    /// The deepest limit a runtime accepts. Converters recurse per level: those that touch V8
    /// run on the engine thread, whose stack is sized for this (`ENGINE_THREAD_STACK`); the
    /// others may run on any thread and go through `deep`.
    pub const CEILING_MAX_DEPTH: usize = 10_000;
    pub const DEFAULT_MAX_BYTES: usize = 128 << 20;
}

impl Default for ConversionLimits {
    fn default() -> Self {
        ConversionLimits { max_depth: Self::DEFAULT_MAX_DEPTH, max_bytes: Self::DEFAULT_MAX_BYTES }
    }
}

/// The engine thread's stack: V8 keeps its own JS stack limit well below this; the rest holds
/// the native frames of `CEILING_MAX_DEPTH`-deep conversions and host calls.
pub const ENGINE_THREAD_STACK: usize = 64 << 20;

/// Run one level of a recursive conversion with enough native stack, whatever thread it is on:
/// when less than `RED_ZONE` remains, continue on a freshly allocated segment. Never around
/// V8 calls: V8 checks that it runs on its thread's own stack.
pub fn deep<R>(level: impl FnOnce() -> R) -> R {
    const RED_ZONE: usize = 128 * 1024;
    const SEGMENT: usize = 2 * 1024 * 1024;
    stacker::maybe_grow(RED_ZONE, SEGMENT, level)
}
