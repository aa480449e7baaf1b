//! The project-local Python environment, .venv: created with `python3 -m venv` and filled from the
//! pinned requirement files at the workspace root.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::{cmd, root};

pub fn dir() -> PathBuf {
    root().join(".venv")
}

/// A program installed in the venv (`python`, `maturin`).
pub fn bin(name: &str) -> PathBuf {
    dir().join("bin").join(name)
}

/// Creates the venv if needed and installs the development requirements into it.
pub fn ensure() -> Result<(), String> {
    if !bin("python").exists() {
        cmd::run(Command::new("python3").args(["-m", "venv"]).arg(dir()))?;
    }
    install("requirements-dev.txt")
}

/// pip-installs a requirements file from the workspace root, unless exactly this content was
/// installed before: the stamp is a copy of what was installed, which makes a repeat run instant
/// and any edit of the file a reinstall.
pub fn install(requirements: &str) -> Result<(), String> {
    let path = root().join(requirements);
    let wanted = fs::read_to_string(&path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let stamp = dir().join(format!("installed-{requirements}"));
    if fs::read_to_string(&stamp).is_ok_and(|installed| installed == wanted) {
        return Ok(());
    }
    cmd::run(
        Command::new(bin("python"))
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
            .arg(&path),
    )?;
    fs::write(&stamp, wanted).map_err(|error| format!("cannot write {}: {error}", stamp.display()))
}
