//! The evil guest's end of the two carriers, with everything an attacker in the guest can do
//! with them: speak the protocol honestly, send bytes no encoder would produce, write the
//! lane's shared header directly, stop reading, or stop answering.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jscell_host::engine::{EngineConfig, EngineError, EngineStats, Request, Response, Value};
use jscell_host::lane::{Lane, Side};
use serde::Serialize;

use jscell_host::wire::{encode, encode_payload, FrameLimit, FrameReader, Prepare, Start, StartReport, ToGuest, ToParent, MAX_FRAME_BYTES};

/// Which carrier a request came on, so its answer goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Lane,
    Socket,
}

/// A request from the parent.
pub struct Incoming {
    pub carrier: Carrier,
    pub id: u64,
    pub request: Request,
}

/// Nothing on the guest's side gives up waiting: the parent decides when the guest dies.
fn never() -> bool {
    false
}

pub struct Guest {
    pub config: EngineConfig,
    socket: UnixStream,
    frames: Receiver<ToGuest>,
    /// The socket's reader until `listen` starts it: an attack may keep the socket unread.
    listener: Mutex<Option<(FrameReader<UnixStream>, mpsc::Sender<ToGuest>)>>,
    /// While cleared, the socket reader stops reading and the parent's writes back up.
    reading: Arc<AtomicBool>,
    /// Set when the guest shuts its own socket: its end of the wire is then no reason to exit.
    shut: Arc<AtomicBool>,
    pub lane: Arc<Lane>,
    raw: RawLane,
}

impl Guest {
    /// Take over the carriers the parent spawned this process with: the wire as stdin, the
    /// lane's region as stdout. Returns once `Start` is read, before answering it.
    pub fn connect(socket: UnixStream, lane_fd: OwnedFd) -> Guest {
        let mut reader = FrameReader::new(socket.try_clone().expect("clone the wire"), FrameLimit::new(MAX_FRAME_BYTES));
        let Ok(Prepare { .. }) = reader.read::<Prepare>() else { std::process::exit(2) };
        let raw = RawLane::map(&lane_fd);
        let lane = Arc::new(Lane::open(lane_fd).expect("map the lane"));
        let Ok(Start { config }) = reader.read::<Start>() else { std::process::exit(2) };
        let (sender, frames) = mpsc::channel();
        let listener = Mutex::new(Some((reader, sender)));
        let (reading, shut) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(false)));
        Guest { config, socket, frames, listener, reading, shut, lane, raw }
    }

    /// Start reading the socket (once), passing frames to `frames`.
    fn listen(&self) {
        let Some((mut reader, sender)) = self.listener.lock().expect("the listener lock").take() else { return };
        let (reading, shut, bell) = (self.reading.clone(), self.shut.clone(), self.lane.clone());
        std::thread::spawn(move || loop {
            while !reading.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            match reader.read() {
                Ok(frame) => {
                    if sender.send(frame).is_err() {
                        return;
                    }
                    bell.ring(Side::Guest);
                }
                Err(_) if shut.load(SeqCst) => hang(),
                // The parent closed the wire: this guest is done.
                Err(_) => std::process::exit(0),
            }
        });
    }

    /// The largest frame the parent accepts from this guest.
    pub fn frame_limit(&self) -> usize {
        FrameLimit::for_guest(self.config.limits).bytes()
    }

    pub fn max_bytes(&self) -> usize {
        self.config.limits.max_bytes
    }

    /// Answer the handshake and start reading the socket.
    pub fn ready(&self) {
        self.send(&StartReport::Ready { layers: Vec::new() });
        self.listen();
    }

    /// Send a frame on the socket.
    pub fn send(&self, frame: &impl Serialize) {
        self.send_raw(&encode(frame).expect("encodable"));
    }

    /// Write bytes to the socket as they are. A write the parent refuses ends this process,
    /// which then only matters to the parent's verdict, already given.
    pub fn send_raw(&self, bytes: &[u8]) {
        if (&self.socket).write_all(bytes).is_err() {
            hang();
        }
    }

    /// A frame on the socket from its payload: the length prefix, then the bytes.
    pub fn send_payload(&self, payload: &[u8]) {
        let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(payload);
        self.send_raw(&bytes);
    }

    /// Hand a payload to the parent on the lane (the guest must hold the turn).
    pub fn lane_payload(&self, payload: &[u8]) {
        if self.lane.send_payload(Side::Guest, payload, &never).is_err() {
            hang();
        }
    }

    pub fn lane_send(&self, frame: &impl Serialize) {
        self.lane_payload(&encode_payload(frame).expect("encodable"));
    }

    /// Wait for the parent's answer on the lane.
    pub fn lane_answer(&self) -> ToGuest {
        self.lane.await_turn(Side::Guest, &never).expect("never abandoned");
        self.lane.receive(Side::Guest, FrameLimit::new(MAX_FRAME_BYTES), &never).unwrap_or_else(|_| hang())
    }

    /// Shut the guest's end of the wire, staying alive.
    pub fn shut_socket(&self) {
        self.shut.store(true, SeqCst);
        // SAFETY: shutting the guest's own socket.
        unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RDWR) };
    }

    pub fn stop_reading(&self) {
        self.reading.store(false, SeqCst);
    }

    pub fn raw_lane(&self) -> &RawLane {
        &self.raw
    }

    /// The next frame from the socket (replies included), waiting at most `timeout`.
    pub fn socket_frame(&self, timeout: Duration) -> Option<ToGuest> {
        match self.frames.recv_timeout(timeout) {
            Ok(frame) => Some(frame),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => std::process::exit(0),
        }
    }

    /// The next request, from whichever carrier brings one first; notices are dropped.
    pub fn next_request(&self) -> Incoming {
        loop {
            if self.lane.holds(Side::Guest) {
                match self.lane.receive(Side::Guest, FrameLimit::new(MAX_FRAME_BYTES), &never) {
                    Ok(ToGuest::Request { id, request }) => return Incoming { carrier: Carrier::Lane, id, request },
                    _ => hang(),
                }
            }
            if let Some(ToGuest::Request { id, request }) = self.socket_frame(Duration::from_millis(2)) {
                return Incoming { carrier: Carrier::Socket, id, request };
            }
        }
    }

    /// The first request that runs code (eval, module, call), answering others honestly.
    pub fn next_run(&self) -> Incoming {
        loop {
            let incoming = self.next_request();
            match incoming.request {
                Request::Eval { .. } | Request::EvalModule { .. } | Request::Call { .. } => return incoming,
                _ => self.answer_honestly(&incoming),
            }
        }
    }

    /// Send `frame` the way `to` came: the lane or the socket.
    pub fn send_on(&self, carrier: Carrier, frame: &impl Serialize) {
        match carrier {
            Carrier::Lane => self.lane_send(frame),
            Carrier::Socket => self.send(frame),
        }
    }

    /// A payload the way `to` came.
    pub fn payload_on(&self, carrier: Carrier, payload: &[u8]) {
        match carrier {
            Carrier::Lane => self.lane_payload(payload),
            Carrier::Socket => self.send_payload(payload),
        }
    }

    /// Send a frame that wants an answer and return the answer, on `carrier`.
    pub fn call_on(&self, carrier: Carrier, frame: &impl Serialize) -> ToGuest {
        self.send_on(carrier, frame);
        match carrier {
            Carrier::Lane => self.lane_answer(),
            Carrier::Socket => loop {
                match self.socket_frame(Duration::from_secs(3600)) {
                    Some(frame @ (ToGuest::HostReply { .. } | ToGuest::Resolved { .. })) => return frame,
                    _ => continue,
                }
            },
        }
    }

    pub fn reply(&self, to: &Incoming, result: Result<Response, EngineError>) {
        self.send_on(to.carrier, &ToParent::Reply { id: to.id, result });
    }

    /// What an honest guest with nothing to run would answer.
    pub fn answer_honestly(&self, to: &Incoming) {
        let response = match &to.request {
            Request::Eval { .. } | Request::EvalModule { .. } | Request::Call { .. } => Response::Value(Value::Int(1)),
            Request::Stats => Response::Stats(EngineStats::default()),
            _ => Response::Done,
        };
        self.reply(to, Ok(response));
    }

    /// After an attack the parent may still talk to this guest: answer it honestly.
    pub fn serve(&self) -> ! {
        self.listen();
        loop {
            let incoming = self.next_request();
            self.answer_honestly(&incoming);
        }
    }
}

