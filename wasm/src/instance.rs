//! One guest instance: its store, its exports, and the reading of what each export left. Any
//! trap ends the instance (a trap skips the guest's C cleanup, so its heap can't be trusted
//! after one); the caller then discards it.

use std::time::Instant;

use jscell_engine::{open_snapshot, EngineConfig, TerminationReason};
use wasmtime::{Memory, Store, StoreLimitsBuilder, TypedFunc, UpdateDeadline};

use crate::abi::Outcome;
use crate::guest_module::{GuestModule, Ticking, MAX_LINEAR_MEMORY};
use crate::imports::GuestState;
use crate::snapshot::{snapshot_engine_tag, unpack_into, unpacked_length, PAGE};

/// Linear memory an instance may have beyond its JS heap limit: its stack, the buffers values
/// cross in, the allocator's slack.
const MEMORY_HEADROOM: u64 = 64 << 20;
/// How long past its deadline (or a terminate) a guest may run before the epoch backstop traps
/// it: QuickJS's interrupt check stops JS long before, unless the guest is stuck in one long C
/// operation.
const OVERDUE_GRACE_MS: f64 = 1000.0;

/// The epoch backstop's trap: the guest ran past its deadline (or a terminate) plus the grace.
#[derive(Debug)]
struct Overdue;

impl std::fmt::Display for Overdue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the guest ran past its deadline and its grace period")
    }
}

impl std::error::Error for Overdue {}

/// How an instance ended for good.
#[derive(Debug)]
pub struct Fault(pub TerminationReason);

pub type Ran<T> = Result<T, Fault>;

struct Exports {
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    result_ptr: TypedFunc<(), u32>,
    result_len: TypedFunc<(), u32>,
    configure: TypedFunc<(u64, u64, u32, u32, u32), ()>,
    eval: TypedFunc<(u32, u32, u32, u32), i32>,
    eval_module: TypedFunc<(u32, u32), i32>,
    call: TypedFunc<(u64, u32, u32), i32>,
    settle: TypedFunc<u32, i32>,
    forget: TypedFunc<u32, ()>,
    complete: TypedFunc<(u64, u32, u32, u32), i32>,
    next_timer: TypedFunc<(), f64>,
    run_timer: TypedFunc<(), i32>,
    release: TypedFunc<u64, ()>,
    set_global: TypedFunc<(u32, u32, u32, u32), i32>,
    stats: TypedFunc<(), ()>,
    busy: TypedFunc<(), u32>,
}

pub struct GuestInstance {
    store: Store<GuestState>,
    memory: Memory,
    exports: Exports,
    /// The instance trapped: nothing more may run in it.
    broken: bool,
    _ticking: Ticking,
}

/// An export's outcome and the bytes it left in the result buffer.
pub struct Answer {
    pub outcome: Outcome,
    pub body: Vec<u8>,
}

