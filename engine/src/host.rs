//! The one seam between the engine and the outside world. The engine never touches files,
//! network, Python or sockets itself: it asks its `Host`. The native backend implements this
//! with the capability host called directly; the hardened guest forwards it over the wire.

use serde::{Deserialize, Serialize};

use crate::error::{HostError, JsException};
use crate::replies::{AsyncReply, ModuleReply};
use crate::value::{HostFunctionId, Value};

pub trait Host: Send {
    /// A synchronous call from JS (`__host_op_sync__`, a bound sync function).
    fn call(&self, function: HostFunctionId, args: Vec<Value>) -> Result<Value, HostError>;

    /// An asynchronous call from JS; JS holds a promise until `reply` is resolved.
    fn call_async(&self, function: HostFunctionId, args: Vec<Value>, reply: AsyncReply);

    /// Resolve `specifier`, imported by the module at URL `referrer` (`<eval>` for scripts and
    /// `eval_module` roots), to the URL of the module to load.
    fn resolve_module(&self, specifier: &str, referrer: &str) -> Result<String, HostError>;

    /// Fetch the source of the module at `url`; `reply` may be answered later, from any thread.
    fn load_module(&self, url: &str, reply: ModuleReply);

    /// `console.*` output (only installed when the runtime enables the console).
    fn console(&self, level: ConsoleLevel, message: String);

    /// An exception thrown by a timer or microtask that no caller was waiting on.
    fn uncaught_exception(&self, exception: JsException);

    /// JS holds these grants no more (V8 collected every function that wrapped them).
    fn release_grants(&self, grants: Vec<HostFunctionId>);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsoleLevel {
    Debug,
    Info,
    Log,
    Warn,
    Error,
}
