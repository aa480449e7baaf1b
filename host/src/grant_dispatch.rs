//! Every call an engine makes of its host, wherever the engine runs, served from the runtime's
//! `CapabilityHost`: grants looked up in the mode they were granted, module resolution and
//! loading, console output. One place, so both backends answer the same call the same way.

use std::sync::Arc;

use jscell_engine::{panic_message, AsyncReply, CallMode, ConsoleLevel, Host, HostError, HostFunctionId, JsException, ModuleReply, Value};

use crate::capability_host::{CapabilityHost, Handler};
use crate::module_sources::NotResolved;

/// The engine's view of a `CapabilityHost`: what the native backend hands its engine as its
/// `Host`, and what the hardened parent serves its guest's calls with.
/// Each method runs embedder code (a handler, the resolver, the loader, the console sink); a
/// panic in it costs that one call, not the thread it runs on. On native that thread is inside
/// V8, which a panic cannot unwind through.
pub struct GrantDispatch(pub Arc<CapabilityHost>);

/// Run `call`; a panic becomes an error naming `what` panicked (a reply moved into `call` is
/// dropped by the unwinding, which answers it with an error).
fn contained<R>(what: &str, call: impl FnOnce() -> R) -> Result<R, HostError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
        .map_err(|panic| HostError::error(format!("internal error: the {what} panicked: {}", panic_message(&*panic))))
}

impl GrantDispatch {
    /// `load_module`, telling whether `url` was one this runtime resolved (a loader that panics
    /// has answered the reply with an error).
    pub fn load_resolved(&self, url: &str, reply: ModuleReply) -> Result<(), NotResolved> {
        contained("module loader", || self.0.modules.load(url, reply)).unwrap_or(Ok(()))
    }
}

impl Host for GrantDispatch {
    fn call(&self, function: HostFunctionId, args: Vec<Value>) -> Result<Value, HostError> {
        match &self.0.lookup(function, CallMode::Sync)?.handler {
            Handler::Sync(handler) => contained("host function", || handler(args))?,
            Handler::Async(_) => unreachable!("lookup checked the mode"),
        }
    }

    fn call_async(&self, function: HostFunctionId, args: Vec<Value>, reply: AsyncReply) {
        match self.0.lookup(function, CallMode::Async) {
            Ok(grant) => match &grant.handler {
                Handler::Async(handler) => drop(contained("async host function", || handler(args, reply))),
                Handler::Sync(_) => unreachable!("lookup checked the mode"),
            },
            Err(error) => reply.resolve(Err(error)),
        }
    }

    fn resolve_module(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        contained("module resolver", || self.0.modules.resolve(specifier, referrer))?
    }

    fn load_module(&self, url: &str, reply: ModuleReply) {
        // The engine loads only what it resolved; a refusal has answered the reply already.
        let _ = self.load_resolved(url, reply);
    }

    fn console(&self, level: ConsoleLevel, message: String) {
        if let Some(sink) = self.0.console_sink() {
            let _ = contained("console sink", || sink.console(level, message));
        }
    }

    fn uncaught_exception(&self, exception: JsException) {
        if let Some(sink) = self.0.console_sink() {
            let _ = contained("console sink", || sink.uncaught_exception(exception));
        }
    }

    fn release_grants(&self, grants: Vec<HostFunctionId>) {
        // The engine releases only what it wrapped; nothing else could be refused here.
        let _ = self.0.release(&grants);
    }
}
