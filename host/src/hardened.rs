//! The hardened backend: the engine runs in a separate `jscell-guest` process whose only
//! windows are a socket and a shared-memory lane to this side. One I/O thread reads the guest's
//! frames from the socket and serves its host calls and module requests from the same
//! `CapabilityHost` the native backend uses. A blocking request goes through the lane instead,
//! and its caller serves the synchronous host calls it makes there, on its own thread: no
//! thread in between has to wake. The guest is hostile: every frame is bounded and checked, any
//! violation or death of the guest kills it and fails every caller with `Terminated` naming
//! the cause.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use jscell_engine::{
    AsyncReply, EngineConfig, EngineError, Host, HostError, Inbound, ModuleReply, ProcessStamp, Reply, Request, Response,
    TerminationReason,
};

use crate::backend::{request_and_wait, Backend};
use crate::capability_host::{CapabilityHost, EngineHost};
use crate::guest_pool;
use crate::guest_process::{GuestOptions, PreparedGuest, SpawnError};
use crate::lane::{Lane, Side};
use crate::native::EngineThreadWrapper;
use crate::wire::{write_frame, FrameLimit, FrameReader, WireError, WireFrame};

/// How long the guest may take to start (spawn, sandbox, V8, bootstrap).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long past a request's own timeout the guest may stay silent before it is killed.
const GRACE: Duration = Duration::from_secs(1);
/// The I/O thread's stack, for values nested up to the conversion depth limit.
const IO_THREAD_STACK: usize = 16 << 20;
/// Room in a frame for everything around its value (ids, error texts, stack frames).
const FRAME_ENVELOPE: usize = 1 << 20;
/// How often a waiting thread looks at deadlines and the guest's fate.
const POLL: Duration = Duration::from_millis(50);
/// Why a guest was killed for silence.
const OVERDUE: &str = "the guest did not answer within its timeout plus a grace period; it was killed";

/// What the parent knows of a guest, for `get_stats()`.
#[derive(Debug, Clone)]
pub struct GuestReport {
    pub pid: u32,
    pub rss_bytes: Option<u64>,
    pub sandbox_layers: Vec<(String, bool)>,
}

/// A request sent to the guest and not yet answered.
struct InFlight {
    reply: Reply,
    deadline: Option<Instant>,
}

struct Shared {
    capabilities: Arc<CapabilityHost>,
    lane: Lane,
    /// The largest frame accepted from the guest.
    limit: FrameLimit,
    /// Where async host calls and module loads complete, for the forwarding thread.
    completions: mpsc::Sender<Inbound>,
    /// Taken on close, so a closed runtime holds no descriptor.
    writer: Mutex<Option<UnixStream>>,
    in_flight: Mutex<HashMap<u64, InFlight>>,
    termination: Mutex<Option<TerminationReason>>,
    /// Set by `end` once the guest is killed and reaped.
    guest_gone: AtomicBool,
    child: Mutex<Child>,
}

pub struct HardenedBackend {
    shared: Arc<Shared>,
    next_id: AtomicU64,
    pid: u32,
    layers: Vec<(String, bool)>,
    io_thread_id: ThreadId,
    /// Held by the one blocking caller using the lane; the thread id says who serves handlers.
    lane_user: Mutex<Option<ThreadId>>,
    stamp: ProcessStamp,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("the guest failed to start: {0}")]
    Guest(String),
    #[error(transparent)]
    Engine(EngineError),
}

impl HardenedBackend {
    /// Start a runtime on a guest: a warm one from the pool when one is waiting, else a new
    /// one; then keep `warm_guests` ready for the next runtime with these options.
    pub fn start(
        config: EngineConfig,
        capabilities: Arc<CapabilityHost>,
        options: GuestOptions,
        warm_guests: usize,
        wrap_thread: EngineThreadWrapper,
    ) -> Result<Self, StartError> {
        let started = match guest_pool::take(&options) {
            Some(warm) => match Self::start_on(warm, config.clone(), capabilities.clone(), &options, wrap_thread) {
                // A warm guest may have died while it waited (or just before it was taken).
                Err(StartError::Guest(_)) => Self::start_on(PreparedGuest::spawn(&options)?, config, capabilities, &options, wrap_thread),
                other => other,
            },
            None => Self::start_on(PreparedGuest::spawn(&options)?, config, capabilities, &options, wrap_thread),
        };
        if started.is_ok() {
            guest_pool::refill(&options, warm_guests);
        }
        started
    }

