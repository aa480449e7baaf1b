//! The hardened backend's engine process (`jscell-guest`). The parent starts it with an empty
//! environment, the wire socket as stdin and the lane's region as stdout. In order: make the
//! process die with its parent, read the parent's `Prepare` frame, map the lane, put the
//! sandbox in place, start V8; then (possibly much later: a guest may wait in a pool) read
//! `Start`, start the engine on its thread, and route the parent's frames on this one until the
//! parent closes the wire.

#[cfg(feature = "fault-injection")]
mod fault_injection;
mod guest_lane;
mod out_of_memory;
mod sandbox;
mod syscall_policy;
mod parent_link;

use std::io::{self, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use jscell_engine::Unpoisoned;
use jscell_engine::{start_engine_thread, unwrapped, EngineError, EngineHandle, Request, RequestId, Response, TerminationReason};
use jscell_host::lane::Lane;
use jscell_host::OUT_OF_MEMORY_EXIT;
use jscell_host::wire::{write_frame, FrameLimit, FrameReader, Prepare, Start, StartReport, ToGuest, ToParent, WireError, MAX_FRAME_BYTES};

use guest_lane::GuestLane;
use sandbox::{Policy, LANE_FD, WIRE_FD};
use parent_link::{ParentLink, Waiting};

/// The wire socket, read by the dispatcher and written by the engine thread. Shared rather
/// than duplicated: once the sandbox is up, no new descriptor can be made.
pub struct SharedSocket(Arc<UnixStream>);

impl Read for SharedSocket {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buffer)
    }
}

impl Write for SharedSocket {
    fn write(&mut self, buffer: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buffer)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

/// Exit code when the start frame or the sandbox failed.
const STARTUP_FAILED: u8 = 2;

/// The guest's whole life; both binaries (`jscell-guest`, and `jscell-guest-faulty` with the
/// test-only fault hook) are this function.
pub fn run() -> ExitCode {
    // No orphans: first thing, die with the parent. A parent already gone left the wire
    // closed, so the first read below ends the guest.
    // SAFETY: prctl with constant arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } == -1 {
        return ExitCode::from(STARTUP_FAILED);
    }
    // SAFETY: the parent hands this descriptor over for the guest's sole use.
    let socket = unsafe { UnixStream::from_raw_fd(WIRE_FD) };
    match serve(socket) {
        Ok(()) => ExitCode::SUCCESS,
        // There is nowhere to print (stdio is closed): the parent sees this exit code.
        Err(_) => ExitCode::from(STARTUP_FAILED),
    }
}

fn serve(socket: UnixStream) -> Result<(), String> {
    let limit = FrameLimit::new(MAX_FRAME_BYTES);
    let (max_process_memory, jitless) = match FrameReader::new(&socket, limit).read() {
        Ok(Prepare { max_process_memory, jitless }) => (max_process_memory, jitless),
        other => return Err(format!("expected the prepare frame, got {other:?}")),
    };
    // Map the lane, then the sandbox before any other descriptor exists: it closes every one
    // but the wire.
    // SAFETY: the parent hands this descriptor over for the guest's sole use.
    let prepared = Lane::open(unsafe { OwnedFd::from_raw_fd(LANE_FD) })
        .map_err(|e| format!("cannot map the lane: {e}"))
        .and_then(|lane| Ok((GuestLane::new(lane), sandbox::apply(&Policy { max_process_memory, jitless })?)));
    let (lane, layers) = match prepared {
        Ok(prepared) => prepared,
        Err(why) => {
            let error = EngineError::Terminated(TerminationReason::InternalError(why.clone()));
            let _ = write_frame(&mut &socket, &StartReport::StartFailed { error });
            return Err(why);
        }
    };
    if jitless {
        jscell_engine::set_jitless();
    }
    if max_process_memory.is_some() {
        jscell_engine::set_memory_capped(OUT_OF_MEMORY_EXIT);
    }
    jscell_engine::init_v8();
    let config = match FrameReader::new(&socket, limit).read() {
        Ok(Start { config }) => config,
        other => return Err(format!("expected the start frame, got {other:?}")),
    };
    let socket = Arc::new(socket);
    let reader = FrameReader::new(SharedSocket(socket.clone()), limit);
    let writer = Arc::new(Mutex::new(SharedSocket(socket)));
    let waiting = Arc::new(Mutex::new(Waiting::default()));
    let host = Box::new(ParentLink::new(writer.clone(), waiting.clone(), lane.clone()));
    let started = start_engine_thread("jscell-guest-engine", config, host, lane.clone(), unwrapped);
    let send = |frame: &StartReport| write_frame(&mut *writer.locked(), frame).map_err(|e| e.to_string());
    let (engine, engine_thread) = match started {
        Ok(started) => started,
        Err(error) => return send(&StartReport::StartFailed { error }),
    };
    send(&StartReport::Ready { layers })?;
    // This thread routes the parent's frames until the parent closes the wire.
    dispatch(reader, writer, waiting, engine, lane);
    engine_thread.join().map_err(|_| "the engine thread panicked".to_string())
}

/// Route each frame from the parent: requests into the engine, answers to their waiters; then
/// ring the engine, which waits on the lane's bell.
fn dispatch(
    mut reader: FrameReader<SharedSocket>,
    writer: Arc<Mutex<SharedSocket>>,
    waiting: Arc<Mutex<Waiting>>,
    engine: EngineHandle,
    bell: GuestLane,
) {
    loop {
        let frame = reader.read();
        let routed = route(frame, &writer, &waiting, &engine);
        bell.ring();
        if !routed {
            return;
        }
    }
}

/// Route one frame; `false` once the wire is done.
fn route(frame: Result<ToGuest, WireError>, writer: &Arc<Mutex<SharedSocket>>, waiting: &Mutex<Waiting>, engine: &EngineHandle) -> bool {
    match frame {
        Ok(ToGuest::Request { id, request }) => {
            let writer = writer.clone();
            let reply = move |result: Result<Response, _>| {
                let _ = write_frame(&mut *writer.locked(), &ToParent::Reply { id, result });
            };
            engine.send_cancellable(Some(RequestId(id)), request, Box::new(reply));
            true
        }
        Ok(ToGuest::Cancel { id }) => {
            engine.cancel(RequestId(id));
            true
        }
        Ok(ToGuest::Release { functions }) => {
            engine.send(Request::Release { functions }, Box::new(|_| {}));
            true
        }
        Ok(frame) => {
            let answered = waiting.locked().answer(frame);
            if !answered {
                engine.terminate(TerminationReason::InternalError("unexpected frame from the host".into()));
            }
            answered
        }
        // The parent closed the wire (or broke it): stop the engine and exit.
        Err(_) => {
            engine.terminate(TerminationReason::Closed);
            engine.close();
            false
        }
    }
}
