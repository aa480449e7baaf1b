//! How every backend runs an engine: on a thread of its own, with the stack its conversions
//! need, started and then served until closed. A panic in the engine costs its runtime (it is
//! terminated naming the panic), never the process the thread runs in.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::config::{EngineConfig, ENGINE_THREAD_STACK};
use crate::engine::{Engine, EngineHandle};
use crate::error::{EngineError, TerminationReason};
use crate::host::Host;
use crate::inbox::Waiter;
use crate::sync::panic_message;

/// Wraps the whole life of the engine thread, so an embedder can set up per-thread state once
/// (the Python layer keeps the thread registered with the interpreter instead of registering
/// it again for every handler call).
pub type EngineThreadWrapper = fn(&mut (dyn FnMut() + Send));

/// A wrapper that adds nothing.
pub fn unwrapped(run: &mut (dyn FnMut() + Send)) {
    run()
}

/// Start an engine on a new thread called `name`, waiting for its messages through `waiter`.
/// Returns once the isolate exists and `config.bootstrap` has run, or why that failed.
pub fn start_engine_thread<W: Waiter + Send + 'static>(
    name: &str,
    config: EngineConfig,
    host: Box<dyn Host>,
    waiter: W,
    wrap: EngineThreadWrapper,
) -> Result<(EngineHandle, JoinHandle<()>), EngineError> {
    start_thread(name, wrap, move || {
        let (engine, handle) = Engine::new(&config, host)?;
        let on_panic = {
            let handle = handle.clone();
            move |panic: &str| handle.terminate(TerminationReason::InternalError(format!("the engine thread panicked: {panic}")))
        };
        Ok((handle, move || engine.run_with(waiter), on_panic))
    })
}

/// Start a thread called `name` that runs an engine, of whatever kind: `start` makes the engine
/// there and returns what its owner keeps, the loop to run and what to do if that loop panics
/// (given the panic's message). Returns once `start` has returned, with its error if it failed.
pub fn start_thread<K, L, P>(
    name: &str,
    wrap: EngineThreadWrapper,
    start: impl FnOnce() -> Result<(K, L, P), EngineError> + Send + 'static,
) -> Result<(K, JoinHandle<()>), EngineError>
where
    K: Send + 'static,
    L: FnOnce(),
    P: FnOnce(&str),
{
    let (started_tx, started_rx) = mpsc::sync_channel(1);
    let mut start = Some((start, started_tx));
    let thread = std::thread::Builder::new()
        .name(name.into())
        .stack_size(ENGINE_THREAD_STACK)
        .spawn(move || {
            wrap(&mut || {
                let Some((start, started_tx)) = start.take() else { return };
                match start() {
                    Ok((kept, run, on_panic)) => {
                        if started_tx.send(Ok(kept)).is_ok() {
                            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)) {
                                on_panic(panic_message(&*panic));
                            }
                        }
                    }
                    Err(error) => drop(started_tx.send(Err(error))),
                }
            })
        })
        .map_err(|e| EngineError::Terminated(TerminationReason::InternalError(format!("cannot start a thread: {e}"))))?;
    let started = started_rx.recv().unwrap_or_else(|_| {
        Err(EngineError::Terminated(TerminationReason::InternalError(format!("the {name} thread died while starting"))))
    });
    match started {
        Ok(kept) => Ok((kept, thread)),
        Err(error) => {
            let _ = thread.join();
            Err(error)
        }
    }
}

/// Run `work` to its end on a new engine thread called `name` (an engine's stack, a panic
/// contained) and return what it made: for work that makes an engine only to finish with it,
/// such as building a snapshot.
pub fn on_engine_thread<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
) -> Result<T, EngineError> {
    let (made, thread) = start_thread(name, unwrapped, move || Ok((work()?, || {}, |_: &str| {})))?;
    let _ = thread.join();
    Ok(made)
}
