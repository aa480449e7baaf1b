//! The compiled guest image, kept between processes: compiling QuickJS and booting it takes about
//! a second, loading the result a few milliseconds. The cache lives in the user's cache directory
//! (`$XDG_CACHE_HOME/jscell`, else `~/.cache/jscell`), keyed by the guest's bytes, the web globals
//! script its image has run, and wasmtime's compatibility hash; it is native code, so it is used only from a directory that only its owner
//! can write, and a file that does not load is compiled again and replaced.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

/// The cached module for `wasm` if there is a trustworthy one, else `make`'s, then cached.
pub fn load_or_make(engine: &Engine, wasm: &[u8], make: impl FnOnce() -> wasmtime::Result<Module>) -> wasmtime::Result<Module> {
    let Some(path) = cache_file(engine, wasm) else { return make() };
    if owned_privately(&path) {
        // SAFETY: the file is one a process of this user wrote (below) into a directory no one
        // else can write; wasmtime checks its header against this engine's version and settings
        // and refuses a file made for another.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
            return Ok(module);
        }
    }
    let module = make()?;
    if let Ok(bytes) = module.serialize() {
        store(&path, &bytes);
    }
    Ok(module)
}

fn cache_file(engine: &Engine, wasm: &[u8]) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))?;
    let mut hasher = DefaultHasher::new();
    wasm.hash(&mut hasher);
    jscell_web::SCRIPT.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    Some(base.join("jscell").join(format!("wasm-guest-{:016x}.cwasm", hasher.finish())))
}

/// Whether `path` and its directory belong to this user and no one else may write them.
fn owned_privately(path: &Path) -> bool {
    private(path) && path.parent().is_some_and(private)
}

/// Whether `path` (not followed if a link) belongs to this user, writable by no one else.
fn private(path: &Path) -> bool {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink() && m.uid() == uid && m.mode() & 0o022 == 0)
}

/// Write `bytes` to `path` whole or not at all (a rename), in a directory made private.
fn store(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).is_err() || !private(dir) {
        return;
    }
    let partial = dir.join(format!(".{}.{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(), std::process::id()));
    if fs::write(&partial, bytes).is_ok() && fs::rename(&partial, path).is_ok() {
        return;
    }
    let _ = fs::remove_file(&partial);
}
