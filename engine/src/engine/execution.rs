//! Running JS: every script, call and callback runs through `guarded`, in the context, under a
//! TryCatch and the watchdog; what stopped it (an exception, the timeout, the heap limit,
//! `terminate()`, a cancel) becomes the error.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{Engine, Turn};
use crate::convert::{to_v8, FromV8, ReadFailure};
use crate::error::{EngineError, JsException, TerminationReason};
use crate::exception;
use crate::sync::Unpoisoned;
use crate::value::{FunctionHandle, Value};
use crate::watchdog::Watchdog;

/// What running JS produced: a value to reply with now, or a promise to wait for.
pub(super) enum Outcome {
    Value(Value),
    Promise(v8::Global<v8::Promise>),
}

impl Engine {
    pub(super) fn run_script(&mut self, source: &str, name: &str, timeout: Option<Duration>) -> Turn<Outcome> {
        self.execute(timeout, |scope| {
            let source = v8::String::new(scope, source)?;
            let name = v8::String::new(scope, name)?;
            let origin = v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, false, None);
            let script = v8::Script::compile(scope, source, Some(&origin))?;
            script.run(scope)
        })
    }

    pub(super) fn call_function(&mut self, function: FunctionHandle, args: &[Value], timeout: Option<Duration>) -> Turn<Outcome> {
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

    pub(super) fn set_global(&mut self, name: &str, value: &Value) -> Turn<()> {
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
    pub(super) fn execute<F>(&mut self, timeout: Option<Duration>, run: F) -> Turn<Outcome>
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
                    return Some(Ok(Outcome::Promise(v8::Global::new(scope, promise))));
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
                Ok(value) => Some(Ok(Outcome::Value(value))),
                Err(ReadFailure::Conversion(e)) => Some(Err(e.into())),
                Err(ReadFailure::Threw) => None,
            }
        })
    }

    /// Run `run` in the context under a TryCatch and the watchdog. `None` from `run` means JS
    /// threw or was stopped: the caught exception, or the reason it stopped, is the error.
    pub(super) fn guarded<T, F>(&mut self, timeout: Option<Duration>, run: F) -> Turn<T>
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
    pub(super) fn termination_cause(&mut self, watchdog_fired: bool, timeout: Option<Duration>) -> EngineError {
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
}

fn settled_value<'s>(scope: &mut v8::PinScope<'s, '_>, promise: v8::Local<'s, v8::Promise>) -> Result<v8::Local<'s, v8::Value>, JsException> {
    let result = promise.result(scope);
    if promise.state() == v8::PromiseState::Rejected {
        Err(exception::describe(scope, result, None))
    } else {
        Ok(result)
    }
}