    fn start_on(
        guest: PreparedGuest,
        config: EngineConfig,
        capabilities: Arc<CapabilityHost>,
        options: &GuestOptions,
        wrap_thread: EngineThreadWrapper,
    ) -> Result<Self, StartError> {
        let stamp = ProcessStamp::current();
        // A frame carries at most one value within the conversion limit, plus its envelope.
        let limit = FrameLimit::new(config.limits.max_bytes.saturating_mul(2).saturating_add(FRAME_ENVELOPE));
        let PreparedGuest { child, wire: parent_end, lane } = guest;
        let spawn_error = |source| StartError::Spawn(SpawnError::new(options, source));
        let pid = child.id();
        let (completions_tx, completions) = mpsc::channel();
        let shared = Arc::new(Shared {
            completions: completions_tx,
            capabilities,
            lane,
            limit,
            writer: Mutex::new(Some(parent_end.try_clone().map_err(spawn_error)?)),
            in_flight: Mutex::new(HashMap::new()),
            termination: Mutex::new(None),
            guest_gone: AtomicBool::new(false),
            child: Mutex::new(child),
        });
        let start = WireFrame::Start { config };
        let mut reader = FrameReader::new(parent_end, limit);
        let layers = match handshake(&shared, &mut reader, &start) {
            Ok(layers) => layers,
            Err(error) => {
                shared.kill();
                return Err(error);
            }
        };
        let io = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("jscell-hardened-io".into())
                // Values from the guest may be nested to the depth limit; dropping them recurses.
                .stack_size(IO_THREAD_STACK)
                .spawn(move || {
                    let mut serve = Some((shared, reader));
                    wrap_thread(&mut || {
                        if let Some((shared, reader)) = serve.take() {
                            serve_guest(&shared, reader);
                        }
                    })
                })
                .map_err(spawn_error)?
        };
        let forwarder = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("jscell-hardened-completions".into())
                .spawn(move || forward_completions(&shared, completions))
                .map_err(spawn_error)?
        };
        Ok(HardenedBackend {
            shared,
            next_id: AtomicU64::new(0),
            pid,
            layers,
            io_thread_id: io.thread().id(),
            lane_user: Mutex::new(None),
            stamp,
            threads: Mutex::new(vec![io, forwarder]),
        })
    }

    /// A new request's id, and when the guest must have answered it.
    fn number(&self, request: &Request) -> (u64, Option<Instant>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        (id, request_timeout(request).map(|timeout| Instant::now() + timeout + GRACE))
    }
}

/// Send the start frame and wait for `Ready` (bounded: the guest may hang or lie).
fn handshake(shared: &Shared, reader: &mut FrameReader<UnixStream>, start: &WireFrame) -> Result<Vec<(String, bool)>, StartError> {
    shared.send(start).map_err(|e| StartError::Guest(e.to_string()))?;
    reader.get_ref().set_read_timeout(Some(START_TIMEOUT)).map_err(|e| StartError::Guest(e.to_string()))?;
    let answer = reader.read();
    reader.get_ref().set_read_timeout(None).map_err(|e| StartError::Guest(e.to_string()))?;
    match answer {
        Ok(WireFrame::Ready { layers }) => Ok(layers),
        Ok(WireFrame::StartFailed { error }) => Err(StartError::Engine(error)),
        Ok(other) => Err(StartError::Guest(format!("unexpected first frame {}", frame_name(&other)))),
        Err(error) => Err(StartError::Guest(shared.death_reason(&error))),
    }
}

impl Shared {
    fn send(&self, frame: &WireFrame) -> Result<(), WireError> {
        match self.writer.lock().unwrap().as_mut() {
            Some(writer) => write_frame(writer, frame),
            None => Err(WireError::Closed),
        }
    }

