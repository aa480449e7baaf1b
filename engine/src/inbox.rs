//! What reaches a running engine: requests from its owner and completions of async host calls,
//! through one channel, so the event loop waits on a single thing.

use std::sync::mpsc::{Receiver, RecvError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, HostError};
use crate::modules::key::ModuleKey;
use crate::stats::EngineStats;
use crate::value::{FunctionHandle, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AsyncCallId(pub u64);

/// The caller's name for a request it may cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Run a script; when its value is a promise, the reply waits for it to settle.
    Eval { source: String, timeout: Option<Duration>, wait: Wait },
    /// Load, instantiate and evaluate a module graph; the reply is the root's namespace.
    EvalModule { specifier: String, timeout: Option<Duration>, wait: Wait },
    /// Call a JS function previously handed out, awaiting a returned promise like `Eval`.
    Call { function: FunctionHandle, args: Vec<Value>, timeout: Option<Duration>, wait: Wait },
    /// Forget function handles so V8 can collect the functions.
    Release { functions: Vec<FunctionHandle> },
    /// Install `globalThis[name] = value`.
    SetGlobal { name: String, value: Value },
    Stats,
}

/// How a caller waits for a promise result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wait {
    /// A blocked caller: nothing else can settle the promise, so fail fast when nothing is pending.
    Blocking,
    /// An async caller: later requests may settle the promise, so keep waiting.
    Async,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Value(Value),
    Stats(EngineStats),
    Done,
}

pub type Reply = Box<dyn FnOnce(Result<Response, EngineError>) + Send>;

pub enum Inbound {
    Request { id: Option<RequestId>, request: Request, reply: Reply },
    /// The caller of request `id` gave up on it.
    Cancel { id: RequestId },
    Completed(Completion),
    /// Nothing to do but look at the shared flags again (terminate, close).
    Wake,
    Close,
}

pub type InboxSender = Sender<Inbound>;
pub type InboxReceiver = Receiver<Inbound>;

/// What the host delivers later, from any thread: an async call's result, a module's source.
pub enum Completion {
    AsyncCall { call: AsyncCallId, result: Result<Value, HostError> },
    ModuleSource { key: ModuleKey, result: Result<String, HostError> },
}

/// Where completions are delivered: the engine's own inbox, or a host that forwards them
/// elsewhere (the hardened parent, to its guest; it decides how long a delivery may wait).
#[derive(Clone)]
pub enum CompletionSink {
    Inbox(InboxSender),
    Forward(Arc<dyn Fn(Completion) + Send + Sync>),
}

impl CompletionSink {
    /// Deliver `completion`; a receiver that is gone means nobody is left to tell.
    pub fn send(&self, completion: Completion) {
        match self {
            CompletionSink::Inbox(inbox) => drop(inbox.send(Inbound::Completed(completion))),
            CompletionSink::Forward(forward) => forward(completion),
        }
    }
}

impl From<InboxSender> for CompletionSink {
    fn from(inbox: InboxSender) -> Self {
        CompletionSink::Inbox(inbox)
    }
}

/// Fail every request still queued in `inbox` with `Terminated(reason)`, so no caller of an
/// engine that stopped waits forever.
pub fn refuse_queued(inbox: &InboxReceiver, reason: &crate::error::TerminationReason) {
    while let Ok(message) = inbox.try_recv() {
        if let Inbound::Request { reply, .. } = message {
            reply(Err(EngineError::Terminated(reason.clone())));
        }
    }
}

/// How long a thread that expects a message soon polls before it sleeps. Waking a sleeping
/// thread costs more than a small call takes, so back-to-back calls answer much faster when
/// both sides poll briefly; the bound keeps an idle runtime from burning a core.
pub const SPIN_BEFORE_SLEEP: Duration = Duration::from_micros(50);

/// Poll `ready` for up to `SPIN_BEFORE_SLEEP`; whether it held. Every wait for a reply or the
/// next request polls this way before it blocks in its own way.
pub fn poll_briefly(mut ready: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < SPIN_BEFORE_SLEEP {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// `receiver.recv()`, polling briefly first.
fn recv_spinning<T>(receiver: &Receiver<T>) -> Result<T, RecvError> {
    let mut polled = None;
    poll_briefly(|| match receiver.try_recv() {
        Err(TryRecvError::Empty) => false,
        other => {
            polled = Some(other);
            true
        }
    });
    match polled {
        Some(Ok(message)) => Ok(message),
        Some(Err(_)) => Err(RecvError),
        None => receiver.recv(),
    }
}

/// How an engine's event loop waits for its next message. The engine's own inbox always
/// counts; an embedder may watch other sources too (the hardened guest watches its lane).
pub trait Waiter {
    /// The next message; `Inbound::Wake` once `until` has passed; `None` when nothing can
    /// arrive any more.
    fn next(&mut self, inbox: &InboxReceiver, until: Option<Instant>) -> Option<Inbound>;
}

/// Waits on the inbox alone.
pub struct InboxWaiter;

impl Waiter for InboxWaiter {
    fn next(&mut self, inbox: &InboxReceiver, until: Option<Instant>) -> Option<Inbound> {
        match until {
            None => recv_spinning(inbox).ok(),
            Some(at) => match inbox.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(message) => Some(message),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Some(Inbound::Wake),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            },
        }
    }
}
