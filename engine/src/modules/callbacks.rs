//! The V8 callbacks of the module system: resolving imports while instantiating, JSON module
//! evaluation, `import.meta`, and dynamic `import()`. Each looks up the engine's module map.

use crate::error::{EngineError, HostError};
use crate::exception;
use crate::modules::key::{requested_kind, ModuleKey, ModuleKind};
use crate::modules::map::LoadDone;
use crate::state::EngineState;

/// Module requests carry their import attributes as (key, value, location) triples.
const MODULE_REQUEST_ATTRIBUTE_ENTRY: usize = 3;
/// Dynamic `import()` passes them as (key, value) pairs.
const DYNAMIC_IMPORT_ATTRIBUTE_ENTRY: usize = 2;

/// The kind a module request asks for.
pub fn request_kind(scope: &mut v8::PinScope<'_, '_>, attributes: v8::Local<'_, v8::FixedArray>) -> Result<ModuleKind, HostError> {
    requested_kind(scope, attributes, MODULE_REQUEST_ATTRIBUTE_ENTRY)
}

/// Referrer name of code that is not a module (scripts, `eval_module` roots).
pub const SCRIPT_REFERRER: &str = "<eval>";

pub fn install(isolate: &mut v8::Isolate) {
    isolate.set_host_initialize_import_meta_object_callback(import_meta);
    isolate.set_host_import_module_dynamically_callback(dynamic_import);
}

/// `ResolveModuleCallback` for `instantiate_module`: every import was resolved and compiled
/// while loading, so this only looks it up.
pub fn resolve_import<'s>(
    context: v8::Local<'s, v8::Context>,
    specifier: v8::Local<'s, v8::String>,
    attributes: v8::Local<'s, v8::FixedArray>,
    referrer: v8::Local<'s, v8::Module>,
) -> Option<v8::Local<'s, v8::Module>> {
    v8::callback_scope!(unsafe scope, context);
    let state = EngineState::get(scope);
    let specifier = specifier.to_rust_string_lossy(scope);
    let kind = requested_kind(scope, attributes, MODULE_REQUEST_ATTRIBUTE_ENTRY).unwrap_or(ModuleKind::JavaScript);
    let found = {
        let modules = state.modules.borrow();
        modules
            .key_of(scope, referrer)
            .and_then(|referrer| modules.import_of(referrer, &specifier, kind))
            .and_then(|key| modules.module(key))
            .map(|module| v8::Local::new(scope, module))
    };
    if found.is_none() {
        exception::throw(scope, &HostError::error(format!("module '{specifier}' was not loaded")));
    }
    found
}

/// Evaluation of a JSON module: its default export is the parsed value.
pub fn evaluate_json<'s>(context: v8::Local<'s, v8::Context>, module: v8::Local<'s, v8::Module>) -> Option<v8::Local<'s, v8::Value>> {
    v8::callback_scope!(unsafe scope, context);
    let state = EngineState::get(scope);
    let value = {
        let modules = state.modules.borrow();
        let key = modules.key_of(scope, module)?;
        modules.json_value(key).map(|value| v8::Local::new(scope, value))?
    };
    let name = v8::String::new(scope, "default")?;
    module.set_synthetic_module_export(scope, name, value)?;
    // Evaluation steps answer with a promise, as module evaluation does.
    let done = v8::PromiseResolver::new(scope)?;
    let undefined = v8::undefined(scope).into();
    done.resolve(scope, undefined)?;
    Some(done.get_promise(scope).into())
}

unsafe extern "C" fn import_meta(context: v8::Local<v8::Context>, module: v8::Local<v8::Module>, meta: v8::Local<v8::Object>) {
    v8::callback_scope!(unsafe scope, context);
    let state = EngineState::get(scope);
    let url = state.modules.borrow().key_of(scope, module).map(|key| key.url.clone());
    if let (Some(url), Some(name)) = (url, v8::String::new(scope, "url")) {
        if let Some(url) = v8::String::new(scope, &url) {
            meta.create_data_property(scope, name.into(), url.into());
        }
    }
}

fn dynamic_import<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    _options: v8::Local<'s, v8::Data>,
    resource_name: v8::Local<'s, v8::Value>,
    specifier: v8::Local<'s, v8::String>,
    attributes: v8::Local<'s, v8::FixedArray>,
) -> Option<v8::Local<'s, v8::Promise>> {
    let resolver = v8::PromiseResolver::new(scope)?;
    let promise = resolver.get_promise(scope);
    let state = EngineState::get(scope);
    let referrer = if resource_name.is_string() { resource_name.to_rust_string_lossy(scope) } else { SCRIPT_REFERRER.into() };
    let specifier = specifier.to_rust_string_lossy(scope);
    let key = requested_kind(scope, attributes, DYNAMIC_IMPORT_ATTRIBUTE_ENTRY)
        .and_then(|kind| state.host.resolve_module(&specifier, &referrer).map(|url| ModuleKey { url, kind }));
    match key {
        Ok(key) => {
            let done = LoadDone::Import { resolver: v8::Global::new(scope, resolver) };
            state.modules.borrow_mut().start(&*state.host, &state.inbox, key, done);
        }
        Err(error) => {
            let error = exception::error_value(scope, &error);
            resolver.reject(scope, error);
        }
    }
    Some(promise)
}

/// The JS value a failed load rejects an `import()` with.
pub fn rejection<'s>(scope: &mut v8::PinScope<'s, '_>, error: &EngineError) -> v8::Local<'s, v8::Value> {
    let text = match error {
        EngineError::JavaScript(exception) => {
            let message = v8::String::new(scope, &exception.message).unwrap_or_else(|| v8::String::empty(scope));
            return match exception.name.as_str() {
                "SyntaxError" => v8::Exception::syntax_error(scope, message),
                "TypeError" => v8::Exception::type_error(scope, message),
                "RangeError" => v8::Exception::range_error(scope, message),
                "ReferenceError" => v8::Exception::reference_error(scope, message),
                _ => v8::Exception::error(scope, message),
            };
        }
        other => other.to_string(),
    };
    exception::error_value(scope, &HostError::error(text))
}
