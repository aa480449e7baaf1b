//! One isolate, one context, one event loop. `Engine::run` serves requests from its inbox until
//! closed: it runs scripts and calls, drives timers, microtasks and async host calls, and answers
//! each request once its value (or its promise's value) is known.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use crate::bindings;
use crate::config::EngineConfig;
use crate::convert::{to_v8, FromV8, ReadFailure};
use crate::error::{EngineError, HostError, JsException, TerminationReason};
use crate::exception::{self, STACK_FRAME_LIMIT};
use crate::heap_limit::HeapLimit;
use crate::host::Host;
use crate::module_callbacks::{self, SCRIPT_REFERRER};
use crate::modules::{LoadDone, ModuleKey, ModuleKind};
use crate::process_stamp::ProcessStamp;
use crate::inbox::{
    AsyncCallId, Inbound, InboxReceiver, InboxSender, InboxWaiter, Reply, Request, RequestId, Response, Wait, Waiter,
};
use crate::state::EngineState;
use crate::stats::EngineStats;
use crate::value::Value;
use crate::watchdog::Watchdog;
use crate::sync::Unpoisoned;

/// Process-wide V8 flags. Concurrent on-stack replacement installs optimized loop code that
/// in this V8 no longer honours `TerminateExecution` (an allocating `for (;;)` could not be
/// stopped by a timeout or the heap limit), so OSR compiles on the isolate's own thread.
const V8_FLAGS: &str = "--no-concurrent-osr";

/// Run V8 without JIT compilers (interpreter only). Process-wide, so it must be called before
/// the first engine is created; the hardened guest calls it when its runtime asks.
pub fn set_jitless() {
    v8::V8::set_flags_from_string("--jitless");
}

/// How a process whose memory is capped from inside sizes its engines: V8's code range at
/// its minimum (it reserves 512 MB of writable memory otherwise, which an rlimit counts), and
/// an exit with `code`, rather than an abort, when V8 runs out of memory.
static MEMORY_CAPPED: OnceLock<i32> = OnceLock::new();
const MINIMUM_CODE_RANGE: usize = 64 << 20;

/// Process-wide, before the first engine (the hardened guest under an rlimit calls it).
pub fn set_memory_capped(out_of_memory_exit: i32) {
    let _ = MEMORY_CAPPED.set(out_of_memory_exit);
}

unsafe extern "C" fn out_of_memory(_location: *const std::ffi::c_char, _details: &v8::OomDetails) {
    if let Some(code) = MEMORY_CAPPED.get() {
        // SAFETY: ends the process at once; nothing may run after V8 ran out of memory.
        unsafe { libc::_exit(*code) };
    }
}

/// The process V8 was started in: its worker threads do not survive a fork, and an isolate
/// created in a forked child aborts the child.
static V8_STARTED_IN: OnceLock<ProcessStamp> = OnceLock::new();

/// The platform V8 runs its tasks on; each engine runs the ones posted for its isolate.
static PLATFORM: OnceLock<v8::SharedRef<v8::Platform>> = OnceLock::new();

/// Initialise V8 for this process now rather than with the first engine (a hardened guest
/// waiting in a pool does it ahead). Later calls do nothing.
pub fn init_v8() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = V8_STARTED_IN.set(ProcessStamp::current());
        v8::V8::set_flags_from_string(V8_FLAGS);
        let platform = PLATFORM.get_or_init(|| v8::new_default_platform(0, false).make_shared());
        v8::V8::initialize_platform(platform.clone());
        v8::V8::initialize();
    });
}

/// State shared with the engine's owner on other threads.
#[derive(Default)]
struct Shared {
    termination: Mutex<Option<TerminationReason>>,
    watchdog_fired: Arc<AtomicBool>,
    running: Mutex<Running>,
}

/// The request whose JS runs now, and whether its caller cancelled it. One lock, so a cancel
/// can only ever terminate the JS of the request it names.
#[derive(Default)]
struct Running {
    id: Option<RequestId>,
    cancelled: bool,
}

/// The owner's side of a running engine. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct EngineHandle {
    inbox: InboxSender,
    isolate: v8::IsolateHandle,
    shared: Arc<Shared>,
}

