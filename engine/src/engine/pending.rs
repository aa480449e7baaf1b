//! Requests whose value is a promise: parked until it settles, their caller's deadline passes,
//! nothing is left that could settle it, or the caller cancels.

use std::time::{Duration, Instant};

use super::execution::Outcome;
use super::{Engine, Turn};
use crate::error::EngineError;
use crate::inbox::{Reply, RequestId, Response, Wait};
use crate::modules::map::LoadDone;
use crate::value::Value;

/// A request whose value is a promise that has not settled yet.
pub(super) struct Pending {
    /// The request's id, when its caller may cancel it.
    pub(super) id: Option<RequestId>,
    pub(super) promise: v8::Global<v8::Promise>,
    /// For `eval_module`: answer with this module's namespace once the promise fulfills.
    pub(super) namespace: Option<v8::Global<v8::Module>>,
    pub(super) reply: Reply,
    pub(super) timeout: Option<Duration>,
    pub(super) deadline: Option<Instant>,
    pub(super) wait: Wait,
}

impl Engine {
    /// Reply now with a plain value, or park the request until its promise settles.
    pub(super) fn answer(
        &mut self,
        id: Option<RequestId>,
        outcome: Turn<Outcome>,
        reply: Reply,
        timeout: Option<Duration>,
        deadline: Option<Instant>,
        wait: Wait,
    ) {
        match outcome {
            Ok(Outcome::Value(value)) => reply(Ok(Response::Value(value))),
            Ok(Outcome::Promise(promise)) => {
                self.pending.push(Pending { id, promise, namespace: None, reply, timeout, deadline, wait })
            }
            Err(error) => reply(Err(error)),
        }
    }

    pub(super) fn settle_pending(&mut self) {
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
    pub(super) fn promise_result(&mut self, promise: &v8::Global<v8::Promise>, timeout: Option<Duration>) -> Turn<Value> {
        match self.execute(timeout, |scope| Some(v8::Local::new(scope, promise).into()))? {
            Outcome::Value(value) => Ok(value),
            Outcome::Promise(_) => unreachable!("only settled promises are read"),
        }
    }

    /// A module graph root's namespace object, as a value.
    pub(super) fn namespace(&mut self, module: &v8::Global<v8::Module>, timeout: Option<Duration>) -> Turn<Value> {
        match self.execute(timeout, |scope| Some(v8::Local::new(scope, module).get_module_namespace()))? {
            Outcome::Value(value) => Ok(value),
            Outcome::Promise(_) => unreachable!("a namespace is not a promise"),
        }
    }

    /// Stop waiting for request `id`'s promise or module graph: its caller gave up.
    pub(super) fn cancel_waiting(&mut self, id: RequestId) {
        if let Some(index) = self.pending.iter().position(|pending| pending.id == Some(id)) {
            (self.pending.swap_remove(index).reply)(Err(EngineError::Cancelled));
        }
        if let Some(load) = self.state.modules.borrow_mut().take_load_of(id) {
            if let LoadDone::Reply { reply, .. } = load.done {
                reply(Err(EngineError::Cancelled));
            }
        }
    }
}
