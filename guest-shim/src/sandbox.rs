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
    /// Cap on the guest's whole writable memory, separate from the JS heap limit.
    pub max_process_memory: Option<u64>,
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
    // A new PID namespace applies only to children, and once made, this process could not
    // start threads (V8 needs them); the guest cannot make children anyway (seccomp), and
    // cannot see or signal other processes (no /proc access, tgkill to itself only).
    Layer { name: "pid_namespace", apply: |_| Ok(false) },
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

fn seccomp(_: &Policy) -> io::Result<bool> {
    let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    let allowlist = syscall_policy::allowlist(std::process::id()).map_err(invalid)?;
    let clone3 = syscall_policy::clone3_fallback().map_err(invalid)?;
    // The allowlist goes last: once it is in place, installing filters is itself refused.
    for program in [clone3, allowlist] {
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
