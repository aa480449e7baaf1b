//! Everything the guest can reach: the `jscell` imports, served from the runtime's capability
//! host, and the few WASI functions QuickJS's libc names, denied but for the clock. Each import
//! reads guest memory as hostile: a bad pointer or encoding traps the guest (and the runtime is
//! discarded), it never reaches the host's own memory or panics the thread.

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jscell_engine::{
    AsyncCallId, AsyncReply, Completion, CompletionSink, ConsoleLevel, ConversionLimits, HostError,
    HostFunctionId, Host, InboxSender, ModuleKey, ModuleKind, ModuleReply, Value,
};
use jscell_host::GrantDispatch;
use wasmtime::{Caller, Extern, Linker, StoreLimits};

use crate::abi::{answer, module_kind};
use crate::codec::{encode, host_error_body, Decoder};
use crate::exception::parse_exception;
use crate::shared::Shared;

/// What one guest instance's imports work with (the store's data).
pub struct GuestState {
    pub dispatch: GrantDispatch,
    pub limits: ConversionLimits,
    pub inbox: InboxSender,
    pub shared: Arc<Shared>,
    pub store_limits: StoreLimits,
    /// The answer of the last import, copied out by `take_answer`.
    answer: Vec<u8>,
    /// When the JS running now must stop (its caller's deadline).
    pub deadline: Option<Instant>,
    pub clock: Instant,
    /// Grants whose last wrapper the guest collected, released after the export returns.
    pub released: Vec<HostFunctionId>,
    /// Why the guest was trapped by an import: what it sent that an honest guest never sends.
    pub violation: Option<String>,
}

impl GuestState {
    /// The store's limits are the instance's to set (`GuestInstance::new`).
    pub fn new(dispatch: GrantDispatch, limits: ConversionLimits, inbox: InboxSender, shared: Arc<Shared>) -> Self {
        GuestState {
            dispatch,
            limits,
            inbox,
            shared,
            store_limits: StoreLimits::default(),
            answer: Vec::new(),
            deadline: None,
            clock: Instant::now(),
            released: Vec::new(),
            violation: None,
        }
    }

    /// Whether the JS running now must stop: terminated, cancelled, or past its deadline.
    pub fn must_stop(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire) || self.deadline.is_some_and(|at| Instant::now() >= at)
    }

    fn answer_ok(&mut self, value: Result<Value, HostError>, context: &str) {
        self.answer.clear();
        let encoded = value.and_then(|value| {
            let mut bytes = vec![answer::OK];
            encode(&value, self.limits, &mut bytes)
                .map(|()| bytes)
                .map_err(|e| HostError::type_error(format!("{context}: {e}")))
        });
        match encoded {
            Ok(bytes) => self.answer = bytes,
            Err(error) => self.answer_error(&error),
        }
    }

    fn answer_text(&mut self, text: Result<String, HostError>) {
        match text {
            Ok(text) => {
                self.answer.clear();
                self.answer.push(answer::OK);
                push_text(&mut self.answer, text.as_bytes());
            }
            Err(error) => self.answer_error(&error),
        }
    }

    fn answer_error(&mut self, error: &HostError) {
        self.answer.clear();
        self.answer.push(answer::ERROR);
        self.answer.extend_from_slice(&host_error_body(error));
    }
}

fn push_text(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len().min(u32::MAX as usize) as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Guest memory at `ptr..ptr+len`, copied; a range outside it is a violation.
pub fn read_guest(caller: &mut Caller<'_, GuestState>, ptr: u32, len: u32) -> wasmtime::Result<Vec<u8>> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(violation(caller, "the guest exports no memory".into()));
    };
    let data = memory.data(&*caller);
    match data.get(ptr as usize..ptr as usize + len as usize) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(violation(caller, format!("a range of {len} bytes at {ptr:#x}, outside its memory"))),
    }
}

fn write_guest(caller: &mut Caller<'_, GuestState>, ptr: u32, bytes: &[u8]) -> wasmtime::Result<()> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(violation(caller, "the guest exports no memory".into()));
    };
    match memory.data_mut(&mut *caller).get_mut(ptr as usize..ptr as usize + bytes.len()) {
        Some(into) => {
            into.copy_from_slice(bytes);
            Ok(())
        }
        None => Err(violation(caller, format!("a buffer of {} bytes at {ptr:#x}, outside its memory", bytes.len()))),
    }
}

