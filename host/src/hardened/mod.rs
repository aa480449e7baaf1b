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

mod completions;
mod deadlines;
mod guest_calls;
mod handshake;
mod io_thread;
mod lane_calls;
mod link;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use jscell_engine::{
    CompletionSink, EngineConfig, EngineError, EngineThreadWrapper, FunctionHandle, Reply, Request, RequestId, Response,
    TerminationReason, Unpoisoned, Window, MAX_PENDING_MODULE_LOADS,
};

use self::completions::forward_completions;
use self::deadlines::{allowed_time, Deadline, ServingClock};
use self::handshake::handshake;
use self::io_thread::serve_guest;
use self::link::{Asked, Forwarded, GuestLink, InFlight};
use crate::backend::{request_and_wait, Backend, GuestReport};
use crate::capability_host::CapabilityHost;
use crate::guest_bounds::{MAX_QUEUED_COMPLETIONS, RELEASE_INTERVAL};
use crate::guest_pool;
use crate::guest_process::{engine_process, pid_of, rss_bytes, GuestOptions, PreparedGuest, SpawnError};
use crate::wire::{FrameLimit, FrameReader, ToGuest};

/// The I/O thread's stack, for values nested up to the conversion depth limit.
const IO_THREAD_STACK: usize = 16 << 20;

/// How often a thread waiting on the socket looks at deadlines and sends gathered releases.
pub(super) const POLL: Duration = RELEASE_INTERVAL;

pub struct HardenedBackend {
    link: Arc<GuestLink>,
    next_id: AtomicU64,
    /// The engine's process (what `get_stats` reports), which the guest's reaper holds.
    pid: u32,
    layers: Vec<(String, bool)>,
    io_thread_id: ThreadId,
    /// Held by the one blocking caller using the lane; the thread id says who serves handlers.
    lane_user: Mutex<Option<ThreadId>>,
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
        let PreparedGuest { child, wire: parent_end, lane, memory } = guest;
        let spawn_error = |source| StartError::Spawn(SpawnError::new(options, source));
        let pid = child.id();
        let writer = parent_end.try_clone().map_err(spawn_error)?;
        // Every wait on the socket returns this often, to look at deadlines and at the guest.
        writer.set_write_timeout(Some(POLL)).map_err(spawn_error)?;
        parent_end.set_read_timeout(Some(POLL)).map_err(spawn_error)?;
        let (completions_tx, completions) = mpsc::sync_channel(MAX_QUEUED_COMPLETIONS);
        let queue = completions_tx.clone();
        // A full queue makes the handler that finishes one more wait; a gone forwarder, nobody.
        let sink = CompletionSink::Forward(Arc::new(move |completion| drop(queue.send(Forwarded::Completion(completion)))));
        let limits = config.limits;
        let link = Arc::new(GuestLink {
            completions: completions_tx,
            sink,
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
        let mut reader = FrameReader::new(parent_end, link.limit);
        let layers = match handshake(&link, &mut reader, config) {
            Ok(mut layers) => {
                *link.engine.locked() = engine_process(pid);
                // A capped guest: whether a cgroup holds the cap (else the guest's rlimit does).
                if link.max_process_memory.is_some() {
                    layers.push(("memory_cgroup".into(), link.memory.locked().is_some()));
                }
                layers
            }
            Err(error) => {
                link.kill();
                return Err(error);
            }
        };
        let io = {
            let link = link.clone();
            std::thread::Builder::new()
                .name("jscell-hardened-io".into())
                // Values from the guest may be nested to the depth limit; dropping them recurses.
                .stack_size(IO_THREAD_STACK)
                .spawn(move || {
                    let mut serve = Some((link, reader));
                    wrap_thread(&mut || {
                        if let Some((link, reader)) = serve.take() {
                            serve_guest(&link, reader);
                        }
                    })
                })
                .map_err(spawn_error)?
        };
        let forwarder = {
            let link = link.clone();
            std::thread::Builder::new()
                .name("jscell-hardened-completions".into())
                .spawn(move || forward_completions(&link, completions))
                .map_err(spawn_error)?
        };
        let pid = link.engine.locked().as_ref().and_then(pid_of).unwrap_or(pid);
        Ok(HardenedBackend {
            link,
            next_id: AtomicU64::new(0),
            pid,
            layers,
            io_thread_id: io.thread().id(),
            lane_user: Mutex::new(None),
            threads: Mutex::new(vec![io, forwarder]),
        })
    }

    /// A new request's id, and when the guest must have answered it.
    fn number(&self, request: &Request) -> (u64, Option<Deadline>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        (id, allowed_time(request).map(Deadline::after))
    }
}

impl Backend for HardenedBackend {
    fn request(&self, request: Request, reply: Reply) -> RequestId {
        let (id, deadline) = self.number(&request);
        if let Some(reason) = self.termination() {
            reply(Err(EngineError::Terminated(reason)));
            return RequestId(id);
        }
        self.link.in_flight.locked().insert(id, InFlight { reply, deadline });
        if let Err(error) = self.link.send(&ToGuest::Request { id, request }) {
            // A write that ended the runtime has failed this request with the reason already.
            if let Some(in_flight) = self.link.in_flight.locked().remove(&id) {
                (in_flight.reply)(Err(error));
            }
        }
        RequestId(id)
    }

    /// The guest answers a cancelled request too (with `Cancelled`, or the result that beat
    /// the cancel), so it stays in flight until then.
    fn cancel(&self, id: RequestId) {
        if self.link.in_flight.locked().contains_key(&id.0) {
            let _ = self.link.send(&ToGuest::Cancel { id: id.0 });
        }
    }

    fn release(&self, function: FunctionHandle) {
        if self.termination().is_none() {
            self.link.releases.locked().push(function);
        }
    }

    fn terminate(&self) {
        self.link.end(TerminationReason::Requested);
    }

    fn close(&self) {
        self.link.end(TerminationReason::Closed);
        if let Some(writer) = self.link.writer.locked().take() {
            let _ = writer.shutdown(std::net::Shutdown::Both);
        }
        if std::thread::current().id() == self.io_thread_id {
            return;
        }
        for thread in self.threads.locked().drain(..) {
            let _ = thread.join();
        }
        self.link.capabilities.revoke_all();
    }

    fn termination(&self) -> Option<TerminationReason> {
        self.link.termination.locked().clone()
    }

    fn capabilities(&self) -> &Arc<CapabilityHost> {
        &self.link.capabilities
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
