//! jscell's engine: a V8 isolate with its event loop, value conversion and limits. It knows
//! nothing of Python or processes; everything from outside arrives through `Host` and the inbox.

mod at_most;
mod bindings;
mod config;
mod convert;
mod engine;
mod engine_thread;
mod error;
mod exception;
mod grant_wrappers;
mod handles;
mod heap_limit;
mod host;
mod inbox;
mod replies;
mod process_stamp;
mod modules;
mod state;
mod stream_bridge;
mod stats;
mod sync;
mod timers;
mod value;
mod value_decoding;
mod watchdog;
mod web_globals;
mod window;

pub use config::{deep, ConversionLimits, EngineConfig, ENGINE_THREAD_STACK};
pub use convert::{Build, ReadError, SerializedReader};
pub use engine::{init_v8, set_jitless, set_memory_capped, EngineHandle};
pub use engine_thread::{start_engine_thread, start_thread, unwrapped, EngineThreadWrapper};
pub use process_stamp::ProcessStamp;
pub use error::{ConversionError, EngineError, HostError, HostErrorKind, JsException, StackFrame, TerminationReason, STACK_FRAME_LIMIT};
pub use exception::NON_ERROR_THROW;
pub use host::{ConsoleLevel, Host};
pub use replies::{AnswerOnce, AsyncReply, Completes, Deliver, ModuleReply};
pub use modules::key::{ModuleKey, ModuleKind};
pub use inbox::{poll_briefly, refuse_queued, AsyncCallId, Completion, CompletionSink, Inbound, RequestId, InboxReceiver, InboxSender, InboxWaiter, Reply, Request, Response, Wait, Waiter};
pub use stats::EngineStats;
pub use sync::{panic_message, Unpoisoned, UnpoisonedRw};
pub use value::{CallMode, FunctionHandle, HostFunctionId, Value, MAX_SAFE_INTEGER};
pub use at_most::at_most;
pub use value_decoding::charged;
pub use window::{Overrun, Window, MAX_PENDING_ASYNC_CALLS, MAX_PENDING_MODULE_LOADS};
