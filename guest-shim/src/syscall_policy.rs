//! The guest's system call policy, as data: every call the engine may make after start-up,
//! each with why it is needed, and for the calls that can do more than the engine needs, the
//! arguments it may pass. Anything else kills the whole guest with SIGSYS (the parent reports
//! `guest_crashed`, signal 31): no files, sockets, processes, ptrace, mounts, BPF, ioctl, ...
//! The few calls the engine makes without needing them are answered with an error instead
//! (`REFUSED`, each with why it copes), and `clone3` for the reason given there. Collected by
//! tracing the test suite and the quickstart with the default action set to log.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

/// Calls allowed with any arguments.
const ALLOWED: &[(i64, &str)] = &[
    (libc::SYS_read, "the wire socket"),
    (libc::SYS_recvfrom, "the wire socket"),
    (libc::SYS_sendto, "the wire socket"),
    (libc::SYS_write, "the wire socket"),
    (libc::SYS_close, "descriptors the process itself made"),
    (libc::SYS_poll, "waiting on the wire socket"),
    (libc::SYS_munmap, "releasing memory"),
    (libc::SYS_mremap, "growing allocations"),
    (libc::SYS_pkey_alloc, "V8 code space protection keys"),
    (libc::SYS_pkey_free, "V8 code space protection keys"),
    (libc::SYS_madvise, "returning memory to the kernel, and lane pages after a large frame"),
    (libc::SYS_brk, "malloc"),
    (libc::SYS_clone3, "threads; answered ENOSYS by the second filter so libc falls back to clone"),
    (libc::SYS_set_robust_list, "new threads"),
    (libc::SYS_rseq, "new threads"),
    (libc::SYS_set_tid_address, "new threads"),
    (libc::SYS_sigaltstack, "new threads (Rust's stack overflow handler)"),
    (libc::SYS_rt_sigaction, "signal handlers of V8 and the Rust runtime"),
    (libc::SYS_rt_sigprocmask, "threads block signals"),
    (libc::SYS_rt_sigreturn, "returning from a signal handler"),
    (libc::SYS_gettid, "thread ids"),
    (libc::SYS_getpid, "the process id"),
    (libc::SYS_sched_getaffinity, "V8 sizes its worker pool"),
    (libc::SYS_sched_yield, "spin locks"),
    (libc::SYS_uname, "V8 platform detection"),
    (libc::SYS_getrandom, "V8 and hash map seeds"),
    (libc::SYS_clock_gettime, "time, when the vDSO is unavailable"),
    (libc::SYS_clock_getres, "timer resolution"),
    (libc::SYS_clock_nanosleep, "sleeping"),
    (libc::SYS_nanosleep, "sleeping"),
    (libc::SYS_getrusage, "CPU time for V8's tracer"),
    (libc::SYS_exit, "thread exit"),
    (libc::SYS_exit_group, "process exit"),
];

/// Calls the engine makes but does not need, refused with an error it copes with, rather than
/// killing the guest for them.
const REFUSED: &[(i64, i32, &str)] = &[
    (libc::SYS_openat, libc::EACCES, "glibc and V8 probe /proc and /sys (processor count, memory maps) and fall back; Landlock refuses every file anyway"),
    (libc::SYS_sched_getparam, libc::EPERM, "V8 reads its threads' scheduling priority and keeps the default"),
    (libc::SYS_sched_getscheduler, libc::EPERM, "the same, for the scheduling policy"),
    (libc::SYS_readlink, libc::EACCES, "the Rust runtime and V8 look up the executable's path (/proc/self/exe) and do without it"),
];

/// `prctl` options allowed (anything else could undo a layer, e.g. PR_SET_DUMPABLE).
const PRCTL_OPTIONS: &[(libc::c_int, &str)] = &[
    (libc::PR_SET_NAME, "naming threads"),
    (libc::PR_GET_NAME, "reading thread names"),
    (0x5356_4d41, "PR_SET_VMA: V8 names its memory regions"),
];

/// `clone` with exactly the flags glibc's `pthread_create` passes: a thread of this process,
/// never a new process or namespace.
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_SETTLS
    | libc::CLONE_PARENT_SETTID
    | libc::CLONE_CHILD_CLEARTID) as u64;

