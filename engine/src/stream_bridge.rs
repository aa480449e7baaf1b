//! The bridge between host streams and `ReadableStream`s that the web globals' install script
//! returns (`web/src/lib.rs`), and where a runtime is with installing them (`web_globals`).

use std::rc::Rc;

/// Where a runtime is with its web globals.
#[derive(Default)]
pub enum WebGlobals {
    #[default]
    Absent,
    /// The install script is running: V8 reads the accessors it replaces, which must not
    /// start it again.
    Installing,
    Installed(Rc<StreamBridge>),
}

/// The install script's bridge (`web/src/lib.rs`), kept where JavaScript cannot reach it.
pub struct StreamBridge {
    pub from_host: v8::Global<v8::Function>,
    pub to_host: v8::Global<v8::Function>,
    pub stream_of: v8::Global<v8::Function>,
    pub readable_prototype: v8::Global<v8::Object>,
}

impl WebGlobals {
    /// The bridge if the web globals are installed (no value can be a stream before).
    pub fn bridge(&self) -> Option<Rc<StreamBridge>> {
        match self {
            WebGlobals::Installed(bridge) => Some(bridge.clone()),
            _ => None,
        }
    }
}

impl StreamBridge {
    /// A `ReadableStream` pulling from the async host function `source`.
    pub fn readable_from_host<'s>(
        &self,
        scope: &mut v8::PinScope<'s, '_>,
        source: v8::Local<'s, v8::Function>,
        high_water_mark: u32,
    ) -> Option<v8::Local<'s, v8::Value>> {
        let hwm = v8::Number::new(scope, high_water_mark as f64).into();
        call(scope, &self.from_host, &[source.into(), hwm])
    }

    /// The function that reads `stream` for the host.
    pub fn reader_for_host<'s>(&self, scope: &mut v8::PinScope<'s, '_>, stream: v8::Local<'s, v8::Object>) -> Option<v8::Local<'s, v8::Function>> {
        let read = call(scope, &self.to_host, &[stream.into()])?;
        v8::Local::<v8::Function>::try_from(read).ok()
    }

    /// The stream a function `to_host` made reads (undefined for any other function).
    pub fn stream_of<'s>(&self, scope: &mut v8::PinScope<'s, '_>, read: v8::Local<'s, v8::Function>) -> Option<v8::Local<'s, v8::Value>> {
        call(scope, &self.stream_of, &[read.into()])
    }

    /// Whether `object` is a `ReadableStream`: its prototype chain holds the install's
    /// `ReadableStream.prototype`. Read without running JS (a proxy is never asked).
    pub fn is_stream(&self, scope: &mut v8::PinScope<'_, '_>, object: v8::Local<'_, v8::Object>) -> bool {
        if object.is_proxy() {
            return false;
        }
        let prototype = v8::Local::new(scope, &self.readable_prototype);
        let mut current = object.get_prototype(scope);
        while let Some(link) = current {
            if !link.is_object() || link.is_proxy() {
                return false;
            }
            let link = link.cast::<v8::Object>();
            if link == prototype {
                return true;
            }
            current = link.get_prototype(scope);
        }
        false
    }
}

fn call<'s>(
    scope: &mut v8::PinScope<'s, '_>,
    function: &v8::Global<v8::Function>,
    args: &[v8::Local<'s, v8::Value>],
) -> Option<v8::Local<'s, v8::Value>> {
    let function = v8::Local::new(scope, function);
    let receiver = v8::undefined(scope).into();
    function.call(scope, receiver, args)
}
