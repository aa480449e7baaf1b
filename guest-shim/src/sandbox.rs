//! The guest's sandbox, applied in one written order before any JavaScript is read. Each layer
//! is a step with its own failure; a layer the kernel lacks is reported inactive, never skipped
//! silently, and the report travels to the parent (`get_stats().sandbox_layers`).

use std::io;

use crate::syscall_policy;

/// The descriptor the parent passes the wire socket on (stdin); every other one is closed.
pub const WIRE_FD: i32 = 0;
/// The descriptor the parent passes the lane's memory on (stdout); mapped and closed before
/// the sandbox.
pub const LANE_FD: i32 = 1;

/// Open files the guest may have: the wire socket, and what V8's threads need (none of
/// them can open anything new once the syscall filter is in place).
const MAX_OPEN_FILES: u64 = 16;

pub struct Policy {
    /// Cap on the guest's whole writable memory, separate from the JS heap limit (none when a
    /// cgroup holds the cap).
    pub max_process_memory: Option<u64>,
    /// V8 runs without its JIT: the system call filter refuses executable memory.
    pub jitless: bool,
}

/// One layer: its name as reported, and how to put it in place.
struct Layer {
    name: &'static str,
    apply: fn(&Policy) -> io::Result<bool>,
}

/// In order: drop what the process inherited, forbid regaining privileges, limits, fresh
/// namespaces (the user namespace first: it lets an unprivileged guest make the others; all
/// while the process has one thread, as unshare requires), no file access, and last the system
/// call filter, which would refuse the calls the earlier layers make.
const LAYERS: &[Layer] = &[
    Layer { name: "close_inherited_fds", apply: close_inherited_fds },
    Layer { name: "no_new_privs", apply: no_new_privs },
    Layer { name: "not_dumpable", apply: not_dumpable },
    Layer { name: "rlimits", apply: rlimits },
    Layer { name: "user_namespace", apply: |_| unshare(libc::CLONE_NEWUSER) },
    Layer { name: "network_namespace", apply: |_| unshare(libc::CLONE_NEWNET) },
    Layer { name: "mount_namespace", apply: |_| unshare(libc::CLONE_NEWNS) },
    // A new PID namespace holds only the children of the process that makes it (which could
    // then start no threads itself): the guest forks once, and the child runs the engine.
    Layer { name: "pid_namespace", apply: pid_namespace },
    Layer { name: "ipc_namespace", apply: |_| unshare(libc::CLONE_NEWIPC) },
    Layer { name: "uts_namespace", apply: |_| unshare(libc::CLONE_NEWUTS) },
    Layer { name: "landlock", apply: landlock_no_files },
    Layer { name: "seccomp", apply: seccomp },
];

/// Apply every layer; `Err` only when a layer the kernel supports failed to apply.
pub fn apply(policy: &Policy) -> Result<Vec<(String, bool)>, String> {
    LAYERS
        .iter()
        .map(|layer| match (layer.apply)(policy) {
            Ok(active) => Ok((layer.name.to_string(), active)),
            Err(error) => Err(format!("sandbox layer {} failed: {error}", layer.name)),
        })
        .collect()
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn close_inherited_fds(_: &Policy) -> io::Result<bool> {
    // SAFETY: closes descriptors this process does not use (stderr, which points at
    // /dev/null, among them); the wire socket stays open.
    check(unsafe { libc::syscall(libc::SYS_close_range, WIRE_FD as u32 + 1, u32::MAX, 0) } as libc::c_int)?;
    Ok(true)
}

fn no_new_privs(_: &Policy) -> io::Result<bool> {
    // SAFETY: prctl with constant arguments.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })?;
    Ok(true)
}

fn not_dumpable(_: &Policy) -> io::Result<bool> {
    // SAFETY: prctl with constant arguments.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) })?;
    Ok(true)
}

fn rlimits(policy: &Policy) -> io::Result<bool> {
    let mut limits = vec![(libc::RLIMIT_CORE, 0), (libc::RLIMIT_FSIZE, 0), (libc::RLIMIT_NOFILE, MAX_OPEN_FILES)];
    if let Some(bytes) = policy.max_process_memory {
        // Writable private memory, not address space: V8 reserves far more address space than
        // it ever commits, so RLIMIT_AS would stop it from starting at any useful cap.
        limits.push((libc::RLIMIT_DATA, bytes));
    }
    for (resource, value) in limits {
        let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
        // SAFETY: setrlimit reads the struct it is given.
        check(unsafe { libc::setrlimit(resource, &limit) })?;
    }
    Ok(true)
}

fn seccomp(policy: &Policy) -> io::Result<bool> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let allowlist = syscall_policy::allowlist(std::process::id(), policy.jitless).map_err(invalid)?;
    let clone3 = syscall_policy::clone3_fallback().map_err(invalid)?;
    let refusals = syscall_policy::refusals().map_err(invalid)?;
    // The kernel runs every filter and takes the strictest answer (kill over error over allow),
    // so a refusal's error stands only for a call the allowlist does not kill. The allowlist
    // goes last: once it is in place, installing filters is itself killed.
    for program in refusals.into_iter().chain([clone3, allowlist]) {
        seccompiler::apply_filter_all_threads(&program).map_err(|e| io::Error::other(e.to_string()))?;
    }
    Ok(true)
}

