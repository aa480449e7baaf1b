//! The hardened backend: the engine runs in a separate `jscell-guest` process whose only
//! windows are a socket and a shared-memory lane to this side. One I/O thread reads the guest's
//! frames from the socket and serves its host calls and module requests from the same
//! `CapabilityHost` the native backend uses. A blocking request goes through the lane instead,
//! and its caller serves the synchronous host calls it makes there, on its own thread: no
//! thread in between has to wake.
//!
//! The guest is assumed compromised: whatever it sends, it costs the caller one clear error,
//! never the parent. Every frame is decoded against the runtime's limits; what it may have in
//! flight is counted in the engine's own windows; every wait for it has a deadline that is
//! checked however busy the wire is, and every write to it gives up when it stops reading
//! (`guest_bounds.rs` lists each bound). Any violation or death kills the guest and fails every
//! caller with `Terminated` naming the cause.

use std::collections::{HashMap, VecDeque};
use std::io::{ErrorKind, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use jscell_engine::Unpoisoned;
use jscell_engine::{
    AsyncCallId, AsyncReply, CompletionSink, ConversionLimits, EngineConfig, EngineError, FunctionHandle, Host, Inbound, ModuleKey,
    ModuleReply, ProcessStamp, Reply, Request, RequestId, Response, TerminationReason, Window, MAX_PENDING_MODULE_LOADS,
};

use crate::backend::{request_and_wait, Backend};
use crate::capability_host::{CapabilityHost, EngineHost};
use crate::guest_bounds::{
    CONTROL_DEADLINE, GRACE, MAX_QUEUED_COMPLETIONS, MAX_RELEASE_BATCH, RELEASE_INTERVAL, STALL_DEADLINE, START_DEADLINE,
};
use crate::guest_pool;
use crate::guest_process::{GuestOptions, PreparedGuest, SpawnError, OUT_OF_MEMORY_EXIT};
use crate::memory_cgroup::MemoryCgroup;
use crate::lane::{Lane, Side};
use crate::native::EngineThreadWrapper;
use crate::wire::{decode_from_guest, encode, timed_out, FrameLimit, FrameReader, WireError, WireFrame};

/// The I/O thread's stack, for values nested up to the conversion depth limit.
const IO_THREAD_STACK: usize = 16 << 20;
/// How long a reaper may take to end once its engine was killed.
const REAPER_GRACE: Duration = Duration::from_secs(1);
/// How often a thread waiting on the socket looks at deadlines and sends gathered releases.
const POLL: Duration = RELEASE_INTERVAL;

/// What the parent knows of a guest, for `get_stats()`.
#[derive(Debug, Clone)]
pub struct GuestReport {
    pub pid: u32,
    pub rss_bytes: Option<u64>,
    pub sandbox_layers: Vec<(String, bool)>,
}

/// When a caller stops waiting for the guest.
#[derive(Clone, Copy)]
struct Deadline {
    at: Instant,
    /// What the caller allowed: its timeout plus the grace, or a fixed deadline.
    allowed: Duration,
}

impl Deadline {
    fn after(allowed: Duration) -> Deadline {
        Deadline { at: Instant::now() + allowed, allowed }
    }

    fn passed(&self, serving: &ServingClock) -> bool {
        let now = Instant::now();
        now >= self.at && !serving.holds_off(self.at, now)
    }
}

/// The parent's own time serving the guest's frames. While the parent runs a handler the guest
/// asked for (a user function, the resolver, the loader), the guest cannot answer; so a deadline
/// that passes during a handler asked for before it moves to that handler's end plus the grace,
/// as on native, where a timeout takes effect once the running handler returns. What the guest
/// asks after a deadline moves nothing.
#[derive(Default)]
struct ServingClock(Mutex<ServedFrames>);

#[derive(Default)]
struct ServedFrames {
    /// When each frame being served now began (the I/O thread and a lane caller may both serve).
    active: Vec<Instant>,
    /// The last few frames served: when each began and ended.
    recent: VecDeque<(Instant, Instant)>,
}

impl ServingClock {
    const RECENT: usize = 4;

    fn time<R>(&self, serve: impl FnOnce() -> R) -> R {
        let began = Instant::now();
        self.0.locked().active.push(began);
        let result = serve();
        let mut served = self.0.locked();
        if let Some(index) = served.active.iter().position(|start| *start == began) {
            served.active.swap_remove(index);
        }
        served.recent.push_back((began, Instant::now()));
        if served.recent.len() > Self::RECENT {
            served.recent.pop_front();
        }
        result
    }

    /// Whether a deadline at `at` waits still, at `now`, for a handler begun before it.
    fn holds_off(&self, at: Instant, now: Instant) -> bool {
        let served = self.0.locked();
        served.active.iter().any(|began| *began < at)
            || served.recent.iter().any(|(began, ended)| *began < at && *ended > at && now < *ended + GRACE)
    }
}

/// A request sent to the guest and not yet answered.
struct InFlight {
    reply: Reply,
    deadline: Option<Deadline>,
}

/// What the guest asked of the parent and was not answered yet, in the engine's own windows.
struct Asked {
    async_calls: Window<AsyncCallId, ()>,
    module_loads: Window<ModuleKey, ()>,
}

struct Shared {
    capabilities: Arc<CapabilityHost>,
    lane: Lane,
    /// The largest frame accepted from the guest, and the limits its values are charged against.
    limit: FrameLimit,
    limits: ConversionLimits,
    /// What the guest may report: a heap limit only when it was given one, console output only
    /// when the console is on.
    max_heap_size: Option<usize>,
    console: bool,
    /// Where async host calls and module loads complete, for the forwarding thread; bounded, so
    /// a guest that stops reading holds only a few (the handler finishing one more waits).
    completions: SyncSender<Inbound>,
    /// Taken on close, so a closed runtime holds no descriptor.
    writer: Mutex<Option<UnixStream>>,
    in_flight: Mutex<HashMap<u64, InFlight>>,
    asked: Mutex<Asked>,
    /// Function handles released here, gathered for the I/O thread to pass on.
    releases: Mutex<Vec<FunctionHandle>>,
    serving: ServingClock,
    termination: Mutex<Option<TerminationReason>>,
    /// Set by `end` once the guest is killed and reaped.
    guest_gone: AtomicBool,
    child: Mutex<Child>,
    /// The guest's memory cap, and the cgroup that holds it where one could be made (removed
    /// by `end`, once the guest is reaped).
    max_process_memory: Option<u64>,
    memory: Mutex<Option<MemoryCgroup>>,
    /// The engine's process, where a reaper holds it in a PID namespace of its own (known
    /// once the guest is up; closed by `end`).
    engine: Mutex<Option<OwnedFd>>,
}

pub struct HardenedBackend {
    shared: Arc<Shared>,
    next_id: AtomicU64,
    /// The engine's process (what `get_stats` reports), which the guest's reaper holds.
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
    /// The guest died or misbehaved while starting.
    #[error("the guest failed to start: {0}")]
    Guest(TerminationReason),
    /// The guest's engine could not start with this configuration (say, the bootstrap threw).
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
                Err(StartError::Guest(TerminationReason::GuestCrashed { .. } | TerminationReason::GuestExited { .. })) => {
                    Self::start_on(PreparedGuest::spawn(&options)?, config, capabilities, &options, wrap_thread)
                }
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
        let PreparedGuest { child, wire: parent_end, lane, memory } = guest;
        let spawn_error = |source| StartError::Spawn(SpawnError::new(options, source));
        let pid = child.id();
        let writer = parent_end.try_clone().map_err(spawn_error)?;
        // Every wait on the socket returns this often, to look at deadlines and at the guest.
        writer.set_write_timeout(Some(POLL)).map_err(spawn_error)?;
        parent_end.set_read_timeout(Some(POLL)).map_err(spawn_error)?;
        let (completions_tx, completions) = mpsc::sync_channel(MAX_QUEUED_COMPLETIONS);
        let limits = config.limits;
        let shared = Arc::new(Shared {
            completions: completions_tx,
            capabilities,
            lane,
            limit: FrameLimit::for_guest(limits),
            limits,
            max_heap_size: config.max_heap_size,
            console: config.enable_console,
            writer: Mutex::new(Some(writer)),
            in_flight: Mutex::new(HashMap::new()),
            asked: Mutex::new(Asked {
                async_calls: Window::async_calls(limits.max_bytes),
                module_loads: Window::new("module loads", MAX_PENDING_MODULE_LOADS, usize::MAX),
            }),
            releases: Mutex::default(),
            serving: ServingClock::default(),
            termination: Mutex::new(None),
            guest_gone: AtomicBool::new(false),
            child: Mutex::new(child),
            max_process_memory: options.max_process_memory,
            memory: Mutex::new(memory),
            engine: Mutex::default(),
        });
        let mut reader = FrameReader::new(parent_end, shared.limit);
        let layers = match handshake(&shared, &mut reader, config) {
            Ok(mut layers) => {
                *shared.engine.locked() = engine_process(pid);
                // A capped guest: whether a cgroup holds the cap (else the guest's rlimit does).
                if shared.max_process_memory.is_some() {
                    layers.push(("memory_cgroup".into(), shared.memory.locked().is_some()));
                }
                layers
            }
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
        let pid = shared.engine.locked().as_ref().and_then(pid_of).unwrap_or(pid);
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
    fn number(&self, request: &Request) -> (u64, Option<Deadline>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        (id, allowed_time(request).map(Deadline::after))
    }
}

/// How long the guest may take to answer `request`: its timeout plus the grace; a fixed
/// deadline for requests that take no timeout and run no JS; none for JS run without a timeout.
fn allowed_time(request: &Request) -> Option<Duration> {
    match request {
        Request::Eval { timeout, .. } | Request::EvalModule { timeout, .. } | Request::Call { timeout, .. } => {
            timeout.map(|timeout| timeout + GRACE)
        }
        Request::SetGlobal { .. } | Request::Stats | Request::Release { .. } => Some(CONTROL_DEADLINE),
    }
}

/// Send the start frame and wait, at most `START_DEADLINE` whatever the guest does, for `Ready`.
fn handshake(shared: &Shared, reader: &mut FrameReader<UnixStream>, config: EngineConfig) -> Result<Vec<(String, bool)>, StartError> {
    let started = Instant::now();
    shared.send(&WireFrame::Start { config }).map_err(|_| StartError::Guest(shared.reason()))?;
    let payload = loop {
        match reader.poll() {
            Ok(Some(payload)) => break payload,
            Ok(None) if started.elapsed() < START_DEADLINE => {}
            Ok(None) => return Err(StartError::Guest(TerminationReason::TimeoutOverdue { waited: START_DEADLINE })),
            Err(error) => return Err(StartError::Guest(shared.death_reason(&error))),
        }
    };
    let violation = |what: String| StartError::Guest(TerminationReason::ProtocolViolation(what));
    match decode_from_guest(&payload, shared.limit, shared.limits) {
        Ok((WireFrame::Ready { layers }, _)) => Ok(layers),
        Ok((WireFrame::StartFailed { error }, _)) => match reported_error(shared, error) {
            Ok(error) => Err(StartError::Engine(error)),
            Err(what) => Err(violation(what)),
        },
        Ok((other, _)) => Err(violation(format!("a {} frame to start with", frame_name(&other)))),
        Err(error) => Err(violation(error.to_string())),
    }
}

/// An error the guest reports, if an honest guest could report it: it may say its heap limit
/// was hit (when it has one) or that its engine failed, but not that the user terminated or
/// closed the runtime, or anything else only the parent knows. The heap limit is the parent's
/// own figure.
fn reported_error(shared: &Shared, error: EngineError) -> Result<EngineError, String> {
    match error {
        EngineError::Terminated(TerminationReason::HeapLimit { .. }) => match shared.max_heap_size {
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

impl Shared {
    /// Write `frame` to the guest. The write gives up (ending the runtime) when the guest stops
    /// reading for `STALL_DEADLINE`, or when a caller's deadline passes meanwhile.
    fn send(&self, frame: &WireFrame) -> Result<(), EngineError> {
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
    fn kill(&self) {
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
    fn death_reason(&self, error: &WireError) -> TerminationReason {
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
    fn end(&self, reason: TerminationReason) {
        let reason = self.termination.locked().get_or_insert(reason).clone();
        self.kill();
        drop(self.memory.locked().take());
        // Callers hear of the end only once the guest is gone (killed and reaped); one waiting
        // on the lane hears now rather than at its next look.
        self.guest_gone.store(true, Ordering::SeqCst);
        self.lane.ring(Side::Parent);
        // Never waits: a full queue means the forwarder is busy and sees the end itself.
        let _ = self.completions.try_send(Inbound::Close);
        let in_flight: Vec<InFlight> = self.in_flight.locked().drain().map(|(_, f)| f).collect();
        for request in in_flight {
            (request.reply)(Err(EngineError::Terminated(reason.clone())));
        }
    }

    /// The reason the runtime ended with (closed, if it has not ended: nothing runs any more).
    fn reason(&self) -> TerminationReason {
        self.termination.locked().clone().unwrap_or(TerminationReason::Closed)
    }

    fn is_guest_gone(&self) -> bool {
        self.guest_gone.load(Ordering::SeqCst)
    }

    /// End the guest for `reason` (unless it ended already) and return the error its callers
    /// get, once it is gone.
    fn fail(&self, reason: TerminationReason) -> EngineError {
        self.end(reason);
        EngineError::Terminated(self.reason())
    }

    /// What the first caller whose deadline passed allowed the guest, if one did.
    fn overdue(&self) -> Option<Duration> {
        let in_flight = self.in_flight.locked();
        in_flight.values().filter_map(|f| f.deadline).find(|d| d.passed(&self.serving)).map(|d| d.allowed)
    }

    /// Tell the guest of the function handles released since last time, a batch a frame.
    fn send_releases(&self) {
        let released = std::mem::take(&mut *self.releases.locked());
        for batch in released.chunks(MAX_RELEASE_BATCH) {
            if self.send(&WireFrame::Release { functions: batch.to_vec() }).is_err() {
                return;
            }
        }
    }

    /// Serve one frame from the guest, from either carrier: what to answer, or the protocol
    /// violation it is. `charged` is what the frame's values cost against the value limit.
    fn serve(&self, host: &EngineHost, frame: WireFrame, charged: usize) -> Result<Served, String> {
        self.serving.time(|| {
            Ok(match frame {
                WireFrame::HostCall { call, function, args } => {
                    Served::Answer(WireFrame::HostReply { call, result: host.call(function, args) })
                }
                WireFrame::ResolveModule { call, specifier, referrer } => {
                    Served::Answer(WireFrame::Resolved { call, result: host.resolve_module(&specifier, &referrer) })
                }
                WireFrame::HostCallAsync { call, function, args } => {
                    self.asked.locked().async_calls.open(call, (), charged).map_err(|overrun| overrun.to_string())?;
                    host.call_async(function, args, AsyncReply::new(call, self.sink()));
                    Served::Handled
                }
                WireFrame::LoadModule { key } => {
                    self.asked.locked().module_loads.open(key.clone(), (), 0).map_err(|overrun| overrun.to_string())?;
                    let url = key.url.clone();
                    host.load_resolved(&url, ModuleReply::new(key, self.sink())).map_err(|e| e.to_string())?;
                    Served::Handled
                }
                WireFrame::Console { level, message } if self.console => {
                    host.console(level, message);
                    Served::Handled
                }
                WireFrame::Console { .. } => return Err("console output from a runtime whose console is off".into()),
                WireFrame::Uncaught { exception } => {
                    host.uncaught_exception(exception);
                    Served::Handled
                }
                WireFrame::GrantsReleased { grants } => {
                    self.capabilities.release(&grants).map_err(|e| e.to_string())?;
                    Served::Handled
                }
                WireFrame::Reply { id, result } => {
                    let result = match result {
                        Err(error) => Err(reported_error(self, error)?),
                        Ok(response) => Ok(response),
                    };
                    Served::Reply { id, result }
                }
                other => return Err(format!("a {} frame, which the guest never sends once started", frame_name(&other))),
            })
        })
    }

    fn sink(&self) -> CompletionSink {
        CompletionSink::Bounded(self.completions.clone())
    }

    /// A reply as its caller gets it: a termination the guest reported ends the runtime first.
    fn settled(&self, result: Result<Response, EngineError>) -> Result<Response, EngineError> {
        if let Err(EngineError::Terminated(reason)) = &result {
            self.end(reason.clone());
        }
        result
    }
}

/// What became of a frame from the guest.
enum Served {
    /// A synchronous call, and the frame that answers it.
    Answer(WireFrame),
    /// A notice, handled; nothing goes back.
    Handled,
    /// The answer to request `id`.
    Reply { id: u64, result: Result<Response, EngineError> },
}

/// The I/O thread: answer the guest until it goes away or misbehaves, looking at every
/// caller's deadline at least every `POLL` however busy the socket is.
fn serve_guest(shared: &Arc<Shared>, mut reader: FrameReader<UnixStream>) {
    let host = EngineHost(shared.capabilities.clone());
    let mut next_look = Instant::now();
    loop {
        if shared.termination.locked().is_some() {
            return;
        }
        match reader.poll() {
            Ok(Some(payload)) => {
                let answered = decode_from_guest(&payload, shared.limit, shared.limits)
                    .map_err(|error| error.to_string())
                    .and_then(|(frame, charged)| answer_guest(shared, &host, frame, charged));
                if let Err(violation) = answered {
                    return shared.end(TerminationReason::ProtocolViolation(violation));
                }
            }
            Ok(None) => {}
            Err(error) => return shared.end(shared.death_reason(&error)),
        }
        if Instant::now() >= next_look {
            next_look = Instant::now() + POLL;
            if let Some(waited) = shared.overdue() {
                return shared.end(TerminationReason::TimeoutOverdue { waited });
            }
            shared.send_releases();
        }
    }
}

/// Serve one frame from the socket. `Err` names a protocol violation.
fn answer_guest(shared: &Shared, host: &EngineHost, frame: WireFrame, charged: usize) -> Result<(), String> {
    match shared.serve(host, frame, charged)? {
        // A failed write has ended the runtime already.
        Served::Answer(answer) => drop(shared.send(&answer)),
        Served::Handled => {}
        Served::Reply { id, result } => {
            let in_flight = shared.in_flight.locked().remove(&id);
            let request = in_flight.ok_or_else(|| format!("a reply to request {id}, which was never sent or was answered already"))?;
            (request.reply)(shared.settled(result));
        }
    }
    Ok(())
}

/// Send async completions and module sources to the guest as they arrive, from any thread,
/// until the guest is gone (`end` says so with `Close`; a handler that never answers must not
/// keep this thread).
fn forward_completions(shared: &Shared, completions: Receiver<Inbound>) {
    while let Ok(completion) = completions.recv() {
        let frame = match completion {
            Inbound::Completion { call, result } => {
                shared.asked.locked().async_calls.close(&call);
                WireFrame::AsyncComplete { call, result }
            }
            Inbound::ModuleSource { key, result } => {
                shared.asked.locked().module_loads.close(&key);
                WireFrame::ModuleSource { key, result }
            }
            Inbound::Close => return,
            Inbound::Request { .. } | Inbound::Cancel { .. } | Inbound::Wake => continue,
        };
        if shared.termination.locked().is_some() || shared.send(&frame).is_err() {
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
        WireFrame::Release { .. } => "Release",
        WireFrame::Cancel { .. } => "Cancel",
        WireFrame::Ready { .. } => "Ready",
        WireFrame::StartFailed { .. } => "StartFailed",
        WireFrame::Reply { .. } => "Reply",
        WireFrame::HostCall { .. } => "HostCall",
        WireFrame::HostCallAsync { .. } => "HostCallAsync",
        WireFrame::ResolveModule { .. } => "ResolveModule",
        WireFrame::LoadModule { .. } => "LoadModule",
        WireFrame::Console { .. } => "Console",
        WireFrame::Uncaught { .. } => "Uncaught",
        WireFrame::GrantsReleased { .. } => "GrantsReleased",
    }
}

/// The process that runs the engine, where it has a PID namespace of its own: the only child
/// of the process the parent spawned (its reaper), held by a pidfd.
fn engine_process(spawned: u32) -> Option<OwnedFd> {
    let children = std::fs::read_to_string(format!("/proc/{spawned}/task/{spawned}/children")).ok()?;
    let pid: libc::pid_t = children.split_whitespace().next()?.parse().ok()?;
    // SAFETY: pidfd_open makes a new descriptor, owned from here.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The pid a pidfd names (from its fdinfo).
fn pid_of(pidfd: &OwnedFd) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines().find_map(|line| line.strip_prefix("Pid:")).and_then(|pid| pid.trim().parse().ok())
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
        *self.lane_user.locked() = None;
        Ok(result)
    }

    fn exchange_on_lane(&self, request: Request) -> Result<Response, EngineError> {
        let (shared, lane) = (&self.shared, &self.shared.lane);
        let host = EngineHost(shared.capabilities.clone());
        let (id, deadline) = self.number(&request);
        let overdue = || deadline.is_some_and(|deadline| deadline.passed(&shared.serving));
        // Stop waiting for the guest once the runtime ended or the request's time ran out.
        let abandon = || shared.is_guest_gone() || overdue();
        if !lane.holds(Side::Parent) {
            return Err(shared.fail(TerminationReason::ProtocolViolation("it took the lane out of turn".into())));
        }
        let lost = |error: WireError| Err(self.lane_failure(error, deadline));
        let mut outgoing = WireFrame::Request { id, request };
        loop {
            // However fast the guest keeps the lane busy, the deadline holds.
            if abandon() {
                return lost(WireError::Closed);
            }
            match lane.send(Side::Parent, &outgoing, &abandon) {
                Ok(()) => {}
                // Only a value past the wire's maximum cannot be encoded: it fails its own call.
                Err(WireError::Unencodable(why)) => match outgoing {
                    WireFrame::HostReply { call, .. } => {
                        let why = format!("the host function's result cannot be passed to the guest: {why}");
                        outgoing = WireFrame::HostReply { call, result: Err(jscell_engine::HostError::error(why)) };
                        continue;
                    }
                    _ => return Err(EngineError::InvalidRequest(format!("the request cannot be passed to the guest: {why}"))),
                },
                Err(error) => return lost(error),
            }
            let received = lane.await_turn(Side::Parent, &abandon).and_then(|()| lane.receive_payload(Side::Parent, shared.limit, &abandon));
            let payload = match received {
                Ok(payload) => payload,
                Err(error) => return lost(error),
            };
            let served = decode_from_guest(&payload, shared.limit, shared.limits)
                .map_err(|error| error.to_string())
                .and_then(|(frame, charged)| shared.serve(&host, frame, charged));
            outgoing = match served {
                Ok(Served::Reply { id: replied, result }) if replied == id => return shared.settled(result),
                Ok(Served::Reply { id: replied, .. }) => {
                    let what = format!("a reply to request {replied} on the lane, where request {id} waits");
                    return Err(shared.fail(TerminationReason::ProtocolViolation(what)));
                }
                Ok(Served::Answer(answer)) => answer,
                Ok(Served::Handled) => WireFrame::Noted,
                Err(violation) => return Err(shared.fail(TerminationReason::ProtocolViolation(violation))),
            };
        }
    }

    /// What a failed lane exchange costs the caller: the guest is killed for its silence past
    /// the deadline or for what it did on the lane, unless the runtime already ended for
    /// another reason, which it then reports. Either way, once the guest is gone.
    fn lane_failure(&self, error: WireError, deadline: Option<Deadline>) -> EngineError {
        self.shared.fail(match (error, deadline) {
            (WireError::Closed, Some(deadline)) => TerminationReason::TimeoutOverdue { waited: deadline.allowed },
            (WireError::Closed, None) => self.shared.reason(),
            (error, _) => TerminationReason::ProtocolViolation(format!("on the lane: {error}")),
        })
    }
}

impl Backend for HardenedBackend {
    fn request(&self, request: Request, reply: Reply) -> RequestId {
        let (id, deadline) = self.number(&request);
        if let Some(reason) = self.termination() {
            reply(Err(EngineError::Terminated(reason)));
            return RequestId(id);
        }
        self.shared.in_flight.locked().insert(id, InFlight { reply, deadline });
        if let Err(error) = self.shared.send(&WireFrame::Request { id, request }) {
            // A write that ended the runtime has failed this request with the reason already.
            if let Some(in_flight) = self.shared.in_flight.locked().remove(&id) {
                (in_flight.reply)(Err(error));
            }
        }
        RequestId(id)
    }

    /// The guest answers a cancelled request too (with `Cancelled`, or the result that beat
    /// the cancel), so it stays in flight until then.
    fn cancel(&self, id: RequestId) {
        if self.stamp.is_current() && self.shared.in_flight.locked().contains_key(&id.0) {
            let _ = self.shared.send(&WireFrame::Cancel { id: id.0 });
        }
    }

    fn release(&self, function: FunctionHandle) {
        if self.stamp.is_current() && self.termination().is_none() {
            self.shared.releases.locked().push(function);
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
        if let Some(writer) = self.shared.writer.locked().take() {
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }
        if std::thread::current().id() == self.io_thread_id {
            return;
        }
        for thread in self.threads.locked().drain(..) {
            let _ = thread.join();
        }
        self.shared.capabilities.revoke_all();
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.stamp.elsewhere().or_else(|| self.shared.termination.locked().clone())
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.shared.capabilities
    }

    fn in_handler(&self) -> bool {
        let current = std::thread::current().id();
        current == self.io_thread_id || *self.lane_user.locked() == Some(current)
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

impl Drop for HardenedBackend {
    fn drop(&mut self) {
        self.close();
    }
}