    fn kill(&self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Why the wire broke: the guest's exit status when it is gone, else the wire error.
    fn death_reason(&self, error: &WireError) -> String {
        let mut child = self.child.lock().unwrap();
        let deadline = Instant::now() + Duration::from_millis(200);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    return match (status.code(), status.signal()) {
                        (_, Some(signal)) => format!("the guest process was killed by signal {signal}{}", signal_hint(signal)),
                        (Some(code), _) => format!("the guest process exited with code {code}"),
                        _ => format!("the guest process ended ({status})"),
                    }
                }
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => return format!("the guest broke the wire protocol: {error}"),
            }
        }
    }

    /// Kill the guest and fail every caller with `reason`, once.
    fn end(&self, reason: TerminationReason) {
        let reason = self.termination.lock().unwrap().get_or_insert(reason).clone();
        self.kill();
        // Callers hear of the end only once the guest is gone (killed and reaped); one waiting
        // on the lane hears now rather than at its next look.
        self.guest_gone.store(true, Ordering::SeqCst);
        self.lane.ring(Side::Parent);
        let _ = self.completions.send(Inbound::Close);
        let in_flight: Vec<InFlight> = self.in_flight.lock().unwrap().drain().map(|(_, f)| f).collect();
        for request in in_flight {
            (request.reply)(Err(EngineError::Terminated(reason.clone())));
        }
    }

    fn is_guest_gone(&self) -> bool {
        self.guest_gone.load(Ordering::SeqCst)
    }

    /// End the guest for `why` (unless it ended already) and return the error its callers get,
    /// once it is gone.
    fn fail(&self, why: String) -> EngineError {
        self.end(TerminationReason::EngineLost(why));
        EngineError::Terminated(self.termination.lock().unwrap().clone().unwrap_or(TerminationReason::Closed))
    }

    fn overdue(&self) -> bool {
        let now = Instant::now();
        self.in_flight.lock().unwrap().values().any(|f| f.deadline.is_some_and(|d| d <= now))
    }
}

fn signal_hint(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (killed, e.g. by the memory cap or the OOM killer)",
        libc::SIGSEGV => " (segmentation fault)",
        libc::SIGABRT => " (aborted)",
        libc::SIGSYS => " (a forbidden system call)",
        _ => "",
    }
}

/// The I/O thread: answer the guest until it goes away or misbehaves.
fn serve_guest(shared: &Arc<Shared>, mut reader: FrameReader<UnixStream>) {
    let host = EngineHost(shared.capabilities.clone());
    if reader.get_ref().set_read_timeout(Some(POLL)).is_err() {
        return shared.end(TerminationReason::EngineLost("cannot watch the guest's socket".into()));
    }
    loop {
        if shared.termination.lock().unwrap().is_some() {
            return;
        }
        let frame = match reader.read() {
            Ok(frame) => frame,
            Err(WireError::Io(e)) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if shared.overdue() {
                    return shared.end(TerminationReason::EngineLost(OVERDUE.into()));
                }
                continue;
            }
            Err(error) => {
                let reason = shared.death_reason(&error);
                return shared.end(TerminationReason::EngineLost(reason));
            }
        };
        if let Err(violation) = answer_guest(shared, &host, frame) {
            return shared.end(TerminationReason::EngineLost(format!("the guest broke the wire protocol: {violation}")));
        }
    }
}

/// Serve one frame from the socket. `Err` names a protocol violation.
fn answer_guest(shared: &Shared, host: &EngineHost, frame: WireFrame) -> Result<(), String> {
    let sent = match serve_call(host, frame, &shared.completions) {
        Served::Answer(answer) => shared.send(&answer),
        Served::Handled => Ok(()),
        Served::NotACall(WireFrame::Reply { id, result }) => {
            let in_flight = shared.in_flight.lock().unwrap().remove(&id);
            let request = in_flight.ok_or_else(|| format!("a reply to request {id}, which was never sent or was answered already"))?;
            (request.reply)(result);
            Ok(())
        }
        Served::NotACall(other) => return Err(format!("a {} frame, which only the host sends", frame_name(&other))),
    };
    // A failed write means the guest is gone; the next read says why.
    drop(sent);
    Ok(())
}

/// What became of a frame from the guest.
enum Served {
    /// A synchronous call, and the frame that answers it.
    Answer(WireFrame),
    /// A notice, handled; nothing goes back.
    Handled,
    /// Not a call or notice; given back to the caller.
    NotACall(WireFrame),
}