impl EngineHandle {
    /// Queue a request; if the engine is gone the reply is answered at once.
    pub fn send(&self, request: Request, reply: Reply) {
        self.send_cancellable(None, request, reply);
    }

    /// `send`, with an id by which `cancel` can stop it.
    pub fn send_cancellable(&self, id: Option<RequestId>, request: Request, reply: Reply) {
        if let Err(failed) = self.inbox.send(Inbound::Request { id, request, reply }) {
            if let Inbound::Request { reply, .. } = failed.0 {
                reply(Err(EngineError::Terminated(self.termination().unwrap_or(TerminationReason::Closed))));
            }
        }
    }

    /// The caller of request `id` gave up on it: terminate its JS if it runs now (the runtime
    /// stays usable), or stop waiting for its promise. Its reply, if any, is `Cancelled`.
    pub fn cancel(&self, id: RequestId) {
        let mut running = self.shared.running.locked();
        if running.id == Some(id) {
            running.cancelled = true;
            self.isolate.terminate_execution();
        }
        drop(running);
        let _ = self.inbox.send(Inbound::Cancel { id });
    }

    /// Stop running JS now and refuse all further work.
    pub fn terminate(&self, reason: TerminationReason) {
        self.shared.termination.locked().get_or_insert(reason);
        self.isolate.terminate_execution();
        let _ = self.inbox.send(Inbound::Wake);
    }

    pub fn termination(&self) -> Option<TerminationReason> {
        self.shared.termination.locked().clone()
    }

    /// Ask the loop to finish; pending requests fail with `Terminated(Closed)`.
    pub fn close(&self) {
        let _ = self.inbox.send(Inbound::Close);
    }
}

/// A request whose value is a promise that has not settled yet.
struct Pending {
    /// The request's id, when its caller may cancel it.
    id: Option<RequestId>,
    promise: v8::Global<v8::Promise>,
    /// For `eval_module`: answer with this module's namespace once the promise fulfills.
    namespace: Option<v8::Global<v8::Module>>,
    reply: Reply,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    wait: Wait,
}

#[derive(Clone, Copy)]
enum Kind {
    Eval,
    Module,
    Call,
}

/// A dynamic `import()` whose graph is evaluating: its promise settles with the namespace.
struct EvaluatingImport {
    evaluation: v8::Global<v8::Promise>,
    module: v8::Global<v8::Module>,
    resolver: v8::Global<v8::PromiseResolver>,
}

pub struct Engine {
    context: v8::Global<v8::Context>,
    state: Rc<EngineState>,
    pending: Vec<Pending>,
    imports: Vec<EvaluatingImport>,
    inbox: InboxReceiver,
    handle: EngineHandle,
    stats: EngineStats,
    isolate: v8::OwnedIsolate,
    // Declared after the isolate so it is dropped after it: V8 may call it until disposal.
    heap_limit: Option<Box<HeapLimit>>,
}

type Turn<T> = Result<T, EngineError>;

