//! Where modules come from, in the order a specifier is tried: the embedder's resolver, static
//! modules (`static:NAME`, or a bare `NAME`), files under `module_root`, then the embedder's
//! loader. With none of these granted, every import fails. Only a URL this runtime resolved may
//! be loaded: a guest cannot make the embedder's loader fetch a URL of its own choosing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use jscell_engine::{Unpoisoned, UnpoisonedRw};
use jscell_engine::{HostError, ModuleReply};

use crate::guest_bounds::{MAX_MODULE_URLS, MODULE_URL_OVERHEAD};
use crate::module_root::ModuleRoot;

/// `(specifier, referrer) -> URL`, or `None` to fall back to the built-in resolution.
pub type ModuleResolver = Box<dyn Fn(&str, &str) -> Result<Option<String>, HostError> + Send + Sync>;
/// Fetch a URL's source; may answer `reply` later.
pub type ModuleLoader = Box<dyn Fn(&str, ModuleReply) + Send + Sync>;

const STATIC: &str = "static:";

pub struct ModuleSources {
    statics: RwLock<HashMap<String, String>>,
    resolver: RwLock<Option<Arc<ModuleResolver>>>,
    loader: RwLock<Option<Arc<ModuleLoader>>>,
    root: Option<ModuleRoot>,
    resolved: Mutex<Resolved>,
}

/// Every URL `resolve` returned, bounded in number and, each charged its length plus
/// `MODULE_URL_OVERHEAD`, in bytes. The set is keyed by text JS chose, so it hashes with the
/// standard library's keyed hasher.
struct Resolved {
    urls: HashSet<String>,
    bytes: usize,
    max_bytes: usize,
}

/// A load asked for a URL this runtime never resolved; the reply was answered with an error.
#[derive(Debug, thiserror::Error)]
#[error("a load of module '{0}', which this runtime never resolved")]
pub struct NotResolved(pub String);

impl ModuleSources {
    /// Files under `root`, if given; the URLs resolved, together, are bounded by `max_url_bytes`.
    pub fn new(root: Option<ModuleRoot>, max_url_bytes: usize) -> Self {
        ModuleSources {
            statics: RwLock::default(),
            resolver: RwLock::default(),
            loader: RwLock::default(),
            root,
            resolved: Mutex::new(Resolved { urls: HashSet::new(), bytes: 0, max_bytes: max_url_bytes }),
        }
    }

    pub fn add_static(&self, name: String, source: String) {
        self.statics.writing().insert(name, source);
    }

    pub fn set_resolver(&self, resolver: ModuleResolver) {
        *self.resolver.writing() = Some(Arc::new(resolver));
    }

    pub fn set_loader(&self, loader: ModuleLoader) {
        *self.loader.writing() = Some(Arc::new(loader));
    }

    /// The URL `specifier` (imported by `referrer`) names, recorded as loadable.
    pub fn resolve(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        let url = self.find(specifier, referrer)?;
        self.resolved.locked().record(&url)?;
        Ok(url)
    }

    fn find(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        let resolver = self.resolver.reading().clone();
        if let Some(resolver) = resolver {
            if let Some(url) = resolver(specifier, referrer)? {
                return Ok(url);
            }
        }
        if let Some(name) = specifier.strip_prefix(STATIC) {
            return match self.statics.reading().contains_key(name) {
                true => Ok(specifier.to_string()),
                false => Err(HostError::type_error(format!("no static module named '{name}'"))),
            };
        }
        if self.statics.reading().contains_key(specifier) {
            return Ok(format!("{STATIC}{specifier}"));
        }
        if let Some(root) = self.root.as_ref().filter(|_| ModuleRoot::claims(specifier)) {
            return root.resolve(specifier, referrer);
        }
        if self.loader.reading().is_some() {
            return Ok(specifier.to_string());
        }
        Err(HostError::type_error(format!(
            "cannot resolve module '{specifier}': no static module, module_root file, resolver or loader provides it"
        )))
    }

    /// Fetch the source of `url`, which `resolve` must have returned.
    pub fn load(&self, url: &str, reply: ModuleReply) -> Result<(), NotResolved> {
        if !self.resolved.locked().urls.contains(url) {
            let refused = NotResolved(url.to_string());
            reply.resolve(Err(HostError::type_error(refused.to_string())));
            return Err(refused);
        }
        if let Some(name) = url.strip_prefix(STATIC) {
            let source = self.statics.reading().get(name).cloned();
            reply.resolve(source.ok_or_else(|| HostError::type_error(format!("no static module named '{name}'"))));
            return Ok(());
        }
        if let Some(source) = self.root.as_ref().and_then(|root| root.read(url)) {
            reply.resolve(source);
            return Ok(());
        }
        let loader = self.loader.reading().clone();
        match loader {
            Some(loader) => loader(url, reply),
            None => reply.resolve(Err(HostError::type_error(format!("no module loader can load '{url}'")))),
        }
        Ok(())
    }
}

impl Resolved {
    fn record(&mut self, url: &str) -> Result<(), HostError> {
        if self.urls.contains(url) {
            return Ok(());
        }
        let bytes = self.bytes.saturating_add(url.len()).saturating_add(MODULE_URL_OVERHEAD);
        if self.urls.len() >= MAX_MODULE_URLS || bytes > self.max_bytes {
            return Err(HostError::range_error(format!(
                "cannot resolve module '{url}': this runtime resolved {} distinct module URLs ({} bytes) already, the most \
                 it keeps (at most {MAX_MODULE_URLS} URLs, together at most max_serialization_bytes, {} bytes)",
                self.urls.len(),
                self.bytes,
                self.max_bytes
            )));
        }
        self.bytes = bytes;
        self.urls.insert(url.to_string());
        Ok(())
    }
}
