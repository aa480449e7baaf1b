//! The guest's `Host`: every call leaves the process as a frame to the parent's capability
//! host. Synchronous calls block the engine thread until the parent answers; asynchronous
//! ones park their reply until the reader thread receives the completion.

use std::collections::HashMap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use jscell_engine::{
    AsyncCallId, AsyncReply, ConsoleLevel, Host, HostError, HostFunctionId, JsException, ModuleKey, ModuleReply, Value,
};
use jscell_host::wire::{write_frame, WireFrame};

use crate::SharedSocket;

/// Calls waiting for the parent, shared between the engine thread and the reader thread.
#[derive(Default)]
pub struct Waiting {
    next_call: u64,
    sync_calls: HashMap<u64, Sender<Result<Value, HostError>>>,
    resolutions: HashMap<u64, Sender<Result<String, HostError>>>,
    async_calls: HashMap<AsyncCallId, AsyncReply>,
    modules: HashMap<ModuleKey, ModuleReply>,
}

impl Waiting {
    /// Hand a frame from the parent to whoever waits for it. `false` for an answer nobody
    /// asked for: the parent is trusted, so that is a bug worth stopping for.
    pub fn answer(&mut self, frame: WireFrame) -> bool {
        match frame {
            WireFrame::HostReply { call, result } => self.sync_calls.remove(&call).map(|tx| drop(tx.send(result))).is_some(),
            WireFrame::Resolved { call, result } => self.resolutions.remove(&call).map(|tx| drop(tx.send(result))).is_some(),
            WireFrame::AsyncComplete { call, result } => self.async_calls.remove(&call).map(|r| r.resolve(result)).is_some(),
            WireFrame::ModuleSource { key, result } => self.modules.remove(&key).map(|r| r.resolve(result)).is_some(),
            _ => false,
        }
    }

    fn ticket<T>(&mut self, table: impl FnOnce(&mut Self) -> &mut HashMap<u64, Sender<T>>) -> (u64, Receiver<T>) {
        self.next_call += 1;
        let call = self.next_call;
        let (tx, rx) = mpsc::channel();
        table(self).insert(call, tx);
        (call, rx)
    }
}

pub struct WireHost {
    socket: Arc<Mutex<SharedSocket>>,
    waiting: Arc<Mutex<Waiting>>,
}

impl WireHost {
    pub fn new(socket: Arc<Mutex<SharedSocket>>, waiting: Arc<Mutex<Waiting>>) -> Self {
        WireHost { socket, waiting }
    }

    fn send(&self, frame: &WireFrame) -> Result<(), HostError> {
        write_frame(&mut *self.socket.lock().unwrap(), frame).map_err(|e| HostError::error(format!("the host is unreachable: {e}")))
    }
}

fn lost<T>(_: T) -> HostError {
    HostError::error("the host connection closed")
}

impl Host for WireHost {
    fn call(&self, function: HostFunctionId, args: Vec<Value>) -> Result<Value, HostError> {
        #[cfg(feature = "fault-injection")]
        if function.0 == crate::fault_injection::FAULT_OP {
            let name = match args.first() {
                Some(Value::String(name)) => name.clone(),
                _ => String::new(),
            };
            return crate::fault_injection::inject(&name, &self.socket);
        }
        let (call, answer) = self.waiting.lock().unwrap().ticket(|w| &mut w.sync_calls);
        self.send(&WireFrame::HostCall { call, function, args })?;
        answer.recv().map_err(lost)?
    }

    fn call_async(&self, function: HostFunctionId, args: Vec<Value>, reply: AsyncReply) {
        let call = reply.id();
        self.waiting.lock().unwrap().async_calls.insert(call, reply);
        if let Err(error) = self.send(&WireFrame::HostCallAsync { call, function, args }) {
            if let Some(reply) = self.waiting.lock().unwrap().async_calls.remove(&call) {
                reply.resolve(Err(error));
            }
        }
    }

    fn resolve_module(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        let (call, answer) = self.waiting.lock().unwrap().ticket(|w| &mut w.resolutions);
        self.send(&WireFrame::ResolveModule { call, specifier: specifier.into(), referrer: referrer.into() })?;
        answer.recv().map_err(lost)?
    }

    fn load_module(&self, _url: &str, reply: ModuleReply) {
        let key = reply.key().clone();
        self.waiting.lock().unwrap().modules.insert(key.clone(), reply);
        if let Err(error) = self.send(&WireFrame::LoadModule { key: key.clone() }) {
            if let Some(reply) = self.waiting.lock().unwrap().modules.remove(&key) {
                reply.resolve(Err(error));
            }
        }
    }

    fn console(&self, level: ConsoleLevel, message: String) {
        let _ = self.send(&WireFrame::Console { level, message });
    }

    fn uncaught_exception(&self, exception: JsException) {
        let _ = self.send(&WireFrame::Uncaught { exception });
    }
}
