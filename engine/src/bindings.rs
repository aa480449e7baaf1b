//! The globals every runtime gets: host calls, timers, microtasks and (opt-in) `console`.
//! Each callback reaches the outside world only through the engine's `Host`.

use crate::convert::{to_v8, FromV8, ReadFailure};
use crate::error::HostError;
use crate::exception::throw;
use crate::host::ConsoleLevel;
use crate::replies::AsyncReply;
use crate::state::EngineState;
use crate::timers::{Timer, Timers};
use crate::value::{CallMode, HostFunctionId, Value};
use crate::web_globals;

/// V8 wants each callback as its own zero-sized function item, so builtins are listed here
/// rather than in a table of function pointers.
macro_rules! function {
    ($scope:expr, $callback:expr) => {
        v8::Function::builder($callback).build($scope).expect("creating a builtin function")
    };
    ($scope:expr, $callback:expr, $data:expr) => {
        v8::Function::builder($callback).data($data).build($scope).expect("creating a builtin function")
    };
}

pub fn install(scope: &mut v8::PinScope<'_, '_>, enable_console: bool) {
    let global = scope.get_current_context().global(scope);
    let builtins = [
        ("__host_op_sync__", function!(scope, host_op_sync)),
        ("__host_op_async__", function!(scope, host_op_async)),
        ("setTimeout", function!(scope, set_timeout)),
        ("setInterval", function!(scope, set_interval)),
        ("clearTimeout", function!(scope, clear_timer)),
        ("clearInterval", function!(scope, clear_timer)),
        ("queueMicrotask", function!(scope, queue_microtask)),
    ];
    for (name, function) in builtins {
        set_property(scope, global, name, function.into());
    }
    if !web_globals::adopt_from_snapshot(scope) {
        web_globals::define_lazily(scope, global);
    }
    if enable_console {
        let console = v8::Object::new(scope);
        let levels = [
            ("debug", ConsoleLevel::Debug),
            ("info", ConsoleLevel::Info),
            ("log", ConsoleLevel::Log),
            ("warn", ConsoleLevel::Warn),
            ("error", ConsoleLevel::Error),
        ];
        for (name, level) in levels {
            let data = v8::Integer::new(scope, level as i32);
            let function = function!(scope, console_write, data.into());
            set_property(scope, console, name, function.into());
        }
        set_property(scope, global, "console", console.into());
    } else {
        // V8 ships a `console` that writes nowhere; absent is clearer than silent.
        let key = v8::String::new(scope, "console").expect("short builtin name");
        global.delete(scope, key.into());
    }
}

fn set_property<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    object: v8::Local<'s, v8::Object>,
    name: &str,
    value: v8::Local<'s, v8::Value>,
) {
    let key = v8::String::new(scope, name).expect("short builtin name");
    object.set(scope, key.into(), value);
}

/// A JS function that calls host function `id`; when V8 collects it, the grant is released.
pub fn host_function<'s>(scope: &mut v8::PinScope<'s, '_>, id: HostFunctionId, mode: CallMode) -> v8::Local<'s, v8::Function> {
    let data = v8::Integer::new_from_unsigned(scope, id.0);
    let wrapper = match mode {
        CallMode::Sync => function!(scope, bound_sync, data.into()),
        CallMode::Async => function!(scope, bound_async, data.into()),
    };
    EngineState::get(scope).grant_wrappers.borrow_mut().watch(scope, id, wrapper);
    wrapper
}

fn host_op_sync<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, rv: v8::ReturnValue<'s, v8::Value>) {
    if let Some(id) = op_id(scope, args.get(0), "__host_op_sync__") {
        call_sync(scope, id, &args, 1, rv);
    }
}

fn host_op_async<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, rv: v8::ReturnValue<'s, v8::Value>) {
    if let Some(id) = op_id(scope, args.get(0), "__host_op_async__") {
        call_async(scope, id, &args, 1, rv);
    }
}

fn bound_sync<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, rv: v8::ReturnValue<'s, v8::Value>) {
    let id = bound_id(&args);
    call_sync(scope, id, &args, 0, rv);
}

fn bound_async<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, rv: v8::ReturnValue<'s, v8::Value>) {
    let id = bound_id(&args);
    call_async(scope, id, &args, 0, rv);
}

fn bound_id(args: &v8::FunctionCallbackArguments<'_>) -> HostFunctionId {
    HostFunctionId(args.data().cast::<v8::Integer>().value() as u32)
}

fn op_id<'s>(scope: &mut v8::PinScope<'s, '_>, value: v8::Local<'s, v8::Value>, caller: &str) -> Option<HostFunctionId> {
    let number = if value.is_number() { value.number_value(scope) } else { None };
    match number {
        Some(n) if n.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&n) => Some(HostFunctionId(n as u32)),
        _ => {
            throw(scope, &HostError::type_error(format!("{caller} expects an op id (the number register_op returned) as its first argument")));
            None
        }
    }
}

