//! Test-only faults (feature `fault-injection`): JS calls `__host_op_sync__(FAULT_OP, name)`
//! and the guest, not the parent, answers by attempting `name` from native code. Each attempt
//! reports the errno it met, or does its damage (crash, hang, garbage on the socket or the
//! lane). After damage to a carrier it waits: the parent must end it for what it sent, not for
//! the answer that would follow.

use std::io::Write;

use jscell_engine::Unpoisoned;
use jscell_engine::{EngineError, HostError, Response, Value};
use jscell_host::wire::{StartReport, ToParent};

use crate::guest_lane::GuestLane;
use crate::SharedSocket;

/// The op id the fault hook answers; the parent never grants ids this high.
pub const FAULT_OP: u32 = u32::MAX;

fn errno_of(result: libc::c_long) -> String {
    if result >= 0 {
        "ALLOWED".into()
    } else {
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EPERM) => "EPERM".into(),
            Some(libc::EACCES) => "EACCES".into(),
            Some(libc::ENOSYS) => "ENOSYS".into(),
            _ => error.to_string(),
        }
    }
}

/// Wait for the parent to end this process.
fn await_verdict() -> ! {
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

pub fn inject(name: &str, socket: &std::sync::Mutex<SharedSocket>, lane: &GuestLane) -> Result<Value, HostError> {
    // SAFETY: each arm deliberately attempts a forbidden or destructive call; that is the test.
    let outcome = unsafe {
        match name {
            "open" => errno_of(libc::open(c"/etc/hostname".as_ptr(), libc::O_RDONLY) as libc::c_long),
            "socket" => errno_of(libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) as libc::c_long),
            "fork" => errno_of(libc::syscall(libc::SYS_clone, libc::SIGCHLD as libc::c_long, 0, 0, 0, 0)),
            "exec" => {
                let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
                errno_of(libc::execve(c"/bin/true".as_ptr(), argv.as_ptr(), std::ptr::null()) as libc::c_long)
            }
            "ptrace" => errno_of(libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0)),
            "kill_parent" => errno_of(libc::kill(libc::getppid(), libc::SIGKILL) as libc::c_long),
            "undump" => errno_of(libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) as libc::c_long),
            "exec_memory" => {
                let protection = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
                let mapped = libc::mmap(std::ptr::null_mut(), 4096, protection, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                errno_of(if mapped == libc::MAP_FAILED { -1 } else { 0 })
            }
            "mprotect_exec" => {
                let protection = libc::PROT_READ | libc::PROT_WRITE;
                let mapped = libc::mmap(std::ptr::null_mut(), 4096, protection, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                errno_of(libc::mprotect(mapped, 4096, libc::PROT_READ | libc::PROT_EXEC) as libc::c_long)
            }
            "ioctl" => {
                let mut waiting: libc::c_int = 0;
                errno_of(libc::ioctl(0, libc::FIONREAD, &mut waiting) as libc::c_long)
            }
            "futex_requeue" => {
                let word = 0u32;
                errno_of(libc::syscall(libc::SYS_futex, &word, libc::FUTEX_CMP_REQUEUE, 1, 1, &word, 0))
            }
            "bare_thread_clone" => {
                // A clone that shares memory and signals but not, as threads do, files and TLS.
                let flags = libc::CLONE_VM | libc::CLONE_SIGHAND | libc::CLONE_THREAD;
                errno_of(libc::syscall(libc::SYS_clone, flags as libc::c_long, 0, 0, 0, 0))
            }
            "unshare" => errno_of(libc::unshare(libc::CLONE_NEWNET) as libc::c_long),
            "segfault" => {
                std::ptr::null_mut::<u8>().write_volatile(1);
                unreachable!()
            }
            "abort" => libc::abort(),
            "exit" => libc::_exit(3),
            "hang" => await_verdict(),
            "garbage" => {
                let _ = socket.locked().write_all(&[5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]);
                await_verdict()
            }
            "oversized" => {
                let _ = socket.locked().write_all(&u32::MAX.to_le_bytes());
                await_verdict()
            }
            "lane_misuse" => {
                // A start-up report where only a running guest's frames decode: malformed.
                let _ = lane.call(&StartReport::Ready { layers: Vec::new() });
                await_verdict()
            }
            "lane_wrong_reply" => {
                let result: Result<Response, EngineError> = Ok(Response::Done);
                let _ = lane.call(&ToParent::Reply { id: u64::MAX, result });
                await_verdict()
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 64 << 20]);
                }
            }
            other => return Err(HostError::type_error(format!("no fault named '{other}'"))),
        }
    };
    Ok(Value::String(outcome))
}
