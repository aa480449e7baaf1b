//! The web platform globals (`jscell_web`): streams, encoding, abort, events. Every context gets
//! them as installing accessors, so a runtime that never touches them pays nothing for them; the
//! first access compiles and runs the install script once, which also yields the bridge that
//! turns host streams into `ReadableStream`s and back.

use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::error::HostError;
use crate::exception::throw;
use crate::state::EngineState;
use crate::sync::Unpoisoned;
use crate::stream_bridge::{StreamBridge, WebGlobals};

/// Define every web global on `global` as a non-enumerable native accessor: reading one installs
/// them all (each then a plain data property), assigning one before that just sets it. Unlike
/// V8's "lazy data properties", an accessor may be replaced while its getter runs.
pub fn define_lazily(scope: &mut v8::PinScope<'_, '_>, global: v8::Local<'_, v8::Object>) {
    for name in jscell_web::GLOBAL_NAMES {
        let key = v8::String::new(scope, name).expect("short builtin name");
        let accessor = v8::AccessorConfiguration::new(installing_get)
            .setter(installing_set)
            .property_attribute(v8::PropertyAttribute::DONT_ENUM);
        global.set_accessor_with_configuration(scope, key.into(), accessor);
    }
}

fn installing_get<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    key: v8::Local<'s, v8::Name>,
    _args: v8::PropertyCallbackArguments<'s>,
    mut rv: v8::ReturnValue<'_, v8::Value>,
) {
    if bridge(scope).is_none() {
        return; // being installed, or the install threw (or was stopped): that propagates
    }
    let global = scope.get_current_context().global(scope);
    if let Some(value) = global.get(scope, key.into()) {
        rv.set(value);
    }
}

fn installing_set<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    key: v8::Local<'s, v8::Name>,
    value: v8::Local<'s, v8::Value>,
    _args: v8::PropertyCallbackArguments<'s>,
    _rv: v8::ReturnValue<'_, ()>,
) {
    // Defining over a native accessor would call this setter again: it goes first.
    let global = scope.get_current_context().global(scope);
    if global.delete(scope, key.into()) == Some(true) {
        global.define_own_property(scope, key, value, v8::PropertyAttribute::DONT_ENUM);
    }
}

/// The bridge, installing the web globals first if nothing has yet. `None` means the install
/// threw or was stopped; the exception is pending in the caller's scope.
pub fn bridge(scope: &mut v8::PinScope<'_, '_>) -> Option<Rc<StreamBridge>> {
    let state = EngineState::get(scope);
    match &*state.web_globals.borrow() {
        WebGlobals::Installed(bridge) => return Some(bridge.clone()),
        WebGlobals::Installing => return None,
        WebGlobals::Absent => {}
    }
    *state.web_globals.borrow_mut() = WebGlobals::Installing;
    let installed = install(scope).map(Rc::new);
    *state.web_globals.borrow_mut() = match &installed {
        Some(bridge) => WebGlobals::Installed(bridge.clone()),
        None => WebGlobals::Absent,
    };
    installed
}

/// V8's code for the install script, made by the first runtime of the process that installs it
/// (after the install ran, so it holds the functions the install compiled) and used by the rest:
/// compiling the script is most of a first install's cost.
static CODE_CACHE: Mutex<Option<Arc<Vec<u8>>>> = Mutex::new(None);

fn install(scope: &mut v8::PinScope<'_, '_>) -> Option<StreamBridge> {
    let bridge = run_install_script(scope, true)?;
    bridge_of(scope, bridge)
}

/// Run the install script on the current context's global; the bridge object it returns.
/// `with_code_cache` is off in a snapshot's builder, where V8 makes no code caches.
pub fn run_install_script<'s>(scope: &mut v8::PinScope<'s, '_>, with_code_cache: bool) -> Option<v8::Local<'s, v8::Object>> {
    let text = v8::String::new_external_onebyte_static(scope, jscell_web::SCRIPT.as_bytes())?;
    let name = v8::String::new(scope, jscell_web::SCRIPT_NAME)?;
    let origin = v8::ScriptOrigin::new(scope, name.into(), 0, 0, false, 0, None, false, false, false, None);
    let cached = if with_code_cache { CODE_CACHE.locked().clone() } else { None };
    let (mut source, options) = match &cached {
        Some(code) => (
            v8::script_compiler::Source::new_with_cached_data(text, Some(&origin), v8::CachedData::new(code)),
            v8::script_compiler::CompileOptions::ConsumeCodeCache,
        ),
        None => (v8::script_compiler::Source::new(text, Some(&origin)), v8::script_compiler::CompileOptions::NoCompileOptions),
    };
    let script = v8::script_compiler::compile(scope, &mut source, options, v8::script_compiler::NoCacheReason::NoReason)?;
    let reused = cached.is_some() && source.get_cached_data().is_some_and(|data| !data.rejected());
    let install = v8::Local::<v8::Function>::try_from(script.run(scope)?).ok()?;
    let global = scope.get_current_context().global(scope);
    let receiver = v8::undefined(scope).into();
    let bridge = install.call(scope, receiver, &[global.into()])?;
    if with_code_cache && !reused {
        if let Some(code) = script.get_unbound_script(scope).create_code_cache() {
            *CODE_CACHE.locked() = Some(Arc::new(code.to_vec()));
        }
    }
    v8::Local::<v8::Object>::try_from(bridge).ok()
}

/// The web globals a snapshot's context holds already (its builder installed them): the bridge
/// the builder kept as the context's first snapshot datum. False for a context of its own.
pub fn adopt_from_snapshot(scope: &mut v8::PinScope<'_, '_>) -> bool {
    let Ok(bridge) = scope.get_context_data_from_snapshot_once::<v8::Object>(0) else { return false };
    let Some(bridge) = bridge_of(scope, bridge) else { return false };
    *EngineState::get(scope).web_globals.borrow_mut() = WebGlobals::Installed(Rc::new(bridge));
    true
}

fn bridge_of(scope: &mut v8::PinScope<'_, '_>, bridge: v8::Local<'_, v8::Object>) -> Option<StreamBridge> {
    let read = |scope: &mut v8::PinScope<'_, '_>, name: &str| -> Option<v8::Global<v8::Object>> {
        let key = v8::String::new(scope, name)?;
        let value = v8::Local::<v8::Object>::try_from(bridge.get(scope, key.into())?).ok()?;
        Some(v8::Global::new(scope, value))
    };
    let function = |scope: &mut v8::PinScope<'_, '_>, name: &str| -> Option<v8::Global<v8::Function>> {
        let object = read(scope, name)?;
        let local = v8::Local::new(scope, object);
        let function = v8::Local::<v8::Function>::try_from(local).ok()?;
        Some(v8::Global::new(scope, function))
    };
    let parts = (
        function(scope, "fromHost"),
        function(scope, "toHost"),
        function(scope, "streamOf"),
        read(scope, "readablePrototype"),
    );
    match parts {
        (Some(from_host), Some(to_host), Some(stream_of), Some(readable_prototype)) => {
            Some(StreamBridge { from_host, to_host, stream_of, readable_prototype })
        }
        _ => {
            throw(scope, &HostError::type_error("the web globals' install script returned no stream bridge"));
            None
        }
    }
}

