//! The host against a compromised guest: `tests/evil_guest.c` exports what the real guest exports
//! and answers each eval with one thing an honest guest never does. Each must end that runtime
//! with a clear `RuntimeTerminated` (the reason naming what happened), never reach the host's
//! memory, panic its thread or hang it, and leave every other runtime alone.

use std::sync::OnceLock;
use std::time::Duration;

use jscell_engine::{unwrapped, EngineConfig, EngineError, Request, Response, TerminationReason, Value, Wait};
use jscell_host::{Backend, CapabilityHost};

use crate::backend::WasmBackend;
use crate::guest_module::GuestModule;

static EVIL_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/jscell-evil-guest.wasm"));

fn evil_module() -> &'static GuestModule {
    static MODULE: OnceLock<GuestModule> = OnceLock::new();
    MODULE.get_or_init(|| GuestModule::compile(EVIL_WASM, false).expect("the evil guest compiles"))
}

fn evil_runtime() -> WasmBackend {
    let config = EngineConfig::default();
    let capabilities = CapabilityHost::new(None, config.limits);
    WasmBackend::start_on(evil_module(), config, capabilities, unwrapped).expect("the evil guest starts")
}

fn eval(backend: &WasmBackend, attack: &str, timeout: Option<Duration>) -> Result<Response, EngineError> {
    backend.request_blocking(Request::Eval { source: attack.into(), timeout, wait: Wait::Blocking })
}

#[test]
fn an_honest_answer_from_the_evil_guest_is_read() {
    assert_eq!(eval(&evil_runtime(), "nothing evil", None), Ok(Response::Value(Value::Bool(true))));
}

#[test]
fn every_lie_about_memory_or_values_is_a_protocol_violation() {
    let attacks = [
        ("result outside memory", "outside its memory"),
        ("string length past the end", "a length past the end"),
        ("array count bomb", "a count larger than the bytes that follow"),
        ("nested past the depth limit", "max_serialization_depth"),
        ("text that is not UTF-8", "not UTF-8"),
        ("unknown tag", "unknown value tag"),
        ("stray bytes", "stray bytes"),
        ("unknown outcome", "does not exist"),
        ("pending without an id", "without a promise id"),
        ("truncated exception", "malformed exception"),
        ("host call arguments outside memory", "outside its memory"),
        ("host call argument garbage", "malformed host call arguments"),
        ("answer written outside memory", "outside its memory"),
        ("console text outside memory", "outside its memory"),
        ("module kind that does not exist", "unknown kind"),
    ];
    let bystander = evil_runtime();
    for (attack, named) in attacks {
        let runtime = evil_runtime();
        match eval(&runtime, attack, None) {
            Err(EngineError::Terminated(TerminationReason::ProtocolViolation(what))) => {
                assert!(what.contains(named), "{attack}: {what:?} does not say {named:?}")
            }
            other => panic!("{attack}: {other:?}"),
        }
        assert!(matches!(eval(&runtime, "nothing evil", None), Err(EngineError::Terminated(TerminationReason::ProtocolViolation(_)))));
        assert_eq!(eval(&bystander, "nothing evil", None), Ok(Response::Value(Value::Bool(true))), "after {attack}");
    }
}

#[test]
fn an_allocator_that_points_outside_memory_is_caught_before_the_host_writes() {
    let runtime = evil_runtime();
    assert!(eval(&runtime, "allocator out of bounds", None).is_ok());
    match eval(&runtime, "anything", None) {
        Err(EngineError::Terminated(TerminationReason::ProtocolViolation(what))) => assert!(what.contains("allocator"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_trap_ends_the_runtime_as_an_internal_error() {
    let runtime = evil_runtime();
    match eval(&runtime, "trap", None) {
        Err(EngineError::Terminated(TerminationReason::InternalError(what))) => assert!(what.contains("trapped"), "{what}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_guest_that_never_checks_for_interrupts_is_stopped_by_the_epoch_backstop() {
    let runtime = evil_runtime();
    let started = std::time::Instant::now();
    match eval(&runtime, "spin without an interrupt check", Some(Duration::from_millis(50))) {
        Err(EngineError::Terminated(TerminationReason::TimeoutOverdue { .. })) => {}
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn terminate_stops_a_guest_that_never_checks_for_interrupts() {
    let runtime = std::sync::Arc::new(evil_runtime());
    let terminator = runtime.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        terminator.terminate();
    });
    match eval(&runtime, "spin without an interrupt check", None) {
        Err(EngineError::Terminated(TerminationReason::Requested)) => {}
        other => panic!("{other:?}"),
    }
}
