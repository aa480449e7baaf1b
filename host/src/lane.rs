//! The lane: a shared-memory mailbox beside the wire socket, for blocking requests and the
//! synchronous host calls they make.
//!
//! Waking a thread in another process costs tens of microseconds on small virtual machines,
//! while handing over a buffer in shared memory that the other side is polling costs well under
//! one. So a blocking caller and the guest's engine pass frames through one buffer, taking
//! turns, and sleep on a futex only after polling briefly. A frame larger than the buffer
//! crosses in chunks, each acknowledged by handing the turn back. The buffer is small and fixed
//! because shared pages escape the guest's memory cap (`RLIMIT_DATA` counts private memory only).
//!
//! The guest is hostile and can write this memory at any time. The parent therefore reads each
//! length once, bounds it, copies the bytes out before decoding them, and never forms a
//! reference into the buffer; every wait for the guest can be abandoned; the region is sealed
//! so the guest cannot shrink it under the parent (which would fault the parent on access).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use jscell_engine::poll_briefly;

use crate::guest_bounds::STALL_DEADLINE;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::{decode_payload, encode_payload, FrameLimit, WireError};

/// The two ends of a lane; the value is whose turn it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Parent = 0,
    Guest = 1,
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Parent => Side::Guest,
            Side::Guest => Side::Parent,
        }
    }
}

/// The control block at the start of the region.
#[repr(C)]
struct Header {
    /// Which side may touch the buffer: it holds a frame for that side, or nothing.
    turn: AtomicU32,
    /// Bumped to wake a side (indexed by `Side`); the futex word that side sleeps on.
    bell: [AtomicU32; 2],
    /// Whether that side sleeps, so a ring costs no system call while it polls.
    sleeping: [AtomicU32; 2],
    /// Bytes of the whole frame being passed.
    total: AtomicU64,
    /// Bytes of it in the buffer now.
    length: AtomicU64,
}

/// The buffer starts one page in, after the header.
const BUFFER_OFFSET: usize = 4096;
/// The buffer's size: most frames fit whole; larger ones cost a handover per chunk.
pub const LANE_BUFFER_BYTES: usize = 1 << 20;
/// How often a side waiting for the other asks whether to give up.
const RECHECK: Duration = Duration::from_millis(50);

