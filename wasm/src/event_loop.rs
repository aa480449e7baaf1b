//! The wasm runtime's event loop, on its own thread: the same turns as the V8 engine's (serve a
//! request, fire due timers, settle the promises callers wait for, deliver async completions),
//! each step one export of the guest. Every guest answer is read as hostile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jscell_engine::{
    Completion, ConversionError, EngineConfig, EngineError, EngineStats, HostError, Host, InboxReceiver,
    InboxWaiter, Inbound, refuse_queued, Reply, Request, RequestId, Response, TerminationReason, Value, Wait, Waiter,
};

use crate::abi::{conversion, Outcome};
use crate::codec::{encode, host_error_body, Decoder};
use crate::exception::parse_exception;
use crate::guest_module::MAX_LINEAR_MEMORY;
use crate::instance::{Answer, Fault, GuestInstance, Ran};
use crate::shared::Shared;

type Turn<T> = Result<T, EngineError>;

/// While a snapshot's scripts run, the globals that are each runtime's own (the V8 engine's
/// `bindings::install`: host calls, timers, microtasks) are away, as they are from a V8
/// snapshot's builder; this hides them and evaluates to the function that puts them back.
const HIDE_RUNTIME_GLOBALS: &str = "(() => {
  const names = ['__host_op_sync__', '__host_op_async__', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask'];
  const saved = names.map((name) => [name, Object.getOwnPropertyDescriptor(globalThis, name)]);
  for (const name of names) delete globalThis[name];
  return () => { for (const [name, descriptor] of saved) if (descriptor) Object.defineProperty(globalThis, name, descriptor); };
})()";

/// What running JS produced: a value now, or a promise (kept by the guest) to wait for.
enum Produced {
    Value(Value),
    Promise(u32),
}

/// A request whose value is a promise that has not settled yet.
struct Pending {
    id: Option<RequestId>,
    promise: u32,
    reply: Reply,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    wait: Wait,
}

pub struct EventLoop {
    guest: GuestInstance,
    shared: Arc<Shared>,
    inbox: InboxReceiver,
    pending: Vec<Pending>,
    stats: EngineStats,
    config: EngineConfig,
}

impl EventLoop {
    pub fn new(guest: GuestInstance, shared: Arc<Shared>, inbox: InboxReceiver, config: EngineConfig) -> Self {
        EventLoop { guest, shared, inbox, pending: Vec::new(), stats: EngineStats::default(), config }
    }

    /// Run `config.bootstrap`, if any, before the first request.
    pub fn bootstrap(&mut self) -> Turn<()> {
        let Some(source) = self.config.bootstrap.clone() else { return Ok(()) };
        match self.run(None, |guest| guest.eval(&source, "<bootstrap>"))? {
            Produced::Value(_) => Ok(()),
            Produced::Promise(promise) => self.forget(promise),
        }
    }

    /// Run the build scripts of a snapshot (without the runtime globals, as on V8), then hand
    /// back the guest's memory and the heap in use.
    pub fn run_build(mut self, scripts: &[(String, String)], timeout: Option<Duration>) -> Turn<(Vec<u8>, usize)> {
        let Produced::Value(Value::Function(restore)) = self.run(None, |guest| guest.eval(HIDE_RUNTIME_GLOBALS, "<jscell>"))? else {
            return Err(EngineError::InvalidRequest("the guest did not hide its runtime globals".into()));
        };
        for (name, source) in scripts {
            if let Produced::Promise(promise) = self.run(timeout, |guest| guest.eval(source, name))? {
                self.forget(promise)?;
            }
        }
        self.run(None, |guest| guest.call(restore.0, &0u32.to_le_bytes()))?;
        let released = self.guest.release(restore.0);
        self.faulted(released)?;
        let heap_bytes = self.stats()?.heap_used_bytes;
        Ok((self.guest.memory_bytes(), heap_bytes))
    }

    pub fn run_forever(mut self) {
        let mut waiter = InboxWaiter;
        loop {
            if let Some(reason) = self.shared.termination() {
                return self.shut_down(reason);
            }
            let wake_at = self.wake_at();
            match waiter.next(&self.inbox, wake_at) {
                None | Some(Inbound::Close) => return self.shut_down(TerminationReason::Closed),
                Some(Inbound::Wake) => {}
                Some(Inbound::Completed(Completion::AsyncCall { call, result })) => self.complete(call.0, result),
                // Module sources are awaited where they are loaded (imports.rs).
                Some(Inbound::Completed(Completion::ModuleSource { .. })) => {}
                Some(Inbound::Request { id, request, reply }) => {
                    self.shared.run_as(id);
                    self.serve(id, request, reply);
                    self.shared.run_as(None);
                }
                Some(Inbound::Cancel { id }) => self.cancel_waiting(id),
            }
            self.turn();
        }
    }

