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
    /// The caller cancelled the request (its JS was stopped, or nothing waits for its promise).
    #[error("the call was cancelled")]
    Cancelled,
    /// The request itself was invalid (unknown handle, bad argument).
    #[error("{0}")]
    InvalidRequest(String),
}

/// Why a runtime can no longer run code. Each variant is one documented
/// `RuntimeTerminated.reason` (`reason()`); the data says what happened as values, not text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationReason {
    /// `terminate()` was called.
    Requested,
    /// The runtime was closed.
    Closed,
    /// The JS heap reached its configured limit.
    HeapLimit { limit_bytes: usize },
    /// Hardened: the guest process reached `max_process_memory`; it was killed.
    ProcessMemoryLimit { limit_bytes: u64 },
    /// Hardened: the guest did not answer within the call's timeout plus the grace period, or
    /// within the fixed deadline of a call that takes no timeout; it was killed.
    TimeoutOverdue { waited: Duration },
    /// Hardened: the guest process was killed by `signal`.
    GuestCrashed { signal: i32 },
    /// Hardened: the guest process exited on its own with `code`.
    GuestExited { code: i32 },
    /// Hardened: the guest sent something an honest guest never sends (what, in words); it
    /// was killed.
    ProtocolViolation(String),
    /// The runtime was created in the process this one was forked from, and stays there.
    Forked,
    /// The engine failed in a way that is a bug in jscell (what, in words).
    InternalError(String),
}

impl TerminationReason {
    /// The reason's name, as `RuntimeTerminated.reason` carries it.
    pub fn name(&self) -> &'static str {
        match self {
            TerminationReason::Requested => "requested",
            TerminationReason::Closed => "closed",
            TerminationReason::HeapLimit { .. } => "heap_limit",
            TerminationReason::ProcessMemoryLimit { .. } => "process_memory_limit",
            TerminationReason::TimeoutOverdue { .. } => "timeout_overdue",
            TerminationReason::GuestCrashed { .. } => "guest_crashed",
            TerminationReason::GuestExited { .. } => "guest_exited",
            TerminationReason::ProtocolViolation(_) => "protocol_violation",
            TerminationReason::Forked => "forked",
            TerminationReason::InternalError(_) => "internal_error",
        }
    }
}

impl fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TerminationReason::Requested => write!(f, "terminate() was called"),
            TerminationReason::Closed => write!(f, "the runtime is closed"),
            TerminationReason::HeapLimit { limit_bytes } => {
                write!(f, "JavaScript heap limit of {limit_bytes} bytes (max_heap_size) exceeded")
            }
            TerminationReason::ProcessMemoryLimit { limit_bytes } => write!(
                f,
                "the guest process reached its memory cap of {limit_bytes} bytes (max_process_memory); it was killed"
            ),
            TerminationReason::TimeoutOverdue { waited } => write!(
                f,
                "the guest did not answer within {} (the call's timeout plus a grace period, or a fixed deadline); it was killed",
                format_duration(*waited)
            ),
            TerminationReason::GuestCrashed { signal } => {
                write!(f, "the guest process was killed by signal {signal}{}", signal_hint(*signal))
            }
            TerminationReason::GuestExited { code } => write!(f, "the guest process exited with code {code}"),
            TerminationReason::ProtocolViolation(what) => write!(f, "the guest broke the wire protocol: {what}; it was killed"),
            TerminationReason::Forked => write!(
                f,
                "this process was forked from the one that started the runtime (or V8), which stays there; \
                 V8 cannot run in such a fork: use backend='hardened' here"
            ),
            TerminationReason::InternalError(what) => write!(f, "internal error: {what}"),
        }
    }
}

fn signal_hint(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (killed, e.g. by the memory cap or the OOM killer)",
        libc::SIGSEGV => " (segmentation fault)",
        libc::SIGABRT => " (aborted)",
        libc::SIGSYS => " (a forbidden system call)",
        _ => "",
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

/// Frames captured for uncaught exceptions; enough to locate a fault, bounded in cost.
pub const STACK_FRAME_LIMIT: usize = 32;

/// A JS exception as the caller sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsException {
    pub name: String,
    pub message: String,
    pub stack: Option<String>,
    /// At most `STACK_FRAME_LIMIT`, the engine's own bound, also when decoded from a peer.
    #[serde(deserialize_with = "crate::at_most::at_most::<STACK_FRAME_LIMIT, _, _>")]
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
    pub fn range_error(message: impl Into<String>) -> Self {
        HostError { name: HostErrorKind::RangeError, message: message.into() }
    }
}

fn format_duration(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}
