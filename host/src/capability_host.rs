//! Every capability a runtime grants to its JavaScript, in one table. Nothing is granted by
//! default: JS can call only what was registered here, in the mode it was registered with, for
//! as long as the grant lives.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jscell_engine::UnpoisonedRw;
use jscell_engine::{AsyncReply, CallMode, ConsoleLevel, ConversionLimits, HostError, HostFunctionId, JsException, Value};

use crate::module_root::ModuleRoot;
use crate::module_sources::ModuleSources;

pub type SyncHandler = Box<dyn Fn(Vec<Value>) -> Result<Value, HostError> + Send + Sync>;
pub type AsyncHandler = Box<dyn Fn(Vec<Value>, AsyncReply) + Send + Sync>;

pub(crate) enum Handler {
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

pub(crate) struct Grant {
    name: String,
    pub(crate) handler: Handler,
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

    pub(crate) fn console_sink(&self) -> Option<Arc<dyn ConsoleSink>> {
        self.sink.reading().clone()
    }

    /// The grant `id`, if it is live and was granted for calls in `mode`.
    pub(crate) fn lookup(&self, id: HostFunctionId, mode: CallMode) -> Result<Arc<Grant>, HostError> {
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