    fn wake_at(&mut self) -> Option<Instant> {
        if self.pending.is_empty() {
            return None;
        }
        let clock = self.guest.state().clock;
        let timer = self.guest.next_timer().ok().flatten().map(|ms| clock + Duration::from_secs_f64(ms.max(0.0) / 1000.0));
        self.pending.iter().filter_map(|p| p.deadline).chain(timer).min()
    }

    fn shut_down(mut self, reason: TerminationReason) {
        for pending in self.pending.drain(..) {
            (pending.reply)(Err(EngineError::Terminated(reason.clone())));
        }
        refuse_queued(&self.inbox, &reason);
    }

    fn serve(&mut self, id: Option<RequestId>, request: Request, reply: Reply) {
        match request {
            Request::Eval { source, timeout, wait } => {
                self.count(if wait == Wait::Blocking { "eval" } else { "eval_async" }, wait, false);
                let deadline = timeout.map(|t| Instant::now() + t);
                self.run_due_timers(deadline, timeout);
                let produced = self.run(timeout, |guest| guest.eval(&source, "<eval>"));
                self.answer(id, produced, reply, timeout, deadline, wait);
            }
            Request::EvalModule { specifier, timeout, wait } => {
                self.count(if wait == Wait::Blocking { "eval_module" } else { "eval_module_async" }, wait, false);
                let deadline = timeout.map(|t| Instant::now() + t);
                self.run_due_timers(deadline, timeout);
                let produced = self.run(timeout, |guest| guest.eval_module(&specifier));
                self.answer(id, produced, reply, timeout, deadline, wait);
            }
            Request::Call { function, args, timeout, wait } => {
                self.count(if wait == Wait::Blocking { "call" } else { "call_async" }, wait, true);
                let deadline = timeout.map(|t| Instant::now() + t);
                self.run_due_timers(deadline, timeout);
                let produced = self.encode_args(&args).and_then(|args| self.run(timeout, |guest| guest.call(function.0, &args)));
                self.answer(id, produced, reply, timeout, deadline, wait);
            }
            Request::Release { functions } => {
                let released = functions.iter().try_for_each(|function| self.guest.release(function.0));
                reply(self.faulted(released).map(|()| Response::Done));
            }
            Request::SetGlobal { name, value } => {
                let mut bytes = Vec::new();
                let result = encode(&value, self.config.limits, &mut bytes)
                    .map_err(EngineError::from)
                    .and_then(|()| self.run(None, |guest| guest.set_global(&name, &bytes)))
                    .map(|_| Response::Done);
                reply(result);
            }
            Request::Stats => reply(self.stats().map(Response::Stats)),
        }
        self.release_grants();
    }

    fn count(&mut self, kind: &str, wait: Wait, call: bool) {
        let counter = match (call, wait) {
            (false, Wait::Blocking) => &mut self.stats.eval_sync_count,
            (false, Wait::Async) => &mut self.stats.eval_async_count,
            (true, Wait::Blocking) => &mut self.stats.call_sync_count,
            (true, Wait::Async) => &mut self.stats.call_async_count,
        };
        *counter += 1;
        self.stats.last_execution_kind = kind.to_string();
    }

    fn encode_args(&self, args: &[Value]) -> Turn<Vec<u8>> {
        let mut bytes = (args.len() as u32).to_le_bytes().to_vec();
        for arg in args {
            encode(arg, self.config.limits, &mut bytes)?;
        }
        Ok(bytes)
    }

    /// A fault ends the runtime: record why, and say so.
    fn faulted<T>(&mut self, ran: Ran<T>) -> Turn<T> {
        ran.map_err(|Fault(reason)| {
            self.shared.terminate(reason.clone());
            EngineError::Terminated(self.shared.termination().unwrap_or(reason))
        })
    }

