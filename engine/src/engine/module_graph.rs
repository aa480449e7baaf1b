//! The engine's side of a module graph load: compile each source as it arrives, resolve its
//! imports, then instantiate and evaluate the graph and answer whoever waits (an
//! `eval_module` caller, or a dynamic `import()`). `modules::map` tracks what is loaded.

use std::time::Instant;

use super::{Engine, Turn};
use crate::error::{EngineError, HostError, JsException};
use crate::modules::callbacks as module_callbacks;
use crate::modules::key::{ModuleKey, ModuleKind};
use crate::modules::map::{LoadDone, NewModule};
use super::pending::Pending;

/// A dynamic `import()` whose graph is evaluating: its promise settles with the namespace.
pub(super) struct EvaluatingImport {
    evaluation: v8::Global<v8::Promise>,
    module: v8::Global<v8::Module>,
    resolver: v8::Global<v8::PromiseResolver>,
}

/// A host failure while loading modules, as the caller sees it: a JS error of that class.
pub(super) fn host_failure(error: HostError) -> EngineError {
    EngineError::JavaScript(JsException {
        name: format!("{:?}", error.name),
        message: error.message,
        stack: None,
        frames: Vec::new(),
    })
}

impl Engine {
    /// A module's source arrived: compile it and continue the loads that wait for it.
    pub(super) fn module_source(&mut self, key: ModuleKey, result: Result<String, HostError>) {
        let state = self.state.clone();
        let waiters = state.modules.borrow_mut().waiters(&key);
        if waiters.is_empty() {
            return;
        }
        let compiled = result.map_err(host_failure).and_then(|source| self.compile_module(&key, &source));
        let mut modules = state.modules.borrow_mut();
        match compiled {
            Ok(module) => modules.compiled(&*state.host, &state.inbox, key, module, waiters),
            Err(error) => modules.fail(waiters, error),
        }
        modules.fetch_deferred(&*state.host, &state.inbox);
    }

    /// Compile `source` as the module `key` and resolve each of its imports.
    pub(super) fn compile_module(&mut self, key: &ModuleKey, source: &str) -> Turn<NewModule> {
        let state = self.state.clone();
        v8::scope!(let scope, &mut self.isolate);
        let context = v8::Local::new(scope, &self.context);
        let scope = &mut v8::ContextScope::new(scope, context);
        v8::tc_scope!(let tc, scope);
        let too_long = || EngineError::InvalidRequest(format!("module '{}' is too large", key.url));
        let name = v8::String::new(tc, &key.url).ok_or_else(too_long)?;
        let text = v8::String::new(tc, source).ok_or_else(too_long)?;
        let module = match key.kind {
            ModuleKind::JavaScript => {
                let origin = v8::ScriptOrigin::new(tc, name.into(), 0, 0, false, 0, None, false, false, true, None);
                let mut source = v8::script_compiler::Source::new(text, Some(&origin));
                v8::script_compiler::compile_module(tc, &mut source)
            }
            ModuleKind::Json => v8::json::parse(tc, text).map(|value| {
                state.modules.borrow_mut().set_json_value(key.clone(), v8::Global::new(tc, value));
                let export = v8::String::new(tc, "default").expect("short name");
                v8::Module::create_synthetic_module(tc, name, &[export], module_callbacks::evaluate_json)
            }),
        };
        let Some(module) = module else {
            return Err(caught!(tc));
        };
        let requests = module.get_module_requests();
        let mut imports = Vec::with_capacity(requests.length());
        for index in 0..requests.length() {
            let Some(request) = requests.get(tc, index).and_then(|r| v8::Local::<v8::ModuleRequest>::try_from(r).ok()) else {
                continue;
            };
            let specifier = request.get_specifier().to_rust_string_lossy(tc);
            let attributes = request.get_import_attributes();
            let kind = module_callbacks::request_kind(tc, attributes).map_err(host_failure)?;
            let url = state.host.resolve_module(&specifier, &key.url).map_err(host_failure)?;
            imports.push((specifier, ModuleKey { url, kind }));
        }
        let identity = module.get_identity_hash().get();
        Ok(NewModule { module: v8::Global::new(tc, module), identity, imports })
    }

