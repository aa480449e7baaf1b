//! `GuestLink`: the parent's end of one guest, shared by the caller threads, the I/O thread and
//! the completion forwarder. It writes to the guest (giving up on one that stops reading),
//! keeps what is in flight, and ends the guest, once, failing every caller with the reason.

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use jscell_engine::{
    AsyncCallId, Completion, CompletionSink, ConversionLimits, EngineError, FunctionHandle, ModuleKey, Reply, TerminationReason, Unpoisoned, Window,
};

use super::deadlines::{Deadline, ServingClock};
use crate::capability_host::CapabilityHost;
use crate::guest_bounds::{MAX_RELEASE_BATCH, STALL_DEADLINE};
use crate::guest_process::OUT_OF_MEMORY_EXIT;
use crate::lane::{Lane, Side};
use crate::memory_cgroup::MemoryCgroup;
use crate::wire::{encode, timed_out, FrameLimit, ToGuest, WireError};

/// What the completion forwarder's queue carries.
pub(super) enum Forwarded {
    Completion(Completion),
    /// The guest is gone: stop.
    Close,
}

/// How long a reaper may take to end once its engine was killed.
const REAPER_GRACE: Duration = Duration::from_secs(1);

/// A request sent to the guest and not yet answered.
pub(super) struct InFlight {
    pub(super) reply: Reply,
    pub(super) deadline: Option<Deadline>,
}

/// What the guest asked of the parent and was not answered yet, in the engine's own windows.
pub(super) struct Asked {
    pub(super) async_calls: Window<AsyncCallId, ()>,
    pub(super) module_loads: Window<ModuleKey, ()>,
}

pub(super) struct GuestLink {
    pub(super) capabilities: Arc<CapabilityHost>,
    pub(super) lane: Lane,
    /// The largest frame accepted from the guest, and the limits its values are charged against.
    pub(super) limit: FrameLimit,
    pub(super) limits: ConversionLimits,
    /// What the guest may report: a heap limit only when it was given one, console output only
    /// when the console is on.
    pub(super) max_heap_size: Option<usize>,
    pub(super) console: bool,
    /// Where async host calls and module loads complete, for the forwarding thread; bounded, so
    /// a guest that stops reading holds only a few (the handler finishing one more waits).
    pub(super) completions: SyncSender<Forwarded>,
    /// Where async calls and module loads the guest asked for complete: into `completions`.
    pub(super) sink: CompletionSink,
    /// Taken on close, so a closed runtime holds no descriptor.
    pub(super) writer: Mutex<Option<UnixStream>>,
    pub(super) in_flight: Mutex<HashMap<u64, InFlight>>,
    pub(super) asked: Mutex<Asked>,
    /// Function handles released here, gathered for the I/O thread to pass on.
    pub(super) releases: Mutex<Vec<FunctionHandle>>,
    pub(super) serving: ServingClock,
    pub(super) termination: Mutex<Option<TerminationReason>>,
    /// Set by `end` once the guest is killed and reaped.
    pub(super) guest_gone: AtomicBool,
    pub(super) child: Mutex<Child>,
    /// The guest's memory cap, and the cgroup that holds it where one could be made (removed
    /// by `end`, once the guest is reaped).
    pub(super) max_process_memory: Option<u64>,
    pub(super) memory: Mutex<Option<MemoryCgroup>>,
    /// The engine's process, where a reaper holds it in a PID namespace of its own (known
    /// once the guest is up; closed by `end`).
    pub(super) engine: Mutex<Option<OwnedFd>>,
}