pub struct Lane {
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: the region is only reached through atomics and raw-pointer copies, never references
// into the buffer, so any thread may use it.
unsafe impl Send for Lane {}
// SAFETY: as for `Send`: shared use goes through the same atomics and copies.
unsafe impl Sync for Lane {}

impl Lane {
    /// The parent's end: a new sealed region whose buffer holds `capacity` bytes, and the
    /// descriptor to hand to the guest.
    pub fn create(capacity: usize) -> io::Result<(Lane, OwnedFd)> {
        let size = (BUFFER_OFFSET + capacity).next_multiple_of(4096);
        // SAFETY: plain system calls on a descriptor this function owns.
        let fd = unsafe {
            let raw = libc::memfd_create(c"jscell-lane".as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
            if raw == -1 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(raw)
        };
        let length = libc::off_t::try_from(size).map_err(|_| io::Error::other("lane too large"))?;
        // SAFETY: as above.
        unsafe {
            if libc::ftruncate(fd.as_raw_fd(), length) == -1 {
                return Err(io::Error::last_os_error());
            }
            let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
            if libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok((Lane::map(&fd, size)?, fd))
    }

    /// The guest's end: map the region the parent passed as `fd`, then close it.
    pub fn open(fd: OwnedFd) -> io::Result<Lane> {
        // SAFETY: fstat writes into the zeroed struct it is given.
        let size = unsafe {
            let mut stat: libc::stat = std::mem::zeroed();
            if libc::fstat(fd.as_raw_fd(), &mut stat) == -1 {
                return Err(io::Error::last_os_error());
            }
            usize::try_from(stat.st_size).map_err(|_| io::Error::other("bad lane size"))?
        };
        if size <= BUFFER_OFFSET {
            return Err(io::Error::other(format!("the lane region of {size} bytes is too small")));
        }
        Lane::map(&fd, size)
    }

    fn map(fd: &OwnedFd, size: usize) -> io::Result<Lane> {
        // SAFETY: a fresh shared mapping of a sealed (or parent-owned) region of `size` bytes.
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Lane { base, size })
    }

    fn header(&self) -> &Header {
        // SAFETY: the region starts with a page-aligned Header of atomics, valid for any bytes.
        unsafe { &*self.base.as_ptr().cast::<Header>() }
    }

    fn buffer(&self) -> *mut u8 {
        // SAFETY: BUFFER_OFFSET is inside the mapping (checked when mapped).
        unsafe { self.base.as_ptr().add(BUFFER_OFFSET) }
    }

    pub fn capacity(&self) -> usize {
        self.size - BUFFER_OFFSET
    }

    /// Whether `side` holds the turn.
    pub fn holds(&self, side: Side) -> bool {
        self.header().turn.load(SeqCst) == side as u32
    }

    /// Pass `frame` to the other side, which must be receiving: in one handover when it fits
    /// the buffer, else chunk by chunk. `from` must hold the turn. The wait for the first chunk
    /// to be taken ends with `Closed` once `abandon()` holds; the other side, once it took
    /// one, must take each next chunk within `STALL_DEADLINE` (else `Stalled`).
    pub fn send(&self, from: Side, frame: &impl Serialize, abandon: &dyn Fn() -> bool) -> Result<(), WireError> {
        self.send_payload(from, &encode_payload(frame)?, abandon)
    }

    /// `send` for a frame already encoded (without its length prefix).
    pub fn send_payload(&self, from: Side, bytes: &[u8], abandon: &dyn Fn() -> bool) -> Result<(), WireError> {
        let header = self.header();
        let mut sent = 0;
        loop {
            let chunk = (bytes.len() - sent).min(self.capacity());
            // SAFETY: the chunk fits the buffer; no reference to shared memory is formed.
            unsafe { std::ptr::copy_nonoverlapping(bytes[sent..].as_ptr(), self.buffer(), chunk) };
            header.total.store(bytes.len() as u64, SeqCst);
            header.length.store(chunk as u64, SeqCst);
            let first = sent == 0;
            sent += chunk;
            self.hand_over(from.other());
            if sent == bytes.len() {
                return Ok(());
            }
            match first {
                true => self.await_turn(from, abandon)?,
                false => self.await_progress(from, abandon)?,
            }
        }
    }

    /// Take the frame the other side is passing (call while holding the turn), acknowledging
    /// each chunk but the last. Lengths are checked against `limit` and the buffer, and the
    /// frame grows as its chunks arrive, whatever total it claims. Each next chunk must come
    /// within `STALL_DEADLINE` (else `Stalled`), or before `abandon()` holds (else `Closed`).
    pub fn receive<F: DeserializeOwned>(&self, to: Side, limit: FrameLimit, abandon: &dyn Fn() -> bool) -> Result<F, WireError> {
        decode_payload(&self.receive_payload(to, limit, abandon)?, limit)
    }

    /// `receive`, without decoding: the payload's bytes, copied out of shared memory.
    pub fn receive_payload(&self, to: Side, limit: FrameLimit, abandon: &dyn Fn() -> bool) -> Result<Vec<u8>, WireError> {
        let header = self.header();
        // Each length is read once: the other side may change it while this side copies.
        let total = usize::try_from(header.total.load(SeqCst)).unwrap_or(usize::MAX);
        if total > limit.bytes() {
            return Err(WireError::TooLarge { length: total, limit: limit.bytes() });
        }
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            let chunk = usize::try_from(header.length.load(SeqCst)).unwrap_or(usize::MAX);
            let received = bytes.len();
            if chunk == 0 || chunk > self.capacity() || chunk > total - received {
                return Err(WireError::Malformed(format!("a chunk of {chunk} bytes at {received} of {total}")));
            }
            bytes.reserve(chunk);
            // SAFETY: `chunk` is within the buffer, and `bytes` has room for it; plain bytes
            // are copied, then counted.
            unsafe {
                std::ptr::copy_nonoverlapping(self.buffer(), bytes.as_mut_ptr().add(received), chunk);
                bytes.set_len(received + chunk);
            }
            if bytes.len() == total {
                return Ok(bytes);
            }
            self.hand_over(to.other());
            self.await_progress(to, abandon)?;
        }
    }

    /// Wait for the other side's next chunk of a frame in transit: `Stalled` when it does not
    /// come within `STALL_DEADLINE`.
    fn await_progress(&self, side: Side, abandon: &dyn Fn() -> bool) -> Result<(), WireError> {
        let stalled_at = Instant::now() + STALL_DEADLINE;
        match self.await_turn(side, &|| abandon() || Instant::now() >= stalled_at) {
            Err(WireError::Closed) if !abandon() => Err(WireError::Stalled(STALL_DEADLINE)),
            other => other,
        }
    }

    /// For fuzzing the receiver: write `bytes` into the buffer and the header's lengths as the
    /// side `from` would (whatever they claim), and hand the turn over.
    #[cfg(fuzzing)]
    pub fn forge_chunk(&self, from: Side, total: u64, chunk: u64, bytes: &[u8]) {
        let header = self.header();
        let copied = bytes.len().min(self.capacity());
        // SAFETY: at most the buffer's capacity is copied; no reference to shared memory.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.buffer(), copied) };
        header.total.store(total, SeqCst);
        header.length.store(chunk, SeqCst);
        self.hand_over(from.other());
    }

    /// Wait until `side` holds the turn; `Closed` once `abandon()` holds first.
    pub fn await_turn(&self, side: Side, abandon: &dyn Fn() -> bool) -> Result<(), WireError> {
        loop {
            self.wait(side, Some(RECHECK), || self.holds(side) || abandon());
            if self.holds(side) {
                return Ok(());
            }
            if abandon() {
                return Err(WireError::Closed);
            }
        }
    }

    fn hand_over(&self, to: Side) {
        self.header().turn.store(to as u32, SeqCst);
        self.ring(to);
    }

