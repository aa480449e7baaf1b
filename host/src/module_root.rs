//! Files under `module_root`, reached only through a capability handle on that directory.
//! Inside JS the root is `/` (URLs `file:///a/b.js`), so no host path is ever revealed, and
//! every open goes through `cap_std::fs::Dir`, which refuses `..` past the root, absolute
//! paths and symlinks that lead out, by construction. The lexical checks here only make the
//! errors clear; they are not what keeps files outside the root out of reach.

use std::io;
use std::path::Path;

use cap_std::fs::Dir;
use jscell_engine::HostError;

const SCHEME: &str = "file://";

pub struct ModuleRoot {
    dir: Dir,
}

impl ModuleRoot {
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(ModuleRoot { dir: Dir::open_ambient_dir(path, cap_std::ambient_authority())? })
    }

    /// Whether `specifier` names a file: relative, absolute or a `file://` URL.
    pub fn claims(specifier: &str) -> bool {
        specifier.starts_with("./") || specifier.starts_with("../") || specifier.starts_with('/') || specifier.starts_with(SCHEME)
    }

    /// The `file:///…` URL of `specifier` imported from `referrer`.
    pub fn resolve(&self, specifier: &str, referrer: &str) -> Result<String, HostError> {
        if specifier.contains('\0') {
            return Err(HostError::type_error(format!("module specifier {specifier:?} contains a NUL byte")));
        }
        let (base, path) = match specifier.strip_prefix(SCHEME) {
            Some(absolute) => ("", absolute),
            None if specifier.starts_with('/') => ("", specifier),
            None => (referrer.strip_prefix(SCHEME).and_then(|p| p.rsplit_once('/')).map_or("", |(dir, _)| dir), specifier),
        };
        let mut parts: Vec<&str> = Vec::new();
        for part in base.split('/').chain(path.split('/')) {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(HostError::type_error(format!("module '{specifier}' is outside module_root")));
                    }
                }
                part => parts.push(part),
            }
        }
        if parts.is_empty() {
            return Err(HostError::type_error(format!("module '{specifier}' does not name a file")));
        }
        Ok(format!("{SCHEME}/{}", parts.join("/")))
    }

    /// The source of a URL `resolve` returned.
    pub fn read(&self, url: &str) -> Option<Result<String, HostError>> {
        let path = url.strip_prefix(SCHEME)?.trim_start_matches('/');
        Some(self.dir.read_to_string(path).map_err(|error| {
            let why = match error.kind() {
                io::ErrorKind::NotFound => "no such file in module_root".to_string(),
                io::ErrorKind::InvalidData => "the file is not UTF-8 text".to_string(),
                io::ErrorKind::PermissionDenied => "access outside module_root is not allowed".to_string(),
                _ => error.to_string(),
            };
            HostError::type_error(format!("cannot load module '{url}': {why}"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory tree: `root/` with `a/b.js`, and `outside.js` beside it.
    fn tree(name: &str) -> (std::path::PathBuf, ModuleRoot) {
        let base = std::env::temp_dir().join(format!("jscell-module-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/a")).unwrap();
        std::fs::write(base.join("root/a/b.js"), "export default 1").unwrap();
        std::fs::write(base.join("outside.js"), "secret").unwrap();
        let root = ModuleRoot::open(&base.join("root")).unwrap();
        (base, root)
    }

    #[test]
    fn specifiers_resolve_inside_the_root_seen_as_slash() {
        let (_base, root) = tree("resolve");
        assert_eq!(root.resolve("./a/b.js", "<eval>").unwrap(), "file:///a/b.js");
        assert_eq!(root.resolve("/a/b.js", "<eval>").unwrap(), "file:///a/b.js");
        assert_eq!(root.resolve("../b.js", "file:///a/c/d.js").unwrap(), "file:///a/b.js");
        assert_eq!(root.resolve("file:///a/./b.js", "<eval>").unwrap(), "file:///a/b.js");
        assert_eq!(root.read("file:///a/b.js").unwrap().unwrap(), "export default 1");
    }

    #[test]
    fn nothing_outside_the_root_is_reachable() {
        let (base, root) = tree("escape");
        for specifier in ["../outside.js", "./a/../../outside.js", "file:///../outside.js"] {
            assert!(root.resolve(specifier, "<eval>").is_err(), "{specifier}");
        }
        assert!(root.resolve("./a\0.js", "<eval>").is_err());
        // Past the lexical checks, the capability handle itself refuses to leave the root.
        std::os::unix::fs::symlink(base.join("outside.js"), base.join("root/link.js")).unwrap();
        assert!(root.read("file:///link.js").unwrap().is_err());
        assert!(root.read("file:///../outside.js").unwrap().is_err());
        let absolute = format!("file://{}", base.join("outside.js").display());
        assert!(root.read(&absolute).unwrap().is_err());
    }
}