impl GuestLink {
    /// Write `frame` to the guest. The write gives up (ending the runtime) when the guest stops
    /// reading for `STALL_DEADLINE`, or when a caller's deadline passes meanwhile.
    pub(super) fn send(&self, frame: &impl Serialize) -> Result<(), EngineError> {
        let bytes = encode(frame).map_err(|e| EngineError::InvalidRequest(format!("cannot pass this to the guest: {e}")))?;
        let mut writer = self.writer.locked();
        let Some(socket) = writer.as_mut() else { return Err(EngineError::Terminated(self.reason())) };
        let (mut written, mut progressed) = (0, Instant::now());
        while written < bytes.len() {
            match socket.write(&bytes[written..]) {
                Ok(0) => return Err(self.fail(self.death_reason(&WireError::Closed))),
                Ok(count) => (written, progressed) = (written + count, Instant::now()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => {
                    if self.termination.locked().is_some() {
                        return Err(EngineError::Terminated(self.reason()));
                    }
                    if let Some(waited) = self.overdue() {
                        return Err(self.fail(TerminationReason::TimeoutOverdue { waited }));
                    }
                    if progressed.elapsed() >= STALL_DEADLINE {
                        let what = format!("it stopped reading its socket for {}s", STALL_DEADLINE.as_secs());
                        return Err(self.fail(TerminationReason::ProtocolViolation(what)));
                    }
                }
                Err(e) => return Err(self.fail(self.death_reason(&WireError::Io(e)))),
            }
        }
        Ok(())
    }

    /// Kill the guest and reap it. Where a reaper holds the engine, the engine is killed first
    /// and the reaper, which ends only once it has reaped the engine, is waited for: when this
    /// returns, neither process exists.
    pub(super) fn kill(&self) {
        let mut child = self.child.locked();
        if let Some(engine) = self.engine.locked().take() {
            // SAFETY: a signal through a pidfd this side owns: it names that process, not a pid
            // that could have been reused.
            unsafe { libc::syscall(libc::SYS_pidfd_send_signal, engine.as_raw_fd(), libc::SIGKILL, 0usize, 0u32) };
            let reaped_by = Instant::now() + REAPER_GRACE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < reaped_by {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Why the wire broke: the guest's exit when it is gone, else what it did to the wire.
    pub(super) fn death_reason(&self, error: &WireError) -> TerminationReason {
        let mut child = self.child.locked();
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    // The cgroup's kernel kills with SIGKILL; the rlimit makes the guest exit.
                    let of_memory = match (status.signal(), status.code()) {
                        (Some(libc::SIGKILL), _) => self.memory.locked().as_ref().is_some_and(MemoryCgroup::killed_for_memory),
                        (None, Some(code)) => code == OUT_OF_MEMORY_EXIT,
                        _ => false,
                    };
                    if let (true, Some(limit_bytes)) = (of_memory, self.max_process_memory) {
                        return TerminationReason::ProcessMemoryLimit { limit_bytes };
                    }
                    return match (status.signal(), status.code()) {
                        (Some(signal), _) => TerminationReason::GuestCrashed { signal },
                        (None, Some(code)) => TerminationReason::GuestExited { code },
                        (None, None) => TerminationReason::InternalError(format!("the guest process ended ({status})")),
                    }
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => return TerminationReason::ProtocolViolation(error.to_string()),
            }
        }
    }

    /// Kill the guest and fail every caller with `reason`, once.
    pub(super) fn end(&self, reason: TerminationReason) {
        let reason = self.termination.locked().get_or_insert(reason).clone();
        self.kill();
        drop(self.memory.locked().take());
        // Callers hear of the end only once the guest is gone (killed and reaped); one waiting
        // on the lane hears now rather than at its next look.
        self.guest_gone.store(true, Ordering::SeqCst);
        self.lane.ring(Side::Parent);
        // Never waits: a full queue means the forwarder is busy and sees the end itself.
        let _ = self.completions.try_send(Forwarded::Close);
        let in_flight: Vec<InFlight> = self.in_flight.locked().drain().map(|(_, f)| f).collect();
        for request in in_flight {
            (request.reply)(Err(EngineError::Terminated(reason.clone())));
        }
    }

    /// The reason the runtime ended with (closed, if it has not ended: nothing runs any more).
    pub(super) fn reason(&self) -> TerminationReason {
        self.termination.locked().clone().unwrap_or(TerminationReason::Closed)
    }

    pub(super) fn is_guest_gone(&self) -> bool {
        self.guest_gone.load(Ordering::SeqCst)
    }

    /// End the guest for `reason` (unless it ended already) and return the error its callers
    /// get, once it is gone.
    pub(super) fn fail(&self, reason: TerminationReason) -> EngineError {
        self.end(reason);
        EngineError::Terminated(self.reason())
    }

    /// What the first caller whose deadline passed allowed the guest, if one did.
    pub(super) fn overdue(&self) -> Option<Duration> {
        let in_flight = self.in_flight.locked();
        in_flight.values().filter_map(|f| f.deadline).find(|d| d.passed(&self.serving)).map(|d| d.allowed)
    }

    /// Tell the guest of the function handles released since last time, a batch a frame.
    pub(super) fn send_releases(&self) {
        let released = std::mem::take(&mut *self.releases.locked());
        for batch in released.chunks(MAX_RELEASE_BATCH) {
            if self.send(&ToGuest::Release { functions: batch.to_vec() }).is_err() {
                return;
            }
        }
    }
}
