//! The wasm guest's toolchain, in `target/guest-tools` (where .cargo/config.toml points
//! `JSCELL_GUEST_TOOLS`): zig's clang and wasi-libc from the pinned `ziglang` wheel in .venv, and
//! the QuickJS-ng source vendored in the `rquickjs-sys` crate, fetched from crates.io and checked
//! against the checksum the registry published for it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cmd, root, venv};

/// The crate that vendors QuickJS-ng 0.16.2, and its sha256 as crates.io lists it.
const QUICKJS_CRATE: &str = "rquickjs-sys-0.14.0";
const QUICKJS_CRATE_SHA256: &str = "cee271d0eeba64f0915b846cb7ae02e16faf3dfdffdca91731101d9d30fe3423";

fn dir() -> PathBuf {
    root().join("target").join("guest-tools")
}

pub fn ensure() -> Result<(), String> {
    let tools = dir();
    fs::create_dir_all(&tools).map_err(|e| format!("cannot create {}: {e}", tools.display()))?;
    link_zig(&tools)?;
    if !tools.join("quickjs-ng").join("quickjs.c").exists() {
        fetch_quickjs(&tools)?;
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

fn fetch_quickjs(tools: &Path) -> Result<(), String> {
    let archive = tools.join(format!("{QUICKJS_CRATE}.crate"));
    let url = format!("https://static.crates.io/crates/rquickjs-sys/{QUICKJS_CRATE}.crate");
    cmd::run(Command::new("curl").args(["--fail", "--silent", "--show-error", "--location", "--output"]).arg(&archive).arg(&url))?;
    let output = Command::new("sha256sum").arg(&archive).output().map_err(|e| format!("cannot run sha256sum: {e}"))?;
    let digest = String::from_utf8_lossy(&output.stdout);
    if digest.split_whitespace().next() != Some(QUICKJS_CRATE_SHA256) {
        let _ = fs::remove_file(&archive);
        return Err(format!("{url} does not have the published sha256 {QUICKJS_CRATE_SHA256} (got {digest})"));
    }
    let unpacked = tools.join("unpacked");
    let _ = fs::remove_dir_all(&unpacked);
    fs::create_dir_all(&unpacked).map_err(|e| format!("cannot create {}: {e}", unpacked.display()))?;
    cmd::run(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&unpacked))?;
    let source = unpacked.join(QUICKJS_CRATE).join("quickjs");
    let target = tools.join("quickjs-ng");
    let _ = fs::remove_dir_all(&target);
    fs::rename(&source, &target).map_err(|e| format!("cannot move {} to {}: {e}", source.display(), target.display()))?;
    let _ = fs::remove_dir_all(&unpacked);
    let _ = fs::remove_file(&archive);
    Ok(())
}
