//! The parent's side of the call path: one frame from a guest, from either carrier, served
//! through the same `GrantDispatch` the native backend's engine calls directly. What a guest
//! may ask is checked here: its windows, its console, the errors it may report.

use jscell_engine::{AsyncReply, EngineError, Host, ModuleReply, Response, TerminationReason, Unpoisoned};

use super::link::GuestLink;
use crate::grant_dispatch::GrantDispatch;
use crate::wire::{ToGuest, ToParent};

/// What became of a frame from the guest.
pub(super) enum Served {
    /// A synchronous call, and the frame that answers it.
    Answer(ToGuest),
    /// A notice, handled; nothing goes back.
    Handled,
    /// The answer to request `id`.
    Reply { id: u64, result: Result<Response, EngineError> },
}

/// An error the guest reports, if an honest guest could report it: it may say its heap limit
/// was hit (when it has one) or that its engine failed, but not that the user terminated or
/// closed the runtime, or anything else only the parent knows. The heap limit is the parent's
/// own figure.
pub(super) fn reported_error(link: &GuestLink, error: EngineError) -> Result<EngineError, String> {
    match error {
        EngineError::Terminated(TerminationReason::HeapLimit { .. }) => match link.max_heap_size {
            Some(limit_bytes) => Ok(EngineError::Terminated(TerminationReason::HeapLimit { limit_bytes })),
            None => Err("a heap limit reported by a runtime that has none".into()),
        },
        EngineError::Terminated(TerminationReason::InternalError(what)) => {
            Ok(EngineError::Terminated(TerminationReason::InternalError(what)))
        }
        EngineError::Terminated(reason) => Err(format!("a termination ({}) only the parent can know of", reason.name())),
        other => Ok(other),
    }
}

impl GuestLink {
    /// Serve one frame from the guest, from either carrier: what to answer, or the protocol
    /// violation it is. `charged` is what the frame's values cost against the value limit.
    pub(super) fn serve(&self, host: &GrantDispatch, frame: ToParent, charged: usize) -> Result<Served, String> {
        self.serving.time(|| {
            Ok(match frame {
                ToParent::HostCall { call, function, args } => {
                    Served::Answer(ToGuest::HostReply { call, result: host.call(function, args) })
                }
                ToParent::ResolveModule { call, specifier, referrer } => {
                    Served::Answer(ToGuest::Resolved { call, result: host.resolve_module(&specifier, &referrer) })
                }
                ToParent::HostCallAsync { call, function, args } => {
                    self.asked.locked().async_calls.open(call, (), charged).map_err(|overrun| overrun.to_string())?;
                    host.call_async(function, args, AsyncReply::new(call, self.sink.clone()));
                    Served::Handled
                }
                ToParent::LoadModule { key } => {
                    self.asked.locked().module_loads.open(key.clone(), (), 0).map_err(|overrun| overrun.to_string())?;
                    let url = key.url.clone();
                    host.load_resolved(&url, ModuleReply::new(key, self.sink.clone())).map_err(|e| e.to_string())?;
                    Served::Handled
                }
                ToParent::Console { level, message } if self.console => {
                    host.console(level, message);
                    Served::Handled
                }
                ToParent::Console { .. } => return Err("console output from a runtime whose console is off".into()),
                ToParent::Uncaught { exception } => {
                    host.uncaught_exception(exception);
                    Served::Handled
                }
                ToParent::GrantsReleased { grants } => {
                    self.capabilities.release(&grants).map_err(|e| e.to_string())?;
                    Served::Handled
                }
                ToParent::Reply { id, result } => {
                    let result = match result {
                        Err(error) => Err(reported_error(self, error)?),
                        Ok(response) => Ok(response),
                    };
                    Served::Reply { id, result }
                }
            })
        })
    }

    /// A reply as its caller gets it: a termination the guest reported ends the runtime first.
    pub(super) fn settled(&self, result: Result<Response, EngineError>) -> Result<Response, EngineError> {
        if let Err(EngineError::Terminated(reason)) = &result {
            self.end(reason.clone());
        }
        result
    }
}
