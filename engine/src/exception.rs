//! Turning a caught JS exception into a `JsException`, and host errors into thrown JS errors.

use crate::error::{HostError, HostErrorKind, JsException, StackFrame, STACK_FRAME_LIMIT};

/// Name given to values thrown that are not Error objects (`throw 42`).
pub const NON_ERROR_THROW: &str = "Uncaught";

pub fn describe<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    exception: v8::Local<'s, v8::Value>,
    message: Option<v8::Local<'s, v8::Message>>,
) -> JsException {
    let (name, text, stack) = if exception.is_native_error() || is_error_like(scope, exception) {
        let object = exception.cast::<v8::Object>();
        let name = property_string(scope, object, "name").unwrap_or_else(|| "Error".into());
        let text = property_string(scope, object, "message").unwrap_or_default();
        (name, text, property_string(scope, object, "stack"))
    } else {
        let text = exception.to_string(scope).map(|s| s.to_rust_string_lossy(scope)).unwrap_or_default();
        (NON_ERROR_THROW.to_string(), text, None)
    };
    let mut frames = v8::Exception::get_stack_trace(scope, exception)
        .or_else(|| message.and_then(|m| m.get_stack_trace(scope)))
        .map(|trace| read_frames(scope, trace))
        .unwrap_or_default();
    let (mut text, mut stack) = (text, stack);
    if frames.is_empty() {
        // Compile errors have no stack, only the location in the message: it goes into the
        // message and the stack too, as `file:line:column`, so the error points at the code.
        if let Some(message) = message {
            let frame = StackFrame {
                function_name: None,
                file_name: message.get_script_resource_name(scope).map(|n| n.to_rust_string_lossy(scope)),
                line_number: message.get_line_number(scope).map(|n| n as u32),
                column_number: Some(message.get_start_column() as u32 + 1),
            };
            if let (Some(file), Some(line), Some(column)) = (&frame.file_name, frame.line_number, frame.column_number) {
                let location = format!("{file}:{line}:{column}");
                text = format!("{text} at {location}");
                stack = Some(format!("{}\n    at {location}", stack.unwrap_or_else(|| format!("{name}: {text}"))));
            }
            frames.push(frame);
        }
    }
    JsException { name, message: text, stack, frames }
}

fn is_error_like<'s>(scope: &mut v8::PinScope<'s, '_>, value: v8::Local<'s, v8::Value>) -> bool {
    if !value.is_object() {
        return false;
    }
    let object = value.cast::<v8::Object>();
    let Some(key) = v8::String::new(scope, "message") else { return false };
    object.has(scope, key.into()).unwrap_or(false)
}

fn property_string<'s>(scope: &mut v8::PinScope<'s, '_>, object: v8::Local<'s, v8::Object>, name: &str) -> Option<String> {
    let key = v8::String::new(scope, name)?;
    let value = object.get(scope, key.into())?;
    if value.is_undefined() {
        return None;
    }
    Some(value.to_string(scope)?.to_rust_string_lossy(scope))
}

fn read_frames<'s>(scope: &mut v8::PinScope<'s, '_>, trace: v8::Local<'s, v8::StackTrace>) -> Vec<StackFrame> {
    (0..trace.get_frame_count().min(STACK_FRAME_LIMIT))
        .filter_map(|i| trace.get_frame(scope, i))
        .map(|frame| StackFrame {
            function_name: frame.get_function_name(scope).map(|s| s.to_rust_string_lossy(scope)).filter(|s| !s.is_empty()),
            file_name: frame.get_script_name_or_source_url(scope).map(|s| s.to_rust_string_lossy(scope)),
            line_number: Some(frame.get_line_number() as u32),
            column_number: Some(frame.get_column() as u32),
        })
        .collect()
}

/// The JS error object `error` stands for.
pub fn error_value<'s>(scope: &mut v8::PinScope<'s, '_>, error: &HostError) -> v8::Local<'s, v8::Value> {
    let text = v8::String::new(scope, &error.message).unwrap_or_else(|| v8::String::empty(scope));
    match error.name {
        HostErrorKind::Error => v8::Exception::error(scope, text),
        HostErrorKind::TypeError => v8::Exception::type_error(scope, text),
        HostErrorKind::RangeError => v8::Exception::range_error(scope, text),
    }
}

/// Throw `error` in JS.
pub fn throw(scope: &mut v8::PinScope<'_, '_>, error: &HostError) {
    let exception = error_value(scope, error);
    scope.throw_exception(exception);
}
