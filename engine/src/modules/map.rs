//! The module map and graph loads. This keeps the per-runtime module map (each module
//! instantiated once) and drives graph loads: a load fetches its root and, transitively, every
//! import not yet compiled, then is finished by the engine (instantiate, evaluate, answer).
//! Fetches complete through the inbox, so a host may answer later from any thread.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::error::EngineError;
use crate::host::Host;
use crate::inbox::{InboxSender, Reply, RequestId, Wait};
use crate::modules::key::{ModuleKey, ModuleKind};
use crate::replies::ModuleReply;
use crate::window::MAX_PENDING_MODULE_LOADS;

/// Who waits for a graph load.
pub enum LoadDone {
    /// `eval_module`: reply with the namespace.
    Reply { id: Option<RequestId>, reply: Reply, timeout: Option<Duration>, deadline: Option<Instant>, wait: Wait },
    /// Dynamic `import()`: settle this promise with the namespace.
    Import { resolver: v8::Global<v8::PromiseResolver> },
}

pub struct GraphLoad {
    pub root: ModuleKey,
    outstanding: usize,
    visited: HashSet<ModuleKey>,
    pub failed: Option<EngineError>,
    pub done: LoadDone,
}

/// A module just compiled: its handle, its identity hash, and where each import resolved to.
pub struct NewModule {
    pub module: v8::Global<v8::Module>,
    pub identity: i32,
    pub imports: Vec<(String, ModuleKey)>,
}

/// A compiled module and where each of its imports resolved to.
struct Compiled {
    module: v8::Global<v8::Module>,
    imports: Vec<(String, ModuleKey)>,
}

#[derive(Default)]
pub struct ModuleMap {
    compiled: HashMap<ModuleKey, Compiled>,
    /// Compiled modules by identity hash, to find a referrer's URL from its handle.
    by_identity: HashMap<i32, Vec<(v8::Global<v8::Module>, ModuleKey)>>,
    /// The value of each JSON module, set as its default export when it evaluates.
    json_values: HashMap<ModuleKey, v8::Global<v8::Value>>,
    /// Modules being fetched (or waiting to be), and the loads that wait for each.
    fetching: HashMap<ModuleKey, Vec<u64>>,
    /// Fetches asked of the host and not yet answered: at most `MAX_PENDING_MODULE_LOADS`.
    in_flight: usize,
    /// Fetches waiting for room in that window, in the order they were needed.
    deferred: VecDeque<ModuleKey>,
    loads: HashMap<u64, GraphLoad>,
    next_load: u64,
    /// Loads with every module compiled, waiting for the engine to finish them.
    pub finished: Vec<u64>,
}

impl ModuleMap {
    pub fn is_loading(&self) -> bool {
        !self.loads.is_empty()
    }

    /// Begin loading the graph of `key`. Fetches go out through `host`.
    pub fn start(&mut self, host: &dyn Host, inbox: &InboxSender, key: ModuleKey, done: LoadDone) {
        self.next_load += 1;
        let id = self.next_load;
        let load = GraphLoad { root: key.clone(), outstanding: 0, visited: HashSet::new(), failed: None, done };
        self.loads.insert(id, load);
        self.require(host, inbox, id, key);
        self.check_finished(id);
    }

    pub fn take_load(&mut self, id: u64) -> Option<GraphLoad> {
        self.loads.remove(&id)
    }

    /// The graph load `eval_module` request `request` waits for, if it still does.
    pub fn take_load_of(&mut self, request: RequestId) -> Option<GraphLoad> {
        let id = *self.loads.iter().find(|(_, load)| matches!(load.done, LoadDone::Reply { id: Some(r), .. } if r == request))?.0;
        self.finished.retain(|finished| *finished != id);
        self.loads.remove(&id)
    }

    /// Every load still in progress, for shutting down.
    pub fn take_all(&mut self) -> Vec<GraphLoad> {
        self.finished.clear();
        self.deferred.clear();
        self.loads.drain().map(|(_, load)| load).collect()
    }

