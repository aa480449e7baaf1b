//! Every capability a runtime grants to its JavaScript, in one table. Nothing is granted by
//! default: JS can call only what was registered here, in the mode it was registered with, for
//! as long as the grant lives.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jscell_engine::UnpoisonedRw;
use jscell_engine::{
    panic_message, AsyncReply, CallMode, ConsoleLevel, ConversionLimits, Host, HostError, HostFunctionId, JsException, ModuleReply, Value,
};

use crate::module_root::ModuleRoot;
use crate::module_sources::{ModuleSources, NotResolved};

pub type SyncHandler = Box<dyn Fn(Vec<Value>) -> Result<Value, HostError> + Send + Sync>;
pub type AsyncHandler = Box<dyn Fn(Vec<Value>, AsyncReply) + Send + Sync>;

enum Handler {
    Sync(SyncHandler),
    Async(AsyncHandler),
}

/// How long a grant lives (every grant ends when its runtime closes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// An op: JS calls it by id, for the runtime's whole life.
    Runtime,
    /// A callable passed into JS as a value: until JS holds no function wrapping it.
    WhileWrapped,
}

struct Grant {
    name: String,
    handler: Handler,
    lifetime: Lifetime,
}

/// The live grants by id. Ids count up and are not reused while in use; `u32::MAX` is never
/// handed out.
#[derive(Default)]
struct Grants {
    by_id: HashMap<u32, Arc<Grant>>,
    next: u32,
}

/// A release named a grant that is not a live value grant of this runtime.
#[derive(Debug, thiserror::Error)]
#[error("a release of grant {0}, which is not a live callable of this runtime")]
pub struct NotReleasable(pub u32);

/// Where console output and uncaught exceptions of background tasks go.
pub trait ConsoleSink: Send + Sync {
    fn console(&self, level: ConsoleLevel, message: String);
    fn uncaught_exception(&self, exception: JsException);
}

pub struct CapabilityHost {
    grants: RwLock<Grants>,
    sink: RwLock<Option<Arc<dyn ConsoleSink>>>,
    pub modules: ModuleSources,
}

impl CapabilityHost {
    /// Nothing granted; files are reachable only under `module_root`, when given. Values are
    /// bounded by `limits`, and so are the module URLs the runtime resolves, together.
    pub fn new(module_root: Option<ModuleRoot>, limits: ConversionLimits) -> Arc<Self> {
        Arc::new(CapabilityHost {
            grants: RwLock::default(),
            sink: RwLock::default(),
            modules: ModuleSources::new(module_root, limits.max_bytes),
        })
    }

    pub fn grant_sync(&self, name: impl Into<String>, lifetime: Lifetime, handler: SyncHandler) -> HostFunctionId {
        self.grant(name.into(), lifetime, Handler::Sync(handler))
    }

    pub fn grant_async(&self, name: impl Into<String>, lifetime: Lifetime, handler: AsyncHandler) -> HostFunctionId {
        self.grant(name.into(), lifetime, Handler::Async(handler))
    }

    fn grant(&self, name: String, lifetime: Lifetime, handler: Handler) -> HostFunctionId {
        let mut grants = self.grants.writing();
        let mut id = grants.next;
        while id == u32::MAX || grants.by_id.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        grants.next = id.wrapping_add(1);
        grants.by_id.insert(id, Arc::new(Grant { name, handler, lifetime }));
        HostFunctionId(id)
    }

    /// End value grants JS holds no more. Every id must be a live value grant: a release of an
    /// op, or of an id released already, is refused whole.
    pub fn release(&self, ids: &[HostFunctionId]) -> Result<(), NotReleasable> {
        let mut grants = self.grants.writing();
        let releasable = |id: &HostFunctionId| grants.by_id.get(&id.0).is_some_and(|g| g.lifetime == Lifetime::WhileWrapped);
        if let Some(id) = ids.iter().find(|id| !releasable(id)) {
            return Err(NotReleasable(id.0));
        }
        for id in ids {
            grants.by_id.remove(&id.0);
        }
        Ok(())
    }

    /// End every grant (the runtime closed), dropping what the handlers hold.
    pub fn revoke_all(&self) {
        let revoked = std::mem::take(&mut self.grants.writing().by_id);
        drop(revoked);
    }

    /// Grants alive now, ops included.
    pub fn live_grants(&self) -> usize {
        self.grants.reading().by_id.len()
    }

    pub fn set_console_sink(&self, sink: Arc<dyn ConsoleSink>) {
        *self.sink.writing() = Some(sink);
    }

    fn lookup(&self, id: HostFunctionId, mode: CallMode) -> Result<Arc<Grant>, HostError> {
        let grant = self.grants.reading().by_id.get(&id.0).cloned();
        let grant = grant.ok_or_else(|| HostError::type_error(format!("no op or host function has id {}", id.0)))?;
        match (&grant.handler, mode) {
            (Handler::Sync(_), CallMode::Sync) | (Handler::Async(_), CallMode::Async) => Ok(grant),
            (Handler::Sync(_), CallMode::Async) => Err(HostError::type_error(format!(
                "op '{}' (id {}) is synchronous: call it with __host_op_sync__",
                grant.name, id.0
            ))),
            (Handler::Async(_), CallMode::Sync) => Err(HostError::type_error(format!(
                "op '{}' (id {}) is asynchronous: call it with __host_op_async__",
                grant.name, id.0
            ))),
        }
    }
}

/// The engine's view of a `CapabilityHost`: what a backend hands to the engine as its `Host`.
/// Each method runs embedder code (a handler, the resolver, the loader, the console sink); a
/// panic in it costs that one call, not the thread it runs on. On native that thread is inside
/// V8, which a panic cannot unwind through.
pub struct EngineHost(pub Arc<CapabilityHost>);

/// Run `call`; a panic becomes an error naming `what` panicked (a reply moved into `call` is
/// dropped by the unwinding, which answers it with an error).
fn contained<R>(what: &str, call: impl FnOnce() -> R) -> Result<R, HostError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(call))
        .map_err(|panic| HostError::error(format!("internal error: the {what} panicked: {}", panic_message(&*panic))))
}

impl EngineHost {
    /// `load_module`, telling whether `url` was one this runtime resolved (a loader that panics
    /// has answered the reply with an error).
    pub fn load_resolved(&self, url: &str, reply: ModuleReply) -> Result<(), NotResolved> {
        contained("module loader", || self.0.modules.load(url, reply)).unwrap_or(Ok(()))
    }
}

impl Host for EngineHost {
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
        if let Some(sink) = self.0.sink.reading().clone() {
            let _ = contained("console sink", || sink.console(level, message));
        }
    }

    fn uncaught_exception(&self, exception: JsException) {
        if let Some(sink) = self.0.sink.reading().clone() {
            let _ = contained("console sink", || sink.uncaught_exception(exception));
        }
    }

    fn release_grants(&self, grants: Vec<HostFunctionId>) {
        // The engine releases only what it wrapped; nothing else could be refused here.
        let _ = self.0.release(&grants);
    }
}