/// Serve a call or notice from the guest, whichever carrier it came on.
fn serve_call(host: &EngineHost, frame: WireFrame, completions: &mpsc::Sender<Inbound>) -> Served {
    match frame {
        WireFrame::HostCall { call, function, args } => {
            Served::Answer(WireFrame::HostReply { call, result: host.call(function, args) })
        }
        WireFrame::ResolveModule { call, specifier, referrer } => {
            Served::Answer(WireFrame::Resolved { call, result: host.resolve_module(&specifier, &referrer) })
        }
        WireFrame::HostCallAsync { call, function, args } => {
            host.call_async(function, args, AsyncReply::new(call, completions.clone()));
            Served::Handled
        }
        WireFrame::LoadModule { key } => {
            let url = key.url.clone();
            host.load_module(&url, ModuleReply::new(key, completions.clone()));
            Served::Handled
        }
        WireFrame::Console { level, message } => {
            host.console(level, message);
            Served::Handled
        }
        WireFrame::Uncaught { exception } => {
            host.uncaught_exception(exception);
            Served::Handled
        }
        other => Served::NotACall(other),
    }
}

/// Send async completions and module sources to the guest as they arrive, from any thread,
/// until the guest is gone (`end` says so with `Close`; a handler that never answers must not
/// keep this thread).
fn forward_completions(shared: &Shared, completions: Receiver<Inbound>) {
    while let Ok(completion) = completions.recv() {
        let frame = match completion {
            Inbound::Completion { call, result } => WireFrame::AsyncComplete { call, result },
            Inbound::ModuleSource { key, result } => WireFrame::ModuleSource { key, result },
            Inbound::Close => return,
            Inbound::Request { .. } | Inbound::Wake => continue,
        };
        if shared.send(&frame).is_err() {
            return;
        }
    }
}

fn frame_name(frame: &WireFrame) -> &'static str {
    match frame {
        WireFrame::Prepare { .. } => "Prepare",
        WireFrame::Start { .. } => "Start",
        WireFrame::Request { .. } => "Request",
        WireFrame::HostReply { .. } => "HostReply",
        WireFrame::AsyncComplete { .. } => "AsyncComplete",
        WireFrame::Resolved { .. } => "Resolved",
        WireFrame::ModuleSource { .. } => "ModuleSource",
        WireFrame::Noted => "Noted",
        WireFrame::Ready { .. } => "Ready",
        WireFrame::StartFailed { .. } => "StartFailed",
        WireFrame::Reply { .. } => "Reply",
        WireFrame::HostCall { .. } => "HostCall",
        WireFrame::HostCallAsync { .. } => "HostCallAsync",
        WireFrame::ResolveModule { .. } => "ResolveModule",
        WireFrame::LoadModule { .. } => "LoadModule",
        WireFrame::Console { .. } => "Console",
        WireFrame::Uncaught { .. } => "Uncaught",
    }
}

/// Resident memory of `pid`, from /proc.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

impl HardenedBackend {
    /// A blocking request through the lane, serving the guest's calls on this thread until the
    /// reply comes. `Err(request)` while another call holds the lane: the socket serves it.
    fn request_on_lane(&self, request: Request) -> Result<Result<Response, EngineError>, Request> {
        {
            let Ok(mut user) = self.lane_user.try_lock() else { return Err(request) };
            if user.is_some() {
                return Err(request);
            }
            *user = Some(std::thread::current().id());
        }
        let result = self.exchange_on_lane(request);
        *self.lane_user.lock().unwrap() = None;
        Ok(result)
    }

