//! The guest's `Host`: every call leaves the process as a frame to the parent's capability
//! host. Synchronous calls block the engine thread until the parent answers, through the lane
//! while the parent's caller waits there, else through the socket; asynchronous ones park
//! their reply until the reader thread receives the completion.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use jscell_engine::Unpoisoned;
use jscell_engine::{
    AsyncCallId, AsyncReply, ConsoleLevel, Host, HostError, HostFunctionId, JsException, ModuleKey, ModuleReply, Value,
};
use jscell_host::wire::{write_frame, WireError, WireFrame};
use jscell_host::MAX_RELEASE_BATCH;

use crate::guest_lane::GuestLane;
use crate::SharedSocket;

/// Calls waiting for the parent, shared between the engine thread and the reader thread.
#[derive(Default)]
pub struct Waiting {
    next_call: u64,
    /// Synchronous calls sent over the socket: the parent's answer frame goes to the sender.
    answers: HashMap<u64, Sender<WireFrame>>,
    async_calls: HashMap<AsyncCallId, AsyncReply>,
    modules: HashMap<ModuleKey, ModuleReply>,
}

impl Waiting {
    /// Hand a frame from the parent to whoever waits for it. `false` for an answer nobody
    /// asked for: the parent is trusted, so that is a bug worth stopping for.
    pub fn answer(&mut self, frame: WireFrame) -> bool {
        match frame {
            WireFrame::HostReply { call, .. } | WireFrame::Resolved { call, .. } => {
                self.answers.remove(&call).map(|tx| drop(tx.send(frame))).is_some()
            }
            WireFrame::AsyncComplete { call, result } => self.async_calls.remove(&call).map(|r| r.resolve(result)).is_some(),
            WireFrame::ModuleSource { key, result } => self.modules.remove(&key).map(|r| r.resolve(result)).is_some(),
            _ => false,
        }
    }

    fn next_call(&mut self) -> u64 {
        self.next_call += 1;
        self.next_call
    }
}

pub struct WireHost {
    socket: Arc<Mutex<SharedSocket>>,
    waiting: Arc<Mutex<Waiting>>,
    lane: GuestLane,
}

impl WireHost {
    pub fn new(socket: Arc<Mutex<SharedSocket>>, waiting: Arc<Mutex<Waiting>>, lane: GuestLane) -> Self {
        WireHost { socket, waiting, lane }
    }

    fn send(&self, frame: &WireFrame) -> Result<(), HostError> {
        write_frame(&mut *self.socket.locked(), frame).map_err(unreachable_host)
    }

    /// Send a frame that needs no answer. While the parent's caller waits on the lane it goes
    /// there, so the parent handles it before the reply that follows (console output is logged
    /// by the time `eval` returns, as in the native backend).
    fn notify(&self, frame: &WireFrame) -> Result<(), HostError> {
        if !self.lane.is_answering() {
            return self.send(frame);
        }
        match self.lane.call(frame).map_err(unreachable_host)? {
            WireFrame::Noted => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Send the synchronous call `make(call id)` and wait for the parent's answer: through the
    /// lane while the parent's caller serves it there, else through the socket.
    fn exchange(&self, make: impl FnOnce(u64) -> WireFrame) -> Result<WireFrame, HostError> {
        let call = self.waiting.locked().next_call();
        let frame = make(call);
        if self.lane.is_answering() {
            return self.lane.call(&frame).map_err(unreachable_host);
        }
        let (tx, answer) = mpsc::channel();
        self.waiting.locked().answers.insert(call, tx);
        self.send(&frame)?;
        answer.recv().map_err(|_| HostError::error("the host connection closed"))
    }
}

fn unreachable_host(error: WireError) -> HostError {
    HostError::error(format!("the host is unreachable: {error}"))
}

fn unexpected(frame: WireFrame) -> HostError {
    HostError::error(format!("the host answered with an unexpected {frame:?}"))
}

impl Host for WireHost {
    fn call(&self, function: HostFunctionId, args: Vec<Value>) -> Result<Value, HostError> {
        #[cfg(feature = "fault-injection")]
        if function.0 == crate::fault_injection::FAULT_OP {
            let name = match args.first() {
                Some(Value::String(name)) => name.clone(),
                _ => String::new(),
            };
            return crate::fault_injection::inject(&name, &self.socket, &self.lane);
        }
        match self.exchange(|call| WireFrame::HostCall { call, function, args })? {
            WireFrame::HostReply { result, .. } => result,
            other => Err(unexpected(other)),
        }
    }

    fn call_async(&self, function: HostFunctionId, args: Vec<Value>, reply: AsyncReply) {
        let call = reply.id();
        self.waiting.locked().async_calls.insert(call, reply);
        if let Err(error) = self.notify(&WireFrame::HostCallAsync { call, function, args }) {
            if let Some(reply) = self.waiting.locked().async_calls.remove(&call) {
                reply.resolve(Err(error));
            }
        }
    }

    fn resolve_module(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        let (specifier, referrer) = (specifier.to_string(), referrer.to_string());
        match self.exchange(|call| WireFrame::ResolveModule { call, specifier, referrer })? {
            WireFrame::Resolved { result, .. } => result,
            other => Err(unexpected(other)),
        }
    }

    fn load_module(&self, _url: &str, reply: ModuleReply) {
        let key = reply.key().clone();
        self.waiting.locked().modules.insert(key.clone(), reply);
        if let Err(error) = self.notify(&WireFrame::LoadModule { key: key.clone() }) {
            if let Some(reply) = self.waiting.locked().modules.remove(&key) {
                reply.resolve(Err(error));
            }
        }
    }

    fn console(&self, level: ConsoleLevel, message: String) {
        let _ = self.notify(&WireFrame::Console { level, message });
    }

    fn uncaught_exception(&self, exception: JsException) {
        let _ = self.notify(&WireFrame::Uncaught { exception });
    }

    fn release_grants(&self, grants: Vec<HostFunctionId>) {
        for batch in grants.chunks(MAX_RELEASE_BATCH) {
            let _ = self.notify(&WireFrame::GrantsReleased { grants: batch.to_vec() });
        }
    }
}
