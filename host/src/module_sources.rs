//! Where modules come from, in the order a specifier is tried: the embedder's resolver, static
//! modules (`static:NAME`, or a bare `NAME`), files under `module_root`, then the embedder's
//! loader. With none of these granted, every import fails.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jscell_engine::{HostError, ModuleReply};

use crate::module_root::ModuleRoot;

/// `(specifier, referrer) -> URL`, or `None` to fall back to the built-in resolution.
pub type ModuleResolver = Box<dyn Fn(&str, &str) -> Result<Option<String>, HostError> + Send + Sync>;
/// Fetch a URL's source; may answer `reply` later.
pub type ModuleLoader = Box<dyn Fn(&str, ModuleReply) + Send + Sync>;

const STATIC: &str = "static:";

#[derive(Default)]
pub struct ModuleSources {
    statics: RwLock<HashMap<String, String>>,
    resolver: RwLock<Option<Arc<ModuleResolver>>>,
    loader: RwLock<Option<Arc<ModuleLoader>>>,
    root: Option<ModuleRoot>,
}

impl ModuleSources {
    pub fn with_root(root: Option<ModuleRoot>) -> Self {
        ModuleSources { root, ..Default::default() }
    }

    pub fn add_static(&self, name: String, source: String) {
        self.statics.write().unwrap().insert(name, source);
    }

    pub fn set_resolver(&self, resolver: ModuleResolver) {
        *self.resolver.write().unwrap() = Some(Arc::new(resolver));
    }

    pub fn set_loader(&self, loader: ModuleLoader) {
        *self.loader.write().unwrap() = Some(Arc::new(loader));
    }

    pub fn resolve(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        let resolver = self.resolver.read().unwrap().clone();
        if let Some(resolver) = resolver {
            if let Some(url) = resolver(specifier, referrer)? {
                return Ok(url);
            }
        }
        if let Some(name) = specifier.strip_prefix(STATIC) {
            return match self.statics.read().unwrap().contains_key(name) {
                true => Ok(specifier.to_string()),
                false => Err(HostError::type_error(format!("no static module named '{name}'"))),
            };
        }
        if self.statics.read().unwrap().contains_key(specifier) {
            return Ok(format!("{STATIC}{specifier}"));
        }
        if let Some(root) = self.root.as_ref().filter(|_| ModuleRoot::claims(specifier)) {
            return root.resolve(specifier, referrer);
        }
        if self.loader.read().unwrap().is_some() {
            return Ok(specifier.to_string());
        }
        Err(HostError::type_error(format!(
            "cannot resolve module '{specifier}': no static module, module_root file, resolver or loader provides it"
        )))
    }

    pub fn load(&self, url: &str, reply: ModuleReply) {
        if let Some(name) = url.strip_prefix(STATIC) {
            let source = self.statics.read().unwrap().get(name).cloned();
            return reply.resolve(source.ok_or_else(|| HostError::type_error(format!("no static module named '{name}'"))));
        }
        if let Some(source) = self.root.as_ref().and_then(|root| root.read(url)) {
            return reply.resolve(source);
        }
        let loader = self.loader.read().unwrap().clone();
        match loader {
            Some(loader) => loader(url, reply),
            None => reply.resolve(Err(HostError::type_error(format!("no module loader can load '{url}'")))),
        }
    }
}
