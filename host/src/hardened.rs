//! The hardened backend: the engine runs in a separate `jscell-guest` process whose only
//! window is a socket to this side. One I/O thread reads the guest's frames and serves its
//! host calls and module requests from the same `CapabilityHost` the native backend uses. The
//! guest is hostile: every frame is bounded and checked, any violation or death of the guest
//! kills it and fails every caller with `Terminated` naming the cause.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use jscell_engine::{
    AsyncReply, EngineConfig, EngineError, Host, Inbound, ModuleReply, Reply, Request, TerminationReason,
};

use crate::backend::Backend;
use crate::capability_host::{CapabilityHost, EngineHost};
use crate::native::EngineThreadWrapper;
use crate::wire::{write_frame, FrameLimit, FrameReader, WireError, WireFrame};

/// The descriptor the guest expects the wire on (`jscell-guest`'s `WIRE_FD`).
const GUEST_WIRE_FD: i32 = 3;
/// How long the guest may take to start (spawn, sandbox, V8, bootstrap).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long past a request's own timeout the guest may stay silent before it is killed.
const GRACE: Duration = Duration::from_secs(1);
/// The I/O thread's stack, for values nested up to the conversion depth limit.
const IO_THREAD_STACK: usize = 16 << 20;
/// Room in a frame for everything around its value (ids, error texts, stack frames).
const FRAME_ENVELOPE: usize = 1 << 20;
/// How often the I/O thread looks at deadlines while it waits for frames.
const POLL: Duration = Duration::from_millis(50);

pub struct GuestOptions {
    pub guest_path: PathBuf,
    pub max_process_memory: Option<u64>,
    pub jitless: bool,
}

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
    /// Taken on close, so a closed runtime holds no descriptor.
    writer: Mutex<Option<UnixStream>>,
    in_flight: Mutex<HashMap<u64, InFlight>>,
    termination: Mutex<Option<TerminationReason>>,
    child: Mutex<Child>,
}

pub struct HardenedBackend {
    shared: Arc<Shared>,
    next_id: AtomicU64,
    pid: u32,
    layers: Vec<(String, bool)>,
    io_thread_id: ThreadId,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot start the guest {path}: {source}")]
    Spawn { path: String, source: io::Error },
    #[error("the guest failed to start: {0}")]
    Guest(String),
    #[error(transparent)]
    Engine(EngineError),
}

impl HardenedBackend {
    pub fn start(
        config: EngineConfig,
        capabilities: Arc<CapabilityHost>,
        options: GuestOptions,
        wrap_thread: EngineThreadWrapper,
    ) -> Result<Self, StartError> {
        let (parent_end, guest_end) = UnixStream::pair().map_err(|source| spawn_error(&options, source))?;
        let mut command = Command::new(&options.guest_path);
        command.env_clear().current_dir("/").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let guest_fd = guest_end.as_raw_fd();
        // SAFETY: between fork and exec only async-signal-safe calls are made: dup2, fcntl,
        // prctl.
        unsafe {
            command.pre_exec(move || {
                if guest_fd == GUEST_WIRE_FD {
                    libc::fcntl(guest_fd, libc::F_SETFD, 0);
                } else if libc::dup2(guest_fd, GUEST_WIRE_FD) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // If this process dies, so does the guest: no orphans.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| spawn_error(&options, source))?;
        drop(guest_end);
        let pid = child.id();
        let shared = Arc::new(Shared {
            capabilities,
            writer: Mutex::new(Some(parent_end.try_clone().map_err(|source| spawn_error(&options, source))?)),
            in_flight: Mutex::new(HashMap::new()),
            termination: Mutex::new(None),
            child: Mutex::new(child),
        });
        // A frame carries at most one value within the conversion limit, plus its envelope.
        let limit = FrameLimit::new(config.limits.max_bytes.saturating_mul(2).saturating_add(FRAME_ENVELOPE));
        let start = WireFrame::Start { config, max_process_memory: options.max_process_memory, jitless: options.jitless };
        let mut reader = FrameReader::new(parent_end, limit);
        let layers = match handshake(&shared, &mut reader, &start) {
            Ok(layers) => layers,
            Err(error) => {
                shared.kill();
                return Err(error);
            }
        };
        let (completions_tx, completions) = mpsc::channel();
        let io = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("jscell-hardened-io".into())
                // Values from the guest may be nested to the depth limit; dropping them recurses.
                .stack_size(IO_THREAD_STACK)
                .spawn(move || {
                    let mut serve = Some((shared, reader, completions_tx));
                    wrap_thread(&mut || {
                        if let Some((shared, reader, completions_tx)) = serve.take() {
                            serve_guest(&shared, reader, completions_tx);
                        }
                    })
                })
                .map_err(|source| spawn_error(&options, source))?
        };
        let forwarder = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("jscell-hardened-completions".into())
                .spawn(move || forward_completions(&shared, completions))
                .map_err(|source| spawn_error(&options, source))?
        };
        Ok(HardenedBackend {
            shared,
            next_id: AtomicU64::new(0),
            pid,
            layers,
            io_thread_id: io.thread().id(),
            threads: Mutex::new(vec![io, forwarder]),
        })
    }

}

fn spawn_error(options: &GuestOptions, source: io::Error) -> StartError {
    StartError::Spawn { path: options.guest_path.display().to_string(), source }
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
        let in_flight: Vec<InFlight> = self.in_flight.lock().unwrap().drain().map(|(_, f)| f).collect();
        for request in in_flight {
            (request.reply)(Err(EngineError::Terminated(reason.clone())));
        }
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
fn serve_guest(shared: &Arc<Shared>, mut reader: FrameReader<UnixStream>, completions: mpsc::Sender<Inbound>) {
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
                    let reason = "the guest did not answer within its timeout plus a grace period; it was killed";
                    return shared.end(TerminationReason::EngineLost(reason.into()));
                }
                continue;
            }
            Err(error) => {
                let reason = shared.death_reason(&error);
                return shared.end(TerminationReason::EngineLost(reason));
            }
        };
        if let Err(violation) = answer_guest(shared, &host, frame, &completions) {
            return shared.end(TerminationReason::EngineLost(format!("the guest broke the wire protocol: {violation}")));
        }
    }
}

