//! The guest's sandbox, applied in one written order before any JavaScript is read. Each layer
//! is a step with its own failure; a layer the kernel lacks is reported inactive, never skipped
//! silently, and the report travels to the parent (`get_stats().sandbox_layers`).

use std::io;

use crate::syscall_policy;

/// The descriptor the parent passes the wire socket on; every other one is closed.
pub const WIRE_FD: i32 = 3;

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

/// In order: drop what the process inherited, forbid regaining privileges, limits, and last
/// the system call filter (which would refuse the calls the earlier layers make).
const LAYERS: &[Layer] = &[
    Layer { name: "close_inherited_fds", apply: close_inherited_fds },
    Layer { name: "no_new_privs", apply: no_new_privs },
    Layer { name: "not_dumpable", apply: not_dumpable },
    Layer { name: "rlimits", apply: rlimits },
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
    // SAFETY: closes descriptors this process does not use; the wire socket stays open.
    check(unsafe { libc::syscall(libc::SYS_close_range, WIRE_FD as u32 + 1, u32::MAX, 0) } as libc::c_int)?;
    for fd in 0..WIRE_FD {
        // stdin/stdout/stderr point at /dev/null; closing them is the stronger guarantee.
        // SAFETY: as above.
        unsafe { libc::close(fd) };
    }
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