/// A fresh namespace of `kind`; inactive (not an error) where the kernel or its configuration
/// does not allow it.
fn unshare(kind: libc::c_int) -> io::Result<bool> {
    // SAFETY: unshare only changes this process's namespaces; it has a single thread here.
    match check(unsafe { libc::unshare(kind) }) {
        Ok(()) => Ok(true),
        Err(error) if matches!(error.raw_os_error(), Some(libc::EPERM | libc::EINVAL | libc::ENOSPC | libc::EUSERS)) => Ok(false),
        Err(error) => Err(error),
    }
}

/// A fresh PID namespace for the engine: this process forks, the child (PID 1 of the new
/// namespace, where it sees no other process) goes on to the remaining layers and the engine,
/// and this process becomes its reaper (`reap`), which the parent keeps as its child.
fn pid_namespace(_: &Policy) -> io::Result<bool> {
    if !unshare(libc::CLONE_NEWPID)? {
        return Ok(false);
    }
    // SAFETY: this process has a single thread, so the child is a whole copy of it.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // The engine dies with its reaper, as the reaper dies with the parent. Were the
            // reaper killed before this line, the parent has closed the wire: the engine
            // reads its end and exits.
            // SAFETY: prctl with constant arguments; a handler that only ends the process.
            unsafe {
                check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL))?;
                // As PID 1 the engine is its namespace's init, and an init ignores the signals
                // it sends itself: abort() would not end it. It exits with ABORTED instead,
                // which the reaper turns back into SIGABRT.
                let on_abort: extern "C" fn(libc::c_int) = exit_aborted;
                if libc::signal(libc::SIGABRT, on_abort as libc::sighandler_t) == libc::SIG_ERR {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(true)
        }
        engine => reap(engine),
    }
}

/// How an engine that called abort() exits (the shell's convention for death by SIGABRT).
const ABORTED: libc::c_int = 128 + libc::SIGABRT;

extern "C" fn exit_aborted(_: libc::c_int) {
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(ABORTED) }
}

/// The reaper: hold nothing, allow itself next to no system call, wait for the engine, and
/// end as it ended (its exit code, or its signal), so the parent sees the engine's fate. The
/// parent's SIGKILL of the reaper reaches the engine as its death signal.
fn reap(engine: libc::pid_t) -> ! {
    // SAFETY: this process's own descriptors and signal state; nothing else runs in it.
    unsafe {
        libc::close(WIRE_FD);
        if let Ok(program) = syscall_policy::reaper() {
            let _ = seccompiler::apply_filter(&program);
        }
        let mut status = 0;
        while libc::waitpid(engine, &mut status, 0) == -1 {
            if io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(1);
            }
        }
        let signal = match (libc::WIFSIGNALED(status), libc::WEXITSTATUS(status)) {
            (true, _) => Some(libc::WTERMSIG(status)),
            (false, ABORTED) => Some(libc::SIGABRT),
            _ => None,
        };
        if let Some(signal) = signal {
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
        }
        libc::_exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 1 })
    }
}

/// Landlock with every file system right handled and none granted: no file can be opened.
fn landlock_no_files(_: &Policy) -> io::Result<bool> {
    use landlock::{Access, AccessFs, Ruleset, RulesetAttr, RulesetStatus, ABI};
    let failed = |e: landlock::RulesetError| io::Error::other(e.to_string());
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI::V5))
        .map_err(failed)?
        .create()
        .map_err(failed)?
        .restrict_self()
        .map_err(failed)?;
    Ok(status.ruleset != RulesetStatus::NotEnforced)
}
