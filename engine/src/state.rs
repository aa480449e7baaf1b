//! Engine state reachable from inside V8 callbacks (through an isolate slot).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::config::ConversionLimits;
use crate::grant_wrappers::{GrantWrappers, WrapGrant};
use crate::handles::FunctionTable;
use crate::host::Host;
use crate::inbox::{AsyncCallId, InboxSender};
use crate::modules::map::ModuleMap;
use crate::timers::Timers;
use crate::stream_bridge::WebGlobals;
use crate::window::Window;

pub struct EngineState {
    pub host: Box<dyn Host>,
    pub inbox: InboxSender,
    pub limits: ConversionLimits,
    pub functions: RefCell<FunctionTable>,
    pub grant_wrappers: RefCell<GrantWrappers>,
    pub wrap_grant: WrapGrant,
    pub timers: RefCell<Timers>,
    pub async_calls: RefCell<Window<AsyncCallId, v8::Global<v8::PromiseResolver>>>,
    pub modules: RefCell<ModuleMap>,
    pub web_globals: RefCell<WebGlobals>,
    next_call: Cell<u64>,
    pub host_calls_sync: Cell<u64>,
    pub host_calls_async: Cell<u64>,
}

impl EngineState {
    pub fn new(host: Box<dyn Host>, inbox: InboxSender, limits: ConversionLimits, wrap_grant: WrapGrant) -> Rc<Self> {
        Rc::new(EngineState {
            host,
            inbox,
            limits,
            functions: RefCell::default(),
            grant_wrappers: RefCell::default(),
            wrap_grant,
            timers: RefCell::default(),
            async_calls: RefCell::new(Window::async_calls(limits.max_bytes)),
            modules: RefCell::default(),
            web_globals: RefCell::default(),
            next_call: Cell::new(0),
            host_calls_sync: Cell::new(0),
            host_calls_async: Cell::new(0),
        })
    }

    pub fn get(scope: &v8::Isolate) -> Rc<EngineState> {
        scope.get_slot::<Rc<EngineState>>().expect("engine state is installed at creation").clone()
    }

    pub fn next_call_id(&self) -> AsyncCallId {
        self.next_call.set(self.next_call.get() + 1);
        AsyncCallId(self.next_call.get())
    }
}