    fn exchange_on_lane(&self, request: Request) -> Result<Response, EngineError> {
        let (shared, lane) = (&self.shared, &self.shared.lane);
        let host = EngineHost(shared.capabilities.clone());
        let (id, deadline) = self.number(&request);
        // Stop waiting for the guest once the runtime ended or the request's time ran out.
        let abandon = || shared.is_guest_gone() || deadline.is_some_and(|deadline| deadline <= Instant::now());
        if !lane.holds(Side::Parent) {
            return Err(shared.fail("the guest took the lane out of turn; it was killed".into()));
        }
        let mut outgoing = WireFrame::Request { id, request };
        loop {
            match lane.send(Side::Parent, &outgoing, &abandon) {
                Ok(()) => {}
                // Only a value past the wire's maximum cannot be encoded: it fails its own call.
                Err(WireError::Unencodable(why)) => match outgoing {
                    WireFrame::HostReply { call, .. } => {
                        let why = format!("the host function's result cannot be passed to the guest: {why}");
                        outgoing = WireFrame::HostReply { call, result: Err(HostError::error(why)) };
                        continue;
                    }
                    _ => return Err(EngineError::InvalidRequest(format!("the request cannot be passed to the guest: {why}"))),
                },
                Err(error) => return Err(self.lane_failure(error)),
            }
            let frame = lane
                .await_turn(Side::Parent, &abandon)
                .and_then(|()| lane.receive(Side::Parent, shared.limit, &abandon))
                .map_err(|error| self.lane_failure(error))?;
            outgoing = match serve_call(&host, frame, &shared.completions) {
                Served::NotACall(WireFrame::Reply { id: replied, result }) if replied == id => return result,
                Served::Answer(answer) => answer,
                Served::Handled => WireFrame::Noted,
                Served::NotACall(other) => {
                    let reason = format!("the guest broke the wire protocol: a {} frame on the lane", frame_name(&other));
                    return Err(shared.fail(reason));
                }
            };
        }
    }

    /// What a failed lane exchange costs the caller: the guest is killed for its silence past
    /// the deadline or for what it sent, unless the runtime already ended for another reason,
    /// which it then reports. Either way, once the guest is gone.
    fn lane_failure(&self, error: WireError) -> EngineError {
        self.shared.fail(match error {
            WireError::Closed => OVERDUE.into(),
            error => format!("the guest broke the wire protocol: {error}"),
        })
    }
}

impl Backend for HardenedBackend {
    fn request(&self, request: Request, reply: Reply) {
        if let Some(reason) = self.termination() {
            return reply(Err(EngineError::Terminated(reason)));
        }
        let (id, deadline) = self.number(&request);
        self.shared.in_flight.lock().unwrap().insert(id, InFlight { reply, deadline });
        if self.shared.send(&WireFrame::Request { id, request }).is_err() {
            // The I/O thread learns why the guest is gone and fails this request with it.
            if let Some(in_flight) = self.shared.in_flight.lock().unwrap().remove(&id) {
                let reason = self.termination().unwrap_or(TerminationReason::EngineLost("the guest is gone".into()));
                (in_flight.reply)(Err(EngineError::Terminated(reason)));
            }
        }
    }

    fn terminate(&self) {
        if self.stamp.is_current() {
            self.shared.end(TerminationReason::Requested);
        }
    }

    fn close(&self) {
        // In a forked copy the guest and the threads are the original process's.
        if !self.stamp.is_current() {
            return;
        }
        self.shared.end(TerminationReason::Closed);
        if let Some(writer) = self.shared.writer.lock().unwrap().take() {
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }
        if std::thread::current().id() == self.io_thread_id {
            return;
        }
        for thread in self.threads.lock().unwrap().drain(..) {
            let _ = thread.join();
        }
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.stamp.elsewhere().or_else(|| self.shared.termination.lock().unwrap().clone())
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.shared.capabilities
    }

    fn in_handler(&self) -> bool {
        let current = std::thread::current().id();
        current == self.io_thread_id || *self.lane_user.lock().unwrap() == Some(current)
    }

    fn request_blocking(&self, request: Request) -> Result<Response, EngineError> {
        if let Some(reason) = self.termination() {
            return Err(EngineError::Terminated(reason));
        }
        match self.request_on_lane(request) {
            Ok(result) => result,
            Err(request) => request_and_wait(self, request),
        }
    }

    fn guest(&self) -> Option<GuestReport> {
        Some(GuestReport { pid: self.pid, rss_bytes: rss_bytes(self.pid), sandbox_layers: self.layers.clone() })
    }
}

fn request_timeout(request: &Request) -> Option<Duration> {
    match request {
        Request::Eval { timeout, .. } | Request::EvalModule { timeout, .. } | Request::Call { timeout, .. } => *timeout,
        Request::Release { .. } | Request::SetGlobal { .. } | Request::Stats => None,
    }
}

impl Drop for HardenedBackend {
    fn drop(&mut self) {
        self.close();
    }
}
