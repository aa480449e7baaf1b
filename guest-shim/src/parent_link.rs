//! `ParentLink`, the guest's `Host`: every call leaves the process as a frame to the parent,
//! which serves it from its capability host. The carrier is chosen in one place (`carrier`):
//! the lane while the parent's caller waits there, else the socket. Synchronous calls block
//! the engine thread until the parent answers; asynchronous ones park their reply until the
//! dispatcher receives the completion.

use std::collections::HashMap;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use jscell_engine::Unpoisoned;
use jscell_engine::{
    AsyncCallId, AsyncReply, ConsoleLevel, Host, HostError, HostFunctionId, JsException, ModuleKey, ModuleReply, Value,
};
use jscell_host::wire::{write_frame, ToGuest, ToParent, WireError};
use jscell_host::MAX_RELEASE_BATCH;

use crate::guest_lane::GuestLane;
use crate::SharedSocket;

/// Calls waiting for the parent, shared between the engine thread and the reader thread.
#[derive(Default)]
pub struct Waiting {
    next_call: u64,
    /// Synchronous calls sent over the socket: the parent's answer frame goes to the sender.
    answers: HashMap<u64, Sender<ToGuest>>,
    async_calls: HashMap<AsyncCallId, AsyncReply>,
    modules: HashMap<ModuleKey, ModuleReply>,
}

impl Waiting {
    /// Hand a frame from the parent to whoever waits for it. `false` for an answer nobody
    /// asked for: the parent is trusted, so that is a bug worth stopping for.
    pub fn answer(&mut self, frame: ToGuest) -> bool {
        match frame {
            ToGuest::HostReply { call, .. } | ToGuest::Resolved { call, .. } => {
                self.answers.remove(&call).map(|tx| drop(tx.send(frame))).is_some()
            }
            ToGuest::AsyncComplete { call, result } => self.async_calls.remove(&call).map(|r| r.resolve(result)).is_some(),
            ToGuest::ModuleSource { key, result } => self.modules.remove(&key).map(|r| r.resolve(result)).is_some(),
            _ => false,
        }
    }

    fn next_call(&mut self) -> u64 {
        self.next_call += 1;
        self.next_call
    }
}

pub struct ParentLink {
    socket: Arc<Mutex<SharedSocket>>,
    waiting: Arc<Mutex<Waiting>>,
    lane: GuestLane,
}

/// How a frame leaves for the parent.
enum Carrier {
    /// The parent's caller waits on the lane and serves what arrives there, in order.
    Lane,
    Socket,
}

impl ParentLink {
    pub fn new(socket: Arc<Mutex<SharedSocket>>, waiting: Arc<Mutex<Waiting>>, lane: GuestLane) -> Self {
        ParentLink { socket, waiting, lane }
    }

    fn carrier(&self) -> Carrier {
        match self.lane.is_answering() {
            true => Carrier::Lane,
            false => Carrier::Socket,
        }
    }

    /// Send a frame that needs no answer. On the lane, the parent handles it before the reply
    /// that follows (console output is logged by the time `eval` returns, as on native).
    fn notify(&self, frame: &ToParent) -> Result<(), HostError> {
        match self.carrier() {
            Carrier::Socket => write_frame(&mut *self.socket.locked(), frame).map_err(unreachable_host),
            Carrier::Lane => match self.lane.call(frame).map_err(unreachable_host)? {
                ToGuest::Noted => Ok(()),
                other => Err(unexpected(other)),
            },
        }
    }

    /// Send the synchronous call `make(call id)` and wait for the parent's answer.
    fn exchange(&self, make: impl FnOnce(u64) -> ToParent) -> Result<ToGuest, HostError> {
        let call = self.waiting.locked().next_call();
        let frame = make(call);
        match self.carrier() {
            Carrier::Lane => self.lane.call(&frame).map_err(unreachable_host),
            Carrier::Socket => {
                let (tx, answer) = mpsc::channel();
                self.waiting.locked().answers.insert(call, tx);
                write_frame(&mut *self.socket.locked(), &frame).map_err(unreachable_host)?;
                answer.recv().map_err(|_| HostError::error("the host connection closed"))
            }
        }
    }
}

fn unreachable_host(error: WireError) -> HostError {
    HostError::error(format!("the host is unreachable: {error}"))
}

fn unexpected(frame: ToGuest) -> HostError {
    HostError::error(format!("the host answered with an unexpected {frame:?}"))
}

impl Host for ParentLink {
    fn call(&self, function: HostFunctionId, args: Vec<Value>) -> Result<Value, HostError> {
        #[cfg(feature = "fault-injection")]
        if function.0 == crate::fault_injection::FAULT_OP {
            let name = match args.first() {
                Some(Value::String(name)) => name.clone(),
                _ => String::new(),
            };
            return crate::fault_injection::inject(&name, &self.socket, &self.lane);
        }
        match self.exchange(|call| ToParent::HostCall { call, function, args })? {
            ToGuest::HostReply { result, .. } => result,
            other => Err(unexpected(other)),
        }
    }

    fn call_async(&self, function: HostFunctionId, args: Vec<Value>, reply: AsyncReply) {
        let call = reply.id();
        self.waiting.locked().async_calls.insert(call, reply);
        if let Err(error) = self.notify(&ToParent::HostCallAsync { call, function, args }) {
            if let Some(reply) = self.waiting.locked().async_calls.remove(&call) {
                reply.resolve(Err(error));
            }
        }
    }

    fn resolve_module(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        let (specifier, referrer) = (specifier.to_string(), referrer.to_string());
        match self.exchange(|call| ToParent::ResolveModule { call, specifier, referrer })? {
            ToGuest::Resolved { result, .. } => result,
            other => Err(unexpected(other)),
        }
    }

    fn load_module(&self, _url: &str, reply: ModuleReply) {
        let key = reply.key().clone();
        self.waiting.locked().modules.insert(key.clone(), reply);
        if let Err(error) = self.notify(&ToParent::LoadModule { key: key.clone() }) {
            if let Some(reply) = self.waiting.locked().modules.remove(&key) {
                reply.resolve(Err(error));
            }
        }
    }

    fn console(&self, level: ConsoleLevel, message: String) {
        let _ = self.notify(&ToParent::Console { level, message });
    }

    fn uncaught_exception(&self, exception: JsException) {
        let _ = self.notify(&ToParent::Uncaught { exception });
    }

    fn release_grants(&self, grants: Vec<HostFunctionId>) {
        for batch in grants.chunks(MAX_RELEASE_BATCH) {
            let _ = self.notify(&ToParent::GrantsReleased { grants: batch.to_vec() });
        }
    }
}
