//! Whatever waits for an answer from elsewhere (an async host call, a module fetch, a blocked
//! caller) holds one `AnswerOnce`: it is answered exactly once, from any thread, and dropping it
//! unanswered delivers the answer `Deliver::unanswered` makes, so no waiter waits forever.

use std::marker::PhantomData;

use crate::error::HostError;
use crate::inbox::{AsyncCallId, Completion, CompletionSink};
use crate::modules::key::ModuleKey;
use crate::value::Value;

/// Where an answer of type `T` goes.
pub trait Deliver<T>: Send {
    fn deliver(self, answer: T);
    /// The answer of a reply dropped unanswered.
    fn unanswered(&self) -> T;
}

pub struct AnswerOnce<T, D: Deliver<T>> {
    to: Option<D>,
    answer: PhantomData<fn(T)>,
}

impl<T, D: Deliver<T>> AnswerOnce<T, D> {
    pub fn to(to: D) -> Self {
        AnswerOnce { to: Some(to), answer: PhantomData }
    }

    pub fn resolve(mut self, answer: T) {
        if let Some(to) = self.to.take() {
            to.deliver(answer);
        }
    }

    /// Where the answer goes (present until answered, and answering consumes the reply).
    pub fn target(&self) -> &D {
        self.to.as_ref().expect("present until answered")
    }
}

impl<T, D: Deliver<T>> Drop for AnswerOnce<T, D> {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let answer = to.unanswered();
            to.deliver(answer);
        }
    }
}

/// An answer the engine receives as a `Completion` of `key` in `sink`.
pub struct Completes<K> {
    pub key: K,
    sink: CompletionSink,
}

impl<K> Completes<K> {
    pub fn new(key: K, sink: impl Into<CompletionSink>) -> Self {
        Completes { key, sink: sink.into() }
    }
}

impl Deliver<Result<Value, HostError>> for Completes<AsyncCallId> {
    fn deliver(self, result: Result<Value, HostError>) {
        self.sink.send(Completion::AsyncCall { call: self.key, result });
    }

    fn unanswered(&self) -> Result<Value, HostError> {
        Err(HostError::error("the host dropped this async call without answering it"))
    }
}

impl Deliver<Result<String, HostError>> for Completes<ModuleKey> {
    fn deliver(self, result: Result<String, HostError>) {
        self.sink.send(Completion::ModuleSource { key: self.key, result });
    }

    fn unanswered(&self) -> Result<String, HostError> {
        Err(HostError::error(format!("the module loader gave no source for '{}'", self.key.url)))
    }
}

/// The pending half of an async host call: JS holds a promise until it is resolved.
pub type AsyncReply = AnswerOnce<Result<Value, HostError>, Completes<AsyncCallId>>;

/// The pending half of a module fetch.
pub type ModuleReply = AnswerOnce<Result<String, HostError>, Completes<ModuleKey>>;

impl AsyncReply {
    pub fn new(call: AsyncCallId, sink: impl Into<CompletionSink>) -> Self {
        AnswerOnce::to(Completes::new(call, sink))
    }

    pub fn id(&self) -> AsyncCallId {
        self.target().key
    }
}

impl ModuleReply {
    pub fn new(key: ModuleKey, sink: impl Into<CompletionSink>) -> Self {
        AnswerOnce::to(Completes::new(key, sink))
    }

    pub fn key(&self) -> &ModuleKey {
        &self.target().key
    }

    pub fn url(&self) -> &str {
        &self.key().url
    }
}