fn violation(caller: &mut Caller<'_, GuestState>, what: String) -> wasmtime::Error {
    let error = wasmtime::Error::msg(what.clone());
    caller.data_mut().violation.get_or_insert(what);
    error
}

fn utf8(caller: &mut Caller<'_, GuestState>, bytes: Vec<u8>, what: &str) -> wasmtime::Result<String> {
    String::from_utf8(bytes).map_err(|_| violation(caller, format!("{what} that is not UTF-8")))
}

/// Host call arguments: u32 count, then the values, against one budget.
fn read_args(caller: &mut Caller<'_, GuestState>, ptr: u32, len: u32) -> wasmtime::Result<Vec<Value>> {
    let bytes = read_guest(caller, ptr, len)?;
    let mut decoder = Decoder::new(&bytes, caller.data().limits);
    let decoded = (|| -> Result<Vec<Value>, crate::codec::Malformed> {
        let count = decoder.u32()? as usize;
        let mut args = Vec::with_capacity(count.min(bytes.len()));
        for _ in 0..count {
            args.push(decoder.value()?);
        }
        Ok(args)
    })();
    match decoded {
        Ok(args) if decoder.finished() => Ok(args),
        Ok(_) => Err(violation(caller, "host call arguments followed by stray bytes".into())),
        Err(malformed) => Err(violation(caller, format!("malformed host call arguments: {}", malformed.0))),
    }
}

/// How long a module fetch waits between looks at whether its caller must stop.
const LOAD_POLL: Duration = Duration::from_millis(10);

