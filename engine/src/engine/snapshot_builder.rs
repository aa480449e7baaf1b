//! Building a V8 startup snapshot: the build scripts run in a context with ECMAScript's builtins
//! and the web globals (streams, encoding, events, abort), installed first and kept with their
//! bridge in the snapshot; host functions, timers and console are each runtime's own and come
//! after the snapshot, per runtime. Then V8 serializes the heap. (V8 gives a snapshot's builder
//! no `WebAssembly` and no `SharedArrayBuffer`, which it could not serialize.)

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::platform::{init_v8, is_jitless};
use crate::engine_thread::on_engine_thread;
use crate::error::{EngineError, TerminationReason};
use crate::heap_limit::HeapLimit;
use crate::snapshot;
use crate::watchdog::Watchdog;
use crate::web_globals;

/// What a snapshot is built from.
pub struct SnapshotRecipe {
    /// (name, source), run in order.
    pub scripts: Vec<(String, String)>,
    pub max_heap_size: Option<usize>,
    /// For each script.
    pub timeout: Option<Duration>,
}

/// The tag a V8 snapshot carries: the engine build, and whether it runs jitless (V8 refuses a
/// snapshot made under other flags).
pub fn engine_tag(jitless: bool) -> String {
    format!("V8 {} ({})", v8::V8::get_version(), if jitless { "jitless" } else { "JIT" })
}

/// Run `recipe` on a thread of its own and return the sealed snapshot.
pub fn build_snapshot(recipe: SnapshotRecipe) -> Result<Vec<u8>, EngineError> {
    on_engine_thread("jscell-snapshot", move || build_here(recipe))
}

fn build_here(recipe: SnapshotRecipe) -> Result<Vec<u8>, EngineError> {
    init_v8();
    let mut params = v8::CreateParams::default();
    if let Some(max) = recipe.max_heap_size {
        params = params.heap_limits(0, HeapLimit::engine_limit(max));
    }
    let mut creator = v8::Isolate::snapshot_creator(None, Some(params));
    let heap_limit = recipe.max_heap_size.map(|limit| HeapLimit::install(&mut creator, limit));
    let fired = Arc::new(AtomicBool::new(false));
    let ran = {
        v8::scope!(let scope, &mut creator);
        let context = v8::Context::new(scope, Default::default());
        let scope = &mut v8::ContextScope::new(scope, context);
        let mut ran = Ok(());
        match web_globals::run_install_script(scope, false) {
            Some(bridge) => {
                scope.add_context_data(context, bridge);
            }
            None => {
                ran = Err(EngineError::Terminated(TerminationReason::InternalError("the web globals failed to install".into())))
            }
        }
        for (name, source) in recipe.scripts.iter().filter(|_| ran.is_ok()) {
            let _guard = recipe.timeout.map(|t| Watchdog::arm(Instant::now() + t, scope.thread_safe_handle(), fired.clone()));
            v8::tc_scope!(let tc, scope);
            let done = (|| {
                let source = v8::String::new(tc, source)?;
                let name = v8::String::new(tc, name)?;
                let origin = v8::ScriptOrigin::new(tc, name.into(), 0, 0, false, 0, None, false, false, false, None);
                v8::Script::compile(tc, source, Some(&origin))?.run(tc)?;
                tc.perform_microtask_checkpoint();
                Some(())
            })();
            if done.is_none() || tc.has_caught() || tc.has_terminated() {
                ran = Err(if heap_limit.as_ref().is_some_and(|limit| limit.was_hit()) {
                    EngineError::Terminated(TerminationReason::HeapLimit { limit_bytes: recipe.max_heap_size.unwrap_or(0) })
                } else if tc.has_terminated() {
                    EngineError::Timeout(recipe.timeout.unwrap_or_default())
                } else {
                    caught!(tc)
                });
                break;
            }
        }
        if ran.is_ok() {
            scope.set_default_context(context);
        }
        ran
    };
    if let Err(error) = ran {
        // A snapshot creator must end in a blob: an empty one, made and thrown away.
        {
            v8::scope!(let scope, &mut creator);
            let empty = v8::Context::new(scope, Default::default());
            scope.set_default_context(empty);
        }
        drop(creator.create_blob(v8::FunctionCodeHandling::Clear));
        return Err(error);
    }
    let heap_bytes = creator.get_heap_statistics().used_heap_size();
    let blob = creator
        .create_blob(v8::FunctionCodeHandling::Keep)
        .ok_or_else(|| EngineError::InvalidRequest("V8 could not serialize the build scripts' heap".into()))?;
    drop(heap_limit);
    Ok(snapshot::seal(&engine_tag(is_jitless()), heap_bytes, &blob))
}
