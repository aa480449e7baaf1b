//! Starting a guest process up to the point where it needs its engine configuration: spawned
//! with an empty environment and only the wire and the lane, told its sandbox, and left to put
//! it in place and start V8 while the parent gets on with other work.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::lane::{Lane, LANE_BUFFER_BYTES};
use crate::memory_cgroup::MemoryCgroup;
use crate::wire::{write_frame, Prepare};

/// Which guest to run; guests started with equal options are interchangeable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuestOptions {
    pub guest_path: PathBuf,
    pub max_process_memory: Option<u64>,
    pub jitless: bool,
}

/// A guest that has its sandbox and waits for `Start`.
pub struct PreparedGuest {
    pub child: Child,
    pub wire: UnixStream,
    pub lane: Lane,
    /// The cgroup that caps the guest's memory, where one could be made (else the guest caps
    /// itself with the rlimit). Declared after `child`: removed once the guest is reaped.
    pub memory: Option<MemoryCgroup>,
}

/// How a guest capped by the rlimit exits when an allocation fails (V8's or its own), so the
/// parent can tell a cap from a crash.
pub const OUT_OF_MEMORY_EXIT: i32 = 86;

#[derive(Debug, thiserror::Error)]
#[error("cannot start the guest {path}: {source}")]
pub struct SpawnError {
    pub path: String,
    pub source: io::Error,
}

impl SpawnError {
    pub fn new(options: &GuestOptions, source: io::Error) -> SpawnError {
        SpawnError { path: options.guest_path.display().to_string(), source }
    }
}

impl PreparedGuest {
    pub fn spawn(options: &GuestOptions) -> Result<PreparedGuest, SpawnError> {
        let failed = |source| SpawnError::new(options, source);
        let (wire, guest_end) = UnixStream::pair().map_err(failed)?;
        let (lane, lane_fd) = Lane::create(LANE_BUFFER_BYTES).map_err(failed)?;
        // The wire is the guest's stdin and the lane its stdout. No pre-exec hook: without one
        // the standard library spawns with posix_spawn (vfork), where a fork would copy this
        // whole process's page tables and stall its other threads meanwhile. The guest makes
        // itself die with its parent (PR_SET_PDEATHSIG) first thing.
        let child = Command::new(&options.guest_path)
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::from(OwnedFd::from(guest_end)))
            .stdout(Stdio::from(lane_fd))
            .stderr(Stdio::null())
            .spawn()
            .map_err(failed)?;
        let abandon = |mut child: Child, error: io::Error| {
            let _ = child.kill();
            let _ = child.wait();
            Err(failed(error))
        };
        let memory = match options.max_process_memory.map(|cap| MemoryCgroup::join(child.id(), cap)) {
            Some(Err(error)) => return abandon(child, io::Error::other(format!("cannot cap the guest's memory: {error}"))),
            Some(Ok(cgroup)) => cgroup,
            None => None,
        };
        // With a cgroup the kernel holds the cap; without, the guest holds itself to it.
        let rlimit = options.max_process_memory.filter(|_| memory.is_none());
        let prepare = Prepare { max_process_memory: rlimit, jitless: options.jitless };
        if let Err(error) = write_frame(&mut &wire, &prepare) {
            return abandon(child, io::Error::other(error.to_string()));
        }
        Ok(PreparedGuest { child, wire, lane, memory })
    }

    /// Whether the process still runs (a guest may die while it waits).
    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// End a guest that will not be used: killed and reaped, never a zombie.
    pub fn discard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The process that runs the engine, where it has a PID namespace of its own: the only child
/// of the process the parent spawned (its reaper), held by a pidfd.
pub fn engine_process(spawned: u32) -> Option<OwnedFd> {
    let children = std::fs::read_to_string(format!("/proc/{spawned}/task/{spawned}/children")).ok()?;
    let pid: libc::pid_t = children.split_whitespace().next()?.parse().ok()?;
    // SAFETY: pidfd_open with a pid and no flags; it only makes a descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor pidfd_open just made, owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The pid a pidfd names (from its fdinfo).
pub fn pid_of(pidfd: &OwnedFd) -> Option<u32> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).ok()?;
    info.lines().find_map(|line| line.strip_prefix("Pid:")).and_then(|pid| pid.trim().parse().ok())
}

/// Resident memory of `pid`, from /proc.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