    /// Run one export under `timeout`, and read what it left.
    fn run(&mut self, timeout: Option<Duration>, export: impl FnOnce(&mut GuestInstance) -> Ran<Answer>) -> Turn<Produced> {
        if self.shared.is_cancelled() {
            return Err(EngineError::Cancelled);
        }
        let started = Instant::now();
        self.guest.state_mut().deadline = timeout.map(|t| started + t);
        let ran = export(&mut self.guest);
        let stopped = self.guest.state().must_stop();
        self.guest.state_mut().deadline = None;
        let elapsed = started.elapsed();
        self.stats.last_execution_time = elapsed;
        self.stats.total_execution_time += elapsed;
        let answer = self.faulted(ran)?;
        match answer.outcome {
            // An error thrown as JS was being stopped (a module fetch cut short) is the stop.
            Outcome::Interrupted | Outcome::Exception if stopped => Err(self.stop_cause(timeout)),
            Outcome::Interrupted => Err(self.stop_cause(timeout)),
            Outcome::Value => self.decode(&answer.body).map(Produced::Value),
            Outcome::Pending => match <[u8; 4]>::try_from(answer.body.as_slice()) {
                Ok(id) => Ok(Produced::Promise(u32::from_le_bytes(id))),
                Err(_) => self.violation("a pending outcome without a promise id"),
            },
            Outcome::Exception => match parse_exception(&answer.body) {
                Ok(exception) => Err(EngineError::JavaScript(exception)),
                Err(malformed) => self.violation(&format!("a malformed exception: {}", malformed.0)),
            },
            Outcome::Conversion => self.conversion(&answer.body),
            Outcome::HeapLimit => {
                let limit_bytes = self.config.max_heap_size.unwrap_or(MAX_LINEAR_MEMORY as usize);
                self.shared.terminate(TerminationReason::HeapLimit { limit_bytes });
                Err(EngineError::Terminated(self.shared.termination().unwrap_or(TerminationReason::HeapLimit { limit_bytes })))
            }
            Outcome::Invalid => {
                let mut decoder = Decoder::new(&answer.body, self.config.limits);
                match decoder.string() {
                    Ok(text) => Err(EngineError::InvalidRequest(text)),
                    Err(malformed) => self.violation(&malformed.0),
                }
            }
        }
    }

    /// Why JS stopped without finishing: termination, a cancel, or the caller's deadline.
    fn stop_cause(&self, timeout: Option<Duration>) -> EngineError {
        if let Some(reason) = self.shared.termination() {
            return EngineError::Terminated(reason);
        }
        if self.shared.is_cancelled() {
            return EngineError::Cancelled;
        }
        match timeout {
            Some(timeout) => EngineError::Timeout(timeout),
            None => EngineError::Terminated(TerminationReason::InternalError("execution was interrupted".into())),
        }
    }

    fn violation<T>(&mut self, what: &str) -> Turn<T> {
        self.faulted(Err(Fault(TerminationReason::ProtocolViolation(what.to_string()))))
    }

    fn decode(&mut self, body: &[u8]) -> Turn<Value> {
        let mut decoder = Decoder::new(body, self.config.limits);
        match decoder.value() {
            Ok(value) if decoder.finished() => Ok(value),
            Ok(_) => self.violation("a value followed by stray bytes"),
            Err(malformed) => self.violation(&format!("a malformed value: {}", malformed.0)),
        }
    }

    fn conversion<T>(&mut self, body: &[u8]) -> Turn<T> {
        let limits = self.config.limits;
        let mut decoder = Decoder::new(body, limits);
        let error = match decoder.u8() {
            Ok(conversion::CYCLE) => ConversionError::Cycle,
            Ok(conversion::TOO_DEEP) => ConversionError::TooDeep { limit: limits.max_depth },
            Ok(conversion::TOO_LARGE) => ConversionError::TooLarge { limit: limits.max_bytes },
            Ok(conversion::UNSUPPORTED) => match decoder.string() {
                Ok(what) => ConversionError::Unsupported { what },
                Err(malformed) => return self.violation(&malformed.0),
            },
            _ => return self.violation("a conversion error of unknown kind"),
        };
        Err(error.into())
    }

    fn forget(&mut self, promise: u32) -> Turn<()> {
        let forgotten = self.guest.forget(promise);
        self.faulted(forgotten)
    }

    fn answer(&mut self, id: Option<RequestId>, produced: Turn<Produced>, reply: Reply, timeout: Option<Duration>, deadline: Option<Instant>, wait: Wait) {
        match produced {
            Ok(Produced::Value(value)) => reply(Ok(Response::Value(value))),
            Ok(Produced::Promise(promise)) => self.pending.push(Pending { id, promise, reply, timeout, deadline, wait }),
            Err(error) => reply(Err(error)),
        }
    }

    fn turn(&mut self) {
        if self.pending.is_empty() || self.shared.termination().is_some() {
            return;
        }
        let deadline = self.pending.iter().filter_map(|p| p.deadline).min();
        let timeout = self.pending.iter().filter_map(|p| p.timeout).min();
        self.run_due_timers(deadline, timeout);
        self.settle_pending();
        self.release_grants();
    }

