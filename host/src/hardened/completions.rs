//! The completion forwarder: async host call results and module sources, finished on any
//! thread, go to the guest from one thread, through a short queue (a guest that stops reading
//! holds only a few; the handler that finishes one more waits).

use std::sync::mpsc::Receiver;

use jscell_engine::{Completion, Unpoisoned};

use super::link::{Forwarded, GuestLink};
use crate::wire::ToGuest;

/// Send async completions and module sources to the guest as they arrive, from any thread,
/// until the guest is gone (`end` says so with `Close`; a handler that never answers must not
/// keep this thread).
pub(super) fn forward_completions(link: &GuestLink, completions: Receiver<Forwarded>) {
    while let Ok(completion) = completions.recv() {
        let frame = match completion {
            Forwarded::Completion(Completion::AsyncCall { call, result }) => {
                link.asked.locked().async_calls.close(&call);
                ToGuest::AsyncComplete { call, result }
            }
            Forwarded::Completion(Completion::ModuleSource { key, result }) => {
                link.asked.locked().module_loads.close(&key);
                ToGuest::ModuleSource { key, result }
            }
            Forwarded::Close => return,
        };
        if link.termination.locked().is_some() || link.send(&frame).is_err() {
            return;
        }
    }
}
