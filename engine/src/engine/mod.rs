//! One isolate, one context, one event loop. `Engine::run_with` serves requests from its inbox
//! until closed: it runs scripts and calls, drives timers, microtasks and async host calls, and
//! answers each request once its value (or its promise's value) is known. This file is the loop
//! and what it dispatches; each concern it calls into has a file of its own beside it.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use self::module_graph::host_failure;
use self::platform::{out_of_memory, MEMORY_CAPPED, MINIMUM_CODE_RANGE, V8_STARTED_IN};
use crate::bindings;
use crate::config::EngineConfig;
use crate::error::{EngineError, TerminationReason, STACK_FRAME_LIMIT};
use crate::heap_limit::HeapLimit;
use crate::host::Host;
use crate::inbox::{Completion, Inbound, InboxReceiver, Reply, Request, RequestId, Response, Wait, Waiter};
use crate::modules::callbacks::{self as module_callbacks, SCRIPT_REFERRER};
use crate::modules::key::{ModuleKey, ModuleKind};
use crate::modules::map::LoadDone;
use crate::snapshot;
use crate::state::EngineState;
use crate::stats::EngineStats;

/// The exception a TryCatch holds, as an error. Defined before the files below, which use it.
macro_rules! caught {
    ($tc:expr) => {{
        let exception = $tc.exception();
        let message = $tc.message();
        match exception {
            Some(exception) => crate::error::EngineError::JavaScript(crate::exception::describe(&mut *$tc, exception, message)),
            None => crate::error::EngineError::Terminated(crate::error::TerminationReason::InternalError("execution stopped without an exception".into())),
        }
    }};
}

mod cancellation;
mod execution;
mod handle;
mod module_graph;
mod pending;
mod snapshot_builder;
mod platform;
mod tasks;

pub use handle::EngineHandle;
pub use platform::{init_v8, is_jitless, set_jitless, set_memory_capped};
pub use snapshot_builder::{build_snapshot, engine_tag, SnapshotRecipe};

#[derive(Clone, Copy)]
enum Kind {
    Eval,
    Module,
    Call,
}

pub struct Engine {
    context: v8::Global<v8::Context>,
    state: Rc<EngineState>,
    pending: Vec<pending::Pending>,
    imports: Vec<module_graph::EvaluatingImport>,
    inbox: InboxReceiver,
    handle: EngineHandle,
    stats: EngineStats,
    isolate: v8::OwnedIsolate,
    // Declared after the isolate so it is dropped after it: V8 may call it until disposal.
    heap_limit: Option<Box<HeapLimit>>,
}

pub(super) type Turn<T> = Result<T, EngineError>;

impl Engine {
    /// Create the engine on the thread that will run it. Runs `config.bootstrap`.
    pub fn new(config: &EngineConfig, host: Box<dyn Host>) -> Result<(Engine, EngineHandle), EngineError> {
        if V8_STARTED_IN.get().is_some_and(|stamp| !stamp.is_current()) {
            return Err(EngineError::Terminated(TerminationReason::Forked));
        }
        init_v8();
        let mut params = v8::CreateParams::default();
        if let Some(max) = config.max_heap_size {
            params = params.heap_limits(config.initial_heap_size.unwrap_or(0).min(max), HeapLimit::engine_limit(max));
        } else if let Some(initial) = config.initial_heap_size {
            params = params.set_initial_old_generation_size_in_bytes(initial);
        }
        if MEMORY_CAPPED.get().is_some() {
            params = params.set_code_range_size_in_bytes(MINIMUM_CODE_RANGE);
        }
        if let Some(sealed) = &config.snapshot {
            // Opened again here, whoever checked it before: V8 must see only a sound blob.
            let blob = snapshot::open_for(&sealed.0, &engine_tag(is_jitless()), config.max_heap_size)
                .map_err(|e| EngineError::InvalidRequest(format!("the runtime's snapshot: {e}")))?;
            params = params.snapshot_blob(v8::StartupData::from(blob.to_vec()));
        }
        let mut isolate = v8::Isolate::new(params);
        isolate.set_oom_error_handler(out_of_memory);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_capture_stack_trace_for_uncaught_exceptions(true, STACK_FRAME_LIMIT as i32);
        module_callbacks::install(&mut isolate);
        let heap_limit = config.max_heap_size.map(|limit| HeapLimit::install(&mut isolate, limit));

        let (sender, inbox) = std::sync::mpsc::channel();
        let state = EngineState::new(host, sender.clone(), config.limits, bindings::host_function);
        isolate.set_slot(state.clone());
        let context = {
            v8::scope!(let scope, &mut isolate);
            let context = v8::Context::new(scope, Default::default());
            let scope = &mut v8::ContextScope::new(scope, context);
            bindings::install(scope, config.enable_console);
            v8::Global::new(scope, context)
        };
        let handle = EngineHandle { inbox: sender, isolate: isolate.thread_safe_handle(), shared: Arc::default() };
        let mut engine = Engine {
            context,
            state,
            pending: Vec::new(),
            imports: Vec::new(),
            inbox,
            handle: handle.clone(),
            stats: EngineStats::default(),
            isolate,
            heap_limit,
        };
        if let Some(source) = &config.bootstrap {
            engine.run_script(source, "<bootstrap>", None)?;
        }
        Ok((engine, handle))
    }

