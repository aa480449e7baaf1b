//! The guest's system call policy, as data: every call the engine may make after start-up,
//! each with why it is needed. Anything else fails with EPERM (no files, sockets, processes,
//! ptrace, mounts, BPF, ...). Collected by tracing the test suite and the quickstart.

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
    (libc::SYS_mmap, "V8 heap and code space, thread stacks"),
    (libc::SYS_munmap, "releasing memory"),
    (libc::SYS_mremap, "growing allocations"),
    (libc::SYS_mprotect, "V8 code space W^X, guard pages"),
    (libc::SYS_pkey_alloc, "V8 code space protection keys"),
    (libc::SYS_pkey_mprotect, "V8 code space protection keys"),
    (libc::SYS_pkey_free, "V8 code space protection keys"),
    (libc::SYS_madvise, "returning memory to the kernel, and lane pages after a large frame"),
    (libc::SYS_brk, "malloc"),
    (libc::SYS_futex, "locks, condition variables, and the lane's bells"),
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

/// `prctl` options allowed (anything else could undo a layer, e.g. PR_SET_DUMPABLE).
const PRCTL_OPTIONS: &[(libc::c_int, &str)] = &[
    (libc::PR_SET_NAME, "naming threads"),
    (libc::PR_GET_NAME, "reading thread names"),
    (0x5356_4d41, "PR_SET_VMA: V8 names its memory regions"),
];

/// `clone` only for threads: a flag set without CLONE_THREAD would be a new process.
const CLONE_THREAD: u64 = libc::CLONE_THREAD as u64;

fn rule(conditions: Vec<SeccompCondition>) -> SeccompRule {
    SeccompRule::new(conditions).expect("static rule")
}

fn condition(arg: u8, operator: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, operator, value).expect("static condition")
}

/// The allowlist, with `pid` the guest's own process id (signals go only to itself).
pub fn allowlist(pid: u32) -> Result<BpfProgram, String> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED.iter().map(|(call, _)| (*call, Vec::new())).collect();
    rules.insert(libc::SYS_clone, vec![rule(vec![condition(0, SeccompCmpOp::MaskedEq(CLONE_THREAD), CLONE_THREAD)])]);
    rules.insert(
        libc::SYS_prctl,
        PRCTL_OPTIONS.iter().map(|(option, _)| rule(vec![condition(0, SeccompCmpOp::Eq, *option as u64)])).collect(),
    );
    // abort() and V8 signal their own threads; no other process is reachable.
    rules.insert(libc::SYS_tgkill, vec![rule(vec![condition(0, SeccompCmpOp::Eq, u64::from(pid))])]);
    let filter = SeccompFilter::new(rules, SeccompAction::Errno(libc::EPERM as u32), SeccompAction::Allow, arch())
        .map_err(|e| e.to_string())?;
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