/// Wait to be killed.
pub fn hang() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The lane's control block written directly, as native code in a compromised guest can. The
/// layout is the `#[repr(C)]` header of `jscell_host::lane`: the turn, two bells, two sleeping
/// flags, the frame's total length and the length of the chunk in the buffer, which starts one
/// page in.
pub struct RawLane {
    base: *mut u8,
}

const TURN: usize = 0;
const BELLS: usize = 4;
const TOTAL: usize = 24;
const LENGTH: usize = 32;
const BUFFER: usize = 4096;

impl RawLane {
    fn map(fd: &OwnedFd) -> RawLane {
        // SAFETY: `stat` is plain data, valid all zero.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: plain system calls on the lane's descriptor; a second mapping of its region.
        let base = unsafe {
            libc::fstat(fd.as_raw_fd(), &mut stat);
            let size = stat.st_size as usize;
            libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        assert_ne!(base, libc::MAP_FAILED, "map the lane");
        RawLane { base: base.cast() }
    }

    fn word32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: an aligned word inside the mapping, only reached through atomics.
        unsafe { &*self.base.add(offset).cast::<AtomicU32>() }
    }

    fn word64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: as above.
        unsafe { &*self.base.add(offset).cast::<AtomicU64>() }
    }

    pub fn set_lengths(&self, total: u64, chunk: u64) {
        self.word64(TOTAL).store(total, SeqCst);
        self.word64(LENGTH).store(chunk, SeqCst);
    }

    pub fn write_buffer(&self, bytes: &[u8]) {
        // SAFETY: callers keep `bytes` within the one-mebibyte buffer.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.base.add(BUFFER), bytes.len()) };
    }

    /// Give the turn to `side` (0 parent, 1 guest) and wake it, whatever state the lane is in.
    pub fn hand_to(&self, side: u32) {
        self.word32(TURN).store(side, SeqCst);
        let bell = self.word32(BELLS + 4 * side as usize);
        bell.fetch_add(1, SeqCst);
        // SAFETY: waking futex waiters on a word of the shared mapping.
        unsafe { libc::syscall(libc::SYS_futex, bell.as_ptr(), libc::FUTEX_WAKE, i32::MAX, 0usize, 0usize, 0u32) };
    }
}
