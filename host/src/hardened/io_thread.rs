//! The I/O thread: it reads the guest's frames from the socket and serves them, and looks at
//! every caller's deadline at least every `POLL`, however busy the socket is.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Instant;

use jscell_engine::{TerminationReason, Unpoisoned};

use super::guest_calls::Served;
use super::link::GuestLink;
use super::POLL;
use crate::grant_dispatch::GrantDispatch;
use crate::wire::{decode_from_guest, FrameReader, ToParent};

/// The I/O thread: answer the guest until it goes away or misbehaves, looking at every
/// caller's deadline at least every `POLL` however busy the socket is.
pub(super) fn serve_guest(link: &Arc<GuestLink>, mut reader: FrameReader<UnixStream>) {
    let host = GrantDispatch(link.capabilities.clone());
    let mut next_look = Instant::now();
    loop {
        if link.termination.locked().is_some() {
            return;
        }
        match reader.poll() {
            Ok(Some(payload)) => {
                let answered = decode_from_guest(&payload, link.limit, link.limits)
                    .map_err(|error| error.to_string())
                    .and_then(|(frame, charged)| answer_guest(link, &host, frame, charged));
                if let Err(violation) = answered {
                    return link.end(TerminationReason::ProtocolViolation(violation));
                }
            }
            Ok(None) => {}
            Err(error) => return link.end(link.death_reason(&error)),
        }
        if Instant::now() >= next_look {
            next_look = Instant::now() + POLL;
            if let Some(waited) = link.overdue() {
                return link.end(TerminationReason::TimeoutOverdue { waited });
            }
            link.send_releases();
        }
    }
}

/// Serve one frame from the socket. `Err` names a protocol violation.
fn answer_guest(link: &GuestLink, host: &GrantDispatch, frame: ToParent, charged: usize) -> Result<(), String> {
    match link.serve(host, frame, charged)? {
        // A failed write has ended the runtime already.
        Served::Answer(answer) => drop(link.send(&answer)),
        Served::Handled => {}
        Served::Reply { id, result } => {
            let in_flight = link.in_flight.locked().remove(&id);
            let request = in_flight.ok_or_else(|| format!("a reply to request {id}, which was never sent or was answered already"))?;
            (request.reply)(link.settled(result));
        }
    }
    Ok(())
}