    /// Serve the inbox, waiting for messages through `waiter`, until `close()` or until every
    /// handle is dropped.
    pub fn run_with(mut self, mut waiter: impl Waiter) {
        loop {
            if let Some(reason) = self.handle.termination() {
                return self.shut_down(reason);
            }
            match waiter.next(&self.inbox, self.wake_at()) {
                None | Some(Inbound::Close) => return self.shut_down(TerminationReason::Closed),
                Some(Inbound::Wake) => {}
                Some(Inbound::Completed(Completion::AsyncCall { call, result })) => self.complete(call, result),
                Some(Inbound::Completed(Completion::ModuleSource { key, result })) => self.module_source(key, result),
                Some(Inbound::Request { id, request, reply }) => {
                    self.run_as(id, true);
                    self.serve(id, request, reply);
                    self.run_as(id, false);
                }
                Some(Inbound::Cancel { id }) => self.cancel_waiting(id),
            }
            self.turn();
            self.release_grants();
        }
    }

    /// When the loop must look again without a message: the next timer or caller deadline.
    /// `None` (sleep until a message) when no caller waits, so idle runtimes run no JS.
    fn wake_at(&self) -> Option<Instant> {
        if !self.is_waited_on() {
            return None;
        }
        if !self.state.modules.borrow().finished.is_empty() {
            // A load finished during this turn (an import of modules already compiled).
            return Some(Instant::now());
        }
        let deadlines = self.pending.iter().filter_map(|p| p.deadline);
        let loads = self.state.modules.borrow().next_deadline();
        deadlines.chain(loads).chain(self.state.timers.borrow().next_due()).min()
    }

    /// Whether some caller waits on this engine (a request, a module load, a dynamic import).
    fn is_waited_on(&self) -> bool {
        !self.pending.is_empty() || !self.imports.is_empty() || self.state.modules.borrow().is_loading()
    }

    fn shut_down(mut self, reason: TerminationReason) {
        for pending in self.pending.drain(..) {
            (pending.reply)(Err(EngineError::Terminated(reason.clone())));
        }
        let loads = self.state.modules.borrow_mut().take_all();
        for load in loads {
            if let LoadDone::Reply { reply, .. } = load.done {
                reply(Err(EngineError::Terminated(reason.clone())));
            }
        }
        crate::inbox::refuse_queued(&self.inbox, &reason);
    }

    fn serve(&mut self, id: Option<RequestId>, request: Request, reply: Reply) {
        match request {
            Request::Eval { source, timeout, wait } => {
                self.count(Kind::Eval, wait);
                let deadline = timeout.map(|t| Instant::now() + t);
                self.run_due_timers(deadline, timeout);
                let outcome = self.run_script(&source, "<eval>", timeout);
                self.answer(id, outcome, reply, timeout, deadline, wait);
            }
            Request::EvalModule { specifier, timeout, wait } => {
                self.count(Kind::Module, wait);
                let deadline = timeout.map(|t| Instant::now() + t);
                self.run_due_timers(deadline, timeout);
                let url = self.state.host.resolve_module(&specifier, SCRIPT_REFERRER);
                match url {
                    Ok(url) => {
                        let key = ModuleKey { url, kind: ModuleKind::JavaScript };
                        let done = LoadDone::Reply { id, reply, timeout, deadline, wait };
                        let state = self.state.clone();
                        state.modules.borrow_mut().start(&*state.host, &state.inbox, key, done);
                    }
                    Err(error) => reply(Err(host_failure(error))),
                }
            }
            Request::Call { function, args, timeout, wait } => {
                self.count(Kind::Call, wait);
                let deadline = timeout.map(|t| Instant::now() + t);
                self.run_due_timers(deadline, timeout);
                let outcome = self.call_function(function, &args, timeout);
                self.answer(id, outcome, reply, timeout, deadline, wait);
            }
            Request::Release { functions } => {
                self.state.functions.borrow_mut().release(&functions);
                reply(Ok(Response::Done));
            }
            Request::SetGlobal { name, value } => reply(self.set_global(&name, &value).map(|()| Response::Done)),
            Request::Stats => reply(Ok(Response::Stats(self.stats()))),
        }
    }

    fn count(&mut self, kind: Kind, wait: Wait) {
        let (counter, name) = match (kind, wait) {
            (Kind::Eval, Wait::Blocking) => (&mut self.stats.eval_sync_count, "eval"),
            (Kind::Eval, Wait::Async) => (&mut self.stats.eval_async_count, "eval_async"),
            (Kind::Module, Wait::Blocking) => (&mut self.stats.eval_sync_count, "eval_module"),
            (Kind::Module, Wait::Async) => (&mut self.stats.eval_async_count, "eval_module_async"),
            (Kind::Call, Wait::Blocking) => (&mut self.stats.call_sync_count, "call"),
            (Kind::Call, Wait::Async) => (&mut self.stats.call_async_count, "call_async"),
        };
        *counter += 1;
        self.stats.last_execution_kind = name.to_string();
    }

    /// One loop turn after a message: fire due timers, then answer every settled promise.
    fn turn(&mut self) {
        self.finish_loads();
        if !self.is_waited_on() {
            return;
        }
        let deadline = self.pending.iter().filter_map(|p| p.deadline).min();
        let timeout = self.pending.iter().filter_map(|p| p.timeout).min();
        self.run_due_timers(deadline, timeout);
        self.settle_imports();
        self.settle_pending();
        self.expire_loads();
    }

    fn stats(&mut self) -> EngineStats {
        let heap = self.isolate.get_heap_statistics();
        let (timers, intervals) = self.state.timers.borrow().counts();
        EngineStats {
            heap_total_bytes: heap.total_heap_size(),
            heap_used_bytes: heap.used_heap_size(),
            heap_limit_bytes: heap.heap_size_limit(),
            external_memory_bytes: heap.external_memory(),
            physical_total_bytes: heap.total_physical_size(),
            host_call_sync_count: self.state.host_calls_sync.get(),
            host_call_async_count: self.state.host_calls_async.get(),
            active_async_ops: self.state.async_calls.borrow().len(),
            active_timers: timers,
            active_intervals: intervals,
            ..self.stats.clone()
        }
    }
}