/// The exception a TryCatch holds, as an error.
macro_rules! caught {
    ($tc:expr) => {{
        let exception = $tc.exception();
        let message = $tc.message();
        match exception {
            Some(exception) => EngineError::JavaScript(exception::describe(&mut *$tc, exception, message)),
            None => EngineError::Terminated(TerminationReason::InternalError("execution stopped without an exception".into())),
        }
    }};
}

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
        let mut isolate = v8::Isolate::new(params);
        isolate.set_oom_error_handler(out_of_memory);
        isolate.set_microtasks_policy(v8::MicrotasksPolicy::Explicit);
        isolate.set_capture_stack_trace_for_uncaught_exceptions(true, STACK_FRAME_LIMIT as i32);
        module_callbacks::install(&mut isolate);
        let heap_limit = config.max_heap_size.map(|limit| HeapLimit::install(&mut isolate, limit));

        let (sender, inbox) = std::sync::mpsc::channel();
        let state = EngineState::new(host, sender.clone(), config.limits);
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

    /// Serve the inbox until `close()` or until every handle is dropped.
    pub fn run(self) {
        self.run_with(InboxWaiter);
    }

    /// `run`, waiting for messages through `waiter`.
    pub fn run_with(mut self, mut waiter: impl Waiter) {
        loop {
            if let Some(reason) = self.handle.termination() {
                return self.shut_down(reason);
            }
            match waiter.next(&self.inbox, self.wake_at()) {
                None | Some(Inbound::Close) => return self.shut_down(TerminationReason::Closed),
                Some(Inbound::Wake) => {}
                Some(Inbound::Completion { call, result }) => self.complete(call, result),
                Some(Inbound::ModuleSource { key, result }) => self.module_source(key, result),
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

    /// Mark whether request `id`'s JS runs now. A cancel that came as it finished leaves a
    /// termination pending, which must not stop the next request's JS.
    fn run_as(&mut self, id: Option<RequestId>, starts: bool) {
        let mut running = self.handle.shared.running.locked();
        if !starts && running.cancelled {
            self.isolate.cancel_terminate_execution();
        }
        *running = Running { id: id.filter(|_| starts), cancelled: false };
    }

    fn is_cancelled(&self) -> bool {
        self.handle.shared.running.locked().cancelled
    }

    /// Stop waiting for request `id`'s promise or module graph: its caller gave up.
    fn cancel_waiting(&mut self, id: RequestId) {
        if let Some(index) = self.pending.iter().position(|pending| pending.id == Some(id)) {
            (self.pending.swap_remove(index).reply)(Err(EngineError::Cancelled));
        }
        if let Some(load) = self.state.modules.borrow_mut().take_load_of(id) {
            if let LoadDone::Reply { reply, .. } = load.done {
                reply(Err(EngineError::Cancelled));
            }
        }
    }

    /// Run the tasks V8 posted for this isolate (among them, the finalizers of collected
    /// wrappers), then tell the host which grants JS holds no more.
    fn release_grants(&mut self) {
        if let Some(platform) = PLATFORM.get() {
            while v8::Platform::pump_message_loop(platform, &self.isolate, false) {}
        }
        let released = self.state.grant_wrappers.borrow_mut().take_released();
        if !released.is_empty() {
            self.state.host.release_grants(released);
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
        // Fail whatever is still queued, so no caller waits forever.
        while let Ok(message) = self.inbox.try_recv() {
            if let Inbound::Request { reply, .. } = message {
                reply(Err(EngineError::Terminated(reason.clone())));
            }
        }
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

    /// Reply now with a plain value, or park the request until its promise settles.
    fn answer(
        &mut self,
        id: Option<RequestId>,
        outcome: Turn<Completion>,
        reply: Reply,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        wait: Wait,
    ) {
        match outcome {
            Ok(Completion::Value(value)) => reply(Ok(Response::Value(value))),
            Ok(Completion::Promise(promise)) => {
                self.pending.push(Pending { id, promise, namespace: None, reply, timeout, deadline, wait })
            }
            Err(error) => reply(Err(error)),
        }
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

    fn settle_pending(&mut self) {
        let now = Instant::now();
        let idle = self.state.async_calls.borrow().is_empty()
            && self.state.timers.borrow().is_empty()
            && !self.state.modules.borrow().is_loading()
            && self.imports.is_empty();
        let mut index = 0;
        while index < self.pending.len() {
            let pending = &self.pending[index];
            let state = {
                v8::scope!(let scope, &mut self.isolate);
                v8::Local::new(scope, &pending.promise).state()
            };
            let error = match state {
                v8::PromiseState::Pending => match pending.deadline {
                    Some(deadline) if deadline <= now => Some(EngineError::Timeout(pending.timeout.unwrap_or_default())),
                    _ if idle && pending.wait == Wait::Blocking => Some(EngineError::Stalled),
                    _ => None,
                },
                _ => None,
            };
            if state == v8::PromiseState::Pending && error.is_none() {
                index += 1;
                continue;
            }
            let pending = self.pending.swap_remove(index);
            let result = match (error, &pending.namespace) {
                (Some(error), _) => Err(error),
                (None, Some(module)) if state == v8::PromiseState::Fulfilled => self.namespace(module, pending.timeout),
                (None, _) => self.promise_result(&pending.promise, pending.timeout),
            };
            (pending.reply)(result.map(Response::Value));
        }
    }

    /// The value of a settled promise, read under the caller's timeout: reading it can run
    /// JS (getters, an error's `message`), which must not escape the watchdog.
    fn promise_result(&mut self, promise: &v8::Global<v8::Promise>, timeout: Option<Duration>) -> Turn<Value> {
        match self.execute(timeout, |scope| Some(v8::Local::new(scope, promise).into()))? {
            Completion::Value(value) => Ok(value),
            Completion::Promise(_) => unreachable!("only settled promises are read"),
        }
    }

    /// A module graph root's namespace object, as a value.
    fn namespace(&mut self, module: &v8::Global<v8::Module>, timeout: Option<Duration>) -> Turn<Value> {
        match self.execute(timeout, |scope| Some(v8::Local::new(scope, module).get_module_namespace()))? {
            Completion::Value(value) => Ok(value),
            Completion::Promise(_) => unreachable!("a namespace is not a promise"),
        }
    }

    /// A module's source arrived: compile it and continue the loads that wait for it.
    fn module_source(&mut self, key: ModuleKey, result: Result<String, HostError>) {
        let state = self.state.clone();
        let waiters = state.modules.borrow_mut().waiters(&key);
        if waiters.is_empty() {
            return;
        }
        let compiled = result.map_err(host_failure).and_then(|source| self.compile_module(&key, &source));
        let mut modules = state.modules.borrow_mut();
        match compiled {
            Ok((module, identity, imports)) => modules.compiled(&*state.host, &state.inbox, key, module, identity, imports, waiters),
            Err(error) => modules.fail(waiters, error),
        }
        modules.fetch_deferred(&*state.host, &state.inbox);
    }

    /// Compile `source` as the module `key` and resolve each of its imports.
    fn compile_module(&mut self, key: &ModuleKey, source: &str) -> Turn<(v8::Global<v8::Module>, i32, Vec<(String, ModuleKey)>)> {
        let state = self.state.clone();
        v8::scope!(let scope, &mut self.isolate);
        let context = v8::Local::new(scope, &self.context);
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let too_long = || EngineError::InvalidRequest(format!("module '{}' is too large", key.url));
        let name = v8::String::new(tc, &key.url).ok_or_else(too_long)?;
        let text = v8::String::new(tc, source).ok_or_else(too_long)?;
        let module = match key.kind {
            ModuleKind::JavaScript => {
                let origin = v8::ScriptOrigin::new(tc, name.into(), 0, 0, false, 0, None, false, false, true, None);
                let mut source = v8::script_compiler::Source::new(text, Some(&origin));
                v8::script_compiler::compile_module(tc, &mut source)
            }
            ModuleKind::Json => v8::json::parse(tc, text).map(|value| {
                state.modules.borrow_mut().set_json_value(key.clone(), v8::Global::new(tc, value));
                let export = v8::String::new(tc, "default").expect("short name");
                v8::Module::create_synthetic_module(tc, name, &[export], module_callbacks::evaluate_json)
            }),
        };
        let Some(module) = module else {
            return Err(caught!(tc));
        };
        let requests = module.get_module_requests();
        let mut imports = Vec::with_capacity(requests.length());
        for index in 0..requests.length() {
            let Some(request) = requests.get(tc, index).and_then(|r| v8::Local::<v8::ModuleRequest>::try_from(r).ok()) else {
                continue;
            };
            let specifier = request.get_specifier().to_rust_string_lossy(tc);
            let attributes = request.get_import_attributes();
            let kind = module_callbacks::request_kind(tc, attributes).map_err(host_failure)?;
            let url = state.host.resolve_module(&specifier, &key.url).map_err(host_failure)?;
            imports.push((specifier, ModuleKey { url, kind }));
        }
        let identity = module.get_identity_hash().get();
        Ok((v8::Global::new(tc, module), identity, imports))
    }

    /// Instantiate and evaluate every graph whose modules are all compiled.
    fn finish_loads(&mut self) {
        loop {
            let next = self.state.modules.borrow_mut().finished.pop();
            let Some(id) = next else { return };
            let load = self.state.modules.borrow_mut().take_load(id);
            let Some(load) = load else { continue };
            if let Some(error) = load.failed {
                self.deliver_load_error(load.done, error);
                continue;
            }
            let Some(module) = self.state.modules.borrow().module(&load.root).cloned() else {
                let error = EngineError::InvalidRequest(format!("module '{}' was not loaded", load.root.url));
                self.deliver_load_error(load.done, error);
                continue;
            };
            let (request, timeout) = match &load.done {
                LoadDone::Reply { id, timeout, .. } => (*id, *timeout),
                LoadDone::Import { .. } => (None, None),
            };
            // The graph evaluates as part of its request: a cancel of it stops this JS.
            self.run_as(request, true);
            let evaluated = self.guarded(timeout, |scope| {
                let local = v8::Local::new(scope, &module);
                if local.get_status() == v8::ModuleStatus::Uninstantiated {
                    local.instantiate_module(scope, module_callbacks::resolve_import)?;
                }
                let evaluation = local.evaluate(scope)?;
                scope.perform_microtask_checkpoint();
                let Ok(evaluation) = v8::Local::<v8::Promise>::try_from(evaluation) else {
                    return Some(Err(EngineError::InvalidRequest("module evaluation gave no promise".into())));
                };
                Some(Ok(v8::Global::new(scope, evaluation)))
            });
            self.run_as(request, false);
            match (evaluated, load.done) {
                (Err(error), done) => self.deliver_load_error(done, error),
                (Ok(evaluation), LoadDone::Reply { id, reply, timeout, deadline, wait }) => {
                    let pending = Pending { id, promise: evaluation, namespace: Some(module), reply, timeout, deadline, wait };
                    self.pending.push(pending);
                }
                (Ok(evaluation), LoadDone::Import { resolver }) => {
                    self.imports.push(EvaluatingImport { evaluation, module, resolver });
                }
            }
        }
    }

    fn deliver_load_error(&mut self, done: LoadDone, error: EngineError) {
        match done {
            LoadDone::Reply { reply, .. } => reply(Err(error)),
            LoadDone::Import { resolver } => {
                let _ = self.guarded(None, |scope| {
                    let reason = module_callbacks::rejection(scope, &error);
                    v8::Local::new(scope, &resolver).reject(scope, reason)?;
                    scope.perform_microtask_checkpoint();
                    Some(Ok(()))
                });
            }
        }
    }

    /// Settle each dynamic `import()` whose graph finished evaluating.
    fn settle_imports(&mut self) {
        let mut index = 0;
        while index < self.imports.len() {
            let state = {
                v8::scope!(let scope, &mut self.isolate);
                v8::Local::new(scope, &self.imports[index].evaluation).state()
            };
            if state == v8::PromiseState::Pending {
                index += 1;
                continue;
            }
            let import = self.imports.swap_remove(index);
            let settled = self.guarded(None, |scope| {
                let resolver = v8::Local::new(scope, &import.resolver);
                let evaluation = v8::Local::new(scope, &import.evaluation);
                if evaluation.state() == v8::PromiseState::Rejected {
                    let reason = evaluation.result(scope);
                    resolver.reject(scope, reason)?;
                } else {
                    let namespace = v8::Local::new(scope, &import.module).get_module_namespace();
                    resolver.resolve(scope, namespace)?;
                }
                scope.perform_microtask_checkpoint();
                Some(Ok(()))
            });
            if let Err(EngineError::JavaScript(exception)) = settled {
                self.state.host.uncaught_exception(exception);
            }
        }
    }

    /// Module loads whose caller's deadline passed fail with a timeout.
    fn expire_loads(&mut self) {
        let expired = self.state.modules.borrow_mut().expired(Instant::now());
        for load in expired {
            if let LoadDone::Reply { reply, timeout, .. } = load.done {
                reply(Err(EngineError::Timeout(timeout.unwrap_or_default())));
            }
        }
    }

    fn run_script(&mut self, source: &str, name: &str, timeout: Option<Duration>) -> Turn<Completion> {
        self.execute(timeout, |scope| {
            let source = v8::String::new(scope, source)?;
            let name = v8::String::new(scope, name)?;
            let origin = v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, false, None);
            let script = v8::Script::compile(scope, source, Some(&origin))?;
            script.run(scope)
        })
    }

    fn call_function(&mut self, function: crate::value::FunctionHandle, args: &[Value], timeout: Option<Duration>) -> Turn<Completion> {
        let Some(target) = self.state.functions.borrow().get(function).cloned() else {
            return Err(EngineError::InvalidRequest("this JsFunction was closed; it can no longer be called".into()));
        };
        let state = self.state.clone();
        let mut conversion = None;
        let outcome = self.execute(timeout, |scope| {
            let functions = state.functions.borrow();
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                match to_v8(scope, arg, &functions) {
                    Ok(value) => values.push(value),
                    Err(e) => {
                        conversion = Some(e);
                        return None;
                    }
                }
            }
            drop(functions);
            let target = v8::Local::new(scope, &target);
            let receiver = v8::undefined(scope).into();
            target.call(scope, receiver, &values)
        });
        match conversion {
            Some(e) => Err(e.into()),
            None => outcome,
        }
    }

    fn set_global(&mut self, name: &str, value: &Value) -> Turn<()> {
        let state = self.state.clone();
        v8::scope!(let scope, &mut self.isolate);
        let context = v8::Local::new(scope, &self.context);
        let scope = &mut v8::ContextScope::new(scope, context);
        let value = to_v8(scope, value, &state.functions.borrow())?;
        let key = v8::String::new(scope, name)
            .ok_or_else(|| EngineError::InvalidRequest(format!("global name too long: {} bytes", name.len())))?;
        context.global(scope).set(scope, key.into(), value);
        Ok(())
    }

    /// Run JS, then drain microtasks. A plain result is converted at once; a promise is
    /// returned to be awaited.
    fn execute<F>(&mut self, timeout: Option<Duration>, run: F) -> Turn<Completion>
    where
        F: for<'s, 'i> FnOnce(&mut v8::PinScope<'s, 'i>) -> Option<v8::Local<'s, v8::Value>>,
    {
        let limits = self.state.limits;
        let state = self.state.clone();
        self.guarded(timeout, move |scope| {
            let value = run(scope)?;
            scope.perform_microtask_checkpoint();
            let value = if value.is_promise() {
                let promise = value.cast::<v8::Promise>();
                if promise.state() == v8::PromiseState::Pending {
                    return Some(Ok(Completion::Promise(v8::Global::new(scope, promise))));
                }
                match settled_value(scope, promise) {
                    Ok(value) => value,
                    Err(exception) => return Some(Err(EngineError::JavaScript(exception))),
                }
            } else {
                value
            };
            let mut keep = |f| state.functions.borrow_mut().keep(f);
            match FromV8::new(limits, &mut keep).read(scope, value) {
                Ok(value) => Some(Ok(Completion::Value(value))),
                Err(ReadFailure::Conversion(e)) => Some(Err(e.into())),
                Err(ReadFailure::Threw) => None,
            }
        })
    }

    /// Run `run` in the context under a TryCatch and the watchdog. `None` from `run` means JS
    /// threw or was stopped: the caught exception, or the reason it stopped, is the error.
    fn guarded<T, F>(&mut self, timeout: Option<Duration>, run: F) -> Turn<T>
    where
        F: for<'s, 'i> FnOnce(&mut v8::PinScope<'s, 'i>) -> Option<Turn<T>>,
    {
        if self.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        let started = Instant::now();
        let guard = timeout.map(|t| Watchdog::arm(started + t, self.handle.isolate.clone(), self.handle.shared.watchdog_fired.clone()));
        let outcome = {
            v8::scope!(let scope, &mut self.isolate);
            let context = v8::Local::new(scope, &self.context);
            let scope = &mut v8::ContextScope::new(scope, context);
            v8::tc_scope!(let tc, scope);
            match run(&mut *tc) {
                Some(result) if !tc.has_terminated() => Ok(result),
                _ if tc.has_terminated() || tc.exception().is_none() => Err(None),
                _ => Err(Some(caught!(tc))),
            }
        };
        drop(guard);
        let fired = self.handle.shared.watchdog_fired.swap(false, Ordering::SeqCst);
        let elapsed = started.elapsed();
        self.stats.last_execution_time = elapsed;
        self.stats.total_execution_time += elapsed;
        if fired {
            // The deadline passed, perhaps while an error or result was being read (getters run
            // JS): whatever was produced is incomplete, so the caller gets the timeout.
            return Err(self.termination_cause(fired, timeout));
        }
        match outcome {
            Ok(result) => result,
            Err(Some(error)) => Err(error),
            Err(None) => Err(self.termination_cause(fired, timeout)),
        }
    }

    /// Why JS stopped without an exception: the heap limit, `terminate()`, or the watchdog.
    fn termination_cause(&mut self, watchdog_fired: bool, timeout: Option<Duration>) -> EngineError {
        if let Some(limit) = self.heap_limit.as_ref().filter(|h| h.was_hit()) {
            let reason = TerminationReason::HeapLimit { limit_bytes: limit.limit_bytes };
            self.handle.shared.termination.locked().get_or_insert(reason);
        }
        if let Some(reason) = self.handle.termination() {
            return EngineError::Terminated(reason);
        }
        self.isolate.cancel_terminate_execution();
        if self.is_cancelled() {
            return EngineError::Cancelled;
        }
        if watchdog_fired {
            EngineError::Timeout(timeout.unwrap_or_default())
        } else {
            EngineError::Terminated(TerminationReason::InternalError("execution was terminated".into()))
        }
    }

    /// Run every timer due now, each as its own task followed by a microtask checkpoint.
    fn run_due_timers(&mut self, deadline: Option<Instant>, timeout: Option<Duration>) {
        loop {
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return;
            }
            let due = self.state.timers.borrow_mut().take_due(Instant::now());
            let Some((id, callback, args)) = due else { return };
            let outcome = self.execute(timeout, |scope| {
                let callback = v8::Local::new(scope, &callback);
                let args: Vec<_> = args.iter().map(|a| v8::Local::new(scope, a)).collect();
                let receiver = v8::undefined(scope).into();
                callback.call(scope, receiver, &args)?;
                Some(v8::undefined(scope).into())
            });
            self.state.timers.borrow_mut().reschedule(id);
            match outcome {
                Ok(_) => {}
                Err(EngineError::JavaScript(exception)) => self.state.host.uncaught_exception(exception),
                // A timeout or termination surfaces through the waiting callers.
                Err(_) => return,
            }
        }
    }

    /// An async host call finished: settle its JS promise.
    fn complete(&mut self, call: AsyncCallId, result: Result<Value, HostError>) {
        let Some(resolver) = self.state.async_calls.borrow_mut().close(&call) else { return };
        let state = self.state.clone();
        let outcome = self.execute(None, |scope| {
            let resolver = v8::Local::new(scope, &resolver);
            let value = result.and_then(|value| {
                to_v8(scope, &value, &state.functions.borrow())
                    .map_err(|e| HostError::type_error(format!("async host call result: {e}")))
            });
            match value {
                Ok(value) => resolver.resolve(scope, value)?,
                Err(error) => {
                    let exception = exception::error_value(scope, &error);
                    resolver.reject(scope, exception)?
                }
            };
            Some(v8::undefined(scope).into())
        });
        if let Err(EngineError::JavaScript(exception)) = outcome {
            self.state.host.uncaught_exception(exception);
        }
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

/// What running JS produced: a value to reply with now, or a promise to wait for.
enum Completion {
    Value(Value),
    Promise(v8::Global<v8::Promise>),
}


/// A host failure while loading modules, as the caller sees it: a JS error of that class.
fn host_failure(error: HostError) -> EngineError {
    EngineError::JavaScript(JsException {
        name: format!("{:?}", error.name),
        message: error.message,
        stack: None,
        frames: Vec::new(),
    })
}

fn settled_value<'s>(scope: &mut v8::PinScope<'s, '_>, promise: v8::Local<'s, v8::Promise>) -> Result<v8::Local<'s, v8::Value>, JsException> {
    let result = promise.result(scope);
    if promise.state() == v8::PromiseState::Rejected {
        Err(exception::describe(scope, result, None))
    } else {
        Ok(result)
    }
}

