//! Start-up: send the engine's configuration and wait, at most `START_DEADLINE` whatever the
//! guest does, for its report.

use std::os::unix::net::UnixStream;
use std::time::Instant;

use jscell_engine::{EngineConfig, TerminationReason};

use super::guest_calls::reported_error;
use super::link::GuestLink;
use super::StartError;
use crate::guest_bounds::START_DEADLINE;
use crate::wire::{decode_from_guest, FrameReader, Start, StartReport};

/// Send the start frame and wait, at most `START_DEADLINE` whatever the guest does, for `Ready`.
pub(super) fn handshake(link: &GuestLink, reader: &mut FrameReader<UnixStream>, config: EngineConfig) -> Result<Vec<(String, bool)>, StartError> {
    let started = Instant::now();
    link.send(&Start { config }).map_err(|_| StartError::Guest(link.reason()))?;
    let payload = loop {
        match reader.poll() {
            Ok(Some(payload)) => break payload,
            Ok(None) if started.elapsed() < START_DEADLINE => {}
            Ok(None) => return Err(StartError::Guest(TerminationReason::TimeoutOverdue { waited: START_DEADLINE })),
            Err(error) => return Err(StartError::Guest(link.death_reason(&error))),
        }
    };
    let violation = |what: String| StartError::Guest(TerminationReason::ProtocolViolation(what));
    match decode_from_guest(&payload, link.limit, link.limits) {
        Ok((StartReport::Ready { layers }, _)) => Ok(layers),
        Ok((StartReport::StartFailed { error }, _)) => match reported_error(link, error) {
            Ok(error) => Err(StartError::Engine(error)),
            Err(what) => Err(violation(what)),
        },
        Err(error) => Err(violation(error.to_string())),
    }
}