    /// Instantiate and evaluate every graph whose modules are all compiled.
    pub(super) fn finish_loads(&mut self) {
        loop {
            let next = self.state.modules.borrow_mut().finished.pop();
            let Some(id) = next else { return };
            let load = self.state.modules.borrow_mut().take_load(id);
            let Some(load) = load else { continue };
            if let Some(error) = load.failed {
                self.deliver_load_error(load.done, error);
                continue;
            }
            let Some(module) = self.state.modules.borrow().module(&load.root).cloned() else {
                let error = EngineError::InvalidRequest(format!("module '{}' was not loaded", load.root.url));
                self.deliver_load_error(load.done, error);
                continue;
            };
            let (request, timeout) = match &load.done {
                LoadDone::Reply { id, timeout, .. } => (*id, *timeout),
                LoadDone::Import { .. } => (None, None),
            };
            // The graph evaluates as part of its request: a cancel of it stops this JS.
            self.run_as(request, true);
            let evaluated = self.guarded(timeout, |scope| {
                let local = v8::Local::new(scope, &module);
                if local.get_status() == v8::ModuleStatus::Uninstantiated {
                    local.instantiate_module(scope, module_callbacks::resolve_import)?;
                }
                let evaluation = local.evaluate(scope)?;
                scope.perform_microtask_checkpoint();
                let Ok(evaluation) = v8::Local::<v8::Promise>::try_from(evaluation) else {
                    return Some(Err(EngineError::InvalidRequest("module evaluation gave no promise".into())));
                };
                Some(Ok(v8::Global::new(scope, evaluation)))
            });
            self.run_as(request, false);
            match (evaluated, load.done) {
                (Err(error), done) => self.deliver_load_error(done, error),
                (Ok(evaluation), LoadDone::Reply { id, reply, timeout, deadline, wait }) => {
                    let pending = Pending { id, promise: evaluation, namespace: Some(module), reply, timeout, deadline, wait };
                    self.pending.push(pending);
                }
                (Ok(evaluation), LoadDone::Import { resolver }) => {
                    self.imports.push(EvaluatingImport { evaluation, module, resolver });
                }
            }
        }
    }

    pub(super) fn deliver_load_error(&mut self, done: LoadDone, error: EngineError) {
        match done {
            LoadDone::Reply { reply, .. } => reply(Err(error)),
            LoadDone::Import { resolver } => {
                let _ = self.guarded(None, |scope| {
                    let reason = module_callbacks::rejection(scope, &error);
                    v8::Local::new(scope, &resolver).reject(scope, reason)?;
                    scope.perform_microtask_checkpoint();
                    Some(Ok(()))
                });
            }
        }
    }

    /// Settle each dynamic `import()` whose graph finished evaluating.
    pub(super) fn settle_imports(&mut self) {
        let mut index = 0;
        while index < self.imports.len() {
            let state = {
                v8::scope!(let scope, &mut self.isolate);
                v8::Local::new(scope, &self.imports[index].evaluation).state()
            };
            if state == v8::PromiseState::Pending {
                index += 1;
                continue;
            }
            let import = self.imports.swap_remove(index);
            let settled = self.guarded(None, |scope| {
                let resolver = v8::Local::new(scope, &import.resolver);
                let evaluation = v8::Local::new(scope, &import.evaluation);
                if evaluation.state() == v8::PromiseState::Rejected {
                    let reason = evaluation.result(scope);
                    resolver.reject(scope, reason)?;
                } else {
                    let namespace = v8::Local::new(scope, &import.module).get_module_namespace();
                    resolver.resolve(scope, namespace)?;
                }
                scope.perform_microtask_checkpoint();
                Some(Ok(()))
            });
            if let Err(EngineError::JavaScript(exception)) = settled {
                self.state.host.uncaught_exception(exception);
            }
        }
    }

    /// Module loads whose caller's deadline passed fail with a timeout.
    pub(super) fn expire_loads(&mut self) {
        let expired = self.state.modules.borrow_mut().expired(Instant::now());
        for load in expired {
            if let LoadDone::Reply { reply, timeout, .. } = load.done {
                reply(Err(EngineError::Timeout(timeout.unwrap_or_default())));
            }
        }
    }
}
