//! Blocking requests through the lane: the caller hands the request to the guest in shared
//! memory and serves, on its own thread, the synchronous calls the guest makes meanwhile, until
//! the reply comes. No thread in between has to wake.

use jscell_engine::{EngineError, HostError, Request, Response, TerminationReason, Unpoisoned};

use super::deadlines::Deadline;
use super::guest_calls::Served;
use super::HardenedBackend;
use crate::grant_dispatch::GrantDispatch;
use crate::lane::Side;
use crate::wire::{decode_from_guest, ToGuest, WireError};

impl HardenedBackend {
    /// A blocking request through the lane, serving the guest's calls on this thread until the
    /// reply comes. `Err(request)` while another call holds the lane: the socket serves it.
    pub(super) fn request_on_lane(&self, request: Request) -> Result<Result<Response, EngineError>, Request> {
        {
            let Ok(mut user) = self.lane_user.try_lock() else { return Err(request) };
            if user.is_some() {
                return Err(request);
            }
            *user = Some(std::thread::current().id());
        }
        let result = self.exchange_on_lane(request);
        *self.lane_user.locked() = None;
        Ok(result)
    }

    fn exchange_on_lane(&self, request: Request) -> Result<Response, EngineError> {
        let (link, lane) = (&self.link, &self.link.lane);
        let host = GrantDispatch(link.capabilities.clone());
        let (id, deadline) = self.number(&request);
        let overdue = || deadline.is_some_and(|deadline| deadline.passed(&link.serving));
        // Stop waiting for the guest once the runtime ended or the request's time ran out.
        let abandon = || link.is_guest_gone() || overdue();
        if !lane.holds(Side::Parent) {
            return Err(link.fail(TerminationReason::ProtocolViolation("it took the lane out of turn".into())));
        }
        let lost = |error: WireError| Err(self.lane_failure(error, deadline));
        let mut outgoing = ToGuest::Request { id, request };
        loop {
            // However fast the guest keeps the lane busy, the deadline holds.
            if abandon() {
                return lost(WireError::Closed);
            }
            match lane.send(Side::Parent, &outgoing, &abandon) {
                Ok(()) => {}
                // Only a value past the wire's maximum cannot be encoded: it fails its own call.
                Err(WireError::Unencodable(why)) => match outgoing {
                    ToGuest::HostReply { call, .. } => {
                        let why = format!("the host function's result cannot be passed to the guest: {why}");
                        outgoing = ToGuest::HostReply { call, result: Err(HostError::error(why)) };
                        continue;
                    }
                    _ => return Err(EngineError::InvalidRequest(format!("the request cannot be passed to the guest: {why}"))),
                },
                Err(error) => return lost(error),
            }
            let received = lane.await_turn(Side::Parent, &abandon).and_then(|()| lane.receive_payload(Side::Parent, link.limit, &abandon));
            let payload = match received {
                Ok(payload) => payload,
                Err(error) => return lost(error),
            };
            let served = decode_from_guest(&payload, link.limit, link.limits)
                .map_err(|error| error.to_string())
                .and_then(|(frame, charged)| link.serve(&host, frame, charged));
            outgoing = match served {
                Ok(Served::Reply { id: replied, result }) if replied == id => return link.settled(result),
                Ok(Served::Reply { id: replied, .. }) => {
                    let what = format!("a reply to request {replied} on the lane, where request {id} waits");
                    return Err(link.fail(TerminationReason::ProtocolViolation(what)));
                }
                Ok(Served::Answer(answer)) => answer,
                Ok(Served::Handled) => ToGuest::Noted,
                Err(violation) => return Err(link.fail(TerminationReason::ProtocolViolation(violation))),
            };
        }
    }

    /// What a failed lane exchange costs the caller: the guest is killed for its silence past
    /// the deadline or for what it did on the lane, unless the runtime already ended for
    /// another reason, which it then reports. Either way, once the guest is gone.
    fn lane_failure(&self, error: WireError, deadline: Option<Deadline>) -> EngineError {
        self.link.fail(match (error, deadline) {
            (WireError::Closed, Some(deadline)) => TerminationReason::TimeoutOverdue { waited: deadline.allowed },
            (WireError::Closed, None) => self.link.reason(),
            (error, _) => TerminationReason::ProtocolViolation(format!("on the lane: {error}")),
        })
    }
}
