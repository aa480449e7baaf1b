//! The engine's one error type. Every failure a caller can see is a variant here; the Python
//! layer maps each variant to one exception class at a single boundary.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum EngineError {
    /// JavaScript threw and nothing caught it.
    #[error("{0}")]
    JavaScript(JsException),
    /// The wall-clock budget of one call ran out; the runtime stays usable.
    #[error("execution timed out after {}", format_duration(*.0))]
    Timeout(Duration),
    /// The runtime can no longer run code.
    #[error("runtime terminated: {0}")]
    Terminated(TerminationReason),
    /// A value could not cross the boundary whole.
    #[error(transparent)]
    Conversion(#[from] ConversionError),
    /// A synchronous caller waits for a promise that nothing can settle any more.
    #[error("the promise never settles: no timer, async call or other work is pending that could settle it")]
    Stalled,
    /// The request itself was invalid (unknown handle, bad argument).
    #[error("{0}")]
    InvalidRequest(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationReason {
    /// `terminate()` was called.
    Requested,
    /// The JS heap reached its configured limit.
    HeapLimit { limit_bytes: usize },
    /// The runtime was closed.
    Closed,
    /// The engine process or thread is gone (hardened: the guest died).
    EngineLost(String),
}

impl fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminationReason::Requested => write!(f, "terminate() was called"),
            TerminationReason::HeapLimit { limit_bytes } => {
                write!(f, "JavaScript heap limit of {limit_bytes} bytes (max_heap_size) exceeded")
            }
            TerminationReason::Closed => write!(f, "the runtime is closed"),
            TerminationReason::EngineLost(why) => write!(f, "the engine is gone: {why}"),
        }
    }
}

/// A value that cannot cross a boundary whole. Never truncated, never a crash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ConversionError {
    #[error("value contains a cycle (an object that contains itself) and cannot be converted")]
    Cycle,
    #[error("value is nested deeper than max_serialization_depth ({limit})")]
    TooDeep { limit: usize },
    #[error("value is larger than max_serialization_bytes ({limit} bytes)")]
    TooLarge { limit: usize },
    #[error("cannot convert {what}")]
    Unsupported { what: String },
}

/// A JS exception as the caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsException {
    pub name: String,
    pub message: String,
    pub stack: Option<String>,
    pub frames: Vec<StackFrame>,
}

impl fmt::Display for JsException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}: {}", self.name, self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFrame {
    pub function_name: Option<String>,
    pub file_name: Option<String>,
    pub line_number: Option<u32>,
    pub column_number: Option<u32>,
}

/// A failed host call, delivered to JS as a thrown error of class `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostError {
    pub name: HostErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostErrorKind {
    Error,
    TypeError,
    RangeError,
}

impl HostError {
    pub fn error(message: impl Into<String>) -> Self {
        HostError { name: HostErrorKind::Error, message: message.into() }
    }
    pub fn type_error(message: impl Into<String>) -> Self {
        HostError { name: HostErrorKind::TypeError, message: message.into() }
    }
}

fn format_duration(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