/// The arguments of a host call, read against one budget, and the bytes they were charged.
fn read_args<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    state: &EngineState,
    args: &v8::FunctionCallbackArguments<'s>,
    skip: i32,
) -> Result<(Vec<Value>, usize), Option<HostError>> {
    let mut keep = |f| state.functions.borrow_mut().keep(f);
    let mut reader = FromV8::new(state.limits, &mut keep);
    let mut values = Vec::with_capacity(args.length().max(skip) as usize - skip as usize);
    for i in skip..args.length() {
        match reader.read(scope, args.get(i)) {
            Ok(value) => values.push(value),
            Err(ReadFailure::Threw) => return Err(None),
            Err(ReadFailure::Conversion(e)) => {
                return Err(Some(HostError::type_error(format!("argument {} of a host call: {e}", i - skip + 1))))
            }
        }
    }
    Ok((values, reader.charged()))
}

fn call_sync<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    id: HostFunctionId,
    args: &v8::FunctionCallbackArguments<'s>,
    skip: i32,
    mut rv: v8::ReturnValue<'s, v8::Value>,
) {
    let state = EngineState::get(scope);
    state.host_calls_sync.set(state.host_calls_sync.get() + 1);
    let values = match read_args(scope, &state, args, skip) {
        Ok((values, _)) => values,
        Err(Some(error)) => return throw(scope, &error),
        Err(None) => return,
    };
    let result = state.host.call(id, values).and_then(|value| {
        to_v8(scope, &value, &state.functions.borrow()).map_err(|e| HostError::type_error(format!("host call result: {e}")))
    });
    match result {
        Ok(value) => rv.set(value),
        Err(error) => throw(scope, &error),
    }
}

fn call_async<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    id: HostFunctionId,
    args: &v8::FunctionCallbackArguments<'s>,
    skip: i32,
    mut rv: v8::ReturnValue<'s, v8::Value>,
) {
    let state = EngineState::get(scope);
    state.host_calls_async.set(state.host_calls_async.get() + 1);
    let Some(resolver) = v8::PromiseResolver::new(scope) else { return };
    rv.set(resolver.get_promise(scope).into());
    let reject = |scope: &mut v8::PinScope<'s, '_>, error: &HostError| {
        let exception = crate::exception::error_value(scope, error);
        resolver.reject(scope, exception);
    };
    let (values, bytes) = match read_args(scope, &state, args, skip) {
        Ok(read) => read,
        Err(Some(error)) => return reject(scope, &error),
        Err(None) => return,
    };
    let call = state.next_call_id();
    let opened = state.async_calls.borrow_mut().open(call, v8::Global::new(scope, resolver), bytes);
    if let Err(overrun) = opened {
        return reject(scope, &HostError::range_error(format!("async host call refused: {overrun}")));
    }
    state.host.call_async(id, values, AsyncReply::new(call, state.inbox.clone()));
}

fn set_timeout<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, rv: v8::ReturnValue<'s, v8::Value>) {
    schedule(scope, args, rv, false);
}

fn set_interval<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, rv: v8::ReturnValue<'s, v8::Value>) {
    schedule(scope, args, rv, true);
}

fn schedule<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    args: v8::FunctionCallbackArguments<'s>,
    mut rv: v8::ReturnValue<'s, v8::Value>,
    repeat: bool,
) {
    let Ok(callback) = v8::Local::<v8::Function>::try_from(args.get(0)) else {
        return throw(scope, &HostError::type_error("the timer callback must be a function"));
    };
    let delay = Timers::delay(args.get(1).number_value(scope).unwrap_or(0.0));
    let timer = Timer {
        callback: v8::Global::new(scope, callback),
        args: (2..args.length()).map(|i| v8::Global::new(scope, args.get(i))).collect(),
        interval: repeat.then_some(delay),
    };
    let id = EngineState::get(scope).timers.borrow_mut().add(delay, timer);
    rv.set(v8::Integer::new_from_unsigned(scope, id).into());
}

fn clear_timer<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, _rv: v8::ReturnValue<'s, v8::Value>) {
    let id = args.get(0);
    if id.is_number() {
        let id = id.number_value(scope).unwrap_or(0.0);
        if id.fract() == 0.0 && (1.0..=u32::MAX as f64).contains(&id) {
            EngineState::get(scope).timers.borrow_mut().clear(id as u32);
        }
    }
}

fn queue_microtask<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, _rv: v8::ReturnValue<'s, v8::Value>) {
    match v8::Local::<v8::Function>::try_from(args.get(0)) {
        Ok(callback) => scope.enqueue_microtask(callback),
        Err(_) => throw(scope, &HostError::type_error("queueMicrotask expects a function")),
    }
}

fn console_write<'s>(scope: &mut v8::PinScope<'s, '_>, args: v8::FunctionCallbackArguments<'s>, _rv: v8::ReturnValue<'s, v8::Value>) {
    let level = match args.data().int32_value(scope).unwrap_or(2) {
        0 => ConsoleLevel::Debug,
        1 => ConsoleLevel::Info,
        3 => ConsoleLevel::Warn,
        4 => ConsoleLevel::Error,
        _ => ConsoleLevel::Log,
    };
    let mut parts = Vec::with_capacity(args.length() as usize);
    for i in 0..args.length() {
        let value = args.get(i);
        let text = if value.is_object() && !value.is_function() && !value.is_native_error() {
            v8::json::stringify(scope, value).or_else(|| value.to_string(scope))
        } else {
            value.to_string(scope)
        };
        match text {
            Some(text) => parts.push(text.to_rust_string_lossy(scope)),
            None => return, // a throwing toString(): its exception propagates
        }
    }
    EngineState::get(scope).host.console(level, parts.join(" "));
}
