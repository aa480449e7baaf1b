//! The pinned sources and tools the engines are built from, in `target/guest-tools` (where
//! .cargo/config.toml points `JSCELL_GUEST_TOOLS`): zig's clang and wasi-libc from the pinned
//! `ziglang` wheel in .venv; the QuickJS-ng source vendored in the `rquickjs-sys` crate, from
//! crates.io; and the WHATWG streams of `web-streams-polyfill`, from npm. Each download is checked
//! against the checksum its registry published.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cmd, root, venv};

/// The crate that vendors QuickJS-ng 0.16.2, and its sha256 as crates.io lists it.
const QUICKJS_CRATE: &str = "rquickjs-sys-0.14.0";
const QUICKJS_CRATE_SHA256: &str = "cee271d0eeba64f0915b846cb7ae02e16faf3dfdffdca91731101d9d30fe3423";
/// The streams every engine installs (web/), and its sha512 as npm's `dist.integrity` lists it.
const STREAMS_PACKAGE: &str = "web-streams-polyfill-4.3.0";
const STREAMS_PACKAGE_SHA512: &str =
    "fc69e082f8fda12ac4bc96c3cb23ed027c41b797c640cda258e29036eee27b53b10e02b8d22669c95dd329a462133563d680355312a7132f573d787a3d6dde57";

fn dir() -> PathBuf {
    root().join("target").join("guest-tools")
}

pub fn ensure() -> Result<(), String> {
    let tools = dir();
    fs::create_dir_all(&tools).map_err(|e| format!("cannot create {}: {e}", tools.display()))?;
    link_zig(&tools)?;
    if !tools.join("quickjs-ng").join("quickjs.c").exists() {
        let url = format!("https://static.crates.io/crates/rquickjs-sys/{QUICKJS_CRATE}.crate");
        let source = Checked { url, digest_tool: "sha256sum", digest: QUICKJS_CRATE_SHA256 };
        source.unpack(&tools, &Path::new(QUICKJS_CRATE).join("quickjs"), "quickjs-ng")?;
    }
    if !tools.join("web-streams-polyfill").join("ponyfill.js").exists() {
        let url = format!("https://registry.npmjs.org/web-streams-polyfill/-/{STREAMS_PACKAGE}.tgz");
        let source = Checked { url, digest_tool: "sha512sum", digest: STREAMS_PACKAGE_SHA512 };
        source.unpack(&tools, &Path::new("package").join("dist"), "web-streams-polyfill")?;
    }
    Ok(())
}

/// `target/guest-tools/zig` → the zig binary of the venv's `ziglang` package.
fn link_zig(tools: &Path) -> Result<(), String> {
    let output = Command::new(venv::bin("python"))
        .args(["-c", "import os, ziglang; print(os.path.join(os.path.dirname(ziglang.__file__), 'zig'))"])
        .output()
        .map_err(|e| format!("cannot ask .venv where ziglang is: {e}"))?;
    if !output.status.success() {
        return Err("the ziglang package is missing from .venv (requirements-dev.txt pins it)".into());
    }
    let zig = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let link = tools.join("zig");
    if fs::read_link(&link).is_ok_and(|target| target == zig) {
        return Ok(());
    }
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(&zig, &link).map_err(|e| format!("cannot link {} to {}: {e}", link.display(), zig.display()))
}

/// A pinned archive and the digest its registry published for it.
struct Checked {
    url: String,
    digest_tool: &'static str,
    digest: &'static str,
}

impl Checked {
    /// Download the archive, check it, and move its directory `inside` to `tools/name`.
    fn unpack(&self, tools: &Path, inside: &Path, name: &str) -> Result<(), String> {
        let archive = tools.join(format!("{name}.download"));
        cmd::run(Command::new("curl").args(["--fail", "--silent", "--show-error", "--location", "--output"]).arg(&archive).arg(&self.url))?;
        let output = Command::new(self.digest_tool).arg(&archive).output().map_err(|e| format!("cannot run {}: {e}", self.digest_tool))?;
        let digest = String::from_utf8_lossy(&output.stdout);
        if digest.split_whitespace().next() != Some(self.digest) {
            let _ = fs::remove_file(&archive);
            return Err(format!("{} does not have the published digest {} (got {digest})", self.url, self.digest));
        }
        let unpacked = tools.join("unpacked");
        let _ = fs::remove_dir_all(&unpacked);
        fs::create_dir_all(&unpacked).map_err(|e| format!("cannot create {}: {e}", unpacked.display()))?;
        cmd::run(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&unpacked))?;
        let source = unpacked.join(inside);
        let target = tools.join(name);
        let _ = fs::remove_dir_all(&target);
        fs::rename(&source, &target).map_err(|e| format!("cannot move {} to {}: {e}", source.display(), target.display()))?;
        let _ = fs::remove_dir_all(&unpacked);
        let _ = fs::remove_file(&archive);
        Ok(())
    }
}