    /// Wake `side` if it waits.
    pub fn ring(&self, side: Side) {
        let header = self.header();
        header.bell[side as usize].fetch_add(1, SeqCst);
        if header.sleeping[side as usize].load(SeqCst) != 0 {
            futex_wake(&header.bell[side as usize]);
        }
    }

    /// Wait as `side` until `ready()` holds: poll briefly, then sleep until rung. Gives up after
    /// `timeout` (`None`: never) and returns whether `ready()` held.
    pub fn wait(&self, side: Side, timeout: Option<Duration>, mut ready: impl FnMut() -> bool) -> bool {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        // A caller's next request or a handler's answer usually comes within the poll.
        if poll_briefly(&mut ready) {
            return true;
        }
        let header = self.header();
        let (bell, sleeping) = (&header.bell[side as usize], &header.sleeping[side as usize]);
        loop {
            sleeping.store(1, SeqCst);
            // A ring after this load changes the bell, so the futex wait below returns at once.
            let seen = bell.load(SeqCst);
            if ready() {
                sleeping.store(0, SeqCst);
                return true;
            }
            let left = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        sleeping.store(0, SeqCst);
                        return false;
                    }
                },
                None => None,
            };
            futex_wait(bell, seen, left);
            sleeping.store(0, SeqCst);
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, no longer used by anyone.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size) };
    }
}

/// Sleep while `word` holds `expected`, at most `timeout`. Not FUTEX_PRIVATE: the word is shared
/// between processes.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let timespec = timeout.map(|timeout| libc::timespec {
        tv_sec: timeout.as_secs().try_into().unwrap_or(libc::time_t::MAX),
        tv_nsec: timeout.subsec_nanos().into(),
    });
    let timespec_ptr = timespec.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: the word lives in the mapping for as long as `self`; a wrong value or a signal
    // only makes the call return early, and every caller checks its condition again.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, timespec_ptr, 0usize, 0u32) };
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: waking waiters on a word of the mapping has no other effect.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1, 0usize, 0usize, 0u32) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use jscell_engine::{Request, Wait};

    use crate::wire::{ToGuest, ToParent};

    fn request(source: &str) -> ToGuest {
        ToGuest::Request { id: 1, request: Request::Eval { source: source.into(), timeout: None, wait: Wait::Blocking } }
    }

    fn never() -> bool {
        false
    }

    /// Frames of every size, including many times the buffer, pass whole in both directions.
    #[test]
    fn frames_pass_between_threads_in_turn_whole_or_in_chunks() {
        let (lane, fd) = Lane::create(64).unwrap();
        let guest = Lane::open(fd).unwrap();
        let limit = FrameLimit::new(1 << 20);
        let echo = std::thread::spawn(move || {
            for _ in 0..300 {
                guest.await_turn(Side::Guest, &never).unwrap();
                let frame: ToGuest = guest.receive(Side::Guest, limit, &never).unwrap();
                guest.send(Side::Guest, &frame, &never).unwrap();
            }
        });
        for i in 0..300 {
            let frame = request(&"é".repeat(i * 40));
            lane.send(Side::Parent, &frame, &never).unwrap();
            lane.await_turn(Side::Parent, &never).unwrap();
            assert_eq!(lane.receive::<ToGuest>(Side::Parent, limit, &never).unwrap(), frame);
        }
        echo.join().unwrap();
    }

    #[test]
    fn forged_lengths_are_refused() {
        let (lane, _fd) = Lane::create(64).unwrap();
        let limit = FrameLimit::new(1 << 20);
        let header = lane.header();
        header.total.store(u64::MAX, SeqCst);
        assert!(matches!(lane.receive::<ToParent>(Side::Parent, limit, &never), Err(WireError::TooLarge { .. })));
        let capacity = lane.capacity() as u64;
        // SAFETY: the first bytes of the buffer, which this test owns.
        unsafe { std::ptr::write_bytes(lane.buffer(), 0xff, 3) };
        for (total, chunk) in [(100, 0), (capacity + 10, capacity + 1), (10, 11), (3, 3)] {
            header.total.store(total, SeqCst);
            header.length.store(chunk, SeqCst);
            assert!(lane.receive::<ToParent>(Side::Parent, limit, &never).is_err(), "total {total}, chunk {chunk}");
        }
    }

    /// A receiver that stops acknowledging cannot hold the sender forever.
    #[test]
    fn a_stalled_transfer_is_abandoned() {
        let (lane, _fd) = Lane::create(64).unwrap();
        let give_up_at = Instant::now() + Duration::from_millis(100);
        let abandon = || Instant::now() >= give_up_at;
        let larger = request(&"x".repeat(lane.capacity() * 2));
        assert!(matches!(lane.send(Side::Parent, &larger, &abandon), Err(WireError::Closed)));
    }

    #[test]
    fn a_wait_gives_up_after_its_timeout() {
        let (lane, _fd) = Lane::create(64).unwrap();
        assert!(!lane.wait(Side::Parent, Some(Duration::from_millis(20)), || false));
    }

    #[test]
    fn the_region_cannot_be_shrunk() {
        let (_lane, fd) = Lane::create(1 << 16).unwrap();
        // SAFETY: a plain system call on a descriptor this test owns.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 0) }, -1);
    }
}