    fn run_due_timers(&mut self, deadline: Option<Instant>, timeout: Option<Duration>) {
        loop {
            if deadline.is_some_and(|d| d <= Instant::now()) || self.shared.termination().is_some() {
                return;
            }
            let mut fired = false;
            let outcome = self.run(timeout, |guest| {
                let ran = guest.run_timer()?;
                fired = ran.is_some();
                // No timer was due: an empty VALUE stands for "nothing ran".
                Ok(ran.unwrap_or(Answer { outcome: Outcome::Value, body: vec![crate::abi::tag::UNDEFINED] }))
            });
            match outcome {
                Ok(_) if fired => {}
                Ok(_) => return,
                Err(EngineError::JavaScript(exception)) => self.guest.state().dispatch.uncaught_exception(exception),
                // A timeout or termination surfaces through the waiting callers.
                Err(_) => return,
            }
        }
    }

    fn settle_pending(&mut self) {
        let idle = match self.guest.busy() {
            Ok(busy) => !busy,
            Err(Fault(reason)) => return self.shared.terminate(reason),
        };
        let now = Instant::now();
        let mut index = 0;
        while index < self.pending.len() {
            let (promise, timeout, deadline, wait) = {
                let p = &self.pending[index];
                (p.promise, p.timeout, p.deadline, p.wait)
            };
            let settled = self.run(timeout, |guest| guest.settle(promise));
            let result = match settled {
                Ok(Produced::Promise(_)) => {
                    let error = match deadline {
                        Some(deadline) if deadline <= now => Some(EngineError::Timeout(timeout.unwrap_or_default())),
                        _ if idle && wait == Wait::Blocking => Some(EngineError::Stalled),
                        _ => None,
                    };
                    match error {
                        None => {
                            index += 1;
                            continue;
                        }
                        Some(error) => {
                            let _ = self.forget(promise);
                            Err(error)
                        }
                    }
                }
                Ok(Produced::Value(value)) => Ok(value),
                Err(error) => Err(error),
            };
            let pending = self.pending.swap_remove(index);
            (pending.reply)(result.map(Response::Value));
        }
    }

    fn cancel_waiting(&mut self, id: RequestId) {
        if let Some(index) = self.pending.iter().position(|pending| pending.id == Some(id)) {
            let pending = self.pending.swap_remove(index);
            let _ = self.forget(pending.promise);
            (pending.reply)(Err(EngineError::Cancelled));
        }
    }

    /// An async host call finished: settle its promise in the guest.
    fn complete(&mut self, call: u64, result: Result<Value, HostError>) {
        let mut data = Vec::new();
        let ok = match result.and_then(|value| {
            encode(&value, self.config.limits, &mut data).map_err(|e| HostError::type_error(format!("async host call result: {e}")))
        }) {
            Ok(()) => true,
            Err(error) => {
                data = host_error_body(&error);
                false
            }
        };
        let timeout = self.pending.iter().filter_map(|p| p.timeout).min();
        // Nobody waits on the continuation it runs: a throw there is uncaught; a stop surfaces
        // through the callers that wait.
        if let Err(EngineError::JavaScript(exception)) = self.run(timeout, |guest| guest.complete(call, ok, &data)) {
            self.guest.state().dispatch.uncaught_exception(exception);
        }
        self.release_grants();
    }

    fn release_grants(&mut self) {
        let released = std::mem::take(&mut self.guest.state_mut().released);
        if !released.is_empty() {
            self.guest.state().dispatch.release_grants(released);
        }
    }

    fn stats(&mut self) -> Turn<EngineStats> {
        let body = self.guest.stats();
        let body = self.faulted(body)?;
        let mut decoder = Decoder::new(&body, self.config.limits);
        let read = (|| {
            Ok::<_, crate::codec::Malformed>((
                decoder.u64()?,
                decoder.u64()?,
                decoder.u32()?,
                decoder.u32()?,
                decoder.u32()?,
                decoder.u64()?,
                decoder.u64()?,
            ))
        })();
        let Ok((heap_used, heap_limit, async_calls, timeouts, intervals, sync_calls, async_host_calls)) = read else {
            return self.violation("malformed stats");
        };
        let memory = self.guest.linear_memory_bytes();
        Ok(EngineStats {
            heap_total_bytes: memory,
            heap_used_bytes: heap_used as usize,
            heap_limit_bytes: if heap_limit == 0 { MAX_LINEAR_MEMORY as usize } else { heap_limit as usize },
            external_memory_bytes: 0,
            physical_total_bytes: memory,
            host_call_sync_count: sync_calls,
            host_call_async_count: async_host_calls,
            active_async_ops: async_calls as usize,
            active_timers: timeouts as usize,
            active_intervals: intervals as usize,
            ..self.stats.clone()
        })
    }
}