/// `futex` operations allowed, with or without the private and realtime-clock flags: locks,
/// condition variables, thread joins and the lane's bells wait and wake, nothing else.
const FUTEX_OPERATIONS: &[(u64, &str)] = &[
    (libc::FUTEX_WAIT as u64, "the lane's bells, locks"),
    (libc::FUTEX_WAKE as u64, "the lane's bells, locks"),
    (libc::FUTEX_WAIT_BITSET as u64, "Rust's locks and condition variables, with a deadline"),
    (libc::FUTEX_WAKE_BITSET as u64, "glibc's condition variables"),
];
const FUTEX_FLAGS: u64 = (libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u64;

/// Calls that map or protect memory, and the index of their protection argument: under
/// `jitless` none may make memory executable (V8 then runs only its built-in code).
const MEMORY_PROTECTION: &[(i64, u8, &str)] = &[
    (libc::SYS_mmap, 2, "V8 heap and code space, thread stacks"),
    (libc::SYS_mprotect, 2, "V8 code space W^X, guard pages"),
    (libc::SYS_pkey_mprotect, 2, "V8 code space protection keys"),
];

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("static rule")
}

fn condition(arg: u8, operator: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, operator, value).expect("static condition")
}

fn dword(arg: u8, operator: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, operator, value).expect("static condition")
}

/// The allowlist, with `pid` the guest's own process id (signals go only to itself), and
/// `jitless` whether V8 runs without its JIT (no executable memory can be made then).
pub fn allowlist(pid: u32, jitless: bool) -> Result<BpfProgram, String> {
    // Refused calls pass here: their own filters answer them with an error.
    let passed = ALLOWED.iter().map(|(call, _)| *call).chain(REFUSED.iter().map(|(call, _, _)| *call));
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = passed.map(|call| (call, Vec::new())).collect();
    rules.insert(libc::SYS_clone, vec![rule(vec![condition(0, SeccompCmpOp::Eq, THREAD_FLAGS)])]);
    rules.insert(
        libc::SYS_futex,
        FUTEX_OPERATIONS.iter().map(|(op, _)| rule(vec![dword(1, SeccompCmpOp::MaskedEq(!FUTEX_FLAGS & 0xffff_ffff), *op)])).collect(),
    );
    for (call, protection, _) in MEMORY_PROTECTION {
        let no_exec = vec![rule(vec![dword(*protection, SeccompCmpOp::MaskedEq(libc::PROT_EXEC as u64), 0)])];
        rules.insert(*call, if jitless { no_exec } else { Vec::new() });
    }
    rules.insert(
        libc::SYS_prctl,
        PRCTL_OPTIONS.iter().map(|(option, _)| rule(vec![condition(0, SeccompCmpOp::Eq, *option as u64)])).collect(),
    );
    // abort() and V8 signal their own threads; no other process is reachable.
    rules.insert(libc::SYS_tgkill, vec![rule(vec![condition(0, SeccompCmpOp::Eq, u64::from(pid))])]);
    let filter = SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, arch()).map_err(|e| e.to_string())?;
    filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
}

/// The refused calls, each answered with its error (a filter of its own: a filter has one
/// action for every call that does not match it).
pub fn refusals() -> Result<Vec<BpfProgram>, String> {
    REFUSED
        .iter()
        .map(|(call, errno, _)| {
            let rules = BTreeMap::from([(*call, Vec::new())]);
            let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(*errno as u32), arch())
                .map_err(|e| e.to_string())?;
            filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
        })
        .collect()
}

/// The reaper's whole policy (`sandbox::reap`): wait for the engine, then end as it ended.
const REAPER_ALLOWED: &[(i64, &str)] = &[
    (libc::SYS_wait4, "waiting for the engine"),
    (libc::SYS_rt_sigaction, "restoring the default action of the signal that ended the engine"),
    (libc::SYS_getpid, "signalling itself"),
    (libc::SYS_kill, "ending by the engine's signal (its own pid only)"),
    (libc::SYS_exit_group, "ending by the engine's exit code"),
];

pub fn reaper() -> Result<BpfProgram, String> {
    let own = u64::from(std::process::id());
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = REAPER_ALLOWED.iter().map(|(call, _)| (*call, Vec::new())).collect();
    rules.insert(libc::SYS_kill, vec![rule(vec![condition(0, SeccompCmpOp::Eq, own)])]);
    let filter = SeccompFilter::new(rules, SeccompAction::KillProcess, SeccompAction::Allow, arch()).map_err(|e| e.to_string())?;
    filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
}

/// clone3 passes its flags in memory, where a filter cannot read them: answering ENOSYS makes
/// libc use `clone`, whose flags the allowlist checks.
pub fn clone3_fallback() -> Result<BpfProgram, String> {
    let rules = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::ENOSYS as u32), arch())
        .map_err(|e| e.to_string())?;
    filter.try_into().map_err(|e: seccompiler::BackendError| e.to_string())
}

fn arch() -> TargetArch {
    TargetArch::x86_64
}