fn load_module(caller: &mut Caller<'_, GuestState>, url: String, kind: ModuleKind) -> Result<String, HostError> {
    let (sender, receiver) = mpsc::channel();
    let sink = CompletionSink::Forward(Arc::new(move |completion| {
        if let Completion::ModuleSource { result, .. } = completion {
            let _ = sender.send(result);
        }
    }));
    caller.data().dispatch.load_module(&url, ModuleReply::new(ModuleKey { url: url.clone(), kind }, sink));
    loop {
        match receiver.recv_timeout(LOAD_POLL) {
            Ok(result) => return result,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(HostError::error(format!("the module loader gave no source for '{url}'")))
            }
            Err(mpsc::RecvTimeoutError::Timeout) if caller.data().must_stop() => {
                return Err(HostError::error(format!("loading module '{url}' was stopped")))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// WASI's errno for a file descriptor that does not exist: the guest has none.
const WASI_EBADF: i32 = 8;
const WASI_EINVAL: i32 = 28;

pub fn define(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap("jscell", "call", |mut caller: Caller<'_, GuestState>, grant: u32, ptr: u32, len: u32| -> wasmtime::Result<i32> {
        let args = read_args(&mut caller, ptr, len)?;
        let result = caller.data().dispatch.call(HostFunctionId(grant), args);
        caller.data_mut().answer_ok(result, "host call result");
        Ok(0)
    })?;
    linker.func_wrap(
        "jscell",
        "call_async",
        |mut caller: Caller<'_, GuestState>, grant: u32, call: u64, ptr: u32, len: u32| -> wasmtime::Result<i32> {
            let args = read_args(&mut caller, ptr, len)?;
            let reply = AsyncReply::new(AsyncCallId(call), caller.data().inbox.clone());
            caller.data().dispatch.call_async(HostFunctionId(grant), args, reply);
            Ok(0)
        },
    )?;
    linker.func_wrap(
        "jscell",
        "resolve",
        |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32, referrer_ptr: u32, referrer_len: u32| -> wasmtime::Result<i32> {
            let specifier = read_guest(&mut caller, ptr, len)?;
            let specifier = utf8(&mut caller, specifier, "a module specifier")?;
            let referrer = read_guest(&mut caller, referrer_ptr, referrer_len)?;
            let referrer = utf8(&mut caller, referrer, "a module referrer")?;
            let url = caller.data().dispatch.resolve_module(&specifier, &referrer);
            caller.data_mut().answer_text(url);
            Ok(0)
        },
    )?;
    linker.func_wrap("jscell", "load", |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32, kind: u32| -> wasmtime::Result<i32> {
        let url = read_guest(&mut caller, ptr, len)?;
        let url = utf8(&mut caller, url, "a module URL")?;
        let kind = match kind {
            module_kind::JAVASCRIPT => ModuleKind::JavaScript,
            module_kind::JSON => ModuleKind::Json,
            other => return Err(violation(&mut caller, format!("a module load of unknown kind {other}"))),
        };
        let source = load_module(&mut caller, url, kind);
        caller.data_mut().answer_text(source);
        Ok(0)
    })?;
    linker.func_wrap("jscell", "answer_length", |caller: Caller<'_, GuestState>| -> u32 { caller.data().answer.len() as u32 })?;
    linker.func_wrap("jscell", "take_answer", |mut caller: Caller<'_, GuestState>, into: u32| -> wasmtime::Result<()> {
        let answer = std::mem::take(&mut caller.data_mut().answer);
        write_guest(&mut caller, into, &answer)
    })?;
    linker.func_wrap("jscell", "console", |mut caller: Caller<'_, GuestState>, level: u32, ptr: u32, len: u32| -> wasmtime::Result<()> {
        let text = read_guest(&mut caller, ptr, len)?;
        let level = match level {
            0 => ConsoleLevel::Debug,
            1 => ConsoleLevel::Info,
            3 => ConsoleLevel::Warn,
            4 => ConsoleLevel::Error,
            _ => ConsoleLevel::Log,
        };
        caller.data().dispatch.console(level, String::from_utf8_lossy(&text).into_owned());
        Ok(())
    })?;
    linker.func_wrap("jscell", "uncaught", |mut caller: Caller<'_, GuestState>, ptr: u32, len: u32| -> wasmtime::Result<()> {
        let bytes = read_guest(&mut caller, ptr, len)?;
        match parse_exception(&bytes) {
            Ok(exception) => {
                caller.data().dispatch.uncaught_exception(exception);
                Ok(())
            }
            Err(malformed) => Err(violation(&mut caller, format!("a malformed uncaught exception: {}", malformed.0))),
        }
    })?;
    linker.func_wrap("jscell", "release_grant", |mut caller: Caller<'_, GuestState>, grant: u32| {
        caller.data_mut().released.push(HostFunctionId(grant));
    })?;
    linker.func_wrap("jscell", "interrupted", |caller: Caller<'_, GuestState>| -> i32 { i32::from(caller.data().must_stop()) })?;
    linker.func_wrap("jscell", "monotonic_ms", |caller: Caller<'_, GuestState>| -> f64 {
        caller.data().clock.elapsed().as_secs_f64() * 1000.0
    })?;

    const WASI: &str = "wasi_snapshot_preview1";
    linker.func_wrap(WASI, "clock_time_get", |mut caller: Caller<'_, GuestState>, clock: u32, _precision: u64, into: u32| -> wasmtime::Result<i32> {
        let nanos = match clock {
            0 => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0),
            1..=3 => caller.data().clock.elapsed().as_nanos() as u64,
            _ => return Ok(WASI_EINVAL),
        };
        write_guest(&mut caller, into, &nanos.to_le_bytes())?;
        Ok(0)
    })?;
    linker.func_wrap(WASI, "fd_write", |_: Caller<'_, GuestState>, _fd: i32, _iovs: i32, _count: i32, _written: i32| -> i32 { WASI_EBADF })?;
    linker.func_wrap(WASI, "fd_close", |_: Caller<'_, GuestState>, _fd: i32| -> i32 { WASI_EBADF })?;
    linker.func_wrap(WASI, "fd_seek", |_: Caller<'_, GuestState>, _fd: i32, _offset: i64, _whence: i32, _into: i32| -> i32 { WASI_EBADF })?;
    linker.func_wrap(WASI, "fd_fdstat_get", |_: Caller<'_, GuestState>, _fd: i32, _into: i32| -> i32 { WASI_EBADF })?;
    Ok(())
}