impl GuestInstance {
    /// A new instance of the booted image, configured for `config`.
    pub fn new(module: &GuestModule, mut state: GuestState, config: &EngineConfig, seed: u64) -> Result<GuestInstance, String> {
        let memory_cap = config.max_heap_size.map_or(MAX_LINEAR_MEMORY, |heap| (heap as u64 + MEMORY_HEADROOM).min(MAX_LINEAR_MEMORY));
        state.store_limits = StoreLimitsBuilder::new().memory_size(memory_cap as usize).instances(1).trap_on_grow_failure(false).build();
        let mut store = Store::new(&module.engine, state);
        store.limiter(|state| &mut state.store_limits);
        store.epoch_deadline_callback(|context| {
            let state = context.data();
            let overdue = |since: Instant| since.elapsed().as_secs_f64() * 1000.0 > OVERDUE_GRACE_MS;
            if state.deadline.is_some_and(overdue) || state.shared.stop_since().is_some_and(overdue) {
                return Err(wasmtime::Error::new(Overdue));
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store.set_epoch_deadline(1);
        let instance = module.pre.instantiate(&mut store).map_err(|e| format!("cannot instantiate the wasm guest: {e:#}"))?;
        let memory = instance.get_memory(&mut store, "memory").ok_or("the wasm guest exports no memory")?;
        macro_rules! export {
            ($name:literal) => {
                instance.get_typed_func(&mut store, $name).map_err(|e| format!("the wasm guest's export {}: {e:#}", $name))?
            };
        }
        let exports = Exports {
            alloc: export!("jscell_alloc"),
            free: export!("jscell_free"),
            result_ptr: export!("jscell_result_ptr"),
            result_len: export!("jscell_result_len"),
            configure: export!("jscell_configure"),
            eval: export!("jscell_eval"),
            eval_module: export!("jscell_eval_module"),
            call: export!("jscell_call"),
            settle: export!("jscell_settle"),
            forget: export!("jscell_forget"),
            complete: export!("jscell_complete"),
            next_timer: export!("jscell_next_timer"),
            run_timer: export!("jscell_run_timer"),
            release: export!("jscell_release"),
            set_global: export!("jscell_set_global"),
            stats: export!("jscell_stats"),
            busy: export!("jscell_busy"),
        };
        let mut guest = GuestInstance { store, memory, exports, broken: false, _ticking: Ticking::start() };
        if let Some(sealed) = &config.snapshot {
            // Opened again here, whoever checked it before.
            let memory = open_snapshot(&sealed.0, &snapshot_engine_tag(), config.max_heap_size).map_err(|e| format!("the runtime's snapshot: {e}"))?;
            guest.restore(memory)?;
        }
        let heap_limit = config.max_heap_size.map_or(0, |heap| heap as u64);
        let limits = config.limits;
        let max_bytes = limits.max_bytes.min(u32::MAX as usize) as u32;
        let arguments = (seed, heap_limit, limits.max_depth as u32, max_bytes, u32::from(config.enable_console));
        guest.exports.configure.call(&mut guest.store, arguments).map_err(|e| format!("the wasm guest failed to start: {e:#}"))?;
        Ok(guest)
    }

    pub fn state(&self) -> &GuestState {
        self.store.data()
    }

    pub fn state_mut(&mut self) -> &mut GuestState {
        self.store.data_mut()
    }

    pub fn linear_memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// The whole linear memory, for a snapshot.
    pub fn memory_bytes(&self) -> Vec<u8> {
        self.memory.data(&self.store).to_vec()
    }

    /// Replace the whole linear memory with a snapshot's (before `jscell_configure`).
    fn restore(&mut self, packed: &[u8]) -> Result<(), String> {
        let pages = unpacked_length(packed)?.div_ceil(PAGE) as u64;
        let have = self.memory.size(&self.store);
        if pages > have {
            self.memory.grow(&mut self.store, pages - have).map_err(|e| format!("the snapshot does not fit this runtime's memory: {e:#}"))?;
        }
        unpack_into(packed, self.memory.data_mut(&mut self.store))
    }

    /// What a trap (or a failed host write) means for the runtime.
    fn fault(&mut self, error: wasmtime::Error) -> Fault {
        self.broken = true;
        let state = self.store.data();
        if let Some(what) = state.violation.clone() {
            return Fault(TerminationReason::ProtocolViolation(what));
        }
        if let Some(reason) = state.shared.termination() {
            return Fault(reason);
        }
        if error.downcast_ref::<Overdue>().is_some() {
            let waited = state.deadline.map(|at| at.elapsed()).unwrap_or_default();
            return Fault(TerminationReason::TimeoutOverdue { waited });
        }
        let trap = error.downcast_ref::<wasmtime::Trap>().map(|trap| trap.to_string()).unwrap_or_else(|| format!("{error:#}"));
        Fault(TerminationReason::InternalError(format!("the wasm guest trapped: {trap}")))
    }

    fn guard<T>(&mut self, result: wasmtime::Result<T>) -> Ran<T> {
        result.map_err(|error| self.fault(error))
    }

    fn check(&self) -> Ran<()> {
        if self.broken {
            return Err(Fault(TerminationReason::InternalError("the wasm guest trapped earlier".into())));
        }
        Ok(())
    }

    /// Copy `bytes` into guest memory (followed by a NUL, for C strings); the caller frees it.
    fn put(&mut self, bytes: &[u8]) -> Ran<u32> {
        self.check()?;
        let size = u32::try_from(bytes.len() + 1)
            .map_err(|_| Fault(TerminationReason::InternalError("a value too large for the wasm guest".into())))?;
        let called = self.exports.alloc.call(&mut self.store, size);
        let ptr = self.guard(called)?;
        let data = self.memory.data_mut(&mut self.store);
        let Some(into) = data.get_mut(ptr as usize..ptr as usize + bytes.len() + 1) else {
            self.broken = true;
            return Err(Fault(TerminationReason::ProtocolViolation(format!("its allocator returned {ptr:#x}, outside its memory"))));
        };
        into[..bytes.len()].copy_from_slice(bytes);
        into[bytes.len()] = 0;
        Ok(ptr)
    }

    fn free(&mut self, ptr: u32) -> Ran<()> {
        let called = self.exports.free.call(&mut self.store, ptr);
        self.guard(called)
    }

    /// The result buffer, bounds-checked and copied out.
    fn result(&mut self) -> Ran<Vec<u8>> {
        let ptr = self.exports.result_ptr.call(&mut self.store, ());
        let ptr = self.guard(ptr)?;
        let len = self.exports.result_len.call(&mut self.store, ());
        let len = self.guard(len)?;
        match self.memory.data(&self.store).get(ptr as usize..ptr as usize + len as usize) {
            Some(bytes) => Ok(bytes.to_vec()),
            None => {
                self.broken = true;
                Err(Fault(TerminationReason::ProtocolViolation(format!("a result of {len} bytes at {ptr:#x}, outside its memory"))))
            }
        }
    }

    fn answer(&mut self, code: wasmtime::Result<i32>) -> Ran<Answer> {
        let code = self.guard(code)?;
        let Some(outcome) = Outcome::from_code(code) else {
            self.broken = true;
            return Err(Fault(TerminationReason::ProtocolViolation(format!("an outcome code {code} that does not exist"))));
        };
        let body = self.result()?;
        Ok(Answer { outcome, body })
    }

    pub fn eval(&mut self, source: &str, name: &str) -> Ran<Answer> {
        let source_ptr = self.put(source.as_bytes())?;
        let name_ptr = self.put(name.as_bytes())?;
        let code = self.exports.eval.call(&mut self.store, (source_ptr, source.len() as u32, name_ptr, name.len() as u32));
        let answer = self.answer(code)?;
        self.free(source_ptr)?;
        self.free(name_ptr)?;
        Ok(answer)
    }

    pub fn eval_module(&mut self, specifier: &str) -> Ran<Answer> {
        let ptr = self.put(specifier.as_bytes())?;
        let code = self.exports.eval_module.call(&mut self.store, (ptr, specifier.len() as u32));
        let answer = self.answer(code)?;
        self.free(ptr)?;
        Ok(answer)
    }

    /// `args` is the encoded argument list (u32 count + values).
    pub fn call(&mut self, handle: u64, args: &[u8]) -> Ran<Answer> {
        let ptr = self.put(args)?;
        let code = self.exports.call.call(&mut self.store, (handle, ptr, args.len() as u32));
        let answer = self.answer(code)?;
        self.free(ptr)?;
        Ok(answer)
    }

    pub fn settle(&mut self, promise: u32) -> Ran<Answer> {
        self.check()?;
        let code = self.exports.settle.call(&mut self.store, promise);
        self.answer(code)
    }

    pub fn forget(&mut self, promise: u32) -> Ran<()> {
        self.check()?;
        let called = self.exports.forget.call(&mut self.store, promise);
        self.guard(called)
    }

    /// `data` is the encoded value (ok) or host error body.
    pub fn complete(&mut self, call: u64, ok: bool, data: &[u8]) -> Ran<Answer> {
        let ptr = self.put(data)?;
        let code = self.exports.complete.call(&mut self.store, (call, u32::from(ok), ptr, data.len() as u32));
        let answer = self.answer(code)?;
        self.free(ptr)?;
        Ok(answer)
    }

    /// When the next timer is due, in ms of the instance's clock.
    pub fn next_timer(&mut self) -> Ran<Option<f64>> {
        self.check()?;
        let due = self.exports.next_timer.call(&mut self.store, ());
        let due = self.guard(due)?;
        Ok((due >= 0.0).then_some(due))
    }

    /// Run the earliest timer due now; `None` if none is.
    pub fn run_timer(&mut self) -> Ran<Option<Answer>> {
        self.check()?;
        let code = self.exports.run_timer.call(&mut self.store, ());
        let code = self.guard(code)?;
        if code < 0 {
            return Ok(None);
        }
        self.answer(Ok(code)).map(Some)
    }

    pub fn release(&mut self, handle: u64) -> Ran<()> {
        self.check()?;
        let called = self.exports.release.call(&mut self.store, handle);
        self.guard(called)
    }

    pub fn set_global(&mut self, name: &str, value: &[u8]) -> Ran<Answer> {
        let name_ptr = self.put(name.as_bytes())?;
        let value_ptr = self.put(value)?;
        let code = self.exports.set_global.call(&mut self.store, (name_ptr, name.len() as u32, value_ptr, value.len() as u32));
        let answer = self.answer(code)?;
        self.free(name_ptr)?;
        self.free(value_ptr)?;
        Ok(answer)
    }

    pub fn stats(&mut self) -> Ran<Vec<u8>> {
        self.check()?;
        let called = self.exports.stats.call(&mut self.store, ());
        self.guard(called)?;
        self.result()
    }

    pub fn busy(&mut self) -> Ran<bool> {
        self.check()?;
        let busy = self.exports.busy.call(&mut self.store, ());
        Ok(self.guard(busy)? != 0)
    }
}