/// Serve one frame from the guest. `Err` names a protocol violation.
fn answer_guest(shared: &Shared, host: &EngineHost, frame: WireFrame, completions: &mpsc::Sender<Inbound>) -> Result<(), String> {
    let sent = match frame {
        WireFrame::Reply { id, result } => {
            let in_flight = shared.in_flight.lock().unwrap().remove(&id);
            let request = in_flight.ok_or_else(|| format!("a reply to request {id}, which was never sent or was answered already"))?;
            (request.reply)(result);
            Ok(())
        }
        WireFrame::HostCall { call, function, args } => {
            shared.send(&WireFrame::HostReply { call, result: host.call(function, args) })
        }
        WireFrame::HostCallAsync { call, function, args } => {
            host.call_async(function, args, AsyncReply::new(call, completions.clone()));
            Ok(())
        }
        WireFrame::ResolveModule { call, specifier, referrer } => {
            shared.send(&WireFrame::Resolved { call, result: host.resolve_module(&specifier, &referrer) })
        }
        WireFrame::LoadModule { key } => {
            let url = key.url.clone();
            host.load_module(&url, ModuleReply::new(key, completions.clone()));
            Ok(())
        }
        WireFrame::Console { level, message } => {
            host.console(level, message);
            Ok(())
        }
        WireFrame::Uncaught { exception } => {
            host.uncaught_exception(exception);
            Ok(())
        }
        other => return Err(format!("a {} frame, which only the host sends", frame_name(&other))),
    };
    // A failed write means the guest is gone; the next read says why.
    drop(sent);
    Ok(())
}

/// Send async completions and module sources to the guest as they arrive, from any thread,
/// until the guest is gone (a handler may never answer: that must not keep this thread).
fn forward_completions(shared: &Shared, completions: Receiver<Inbound>) {
    loop {
        let completion = match completions.recv_timeout(POLL) {
            Ok(completion) => completion,
            Err(mpsc::RecvTimeoutError::Timeout) if shared.termination.lock().unwrap().is_none() => continue,
            Err(_) => return,
        };
        let frame = match completion {
            Inbound::Completion { call, result } => WireFrame::AsyncComplete { call, result },
            Inbound::ModuleSource { key, result } => WireFrame::ModuleSource { key, result },
            _ => continue,
        };
        if shared.send(&frame).is_err() {
            return;
        }
    }
}

fn frame_name(frame: &WireFrame) -> &'static str {
    match frame {
        WireFrame::Start { .. } => "Start",
        WireFrame::Request { .. } => "Request",
        WireFrame::HostReply { .. } => "HostReply",
        WireFrame::AsyncComplete { .. } => "AsyncComplete",
        WireFrame::Resolved { .. } => "Resolved",
        WireFrame::ModuleSource { .. } => "ModuleSource",
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

impl Backend for HardenedBackend {
    fn request(&self, request: Request, reply: Reply) {
        if let Some(reason) = self.termination() {
            return reply(Err(EngineError::Terminated(reason)));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let deadline = request_timeout(&request).map(|t| Instant::now() + t + GRACE);
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
        self.shared.end(TerminationReason::Requested);
    }

    fn close(&self) {
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
        self.shared.termination.lock().unwrap().clone()
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.shared.capabilities
    }

    fn handler_thread(&self) -> Option<ThreadId> {
        Some(self.io_thread_id)
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
