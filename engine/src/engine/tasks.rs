//! Work the engine does between requests: due timers, the results of async host calls, and
//! telling the host which grants JS dropped.

use std::time::{Duration, Instant};

use super::platform::PLATFORM;
use super::Engine;
use crate::convert::to_v8;
use crate::error::{EngineError, HostError};
use crate::exception;
use crate::inbox::AsyncCallId;
use crate::value::Value;

impl Engine {
    /// Run every timer due now, each as its own task followed by a microtask checkpoint.
    pub(super) fn run_due_timers(&mut self, deadline: Option<Instant>, timeout: Option<Duration>) {
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
    pub(super) fn complete(&mut self, call: AsyncCallId, result: Result<Value, HostError>) {
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

    /// Run the tasks V8 posted for this isolate (among them, the finalizers of collected
    /// wrappers), then tell the host which grants JS holds no more.
    pub(super) fn release_grants(&mut self) {
        if let Some(platform) = PLATFORM.get() {
            while v8::Platform::pump_message_loop(platform, &self.isolate, false) {}
        }
        let released = self.state.grant_wrappers.borrow_mut().take_released();
        if !released.is_empty() {
            self.state.host.release_grants(released);
        }
    }
}