    /// Loads whose caller's deadline has passed.
    pub fn expired(&mut self, now: Instant) -> Vec<GraphLoad> {
        let ids: Vec<u64> = self
            .loads
            .iter()
            .filter(|(_, load)| matches!(load.done, LoadDone::Reply { deadline: Some(d), .. } if d <= now))
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.loads.remove(&id)).collect()
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.loads
            .values()
            .filter_map(|load| match load.done {
                LoadDone::Reply { deadline, .. } => deadline,
                LoadDone::Import { .. } => None,
            })
            .min()
    }

    fn require(&mut self, host: &dyn Host, inbox: &InboxSender, id: u64, key: ModuleKey) {
        let Some(load) = self.loads.get_mut(&id) else { return };
        if !load.visited.insert(key.clone()) {
            return;
        }
        if let Some(compiled) = self.compiled.get(&key) {
            let children: Vec<ModuleKey> = compiled.imports.iter().map(|(_, child)| child.clone()).collect();
            for child in children {
                self.require(host, inbox, id, child);
            }
            return;
        }
        load.outstanding += 1;
        let waiters = self.fetching.entry(key.clone()).or_default();
        waiters.push(id);
        if waiters.len() == 1 {
            self.deferred.push_back(key);
            self.fetch_deferred(host, inbox);
        }
    }

    /// Ask the host for deferred modules while the window has room.
    pub fn fetch_deferred(&mut self, host: &dyn Host, inbox: &InboxSender) {
        while self.in_flight < MAX_PENDING_MODULE_LOADS {
            let Some(key) = self.deferred.pop_front() else { return };
            if !self.fetching.contains_key(&key) {
                continue;
            }
            self.in_flight += 1;
            let url = key.url.clone();
            host.load_module(&url, ModuleReply::new(key, inbox.clone()));
        }
    }

    fn check_finished(&mut self, id: u64) {
        if let Some(load) = self.loads.get(&id) {
            if load.outstanding == 0 || load.failed.is_some() {
                self.finished.push(id);
            }
        }
    }

    /// The loads that were waiting for `key`'s source, which has arrived.
    pub fn waiters(&mut self, key: &ModuleKey) -> Vec<u64> {
        let waiters = self.fetching.remove(key).unwrap_or_default();
        if !waiters.is_empty() {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        waiters
    }

    /// `key` failed to fetch or compile: every load waiting for it fails.
    pub fn fail(&mut self, waiters: Vec<u64>, error: EngineError) {
        for id in waiters {
            if let Some(load) = self.loads.get_mut(&id) {
                load.failed.get_or_insert_with(|| error.clone());
                self.check_finished(id);
            }
        }
    }

    /// `key` compiled: record it and continue every load that waited for it.
    pub fn compiled(&mut self, host: &dyn Host, inbox: &InboxSender, key: ModuleKey, new: NewModule, waiters: Vec<u64>) {
        let NewModule { module, identity, imports } = new;
        let children: Vec<ModuleKey> = imports.iter().map(|(_, child)| child.clone()).collect();
        self.by_identity.entry(identity).or_default().push((module.clone(), key.clone()));
        self.compiled.insert(key, Compiled { module, imports });
        for id in waiters {
            if let Some(load) = self.loads.get_mut(&id) {
                load.outstanding -= 1;
            }
            for child in &children {
                self.require(host, inbox, id, child.clone());
            }
            self.check_finished(id);
        }
    }

    pub fn set_json_value(&mut self, key: ModuleKey, value: v8::Global<v8::Value>) {
        self.json_values.insert(key, value);
    }

    pub fn json_value(&self, key: &ModuleKey) -> Option<&v8::Global<v8::Value>> {
        self.json_values.get(key)
    }

    pub fn module(&self, key: &ModuleKey) -> Option<&v8::Global<v8::Module>> {
        self.compiled.get(key).map(|c| &c.module)
    }

    /// The key of a compiled module, from its handle.
    pub fn key_of(&self, scope: &v8::PinScope<'_, '_>, module: v8::Local<'_, v8::Module>) -> Option<&ModuleKey> {
        let candidates = self.by_identity.get(&module.get_identity_hash().get())?;
        candidates.iter().find(|(global, _)| v8::Local::new(scope, global) == module).map(|(_, key)| key)
    }

    /// The module `specifier` (of `kind`) imported from `referrer` resolved to.
    pub fn import_of(&self, referrer: &ModuleKey, specifier: &str, kind: ModuleKind) -> Option<&ModuleKey> {
        let compiled = self.compiled.get(referrer)?;
        compiled.imports.iter().find(|(s, key)| s == specifier && key.kind == kind).map(|(_, key)| key)
    }
}
